"""The checks of the claims: each turns results into cases (one judged
comparison each) or says what is missing. Pure functions of (Results, Limits).
A measured figure is an Est (per round of bench processes) and is judged on
its interval (claimbase.case); counts that are exact (lost updates, OS
threads, tasks completed) are judged on their worst value.
"""
from __future__ import annotations

import math

from . import tidy
from .claimbase import (LOOP_MODELS, MN_MODELS, MULTI_THREAD_PARAMS, OFFLOAD_MODE, PINNED,
                        STACKFUL,
                        STACKLESS, THREAD_CONTROLS, THREAD_HANDOFFS, Case, Figure,
                        Limits, Measured, absent, all_of, case, counter, decide, est,
                        med, param_num, ratio, rows, show, show_interval, valued,
                        worst)
from .tidy import Bench, Results, num

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
    for b, _ in coros:
        for cls, (hb, _) in sorted(cheapest.items()):
            r = ratio(est(hb, tidy.NS_PER_SWITCH.fn), est(b, tidy.NS_PER_SWITCH.fn))
            if r is not None:
                m.cases.append(case(f"{b.model} vs {cls} {hb.label()}",
                                    {"pin": cls, "kind": coroutine_kind(b.model),
                                     "model": b.model}, r, "x", (">=", t["min_advantage"])))
    return m


def measure_switch_rate(res: Results, t: Limits) -> Measured:
    coros = valued(rows(res, "switch", STACKLESS), tidy.NS_PER_SWITCH.fn)
    if not coros:
        return Measured(missing=absent(res, "switch", "stackless switch (switch/coroutine, "
                                                       "switch/coroutine_uring)"))
    return Measured([case(f"{b.model} switches per second", {"model": b.model},
                          est(b, tidy.NS_PER_SWITCH.fn).map(lambda v: tidy.NS_PER_S / v), "/s",
                          (">=", t["min_rate_per_s"])) for b, _ in coros])


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
    for b, _ in vals:
        n = param_num(b, "n")
        create = med(b, counter("create_over_t"))
        waits = est(b, lambda r: r["wall_over_t"] - r.get("create_over_t", 0.0)
                    if "wall_over_t" in r else None)
        where = f"{b.model} n:{b.params['n']} sleep_ms:{b.params.get('sleep_ms', '?')}"
        cases.append(case(f"{where} waits/T (wall − creation; one after another: {n:g})",
                          {"model": b.model, "n": n}, waits, "x", ("<=", t["max_wall_over_t"])))
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
    cheapest = {k: min(found, key=lambda bv: bv[1]) for k, found in synced.items()}
    m = Measured(context=[Figure(f"thread+{k} per update", v, "ns")
                          for k, (_, v) in cheapest.items()])
    m.context += [Figure(f"{b.model} without locks per update", v, "ns") for b, v in loops]
    for b, _ in loops:
        for kind, (tb, _) in cheapest.items():
            r = ratio(est(tb, per_update), est(b, per_update))
            if r is not None:
                m.cases.append(case(f"thread+{kind} over {b.model} without locks",
                                    {"against": kind, "model": b.model}, r, "x",
                                    (">=", t["min_overhead"])))
    return m


def largest_n(benches) -> dict[float, Bench]:
    return {param_num(b, "n"): b for b in benches if param_num(b, "n") is not None}


def measure_scalability(res: Results, t: Limits) -> Measured:
    m, missing = Measured(), []
    per_task = counter("bytes_per_task")
    mem = {b.model: e for b in rows(res, "memory", LOOP_MODELS + ("thread",))
           if (e := est(b, per_task))}
    thread_mem = mem.pop("thread", None)
    if not mem:
        missing.append(("memory", "memory/<loop model>/n:<N> row with bytes_per_task"))
    if thread_mem is None:
        missing.append(("memory", "memory/thread/n:<N> row with bytes_per_task"))
    for model, v in mem.items():
        m.cases.append(case(f"{model} bytes per task", {"model": model, "part": "memory"},
                            v, "B", ("<=", t["max_bytes_per_task"])))
        if thread_mem is not None and (r := ratio(thread_mem, v)) is not None:
            m.cases.append(case(f"thread over {model} bytes per task",
                                {"model": model, "part": "memory vs thread"},
                                r, "x", (">=", t["min_memory_advantage"])))
    thread_spawn = largest_n(rows(res, "spawn", ("thread",)))
    spawn_cases = 0
    for model in LOOP_MODELS:
        mine = largest_n(rows(res, "spawn", (model,)))
        common = set(mine) & set(thread_spawn)
        if not common:
            continue
        n = max(common)
        r = ratio(est(thread_spawn[n], tidy.NS_PER_TASK.fn), est(mine[n], tidy.NS_PER_TASK.fn))
        if r is not None:
            spawn_cases += 1
            m.cases.append(case(f"thread over {model} ns per spawned task at n:{n:g}",
                                {"model": model, "part": "spawn vs thread"}, r, "x",
                                (">=", t["min_spawn_advantage"])))
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
        m.context.append(Figure("thread bytes per task", thread_mem.value, "B"))
    return m


def own_speedups(mc: list[Bench], models, keys=MULTI_THREAD_PARAMS) -> list[tuple]:
    """[(bench, n, speed-up over the same model's n:1 row: an Est per round)]
    for rows with n >= 2."""
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
        s = ratio(est(one, time_ns), est(b, time_ns))
        if s is not None:
            out.append((b, n, s))
    return out


def measure_multicore(res: Results, t: Limits) -> Measured:
    """Claim 8 as stated: can coroutines use more than one core? Each loop
    model's N-loop row against its own one-loop row (a model whose one loop is
    merely faster on one thread says nothing about cores); a configuration
    that runs coroutines on several cores past the threshold is a
    counterexample to "cannot". One loop is one thread: its 1x is by
    construction, so it is context, not a case. An M:N model (coroutine_mt)
    is the answer people deploy: one program of coroutines on N worker
    threads, judged by its workers:N over its own workers:1 (rows with more
    workers than CPUs are marked oversubscribed and left out)."""
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
    best, _, top_est = max(controls, key=lambda c: c[2].value)
    top = top_est.value
    if decide(top_est, (">", t["min_speedup"])) is not True:
        lo, hi = top_est.interval
        return Measured(missing=f"no model scaled past {t['min_speedup']:g}× on this machine, "
                                f"interval included (best: {best.label()} "
                                f"{show_interval(top, lo, hi, 'x')}); needs at least 2 idle cores")
    cases = [case(f"{b.model} loops:{n:g} over its own loops:1 (can coroutines use {n:g} "
                  "cores?)", {"model": b.model, "loops": n}, s, "x", ("<=", t["min_speedup"]))
             for b, n, s in loops]
    cases += [case(f"{b.model} workers:{n:g} over its own workers:1 (one program of "
                   f"coroutines on {n:g} cores)", {"model": b.model, "loops": n}, s, "x",
                   ("<=", t["min_speedup"]))
              for b, n, s in own_speedups(mc, MN_MODELS, ("workers",))
              if "oversubscribed" not in b.marks]
    context = [Figure("one loop is one thread: its speed-up over itself is 1× by "
                      "construction", 1.0, "x"),
               Figure(f"control {best.label()} over its own n:1", top, "x", None,
                      *top_est.interval)]
    return Measured(cases, context)


def measure_blocking(res: Results, t: Limits) -> Measured:
    block, frac = t["block_ms"], t["min_direct_fraction"]
    m = Measured()
    for b in rows(res, "blocking", LOOP_MODELS):
        k, mode = param_num(b, "k"), b.params.get("mode")
        wall, gap = est(b, counter("wall_ms")), est(b, counter("heartbeat_max_gap_ms"))
        if k is None or wall is None or gap is None:
            continue
        attrs = {"mode": mode, "model": b.model, "k": k}
        lo, hi = wall.interval
        if mode == "direct":
            blocked = all_of(decide(wall, (">=", frac * k * block)),
                             decide(gap, (">=", frac * block)))
            m.cases.append(Case(f"{b.model} direct k:{k:g} wall (heartbeat gap "
                                f"{show(gap.value, 'ms')}; blocked if >= "
                                f"{show(frac * k * block, 'ms')})",
                                attrs, wall.value, "ms", blocked, lo, hi))
        elif mode == OFFLOAD_MODE:
            pool = med(b, counter("pool_size"))
            if not pool:
                continue
            bound = t["max_offload_factor"] * math.ceil(k / pool) * block
            restored = all_of(decide(wall, ("<=", bound)), decide(gap, ("<", frac * block)))
            m.cases.append(Case(f"{b.model} offload k:{k:g} pool:{pool:g} wall (heartbeat gap "
                                f"{show(gap.value, 'ms')}; restored if <= {show(bound, 'ms')} "
                                f"and gap < {show(frac * block, 'ms')})", attrs, wall.value, "ms",
                                None if restored is None else not restored, lo, hi))
    have = {c.attrs["mode"] for c in m.cases}
    missing = [f"blocking/<loop model>/mode:{mode}/k:<K> row" for mode in ("direct", OFFLOAD_MODE)
               if mode not in have]
    return Measured(missing=absent(res, "blocking", " or ".join(missing))) if missing else m


def measure_compute_yield(res: Results, t: Limits) -> Measured:
    m = Measured()
    steps = tidy.STEPS_PER_S.fn
    for model in LOOP_MODELS:
        by_every = {b.params.get("yield_every"): b for b in rows(res, "compute", (model,))}
        base = est(by_every.get("none"), steps)
        for gran, every, limit in (("fine", t["fine_every"], t["min_fine_slowdown"]),
                                   ("coarse", t["coarse_every"], t["max_coarse_slowdown"])):
            b = next((b for e, b in by_every.items() if num(e) == every), None)
            slow = ratio(base, est(b, steps))
            if slow is None:
                continue
            m.cases.append(case(f"{model} no-yield over yield_every:{every:g} steps/s",
                                {"granularity": gran, "model": model}, slow, "x",
                                (">=" if gran == "fine" else ">", limit)))
    if not m.cases:
        return Measured(missing=absent(res, "compute", "compute/<loop model>/yield_every:none "
                                                       f"with yield_every:{t['fine_every']:g} or "
                                                       f"{t['coarse_every']:g}"))
    return m
