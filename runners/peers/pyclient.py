"""pyclient: what the Python client peers of the real-server benches share.

What: the command line, the split of the requests among the clients, the
tally of verified replies, the timing and the one JSON line that
py_redis_asyncio.py, py_aiohttp.py and py_aiomysql.py print. Each of those
is the library's textbook client; this module only keeps their plumbing
identical, so the three differ in the library calls alone.

Contract (runners/peers/README.md, "Python clients of the real servers"):
  - mode:sequential = one client awaiting each request in turn;
    mode:concurrent = asyncio.gather of C clients, each on its own
    connection; the requests are split in whole shares as the C++ clients
    split them (client i makes requests/C of them from index i*requests/C);
  - connections are made before the timed part; elapsed_ns is the timed part
    only (time.perf_counter_ns around the gather);
  - every reply is verified; a wrong reply counts in `errors` (the first
    one's text in `first_error`) and the run goes on;
  - stdout: one JSON object {"requests", "elapsed_ns", "checksum", "errors",
    "first_error", "concurrency", "loop", "versions"} (+ the program's own
    fields); exit 0, or 1 when errors > 0;
  - bad arguments: one line on stderr, exit 2; a server that cannot be
    reached or a wait that times out: one line on stderr, exit 1; never a
    traceback. Every wait is bounded by --timeout (whole run).
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from dataclasses import dataclass, field

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MODES = ("sequential", "concurrent")
LOOPS = ("asyncio", "uvloop")
DEFAULT_TIMEOUT_S = 60.0    # the whole run; bench children are killed with their bench anyway
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, exit 2 (no usage block)."""

    def error(self, message):
        print(f"{self.prog}: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def checked(convert, ok, what: str):
    """An argparse type: `convert` the text, accept it when `ok`, else one
    line "not <what>: '<text>'"."""
    def parse(text: str):
        try:
            v = convert(text)
        except ValueError:
            v = None
        if v is None or not ok(v):
            raise argparse.ArgumentTypeError(f"not {what}: '{text}'")
        return v
    return parse


positive = checked(int, lambda v: v > 0, "a positive integer")
port_number = checked(int, lambda v: 0 < v <= 65535, "a port number")
seconds = checked(float, lambda v: v > 0, "a positive number of seconds")


def parser(prog: str, about: str) -> Parser:
    p = Parser(prog=prog, description=about)
    p.add_argument("--host", default="127.0.0.1", choices=LOOPBACK,
                   help="the private server's address (loopback only)")
    p.add_argument("--port", type=port_number, required=True)
    p.add_argument("--mode", choices=MODES, required=True)
    p.add_argument("--concurrency", type=positive, default=1,
                   help="clients (1 for mode sequential)")
    p.add_argument("--requests", type=positive, required=True,
                   help="timed requests in all, a multiple of --concurrency")
    p.add_argument("--loop", choices=LOOPS, default="asyncio")
    p.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT_S,
                   help="bound on the whole run, connections included (s)")
    return p


def parse(p: Parser, argv) -> argparse.Namespace:
    """Parses and checks what argparse cannot: the mode's concurrency and
    whole shares."""
    args = p.parse_args(argv)
    if args.mode == "sequential" and args.concurrency != 1:
        p.error(f"--mode sequential takes --concurrency 1, not {args.concurrency}")
    if args.requests % args.concurrency:
        p.error(f"--requests {args.requests} is not a multiple of --concurrency "
                f"{args.concurrency} (every client makes a whole share)")
    return args


def shares(requests: int, concurrency: int) -> list[tuple[int, int]]:
    """(first request index, count) of each client, as the C++ clients split them."""
    each = requests // concurrency
    return [(i * each, each) for i in range(concurrency)]


@dataclass
class Tally:
    """Verified replies of one run (all clients)."""
    requests: int = 0
    checksum: int = 0
    errors: int = 0
    first_error: str = ""
    extra: dict = field(default_factory=dict)

    def ok(self, checksum: int) -> None:
        self.requests += 1
        self.checksum += checksum

    def fail(self, why: str) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = why


def result(tally: Tally, elapsed_ns: int, args, versions: dict) -> dict:
    return {"requests": tally.requests, "elapsed_ns": int(elapsed_ns),
            "checksum": tally.checksum, "errors": tally.errors,
            "first_error": tally.first_error, "concurrency": args.concurrency,
            "mode": args.mode, "loop": args.loop, "versions": versions, **tally.extra}


async def timed(clients) -> int:
    """Runs the client coroutines together (one is the sequential mode) and
    returns the nanoseconds they took."""
    start = time.perf_counter_ns()
    await asyncio.gather(*clients)
    return time.perf_counter_ns() - start


def loop_factory(loop: str):
    if loop == "uvloop":
        import uvloop   # ImportError: reported by run()
        return uvloop.new_event_loop
    return None


def run_library(prog: str, args, body, *, modules: tuple, apt: str, failures) -> int:
    """Imports the client library's `modules` (missing: one line naming the
    apt package, exit 2), then run() with `failures(*modules)` as the
    library's "server could not be used" exception types."""
    try:
        loaded = [importlib.import_module(m) for m in modules]
    except ImportError as e:
        print(f"{prog}: {e} (apt-get install {apt})", file=sys.stderr)
        return EXIT_USAGE
    return run(prog, args, body, failures=failures(*loaded))


def run(prog: str, args, body, failures: tuple = ()) -> int:
    """Runs `body(args)` -> (Tally, elapsed_ns, versions) on the chosen loop,
    bounded by args.timeout; prints the JSON line. `failures`: the library's
    own exception types that mean "the server could not be used" (one line,
    exit 1, like OSError)."""
    def say(what: str) -> None:
        print(f"{prog}: {what}", file=sys.stderr)

    try:
        factory = loop_factory(args.loop)
        with asyncio.Runner(loop_factory=factory) as runner:
            tally, elapsed_ns, versions = runner.run(
                asyncio.wait_for(body(args), timeout=args.timeout))
    except ImportError as e:
        say(f"--loop {args.loop}: {e}")
        return EXIT_USAGE
    except (asyncio.TimeoutError, TimeoutError):
        say(f"no answer from {args.host}:{args.port} within {args.timeout:g} s")
        return EXIT_FAILED
    except (OSError, *failures) as e:
        say(f"{args.host}:{args.port}: {type(e).__name__}: {e}")
        return EXIT_FAILED
    sys.stdout.write(json.dumps(result(tally, elapsed_ns, args, versions)) + "\n")
    sys.stdout.flush()
    return EXIT_OK if tally.errors == 0 else EXIT_FAILED
