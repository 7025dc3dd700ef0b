"""py_microbench: the seed's Python concurrency claims, measured, as Google Benchmark JSON.

What: asyncio (default loop) vs uvloop vs gevent vs OS threads, on the
operations the seed tutorial talks about:
  pyswitch/<system>                        two tasks hand a token back and forth
      N times; each hand-off is one switch (asyncio/uvloop: `await
      asyncio.sleep(0)`, gevent: `gevent.sleep(0)` -- with two runnable tasks
      the scheduler alternates them, which is checked; threads: two
      threading.Event, set and waited in turn). Counters: switches, checksum.
  pygather/<system>/n:<N>                  N concurrent sleepers of SLEEP_S each,
      started and joined (asyncio.gather, gevent.joinall, Thread.start/join).
      Counters: tasks, wall_over_t (wall time / SLEEP_S, 1 = ideal), checksum;
      threads stop at THREAD_CAP (larger N: skipped with the reason, the row at
      the cap carries capped=1).
  pyexecutor/<system>/executor:thread|process/fn:blocking|cpu
      K calls of a blocking function (time.sleep) or a CPU-bound one (a pure
      Python loop) through an executor: loop.run_in_executor for asyncio and
      uvloop; gevent.threadpool.ThreadPoolExecutor for gevent's threads (gevent
      has no process pool: the standard ProcessPoolExecutor's results are
      awaited in gevent's hub threadpool); executor.map for plain threads.
      Pools have the concurrent.futures default sizes and are started and
      warmed outside the timed part. Counters: calls, workers, checksum.
  pyiter/<system>/form:async_for|anext_loop|await_loop|list_for/suspend:0|1
      (asyncio and uvloop) K items consumed in one coroutine: `async for` over
      an async generator (what a tutorial writes); the same generator driven
      by hand (`await it.__anext__()` until StopAsyncIteration: `async for`
      without its syntax); `await next_item(i)` in a while loop (a coroutine
      awaited per item, the loop one writes without an async iterator); a
      plain `for` over a list built before timing (the floor). suspend:1: each
      item costs one `await asyncio.sleep(0)` (a real suspension through the
      loop) in the producer, or in the list loop's body. Counters: items,
      checksum (sum of the items); ns per item = real_time / items.
  pyctx/<system>/form:async_with|aenter_by_hand|try_finally/suspend:0|1
      (asyncio and uvloop) K entries of a resource: `async with` over a class
      with __aenter__/__aexit__ (which await open() and close()); the same
      two methods awaited by hand around a try/finally (`async with` without
      its syntax); `await open(); try: ... finally: await close()` (what one
      writes without a context manager); suspend:1 makes open and close
      each `await asyncio.sleep(0)`. Counters: items (entries), checksum.
Why: "a coroutine switch is cheap", "asyncio scales to 100k tasks",
"run_in_executor makes blocking code async" and "async iterators only add
the `async for` syntax" are claims about these programs;
the C++ workloads answer them for C++, these answer them for Python.

Output: Google Benchmark-shaped JSON (context + benchmarks: one "iteration"
row per repetition, iterations 1, real_time = wall time of the whole case in
ns, cpu_time = CPU of the benchmark process, all its threads, not the worker
processes; then mean/median/stddev/cv aggregates), so results, charts, claims
and the gate read it like a bench's. Names carry GB's "/real_time" suffix like
every switchyard bench. A system whose module is missing is one entry per case
with error_occurred and "skipped: <why>"; a case whose check fails, that
raises, or whose phase exceeds its timeout is an error entry (a failure).

Each (workload, system) pair runs in its own child process (this file with
--phase) under a timeout, so a hung case is killed and the rest goes on, and
gevent, uvloop and asyncio never share an interpreter.

Usage (apt's interpreter; `switchyard run` calls it as the "pybench" bench):
  /usr/bin/python3 runners/peers/py_microbench.py [--tier smoke|quick|full]
      [--repetitions N] [--filter REGEX] [--out FILE] [--list]
Tiers: smoke <= 5 s, quick <= 30 s, full <= 90 s on 2 cores (at the tier's
default repetitions). Exit 0 whatever the benchmarks did; bad arguments or an
unwritable --out: one line, exit 2.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

SYSTEMS = ("py_asyncio", "py_uvloop", "py_gevent", "py_threads")
# system -> (module it needs, apt package that provides it)
NEEDS = {"py_uvloop": ("uvloop", "python3-uvloop"), "py_gevent": ("gevent", "python3-gevent")}
FAMILIES = ("pyswitch", "pygather", "pyexecutor", "pyiter", "pyctx")
ASYNC_SYSTEMS = ("py_asyncio", "py_uvloop")      # the systems with async for / async with
ITER_FORMS = ("async_for", "anext_loop", "await_loop", "list_for")
CTX_FORMS = ("async_with", "aenter_by_hand", "try_finally")
EXECUTORS = ("thread", "process")
FUNCTIONS = ("blocking", "cpu")
TIME_SUFFIX = "/real_time"

SLEEP_S = 0.05            # pygather: each sleeper's sleep
THREAD_CAP = 10_000       # pygather: OS threads at most (a thread costs a stack and two maps)
BLOCK_S = 0.001           # pyexecutor fn:blocking: time.sleep per call
CPU_STEPS = 20_000        # pyexecutor fn:cpu: loop steps per call (~1 ms of Python)
CPU_MOD = 1_000_003
THREAD_WORKERS = min(32, (os.cpu_count() or 1) + 4)   # ThreadPoolExecutor's default
PROCESS_WORKERS = os.cpu_count() or 1                  # ProcessPoolExecutor's default
KILL_GRACE_S = 2.0
NS_PER_S = 1e9


@dataclass(frozen=True)
class Tier:
    switches: int             # pyswitch hand-offs per repetition
    gather_n: tuple           # pygather sweep
    calls: int                # pyexecutor calls per repetition
    items: int                # pyiter items / pyctx entries per repetition, suspend:0
    items_suspend: int        # the same with a suspension per item (~10x dearer)
    repetitions: int
    phase_timeout_s: float    # per (workload, system) child process, at `repetitions`

    def phase_timeout(self, reps: int) -> float:
        """The phase limit, scaled when more repetitions are asked for."""
        return self.phase_timeout_s * max(1.0, reps / self.repetitions)


TIERS = {
    "smoke": Tier(switches=2_000, gather_n=(1, 100), calls=16, items=2_000,
                  items_suspend=200, repetitions=1,
                  phase_timeout_s=15),
    "quick": Tier(switches=20_000, gather_n=(1, 100, 10_000), calls=200, items=50_000,
                  items_suspend=5_000, repetitions=3,
                  phase_timeout_s=30),
    "full": Tier(switches=50_000, gather_n=(1, 100, 10_000, 100_000), calls=250, items=100_000,
                 items_suspend=5_000, repetitions=5, phase_timeout_s=60),
}


class CheckError(Exception):
    """The work done differs from the work expected (out-of-turn hand-off, bad sum)."""


class Terminated(Exception):
    """SIGTERM to the parent (the driver's watchdog): the running phase is killed."""


# ---- plan ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    name: str                 # without TIME_SUFFIX
    family: str
    system: str
    n: int = 0                # pygather sleepers
    executor: str = ""
    fn: str = ""
    form: str = ""            # pyiter, pyctx
    suspend: int = 0          # pyiter, pyctx: an asyncio.sleep(0) per item
    capped: bool = False      # pygather: the largest N threads run, in place of larger ones
    skip: str = ""            # why this case is not run ("" = it runs)


def plan(tier: Tier) -> list[Case]:
    """Every case of a tier, in output order, with the thread cap applied."""
    cases = [Case(f"pyswitch/{s}", "pyswitch", s) for s in SYSTEMS]
    for s in SYSTEMS:
        over_cap = s == "py_threads" and any(n > THREAD_CAP for n in tier.gather_n)
        for n in tier.gather_n:
            skip = ""
            if s == "py_threads" and n > THREAD_CAP:
                skip = (f"an OS thread per sleeper: capped at {THREAD_CAP} threads "
                        f"(pygather/py_threads/n:{THREAD_CAP} is the largest measured)")
            cases.append(Case(f"pygather/{s}/n:{n}", "pygather", s, n=n, skip=skip,
                              capped=over_cap and n == THREAD_CAP))
    for s in SYSTEMS:
        for ex in EXECUTORS:
            for fn in FUNCTIONS:
                cases.append(Case(f"pyexecutor/{s}/executor:{ex}/fn:{fn}", "pyexecutor", s,
                                  executor=ex, fn=fn))
    for family, forms in (("pyiter", ITER_FORMS), ("pyctx", CTX_FORMS)):
        for s in ASYNC_SYSTEMS:
            for suspend in (0, 1):
                for form in forms:
                    cases.append(Case(f"{family}/{s}/form:{form}/suspend:{suspend}", family, s,
                                      form=form, suspend=suspend))
    return cases


def select(cases: list[Case], regex: str | None) -> list[Case]:
    """Cases whose full name (with /real_time, as Google Benchmark matches) matches."""
    if not regex:
        return cases
    r = re.compile(regex)
    return [c for c in cases if r.search(c.name + TIME_SUFFIX)]


def missing_module(system: str) -> str:
    """Why `system` cannot run here ("" when it can)."""
    if system not in NEEDS:
        return ""
    module, package = NEEDS[system]
    if importlib.util.find_spec(module) is None:
        return f"python3 module {module} is not installed (apt-get install {package})"
    return ""


# ---- workloads: each returns its counters; the caller times it -------------------------

def expected_sum(n: int) -> int:
    return n * (n - 1) // 2


def new_loop(system: str):
    """The event loop of an asyncio system."""
    if system == "py_uvloop":
        import uvloop
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


async def asyncio_pingpong(n: int) -> int:
    state = {"token": 0, "sum": 0}

    async def player(me: int) -> None:
        while state["token"] < n:
            if state["token"] % 2 != me:
                raise CheckError("hand-off out of turn")
            state["sum"] += state["token"]
            state["token"] += 1
            await asyncio.sleep(0)

    await asyncio.gather(player(0), player(1))
    return state["sum"]


def gevent_pingpong(n: int) -> int:
    import gevent
    state = {"token": 0, "sum": 0}

    def player(me: int) -> None:
        while state["token"] < n:
            if state["token"] % 2 != me:
                raise CheckError("hand-off out of turn")
            state["sum"] += state["token"]
            state["token"] += 1
            gevent.sleep(0)

    players = [gevent.spawn(player, 0), gevent.spawn(player, 1)]
    gevent.joinall(players, raise_error=True)
    return state["sum"]


def threads_pingpong(n: int) -> int:
    state = {"token": 0, "sum": 0, "error": None}
    turn = (threading.Event(), threading.Event())

    def player(me: int) -> None:
        mine, theirs = turn[me], turn[1 - me]
        while True:
            mine.wait()
            mine.clear()
            if state["token"] >= n:
                theirs.set()
                return
            if state["token"] % 2 != me:
                state["error"] = "hand-off out of turn"
            state["sum"] += state["token"]
            state["token"] += 1
            theirs.set()

    players = [threading.Thread(target=player, args=(me,)) for me in (0, 1)]
    for t in players:
        t.start()
    turn[0].set()
    for t in players:
        t.join()
    if state["error"]:
        raise CheckError(state["error"])
    return state["sum"]


def run_switch(system: str, n: int) -> int:
    """n hand-offs between two tasks of `system`; returns the checksum."""
    if system == "py_gevent":
        return gevent_pingpong(n)
    if system == "py_threads":
        return threads_pingpong(n)
    loop = new_loop(system)
    try:
        return loop.run_until_complete(asyncio_pingpong(n))
    finally:
        loop.close()


async def asyncio_gather(n: int) -> int:
    return sum(await asyncio.gather(*(asyncio.sleep(SLEEP_S, i) for i in range(n))))


def gevent_gather(n: int) -> int:
    import gevent

    def sleeper(i: int) -> int:
        gevent.sleep(SLEEP_S)
        return i

    sleepers = [gevent.spawn(sleeper, i) for i in range(n)]
    gevent.joinall(sleepers, raise_error=True)
    return sum(g.value for g in sleepers)


def threads_gather(n: int) -> int:
    results = [0] * n

    def sleeper(i: int) -> None:
        time.sleep(SLEEP_S)
        results[i] = i

    sleepers = []
    try:
        for i in range(n):
            t = threading.Thread(target=sleeper, args=(i,))
            t.start()
            sleepers.append(t)
    finally:
        for t in sleepers:
            t.join()
    return sum(results)


def run_gather(system: str, n: int) -> int:
    """n concurrent sleepers of SLEEP_S, started and joined; returns the checksum."""
    if system == "py_gevent":
        return gevent_gather(n)
    if system == "py_threads":
        return threads_gather(n)
    loop = new_loop(system)
    try:
        return loop.run_until_complete(asyncio_gather(n))
    finally:
        loop.close()


def blocking_call(i: int) -> int:
    time.sleep(BLOCK_S)
    return i


def cpu_call(i: int) -> int:
    acc = 0
    for k in range(CPU_STEPS):
        acc = (acc * 31 + k) % CPU_MOD
    return i + acc


FN = {"blocking": blocking_call, "cpu": cpu_call}


def expected_calls_sum(fn: str, k: int) -> int:
    return expected_sum(k) + (k * cpu_call(0) if fn == "cpu" else 0)


def make_executor(system: str, kind: str):
    if kind == "process":
        return ProcessPoolExecutor(PROCESS_WORKERS)
    if system == "py_gevent":
        from gevent.threadpool import ThreadPoolExecutor as GeventThreadPoolExecutor
        return GeventThreadPoolExecutor(THREAD_WORKERS)
    return ThreadPoolExecutor(THREAD_WORKERS)


async def asyncio_calls(ex, fn, k: int) -> int:
    loop = asyncio.get_running_loop()
    return sum(await asyncio.gather(*(loop.run_in_executor(ex, fn, i) for i in range(k))))


def gevent_calls(ex, kind: str, fn, k: int) -> int:
    if kind == "thread":
        return sum(ex.map(fn, range(k)))   # gevent's executor waits cooperatively
    import gevent
    futures = [ex.submit(fn, i) for i in range(k)]
    return gevent.get_hub().threadpool.apply(lambda: sum(f.result() for f in futures))


class Calls:
    """A warmed executor of one system, and the loop that drives it (asyncio)."""

    def __init__(self, system: str, kind: str) -> None:
        self.system, self.kind = system, kind
        self.ex = make_executor(system, kind)
        self.loop = new_loop(system) if system in ("py_asyncio", "py_uvloop") else None
        self.workers = THREAD_WORKERS if kind == "thread" else PROCESS_WORKERS
        self.run(blocking_call, self.workers)   # start every worker outside the timed part

    def run(self, fn, k: int) -> int:
        if self.loop:
            return self.loop.run_until_complete(asyncio_calls(self.ex, fn, k))
        if self.system == "py_gevent":
            return gevent_calls(self.ex, self.kind, fn, k)
        return sum(self.ex.map(fn, range(k)))

    def close(self) -> None:
        self.ex.shutdown(wait=True)
        if self.loop:
            self.loop.close()


# pyiter: K items, four ways. Each producer yields 0..K-1; suspend makes every
# item cost one `await asyncio.sleep(0)` (a real trip through the loop).
async def numbers(k: int, suspend: bool):
    for i in range(k):
        if suspend:
            await asyncio.sleep(0)
        yield i


async def next_item(i: int, suspend: bool) -> int:
    if suspend:
        await asyncio.sleep(0)
    return i


async def iter_async_for(k: int, suspend: bool, items: list) -> int:
    total = 0
    async for x in numbers(k, suspend):
        total += x
    return total


async def iter_anext_loop(k: int, suspend: bool, items: list) -> int:
    total = 0
    it = numbers(k, suspend)
    while True:
        try:
            x = await it.__anext__()
        except StopAsyncIteration:
            break
        total += x
    return total


async def iter_await_loop(k: int, suspend: bool, items: list) -> int:
    total = 0
    i = 0
    while i < k:
        x = await next_item(i, suspend)
        total += x
        i += 1
    return total


async def iter_list_for(k: int, suspend: bool, items: list) -> int:
    total = 0
    for x in items:
        if suspend:
            await asyncio.sleep(0)
        total += x
    return total


ITER = {"async_for": iter_async_for, "anext_loop": iter_anext_loop,
        "await_loop": iter_await_loop, "list_for": iter_list_for}


# pyctx: K entries of a resource whose open and close are coroutines.
class Resource:
    def __init__(self, suspend: bool) -> None:
        self.suspend, self.opened, self.closed = suspend, 0, 0

    async def open(self) -> None:
        if self.suspend:
            await asyncio.sleep(0)
        self.opened += 1

    async def close(self) -> None:
        if self.suspend:
            await asyncio.sleep(0)
        self.closed += 1

    async def __aenter__(self) -> "Resource":
        await self.open()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


async def ctx_async_with(k: int, suspend: bool, items: list) -> int:
    res, total = Resource(suspend), 0
    for i in range(k):
        async with res:
            total += i
    return total + res.opened + res.closed


async def ctx_aenter_by_hand(k: int, suspend: bool, items: list) -> int:
    res, total = Resource(suspend), 0
    for i in range(k):
        await res.__aenter__()
        try:
            total += i
        finally:
            await res.__aexit__(None, None, None)
    return total + res.opened + res.closed


async def ctx_try_finally(k: int, suspend: bool, items: list) -> int:
    res, total = Resource(suspend), 0
    for i in range(k):
        await res.open()
        try:
            total += i
        finally:
            await res.close()
    return total + res.opened + res.closed


CTX = {"async_with": ctx_async_with, "aenter_by_hand": ctx_aenter_by_hand,
       "try_finally": ctx_try_finally}


def expected_form_sum(family: str, k: int) -> int:
    return expected_sum(k) + (2 * k if family == "pyctx" else 0)


class Forms:
    """One loop of an asyncio system, and the list the list_for form walks."""

    def __init__(self, case: Case, k: int) -> None:
        self.fn = (ITER if case.family == "pyiter" else CTX)[case.form]
        self.k, self.suspend, self.items = k, bool(case.suspend), list(range(k))
        self.loop = new_loop(case.system)

    def run(self, k: int | None = None) -> int:
        k = self.k if k is None else k
        return self.loop.run_until_complete(self.fn(k, self.suspend, self.items[:k]))

    def close(self) -> None:
        self.loop.close()


# ---- the child: one (workload, system) phase -------------------------------------------

def timed(fn, *args) -> tuple[float, float, int]:
    """(wall seconds, process CPU seconds, result)."""
    c0, t0 = time.process_time(), time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0, result


def check(got: int, want: int) -> None:
    if got != want:
        raise CheckError(f"checksum mismatch: got {got}, expected {want}")


def measure(case: Case, tier: Tier, reps: int, emit) -> None:
    """Run one case `reps` times; emit(row) per repetition (dicts, see phase_main)."""
    if case.family == "pyswitch":
        run_switch(case.system, min(tier.switches, 100))             # warm-up
        for r in range(reps):
            wall, cpu, got = timed(run_switch, case.system, tier.switches)
            check(got, expected_sum(tier.switches))
            emit(r, wall, cpu, {"switches": tier.switches, "checksum": got,
                                "items_per_second": tier.switches / wall})
    elif case.family == "pygather":
        run_gather(case.system, 1)                                   # warm-up
        for r in range(reps):
            wall, cpu, got = timed(run_gather, case.system, case.n)
            check(got, expected_sum(case.n))
            emit(r, wall, cpu, {"tasks": case.n, "wall_over_t": wall / SLEEP_S,
                                "sleep_ms": SLEEP_S * 1e3, "checksum": got,
                                "capped": int(case.capped), "items_per_second": case.n / wall})
    elif case.family in ("pyiter", "pyctx"):
        k = tier.items_suspend if case.suspend else tier.items
        forms = Forms(case, k)
        try:
            forms.run(min(k, 100))                                   # warm-up
            for r in range(reps):
                wall, cpu, got = timed(forms.run)
                check(got, expected_form_sum(case.family, k))
                emit(r, wall, cpu, {"items": k, "checksum": got,
                                    "items_per_second": k / wall})
        finally:
            forms.close()
    else:
        calls = Calls(case.system, case.executor)
        try:
            fn = FN[case.fn]
            for r in range(reps):
                wall, cpu, got = timed(calls.run, fn, tier.calls)
                check(got, expected_calls_sum(case.fn, tier.calls))
                emit(r, wall, cpu, {"calls": tier.calls, "workers": calls.workers,
                                    "checksum": got, "items_per_second": tier.calls / wall})
        finally:
            calls.close()


def phase_main(family: str, system: str, tier: Tier, reps: int, regex: str | None) -> int:
    """Child process: run the selected cases of one (workload, system); one JSON
    line per repetition or error on stdout."""
    def out(obj) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    for case in select(plan(tier), regex):
        if case.family != family or case.system != system or case.skip:
            continue
        emit = lambda r, wall, cpu, counters: out(
            {"name": case.name, "rep": r, "wall": wall, "cpu": cpu, "counters": counters})
        try:
            measure(case, tier, reps, emit)
        except CheckError as e:
            out({"name": case.name, "error": str(e)})
        except Exception as e:  # noqa: BLE001 - a benchmark that raises is recorded, not fatal
            out({"name": case.name, "error": f"{type(e).__name__}: {e}"})
    return 0


# ---- the parent: run the phases, assemble Google Benchmark JSON ------------------------

def run_phase(family: str, system: str, tier_name: str, reps: int, regex: str | None,
              timeout: float) -> tuple[list[dict], str]:
    """Rows the child printed, and why it ended early ("" when it did not)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--phase", family, system,
           "--tier", tier_name, "--repetitions", str(reps)]
    if regex:
        cmd += ["--filter", regex]
    # Its own process group, so that a timeout or our own SIGTERM kills it
    # with its executor's worker processes.
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         process_group=0)
    try:
        stdout, stderr = p.communicate(timeout=timeout)
        why = "" if p.returncode == 0 else child_failure(p.returncode, stderr)
    except subprocess.TimeoutExpired:
        kill_group(p)
        stdout, _ = p.communicate()
        why = f"timeout after {timeout:g} s: killed"
    except BaseException:
        kill_group(p)
        raise
    rows = []
    for line in stdout.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue   # a line cut by the kill
    return rows, why


def child_failure(rc: int, stderr: str) -> str:
    if rc < 0:
        return f"killed by {signal.Signals(-rc).name}"
    tail = (stderr.strip().splitlines() or [""])[-1]
    return f"exit status {rc}: {tail}".rstrip(": ")


def kill_group(p: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, to the child's whole group (the child is reaped
    here); a last SIGKILL to the group for executor workers that outlive it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            break
        try:
            p.wait(timeout=KILL_GRACE_S)
            break
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(p.pid, signal.SIGKILL)   # pool workers outliving the child
    except ProcessLookupError:
        pass


def on_sigterm(_signum, _frame):
    raise Terminated()


def entry(case: Case, index: tuple[int, int], reps: int, rep: int, **fields) -> dict:
    name = case.name + TIME_SUFFIX
    e = {"name": name, "family_index": index[0], "per_family_instance_index": index[1],
         "run_name": name, "run_type": "iteration", "repetitions": reps,
         "repetition_index": rep, "threads": 1, "iterations": 1,
         "real_time": 0.0, "cpu_time": 0.0, "time_unit": "ns"}
    e.update(fields)
    return e


def error_entry(case: Case, index, reps: int, message: str) -> dict:
    return entry(case, index, reps, 0, iterations=0, error_occurred=True, error_message=message)


AGGREGATES = (("mean", "time", statistics.fmean),
              ("median", "time", statistics.median),
              ("stddev", "time", lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0),
              ("cv", "percentage",
               lambda xs: (statistics.stdev(xs) / statistics.fmean(xs))
               if len(xs) > 1 and statistics.fmean(xs) else 0.0))


def aggregates(rows: list[dict]) -> list[dict]:
    """GB's mean/median/stddev/cv rows over the repetitions of one case."""
    keys = [k for k, v in rows[0].items()
            if isinstance(v, (int, float)) and k not in
            ("family_index", "per_family_instance_index", "repetitions", "repetition_index",
             "threads", "iterations")]
    out = []
    for agg, unit, f in AGGREGATES:
        a = {k: v for k, v in rows[0].items() if k not in keys + ["repetition_index"]}
        a.update(name=rows[0]["name"] + "_" + agg, run_type="aggregate", aggregate_name=agg,
                 aggregate_unit=unit, iterations=len(rows))
        for k in keys:
            a[k] = f([float(r[k]) for r in rows])
        out.append(a)
    return out


def benchmark_entries(cases: list[Case], results: dict, reps: int) -> list[dict]:
    """Cases in plan order -> GB entries. results[name] = (rows, error or "")."""
    entries = []
    families = {}
    for case in cases:
        family_key = case.name.rsplit("/", 1)[0] if case.family != "pyswitch" else case.name
        fam = families.setdefault(family_key, [len(families), 0])
        index = (fam[0], fam[1])
        fam[1] += 1
        rows, error = results.get(case.name, ([], "not run"))
        if case.skip:
            entries.append(error_entry(case, index, reps, "skipped: " + case.skip))
            continue
        if error:
            entries.append(error_entry(case, index, reps, error))
            continue
        it = [entry(case, index, reps, r["rep"], real_time=r["wall"] * NS_PER_S,
                    cpu_time=r["cpu"] * NS_PER_S, **r["counters"]) for r in rows]
        entries += it
        if len(it) > 1:
            entries += aggregates(it)
    return entries


def run_all(cases: list[Case], tier_name: str, reps: int, regex: str | None) -> dict:
    """Run every phase that has selected cases; name -> (rows, error)."""
    tier = TIERS[tier_name]
    results = {}
    for family in FAMILIES:
        for system in SYSTEMS:
            mine = [c for c in cases if c.family == family and c.system == system and not c.skip]
            if not mine:
                continue
            why_not = missing_module(system)
            if why_not:
                for c in mine:
                    results[c.name] = ([], "skipped: " + why_not)
                continue
            rows, ended = run_phase(family, system, tier_name, reps, regex,
                                    tier.phase_timeout(reps))
            for c in mine:
                got = [r for r in rows if r.get("name") == c.name]
                errors = [r["error"] for r in got if "error" in r]
                done = [r for r in got if "error" not in r]
                if errors:
                    results[c.name] = ([], errors[0])
                elif len(done) < reps:
                    results[c.name] = ([], ended or f"{len(done)} of {reps} repetitions ran")
                else:
                    results[c.name] = (done, "")
    return results


def versions() -> dict:
    v = {"python": platform.python_version()}
    for dist in ("uvloop", "gevent", "greenlet"):
        try:
            v[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            v[dist] = None
    return v


def context(tier_name: str, reps: int) -> dict:
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host_name": socket.gethostname(),
        "executable": os.path.abspath(__file__),
        "num_cpus": os.cpu_count(),
        "load_avg": list(os.getloadavg()),
        "library_build_type": "release",
        "python": {"executable": sys.executable, "version": platform.python_version(),
                   "implementation": platform.python_implementation()},
        "versions": versions(),
        "pybench": {"tier": tier_name, "repetitions": reps, "sleep_s": SLEEP_S,
                    "block_s": BLOCK_S, "cpu_steps": CPU_STEPS,
                    "items": TIERS[tier_name].items,
                    "items_suspend": TIERS[tier_name].items_suspend, "thread_cap": THREAD_CAP,
                    "thread_workers": THREAD_WORKERS, "process_workers": PROCESS_WORKERS},
    }


# ---- CLI -------------------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    def error(self, message):
        print(f"py_microbench: {message}", file=sys.stderr)
        sys.exit(2)


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: '{text}'") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: '{text}'")
    return v


def regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"not a valid regular expression: {e}") from None
    return text


def make_parser() -> Parser:
    p = Parser(description="Python concurrency microbenchmarks (Google Benchmark JSON).")
    p.add_argument("--tier", choices=tuple(TIERS), default="quick",
                   help="sizes: smoke <= 5 s, quick <= 30 s (default), full <= 90 s")
    p.add_argument("--repetitions", type=positive_int, metavar="N",
                   help="repetitions per case (default: smoke 1, quick 3, full 5)")
    p.add_argument("--filter", type=regex, metavar="REGEX",
                   help="only cases whose name matches (searched, like --benchmark_filter)")
    p.add_argument("--out", metavar="FILE", help="write the JSON here (default: stdout)")
    p.add_argument("--list", action="store_true",
                   help="print the selected names, one per line, and run nothing")
    p.add_argument("--phase", nargs=2, metavar=("WORKLOAD", "SYSTEM"), help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    tier = TIERS[args.tier]
    reps = args.repetitions or tier.repetitions
    if args.phase:
        return phase_main(*args.phase, tier, reps, args.filter)
    cases = select(plan(tier), args.filter)
    if args.list:
        sys.stdout.write("".join(c.name + TIME_SUFFIX + "\n" for c in cases))
        return 0
    if args.out:
        try:
            with open(args.out, "a"):
                pass
        except OSError as e:
            print(f"py_microbench: --out {args.out}: not writable ({e.strerror})", file=sys.stderr)
            return 2
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        results = run_all(cases, args.tier, reps, args.filter)
    except (Terminated, KeyboardInterrupt):
        print("py_microbench: terminated; the running phase was killed", file=sys.stderr)
        return 128 + signal.SIGTERM
    doc = {"context": context(args.tier, reps),
           "benchmarks": benchmark_entries(cases, results, reps)}
    text = json.dumps(doc, indent=2) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
