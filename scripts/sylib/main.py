"""switchyard command line (thin: argument parsing and exit codes only).

Exit status: 0 success, 1 a bench/test failed, 2 bad usage or input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sylib import deps  # noqa: E402
from sylib.results import MODELS, InputError  # noqa: E402


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
                   help="small sizes, 3 processes per benchmark: whole suite in about 6 minutes")
    r.add_argument("--filter", metavar="REGEX",
                   help="only benchmarks whose name matches (e.g. 'switch|spawn')")
    r.add_argument("--models", metavar="LIST",
                   help=f"comma-separated models ({','.join(MODELS)}); baselines always run")
    r.add_argument("--repetitions", type=positive_int, metavar="N",
                   help="repetitions per bench process (default 1; skynet and sleep 2: "
                        "a cold and a steady one)")
    r.add_argument("--processes", type=positive_int, metavar="N",
                   help="bench processes per benchmark, in rounds (default 5, echo/redis/"
                        "http/pybench 3; quick 3); intervals need at least 3")
    r.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                   help="watchdog limit per bench process (default 600, quick 180)")
    r.add_argument("--out", type=Path, metavar="DIR",
                   help="results directory (default results/<UTC time>-<fingerprint>/)")
    r.add_argument("--build-dir", type=Path, metavar="DIR",
                   help="build tree to use (default build/)")
    r.add_argument("--long-open", action="store_true",
                   help="echo open loop: windows long enough for p99.9 to rest on >= 100 "
                        "samples at every offered rate (~16 s per server and process instead "
                        "of ~2; a full run takes ~11 minutes longer). Publication-grade tails")
    r.add_argument("--full", action="store_true",
                   help="publication tier: every sweep point the default run leaves out to "
                        "hold its 15 minutes (echo sizes, rates and reference servers; "
                        "skynet's sequential thread tree), with --long-open; takes much longer")
    r.add_argument("--no-peers", action="store_true",
                   help="no peer systems: no Python/node/Go echo servers, no pybench/gobench, "
                        "and their apt packages are not needed")

    t = sub.add_parser("test", help="build and run all tests (ctest, sanitizers, pytest)")
    t.add_argument("--no-sanitizers", action="store_true",
                   help="skip the ASan+UBSan build of the unit tests")
    t.add_argument("--tsan", action="store_true",
                   help="also build and run the multi-threaded tests under ThreadSanitizer")
    for name, what in (("plot", "draw the charts of a results directory or GB JSON file"),
                       ("report", "charts + report.md + report.html of a results directory "
                                  "or GB JSON file")):
        q = sub.add_parser(name, help=what)
        q.add_argument("results", type=Path, metavar="RESULTS",
                       help="results directory (e.g. results/latest) or a GB JSON file")
        q.add_argument("--out", type=Path, metavar="DIR",
                       help="write charts/ (and the reports) here (default: RESULTS, or "
                            "the file's directory)")
    c = sub.add_parser("claims", help="check popular coroutine claims against results: "
                                      "table + claims.md, claims.json; several: a matrix")
    c.add_argument("results", type=Path, metavar="RESULTS", nargs="+",
                   help="results directory (e.g. results/latest) or a GB JSON file; several "
                        "results or reference directories (docs/results/*): claims x machines")
    c.add_argument("--out", type=Path, metavar="DIR",
                   help="one RESULTS: write claims.md and claims.json here (default: RESULTS, "
                        "or the file's directory); several: write claims-matrix.md/.html/.svg "
                        "here (default: the current directory)")
    pub = sub.add_parser("publish", help="copy a run into docs/results/<date>-<machine>/ "
                                         "(<= 2 MB) and show it in README.md")
    pub.add_argument("results", type=Path, metavar="RESULTS_DIR",
                     help="results directory of a finished run (e.g. results/latest)")
    pub.add_argument("--docs", type=Path, metavar="DIR",
                     help="where reference runs live (default docs/results)")
    pub.add_argument("--readme", type=Path, metavar="FILE",
                     help="the README whose reference-run block is regenerated (default "
                          "README.md)")
    add_gate_parsers(sub)
    return p


def fraction(text):
    """'3%' or '0.03' -> 0.03."""
    t = text.strip()
    try:
        v = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a fraction or percentage: '{text}'")
    if not 0 <= v < 10:
        raise argparse.ArgumentTypeError(f"out of range: '{text}'")
    return v


def add_gate_parsers(sub) -> None:
    """compare / gate / history (the regression gate for CI)."""
    def verdict_options(q, callgrind_help):
        fmt = q.add_mutually_exclusive_group()
        fmt.add_argument("--markdown", dest="fmt", action="store_const", const="markdown",
                         help="print a Markdown report (CI step summary, PR comment)")
        fmt.add_argument("--json", dest="fmt", action="store_const", const="json",
                         help="print the full report as JSON")
        q.set_defaults(fmt="table")
        q.add_argument("--floor", type=fraction, default=0.03, metavar="PCT",
                       help="smallest change that counts, e.g. 3%% (default); gate.toml may "
                            "set another per benchmark")
        q.add_argument("--alpha", type=fraction, default=0.05,
                       help="false-alarm rate of one whole comparison (default 0.05)")
        q.add_argument("--callgrind", action="store_true", help=callgrind_help)
        q.add_argument("--threshold", type=fraction, default=0.01, metavar="PCT",
                       help="callgrind: instruction change that counts (default 1%%)")

    c = sub.add_parser("compare", help="verdict per benchmark between two results (exit 1 on "
                                       "a regression)")
    c.add_argument("base", type=Path, help="base results: a directory or a GB JSON file")
    c.add_argument("cand", type=Path, help="candidate results: a directory or a GB JSON file")
    verdict_options(c, "compare instruction counts written by `gate --callgrind`")
    c.add_argument("--allow-cross-machine", action="store_true",
                   help="compare results from different machine fingerprints (rows marked)")
    c.add_argument("--work-counter", action="append", metavar="NAME", default=[],
                   help="another counter that must be equal on both sides (repeatable)")
    c.add_argument("--paired", action="store_true",
                   help="rows with the same `process` on both sides were run back to back "
                        "(as `gate` writes them): decide from the paired ratios")

    g = sub.add_parser("gate", help="build a base git ref and the working tree, run both in "
                                    "paired rounds, decide (CI regression gate)")
    g.add_argument("--base", metavar="REF",
                   help="git ref to compare against, e.g. origin/main or HEAD~1 "
                        "('.' builds the working tree for both sides)")
    g.add_argument("--quick", action="store_true",
                   help="quick sizes, 6 screening rounds, user-space workloads only")
    g.add_argument("--filter", metavar="REGEX", help="only benchmarks whose name matches")
    g.add_argument("--models", metavar="LIST", help="comma-separated models")
    g.add_argument("--repetitions", type=positive_int, metavar="N",
                   help="screening rounds: bench process pairs (at least 5)")
    g.add_argument("--confirm-rounds", type=positive_int, metavar="N",
                   help="rounds of the confirming stage (default 20, full 24; more when "
                        "many suspects need them)")
    g.add_argument("--budget", type=positive_float, metavar="SECONDS",
                   help="time the confirming stage may take (default 150, full 900)")
    g.add_argument("--seed", type=int, default=1,
                   help="seed of the per-round base/cand order (default 1)")
    g.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                   help="watchdog limit per bench process")
    g.add_argument("--callgrind-iterations", type=positive_int, default=1, metavar="N",
                   help="callgrind: the first probe runs N and 2N iterations (default 1); "
                        "N then grows until the difference is 20M instructions")
    g.add_argument("--cand-define", action="append", metavar="NAME=VALUE",
                   help="extra CMake option for the candidate build only, e.g. "
                        "SY_TEST_SLOWDOWN=25 to prove the gate catches a slowdown")
    g.add_argument("--policy", type=Path, metavar="FILE",
                   help="per-benchmark floors and ignores (default scripts/gate.toml)")
    g.add_argument("--no-history", action="store_true",
                   help="do not append the timings to results/history")
    g.add_argument("--out", type=Path, metavar="DIR",
                   help="merged results and report.md/.json (default build-gate/out)")
    g.add_argument("--self-test", action="store_true",
                   help="measure the gate itself on this machine: power against injected "
                        "slowdowns and false alarms of A/A runs (many gates: long)")
    g.add_argument("--self-test-runs", metavar="SLOWDOWN,AA", default="10,20",
                   help="self-test: gate runs per slowdown and A/A runs (default 10,20)")
    g.add_argument("--self-test-percents", metavar="LIST",
                   help="self-test: injected slowdowns in percent (default 25,10; "
                        "callgrind 2)")
    g.add_argument("--self-test-target", metavar="NAME", default="switch/bare_call",
                   help="self-test: the benchmark made slower (switch/bare_call or a "
                        "compute row)")
    verdict_options(g, "compare instruction counts under valgrind (user-space benches)")

    h = sub.add_parser("history", help="trend per benchmark with change points; a dashboard; "
                                       "--check alerts")
    h.add_argument("--machine", metavar="ID",
                   help="machine id (default: the most recently updated history)")
    h.add_argument("--filter", metavar="REGEX", help="only benchmarks whose name matches")
    h.add_argument("--tier", choices=("quick", "full"), help="only points of this tier")
    h.add_argument("--min-shift", type=fraction, default=0.03, metavar="PCT",
                   help="smallest step marked as a change point (default 3%%)")
    h.add_argument("--check", action="store_true",
                   help="exit 1 when a slowdown beyond --min-shift starts in the last "
                        "--last points of any series")
    h.add_argument("--last", type=positive_int, default=5, metavar="K",
                   help="--check: how recent a slowdown alerts (default 5 points)")
    h.add_argument("--all-origins", action="store_true",
                   help="also the candidate sides of gates (default: runs and gate bases)")
    h.add_argument("--json", dest="fmt", action="store_const", const="json", default="text",
                   help="print the series and change points as JSON")
    h.add_argument("--out", type=Path, metavar="DIR",
                   help="dashboard directory (default results/history/dashboard/<machine>)")
    h.add_argument("--dir", type=Path, metavar="DIR",
                   help="history directory (default results/history)")


def parse_pair(text: str, what: str) -> tuple[int, int]:
    try:
        a, b = (int(x) for x in text.split(","))
    except ValueError:
        raise InputError(f"{what} {text!r}: expected two whole numbers, e.g. 10,20") from None
    if a < 1 or b < 1:
        raise InputError(f"{what} {text!r}: both must be at least 1")
    return a, b


def parse_percents(text: str | None, default) -> tuple[int, ...]:
    if text is None:
        return tuple(default)
    try:
        out = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise InputError(f"--self-test-percents {text!r}: expected whole numbers") from None
    if not out or any(p < 1 for p in out):
        raise InputError(f"--self-test-percents {text!r}: each must be at least 1")
    return out


def run_gate_command(args) -> int:
    """compare / gate / history: argument plumbing only."""
    if args.command == "history":
        from sylib import history
        return history.execute(machine=args.machine, filter=args.filter, tier=args.tier,
                               out=args.out, min_shift=args.min_shift, check=args.check,
                               last=args.last, all_origins=args.all_origins, fmt=args.fmt,
                               history_dir=args.dir or history.HISTORY_DIR)
    from sylib import compare
    s = compare.Settings(floor=args.floor, alpha=args.alpha, threshold=args.threshold,
                         metric="instructions" if args.callgrind else "time")
    if args.command == "compare":
        s.allow_cross_machine = args.allow_cross_machine
        s.work_counters = compare.WORK_COUNTERS | set(args.work_counter)
        from sylib.verdicts import render
        report = compare.compare_paths(args.base, args.cand, s, paired=args.paired)
        sys.stdout.write(render(report, args.fmt))
        return report["exit_status"]
    from sylib import gate, run
    if args.base is None and not args.self_test:
        raise InputError("--base REF is required (or --self-test)")
    cfg = gate.GateConfig(base_ref=args.base or ".", quick=args.quick, filter=args.filter,
                          models=run.parse_models(args.models), repetitions=args.repetitions,
                          confirm_rounds=args.confirm_rounds, budget=args.budget,
                          seed=args.seed, timeout=args.timeout, callgrind=args.callgrind,
                          callgrind_iterations=args.callgrind_iterations, settings=s,
                          out=args.out.resolve() if args.out else None,
                          policy_file=args.policy.resolve() if args.policy else gate.POLICY_FILE,
                          cand_options=gate.parse_defines(args.cand_define), fmt=args.fmt,
                          history=not args.no_history)
    if args.policy and not args.policy.exists():
        raise InputError(f"--policy {args.policy}: no such file")
    if args.self_test:
        from sylib import selftest
        slow, aa = parse_pair(args.self_test_runs, "--self-test-runs")
        percents = parse_percents(args.self_test_percents,
                                  (2,) if args.callgrind else selftest.DEFAULT_PERCENTS)
        return selftest.execute(cfg, percents=percents, runs={"slowdown": slow, "aa": aa},
                                target=args.self_test_target, out=cfg.out)
    return gate.execute(cfg)


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    rc = deps.ensure(args.command, peers=not getattr(args, "no_peers", False))
    if rc:
        return rc
    try:
        if args.command == "run":
            from sylib import run
            if args.quick and args.full:
                raise InputError("--quick and --full exclude each other (quick: the short "
                                 "tier; full: the publication tier)")
            cfg = run.RunConfig(quick=args.quick, filter=args.filter,
                                models=run.parse_models(args.models),
                                repetitions=args.repetitions, processes=args.processes,
                                timeout=args.timeout,
                                out=args.out, peers=not args.no_peers,
                                long_open=args.long_open, full=args.full)
            if args.build_dir:
                cfg.build_dir = args.build_dir.resolve()
            return run.execute(cfg)
        if args.command == "test":
            from sylib import testcmd
            return testcmd.execute(sanitizers=not args.no_sanitizers, tsan=args.tsan)
        if args.command in ("plot", "report"):
            from sylib import report
            return report.command(args.command, args.results, args.out)
        if args.command == "claims" and len(args.results) > 1:
            from sylib import matrix
            return matrix.command(args.results, args.out or Path.cwd())
        if args.command == "claims":
            from sylib import claims
            return claims.command(args.results[0], args.out)
        if args.command == "publish":
            from sylib import publish
            return publish.command(args.results, docs=args.docs, readme=args.readme)
        if args.command in ("compare", "gate", "history"):
            return run_gate_command(args)
    except InputError as e:
        print(f"switchyard {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("switchyard: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
