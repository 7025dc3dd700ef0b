"""py_aiohttp: the tutorial's crawler, with aiohttp's client.

What: HTTP/1.1 keep-alive GETs of one file that bench_http's private nginx
serves (/<S>.bin, S bytes of the pattern of benches/http.cpp `file`),
written the way the aiohttp docs and the tutorial write a crawler:
    async with aiohttp.ClientSession(...) as session:
        async with session.get(url) as resp: body = await resp.read()
  mode:sequential  one client awaiting each GET in turn (connector limit 1);
  mode:concurrent  asyncio.gather of C clients sharing one ClientSession
                   whose connector holds C keep-alive connections (limit=C,
                   the docs' one-session-per-application advice); each
                   client awaits its own GETs one after another, so each
                   has one connection busy at a time, as a C++ client has.
Every response is checked as benches/http.cpp checks it: status 200,
Content-Length = S, not chunked, the body equal to the file byte for byte;
checksum = body bytes verified (requests x S). The C connections are opened
(one untimed GET per client, all at once) before the timed part.
Why: claim 12's tutorial crawler uses this library; bench_http runs this
program as the rows http/py_aiohttp/... beside its C++ models.

Usage (apt's interpreter and python3-aiohttp; bench_http starts it):
  /usr/bin/python3 runners/peers/py_aiohttp.py --port P --size 16384 \
      --mode concurrent --concurrency 100 --requests 1000 \
      [--loop asyncio|uvloop] [--timeout S]
Output and errors: runners/peers/pyclient.py.
"""
from __future__ import annotations

import sys

import pyclient

PROG = "py_aiohttp"


def path(size: int) -> str:
    return f"/{size}.bin"


def content(size: int) -> bytes:
    """benches/http.cpp file(n): byte i = (i*131 + (i >> 9)*7 + n) & 0xff."""
    return bytes((i * 131 + (i >> 9) * 7 + size) & 0xFF for i in range(size))


def check(status: int, headers, body: bytes, want: bytes) -> str:
    """'' when the response is the file, else why not (as benches/http.cpp)."""
    if status != 200:
        return f"status {status}"
    if "chunked" in headers.get("Transfer-Encoding", ""):
        return "chunked response"
    length = headers.get("Content-Length")
    if length != str(len(want)):
        return f"Content-Length {length or 'missing'}, expected {len(want)}"
    if body != want:
        at = next((i for i, (a, b) in enumerate(zip(body, want)) if a != b),
                  min(len(body), len(want)))
        return f"body differs near byte {at}"
    return ""


async def fetch(session, url: str, want: bytes, tally: pyclient.Tally | None) -> None:
    async with session.get(url) as resp:
        body = await resp.read()
        why = check(resp.status, resp.headers, body, want)
    if tally is None:
        return              # the untimed GET that opens the connection
    if why:
        tally.fail(f"{url}: {why}")
    else:
        tally.ok(len(body))


async def client(session, url: str, count: int, want: bytes, tally: pyclient.Tally) -> None:
    for _ in range(count):
        await fetch(session, url, want, tally)


async def body(args):
    import asyncio

    import aiohttp
    url = f"http://{args.host}:{args.port}{path(args.size)}"
    want = content(args.size)
    connector = aiohttp.TCPConnector(limit=args.concurrency, limit_per_host=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # The connections, before the timed part: C GETs in flight at once.
        await asyncio.gather(*(fetch(session, url, want, None) for _ in range(args.concurrency)))
        tally = pyclient.Tally()
        elapsed = await pyclient.timed(
            client(session, url, count, want, tally)
            for _, count in pyclient.shares(args.requests, args.concurrency))
    return tally, elapsed, {"aiohttp": aiohttp.__version__}


def main(argv=None) -> int:
    p = pyclient.parser(PROG, "aiohttp client of bench_http's private nginx.")
    p.add_argument("--size", type=pyclient.positive, required=True,
                   help="bytes of the file fetched (/<size>.bin)")
    args = pyclient.parse(p, argv)
    return pyclient.run_library(PROG, args, body, modules=("aiohttp",), apt="python3-aiohttp",
                                failures=lambda aiohttp: (aiohttp.ClientError,))


if __name__ == "__main__":
    sys.exit(main())
