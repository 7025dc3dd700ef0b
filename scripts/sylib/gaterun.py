"""The gate's machinery: the base ref in a git worktree, the two builds, and
the bench processes of both modes. sylib.gate decides what to run and what
it means; this module runs it.

Timing rounds: in every round, each bench runs once per side, base and cand
back to back in an order drawn from a fixed seed and balanced over each two
rounds (so neither side always runs first), both pinned to the same CPU,
which alternates between rounds. Benchmarks that run several
OS threads by design (thread, pool, futex, workers:2, ...) cannot be pinned
to one CPU without changing what they measure: they run in a process of their
own with the full CPU mask, still back to back. Every row gets `process` (the
round: the pairing key), `cpu` (-1 = not pinned) and `stage`.

Callgrind: per benchmark, base then cand with the same iteration count, N
and 2N iterations each (sylib.callgrind), the benchmarks spread over all
CPUs in parallel (instruction counts do not depend on load).
"""
from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import build as buildmod
from . import callgrind as cg
from . import fingerprint as fpmod
from . import procs
from . import run as runmod
from .results import INSTRUCTIONS_KEY
from .results import (InputError, atomic_write_json, base_name, exact_alternation,
                      pin_groups)

REPO = buildmod.REPO
# Only the benches: no unit tests, no sanitizers, never the test-only slowdown
# unless asked for (a cache from an earlier gate must not leak options).
# Line tables only (-g1): callgrind's totals need no debug info, and
# callgrind_annotate still names functions and lines; a fifth less compile time.
BUILD_OPTIONS = {"SY_TESTS": "OFF", "SY_SELFTEST": "OFF", "SY_SANITIZE": "",
                 "SY_TEST_SLOWDOWN": "OFF", "SY_TEST_SLOWDOWN_TARGET": "switch/bare_call",
                 "SY_TEST_SLOWDOWN_KIND": "work", "SY_DEBUG_INFO": "-g1"}


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


def build_side(side: Side, targets, log) -> None:
    old = cached_source(side.build_dir)
    if old is not None and Path(old).resolve() != side.source.resolve():
        shutil.rmtree(side.build_dir)     # ours (build-gate/), configured for another tree
    side.manifest = buildmod.build(side.build_dir, options={**BUILD_OPTIONS, **side.options},
                                   source=side.source, log=log, targets=targets)
    side.fingerprint = fpmod.collect(side.source, side.manifest,
                                     runmod.probe_uring(side.build_dir))


def plan(base: Side, cand: Side, rc: runmod.RunConfig, targets) -> tuple[list, list]:
    """([(bench, [benchmark base names on both sides])], notes)."""
    notes, out = [], []
    b_benches, c_benches = base.manifest.get("benches", []), cand.manifest.get("benches", [])
    for bench in [b for b in c_benches if b in b_benches]:
        if targets and f"bench_{bench}" not in targets:
            continue
        names = {}
        for side in (base, cand):
            try:
                names[side.label] = [base_name(l) for l in runmod.list_benchmarks(side.exe(bench),
                                                                                  rc)]
            except (OSError, subprocess.SubprocessError, InputError) as e:
                raise GateError(f"{side.label}: {e}") from None
        both = [n for n in names["cand"] if n in names["base"]]
        if both:
            out.append((bench, both))
    for bench in sorted(set(b_benches) ^ set(c_benches)):
        notes.append(f"bench_{bench} exists only in {'base' if bench in b_benches else 'cand'}")
    if not out:
        what = f"--filter '{rc.filter}'" if rc.filter else "the selection"
        raise InputError(f"{what} matches no benchmark present in both base and cand")
    return out, notes


# ---- timing rounds ------------------------------------------------------------------

def run_process(cmd, log_path: Path, limit: float, json_path: Path, bench: str, cpus=None):
    outcome = procs.run(cmd, timeout=limit, log_path=str(log_path), cpus=cpus)
    data = runmod.collect_output(json_path, outcome, bench)
    fails, _ = runmod.summarize_entries(data)
    problem = None
    if not outcome.ok and not fails:        # crash, timeout, or exit without an error row
        problem = outcome.reason or outcome.status
    return outcome, data, problem


@dataclass
class Rounds:
    """What a stage of timing rounds ran and measured."""
    per_side: dict = field(default_factory=dict)     # label -> bench -> [round JSON]
    problems: list = field(default_factory=list)     # (label, text)
    seconds: dict = field(default_factory=dict)      # (bench, pinned) -> [seconds per process]


def side_order(sides: list, key: int, seed: int) -> list:
    """Which side runs first in round `key`: drawn from the seed for each pair
    of rounds and reversed in the pair's second round (balanced: an order
    effect cancels over every two rounds, and the signed-rank null stays
    exact because each pair's order is still a coin flip)."""
    base_first = random.Random(seed * 1_000_003 + key // 2).random() < 0.5
    if key % 2:
        base_first = not base_first
    return list(sides) if base_first else list(reversed(sides))


# The screening rounds' window per benchmark: the gate's own, not `run`'s
# (its error rates and the self-test were measured with these).
SCREEN_MIN_TIME = {"quick": "0.02", "full": "0.15"}


def run_rounds(sides: list[Side], work: list, *, rc: runmod.RunConfig, stage: int,
               first_round: int, rounds: int, seed: int, runs_dir: Path, log,
               min_time: str | None = None, cpus: list[int] | None = None) -> Rounds:
    """`rounds` rounds of `work` [(bench, names)]; round r has pairing key
    first_round + r; each benchmark measured for `min_time` seconds (default:
    SCREEN_MIN_TIME). Progress with an ETA on `log`."""
    min_time = min_time or SCREEN_MIN_TIME[rc.tier]
    cpus = cpus or sorted(os.sched_getaffinity(0))
    out = Rounds({s.label: {b: [] for b, _ in work} for s in sides})
    jobs = [(bench, pin, names) for bench, names in work
            for pin, names in pin_groups(bench, names)]
    spent, done, total = 0.0, 0, rounds * len(jobs)
    for r in range(rounds):
        key = first_round + r
        cpu = cpus[key % len(cpus)]
        order = side_order(sides, key, seed)
        for bench, pin, names in jobs:
            for side in order:
                d = runs_dir / f"stage{stage}" / side.label
                d.mkdir(parents=True, exist_ok=True)
                stem = f"{bench}.{'pin' if pin else 'free'}.{key}"
                raw = d / f"{stem}.json"
                cmd = [str(side.exe(bench)), f"--benchmark_out={raw}",
                       "--benchmark_out_format=json", "--benchmark_repetitions=1",
                       "--benchmark_enable_random_interleaving=true",
                       f"--benchmark_min_time={min_time}",
                       *runmod.bench_args(runmod.RunConfig(quick=rc.quick, models=rc.models)),
                       f"--benchmark_filter={exact_alternation(names)}"]
                outcome, data, problem = run_process(cmd, d / f"{stem}.log", rc.limit(), raw,
                                                     bench, [cpu] if pin else None)
                out.per_side[side.label][bench].append(
                    runmod.annotate(data, process=key, cpu=cpu if pin else -1, stage=stage))
                out.seconds.setdefault((bench, pin), []).append(outcome.seconds)
                if problem:
                    out.problems.append((side.label, f"bench_{bench} round {key + 1}: {problem} "
                                                     f"(log: {d / f'{stem}.log'})"))
                spent += outcome.seconds
            done += 1
        eta = spent / done * (total - done) if done else 0.0
        print(f"[stage {stage} round {r + 1}/{rounds}] {len(jobs)} process pairs, "
              f"first {order[0].label}, CPU {cpu}  (ETA {runmod.fmt_duration(eta)})",
              file=log, flush=True)
    return out


# ---- callgrind ----------------------------------------------------------------------

def callgrind_runs(side: Side, bench: str, key: str, n: int, extra: list, limit: float,
                   runs_dir: Path, mode: str) -> tuple[dict, dict]:
    """Ir totals and JSON of the n and 2n runs ({count: Ir}, {count: data});
    RuntimeError with a one-line reason when a run fails."""
    d = runs_dir / "callgrind" / side.label
    d.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)
    totals, datas = {}, {}
    for count in (n, 2 * n):
        cgout, raw = d / f"{stem}.{mode}{count}.callgrind", d / f"{stem}.{mode}{count}.json"
        cmd = cg.command(side.exe(bench), key, count, cgout, raw, extra, mode=mode)
        _, data, problem = run_process(cmd, d / f"{stem}.{mode}{count}.log", limit, raw, bench)
        if problem:
            raise RuntimeError(f"{key} ({count} {mode}): {problem}")
        try:
            totals[count] = cg.parse_total(cgout.read_text())
        except (OSError, ValueError) as e:
            raise RuntimeError(f"{key}: cannot read callgrind output {cgout}: {e}") from None
        datas[count] = data
    return totals, datas


def callgrind_benchmark(sides: list[Side], bench: str, key: str, n0: int, extra: list,
                        limit: float, runs_dir: Path) -> dict:
    """One benchmark on both sides with the same counts: {"rows": {label: [rows]},
    "problems": [...], "excluded": reason or None, "log": [lines]}."""
    result = {"rows": {}, "problems": [], "excluded": None, "log": []}
    base = current = sides[0]
    fixed = None
    try:
        mode, n = "iterations", n0
        totals, datas = callgrind_runs(base, bench, key, n, extra, limit, runs_dir, mode)
        # The 2N run tells: asked 2N and ran fewer, the bench fixes its count.
        fixed = cg.fixed_iterations(datas[2 * n], 2 * n)
        if fixed:                      # Iterations(k) in the bench: vary repetitions instead
            mode, n = "repetitions", cg.REPETITION_PAIR
            totals, datas = callgrind_runs(base, bench, key, n, extra, limit, runs_dir, mode)
        else:
            for _ in range(cg.MAX_GROWTH_STEPS):
                grown = cg.next_iterations(totals[n], totals[2 * n], n)
                if grown <= n:
                    break
                n = grown
                totals, datas = callgrind_runs(base, bench, key, n, extra, limit, runs_dir,
                                               mode)
        measured = {base.label: (totals, datas)}
        for current in sides[1:]:
            measured[current.label] = callgrind_runs(current, bench, key, n, extra, limit,
                                                     runs_dir, mode)
    except RuntimeError as e:
        result["problems"].append((current.label, str(e)))
        return result
    for label, (totals, datas) in measured.items():
        why = cg.unmeasurable(totals[n], totals[2 * n])
        if why:
            result["excluded"] = f"{why} ({label}, {n} vs {2 * n} {mode})"
            return result
        per_unit = cg.per_unit(totals[n], totals[2 * n], n)
        per_iter = per_unit / (fixed if mode == "repetitions" else 1)
        rows = [dict(e) for e in datas[2 * n].get("benchmarks", [])
                if e.get("run_type") != "aggregate"]
        for e in rows:
            if not e.get("error_occurred"):
                e.update({INSTRUCTIONS_KEY: per_iter, "callgrind_ir_total": totals[2 * n],
                          "callgrind_iterations": n, "callgrind_mode": mode})
        result["rows"][label] = (datas[2 * n].get("context", {}), rows)
        result["log"].append(f"callgrind {label} {key}: {per_iter:,.0f} instructions/iteration "
                             f"({n} and {2 * n} {mode})")
    return result


def run_callgrind(sides: list[Side], work: list, *, quick: bool, models, n0: int,
                  limit: float, runs_dir: Path, log, jobs: int | None = None):
    """({label: {bench: data}}, problems, {name: exclusion reason})."""
    extra = (["--sy_quick"] if quick else []) + \
        (["--sy_models=" + ",".join(models)] if models else [])
    for side in sides:
        if not cg.supports_iterations(side.exe(work[0][0])):
            raise GateError(f"{side.label} {side.desc} predates --sy_iterations, which "
                            "callgrind mode needs on both sides; choose a newer --base")
    excluded, problems = {}, []
    out = {s.label: {} for s in sides}
    todo = []
    for bench, names in work:
        for key in names:
            why = cg.exclusion(key)
            if why:
                excluded[key] = why
            else:
                todo.append((bench, key))
    workers = jobs or len(os.sched_getaffinity(0))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [(bench, key, pool.submit(callgrind_benchmark, sides, bench, key, n0, extra,
                                            limit, runs_dir)) for bench, key in todo]
        for i, (bench, key, fut) in enumerate(futures, 1):
            res = fut.result()
            problems += res["problems"]
            if res["excluded"]:
                excluded[key] = res["excluded"]
            for label, (ctx, rows) in res["rows"].items():
                bucket = out[label].setdefault(bench, {"context": ctx, "benchmarks": []})
                bucket["benchmarks"] += rows
            for line in res["log"]:
                print(f"[{i}/{len(futures)}] {line}", file=log, flush=True)
    return out, problems, excluded


def write_side(out_dir: Path, side: Side, results: dict, meta: dict) -> list:
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
            "options": {**BUILD_OPTIONS, **side.options}, **meta}
        path = d / f"{bench}.json"
        atomic_write_json(path, data)
        sets.append((str(path), data))
    return sets
