"""Claims report (issue 8): popular coroutine claims checked against a run.

Twelve claims, as coroutine tutorials state them, each with a check that
reads named benchmarks and counters (Claim.reads; names per
/work/notes/schema.md) and thresholds from claims.toml. A check turns the
results into *cases* (one comparison each, e.g. "coroutine vs the cheapest
pinned thread hand-off: 52x") that pass or fail its threshold; the verdict
follows from them alone:

    holds                     every case passes
    holds only when <cond>    some pass; <cond> is the attribute that separates
                              them (threads unpinned, suspend:0, N <= 1000, ...)
    mixed                     some pass and no attribute separates them (never
                              an enumeration of cases dressed as a condition)
    refuted                   no case passes

Every verdict carries k/n, the cases passing. A claim that is several claims
(claim 11: >= 2x node, >= 2x gevent, ~ Go; claim 7: memory, spawn cost, a
million tasks) tags its cases with a `part`; each part gets its own verdict
by the same rules, and the claim's own verdict is over all its cases.
    not measured              the rows the check needs are missing; the reason
                              and the command that would measure them are given

Pure functions evaluate (`evaluate`) and render (`markdown`, `html_section`,
`terminal`); `produce` writes <out>/claims.md and claims.json (report.py
renders the claims section of report.md / report.html from `evaluate` and
the section renderers here); `command` is `switchyard claims`.
"""
from __future__ import annotations

import dataclasses
import html
import json
import math
import os
import sys
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from . import tidy
from .results import InputError, atomic_write_text
from .tidy import Bench, Results, fmt, num

THRESHOLDS_FILE = Path(__file__).with_name("claims.toml")
RUN = "scripts/switchyard run"
VERDICTS = ("holds", "holds only when", "mixed", "refuted", "not measured")

LOOP_MODELS = tidy.LOOP_MODELS
STACKLESS = ("coroutine", "coroutine_uring")
STACKFUL = ("fiber",)
THREAD_HANDOFFS = ("thread", "pool", "futex")
PINNED = ("same", "cross")
MULTI_THREAD_PARAMS = tidy.MULTI_THREAD_PARAMS
OFFLOAD_MODE = tidy.OFFLOAD_MODE
THREAD_CONTROLS = ("pool", "thread")
UVLOOPS = ("py_uvloop_proto", "py_uvloop")
GO_PEERS = ("go", "go_gomaxprocs1")
UVLOOP_PEERS = (("node",), ("py_gevent",), GO_PEERS)     # each needs one model measured
UVLOOP_PARTS = {"node": "at least 2x node", "py_gevent": "at least 2x gevent",
                "go": "about as fast as Go", "go_gomaxprocs1": "about as fast as Go"}
SERVERS = ("redis", "http")
SERVER_PAIR_IGNORES = ("mode", "concurrency")

MAX_MD_FIGURES = 20          # figures listed per claim in claims.md before "... N more"
TERMINAL_FIGURES = 2         # figures per claim in the terminal table
TERMINAL_WIDTH = 48          # widest claim / verdict column; longer text overflows
MAX_LISTED_CASES = 4         # cases named in a condition no attribute explains
PASS, FAIL = "✓ ", "✗ "


# ---- thresholds ----------------------------------------------------------------------

@dataclass(frozen=True)
class Limits:
    """One [section] of claims.toml; a missing key is bad input, named."""
    source: str
    section: str
    values: dict

    def __getitem__(self, key):
        try:
            return self.values[key]
        except KeyError:
            raise InputError(f"{self.source}: [{self.section}] has no '{key}'") from None


def load_thresholds(path=THRESHOLDS_FILE) -> dict[str, Limits]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise InputError(f"{path}: cannot read thresholds: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: malformed TOML ({e})") from None
    out = {}
    for section, values in data.items():
        if not isinstance(values, dict):
            raise InputError(f"{path}: '{section}' is not a [section]")
        for k, v in values.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise InputError(f"{path}: [{section}] {k} is not a number")
        out[section] = Limits(str(path), section, values)
    return out


# ---- what a check produces -----------------------------------------------------------

def show(value, unit: str) -> str:
    """A figure's number with its unit ('52×', '9 ns', '180 B', '1.01×')."""
    if value is None or not math.isfinite(value):
        return "—"
    if unit == "x":
        return f"{value:.3g}×"
    if unit == "threads":
        return f"{value:.0f} OS thread(s)"
    if unit == "tasks":
        return f"{value:,.0f} tasks"
    return fmt(value, unit)


@dataclass
class Figure:
    what: str
    value: float
    unit: str                    # ns ms B /s x count threads tasks
    passed: bool | None = None   # None: context, not judged

    @property
    def text(self) -> str:
        mark = "" if self.passed is None else (PASS if self.passed else FAIL)
        return f"{mark}{self.what}: {show(self.value, self.unit)}"


@dataclass
class Case:
    """One judged comparison; attrs say what separates passing from failing."""
    label: str
    attrs: dict
    value: float
    unit: str
    passed: bool

    @property
    def figure(self) -> Figure:
        return Figure(self.label, self.value, self.unit, self.passed)


@dataclass
class Measured:
    cases: list = field(default_factory=list)
    context: list = field(default_factory=list)    # [Figure], not judged
    missing: str = ""                              # why not measured ("" = measured)


@dataclass(frozen=True)
class Split:
    """An attribute that may separate passing cases from failing ones, and how
    to say so after 'holds only when'. Categorical: phrases maps value -> text;
    numeric: phrases maps '≤'/'≥' -> template with {v}. Templates may also use
    the claim's thresholds, e.g. {fine_every}."""
    attr: str
    numeric: bool = False
    phrases: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    id: int
    section: str                # its [section] in claims.toml
    title: str                  # short, for the terminal table
    text: str                   # as tutorials state it
    check: str                  # what we measure and the rule
    reads: str                  # benchmark names and counters it reads
    args: str                   # `switchyard run` arguments that measure it
    measure: Callable           # (Results, Limits) -> Measured
    splits: tuple = ()
    charts: tuple = ()          # chart names (charts/<name>.png)
    tables: tuple = ()          # report tables to look at when there is no chart
    decide: Callable | None = None   # (cases) -> (verdict, condition) | None: overrides

    @property
    def command(self) -> str:
        return f"{RUN} {self.args}"


@dataclass
class Evaluated:
    id: int
    title: str
    claim: str
    check: str
    reads: str
    verdict: str
    condition: str
    figures: list               # [Figure]
    charts: list                # chart names
    tables: list
    command: str
    reason: str                 # why not measured
    passed: int = 0             # cases passing
    total: int = 0              # cases judged
    parts: list = field(default_factory=list)   # [Part] when the claim has parts

    @property
    def verdict_text(self) -> str:
        text = f"{self.verdict} {self.condition}" if self.condition else self.verdict
        return f"{text} ({self.passed}/{self.total})" if self.total else text

    def to_json(self) -> dict:
        d = asdict(self)
        d["verdict_text"] = self.verdict_text
        d["figures"] = [dict(asdict(f), text=f.text) for f in self.figures]
        return d


# ---- reading rows --------------------------------------------------------------------

def rows(res: Results, workload: str, models=None, **params) -> list[Bench]:
    """Successful benchmarks of a workload, optionally of some models/params."""
    return [b for b in res.ok(workload) if (models is None or b.model in models)
            and all(b.params.get(k) == v for k, v in params.items())]


def med(b: Bench, fn) -> float | None:
    """Median over the repetitions of fn(repetition)."""
    st = tidy.summarize(fn(r) for r in b.reps)
    return st.median if st else None


def counter(key):
    return lambda r: r.get(key)


def worst(b: Bench, key: str) -> float | None:
    """Largest value of a counter over the repetitions (lost updates, threads)."""
    vals = [r[key] for r in b.reps if key in r]
    return max(vals) if vals else None


def valued(benches, fn) -> list[tuple[Bench, float]]:
    return [(b, v) for b in benches if (v := med(b, fn)) is not None]


def absent(res: Results, workload: str, what: str) -> str:
    """'no <what>', plus what happened to the bench when it gave nothing at all."""
    return f"no {what}" if res.ok(workload) else f"no {what} ({res.why_missing(workload)})"


def param_num(b: Bench, key: str, default=None) -> float | None:
    v = num(b.params.get(key))
    return default if v is None else v


# ---- the checks ----------------------------------------------------------------------

def pin_class(b: Bench) -> str:
    return "pinned" if b.params.get("pin") in PINNED else "unpinned"


def coroutine_kind(model: str) -> str:
    return "stackless" if model in STACKLESS else "stackful"


def measure_switch_cost(res: Results, t: Limits) -> Measured:
    sw = res.ok("switch")
    coros = valued([b for b in sw if b.model in STACKLESS + STACKFUL], tidy.NS_PER_SWITCH.fn)
    handoffs = valued([b for b in sw if b.model in THREAD_HANDOFFS], tidy.NS_PER_SWITCH.fn)
    cheapest = {}
    for b, v in handoffs:
        cls = pin_class(b)
        if cls not in cheapest or v < cheapest[cls][1]:
            cheapest[cls] = (b, v)
    missing = [f"{kind} coroutine switch (switch/{'|'.join(models)})"
               for kind, models in (("stackless", STACKLESS), ("stackful", STACKFUL))
               if not any(b.model in models for b, _ in coros)]
    if not cheapest:
        missing.append("thread hand-off (switch/thread, switch/pool, switch/futex)")
    if missing:
        return Measured(missing=absent(res, "switch", ", no ".join(missing)))
    m = Measured(context=[Figure(f"cheapest {cls} thread hand-off ({b.label()})", v, "ns")
                          for cls, (b, v) in sorted(cheapest.items())])
    m.context += [Figure(f"{b.model} ({coroutine_kind(b.model)})", v, "ns") for b, v in coros]
    for b, v in coros:
        for cls, (hb, hv) in sorted(cheapest.items()):
            ratio = hv / v
            m.cases.append(Case(f"{b.model} vs {cls} {hb.label()}",
                                {"pin": cls, "kind": coroutine_kind(b.model), "model": b.model},
                                ratio, "x", ratio >= t["min_advantage"]))
    return m


def measure_switch_rate(res: Results, t: Limits) -> Measured:
    coros = valued(rows(res, "switch", STACKLESS), tidy.NS_PER_SWITCH.fn)
    if not coros:
        return Measured(missing=absent(res, "switch", "stackless switch (switch/coroutine, "
                                                       "switch/coroutine_uring)"))
    return Measured([Case(f"{b.model} switches per second", {"model": b.model},
                          tidy.NS_PER_S / v, "/s", tidy.NS_PER_S / v >= t["min_rate_per_s"])
                     for b, v in coros])


def measure_single_thread(res: Results, t: Limits) -> Measured:
    peak: dict[tuple, float] = {}
    for b in res.benches:
        if b.status == "ok" and b.model in LOOP_MODELS and tidy.single_threaded_config(b.params):
            n = worst(b, "os_threads")
            if n is not None:
                key = (b.model, b.workload)
                peak[key] = max(n, peak.get(key, 0.0))
    if not peak:
        return Measured(missing="no loop-model row carries the counter os_threads "
                                "(max OS threads of the process during the run)")
    return Measured([Case(f"{m} in {w}", {"model": m, "workload": w}, n, "threads",
                          n <= t["max_os_threads"]) for (m, w), n in peak.items()])


def echo_overlap(res: Results) -> list[Figure]:
    """Context for claim 4: closed-loop msgs/s with many connections over one."""
    out = []
    closed = rows(res, "echo", LOOP_MODELS, mode="closed")
    for model in LOOP_MODELS:
        mine = [b for b in closed if b.model == model and param_num(b, "size") is not None
                and param_num(b, "conns") is not None]
        if not mine:
            continue
        size = min(param_num(b, "size") for b in mine)
        rate = {param_num(b, "conns"): med(b, counter("msgs_per_second"))
                for b in mine if param_num(b, "size") == size}
        top = max(rate)
        if top > 1 and rate.get(1) and rate[top]:
            out.append(Figure(f"echo {model}: msgs/s at conns:{top:g} over conns:1 "
                              f"(size:{size:g})", rate[top] / rate[1], "x"))
    return out


def measure_io_waits(res: Results, t: Limits) -> Measured:
    """Claim 4 as stated: N waits of T overlap (about T in all) instead of
    running one after another (N x T, the claim's alternative). Creating N
    tasks is not waiting: at N = 1e6 it outlasts T = 10 ms on its own, so the
    overlap is judged on (wall - creation) / T and creation is cited apart."""
    burst = [b for b in rows(res, "sleep", LOOP_MODELS, mode="burst")
             if param_num(b, "n", 0) >= t["min_concurrent"]]
    vals = valued(burst, counter("wall_over_t"))
    if not vals:
        return Measured(missing=absent(res, "sleep", "sleep/<loop model>/mode:burst row with "
                                                     f"n >= {t['min_concurrent']:g}"))
    cases, context = [], []
    for b, wall in vals:
        n = param_num(b, "n")
        create = med(b, counter("create_over_t"))
        waits = wall - create if create is not None else wall
        where = f"{b.model} n:{b.params['n']} sleep_ms:{b.params.get('sleep_ms', '?')}"
        cases.append(Case(f"{where} waits/T (wall − creation; one after another: {n:g})",
                          {"model": b.model, "n": n}, waits, "x",
                          waits <= t["max_wall_over_t"]))
        if create is not None and create > 0.05:
            context.append(Figure(f"{where} creating the tasks / T", create, "x"))
    return Measured(cases, context + echo_overlap(res))


def measure_no_lock(res: Results, t: Limits) -> Measured:
    found = [(b, n) for b in rows(res, "locks", LOOP_MODELS, sync="none")
             if (n := worst(b, "lost_updates")) is not None]
    have = {b.params.get("suspend") for b, _ in found}
    missing = [f"locks/<loop model>/sync:none/suspend:{s}" for s in ("0", "1") if s not in have]
    if missing:
        return Measured(missing=absent(res, "locks", " or ".join(missing) + " row"))
    cases = [Case(f"{b.model} suspend:{b.params['suspend']} lost updates (of "
                  f"{med(b, counter('expected')) or 0:,.0f})",
                  {"suspend": b.params["suspend"], "model": b.model}, n, "count",
                  n <= t["max_lost_updates"]) for b, n in found]
    return Measured(cases)


def per_update(r):
    return r["time_ns"] / r["expected"] if r.get("expected") else None


def measure_no_sync_overhead(res: Results, t: Limits) -> Measured:
    loops = valued([b for b in rows(res, "locks", LOOP_MODELS, sync="none", suspend="0")
                    if worst(b, "lost_updates") == 0], per_update)
    synced = {kind: valued(rows(res, "locks", ("thread",), sync=kind, suspend="0"), per_update)
              for kind in ("mutex", "atomic")}
    missing = (["locks/<loop model>/sync:none/suspend:0 row without lost updates"]
               if not loops else [])
    missing += [f"locks/thread/sync:{k}/suspend:0 row" for k, v in synced.items() if not v]
    if missing:
        return Measured(missing=absent(res, "locks", ", no ".join(missing)))
    cheapest = {k: min(v for _, v in found) for k, found in synced.items()}
    m = Measured(context=[Figure(f"thread+{k} per update", v, "ns") for k, v in cheapest.items()])
    m.context += [Figure(f"{b.model} without locks per update", v, "ns") for b, v in loops]
    for b, v in loops:
        for kind, tv in cheapest.items():
            m.cases.append(Case(f"thread+{kind} over {b.model} without locks",
                                {"against": kind, "model": b.model}, tv / v, "x",
                                tv / v >= t["min_overhead"]))
    return m


def largest_n(benches) -> dict[float, Bench]:
    return {param_num(b, "n"): b for b in benches if param_num(b, "n") is not None}


def measure_scalability(res: Results, t: Limits) -> Measured:
    m, missing = Measured(), []
    mem = {b.model: v for b, v in valued(rows(res, "memory", LOOP_MODELS + ("thread",)),
                                         counter("bytes_per_task"))}
    thread_mem = mem.pop("thread", None)
    if not mem:
        missing.append(("memory", "memory/<loop model>/n:<N> row with bytes_per_task"))
    if thread_mem is None:
        missing.append(("memory", "memory/thread/n:<N> row with bytes_per_task"))
    for model, v in mem.items():
        m.cases.append(Case(f"{model} bytes per task", {"model": model, "part": "memory"},
                            v, "B", v <= t["max_bytes_per_task"]))
        if thread_mem is not None:
            m.cases.append(Case(f"thread over {model} bytes per task",
                                {"model": model, "part": "memory vs thread"},
                                thread_mem / v, "x", thread_mem / v >= t["min_memory_advantage"]))
    thread_spawn = largest_n(rows(res, "spawn", ("thread",)))
    spawn_cases = 0
    for model in LOOP_MODELS:
        mine = largest_n(rows(res, "spawn", (model,)))
        common = set(mine) & set(thread_spawn)
        if not common:
            continue
        n = max(common)
        tv, v = med(thread_spawn[n], tidy.NS_PER_TASK.fn), med(mine[n], tidy.NS_PER_TASK.fn)
        if tv and v:
            spawn_cases += 1
            m.cases.append(Case(f"thread over {model} ns per spawned task at n:{n:g}",
                                {"model": model, "part": "spawn vs thread"}, tv / v, "x",
                                tv / v >= t["min_spawn_advantage"]))
    if not spawn_cases:
        missing.append(("spawn", "spawn/<loop model>/n:<N> and spawn/thread/n:<N> rows "
                                 "with a common N"))
    # A million tasks at once: spawn/<model>/n:1e6 spawns all N (keeping the
    # join handles) before joining any, so all exist together; skynet no
    # longer shows this, since its help-first join runs the tree depth-first.
    million_cases = 0
    for model in LOOP_MODELS:
        tried = [b for b in res.benches if b.workload == "spawn" and b.model == model
                 and param_num(b, "n", 0) >= t["million_tasks"]]
        if not tried:
            continue
        done = [b for b in tried if b.status == "ok" and "capped" not in b.marks
                and (med(b, counter("tasks")) or 0) >= t["million_tasks"]]
        most = max((med(b, counter("tasks")) or 0 for b in tried if b.status == "ok"), default=0)
        million_cases += 1
        m.cases.append(Case(f"{model} concurrent tasks completed (of {t['million_tasks']:,.0f})",
                            {"model": model, "part": "million tasks"}, most, "tasks",
                            bool(done)))
    if not million_cases:
        missing.append(("spawn", f"spawn/<loop model>/n:{t['million_tasks']:.0f} row"))
    if missing:
        by_workload: dict[str, list] = {}
        for w, what in missing:
            by_workload.setdefault(w, []).append(what)
        return Measured(missing="; ".join(absent(res, w, ", no ".join(whats))
                                          for w, whats in by_workload.items()))
    if thread_mem is not None:
        m.context.append(Figure("thread bytes per task", thread_mem, "B"))
    return m


def own_speedups(mc: list[Bench], models, keys=MULTI_THREAD_PARAMS) -> list[tuple]:
    """[(bench, n, speed-up over the same model's n:1 row)] for rows with n >= 2."""
    time_ns = counter("time_ns")
    out = []
    for b in mc:
        if b.model not in models:
            continue
        key = next((k for k in keys if param_num(b, k) is not None), None)
        n = param_num(b, key) if key else None
        if n is None or n < 2:
            continue
        one = next((o for o in mc if o.model == b.model and param_num(o, key) == 1
                    and {k: v for k, v in o.params.items() if k != key} ==
                    {k: v for k, v in b.params.items() if k != key}), None)
        t1, tn = (med(one, time_ns) if one else None), med(b, time_ns)
        if t1 and tn:
            out.append((b, n, t1 / tn))
    return out


def measure_multicore(res: Results, t: Limits) -> Measured:
    """Claim 8 as stated: can coroutines use more than one core? Each loop
    model's N-loop row against its own one-loop row (a model whose one loop is
    merely faster on one thread says nothing about cores); a configuration
    that runs coroutines on several cores past the threshold is a
    counterexample to "cannot". One loop is one thread: its 1x is by
    construction, so it is context, not a case."""
    mc = res.ok("multicore")
    loops = own_speedups(mc, LOOP_MODELS, ("loops",))
    controls = own_speedups(mc, THREAD_CONTROLS)
    if not any(b.model in LOOP_MODELS and param_num(b, "loops") == 1 for b in mc):
        return Measured(missing=absent(res, "multicore", "multicore/<loop model>/loops:1 row"))
    if not loops:
        return Measured(missing="no multicore/<loop model>/loops:N row with N > 1 beside its "
                                "loops:1 row")
    if not controls:
        return Measured(missing="no multicore/pool/workers:N or multicore/thread/threads:N "
                                "row with N >= 2 beside its N = 1 row")
    best, _, top = max(controls, key=lambda c: c[2])
    if top <= t["min_speedup"]:
        return Measured(missing=f"no model scaled on this machine (best: {best.label()} "
                                f"{top:.2f}×); needs at least 2 idle cores")
    cases = [Case(f"{b.model} loops:{n:g} over its own loops:1 (can coroutines use {n:g} "
                  "cores?)", {"model": b.model, "loops": n}, s, "x", s <= t["min_speedup"])
             for b, n, s in loops]
    context = [Figure("one loop is one thread: its speed-up over itself is 1× by "
                      "construction", 1.0, "x"),
               Figure(f"control {best.label()} over its own n:1", top, "x")]
    return Measured(cases, context)


def measure_blocking(res: Results, t: Limits) -> Measured:
    block, frac = t["block_ms"], t["min_direct_fraction"]
    m = Measured()
    for b in rows(res, "blocking", LOOP_MODELS):
        k, mode = param_num(b, "k"), b.params.get("mode")
        wall = med(b, counter("wall_ms"))
        if k is None or wall is None:
            continue
        attrs = {"mode": mode, "model": b.model, "k": k}
        if mode == "direct":
            gap = med(b, counter("heartbeat_max_gap_ms"))
            if gap is None:
                continue
            blocked = wall >= frac * k * block and gap >= frac * block
            m.cases.append(Case(f"{b.model} direct k:{k:g} wall (heartbeat gap "
                                f"{show(gap, 'ms')}; blocked if >= {show(frac * k * block, 'ms')})",
                                attrs, wall, "ms", blocked))
        elif mode == OFFLOAD_MODE:
            pool = med(b, counter("pool_size"))
            gap = med(b, counter("heartbeat_max_gap_ms"))
            if not pool or gap is None:
                continue
            bound = t["max_offload_factor"] * math.ceil(k / pool) * block
            restored = wall <= bound and gap < frac * block
            m.cases.append(Case(f"{b.model} offload k:{k:g} pool:{pool:g} wall (heartbeat gap "
                                f"{show(gap, 'ms')}; restored if <= {show(bound, 'ms')} and gap "
                                f"< {show(frac * block, 'ms')})", attrs, wall, "ms", not restored))
    have = {c.attrs["mode"] for c in m.cases}
    missing = [f"blocking/<loop model>/mode:{mode}/k:<K> row" for mode in ("direct", OFFLOAD_MODE)
               if mode not in have]
    return Measured(missing=absent(res, "blocking", " or ".join(missing))) if missing else m


def measure_compute_yield(res: Results, t: Limits) -> Measured:
    m = Measured()
    steps = tidy.STEPS_PER_S.fn
    for model in LOOP_MODELS:
        by_every = {b.params.get("yield_every"): b for b in rows(res, "compute", (model,))}
        base = med(by_every["none"], steps) if "none" in by_every else None
        for gran, every, limit in (("fine", t["fine_every"], t["min_fine_slowdown"]),
                                   ("coarse", t["coarse_every"], t["max_coarse_slowdown"])):
            b = next((b for e, b in by_every.items() if num(e) == every), None)
            v = med(b, steps) if b else None
            if not (base and v):
                continue
            slow = base / v
            degraded = slow >= limit if gran == "fine" else slow > limit
            m.cases.append(Case(f"{model} no-yield over yield_every:{every:g} steps/s",
                                {"granularity": gran, "model": model}, slow, "x", degraded))
    if not m.cases:
        return Measured(missing=absent(res, "compute", "compute/<loop model>/yield_every:none "
                                                       f"with yield_every:{t['fine_every']:g} or "
                                                       f"{t['coarse_every']:g}"))
    return m


def closed_echo(res: Results, model: str) -> dict[tuple, float]:
    """(conns, size) -> msgs/s of closed-loop echo rows that are not client-bound."""
    return {(b.params.get("conns"), b.params.get("size")): v
            for b, v in valued(rows(res, "echo", (model,), mode="closed"),
                               counter("msgs_per_second")) if "client_bound" not in b.marks}


def median_ratio(mine: dict, theirs: dict) -> tuple[float, int] | None:
    """Median over the configurations both ran of mine/theirs, and their number."""
    common = [k for k in mine if k in theirs and theirs[k] > 0]
    if not common:
        return None
    st = tidy.summarize(mine[k] / theirs[k] for k in common)
    return st.median, len(common)


def measure_uvloop(res: Results, t: Limits) -> Measured:
    echo = {m: e for m in UVLOOPS + sum(UVLOOP_PEERS, ()) if (e := closed_echo(res, m))}
    missing = [] if any(u in echo for u in UVLOOPS) else ["echo/py_uvloop[_proto]"]
    missing += [f"echo/{'|'.join(models)}" for models in UVLOOP_PEERS
                if not any(p in echo for p in models)]
    if missing:
        return Measured(missing=absent(res, "echo", ", no ".join(missing) +
                                       " closed-loop rows (not client-bound)"))
    m = Measured()
    for u in (u for u in UVLOOPS if u in echo):
        for peer in (p for models in UVLOOP_PEERS for p in models if p in echo):
            got = median_ratio(echo[u], echo[peer])
            if got is None:
                continue
            ratio, n = got
            ok = t["comparable_low"] <= ratio <= t["comparable_high"] if peer in GO_PEERS \
                else ratio >= t["min_advantage"]
            m.cases.append(Case(f"{u} over {peer} msgs/s (median of {n} configs)",
                                {"peer": peer, "uvloop": u, "part": UVLOOP_PARTS[peer]},
                                ratio, "x", ok))
    if not m.cases:
        return Measured(missing="uvloop and its peers ran no closed-loop echo configuration "
                                "in common")
    return m


def measure_real_servers(res: Results, t: Limits) -> Measured:
    m = Measured()
    for server in SERVERS:
        # Every concurrent row against the sequential row of the same model and
        # other params: one case per concurrency (10 and 100 are both claims).
        sequential: dict[tuple, float] = {}
        concurrent: dict[tuple, list] = {}
        for b, v in valued(res.ok(server), tidy.REQ_PER_S.fn):
            key = (b.model,) + tuple(sorted((k, p) for k, p in b.params.items()
                                            if k not in SERVER_PAIR_IGNORES))
            if b.params.get("mode") == "sequential":
                sequential[key] = v
            elif b.params.get("mode") == "concurrent":
                concurrent.setdefault(key, []).append((b, v))
        for key, rows in concurrent.items():
            if key not in sequential:
                continue
            seq = sequential[key]
            for b, conc in rows:
                label = b.label(skip=("mode",))
                m.cases.append(Case(f"{label} concurrent over sequential requests/s",
                                    {"server": server, "model": b.model,
                                     "concurrency": b.params.get("concurrency")},
                                    conc / seq, "x", conc / seq >= t["min_gain"]))
    if not m.cases:
        return Measured(missing="no redis|http/<model>/mode:sequential and mode:concurrent "
                                "pair with the counter requests")
    return m


# ---- the claims ----------------------------------------------------------------------

CLAIMS = (
    Claim(1, "switch_cost", "coroutine switch ≪ thread switch",
          "A coroutine switch only saves CPU context, so it is far cheaper than a thread switch.",
          "stackless and stackful same-thread switch ≥ {min_advantage:g}× cheaper than the "
          "cheapest thread hand-off, pinned and unpinned judged separately",
          "switch/coroutine, switch/coroutine_uring (stackless), switch/fiber (stackful); "
          "switch/thread/pin:*, switch/pool/pin:*, switch/futex/pin:* (pinned: same|cross; "
          "unpinned: none or no pin); ns/switch = real_time / switches",
          "--filter '^switch/'", measure_switch_cost,
          (Split("pin", phrases={"unpinned": "threads are not pinned",
                                 "pinned": "threads are pinned to CPUs"}),
           Split("kind", phrases={"stackless": "the coroutine is stackless",
                                  "stackful": "the coroutine is stackful"}),
           Split("model")), ("switch",)),
    Claim(2, "switch_rate", "millions of switches per second",
          "Millions of switches per second.",
          "stackless switch rate ≥ {min_rate_per_s:,.0f} switches/s",
          "switch/coroutine, switch/coroutine_uring; rate = 1e9 / (real_time / switches)",
          "--filter '^switch/'", measure_switch_rate, (Split("model"),), ("switch",)),
    Claim(3, "single_thread", "concurrency in a single thread",
          "Concurrency happens in a single thread.",
          "every loop-model benchmark ran on ≤ {max_os_threads:g} OS thread (configurations "
          "that ask for more — loops/workers/threads > 1, mode:offload — excluded)",
          "counter os_threads (worst repetition) of every <workload>/<loop model>/... row, "
          "loop models: " + ", ".join(LOOP_MODELS),
          "--models " + ",".join(LOOP_MODELS), measure_single_thread,
          (Split("model"), Split("workload")), ("os_threads",)),
    Claim(4, "io_waits", "I/O waits overlap automatically",
          "A coroutine switches to another automatically when it meets I/O.",
          "N ≥ {min_concurrent:g} concurrent waits of T finish in ≤ {max_wall_over_t:g}× T "
          "(the longest wait), not N× T, creating the N tasks left out ((wall − creation) / "
          "T; creation cited apart); echo: throughput with many connections over one, "
          "as context",
          "sleep/<loop model>/mode:burst/n:<N>/sleep_ms:<T> counters wall_over_t, "
          "create_over_t; "
          "echo/<loop model>/conns:<C>/size:<S>/mode:closed counter msgs_per_second",
          "--filter '^(sleep|echo)/'", measure_io_waits,
          (Split("n", True, {"≤": "at most {v:g} tasks wait at once",
                             "≥": "at least {v:g} tasks wait at once"}), Split("model")),
          ("sleep", "echo_throughput")),
    Claim(5, "no_lock", "no lock needed for shared data",
          "No lock is needed to modify shared data.",
          "lost updates ≤ {max_lost_updates:g} on a loop without locks, without (suspend:0) "
          "and with (suspend:1) a suspension point inside the read-modify-write",
          "locks/<loop model>/sync:none/suspend:0|1 counters lost_updates (worst repetition), "
          "expected",
          "--filter '^locks/'", measure_no_lock,
          (Split("suspend", phrases={
              "0": "there is no suspension point inside the read-modify-write (suspend:0)",
              "1": "there is a suspension point inside the read-modify-write (suspend:1)"}),
           Split("model")), ("locks",)),
    Claim(6, "no_sync_overhead", "no synchronisation overhead",
          "No locking or atomic synchronisation overhead.",
          "thread+mutex and thread+atomic take ≥ {min_overhead:g}× longer per update than one "
          "loop without locks",
          "locks/<loop model>/sync:none/suspend:0 (no lost updates), locks/thread/sync:mutex/"
          "suspend:0, locks/thread/sync:atomic/suspend:0; ns per update = real_time / expected",
          "--filter '^locks/'", measure_no_sync_overhead,
          (Split("against", phrases={"mutex": "compared with threads and a mutex",
                                     "atomic": "compared with threads and atomics"}),
           Split("model")), ("locks",)),
    Claim(7, "scalability", "high scalability, low cost",
          "High scalability, low cost.",
          "≤ {max_bytes_per_task:g} B per suspended task, ≥ {min_memory_advantage:g}× less "
          "memory and ≥ {min_spawn_advantage:g}× less spawn time than a thread, "
          "{million_tasks:,.0f} concurrent tasks complete",
          "memory/<model>/n:<N> counter bytes_per_task (loop models and thread); "
          "spawn/<model>/n:<N> ns/task = real_time / tasks at the largest N shared with "
          "spawn/thread; spawn/<loop model>/n:<N ≥ 1e6> status and tasks (all N spawned "
          "before the first join)",
          "--filter '^(memory|spawn)/'", measure_scalability,
          (Split("model"), Split("part", phrases={
              "memory": "judged on memory per task",
              "memory vs thread": "judged on memory against threads",
              "spawn vs thread": "judged on spawn time against threads",
              "million tasks": "judged on completing a million tasks"})),
          ("memory", "spawn")),
    Claim(8, "multicore", "coroutines cannot use multiple cores",
          "Coroutines cannot use multiple cores.",
          "each loop model's loops:N (N ≥ 2) speed-up over its own loops:1 ≤ "
          "{min_speedup:g}× (coroutines did not use N cores) while the pool/thread control "
          "reaches > {min_speedup:g}× over its own N = 1; N loops past it are a "
          "counterexample to 'cannot'",
          "multicore/<loop model>/loops:<n> and multicore/pool/workers:<n>, "
          "multicore/thread/threads:<n> (n = 1 and n ≥ 2); speed-up = real_time(n = 1) / "
          "real_time(n) of the same model",
          "--filter '^multicore/'", measure_multicore,
          (Split("model"), Split("loops", True, {"≤": "at most {v:g} event loops run the work",
                                                 "≥": "at least {v:g} event loops run "
                                                      "the work"})), ("multicore",)),
    Claim(9, "blocking", "blocking call blocks everything",
          "A blocking operation blocks the whole program.",
          "mode:direct: K calls take ≥ {min_direct_fraction:g} × K × {block_ms:g} ms and the "
          "heartbeat misses ≥ {min_direct_fraction:g} × {block_ms:g} ms; mode:offload "
          "restores concurrency when ≤ {max_offload_factor:g} × ceil(K/pool) × {block_ms:g} ms "
          "and the heartbeat is not starved",
          "blocking/<loop model>/mode:direct|offload/k:<K> counters wall_ms, "
          "heartbeat_max_gap_ms, pool_size",
          "--filter '^blocking/'", measure_blocking,
          (Split("mode", phrases={
              "direct": "the blocking call runs on the loop thread (mode:direct)",
              "offload": "the blocking call is offloaded to a pool"}),
           Split("model"), Split("k", True, {"≤": "at most {v:g} calls block",
                                             "≥": "at least {v:g} calls block"})),
          ("blocking",)),
    Claim(10, "compute_yield", "yielding slows compute",
          "Switching back and forth in compute-bound work degrades performance.",
          "yield every {fine_every:g} step ≥ {min_fine_slowdown:g}× slower than no yield; "
          "yield every {coarse_every:g} steps degrades only if > {max_coarse_slowdown:g}× slower",
          "compute/<loop model>/yield_every:1|10000|none; steps per second = steps / real_time",
          "--filter '^compute/'", measure_compute_yield,
          (Split("granularity", phrases={
              "fine": "yields are fine-grained (every {fine_every:g} step)",
              "coarse": "yields are coarse-grained (every {coarse_every:g} steps)"}),
           Split("model")), ("compute",)),
    Claim(11, "uvloop", "uvloop ≥ 2× node/gevent, ≈ Go",
          "uvloop is at least 2x faster than node and gevent and comparable to Go.",
          "echo msgs/s of uvloop ≥ {min_advantage:g}× node and gevent; within "
          "{comparable_low:g}–{comparable_high:g}× of Go (median over shared configurations)",
          "echo/py_uvloop|py_uvloop_proto|node|py_gevent|go|go_gomaxprocs1/conns:<C>/"
          "size:<S>/mode:closed counter msgs_per_second, client_bound rows left out",
          "--filter '^echo/(py_uvloop|py_uvloop_proto|node|py_gevent|go|go_gomaxprocs1)/'",
          measure_uvloop,
          (Split("peer", phrases={"node": "compared with node", "py_gevent":
                                  "compared with gevent", "go": "compared with Go",
                                  "go_gomaxprocs1": "compared with Go (GOMAXPROCS=1)"}),
           Split("uvloop", phrases={"py_uvloop_proto": "uvloop uses protocols",
                                    "py_uvloop": "uvloop uses streams"})),
          ("echo_throughput",)),
    Claim(12, "real_servers", "async beats sequential on real servers",
          "Async I/O against real servers (Redis, HTTP) improves throughput over "
          "sequential calls.",
          "N concurrent requests reach ≥ {min_gain:g}× the requests/s of sequential calls",
          "redis|http/<model>/mode:sequential|concurrent/... (paired on model and every other "
          "param but concurrency) counter requests; requests/s = requests / real_time",
          "--filter '^(redis|http)/'", measure_real_servers,
          (Split("server", phrases={"redis": "talking to Redis",
                                    "http": "talking to an HTTP server"}),
           Split("concurrency"), Split("model")),
          ("redis", "http")),
)


# ---- verdicts ------------------------------------------------------------------------

def phrase(split: Split, values: list, t: Limits, op: str = "") -> str:
    if split.numeric:
        template = split.phrases.get(op, f"{split.attr} {op} {{v:g}}")
        return template.format_map(_Fields(t, v=values[0]))
    texts = [split.phrases[v].format_map(_Fields(t)) for v in values if v in split.phrases]
    plain = [str(v) for v in values if v not in split.phrases]
    return " or ".join(texts + ([f"{split.attr} is {either(plain)}"] if plain else []))


def either(words: list[str]) -> str:
    """['a', 'b', 'c'] -> 'a, b or c'."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


class _Fields(dict):
    """Format fields: {v} and the claim's thresholds by name."""

    def __init__(self, t: Limits, **extra):
        super().__init__(extra)
        self.t = t

    def __missing__(self, key):
        return self.t[key]


@dataclass
class Part:
    name: str
    verdict: str
    condition: str
    passed: int
    total: int

    @property
    def text(self) -> str:
        cond = f" {self.condition}" if self.condition else ""
        return f"{self.name}: {self.verdict}{cond} ({self.passed}/{self.total})"


def condition(splits, cases: list[Case], t: Limits) -> str | None:
    """The first attribute (in the claim's order) some of whose values have only
    passing cases and the others at least one failing case: the claim holds for
    exactly those values. Numeric attributes must split at a threshold. None
    when no attribute separates them."""
    for s in splits:
        if not all(s.attr in c.attrs for c in cases):
            continue
        values = list(dict.fromkeys(c.attrs[s.attr] for c in cases))
        good = [v for v in values if all(c.passed for c in cases if c.attrs[s.attr] == v)]
        bad = [v for v in values if v not in good]
        if not good or not bad:
            continue
        if not s.numeric:
            return phrase(s, good, t)
        if max(good) < min(bad):
            return phrase(s, [max(good)], t, "≤")
        if min(good) > max(bad):
            return phrase(s, [min(good)], t, "≥")
    return None


def judge(claim: Claim, cases: list[Case], t: Limits) -> tuple[str, str]:
    if claim.decide and (decided := claim.decide(cases)):
        return decided
    passed = sum(c.passed for c in cases)
    if passed == len(cases):
        return "holds", ""
    if not passed:
        return "refuted", ""
    cond = condition(claim.splits, cases, t)
    return ("holds only when", cond) if cond else ("mixed", "")


def parts_of(claim: Claim, cases: list[Case], t: Limits) -> list[Part]:
    """One verdict per part, when the claim's cases are tagged with parts."""
    names = list(dict.fromkeys(c.attrs["part"] for c in cases if "part" in c.attrs))
    out = []
    for name in names:
        mine = [c for c in cases if c.attrs.get("part") == name]
        verdict, cond = judge(dataclasses.replace(claim, decide=None), mine, t)
        out.append(Part(name, verdict, cond, sum(c.passed for c in mine), len(mine)))
    return out


def evaluate_one(claim: Claim, res: Results, thresholds: dict[str, Limits]) -> Evaluated:
    if claim.section not in thresholds:
        raise InputError(f"{THRESHOLDS_FILE.name}: no [{claim.section}] section "
                         f"(claim {claim.id})")
    t = thresholds[claim.section]
    m = claim.measure(res, t)
    verdict, cond = ("not measured", "") if m.missing else judge(claim, m.cases, t)
    return Evaluated(claim.id, claim.title, claim.text, claim.check.format_map(_Fields(t)),
                     claim.reads, verdict, cond, m.context + [c.figure for c in m.cases],
                     list(claim.charts), list(claim.tables), claim.command, m.missing,
                     passed=sum(c.passed for c in m.cases), total=len(m.cases),
                     parts=[] if m.missing else parts_of(claim, m.cases, t))


def evaluate(res: Results, thresholds: dict[str, Limits]) -> list[Evaluated]:
    return [evaluate_one(c, res, thresholds) for c in CLAIMS]


def tally(evaluated: list[Evaluated]) -> str:
    """'3 hold, 5 hold only when, 1 mixed, 1 refuted, 3 not measured'."""
    plural = {"holds": "hold", "holds only when": "hold only when"}
    counts = [(sum(e.verdict == v for e in evaluated), plural.get(v, v)) for v in VERDICTS]
    return ", ".join(f"{n} {v}" for n, v in counts if n)


# ---- rendering -----------------------------------------------------------------------

VOCABULARY = ("Verdicts: **holds** (every case meets the threshold), **holds only when "
              "<condition>** (some do; the condition says which), **mixed** (some do and "
              "no parameter separates them), **refuted** (none do); (k/n) counts the cases "
              "that pass; a claim made of several claims gets a verdict per part; "
              "**not measured** (the rows the check needs are missing; the command that "
              "measures them is given). Computed only from the numbers of these results "
              "and the thresholds in `scripts/sylib/claims.toml`.")


def _md(text) -> str:
    """Plain text for markdown: '<loop model>' must not read as an HTML tag."""
    return str(text).replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def _cell(text) -> str:
    return _md(text).replace("|", "\\|")


def figure_lines(e: Evaluated, limit=None) -> list[str]:
    if e.verdict == "not measured":
        return [f"not measured: {e.reason}", f"measure with: `{e.command}`"]
    lines = [f"part {p.text}" for p in e.parts] + [f.text for f in e.figures]
    if limit and len(lines) > limit:
        lines = lines[:limit] + [f"… and {len(lines) - limit} more in claims.json"]
    return lines


def chart_links(e: Evaluated, chart_file: Callable) -> list[tuple[str, str]]:
    """[(name, link)] for the claim's charts that exist (chart_file: name -> link|None)."""
    return [(c, link) for c in e.charts if (link := chart_file(c))]


def no_chart(e: Evaluated) -> str:
    return f"no chart; see the {either(e.tables)} table" if e.tables else "no chart"


def md_table(evaluated: list[Evaluated], chart_file: Callable) -> list[str]:
    lines = ["| # | claim | check | measured | verdict | chart |", "|---|---|---|---|---|---|"]
    for e in evaluated:
        links = chart_links(e, chart_file)
        chart = ", ".join(f"[{c}]({link})" for c, link in links) or no_chart(e)
        figures = "<br>".join(_cell(x) for x in figure_lines(e, MAX_MD_FIGURES))
        lines.append(f"| {e.id} | {_cell(e.claim)} | {_cell(e.check)} | {figures} | "
                     f"**{_cell(e.verdict)}**{' ' + _cell(e.condition) if e.condition else ''}"
                     f"{f' ({e.passed}/{e.total})' if e.total else ''} | {chart} |")
    return lines


def markdown(res: Results, evaluated: list[Evaluated], chart_file: Callable) -> str:
    lines = ["# switchyard claims", "",
             f"Results: {res.source} · {res.date or 'date unknown'} · "
             f"{tally(evaluated)}.", "", _md(VOCABULARY), ""]
    lines += md_table(evaluated, chart_file) + ["", "## What each check reads", ""]
    lines += [f"{e.id}. {_md(e.reads)}" for e in evaluated]
    return "\n".join(lines) + "\n"


def md_section(evaluated: list[Evaluated], chart_file: Callable) -> str:
    """The claims section of report.md."""
    lines = ["## What the numbers say (claims)", "",
             f"{tally(evaluated)}; details in [claims.md](claims.md). {_md(VOCABULARY)}", ""]
    return "\n".join(lines + md_table(evaluated, chart_file)) + "\n"


def html_section(evaluated: list[Evaluated], chart_anchor: Callable) -> str:
    """The claims section of report.html (chart links point at its inline figures)."""
    e_ = html.escape
    rows = []
    for e in evaluated:
        links = chart_links(e, chart_anchor)
        chart = ", ".join(f'<a href="{e_(link)}">{e_(c)}</a>' for c, link in links) or \
            e_(no_chart(e))
        figures = "<br>".join(e_(x) for x in figure_lines(e))
        verdict = f"<strong>{e_(e.verdict)}</strong>" + (f" {e_(e.condition)}" if e.condition
                                                         else "") + \
            (f" ({e.passed}/{e.total})" if e.total else "")
        rows.append(f"<tr><td>{e.id}</td><td class=\"text\">{e_(e.claim)}</td>"
                    f"<td class=\"text\">{e_(e.check)}</td><td class=\"text\">{figures}</td>"
                    f"<td class=\"text\">{verdict}</td><td class=\"text\">{chart}</td></tr>")
    vocab = e_(VOCABULARY.replace("**", ""))
    return ("<h2 id=\"claims\">What the numbers say (claims)</h2>"
            f"<p class=\"note\">{e_(tally(evaluated))}. {vocab}</p>"
            "<table><thead><tr><th>#</th><th>claim</th><th>check</th><th>measured</th>"
            "<th>verdict</th><th>chart</th></tr></thead><tbody>" + "".join(rows) +
            "</tbody></table>\n")


def headline(figures: list[Figure]) -> list[Figure]:
    """The first failing and the first passing case, else the first figures."""
    picks = [f for want in (False, True)
             for f in [next((f for f in figures if f.passed is want), None)] if f]
    return picks or figures[:TERMINAL_FIGURES]


def terminal(evaluated: list[Evaluated]) -> str:
    """The table `switchyard claims` prints: #, claim, verdict, key figures."""
    table = [("#", "claim", "verdict", "measured")]
    for e in evaluated:
        if e.verdict == "not measured":
            measured = f"{e.reason}; run: {e.command}"
        else:
            measured = " · ".join(f.text for f in headline(e.figures))
        table.append((str(e.id), e.title, e.verdict_text, measured))
    widths = [min(max(len(r[i]) for r in table), TERMINAL_WIDTH) for i in range(3)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[3]
                     for r in table) + "\n"


# ---- files and commands --------------------------------------------------------------

def produce(res: Results, out_dir: Path, thresholds=None) -> tuple[list[Evaluated], list[Path]]:
    """claims.md + claims.json into out_dir. (The report renders its own claims
    section from the same evaluation: report.py, no splicing.)"""
    out_dir = Path(out_dir)
    evaluated = evaluate(res, thresholds or load_thresholds())
    homes = [out_dir / "charts", res.home / "charts"]

    def chart_file(name):
        found = next((d / f"{name}.png" for d in homes if (d / f"{name}.png").is_file()), None)
        return Path(os.path.relpath(found, out_dir)).as_posix() if found else None

    doc = {"switchyard_claims": 2, "results": str(res.source), "date": res.date,
           "thresholds": str(THRESHOLDS_FILE), "claims": [e.to_json() for e in evaluated]}
    files = [out_dir / "claims.md", out_dir / "claims.json"]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(files[0], markdown(res, evaluated, chart_file))
        atomic_write_text(files[1], json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    except OSError as e:
        raise InputError(f"{out_dir}: cannot write the claims report ({e.strerror})") from None
    return evaluated, files


def command(source, out=None, *, log=sys.stdout) -> int:
    """`switchyard claims RESULTS [--out DIR]`. A refuted claim is a finding: exit 0."""
    res = tidy.load(source)
    evaluated, files = produce(res, Path(out) if out else res.home)
    print(terminal(evaluated), end="", file=log)
    print(f"switchyard claims: {tally(evaluated)}", file=log)
    for f in files:
        print(f"switchyard claims: wrote {f}", file=log)
    return 0


def after_run(res: Results, out: Path, *, log=sys.stderr) -> None:
    """The step of `switchyard run` (after charts and report): never raises."""
    try:
        evaluated, files = produce(res, Path(out))
        print(f"switchyard: claims: {tally(evaluated)}; see {files[0]}", file=log)
    except Exception as e:  # noqa: BLE001 -- a claims bug must not cost the run
        print(f"switchyard: claims not written: {type(e).__name__}: {e}", file=log)
