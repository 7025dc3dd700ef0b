"""py_aiomysql: the tutorial's MySQL client, with aiomysql.

What: queries against bench_sql's private MariaDB (database `sy`, table `t`
of ROWS rows: id 0..ROWS-1, v = row_v(id), s = row_s(id), 16 letters; table
`ins` for inserts; created and filled by benches/realserver/mariadb.hpp),
written the way the aiomysql docs write it:
    pool = await aiomysql.create_pool(host=..., port=..., user=..., db=...)
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            await cur.execute(sql, args); rows = await cur.fetchall()
  --query point    SELECT id, v, s FROM t WHERE id = %s
  --query range    SELECT id, v, s FROM t WHERE id BETWEEN %s AND %s ORDER BY id
                   (RANGE rows)
  --query insert   INSERT INTO ins (client, v) VALUES (%s, %s)
  mode:sequential  one client (one pooled connection) awaiting each query;
  mode:concurrent  asyncio.gather of C clients, each holding its own pooled
                   connection (pool of C) for its whole share.
The same queries as benches/sql.cpp's clients: client i's share starts at
request index i*each (pyclient.shares); request n asks for key(n) =
(n * STRIDE) % ROWS (a range starts at key(n) % (ROWS - RANGE + 1); an
insert writes (client i, row_v(key(n)))). Every result is checked as
sql.cpp checks it: the exact ids, v and s in order, an INSERT's rowcount 1.
checksum = sum over returned rows of id + v + the bytes of s, or of the v
inserted; `rows` = rows returned or inserted. Connections are made (the
pool filled and pinged) before the timed part; autocommit on.
Why: the tutorial's aiomysql example; bench_sql runs this program as the
rows sql/py_aiomysql/... beside its Connector/C clients.

Usage (apt's interpreter and python3-aiomysql; bench_sql starts it):
  /usr/bin/python3 runners/peers/py_aiomysql.py --port P [--user root] [--db sy] \
      --query point --mode concurrent --concurrency 10 --requests 400 \
      [--loop asyncio|uvloop] [--timeout S]
Output and errors: runners/peers/pyclient.py (+ "rows", "query").
"""
from __future__ import annotations

import sys

import pyclient

PROG = "py_aiomysql"
# benches/realserver/mariadb.hpp and benches/sql.cpp
ROWS = 10_000          # rows in `t`, ids 0 .. ROWS-1 (kRows)
RANGE = 100            # rows per range query (kRangeRows)
STRIDE = 7919          # a prime: a client's keys spread over the table (kKeyStride)
TEXT = 16              # letters of column s (kTextSize)
QUERIES = ("point", "range", "insert")
SQL = {
    "point": "SELECT id, v, s FROM t WHERE id = %s",
    "range": "SELECT id, v, s FROM t WHERE id BETWEEN %s AND %s ORDER BY id",
    "insert": "INSERT INTO ins (client, v) VALUES (%s, %s)",
}


def row_v(i: int) -> int:
    return (i * 2654435761) % 1_000_000_007


def row_s(i: int) -> str:
    return "".join(chr(ord("a") + (i * 7 + j * 13) % 26) for j in range(TEXT))


def row(i: int) -> tuple[int, int, str]:
    """Row `i` of `t` (0 <= i < ROWS): (id, v, s)."""
    return (i, row_v(i), row_s(i))


def row_checksum(r: tuple) -> int:
    return r[0] + r[1] + sum(r[2].encode())


def key(query: str, n: int) -> int:
    """The key of request n: the row (point, insert) or the range's first id."""
    k = (n * STRIDE) % ROWS
    return k % (ROWS - RANGE + 1) if query == "range" else k


def plan(query: str, n: int, client: int = 0) -> tuple[tuple, list[tuple]]:
    """(SQL arguments, expected rows) of request n of client `client`."""
    k = key(query, n)
    if query == "point":
        return (k,), [row(k)]
    if query == "range":
        return (k, k + RANGE - 1), [row(i) for i in range(k, k + RANGE)]
    return (client, row_v(k)), []


def expected_checksum(query: str, first: int, count: int) -> int:
    """What a share of `count` requests from index `first` adds up to."""
    if query == "insert":
        return sum(row_v(key(query, n)) for n in range(first, first + count))
    return sum(row_checksum(r) for n in range(first, first + count) for r in plan(query, n)[1])


def check(query: str, n: int, got, rowcount: int, tally: pyclient.Tally, client: int = 0) -> None:
    args, want = plan(query, n, client)
    if query == "insert":
        if rowcount != 1:
            tally.fail(f"INSERT of request {n} affected {rowcount} rows, not 1")
            return
        tally.ok(args[1])
        tally.extra["rows"] = tally.extra.get("rows", 0) + 1
        return
    rows = [tuple(r) for r in got]
    if rows != want:
        tally.fail(f"{query} request {n} (args {args}): {len(rows)} rows, expected "
                   f"{len(want)}" + ("" if len(rows) != len(want) else ", values differ"))
        return
    tally.ok(sum(row_checksum(r) for r in rows))
    tally.extra["rows"] = tally.extra.get("rows", 0) + len(rows)


async def client(pool, query: str, index: int, first: int, count: int,
                 tally: pyclient.Tally) -> None:
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            for n in range(first, first + count):
                args, _ = plan(query, n, index)
                await cur.execute(SQL[query], args)
                got = await cur.fetchall() if query != "insert" else ()
                check(query, n, got, cur.rowcount, tally, index)


async def body(args):
    import asyncio

    import aiomysql
    pool = await aiomysql.create_pool(host=args.host, port=args.port, user=args.user,
                                      password=args.password, db=args.db,
                                      minsize=args.concurrency, maxsize=args.concurrency,
                                      autocommit=True, connect_timeout=args.timeout)
    try:
        # The pool holds C connections now; every one answers before timing.
        conns = [await pool.acquire() for _ in range(args.concurrency)]
        await asyncio.gather(*(c.ping() for c in conns))
        for c in conns:
            pool.release(c)
        tally = pyclient.Tally(extra={"rows": 0, "query": args.query})
        elapsed = await pyclient.timed(
            client(pool, args.query, i, first, count, tally)
            for i, (first, count) in enumerate(pyclient.shares(args.requests, args.concurrency)))
    finally:
        pool.close()
        await pool.wait_closed()
    return tally, elapsed, {"aiomysql": aiomysql.__version__}


def make_parser():
    p = pyclient.parser(PROG, "aiomysql client of bench_sql's private MariaDB.")
    p.add_argument("--query", choices=QUERIES, required=True)
    p.add_argument("--user", default="root")
    p.add_argument("--password", default="")
    p.add_argument("--db", default="sy")
    return p


def main(argv=None) -> int:
    p = make_parser()
    args = pyclient.parse(p, argv)
    return pyclient.run_library(PROG, args, body, modules=("aiomysql", "pymysql"),
                                apt="python3-aiomysql",
                                failures=lambda _aiomysql, pymysql: (pymysql.err.MySQLError,))


if __name__ == "__main__":
    sys.exit(main())
