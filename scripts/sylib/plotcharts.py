"""The charts of the in-process workloads (switch, spawn, memory, skynet,
sleep, compute, multicore, locks): one function each, tidy.Results -> a
matplotlib Figure, or None when there is nothing to draw.
"""
from __future__ import annotations

from . import tidy
from .plotkit import (BAR_H, BASELINE_DASHES, LOG_RATIO, MARKED_PERCENTILE, PANEL_H,
                      PERCENTILE_STYLES, all_x, all_y, Bar, ci_handle, colour, distinguish,
                      draw_hbars, draw_hdots, draw_lines, Line2D, marks_handle, model_handle,
                      new_figure, one_legend, panel_keys, Point, Series, set_scales, style_model,
                      sweep)
from .tidy import Results, fmt, is_baseline, num


# ---- the charts ----------------------------------------------------------------------

def chart_switch(res: Results):
    rows = res.ok("switch")
    models = [b for b in rows if not is_baseline(b.model)]
    refs = [b for b in rows if is_baseline(b.model)]
    shown = models or refs
    bars = [Bar(b.label(), style_model(b), st, b.marks) for b in shown
            if (st := b.stat(tidy.NS_PER_SWITCH))]
    if not bars:
        return None
    lines = [(b, st) for b in refs if models and (st := b.stat(tidy.NS_PER_SWITCH))]
    title = "Switch cost: time per hand-off between two tasks"
    if not models:
        title += "\n(baselines only: no model results in this run)"
    fig, (ax,) = new_figure(res, title, height=1.6 + BAR_H * len(bars))
    marks = draw_hdots(ax, bars, "ns", extra_values=[st.median for _, st in lines])
    handles = [ci_handle()]
    for i, (b, st) in enumerate(lines):
        ls = BASELINE_DASHES[i % len(BASELINE_DASHES)]
        ax.axvline(st.median, color=colour(b.model), ls=ls, lw=1.5)
        handles.append(Line2D([], [], color=colour(b.model), ls=ls, lw=1.5,
                              label=f"{b.label()}: {fmt(st.median, 'ns')}"))
    if marks:
        handles.append(marks_handle(marks))
    ax.set_xlabel("ns per switch (log scale)")
    ax.set_ylabel("model" if models else "baseline")
    if lines:
        ax.set_title("dashed lines: baselines measured in the same binary", fontsize="small")
    return one_legend(fig, [ax], 1, handles)


def chart_spawn(res: Results):
    series = sweep(res.ok("spawn"), tidy.NS_PER_TASK, "n")
    if not series:
        return None
    fig, (ax,) = new_figure(res, "Spawn cost: time to spawn and join one task, vs number of tasks N")
    marks = draw_lines(ax, series)
    set_scales(ax, all_x(series), all_y(series), xlog=True)
    ax.set_xlabel("N tasks (log scale)")
    ax.set_ylabel("ns per task" + (" (log scale)" if ax.get_yscale() == "log" else ""))
    ax.grid(alpha=0.3, which="major")
    handles = [model_handle(s.label, s.model, s.ls) for s in series] + [ci_handle()]
    if marks:
        handles.append(marks_handle(marks))
    return one_legend(fig, [ax], 1, handles)


def chart_memory(res: Results):
    rows = res.ok("memory")
    best: dict[str, tidy.Bench] = {}
    for b in rows:   # bytes_per_task is the slope over N: same on every row; take the largest N
        key = b.label(skip=("n",))
        if key not in best or (num(b.params.get("n")) or 0) > (num(best[key].params.get("n")) or 0):
            best[key] = b
    bars = [Bar(k, b.model, st, b.marks) for k, b in best.items()
            if (st := b.stat(tidy.BYTES_PER_TASK))]
    if not bars:
        return None
    fig, (ax,) = new_figure(res, "Memory per task: slope of RSS over the N sweep",
                            height=1.6 + BAR_H * len(bars))
    marks = draw_hbars(ax, bars, "B")
    ax.set_xlabel("bytes per live task" + (" (log scale)" if ax.get_xscale() == "log" else ""))
    handles = [ci_handle()] + ([marks_handle(marks, bars=True)] if marks else [])
    return one_legend(fig, [ax], 1, handles)


def chart_skynet(res: Results):
    rows = res.ok("skynet")
    series = sweep(rows, tidy.NS_PER_TASK, "n")
    if not series:
        return None
    n_top = max(num(b.params.get("n")) or 0 for b in rows)
    at_top = [b for b in rows if num(b.params.get("n")) == n_top]
    bars = [Bar(b.label(skip=("n",)), style_model(b), st, b.marks) for b in at_top
            if (st := b.stat(tidy.TIME_MS))]
    absent = sorted({s.label for s in series} - {b.label for b in bars})
    # The loop models run order:breadth at one N only: one note, not a list.
    breadth = [a for a in absent if "order:breadth" in a]
    absent = [a for a in absent if a not in breadth]
    breadth_ns = sorted({p.x for s in series if s.label in breadth for p in s.points})
    fig, (left, right) = new_figure(res, "Skynet: spawn a tree of tasks and sum the leaves",
                                    ncols=2, height=max(PANEL_H, 1.6 + BAR_H * len(bars)))
    marks = draw_hbars(left, bars, "ms")
    left.set_xlabel("total time (ms" + (", log scale)" if left.get_xscale() == "log" else ")"))
    title = f"time per model at N = {n_top:,.0f}"
    if absent:
        title += f"\nnot run at this N: {', '.join(absent)}"
    if breadth_ns:
        title += f"\norder:breadth only at N = {', '.join(f'{x:,.0f}' for x in breadth_ns)}"
    left.set_title(title, fontsize="small")
    marks |= draw_lines(right, series)
    set_scales(right, all_x(series), all_y(series), xlog=True)
    right.set_xlabel("N tasks (log scale)")
    right.set_ylabel("ns per task" + (" (log scale)" if right.get_yscale() == "log" else ""))
    right.set_title("the N sweep", fontsize="small")
    right.grid(alpha=0.3)
    handles = [model_handle(s.label, s.model, s.ls) for s in series] + [ci_handle()]
    if marks:
        handles.append(marks_handle(marks))
    return one_legend(fig, [left, right], 2, handles)


def _sleep_panels(rows):
    """Burst: a panel per (mode, T). Steady: one panel for the mode, because
    the bench lengthens T with N to keep the admission rate feasible (T is in
    each point's name), so splitting by T would leave single points."""
    panels = []
    for mode, t_ms in panel_keys(rows, ("mode", "sleep_ms")):
        key = (mode, t_ms if mode != "steady" else None)
        if key not in panels:
            panels.append(key)
    return panels


def chart_sleep(res: Results):
    rows = res.ok("sleep")
    panels = _sleep_panels(rows)
    if not rows or not panels:
        return None
    fig, axes = new_figure(res, "Sleep: N tasks each sleeping T ms — wall time / T and "
                                "timer lateness, vs N", nrows=len(panels), ncols=2)
    models, marks = {}, set()
    for i, (mode, t_ms) in enumerate(panels):
        sub = [b for b in rows if b.params.get("mode") == mode
               and (t_ms is None or b.params.get("sleep_ms") == t_ms)]
        wall, late = axes[2 * i], axes[2 * i + 1]
        series = sweep(sub, tidy.WALL_OVER_T, "n", skip=("mode", "sleep_ms"))
        marks |= draw_lines(wall, series)
        models.update({s.label: s.model for s in series})
        wall.axhline(1.0, color="grey", ls=":", lw=1)
        set_scales(wall, all_x(series), all_y(series), xlog=True)
        t_text = f"T = {t_ms} ms" if t_ms is not None else "T grows with N (in each name)"
        wall.set_title(f"{mode}, {t_text}: wall / T (1 = ideal)", fontsize="small")
        wall.set_ylabel("wall time / T")
        ys = []
        for pct, ls in PERCENTILE_STYLES.items():
            ps = sweep(sub, tidy.LATE[pct], "n", skip=("mode", "sleep_ms"))
            marks |= draw_lines(late, ps, ls=ls, lw=1.2, markers=pct == MARKED_PERCENTILE)
            ys += all_y(ps)
        set_scales(late, all_x(series), ys, xlog=True)
        late.set_title(f"{mode}, {t_text}: lateness percentiles", fontsize="small")
        late.set_ylabel("lateness (µs" + (", log scale)" if late.get_yscale() == "log" else ")"))
        for ax in (wall, late):
            ax.set_xlabel("N tasks (log scale)")
            ax.grid(alpha=0.3)
    handles = [model_handle(label, m, ls="-") for label, m in models.items()]
    handles += [Line2D([], [], color="black", ls=ls, label=f"lateness {p}")
                for p, ls in PERCENTILE_STYLES.items()] + [ci_handle()]
    if marks:
        handles.append(marks_handle(marks))
    return one_legend(fig, axes, 2, handles)


def chart_compute(res: Results):
    rows = res.ok("compute")
    series = sweep(rows, tidy.STEPS_PER_S, "yield_every")
    if not series:
        return None
    fig, (ax,) = new_figure(res, "Compute: throughput vs yield granularity "
                                 "(a yield every s steps)")
    marks = draw_lines(ax, series)
    ys = all_y(series)
    nolimit = [(b, st) for b in rows
               if b.params.get("yield_every") == "none" and (st := b.stat(tidy.STEPS_PER_S))]
    for b, st in nolimit:
        ax.axhline(st.median, color=colour(b.model), ls="--", lw=1)
        ys.append(st.median)
    set_scales(ax, all_x(series), ys, xlog=True)
    ax.set_xlabel("s: steps between yields (log scale)")
    ax.set_ylabel("steps per second" + (" (log scale)" if ax.get_yscale() == "log" else ""))
    ax.grid(alpha=0.3)
    handles = [model_handle(s.label, s.model, s.ls) for s in series]
    if nolimit:
        handles.append(Line2D([], [], color="grey", ls="--", label="dashed: same model, no yield"))
    handles.append(ci_handle())
    if marks:
        handles.append(marks_handle(marks))
    return one_legend(fig, [ax], 1, handles)


def chart_multicore(res: Results):
    rows = res.ok("multicore")
    if not rows:
        return None
    series: dict[str, Series] = {}
    for b in rows:
        if len(b.params) != 1 or (st := b.stat(tidy.SPEEDUP)) is None:
            continue
        (key, value), = b.params.items()
        if num(value) is None:
            continue
        label = f"{b.model} ({key})"
        series.setdefault(label, Series(label, b.model, [])).points.append(
            Point(num(value), st, b.marks))
    if not series:
        return f"no speed-ups: {tidy.MULTICORE_REFERENCE} (the reference) is missing"
    for s in distinguish(list(series.values())):
        s.points.sort(key=lambda p: p.x)
    fig, (ax,) = new_figure(res, "Multicore: speed-up over one coroutine loop, vs parallelism")
    marks = draw_lines(ax, list(series.values()))
    top = max(all_x(series.values()))
    ax.plot([1, top], [1, top], color="grey", ls=":", lw=1)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("loops / workers / threads")
    ax.set_ylabel(f"speed-up vs {tidy.MULTICORE_REFERENCE.split('/', 1)[1]} (×)")
    ax.set_xticks(sorted(set(all_x(series.values()))))
    ax.grid(alpha=0.3)
    handles = [model_handle(s.label, s.model, s.ls) for s in series.values()]
    handles += [Line2D([], [], color="grey", ls=":", label="ideal (linear)"), ci_handle()]
    if marks:
        handles.append(marks_handle(marks))
    return one_legend(fig, [ax], 1, handles)


def chart_locks(res: Results):
    rows = res.ok("locks")
    order = {"none": 0, "atomic": 1, "mutex": 2, "async_mutex": 3}
    rows = sorted(rows, key=lambda b: (order.get(b.params.get("sync"), 9),
                                       b.params.get("suspend", ""), tidy.model_rank(b.model)))
    pairs = [(b, t, lost) for b in rows
             if (t := b.stat(tidy.TIME_MS)) and (lost := b.stat(tidy.LOST))]
    if not pairs:
        return None
    fig, (left, right) = new_figure(res, "Locks: shared-counter updates — time and lost updates",
                                    ncols=2, height=1.6 + BAR_H * len(pairs), sharey=True)
    marks = draw_hbars(left, [Bar(b.label(), b.model, t, b.marks) for b, t, _ in pairs], "ms")
    left.set_xlabel("time per run (ms" + (", log scale)" if left.get_xscale() == "log" else ")"))
    lost_bars = [Bar(b.label(), b.model, lost, b.marks) for b, _, lost in pairs]
    spread = max(b.stat.median for b in lost_bars) > LOG_RATIO
    marks |= draw_hbars(right, lost_bars, "count", "symlog" if spread else "linear")
    right.invert_yaxis()   # sharey: undo the second inversion
    right.set_xlabel("lost updates (expected − final)"
                     + (", symlog scale" if right.get_xscale() == "symlog" else ""))
    handles = [ci_handle()] + ([marks_handle(marks, bars=True)] if marks else [])
    return one_legend(fig, [left, right], 2, handles)
