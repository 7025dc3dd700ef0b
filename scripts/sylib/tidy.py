"""Results -> tidy rows: one Bench per benchmark with its repetitions.

Shared by `plot`, `report` and `claims`. Loads a results directory (every
<workload>.json + run.json) or one Google Benchmark JSON file through
sylib.results (the one reader: one field list, one unit map, one rule for
which process made a row), keeps the per-repetition rows with their process,
and derives each workload's metrics (ns/switch = real_time / switches,
IOPS = reads / real_time, ...).

Statistics: repetitions inside one process are not independent samples (code
layout, heap placement and the CPU move a benchmark between processes, not
within one), so a benchmark's value per process is the median of that
process's repetitions, its centre is the median over processes, and its
interval is the order-statistic (sign-test) interval of the median over
processes (sylib.intervals.median_ci): exact coverage, no assumption about
the noise's shape. With 5 processes it is [min, max] at 93.75%, with 3 at
75%; with fewer than MIN_PROCESSES there is no interval and charts draw the
individual values instead.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .intervals import median_ci
from .results import (LOOP_MODELS, MODELS, InputError, entry_counters, entry_key, entry_value,
                      is_failure, is_skip, load_gb_json, process_key, result_files, split_name,
                      steady)

BASELINES = ("bare_call", "bare_coroutine", "bare_fcontext", "futex", "epoll", "thread_ref",
             "libuv_ref", "uring_ref", "asio_ref")
PEERS = ("py_asyncio", "py_asyncio_proto", "py_uvloop", "py_uvloop_proto", "py_gevent",
         "py_threads", "node", "go_gomaxprocs1", "go",
         "py_redis_asyncio", "py_aiohttp", "py_aiomysql")   # clients of redis / http / sql
MODEL_ORDER = MODELS + BASELINES + PEERS
MARKS = ("capped", "oversubscribed", "client_bound", "saturated")

CI_LEVEL = 0.95          # asked for; with few processes the achieved level is lower (Stat.level)
MIN_PROCESSES = 3        # fewer processes: no interval (the values are shown instead)
PROCESS = "_process"     # a repetition's process key inside a rep dict (not a counter)
NS_PER_S = 1e9
MULTICORE_REFERENCE = "multicore/coroutine/loops:1"
MULTI_THREAD_PARAMS = ("loops", "workers", "threads")   # params asking for more threads
OFFLOAD_MODE = "offload"                                # blocking/<m>/mode:offload: a pool


def model_rank(model: str) -> tuple[int, str]:
    """Sort key: models, then baselines, then peers, then anything else."""
    return (MODEL_ORDER.index(model), "") if model in MODEL_ORDER else (len(MODEL_ORDER), model)


def is_baseline(model: str) -> bool:
    return model in BASELINES


def num(text) -> float | None:
    """A param value as a number ('1000' -> 1000.0), None when it is not one."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def natural_key(values) -> list:
    """Sort key for tuples of param values: numbers by value, then text."""
    return [(num(v) is None, num(v) or 0.0, str(v)) for v in values]


@dataclass(frozen=True)
class Stat:
    median: float
    lo: float          # order-statistic interval of the median (nan: too few values)
    hi: float
    n: int             # values: processes for Bench.stat
    level: float = 0.0  # the interval's exact coverage (0.9375 for 5 values)
    values: tuple = ()  # the values themselves (charts draw them when there is no interval)

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.lo) and math.isfinite(self.hi)


def summarize(values) -> Stat | None:
    """Median of `values` and its order-statistic interval (none with fewer
    than MIN_PROCESSES values)."""
    kept = tuple(float(v) for v in values if v is not None and math.isfinite(v))
    ci = median_ci(kept, CI_LEVEL)
    if ci.n == 0:
        return None
    if ci.n < MIN_PROCESSES:
        return Stat(ci.median, math.nan, math.nan, ci.n, 0.0, kept)
    return Stat(ci.median, ci.lo, ci.hi, ci.n, ci.achieved, kept)


def per_process(b: "Bench", fn) -> dict:
    """{process key: median of fn over that process's steady repetitions}
    (results.steady: repetition 0 left out when a process made several), in
    order."""
    groups: dict = {}
    for r in b.reps:
        groups.setdefault(r.get(PROCESS), []).append(fn(r))
    out = {}
    for k, vals in groups.items():
        kept = [v for v in steady(vals) if v is not None and math.isfinite(v)]
        if kept:
            out[k] = float(np.median(kept))
    return out


MIN_REPS_FOR_COLD = 2   # per process: repetition 0 apart needs a steady one after it


def cold_and_steady(b: "Bench", metric: "Metric") -> tuple[float | None, "Stat | None"]:
    """(median over processes of repetition 0, stat over processes of the
    other repetitions) when repetition 0 is a cold run: one iteration per
    repetition, and every process made at least MIN_REPS_FOR_COLD; else
    (None, None)."""
    by_proc: dict = {}
    for r in b.reps:
        by_proc.setdefault(r.get(PROCESS), []).append(r)
    if not b.one_iteration or not by_proc or \
            min(len(v) for v in by_proc.values()) < MIN_REPS_FOR_COLD:
        return None, None
    cold = summarize(metric.fn(rs[0]) for rs in by_proc.values())
    steady = summarize(float(np.median(vals)) for rs in by_proc.values()
                       if (vals := [v for r in rs[1:] if (v := metric.fn(r)) is not None]))
    return (cold.median if cold else None), steady


def single_threaded_config(params: dict) -> bool:
    """Not a configuration that asks for several threads (loops:2, offload...)."""
    return all((num(params.get(k)) or 1) <= 1 for k in MULTI_THREAD_PARAMS) and \
        params.get("mode") != OFFLOAD_MODE


@dataclass
class Bench:
    """One benchmark (base name) with its per-repetition numbers."""
    name: str
    workload: str
    model: str
    params: dict
    source: str
    reps: list = field(default_factory=list)   # {"time_ns": .., counters..} per repetition
    status: str = "ok"                          # ok | failed | skipped
    reason: str = ""
    one_iteration: bool = False   # every repetition was one iteration (no warm-up inside)

    @property
    def marks(self) -> tuple[str, ...]:
        return tuple(m for m in MARKS if any(r.get(m, 0) > 0 for r in self.reps))

    def stat(self, metric: "Metric") -> Stat | None:
        """Median over processes of each process's median, with its interval."""
        return self.stat_of(metric.fn)

    def stat_of(self, fn) -> Stat | None:
        """The same for any function of a repetition (a counter, a ratio)."""
        return summarize(per_process(self, fn).values())

    def label(self, skip=()) -> str:
        """'futex pin:cross' (model + the params not in `skip`)."""
        rest = [f"{k}:{v}" for k, v in self.params.items() if k not in skip]
        return " ".join([self.model or self.name, *rest])


# ---- metrics per workload ------------------------------------------------------------

@dataclass(frozen=True)
class Metric:
    key: str
    label: str            # axis / column label including the unit
    unit: str             # for formatting: ns, us, ms, B, /s, x, count, ratio
    better: str           # "lower" | "higher"
    fn: Callable[[dict], float | None]


def _counter(key):
    return lambda r: r.get(key)


def _per(counter, scale=1.0):
    """real_time / counter * scale (e.g. ns per switch)."""
    return lambda r: r["time_ns"] / r[counter] * scale if r.get(counter) else None


def _rate(counter):
    """counter / real_time in 1/s (e.g. IOPS)."""
    return lambda r: r[counter] / r["time_ns"] * NS_PER_S if r.get("time_ns") else None


TIME_MS = Metric("time_ms", "time (ms)", "ms", "lower", lambda r: r["time_ns"] / 1e6)
TIME_NS = Metric("time_ns", "real time (ns)", "ns", "lower", lambda r: r["time_ns"])
NS_PER_SWITCH = Metric("ns_per_switch", "ns per switch", "ns", "lower", _per("switches"))
NS_PER_TASK = Metric("ns_per_task", "ns per task", "ns", "lower", _per("tasks"))
BYTES_PER_TASK = Metric("bytes_per_task", "bytes per task", "B", "lower",
                        _counter("bytes_per_task"))
RSS = Metric("rss_bytes", "RSS (bytes)", "B", "lower", _counter("rss_bytes"))
WALL_OVER_T = Metric("wall_over_t", "wall time / T", "ratio", "lower", _counter("wall_over_t"))
LATE = {p: Metric(f"late_{p}_us", f"lateness {p} (µs)", "us", "lower", _counter(f"late_{p}_us"))
        for p in ("p50", "p99", "p999")}
CPU_PER_TIMER = Metric("cpu_ns_per_timer", "CPU ns per timer", "ns", "lower",
                       _counter("cpu_ns_per_timer"))
HEARTBEAT = Metric("heartbeat_max_gap_ms", "max heartbeat gap (ms)", "ms", "lower",
                   _counter("heartbeat_max_gap_ms"))
WALL_MS = Metric("wall_ms", "wall (ms)", "ms", "lower", _counter("wall_ms"))
STEPS_PER_S = Metric("steps_per_second", "steps per second", "/s", "higher", _rate("steps"))
SPEEDUP = Metric("speedup", "speed-up vs coroutine loops:1", "x", "higher", _counter("speedup"))
LOST = Metric("lost_updates", "lost updates", "count", "lower", _counter("lost_updates"))
MSGS_PER_S = Metric("msgs_per_second", "messages per second", "/s", "higher",
                    _counter("msgs_per_second"))
ECHO_LAT = {p: Metric(f"{p}_us", f"{p} latency (µs)", "us", "lower", _counter(f"{p}_us"))
            for p in ("p50", "p90", "p99", "p999")}
SERVER_CPU = Metric("server_cpu_ns_per_msg", "server CPU ns/msg", "ns", "lower",
                    _counter("server_cpu_ns_per_msg"))
US_PER_HOP = Metric("us_per_hop", "µs per hop", "us", "lower", _per("hops", 1e-3))
IOPS = Metric("iops", "IOPS (reads per second)", "/s", "higher", _rate("reads"))
REQ_PER_S = Metric("requests_per_second", "requests per second", "/s", "higher",
                   _rate("requests"))
OS_THREADS = Metric("os_threads", "OS threads (most during a repetition)", "count", "lower",
                    _counter("os_threads"))
READ_BPS = Metric("bytes_per_second", "read bytes per second", "B/s", "higher", _rate("bytes"))
NS_PER_CALL = Metric("ns_per_call", "ns per call", "ns", "lower", _per("calls"))
NS_PER_ITEM = Metric("ns_per_item", "ns per item", "ns", "lower", _per("items"))
KERNEL_STACK = Metric("kernel_stack_bytes_per_task", "kernel stack per thread (B)", "B", "lower",
                      _counter("kernel_stack_bytes_per_task"))
VM_RESERVED = Metric("vm_reserved_bytes_per_task", "address space reserved per task (B)", "B",
                     "lower", _counter("vm_reserved_bytes_per_task"))
STACK_KIB = Metric("stack_kib", "fiber stack (KiB)", "count", "lower", _counter("stack_kib"))


@dataclass(frozen=True)
class Workload:
    name: str
    what: str                   # what one row measures, for headings
    primary: Metric
    extras: tuple = ()
    group_by: tuple = ()    # params that define "the same configuration" (ratio to best)
    # Repetition 0 of a one-iteration row is the cold run (no warm-up): the
    # report shows it apart from the steady repetitions.
    cold_first: bool = False


WORKLOADS = {w.name: w for w in (
    Workload("switch", "cost of one hand-off between two tasks", NS_PER_SWITCH),
    Workload("spawn", "cost of spawning and joining one task", NS_PER_TASK, (), ("n",)),
    Workload("memory", "memory per live task (slope of RSS over N)", BYTES_PER_TASK,
             (RSS, KERNEL_STACK, VM_RESERVED, STACK_KIB), ("n",)),
    Workload("skynet", "skynet: spawn a tree of tasks and sum the leaves", TIME_MS,
             (NS_PER_TASK,), ("n", "shape"), cold_first=True),
    Workload("sleep", "N tasks sleeping T ms: wall/T and timer lateness", WALL_OVER_T,
             (LATE["p50"], LATE["p99"], LATE["p999"], CPU_PER_TIMER), ("mode", "n", "sleep_ms")),
    Workload("blocking", "blocking calls inside the loop, direct vs offloaded", HEARTBEAT,
             (WALL_MS,), ("mode", "k")),
    Workload("compute", "CPU-bound steps with a yield every s steps", STEPS_PER_S, (),
             ("yield_every",)),
    Workload("multicore", "the same work on more loops / workers / threads", TIME_MS,
             (SPEEDUP,)),
    Workload("locks", "shared counter updates under each kind of synchronisation", TIME_MS,
             (LOST,), ("sync", "suspend")),
    Workload("echo", "TCP echo server: throughput and latency", MSGS_PER_S,
             (ECHO_LAT["p50"], ECHO_LAT["p99"], ECHO_LAT["p999"], SERVER_CPU),
             ("mode", "conns", "size", "rate")),
    Workload("brigade", "a token passed along a chain of tasks", US_PER_HOP, (), ("tasks",)),
    Workload("fileread", "file reads at queue depth qd, O_DIRECT or not", IOPS, (READ_BPS,),
             ("qd", "direct")),
    Workload("redis", "GET/SET against a private Redis, sequential vs concurrent clients",
             REQ_PER_S, (), ("op", "mode", "concurrency", "pipeline")),
    Workload("http", "GETs against a private HTTP server, sequential vs concurrent clients",
             REQ_PER_S, (), ("size", "mode", "concurrency")),
    Workload("sql", "SELECTs and INSERTs against a private MariaDB through Connector/C, "
             "sequential vs concurrent clients", REQ_PER_S, (), ("query", "mode", "concurrency")),
    Workload("asynciter", "K items from an async generator, a loop of awaited tasks, a plain "
             "loop", NS_PER_ITEM, (), ("form", "suspend")),
    # The Python side (pybench: asyncio, uvloop, gevent, threads)
    Workload("pyswitch", "Python: one switch (await sleep(0), gevent.sleep(0), thread "
             "Event ping-pong)", NS_PER_SWITCH),
    Workload("pygather", "Python: gather N sleepers of T ms", WALL_OVER_T, (NS_PER_TASK,),
             ("n",)),
    Workload("pyexecutor", "Python: run_in_executor calls, thread and process pools",
             NS_PER_CALL, (), ("executor", "fn")),
    Workload("pyiter", "Python: K items by async for, __anext__ by hand, an await loop, a "
             "list for", NS_PER_ITEM, (), ("form", "suspend")),
    Workload("pyctx", "Python: K entries by async with and by try/finally", NS_PER_ITEM, (),
             ("form", "suspend")),
)}

# ---- loading -------------------------------------------------------------------------

@dataclass
class Results:
    source: Path                 # what the user named
    home: Path                   # where charts/ and report.* go by default
    benches: list
    files: list                  # [(file name, context.switchyard or {})]
    fingerprint: dict | None
    date: str                    # "2026-11-25 18:42 UTC" or ""
    run: dict | None             # run.json, when the source is a run directory

    def ok(self, workload: str) -> list[Bench]:
        return sorted((b for b in self.benches if b.workload == workload and b.status == "ok"),
                      key=lambda b: (model_rank(b.model), b.name))

    def workloads(self) -> list[str]:
        """Workloads present, in schema order, then unknown ones."""
        seen = {b.workload for b in self.benches}
        known = [w for w in WORKLOADS if w in seen]
        return known + sorted(seen - set(known))

    def processes(self) -> list[dict]:
        """Per bench process: {bench, status, reason} from run.json or the files."""
        if self.run and isinstance(self.run.get("benches"), list):
            return [p for p in self.run["benches"] if isinstance(p, dict)]
        return [dict(ctx, bench=ctx.get("bench", name)) for name, ctx in self.files if ctx]

    def attempted(self, workload: str) -> bool:
        """Did these results try `workload` at all (a bench process or any row)?"""
        return any(p.get("bench") == workload for p in self.processes()) or \
            any(b.workload == workload for b in self.benches)

    def why_missing(self, workload: str) -> str:
        """Why there is nothing to draw for `workload` (one line)."""
        for p in self.processes():
            if p.get("bench") == workload and p.get("status") not in ("ok", "failed"):
                return f"bench_{workload} {p.get('status')}: {p.get('reason') or 'no reason given'}"
        rows = [b for b in self.benches if b.workload == workload]
        if not rows:
            return f"bench_{workload} produced no results"
        failed = [b for b in rows if b.status == "failed"]
        skipped = [b for b in rows if b.status == "skipped"]
        if failed:
            return f"all {len(rows)} {workload} benchmarks failed or were skipped " \
                   f"({len(failed)} failed: {failed[0].reason})"
        if skipped:
            return f"all {len(rows)} {workload} benchmarks skipped ({skipped[0].reason})"
        return f"no usable {workload} numbers"


def _rep_values(entry: dict, source: str) -> dict:
    vals = dict(entry_counters(entry))
    t = entry_value(entry, "time", source)
    if t is not None:
        vals["time_ns"] = t
    vals[PROCESS] = process_key(entry, source)
    return vals


def benches_from(data: dict, source: str) -> list[Bench]:
    """Group a GB file's entries by benchmark; keep repetitions, note errors."""
    by_name: dict[str, Bench] = {}
    medians: dict[str, dict] = {}
    for e in data["benchmarks"]:
        name = entry_key(e)
        if name not in by_name:
            p = split_name(name)
            by_name[name] = Bench(name, p["workload"], p["model"], p["params"], source)
        b = by_name[name]
        if is_failure(e) or is_skip(e):
            if b.status != "failed":
                b.status = "failed" if is_failure(e) else "skipped"
                msg = str(e.get("error_message", ""))
                b.reason = msg[len("skipped: "):] if is_skip(e) else msg
            continue
        if e.get("run_type", "iteration") == "iteration":
            vals = _rep_values(e, source)
            if "time_ns" in vals:
                b.one_iteration = e.get("iterations") == 1 and (b.one_iteration or not b.reps)
                b.reps.append(vals)
        elif e.get("aggregate_name") == "median":
            medians[name] = _rep_values(e, source)
    for name, b in by_name.items():
        if b.status == "ok" and not b.reps and name in medians:
            b.reps = [medians[name]]      # aggregates-only output: the median as one value
        if b.status == "ok" and not b.reps:
            b.status, b.reason = "failed", "no timed repetitions in the output"
    return list(by_name.values())


def derive(benches: list[Bench]) -> None:
    """Metrics that need another benchmark: multicore speed-up."""
    ref = next((b for b in benches if b.name == MULTICORE_REFERENCE and b.status == "ok"), None)
    if ref is None:
        return
    # Paired by process where the reference has a row from the same process
    # (one bench process ran both), else against the reference's median.
    ref_by_proc = per_process(ref, lambda r: r["time_ns"])
    ref_ns = float(np.median(list(ref_by_proc.values())))
    for b in benches:
        if b.workload == "multicore":
            for r in b.reps:
                mine = ref_by_proc.get(r.get(PROCESS), ref_ns)
                r["speedup"] = mine / r["time_ns"] if r["time_ns"] > 0 else None


def _load_manifest(path: Path) -> dict | None:
    f = path / "run.json"
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{f}: unreadable run manifest ({e})") from None
    if not isinstance(data, dict) or "switchyard_run" not in data:
        raise InputError(f"{f}: not a switchyard run manifest (no 'switchyard_run')")
    return data


def _fmt_date(text) -> str:
    if not text:
        return ""
    try:
        d = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return str(text)
    if d.tzinfo is not None:
        d = d.astimezone(dt.timezone.utc)
        return d.strftime("%Y-%m-%d %H:%M UTC")
    return d.strftime("%Y-%m-%d %H:%M")


def load(path) -> Results:
    """A results directory or one GB JSON file -> Results. Bad input: InputError."""
    path = Path(path)
    files = result_files(path)
    run = _load_manifest(path) if path.is_dir() else None
    benches, ctxs = [], []
    fp, date = None, ""
    for f in files:
        data = load_gb_json(f)
        ctx = data.get("context", {})
        fp = fp or (ctx.get("fingerprint") if isinstance(ctx.get("fingerprint"), dict) else None)
        date = date or _fmt_date(ctx.get("date"))
        sy = ctx.get("switchyard") if isinstance(ctx.get("switchyard"), dict) else {}
        ctxs.append((f.stem, sy))
        benches += benches_from(data, f.name)
    if run:
        fp = run.get("fingerprint") if isinstance(run.get("fingerprint"), dict) else fp
        date = _fmt_date(run.get("finished") or run.get("started")) or date
    derive(benches)
    home = path if path.is_dir() else path.parent
    return Results(path, home, benches, ctxs, fp, date, run)


# ---- formatting (shared by charts and tables) ---------------------------------------

TIME_STEPS = ((1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1.0, "ns"))
BYTE_STEPS = ((2 ** 30, "GiB"), (2 ** 20, "MiB"), (2 ** 10, "KiB"), (1, "B"))
SI_STEPS = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))
NS_IN = {"ns": 1.0, "us": 1e3, "ms": 1e6}


def _scaled(v: float, steps) -> tuple[float, str]:
    for size, name in steps:
        if abs(v) >= size:
            return v / size, name
    return v / steps[-1][0], steps[-1][1]


def fmt(v, unit: str) -> str:
    """A number for people: 3 significant digits, a sensible unit prefix."""
    if v is None or not math.isfinite(v):
        return "—"
    if unit in NS_IN:
        x, u = _scaled(v * NS_IN[unit], TIME_STEPS)
        return f"{x:.3g} {u}"
    if unit in ("B", "B/s"):
        x, u = _scaled(v, BYTE_STEPS)
        return f"{x:.3g} {u}" + ("/s" if unit == "B/s" else "")
    if unit == "/s":
        x, u = _scaled(v, SI_STEPS)
        return f"{x:.3g} {u}/s".replace(" /s", "/s")
    if unit == "x":
        return f"{v:.2f}×"
    if unit == "count":
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) < 1e6 else f"{v:.3e}"
