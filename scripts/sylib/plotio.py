"""The charts of the I/O and peer workloads (echo, brigade, fileread,
blocking, redis, http, the Python microbenchmarks) and of OS threads across
workloads: one function each, tidy.Results -> a Figure, or None.
"""
from __future__ import annotations

import math

from matplotlib.ticker import MaxNLocator

from . import tidy
from .plotkit import (GROUP_W, LEGEND_W, MARKED_PERCENTILE, PANEL_H, PANEL_W, PERCENTILE_STYLES,
                      all_x, all_y, Bar, bar_handles, ci_handle, colour, draw_grouped_bars,
                      draw_lines, Line2D, marks_handle, model_handle, new_figure, one_legend,
                      panel_figure, panel_keys, Patch, set_scales, sweep)
from .tidy import Results, Stat, num


def chart_echo_throughput(res: Results):
    rows = [b for b in res.ok("echo") if b.params.get("mode") == "closed"]
    sizes = panel_keys(rows, ("size",))
    if not rows:
        return "no closed-loop echo results (mode:closed)" if res.ok("echo") else None
    fig, axes, ncols = panel_figure(res, "Echo, closed loop: throughput vs connections",
                                    len(sizes))
    labels, marks = {}, set()
    for ax, (size,) in zip(axes, sizes):
        sub = [b for b in rows if b.params.get("size") == size]
        series = sweep(sub, tidy.MSGS_PER_S, "conns", skip=("size", "mode"))
        marks |= draw_lines(ax, series)
        labels.update({s.label: s.model for s in series})
        set_scales(ax, all_x(series), all_y(series), xlog=True)
        ax.set_title(f"message size {size} B", fontsize="small")
        ax.set_xlabel("connections (log scale)")
        ax.set_ylabel("messages per second")
        ax.grid(alpha=0.3)
    handles = [model_handle(k, m) for k, m in labels.items()] + [ci_handle()]
    if marks:
        handles.append(marks_handle(marks))
    return one_legend(fig, axes, ncols, handles)


def chart_echo_latency(res: Results):
    rows = [b for b in res.ok("echo") if b.params.get("mode") == "open"]
    panels = panel_keys(rows, ("conns", "size"))
    if not rows:
        return "no open-loop echo results (mode:open)" if res.ok("echo") else None
    fig, axes, ncols = panel_figure(res, "Echo, open loop: latency percentiles vs offered rate",
                                    len(panels))
    labels, marks = {}, set()
    for ax, (conns, size) in zip(axes, panels):
        sub = [b for b in rows if (b.params.get("conns"), b.params.get("size")) == (conns, size)]
        xs, ys = [], []
        for pct in PERCENTILE_STYLES:
            series = sweep(sub, tidy.ECHO_LAT[pct], "rate", skip=("conns", "size", "mode"))
            marks |= draw_lines(ax, series, ls=PERCENTILE_STYLES[pct], lw=1.2,
                                markers=pct == MARKED_PERCENTILE)
            labels.update({s.label: s.model for s in series})
            xs += all_x(series)
            ys += all_y(series)
        set_scales(ax, xs, ys, ylog=True)
        ax.set_title(f"{conns} connections, {size} B messages", fontsize="small")
        # the rate parameter is a share of each server's own closed-loop
        # maximum in the same run (echo.cpp), not messages per second
        ax.set_xlabel("offered rate (% of the server's closed-loop maximum"
                      + (", log scale)" if ax.get_xscale() == "log" else ")"))
        ax.set_ylabel("latency (µs, log scale)")
        ax.grid(alpha=0.3)
    handles = [model_handle(k, m, ls="-") for k, m in labels.items()]
    handles += [Line2D([], [], color="black", ls=ls, label=f"latency {p}")
                for p, ls in PERCENTILE_STYLES.items()] + [ci_handle()]
    if marks:
        handles.append(marks_handle(marks))
    return one_legend(fig, axes, ncols, handles)


def _by_group(rows, metric, keys, values_only=False) -> tuple[list[str], list]:
    """Rows -> (group labels, [(label, model, [Bar or None per group])]);
    labels 'k:v' per line, or the values alone (the axis label names keys)."""
    groups = ["\n".join(str(v) if values_only else f"{k}:{v}"
                        for k, v in zip(keys, g) if v is not None)
              for g in panel_keys(rows, keys)]
    series: dict[str, tuple] = {}
    for b in rows:
        st = b.stat(metric)
        if st is None:
            continue
        g = "\n".join(str(b.params[k]) if values_only else f"{k}:{b.params[k]}"
                      for k in keys if k in b.params)
        label = b.label(skip=keys)
        entry = series.setdefault(label, (label, b.model, [None] * len(groups)))
        entry[2][groups.index(g)] = Bar(label, b.model, st, b.marks)
    return groups, list(series.values())


def _grouped_bar_chart(res: Results, workload: str, metric, keys, title: str, xlabel: str,
                       ylabel: str, values_only=False):
    """One panel of grouped bars (a group per parameter combination)."""
    groups, series = _by_group(res.ok(workload), metric, keys, values_only)
    if not series:
        return None
    fig, (ax,) = new_figure(res, title)
    marks = draw_grouped_bars(ax, groups, series)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log scale)" if ax.get_yscale() == "log" else ""))
    handles = bar_handles(series) + [ci_handle()]
    if marks:
        handles.append(marks_handle(marks, bars=True))
    return one_legend(fig, [ax], 1, handles)


# The grouped-bar charts: name -> (workload, metric, params that make a group,
# title, x label, y label[, draw the values only]).
GROUPED = {
    "brigade": ("brigade", tidy.US_PER_HOP, ("tasks",),
                "Brigade: time per hop of a token passed along K tasks",
                "K tasks in the chain", "µs per hop"),
    "fileread": ("fileread", tidy.IOPS, ("qd", "direct"),
                 "File reads: IOPS by queue depth and O_DIRECT",
                 "queue depth (qd) and O_DIRECT (direct)", "reads per second (IOPS)"),
    "pyswitch": ("pyswitch", tidy.NS_PER_SWITCH, (),
                 "Python: time per switch (await asyncio.sleep(0), gevent.sleep(0), "
                 "thread Event ping-pong)", "system", "ns per switch"),
    "pygather": ("pygather", tidy.WALL_OVER_T, ("n",),
                 "Python: N concurrent sleeps of T — wall time / T (ideal 1)",
                 "N sleepers", "wall time / T"),
    "pyexecutor": ("pyexecutor", tidy.NS_PER_CALL, ("executor", "fn"),
                   "Python: run_in_executor — time per call, thread and process pools",
                   "pool and function (blocking sleep or CPU-bound)", "ns per call", True),
}


def grouped_chart(name: str):
    spec = GROUPED[name]
    return lambda res: _grouped_bar_chart(res, *spec)


chart_brigade = grouped_chart("brigade")
chart_fileread = grouped_chart("fileread")
chart_pyswitch = grouped_chart("pyswitch")
chart_pygather = grouped_chart("pygather")
chart_pyexecutor = grouped_chart("pyexecutor")


def chart_blocking(res: Results):
    """Claim 9: wall time of K blocking calls and the loop's longest heartbeat
    gap, direct (on the loop thread) vs offloaded to a pool."""
    rows = res.ok("blocking")
    keys = ("mode", "k")
    panels = [(m, _by_group(rows, m, keys)) for m in (tidy.WALL_MS, tidy.HEARTBEAT)]
    if not any(series for _, (_, series) in panels):
        return None
    fig, axes = new_figure(res, "Blocking: K calls that block 10 ms each — wall time and the "
                                "loop's longest heartbeat gap", ncols=2)
    marks, labels = set(), {}
    for ax, (metric, (groups, series)) in zip(axes, panels):
        marks |= draw_grouped_bars(ax, groups, series)
        labels.update({label: model for label, model, _ in series})
        ax.set_xlabel("where the blocking call runs (mode) and K calls")
        ax.set_ylabel(metric.label[:-1] + (", log scale)" if ax.get_yscale() == "log" else ")"))
        ax.set_title("wall time of the K calls" if metric is tidy.WALL_MS else
                     "longest gap between 1 ms heartbeats (small = loop stays responsive)",
                     fontsize="small")
    handles = [Patch(facecolor=colour(m), edgecolor="black", label=label)
               for label, m in labels.items()] + [ci_handle()]
    if marks:
        handles.append(marks_handle(marks, bars=True))
    return one_legend(fig, axes, 2, handles)


def chart_os_threads(res: Results):
    """Claim 3: the most OS threads a loop model's process had during a
    repetition, per workload (configurations that ask for more threads, like
    loops:2 or mode:offload, are left out, as in the claim)."""
    rows = [b for b in res.benches if b.status == "ok" and b.model in tidy.LOOP_MODELS
            and tidy.single_threaded_config(b.params) and b.stat(tidy.OS_THREADS)]
    if not rows:
        return "no loop-model row carries the counter os_threads" if res.benches else None
    groups = [w for w in res.workloads() if any(b.workload == w for b in rows)]
    series = []
    for model in tidy.LOOP_MODELS:
        bars = [None] * len(groups)
        for i, w in enumerate(groups):
            mine = [b for b in rows if b.model == model and b.workload == w]
            if mine:
                peak = max(max(r["os_threads"] for r in b.reps if "os_threads" in r)
                           for b in mine)
                bars[i] = Bar(model, model, Stat(peak, math.nan, math.nan, 1),
                              tuple(sorted({m for b in mine for m in b.marks})))
        if any(bars):
            series.append((model, model, bars))
    fig, (ax,) = new_figure(res, "OS threads per process of the loop models, per workload "
                                 "(most in any repetition)")
    fig.set_size_inches(max(PANEL_W, GROUP_W * len(groups)) + LEGEND_W, PANEL_H)
    marks = draw_grouped_bars(ax, groups, series, log=False)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.axhline(1.0, color="grey", ls=":", lw=1)
    ax.set_ylim(0, max(2.0, max(b.stat.median for _, _, bs in series for b in bs if b) + 0.5))
    ax.set_xlabel("workload (single-loop configurations)")
    ax.set_ylabel("OS threads (most during a repetition)")
    handles = bar_handles(series) + [Line2D([], [], color="grey", ls=":", label="one thread")]
    if marks:
        handles.append(marks_handle(marks, bars=True))
    return one_legend(fig, [ax], 1, handles)


def _server_chart(res: Results, workload: str, keys: tuple, title: str):
    """Claim 12: requests/s vs concurrency (sequential = concurrency 1), one
    line per model, a panel per remaining parameter combination."""
    rows = [b for b in res.ok(workload) if num(b.params.get("concurrency")) is not None]
    panels = panel_keys(rows, keys)
    if not rows:
        return None
    fig, axes, ncols = panel_figure(res, title, len(panels))
    labels, marks, ys = {}, set(), []
    for ax, key in zip(axes, panels):
        sub = [b for b in rows if tuple(b.params.get(k) for k in keys) == key]
        series = sweep(sub, tidy.REQ_PER_S, "concurrency", skip=("mode", *keys))
        marks |= draw_lines(ax, series)
        labels.update({s.label: (s.model, s.ls) for s in series})
        ys += all_y(series)
        ax.set_xscale("log")
        ax.set_xticks(sorted(set(all_x(series))), [f"{x:g}" for x in sorted(set(all_x(series)))])
        ax.set_title(", ".join(f"{k}:{v}" for k, v in zip(keys, key) if v is not None),
                     fontsize="small")
        ax.set_xlabel("concurrent clients (1 = sequential; log scale)")
        ax.set_ylabel("requests per second")
        ax.grid(alpha=0.3)
    for ax in axes[:len(panels)]:
        set_scales(ax, ys=ys)
    handles = [model_handle(k, m, ls) for k, (m, ls) in labels.items()] + [ci_handle()]
    if marks:
        handles.append(marks_handle(marks))
    return one_legend(fig, axes, ncols, handles)


def chart_redis(res: Results):
    return _server_chart(res, "redis", ("op", "pipeline"),
                         "Redis: requests per second, sequential vs concurrent clients")


def chart_http(res: Results):
    return _server_chart(res, "http", ("size",),
                         "HTTP: requests per second, sequential vs concurrent clients")
