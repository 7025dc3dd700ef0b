"""The checks of the claims: each turns results into cases (one judged
comparison each) or says what is missing. Pure functions of (Results, Limits).
"""
from __future__ import annotations

import math

from . import tidy
from .claimbase import (GO_PEERS, LOOP_MODELS, MULTI_THREAD_PARAMS, OFFLOAD_MODE, PINNED,
                        SERVER_PAIR_IGNORES, SERVERS, STACKFUL, STACKLESS, THREAD_CONTROLS,
                        THREAD_HANDOFFS, UVLOOP_PARTS, UVLOOP_PEERS, UVLOOPS, Case, Figure,
                        Limits, Measured, absent, counter, med, param_num, rows, show, valued,
                        worst)
from .tidy import Bench, Results, fmt, num

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


