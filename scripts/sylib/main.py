"""switchyard command line (thin: argument parsing and exit codes only).

Exit status: 0 success, 1 a bench/test failed, 2 bad usage or input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sylib import deps  # noqa: E402
from sylib.results import InputError  # noqa: E402


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit status 2."""

    def error(self, message):
        print(f"{self.prog}: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(2)


def positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: '{text}'")
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: '{text}'")
    return v


def positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: '{text}'")
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive: '{text}'")
    return v


def make_parser() -> Parser:
    p = Parser(prog="switchyard",
               description="Benchmark suite comparing concurrency models.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    r = sub.add_parser("run", help="build and run the benches, write results")
    r.add_argument("--quick", action="store_true",
                   help="small sizes, fewer repetitions: whole suite in about 3 minutes")
    r.add_argument("--filter", metavar="REGEX",
                   help="only benchmarks whose name matches (e.g. 'switch|spawn')")
    r.add_argument("--models", metavar="LIST",
                   help="comma-separated models (thread,pool,fiber,coroutine,"
                        "coroutine_uring,uring,libuv); baselines always run")
    r.add_argument("--repetitions", type=positive_int, metavar="N",
                   help="repetitions per benchmark (default 5, quick 3)")
    r.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                   help="watchdog limit per bench process (default 600, quick 180)")
    r.add_argument("--out", type=Path, metavar="DIR",
                   help="results directory (default results/<UTC time>-<fingerprint>/)")
    r.add_argument("--build-dir", type=Path, metavar="DIR",
                   help="build tree to use (default build/)")

    t = sub.add_parser("test", help="build and run all tests (ctest, sanitizers, pytest)")
    t.add_argument("--no-sanitizers", action="store_true",
                   help="skip the ASan+UBSan build of the unit tests")
    t.add_argument("--tsan", action="store_true",
                   help="also build and run the multi-threaded tests under ThreadSanitizer")
    return p


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    rc = deps.ensure(args.command)
    if rc:
        return rc
    try:
        if args.command == "run":
            from sylib import run
            cfg = run.RunConfig(quick=args.quick, filter=args.filter,
                                models=run.parse_models(args.models),
                                repetitions=args.repetitions, timeout=args.timeout,
                                out=args.out)
            if args.build_dir:
                cfg.build_dir = args.build_dir.resolve()
            return run.execute(cfg)
        if args.command == "test":
            from sylib import testcmd
            return testcmd.execute(sanitizers=not args.no_sanitizers, tsan=args.tsan)
    except InputError as e:
        print(f"switchyard {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("switchyard: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
