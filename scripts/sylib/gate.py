"""`switchyard gate --base <git ref>`: the regression gate for CI.

Builds the base ref (in a git worktree) and the working tree in separate
build directories under build-gate/, runs both in one job and decides per
benchmark, so the exit status can fail a CI step.

Timing mode decides from *paired rounds* in two stages (sylib.gaterun runs
them: base and cand back to back in a seeded random order, same CPU):

  1. screen: every benchmark, ROUNDS rounds. Per benchmark the paired log
     ratios cand/base give a Hodges-Lehmann estimate and a SCREEN_LEVEL (90%)
     signed-rank interval (sylib.intervals). A suspect is a benchmark whose
     interval excludes 0 and is not inside +-floor: some evidence of a change
     that could matter. The others are done: `no change` when the interval
     lies inside +-floor (an equivalence check), else `inconclusive` (no
     evidence of a change, too noisy to rule one out).
  2. confirm: the suspects only, CONFIRM_ROUNDS fresh rounds (more when there
     are many suspects: the interval must be reachable), each benchmark
     measured CONFIRM_MIN_TIME seconds a process instead of the tier's short
     time (between-process noise on a small VM halves from 0.02 s to 0.2 s),
     decided on the new rounds alone at level 1 - alpha/k for k suspects
     (Bonferroni). Fresh
     data make the choice of suspects harmless, and k is the number of
     suspects, not of benchmarks: 110 gated benchmarks and one regression
     give k of a few, so one large regression is found, while the chance that
     anything at all is flagged by chance stays below alpha per gate run.
     A time budget caps the stage; suspects that do not fit (smallest
     effects first) stay `inconclusive` and say so.

The measured power and false-alarm rate of this rule on this suite live in
the README (`gate --self-test`, sylib.selftest); tests/scripts/test_gatestats.py
checks the rule on simulated gates.

Callgrind mode (`--callgrind`): instruction counts of the user-space
benchmarks (sylib.callgrind), deterministic; a change above the threshold
(default 1%) is a verdict.

Layout: build-gate/worktree (base sources, removed afterwards),
build-gate/base and build-gate/cand (build trees, kept for incremental
rebuilds), build-gate/runs/ (raw per-round output and logs),
build-gate/out/ (merged results per side, report.md, report.json).
"""
from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import build as buildmod
from . import callgrind as cg
from . import compare
from . import gaterun
from . import intervals
from . import policy as policymod
from . import run as runmod
from .gaterun import GateError, Side
from .runplan import merge_rounds
from .results import TIME_UNIT_NS, InputError, atomic_write_json, atomic_write_text
from .verdicts import render, summary_line

REPO = buildmod.REPO
GATE_DIR = REPO / "build-gate"
POLICY_FILE = REPO / "scripts" / "gate.toml"
MIN_ROUNDS = 5                                  # stage 1 rounds, at least
# Stage 1 rounds per tier; 6 pairs reach a 90% signed-rank interval with two
# Walsh averages to spare at each end.
ROUNDS = {"quick": 6, "full": 10}
# Stage 2 rounds per tier, raised when k suspects need more pairs for a
# finite 1 - alpha/k interval (10 pairs reach 99.8%: k <= 25). 20, not 12:
# on simulated gates with this suite's real A/A noise (test_gatestats.py),
# a +10% slowdown of switch/bare_call is found in ~50% of runs with 12
# confirming rounds and ~75% with 20.
CONFIRM_ROUNDS = {"quick": 20, "full": 24}
SPARE_PAIRS = 3          # beyond the fewest pairs whose interval is finite
SCREEN_LEVEL = 0.90
# Seconds each benchmark is measured per confirming process (a few suspects
# can afford what 110 benchmarks cannot); the screen uses the tier's time.
CONFIRM_MIN_TIME = {"quick": "0.1", "full": "0.3"}
# Seconds stage 2 may run (both sides); the screen's own times predict it.
CONFIRM_BUDGET = {"quick": 150.0, "full": 900.0}
PROCESS_START_S = 0.05   # a bench process's fixed cost, for that prediction
ADAPTIVE_RUNS = 2.0      # an adaptive benchmark runs ~2x its measuring time (estimation first)
DEFAULT_SEED = 1
WORKTREE_BASE = "."                             # --base .: both sides from the working tree
# What `gate --quick` (and --callgrind) gates when no --filter is given: the
# user-space workloads, quick and steady enough for a CI job.
QUICK_WORKLOADS = ("switch", "spawn", "skynet", "compute")


@dataclass
class GateConfig:
    base_ref: str = "HEAD"
    quick: bool = False
    filter: str | None = None
    models: list | None = None
    repetitions: int | None = None
    confirm_rounds: int | None = None
    budget: float | None = None
    seed: int = DEFAULT_SEED
    timeout: float | None = None
    callgrind: bool = False
    callgrind_iterations: int = cg.DEFAULT_ITERATIONS
    settings: compare.Settings = field(default_factory=compare.Settings)
    policy_file: Path | None = POLICY_FILE
    work_dir: Path = GATE_DIR
    out: Path | None = None
    base_options: dict = field(default_factory=dict)
    cand_options: dict = field(default_factory=dict)
    targets: list | None = None                 # build only these (tests: bench_switch)
    fmt: str = "table"
    history: bool = True                        # append to results/history
    cand_build: str = "cand"                    # build-dir name of the candidate (self-test)

    @property
    def tier(self) -> str:
        return "quick" if self.quick else "full"

    def run_config(self) -> runmod.RunConfig:
        return runmod.RunConfig(quick=self.quick, filter=self.filter, models=self.models,
                                timeout=self.timeout)

    def rounds(self) -> int:
        return self.repetitions or ROUNDS[self.tier]

    def confirm_budget(self) -> float:
        return self.budget if self.budget is not None else CONFIRM_BUDGET[self.tier]


# ---- the two-stage decision (pure) ---------------------------------------------------

def confirm_rounds(k: int, alpha: float, base_rounds: int) -> int:
    """Stage 2 rounds for k suspects: enough pairs for a finite interval at
    1 - alpha/k, with SPARE_PAIRS to spare, and never fewer than asked."""
    if k == 0:
        return 0
    return max(base_rounds, intervals.min_pairs(1 - alpha / k) + SPARE_PAIRS)


def is_suspect(row: dict) -> bool:
    """A screened row with some evidence of a change that could matter: its
    interval excludes 0 and is not inside +-floor."""
    ci = row.get("ci")
    if ci is None or row["verdict"] not in ("regression", "improvement", "inconclusive"):
        return False
    return ci[0] > 0 or ci[1] < 0


def suspects(rows: list[dict]) -> list[dict]:
    """Screened timing rows that need confirming, largest |change| first."""
    return sorted((r for r in rows if is_suspect(r)), key=lambda r: -abs(r["change"] or 0.0))


def fit_budget(picked: list[dict], cost: dict, rounds_for, budget: float) -> list[dict]:
    """The largest prefix of `picked` whose confirming rounds fit the budget.
    cost[name] = seconds one round of that benchmark costs (both sides)."""
    keep = list(picked)
    dearest = max(cost.values(), default=1.0)      # a suspect the screen did not time
    while keep:
        k = len(keep)
        if rounds_for(k) * sum(cost.get(r["name"], dearest) for r in keep) <= budget:
            return keep
        keep.pop()
    return keep


def round_cost(screen_sets: dict, confirm_min_time: float) -> dict:
    """Seconds one confirming round of each benchmark takes (both sides),
    predicted from the screen's rows: a benchmark with a fixed iteration count
    (one iteration per run) takes what it took; an adaptive one about
    ADAPTIVE_RUNS x the confirming measuring time (Google Benchmark's
    iteration-count estimation runs first); each in a process of its own
    (an overestimate when several suspects share a process)."""
    runs: dict = {}
    for _, data in screen_sets["base"]:
        for e in data["benchmarks"]:
            t = e.get("real_time")
            if not isinstance(t, (int, float)) or e.get("error_occurred"):
                continue
            ns = t * TIME_UNIT_NS.get(e.get("time_unit", "ns"), 1.0)
            seconds = ns * 1e-9 * e.get("iterations", 1)
            runs.setdefault(compare.entry_key(e), []).append((seconds, e.get("iterations", 1)))
    cost = {}
    for name, obs in runs.items():
        seconds = sorted(s for s, _ in obs)[len(obs) // 2]
        fixed = all(it == 1 for _, it in obs)
        one = seconds if fixed else max(seconds, ADAPTIVE_RUNS * confirm_min_time)
        cost[name] = 2 * (PROCESS_START_S + one)
    return cost


def screen_reason(row: dict) -> str:
    """A screened row that was not a suspect says what the screen saw."""
    if row["verdict"] == "inconclusive" and row.get("ci") is not None:
        return ("no evidence of a change: the screen's 90% interval contains 0, but it is "
                "too wide to rule out a change beyond the floor")
    return row["reason"]


def merge_stages(screen: list[dict], confirm: list[dict], unconfirmed: list[dict]) -> list[dict]:
    """Final rows: the screen's settled rows, stage 2's verdicts, and the
    suspects the budget left out (inconclusive, saying so)."""
    done = {r["name"] for r in confirm} | {r["name"] for r in unconfirmed}
    out = [dict(r, stage="screen", reason=screen_reason(r)) for r in screen
           if r["name"] not in done]
    out += [dict(r, stage="confirm") for r in confirm]
    out += [dict(r, stage="unconfirmed", verdict="inconclusive",
                 reason=f"screened as a suspect ({r['reason']}); not confirmed: the "
                        "confirming stage's time budget ran out (--budget)")
            for r in unconfirmed]
    out.sort(key=lambda r: compare.VERDICT_ORDER.index(r["verdict"]))
    return out


# ---- the command --------------------------------------------------------------------

def make_sides(cfg: GateConfig) -> tuple[list[Side], str | None]:
    """(sides, sha of the base ref or None for --base .)."""
    w = cfg.work_dir
    if cfg.base_ref == WORKTREE_BASE:
        base = Side("base", REPO, w / "base", cfg.base_options, "working tree")
        sha = None
    else:
        sha = gaterun.resolve_ref(cfg.base_ref)
        base = Side("base", w / "worktree", w / "base", cfg.base_options,
                    f"{cfg.base_ref} ({sha[:10]})")
    opts = " ".join(f"-D{k}={v}" for k, v in cfg.cand_options.items())
    # An A/A gate of the working tree (same source, same options): one build
    # serves both sides -- a second would compile the same binary.
    same = sha is None and cfg.cand_options == cfg.base_options
    cand = Side("cand", REPO, w / ("base" if same else cfg.cand_build), cfg.cand_options,
                "working tree" + (f" with {opts}" if opts else "")
                + (" (the base's build)" if same else ""))
    return [base, cand], sha


def check_config(cfg: GateConfig) -> None:
    runmod.check_filter(cfg.filter)
    if cfg.repetitions is not None and cfg.repetitions < MIN_ROUNDS:
        raise InputError(f"--repetitions {cfg.repetitions}: the gate needs at least "
                         f"{MIN_ROUNDS} rounds")
    if cfg.callgrind:
        cg.valgrind()
        cfg.settings.metric = "instructions"
    if (cfg.quick or cfg.callgrind) and cfg.filter is None and cfg.targets is None:
        cfg.filter = "^(" + "|".join(QUICK_WORKLOADS) + ")/"
        cfg.targets = [f"bench_{w}" for w in QUICK_WORKLOADS] + ["sy_probe"]


def build_both(sides, sha, cfg: GateConfig, log) -> bool:
    """Build base (GateError if it fails) and cand (False if it fails)."""
    base, cand = sides
    if sha:
        gaterun.add_worktree(base.source, sha)
    try:
        gaterun.build_side(base, cfg.targets, log)
    except buildmod.BuildError as e:
        head, _, tail = str(e).partition("\n")
        print(tail, file=log)
        raise GateError(f"base {base.desc} does not build: {head}") from None
    try:
        gaterun.build_side(cand, cfg.targets, log)
    except buildmod.BuildError as e:
        print(f"switchyard gate: FAIL: the candidate does not build: {e}", file=log)
        return False
    return True


def two_stage(screen_sets: dict, confirm, s: compare.Settings, *, cost: dict,
              base_rounds: int, budget: float, log=None) -> tuple[list, list]:
    """The timing decision (pure but for `confirm`): screen, then confirm the
    suspects on fresh rounds. `screen_sets` = {"base": [(source, GB JSON)],
    "cand": [...]}; confirm(names, rounds) returns the same for fresh rounds
    of those benchmarks; cost[name] = seconds one round of it takes.
    Returns (rows, stages). tests/scripts/test_gatestats.py simulates it."""
    rep1 = compare.compare(screen_sets["base"], screen_sets["cand"], s, paired=True,
                           level=SCREEN_LEVEL)
    picked = suspects(rep1["rows"])
    rounds_for = lambda k: confirm_rounds(k, s.alpha, base_rounds)  # noqa: E731
    keep = fit_budget(picked, cost, rounds_for, budget)
    unconfirmed = picked[len(keep):]
    n_timed = sum(1 for r in rep1["rows"] if r.get("ci") is not None or
                  r["verdict"] == "no change")
    stages = [{"name": "screen", "rounds": max((r["processes"][0] for r in rep1["rows"]
                                                if r.get("processes")), default=0),
               "benchmarks": n_timed, "level": SCREEN_LEVEL}]
    confirm_rows = []
    if keep:
        k, r2 = len(keep), rounds_for(len(keep))
        level = 1 - s.alpha / k
        names = sorted(r["name"] for r in keep)
        if log:
            print(f"switchyard gate: confirming {k} suspect(s) with {r2} fresh rounds "
                  f"(interval at {level * 100:.4g}%)", file=log, flush=True)
        sets2 = confirm(names, r2)
        confirm_rows = [r for r in compare.compare(sets2["base"], sets2["cand"], s,
                                                   paired=True, level=level)["rows"]
                        if r["name"] in names]
        stages.append({"name": "confirm", "rounds": r2, "benchmarks": k, "level": level})
    if unconfirmed:
        stages.append({"name": "not confirmed (budget)", "rounds": 0,
                       "benchmarks": len(unconfirmed), "level": 0.0})
    return merge_stages(rep1["rows"], confirm_rows, unconfirmed), stages


def timing_stages(sides, work, cfg: GateConfig, runs_dir: Path, log):
    """Run both stages; (rows, per-side merged results, problems, stage records)."""
    rc = cfg.run_config()
    r1 = cfg.rounds()
    screen = gaterun.run_rounds(sides, work, rc=rc, stage=1, first_round=0, rounds=r1,
                                seed=cfg.seed, runs_dir=runs_dir, log=log)
    per_round = {lab: dict(by) for lab, by in screen.per_side.items()}
    problems = list(screen.problems)

    def datasets(per_side):
        return {lab: [(f"{lab}/{b}", merge_rounds(rs)) for b, rs in by.items()]
                for lab, by in per_side.items()}

    def confirm(names, rounds):
        work2 = [(b, [n for n in ns if n in names]) for b, ns in work]
        conf = gaterun.run_rounds(sides, [(b, ns) for b, ns in work2 if ns], rc=rc, stage=2,
                                  first_round=r1, rounds=rounds, seed=cfg.seed,
                                  runs_dir=runs_dir, log=log,
                                  min_time=CONFIRM_MIN_TIME[cfg.tier])
        problems.extend(conf.problems)
        for lab, by in conf.per_side.items():
            for b, rs in by.items():
                per_round[lab][b] = per_round[lab].get(b, []) + rs
        return datasets(conf.per_side)

    screen_sets = datasets(screen.per_side)
    rows, stages = two_stage(screen_sets, confirm, cfg.settings,
                             cost=round_cost(screen_sets, float(CONFIRM_MIN_TIME[cfg.tier])),
                             base_rounds=cfg.confirm_rounds or CONFIRM_ROUNDS[cfg.tier],
                             budget=cfg.confirm_budget(), log=log)
    merged = {lab: {b: merge_rounds(rs) for b, rs in by.items()}
              for lab, by in per_round.items()}
    return rows, merged, problems, stages


def execute(cfg: GateConfig, *, log=sys.stderr, out=sys.stdout) -> int:
    started = time.monotonic()
    check_config(cfg)
    rules, source = policymod.load_rules(cfg.policy_file)
    sides, sha = make_sides(cfg)
    cfg.settings.policy = policymod.Policy(rules, policymod.accepts_between(REPO, sha), source)
    if cfg.filter and cfg.targets and cfg.quick:
        print(f"switchyard gate: gating {cfg.filter} (use --filter for others)", file=log)
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
        if not build_both(sides, sha, cfg, log):
            return 1
        work, notes = gaterun.plan(base, cand, cfg.run_config(), cfg.targets)
        built = time.monotonic() - started
        excluded, stages = {}, []
        if cfg.callgrind:
            results, problems, excluded = gaterun.run_callgrind(
                sides, work, quick=cfg.quick, models=cfg.models, n0=cfg.callgrind_iterations,
                limit=cfg.run_config().limit(), runs_dir=runs_dir, log=log)
        else:
            rows, results, problems, stages = timing_stages(sides, work, cfg, runs_dir, log)
    finally:
        if sha:
            gaterun.remove_worktree(base.source)
    meta = {"mode": "callgrind" if cfg.callgrind else "timing", "tier": cfg.tier,
            "rounds": sum(st["rounds"] for st in stages) or 1}
    sets = {s.label: gaterun.write_side(out_dir, s, results[s.label], meta) for s in sides}
    labels = (f"base {base.desc}", f"cand {cand.desc}")
    if cfg.callgrind:
        report = compare.compare(sets["base"], sets["cand"], cfg.settings, labels=labels,
                                 excluded=excluded)
    else:
        report = compare.compare(sets["base"], sets["cand"], cfg.settings, labels=labels,
                                 paired=True, level=SCREEN_LEVEL)
        report["rows"] = rows
        report["summary"] = compare.summarize(rows)
        report["exit_status"] = compare.exit_status(rows)
        report["settings"]["level"] = None
    report["notes"] += notes
    cand_broken = [p for label, p in problems if label == "cand"]
    report["notes"] += [f"{label} process problem: {p}" for label, p in problems]
    if cand_broken:
        report["exit_status"] = 1
    report["gate"] = {"base_ref": cfg.base_ref, "base_commit": sha, "mode": meta["mode"],
                      "tier": cfg.tier, "seed": cfg.seed, "stages": stages,
                      "build_seconds": round(built, 1),
                      "seconds": round(time.monotonic() - started, 1)}
    atomic_write_json(out_dir / "report.json", report)
    atomic_write_text(out_dir / "report.md", render(report, "markdown"))
    if cfg.history:
        from . import history
        history.after_gate(out_dir, log=log)
    out.write(render(report, cfg.fmt))
    out.flush()
    print(f"switchyard gate: {summary_line(report)} in "
          f"{runmod.fmt_duration(time.monotonic() - started)} "
          f"(report: {out_dir / 'report.md'})", file=log)
    return report["exit_status"]


def parse_defines(items: list[str] | None) -> dict:
    """['A=1', 'B=ON'] -> {'A': '1', 'B': 'ON'}; InputError on a bad item."""
    import re
    out = {}
    for item in items or []:
        k, sep, v = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            raise InputError(f"--cand-define {item!r}: expected NAME=VALUE")
        out[k] = v
    return out

