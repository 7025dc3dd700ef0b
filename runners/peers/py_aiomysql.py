"""py_aiomysql: the tutorial's MySQL client, with aiomysql.

What: queries against a private MariaDB/MySQL holding the table `items` of
ROWS deterministic rows (id 1..ROWS, name 'name:<id, 6 digits>', value
row_value(id)), written the way the aiomysql docs write it:
    pool = await aiomysql.create_pool(host=..., port=..., user=..., db=...)
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            await cur.execute(sql, args); rows = await cur.fetchall()
  --query point    SELECT id, name, value FROM items WHERE id = %s
  --query range    SELECT ... WHERE id BETWEEN %s AND %s ORDER BY id (RANGE rows)
  --query insert   INSERT INTO items_insert (name, value) VALUES (%s, %s)
  mode:sequential  one client (one pooled connection) awaiting each query;
  mode:concurrent  asyncio.gather of C clients, each holding its own pooled
                   connection (pool of C) for its whole share.
Client i's share starts at request index i*each (pyclient.shares); request
n asks for row point_id(n) / the range at range_start(n) / inserts row
point_id(n)'s name and value. Every result is checked: the exact rows
expected (ids, names, values, order), an INSERT's rowcount 1. checksum =
sum of the values verified (point, range) or inserted (insert); `rows` = rows
returned or inserted. Connections are made (the pool filled) before the
timed part; autocommit on.
Why: the tutorial's aiomysql example; bench_sql runs this program as the
rows sql/py_aiomysql/... beside its Connector/C clients.

NOTE: the table, queries and checksum above are this program's definition;
benches/sql.cpp (branch sql, not yet committed when this was written) must
create and fill the same table and count the same checksum, or this
program follows it -- the constants and functions below are the one place
to change.

Usage (apt's interpreter and python3-aiomysql; bench_sql starts it):
  /usr/bin/python3 runners/peers/py_aiomysql.py --port P --user U [--password W] \
      [--db switchyard] --query point --mode concurrent --concurrency 10 \
      --requests 1000 [--loop asyncio|uvloop] [--timeout S]
Output and errors: runners/peers/pyclient.py (+ "rows", "query").
"""
from __future__ import annotations

import sys

import pyclient

PROG = "py_aiomysql"
ROWS = 10_000          # rows in `items`
RANGE = 100            # rows per range query
QUERIES = ("point", "range", "insert")
VALUE_MULTIPLIER = 2654435761   # Knuth's multiplicative hash: values look random, are not
SQL = {
    "point": "SELECT id, name, value FROM items WHERE id = %s",
    "range": "SELECT id, name, value FROM items WHERE id BETWEEN %s AND %s ORDER BY id",
    "insert": "INSERT INTO items_insert (name, value) VALUES (%s, %s)",
}
# What the server must hold (created and filled by the bench, not here).
SCHEMA = (
    "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(32) NOT NULL, "
    "value BIGINT NOT NULL) ENGINE=InnoDB",
    "CREATE TABLE items_insert (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
    "name VARCHAR(32) NOT NULL, value BIGINT NOT NULL) ENGINE=InnoDB",
)


def row_value(i: int) -> int:
    return (i * VALUE_MULTIPLIER) % (1 << 32)


def row(i: int) -> tuple[int, str, int]:
    """Row `i` of `items` (1 <= i <= ROWS)."""
    return (i, f"name:{i:06d}", row_value(i))


def point_id(n: int) -> int:
    """The row of request n (point, insert)."""
    return 1 + n % ROWS


def range_start(n: int) -> int:
    """The first id of request n's range (ranges never cross ROWS)."""
    return 1 + (n * RANGE) % ROWS


def plan(query: str, n: int) -> tuple[tuple, list[tuple]]:
    """(SQL arguments, expected rows) of request n."""
    if query == "point":
        return (point_id(n),), [row(point_id(n))]
    if query == "range":
        s = range_start(n)
        return (s, s + RANGE - 1), [row(i) for i in range(s, s + RANGE)]
    _, name, value = row(point_id(n))
    return (name, value), []


def expected_checksum(query: str, first: int, count: int) -> int:
    """What a share of `count` requests from index `first` adds up to."""
    total = 0
    for n in range(first, first + count):
        args, rows = plan(query, n)
        total += args[1] if query == "insert" else sum(r[2] for r in rows)
    return total


def check(query: str, n: int, got, rowcount: int, tally: pyclient.Tally) -> None:
    args, want = plan(query, n)
    if query == "insert":
        if rowcount != 1:
            tally.fail(f"INSERT of request {n} affected {rowcount} rows")
            return
        tally.ok(args[1])
        tally.extra["rows"] = tally.extra.get("rows", 0) + 1
        return
    rows = [tuple(r) for r in got]
    if rows != want:
        tally.fail(f"{query} request {n} (args {args}): {len(rows)} rows, expected "
                   f"{len(want)}" + ("" if len(rows) != len(want) else ", values differ"))
        return
    tally.ok(sum(r[2] for r in rows))
    tally.extra["rows"] = tally.extra.get("rows", 0) + len(rows)


async def client(pool, query: str, first: int, count: int, tally: pyclient.Tally) -> None:
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            for n in range(first, first + count):
                args, _ = plan(query, n)
                await cur.execute(SQL[query], args)
                got = await cur.fetchall() if query != "insert" else ()
                check(query, n, got, cur.rowcount, tally)


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
            client(pool, args.query, first, count, tally)
            for first, count in pyclient.shares(args.requests, args.concurrency))
    finally:
        pool.close()
        await pool.wait_closed()
    return tally, elapsed, {"aiomysql": aiomysql.__version__}


def make_parser():
    p = pyclient.parser(PROG, "aiomysql client of bench_sql's private MariaDB.")
    p.add_argument("--query", choices=QUERIES, required=True)
    p.add_argument("--user", default="root")
    p.add_argument("--password", default="")
    p.add_argument("--db", default="switchyard")
    return p


def main(argv=None) -> int:
    p = make_parser()
    args = pyclient.parse(p, argv)
    try:
        import aiomysql
        import pymysql
    except ImportError as e:
        print(f"{PROG}: {e} (apt-get install python3-aiomysql)", file=sys.stderr)
        return pyclient.EXIT_USAGE
    del aiomysql
    return pyclient.run(PROG, args, body, failures=(pymysql.err.MySQLError,))


if __name__ == "__main__":
    sys.exit(main())
