"""The charts of the I/O and peer workloads (echo, brigade, fileread,
blocking, redis, http, the Python microbenchmarks) and of OS threads across
workloads: one function each, tidy.Results -> a Figure, or None.
"""
from __future__ import annotations

import math

from matplotlib.ticker import MaxNLocator, NullLocator

from . import tidy
from .plotkit import (GROUP_W, LEGEND_W, PANEL_H, PANEL_W,
                      all_x, all_y, Bar, bar_handles, ci_handle, colour, draw_grouped_bars,
                      draw_lines, draw_values, err, line_style, Line2D, marker,
                      marks_handle, model_handle, new_figure, one_legend,
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


# The open loop's percentiles, one panel each (p99.9 only where some row has
# it: it needs 100 000 samples, `run --long-open`).
OPEN_PERCENTILES = (("p50", "median (p50)"), ("p99", "p99"), ("p999", "p99.9"))
SATURATED = "saturated"


def chart_echo_latency(res: Results):
    """Small multiples: a panel per percentile (a row per connections x size),
    x = offered rate (msgs/s, the same for every server), y = latency (log),
    a line per server. A saturated point (the server fell behind the offered
    rate) is hollow and not joined: its latency is the censored lower bound of
    a growing queue. At each rate the server with the lowest latency among
    those keeping up is named beside its point, so "who has the lowest tail at
    this load" is read without the legend."""
    rows = [b for b in res.ok("echo") if b.params.get("mode") == "open"]
    if not rows:
        return "no open-loop echo results (mode:open)" if res.ok("echo") else None
    combos = panel_keys(rows, ("conns", "size"))
    pcts = [(p, t) for p, t in OPEN_PERCENTILES if any(b.stat(tidy.ECHO_LAT[p]) for b in rows)]
    if not pcts:
        return "open-loop echo rows have no latency percentile (too few samples)"
    fig, axes = new_figure(res, "Echo, open loop: latency vs offered rate (lower is better; "
                                "named: lowest at that rate)", nrows=len(combos), ncols=len(pcts),
                           sharey=True)
    labels, xs_all, saturated = {}, set(), False
    for r, (conns, size) in enumerate(combos):
        sub = [b for b in rows if (b.params.get("conns"), b.params.get("size")) == (conns, size)]
        for c, (pct, title) in enumerate(pcts):
            ax = axes[r * len(pcts) + c]
            series = sweep(sub, tidy.ECHO_LAT[pct], "rate", skip=("conns", "size", "mode"))
            saturated |= _draw_open_lines(ax, series)
            labels.update({s.label: s.model for s in series})
            xs_all.update(all_x(series))
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{title}, {conns} connections, {size} B", fontsize="small")
            ax.set_xlabel("offered rate (messages/s, log scale)")
            if c == 0:
                ax.set_ylabel("latency (µs, log scale)")
            ax.grid(alpha=0.3, which="both")
    for ax in axes:
        ax.set_xticks(sorted(xs_all), [f"{x / 1000:g}k" for x in sorted(xs_all)])
        ax.xaxis.set_minor_locator(NullLocator())
        lo, hi = min(xs_all), max(xs_all)
        ax.set_xlim(lo / 1.35, hi * 1.35)
        y0, y1 = ax.get_ylim()
        ax.set_ylim(y0 / 1.6, y1)   # room for the name under the lowest point
    handles = [model_handle(k, m) for k, m in labels.items()] + [ci_handle()]
    if saturated:
        handles.append(Line2D([], [], ls="", marker="o", ms=7, mfc="white", mec="black",
                              label="hollow: saturated (fell behind the\noffered rate in some process)"))
    return one_legend(fig, axes, len(pcts), handles)


def _draw_open_lines(ax, series) -> bool:
    """Lines through the points where a server kept up, hollow unjoined points
    where it was saturated, the lowest kept-up point at each rate named.
    True if any point was saturated."""
    best: dict[float, tuple] = {}
    any_saturated = False
    for s in series:
        ok = [p for p in s.points if SATURATED not in p.marks]
        sat = [p for p in s.points if SATURATED in p.marks]
        any_saturated |= bool(sat)
        col, mk = colour(s.model), marker(s.model)
        for run in _kept_up_runs(s.points):   # a line never crosses a saturated rate
            ax.errorbar([p.x for p in run], [p.stat.median for p in run],
                        yerr=err([p.stat for p in run]), color=col,
                        ls=s.ls or line_style(s.model), marker=mk, ms=5, lw=1.2, capsize=2,
                        elinewidth=0.8)
            draw_values(ax, [p.x for p in run], [p.stat for p in run], vertical=True)
        if sat:
            ax.plot([p.x for p in sat], [p.stat.median for p in sat], ls="", marker=mk, ms=6,
                    mfc="white", mec=col, mew=1.2, zorder=4)
        for p in ok:
            if p.x not in best or p.stat.median < best[p.x][0]:
                best[p.x] = (p.stat.median, s)
    for x, (y, s) in best.items():
        ax.annotate(s.model or s.label, (x, y), xytext=(0, -9), textcoords="offset points",
                    ha="center", va="top", fontsize="x-small", fontweight="bold",
                    color=colour(s.model),
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8),
                    zorder=7)
    return any_saturated


def _kept_up_runs(points) -> list[list]:
    """The points (sorted by rate) split into runs of consecutive rates at
    which the server kept up."""
    runs, cur = [], []
    for p in points:
        if SATURATED in p.marks:
            if cur:
                runs.append(cur)
            cur = []
        else:
            cur.append(p)
    return runs + ([cur] if cur else [])


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


def chart_sql(res: Results):
    return _server_chart(res, "sql", ("query",),
                         "MariaDB: requests per second, sequential vs concurrent clients")


def chart_http(res: Results):
    return _server_chart(res, "http", ("size",),
                         "HTTP: requests per second, sequential vs concurrent clients")
