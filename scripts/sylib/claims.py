"""Claims report (issue 8): popular coroutine claims checked against a run.

Thirteen claims, as coroutine tutorials state them, each with a check that
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
    too close to call         no case is decided

A case is decided only when the interval of its figure (over rounds of bench
processes: claimbase.Est) lies on one side of its threshold; else it is too
close to call, shown with ≈ and counted, and the rules above read the decided
cases only.

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
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from . import tidy
from .claimbase import *  # noqa: F401,F403 -- claims.X stays the public vocabulary
from .claimbase import (CLOSE, LOOP_MODELS, MAX_LISTED_CASES, THRESHOLDS_FILE, VERDICTS, Case,
                        Claim, Evaluated, Limits, Split, counts, either, load_thresholds, tally)
from .claimchecks import *  # noqa: F401,F403
from .claimchecks import (measure_blocking, measure_compute_yield, measure_io_waits,
                          measure_multicore, measure_no_lock, measure_no_sync_overhead,
                          measure_scalability, measure_single_thread, measure_switch_cost,
                          measure_switch_rate)
from .claimio import *  # noqa: F401,F403
from .claimio import measure_real_servers, measure_uvloop
from .claimiter import measure_async_iter
from .claimrender import *  # noqa: F401,F403
from .claimrender import markdown, terminal
from .results import InputError, atomic_write_text
from .tidy import Results

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
          "each loop model's loops:N (N ≥ 2) speed-up over its own loops:1, and the M:N "
          "model's (coroutine_mt: one program of coroutines on N worker threads) workers:N "
          "over its own workers:1, ≤ {min_speedup:g}× (coroutines did not use N cores) while "
          "the pool/thread control reaches > {min_speedup:g}× over its own N = 1; a "
          "configuration past it is a counterexample to 'cannot'",
          "multicore/<loop model>/loops:<n>, multicore/coroutine_mt/workers:<n> (not "
          "oversubscribed) and multicore/pool/workers:<n>, multicore/thread/threads:<n> "
          "(n = 1 and n ≥ 2); speed-up = real_time(n = 1) / real_time(n) of the same model",
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
          "Async I/O against real servers (Redis, HTTP, MariaDB) improves throughput over "
          "sequential calls.",
          "N concurrent requests reach ≥ {min_gain:g}× the requests/s of sequential calls",
          "redis|http|sql/<model>/mode:sequential|concurrent/... (paired on model and every "
          "other param but concurrency) counter requests; requests/s = requests / real_time; "
          "the tutorial's Python libraries as clients of the same servers, listed beside the "
          "C++ models at the same configuration, a part of their own: "
          "redis/py_redis_asyncio/.../loop:asyncio|uvloop, http/py_aiohttp/.../loop:L, "
          "sql/py_aiomysql/.../loop:L",
          "--filter '^(redis|http|sql)/'", measure_real_servers,
          (Split("server", phrases={"redis": "talking to Redis",
                                    "http": "talking to an HTTP server",
                                    "sql": "talking to MariaDB"}),
           Split("client", phrases={"c++": "the client is a C++ model",
                                    "python": "the client is a Python library"}),
           Split("concurrency"), Split("model")),
          ("redis", "http", "sql")),
    Claim(13, "async_iter", "async iterators only add syntax",
          "Asynchronous iterators don't really help much; they only add the `async for` syntax.",
          "per item, the async iterator costs the same as the loop written without it, within "
          "±{max_overhead_pct:g}% or ±{max_overhead_ns_python:g} ns (Python) / "
          "±{max_overhead_ns_cpp:g} ns (C++): async for vs an `await next_item()` loop and vs "
          "`await it.__anext__()` by hand; async with vs try/finally and vs "
          "`__aenter__`/`__aexit__` by hand; without (suspend:0) and "
          "with (suspend:1) a suspension per item",
          "pyiter/py_asyncio|py_uvloop/form:async_for|anext_loop|await_loop|list_for/suspend:0|1, "
          "pyctx/py_asyncio|py_uvloop/form:async_with|aenter_by_hand|try_finally/suspend:0|1, "
          "asynciter/coroutine|coroutine_uring/form:generator|await_loop|plain_loop/suspend:0|1; "
          "ns per item = real_time / items, difference per round",
          "--filter '^(asynciter|pyiter|pyctx)/'", measure_async_iter,
          (Split("suspend", phrases={"0": "items do not suspend (suspend:0)",
                                     "1": "every item suspends (suspend:1)"}),
           Split("language", phrases={"python": "in Python", "c++": "in C++"}),
           Split("part", phrases={
               "async for vs an await loop": "async for is compared with an await loop",
               "async for vs __anext__ by hand": "async for is compared with __anext__ by hand",
               "async with vs try/finally": "async with is compared with try/finally",
               "async with vs __aenter__/__aexit__ by hand":
                   "async with is compared with __aenter__/__aexit__ by hand"}),
           Split("system")),
          ("asynciter",)),
)


# ---- verdicts ------------------------------------------------------------------------

def phrase(split: Split, values: list, t: Limits, op: str = "") -> str:
    if split.numeric:
        template = split.phrases.get(op, f"{split.attr} {op} {{v:g}}")
        return template.format_map(_Fields(t, v=values[0]))
    texts = [split.phrases[v].format_map(_Fields(t)) for v in values if v in split.phrases]
    plain = [str(v) for v in values if v not in split.phrases]
    return " or ".join(texts + ([f"{split.attr} is {either(plain)}"] if plain else []))




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
    close: int = 0

    @property
    def text(self) -> str:
        cond = f" {self.condition}" if self.condition else ""
        return f"{self.name}: {self.verdict}{cond} ({counts(self.passed, self.total, self.close)})"


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
    cases = [c for c in cases if c.passed is not None]       # the decided ones
    if not cases:
        return CLOSE, ""
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
        out.append(Part(name, verdict, cond, sum(c.passed is True for c in mine), len(mine),
                        sum(c.passed is None for c in mine)))
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
                     passed=sum(c.passed is True for c in m.cases), total=len(m.cases),
                     parts=[] if m.missing else parts_of(claim, m.cases, t),
                     close=sum(c.passed is None for c in m.cases))


def evaluate(res: Results, thresholds: dict[str, Limits]) -> list[Evaluated]:
    return [evaluate_one(c, res, thresholds) for c in CLAIMS]


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
