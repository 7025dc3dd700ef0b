"""`switchyard gate --base <git ref>`: the regression gate for CI.

Builds the base ref (in a git worktree) and the working tree in separate
build directories under build-gate/, runs both in one job and compares them
with sylib.compare, so the exit status can fail a CI step.

Timing mode: the two builds run interleaved, one bench process per side per
round (base, cand, base, cand, ...), at least 5 rounds, each process with
`--benchmark_enable_random_interleaving` so benchmark order changes too. Both
sides share the machine's slow and fast periods (MEASURING.md: throughput
swings up to 2x between periods), which separate runs at different times
would not.

Callgrind mode (`--callgrind`): instruction counts of the user-space
benchmarks at a fixed iteration count (sylib.callgrind), deterministic on a
noisy CI machine; a change above the threshold (default 1%) is a verdict.

Layout: build-gate/worktree (base sources, removed afterwards),
build-gate/base and build-gate/cand (build trees, kept for incremental
rebuilds), build-gate/runs/ (raw per-round output and logs),
build-gate/out/ (merged results per side, report.md, report.json).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import build as buildmod
from . import callgrind as cg
from . import compare
from . import fingerprint as fpmod
from . import procs
from . import run as runmod
from .results import InputError, atomic_write_json, atomic_write_text

REPO = buildmod.REPO
GATE_DIR = REPO / "build-gate"
MIN_ROUNDS = 5                                  # repetitions per side, at least
# Rounds per tier. MEASURING.md: >= 10 pairs for small effects. Quick uses 6,
# not 5: with 5 vs 5 the smallest possible Mann-Whitney p is 0.008, which the
# Benjamini-Hochberg adjustment over a handful of benchmarks pushes past 0.05.
ROUNDS = {"quick": 6, "full": 10}
WORKTREE_BASE = "."                             # --base .: both sides from the working tree
# Only the benches: no unit tests, no sanitizers, never the test-only slowdown
# unless asked for (a cache from an earlier gate must not leak options).
BUILD_OPTIONS = {"SY_TESTS": "OFF", "SY_SELFTEST": "OFF", "SY_SANITIZE": "",
                 "SY_TEST_SLOWDOWN": "OFF"}
# What `gate --quick` (and --callgrind) gates when no --filter is given: the
# user-space workloads, quick and steady enough for a CI job (two builds and
# 2 x 6 rounds of the whole suite would take half an hour on 2 cores).
QUICK_WORKLOADS = ("switch", "spawn", "skynet", "compute")


@dataclass
class GateConfig:
    base_ref: str = "HEAD"
    quick: bool = False
    filter: str | None = None
    models: list | None = None
    repetitions: int | None = None
    timeout: float | None = None
    callgrind: bool = False
    callgrind_iterations: int = cg.DEFAULT_ITERATIONS
    settings: compare.Settings = field(default_factory=compare.Settings)
    work_dir: Path = GATE_DIR
    out: Path | None = None
    base_options: dict = field(default_factory=dict)
    cand_options: dict = field(default_factory=dict)
    targets: list | None = None                 # build only these (tests: bench_switch)
    fmt: str = "table"

    def run_config(self) -> runmod.RunConfig:
        return runmod.RunConfig(quick=self.quick, filter=self.filter, models=self.models,
                                timeout=self.timeout)

    def rounds(self) -> int:
        return self.repetitions or ROUNDS["quick" if self.quick else "full"]


@dataclass
class Side:
    label: str                  # "base" | "cand"
    source: Path
    build_dir: Path
    options: dict
    desc: str
    manifest: dict = field(default_factory=dict)
    fingerprint: dict = field(default_factory=dict)

    def exe(self, bench: str) -> Path:
        return self.build_dir / "benches" / f"bench_{bench}"


class GateError(InputError):
    """The gate cannot judge (exit 2), e.g. the base ref does not build."""


# ---- git ----------------------------------------------------------------------------

def _git(*args, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                          timeout=120)


def resolve_ref(ref: str) -> str:
    """The commit a ref names, or InputError with one line."""
    r = _git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
    if r.returncode != 0 or not r.stdout.strip():
        return_hint = " (this repository has only one commit)" if ref.startswith("HEAD~") and \
            _git("rev-list", "--count", "HEAD").stdout.strip() == "1" else ""
        raise InputError(f"--base {ref}: not a commit in {REPO}{return_hint}")
    return r.stdout.strip()


def remove_worktree(path: Path) -> None:
    if path.exists():
        _git("worktree", "remove", "--force", str(path))
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
    _git("worktree", "prune")


def add_worktree(path: Path, sha: str) -> None:
    remove_worktree(path)          # left over from an interrupted gate
    path.parent.mkdir(parents=True, exist_ok=True)
    r = _git("worktree", "add", "--detach", "--force", str(path), sha)
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or ["?"])[-1]
        raise GateError(f"git worktree add {path} {sha[:10]} failed: {tail}")


# ---- build and plan ------------------------------------------------------------------

def cached_source(build_dir: Path) -> str | None:
    """The source tree a CMake build directory was configured for."""
    try:
        for line in (build_dir / "CMakeCache.txt").read_text().splitlines():
            if line.startswith("CMAKE_HOME_DIRECTORY:"):
                return line.split("=", 1)[1]
    except OSError:
        pass
    return None


def build_side(side: Side, cfg: GateConfig, log) -> None:
    old = cached_source(side.build_dir)
    if old is not None and Path(old).resolve() != side.source.resolve():
        shutil.rmtree(side.build_dir)     # ours (build-gate/), configured for another tree
    side.manifest = buildmod.build(side.build_dir, options={**BUILD_OPTIONS, **side.options},
                                   source=side.source, log=log, targets=cfg.targets)
    side.fingerprint = fpmod.collect(side.source, side.manifest,
                                     runmod.probe_uring(side.build_dir))


def plan(base: Side, cand: Side, cfg: GateConfig) -> tuple[list, list]:
    """([(bench, [benchmark names on both sides])], notes)."""
    rc = cfg.run_config()
    notes, out = [], []
    b_benches, c_benches = base.manifest.get("benches", []), cand.manifest.get("benches", [])
    for bench in [b for b in c_benches if b in b_benches]:
        if cfg.targets and f"bench_{bench}" not in cfg.targets:
            continue
        names = {}
        for side in (base, cand):
            try:
                names[side.label] = [l for l in runmod.list_benchmarks(side.exe(bench), rc)]
            except (OSError, subprocess.SubprocessError, InputError) as e:
                raise GateError(f"{side.label}: {e}") from None
        both = [n for n in names["cand"] if n in names["base"]]
        if both:
            out.append((bench, both))
    for bench in sorted(set(b_benches) ^ set(c_benches)):
        notes.append(f"bench_{bench} exists only in {'base' if bench in b_benches else 'cand'}")
    if not out:
        what = f"--filter '{cfg.filter}'" if cfg.filter else "the selection"
        raise InputError(f"{what} matches no benchmark present in both base and cand")
    return out, notes


# ---- running ------------------------------------------------------------------------

def merge_rounds(rounds: list[dict]) -> dict:
    """Per-round GB JSON of one bench -> one GB JSON with every repetition."""
    rows, reps = [], {}
    for data in rounds:
        for e in data.get("benchmarks", []):
            if e.get("run_type") == "aggregate":
                continue
            e = dict(e)
            key = e.get("run_name") or e["name"]
            e["repetition_index"] = reps.get(key, 0)
            reps[key] = e["repetition_index"] + 1
            rows.append(e)
    for e in rows:
        e["repetitions"] = reps[e.get("run_name") or e["name"]]
    context = next((d.get("context") for d in rounds if d.get("context")), {}) or {}
    return {"context": dict(context), "benchmarks": rows}


def _run_process(cmd, log_path: Path, cfg: GateConfig, json_path: Path, bench: str):
    outcome = procs.run(cmd, timeout=cfg.run_config().limit(), log_path=str(log_path))
    data = runmod.collect_output(json_path, outcome, bench)
    fails, _ = runmod.summarize_entries(data)
    problem = None
    if not outcome.ok and not fails:        # crash, timeout, or exit without an error row
        problem = outcome.reason or outcome.status
    return outcome, data, problem


def run_timing(sides: list[Side], work: list, cfg: GateConfig, runs_dir: Path, log):
    """Interleaved rounds; returns ({label: {bench: merged}}, problems)."""
    rc = cfg.run_config()
    tier = runmod.TIERS[rc.tier]
    per_round: dict = {s.label: {b: [] for b, _ in work} for s in sides}
    problems = []
    rounds = cfg.rounds()
    spent, done, total = 0.0, 0, rounds * len(work)
    for r in range(rounds):
        for bench, _ in work:
            secs = []
            for side in sides:                         # A then B: ABAB over the rounds
                d = runs_dir / side.label
                d.mkdir(parents=True, exist_ok=True)
                raw = d / f"{bench}.{r}.json"
                cmd = [str(side.exe(bench)), f"--benchmark_out={raw}",
                       "--benchmark_out_format=json", "--benchmark_repetitions=1",
                       "--benchmark_enable_random_interleaving=true",
                       f"--benchmark_min_time={tier['min_time']}", *runmod.bench_args(rc)]
                outcome, data, problem = _run_process(cmd, d / f"{bench}.{r}.log", cfg, raw, bench)
                per_round[side.label][bench].append(data)
                if problem:
                    problems.append((side.label, f"bench_{bench} round {r + 1}: {problem} "
                                                 f"(log: {d / f'{bench}.{r}.log'})"))
                secs.append(outcome.seconds)
                spent += outcome.seconds
            done += 1
            eta = spent / done * (total - done)
            print(f"[round {r + 1}/{rounds}] bench_{bench}  base {secs[0]:.1f} s  "
                  f"cand {secs[1]:.1f} s  (ETA {runmod.fmt_duration(eta)})", file=log, flush=True)
    merged = {label: {b: merge_rounds(rs) for b, rs in benches.items()}
              for label, benches in per_round.items()}
    return merged, problems


def callgrind_pair(side: Side, bench: str, key: str, n: int, extra: list, cfg: GateConfig,
                   runs_dir: Path) -> tuple[float | None, dict, int]:
    """Run `key` under callgrind with n and 2n iterations:
    (instructions per iteration or None, GB JSON of the 2n run, Ir of the 2n run).
    Raises RuntimeError with a one-line reason when a run fails."""
    d = runs_dir / side.label
    d.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)
    totals, data = {}, {}
    for iters in (n, 2 * n):
        cgout, raw = d / f"{stem}.{iters}.callgrind", d / f"{stem}.{iters}.json"
        cmd = cg.command(side.exe(bench), key, iters, cgout, raw, extra)
        _, data, problem = _run_process(cmd, d / f"{stem}.{iters}.log", cfg, raw, bench)
        if problem:
            raise RuntimeError(f"{key} ({iters} iterations): {problem}")
        try:
            totals[iters] = cg.parse_total(cgout.read_text())
        except (OSError, ValueError) as e:
            raise RuntimeError(f"{key}: cannot read callgrind output {cgout}: {e}") from None
    return cg.per_iteration(totals[n], totals[2 * n], n), data, totals[2 * n]


def run_callgrind(sides: list[Side], work: list, cfg: GateConfig, runs_dir: Path, log):
    """Instruction counts per eligible benchmark; ({label: {bench: data}}, problems,
    {name: exclusion reason}). Both sides of a benchmark run the same iteration
    count: --callgrind-iterations, raised (from the base's first estimate) until
    the measured difference is at least cg.TARGET_DELTA_IR instructions."""
    from .results import base_name
    extra = (["--sy_quick"] if cfg.quick else []) + \
        (["--sy_models=" + ",".join(cfg.models)] if cfg.models else [])
    for side in sides:
        if not cg.supports_iterations(side.exe(work[0][0])):
            raise GateError(f"{side.label} {side.desc} predates --sy_iterations, which "
                            "callgrind mode needs on both sides; choose a newer --base")
    excluded, problems = {}, []
    out = {s.label: {} for s in sides}
    for bench, names in work:
        for name in names:
            key = base_name(name)
            why = cg.exclusion(key)
            if why:
                excluded[key] = why
                continue
            n = cfg.callgrind_iterations
            for side in sides:
                try:
                    ipi, data, total = callgrind_pair(side, bench, key, n, extra, cfg, runs_dir)
                    if side is sides[0] and ipi and cg.iterations_for(ipi, n) > n:
                        n = cg.iterations_for(ipi, n)
                        ipi, data, total = callgrind_pair(side, bench, key, n, extra, cfg,
                                                          runs_dir)
                except RuntimeError as e:
                    problems.append((side.label, str(e)))
                    continue
                rows = [dict(e) for e in data.get("benchmarks", [])
                        if e.get("run_type") != "aggregate"]
                for e in rows:
                    if ipi is not None and not e.get("error_occurred"):
                        e[compare.INSTRUCTIONS_KEY] = ipi
                        e["callgrind_ir_total"] = total
                        e["callgrind_iterations"] = n
                bucket = out[side.label].setdefault(bench, {"context": data.get("context", {}),
                                                            "benchmarks": []})
                bucket["benchmarks"] += rows
                print(f"callgrind {side.label} {key}: "
                      f"{'?' if ipi is None else f'{ipi:,.0f}'} instructions/iteration "
                      f"({n} and {2 * n} iterations)", file=log, flush=True)
    return out, problems, excluded


def write_side(out_dir: Path, side: Side, results: dict, cfg: GateConfig) -> list:
    """Write <out>/<label>/<bench>.json; return [(path, data)] for compare."""
    d = out_dir / side.label
    d.mkdir(parents=True, exist_ok=True)
    for stale in d.glob("*.json"):
        stale.unlink()
    sets = []
    for bench, data in results.items():
        data = dict(data)
        data["context"] = dict(data.get("context") or {})
        data["context"]["fingerprint"] = side.fingerprint
        data["context"]["switchyard"] = {
            "bench": bench, "gate_side": side.label, "source": side.desc,
            "mode": "callgrind" if cfg.callgrind else "timing",
            "tier": "quick" if cfg.quick else "full",
            "repetitions": cfg.rounds() if not cfg.callgrind else 1,
            "options": {**BUILD_OPTIONS, **side.options}}
        path = d / f"{bench}.json"
        atomic_write_json(path, data)
        sets.append((str(path), data))
    return sets


# ---- the command --------------------------------------------------------------------

def make_sides(cfg: GateConfig, log) -> tuple[list[Side], str | None]:
    """(sides, sha of the base ref or None for --base .)."""
    w = cfg.work_dir
    if cfg.base_ref == WORKTREE_BASE:
        base = Side("base", REPO, w / "base", cfg.base_options, "working tree")
        sha = None
    else:
        sha = resolve_ref(cfg.base_ref)
        base = Side("base", w / "worktree", w / "base", cfg.base_options,
                    f"{cfg.base_ref} ({sha[:10]})")
    opts = " ".join(f"-D{k}={v}" for k, v in cfg.cand_options.items())
    cand = Side("cand", REPO, w / "cand", cfg.cand_options,
                "working tree" + (f" with {opts}" if opts else ""))
    return [base, cand], sha


def execute(cfg: GateConfig, *, log=sys.stderr, out=sys.stdout) -> int:
    started = time.monotonic()
    runmod.check_filter(cfg.filter)
    if cfg.repetitions is not None and cfg.repetitions < MIN_ROUNDS:
        raise InputError(f"--repetitions {cfg.repetitions}: the gate needs at least "
                         f"{MIN_ROUNDS} per side")
    if cfg.callgrind:
        cg.valgrind()
        cfg.settings.metric = "instructions"
    if (cfg.quick or cfg.callgrind) and cfg.filter is None and cfg.targets is None:
        cfg.filter = "^(" + "|".join(QUICK_WORKLOADS) + ")/"
        cfg.targets = [f"bench_{w}" for w in QUICK_WORKLOADS] + ["sy_probe"]
        print(f"switchyard gate: gating {', '.join(QUICK_WORKLOADS)} (use --filter for others)",
              file=log)
    sides, sha = make_sides(cfg, log)
    base, cand = sides
    out_dir = cfg.out or cfg.work_dir / "out"
    runs_dir = cfg.work_dir / "runs"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out {out_dir}: not writable ({e.strerror})") from None
    shutil.rmtree(runs_dir, ignore_errors=True)
    print(f"switchyard gate: base = {base.desc}, cand = {cand.desc}", file=log, flush=True)
    try:
        if sha:
            add_worktree(base.source, sha)
        try:
            build_side(base, cfg, log)
        except buildmod.BuildError as e:
            head, _, tail = str(e).partition("\n")
            print(tail, file=log)
            raise GateError(f"base {base.desc} does not build: {head}") from None
        try:
            build_side(cand, cfg, log)
        except buildmod.BuildError as e:
            print(f"switchyard gate: FAIL: the candidate does not build: {e}", file=log)
            return 1
        work, notes = plan(base, cand, cfg)
        built = time.monotonic() - started
        if cfg.callgrind:
            results, problems, excluded = run_callgrind(sides, work, cfg, runs_dir, log)
        else:
            results, problems = run_timing(sides, work, cfg, runs_dir, log)
            excluded = {}
    finally:
        if sha:
            remove_worktree(base.source)
    sets = {s.label: write_side(out_dir, s, results[s.label], cfg) for s in sides}
    report = compare.compare(sets["base"], sets["cand"], cfg.settings,
                             labels=(f"base {base.desc}", f"cand {cand.desc}"),
                             excluded=excluded)
    report["notes"] += notes
    cand_broken = [p for label, p in problems if label == "cand"]
    report["notes"] += [f"{label} process problem: {p}" for label, p in problems]
    if cand_broken:
        report["exit_status"] = 1
    report["gate"] = {"base_ref": cfg.base_ref, "base_commit": sha, "mode":
                      "callgrind" if cfg.callgrind else "timing", "rounds": cfg.rounds(),
                      "build_seconds": round(built, 1),
                      "seconds": round(time.monotonic() - started, 1)}
    atomic_write_json(out_dir / "report.json", report)
    atomic_write_text(out_dir / "report.md", compare.format_markdown(report))
    out.write(compare.render(report, cfg.fmt))
    out.flush()
    print(f"switchyard gate: {compare.summary_line(report)} in "
          f"{runmod.fmt_duration(time.monotonic() - started)} "
          f"(report: {out_dir / 'report.md'})", file=log)
    return report["exit_status"]


def parse_defines(items: list[str] | None) -> dict:
    """['A=1', 'B=ON'] -> {'A': '1', 'B': 'ON'}; InputError on a bad item."""
    out = {}
    for item in items or []:
        k, sep, v = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            raise InputError(f"--cand-define {item!r}: expected NAME=VALUE")
        out[k] = v
    return out
