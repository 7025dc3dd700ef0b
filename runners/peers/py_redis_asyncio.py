"""py_redis_asyncio: the tutorial's Redis client, with redis-py's asyncio API.

What: GET or SET of the keys bench_redis stored (key:000000 .. key:000999,
64-byte deterministic values; benches/redis.cpp `keyspace`), written the way
the redis-py docs write it (the tutorial's `aioredis` became
`redis.asyncio` in redis-py 4.2):
    r = redis.asyncio.Redis(host=..., port=...)
    await r.get(key) / await r.set(key, value)
    async with r.pipeline(transaction=False) as pipe: ...; await pipe.execute()
  mode:sequential  one Redis client awaiting each request in turn;
  mode:concurrent  asyncio.gather of C clients, each its own Redis object
                   (its own connection), the requests split as the C++
                   clients split them (client i from key (i*each) % 1000);
  --pipeline P     each client queues P commands on a pipeline, then
                   awaits execute() (pipeline:1 = one await per command).
Every reply is checked as benches/redis.cpp checks it: SET must answer OK
(True), GET must return exactly the key's value; checksum = value bytes
verified (requests x 64). Connections are made (PING) before the timed part.
Why: claim 12's tutorial examples use this library; bench_redis runs this
program as the rows redis/py_redis_asyncio/... beside its C++ models.

Usage (apt's interpreter and python3-redis; bench_redis starts it):
  /usr/bin/python3 runners/peers/py_redis_asyncio.py --port P --op get \
      --mode concurrent --concurrency 100 --requests 1600 [--pipeline 16] \
      [--loop asyncio|uvloop] [--timeout S]
Output and errors: runners/peers/pyclient.py (one JSON line; exit 2 on bad
arguments, 1 when the server cannot be used or a reply is wrong).
"""
from __future__ import annotations

import sys

import pyclient

PROG = "py_redis_asyncio"
KEYS = 1000          # benches/redis.cpp kKeys
VALUE_SIZE = 64      # benches/redis.cpp kValueSize
OPS = ("get", "set")


def key(i: int) -> str:
    return f"key:{i:06d}"


def value(i: int) -> bytes:
    """benches/redis.cpp keyspace: byte j of key i's value."""
    return bytes(ord("a") + (i * 7 + j * 13) % 26 for j in range(VALUE_SIZE))


VALUES = [value(i) for i in range(KEYS)]


def key_sequence(first: int, count: int) -> list[int]:
    """The keys of a client whose share starts at request index `first`."""
    return [(first + n) % KEYS for n in range(count)]


def check(op: str, k: int, reply, tally: pyclient.Tally) -> None:
    if op == "set":
        if reply is True:
            tally.ok(VALUE_SIZE)
        else:
            tally.fail(f"SET {key(k)} answered {reply!r}")
    elif reply is None:
        tally.fail(f"GET {key(k)} returned nil")
    elif reply == VALUES[k]:
        tally.ok(len(reply))
    else:
        tally.fail(f"GET {key(k)} returned a wrong value")


def command(target, op: str, k: int):
    return target.get(key(k)) if op == "get" else target.set(key(k), VALUES[k])


async def client(r, op: str, keys: list[int], pipeline: int, tally: pyclient.Tally) -> None:
    import redis
    for at in range(0, len(keys), pipeline):
        batch = keys[at:at + pipeline]
        try:
            if pipeline == 1:
                replies = [await command(r, op, batch[0])]
            else:
                async with r.pipeline(transaction=False) as pipe:
                    for k in batch:
                        command(pipe, op, k)
                    replies = await pipe.execute(raise_on_error=False)
        except redis.ResponseError as e:
            for k in batch:
                tally.fail(f"{op.upper()} {key(k)}: redis: {e}")
            continue
        for k, reply in zip(batch, replies):
            if isinstance(reply, Exception):
                tally.fail(f"{op.upper()} {key(k)}: redis: {reply}")
            else:
                check(op, k, reply, tally)


async def body(args):
    import redis
    import redis.asyncio
    clients = [redis.asyncio.Redis(host=args.host, port=args.port,
                                   socket_timeout=args.timeout,
                                   socket_connect_timeout=args.timeout)
               for _ in range(args.concurrency)]
    try:
        for r in clients:       # the connections, before the timed part
            await r.ping()
        tally = pyclient.Tally()
        elapsed = await pyclient.timed(
            client(r, args.op, key_sequence(first, count), args.pipeline, tally)
            for r, (first, count) in zip(clients, pyclient.shares(args.requests,
                                                                    args.concurrency)))
    finally:
        for r in clients:
            await r.close()
    return tally, elapsed, {"redis": redis.__version__}


def main(argv=None) -> int:
    p = pyclient.parser(PROG, "redis-py asyncio client of bench_redis's private Redis.")
    p.add_argument("--op", choices=OPS, required=True)
    p.add_argument("--pipeline", type=pyclient.positive, default=1,
                   help="commands per pipeline execute() (1: one await each)")
    args = pyclient.parse(p, argv)
    if (args.requests // args.concurrency) % args.pipeline:
        p.error(f"each client's {args.requests // args.concurrency} requests are not whole "
                f"pipelines of {args.pipeline}")
    return pyclient.run_library(PROG, args, body, modules=("redis", "redis.asyncio"),
                                apt="python3-redis",
                                failures=lambda redis, _asyncio: (redis.RedisError,))


if __name__ == "__main__":
    sys.exit(main())
