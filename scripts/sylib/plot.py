"""Charts of a results directory: tidy rows -> matplotlib figures -> PNG + SVG.

One function per chart takes `tidy.Results` and returns a Figure, or a
string saying why it cannot be drawn (the report lists it; no empty
pictures). `render_all` writes every chart into <results>/charts/.

Every chart: a title saying what was measured, axis labels with units, one
legend, a fixed colour per model (Okabe-Ito for the 7 models: colour-blind
safe, plus a distinct marker each), capped / oversubscribed / client-bound
points marked (hollow black square on lines, hatching on bars), and a footer
with the short machine fingerprint and date. Points are medians of the
repetitions; error bars are the 95% bootstrap CI of the median (tidy.py).
Axes go logarithmic when the values span more than LOG_RATIO.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import EngFormatter, MaxNLocator  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from . import tidy  # noqa: E402
from .fingerprint import short  # noqa: E402
from .results import InputError  # noqa: E402
from .tidy import Results, Stat, fmt, is_baseline, natural_key, num  # noqa: E402

# Okabe-Ito for the models; greys/browns for baselines; other hues for peers.
COLOURS = {
    "thread": "#0072B2", "pool": "#56B4E9", "fiber": "#009E73", "coroutine": "#D55E00",
    "coroutine_uring": "#E69F00", "uring": "#CC79A7", "libuv": "#000000",
    "bare_call": "#7F7F7F", "bare_coroutine": "#8C564B", "bare_fcontext": "#C49C94",
    "futex": "#BCBD22", "epoll": "#17BECF", "thread_ref": "#1F77B4",
    "py_asyncio": "#9467BD", "py_asyncio_proto": "#C5B0D5", "py_uvloop": "#8C6D31",
    "py_uvloop_proto": "#BD9E39", "py_gevent": "#E7969C", "py_threads": "#AD494A",
    "node": "#637939", "go_gomaxprocs1": "#7B4173", "go": "#A55194", "wrk": "#393B79",
}
MARKERS = {"thread": "o", "pool": "s", "fiber": "^", "coroutine": "D", "coroutine_uring": "v",
           "uring": "P", "libuv": "X"}
OTHER_COLOUR = "#555555"
SVG_HASHSALT = "switchyard"    # fixed: SVG ids and so the files are reproducible
PEER_MARKER = "*"
BASELINE_DASHES = (":", "--", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)), (0, (8, 2)))
PERCENTILE_STYLES = {"p50": ":", "p99": "-", "p999": "--"}
MARKED_PERCENTILE = "p99"                # the others are drawn without markers
SAME_MODEL_DASHES = ("--", ":", "-.")   # 2nd, 3rd, ... series of one model in a chart

LOG_RATIO = 20.0            # max/min above which an axis goes logarithmic
SYMLOG_TEXT_MIN = 0.2        # where a zero bar's value goes on a symlog axis
ENG_FROM = 1e4              # a linear axis reaching this gets 10k/1M style tick labels
PANEL_W, PANEL_H = 5.2, 3.6  # inches per panel
LEGEND_W = 2.4               # inches reserved for the legend on the right
BAR_H = 0.36                 # inches per horizontal bar
GROUP_W = 0.9                # inches per group of vertical bars, where groups are many
DPI = 110
TITLE_SIZE = 12
FOOTER_SIZE = 7
FOOTER_H = 0.22              # inches kept free at the bottom for the footer
FOOTER_COLOUR = "#555555"
MARK_SIZE = 11
CI_TEXT = "median of repetitions, error bar: 95% CI"


def colour(model: str) -> str:
    return COLOURS.get(model, OTHER_COLOUR)


def line_style(model: str) -> str:
    if is_baseline(model):
        return "--"
    return "-." if model in tidy.PEERS else "-"


def marker(model: str) -> str:
    return MARKERS.get(model, PEER_MARKER if model in tidy.PEERS else ".")


def footer(res: Results) -> str:
    fp = short(res.fingerprint) if res.fingerprint else \
        "no machine fingerprint (plain Google Benchmark output)"
    return f"{fp} · {res.date or 'date unknown'}"


def spans_decades(values) -> bool:
    v = [x for x in values if x is not None and math.isfinite(x) and x > 0]
    return bool(v) and max(v) / min(v) > LOG_RATIO


# ---- figure scaffolding --------------------------------------------------------------

def new_figure(res: Results, title: str, nrows=1, ncols=1, height=None, sharey=False):
    width, height = PANEL_W * ncols + LEGEND_W, height or PANEL_H * nrows
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.get_layout_engine().set(rect=(0, FOOTER_H / height, 1, 1 - FOOTER_H / height))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=sharey).ravel().tolist()
    fig.suptitle(title, fontsize=TITLE_SIZE)
    fig.text(0.995, 0.01, footer(res), ha="right", va="bottom", fontsize=FOOTER_SIZE,
             color=FOOTER_COLOUR)
    return fig, axes


# A legend entry needs about this much height (inches) at fontsize "small".
LEGEND_ENTRY_H = 0.2


def one_legend(fig, axes, ncols, handles):
    """The figure's single legend, outside the top-right panel. A figure too
    short for all entries (e.g. one panel, a dozen peer systems) grows, so the
    legend never runs into the footer."""
    if handles:
        axes[ncols - 1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                               borderaxespad=0.0, fontsize="small", frameon=False)
        need = LEGEND_ENTRY_H * len(handles) + FOOTER_H + 0.8  # title and margins
        width, height = fig.get_size_inches()
        if need > height:
            fig.set_size_inches(width, need)
            fig.get_layout_engine().set(rect=(0, FOOTER_H / need, 1, 1 - FOOTER_H / need))
    return fig


def model_handle(label: str, model: str, ls=None) -> Line2D:
    return Line2D([], [], color=colour(model), ls=ls or line_style(model), marker=marker(model),
                  label=label)


def marks_handle(marks, bars=False):
    label = " / ".join(sorted(m.replace("_", "-") for m in marks))
    if bars:
        return Patch(facecolor="white", edgecolor="black", hatch="///", label=label)
    return Line2D([], [], ls="", marker="s", ms=MARK_SIZE, mfc="none", mec="black", label=label)


def ci_handle() -> Line2D:
    return Line2D([], [], color="black", marker="|", ms=8, ls="-", lw=0.8, label=CI_TEXT)


def _err(stats: list[Stat]):
    lo = [s.median - s.lo if math.isfinite(s.lo) else 0.0 for s in stats]
    hi = [s.hi - s.median if math.isfinite(s.hi) else 0.0 for s in stats]
    return [lo, hi]


# ---- drawing helpers -----------------------------------------------------------------

@dataclass
class Point:
    x: float
    stat: Stat
    marks: tuple


@dataclass
class Series:
    label: str
    model: str
    points: list
    ls: str | None = None     # set when another series of the chart has the same model


def sweep(rows, metric, xkey: str, skip=()) -> list[Series]:
    """Rows -> one Series per label (model + other params), x from param xkey."""
    out: dict[str, Series] = {}
    for b in rows:
        x, st = num(b.params.get(xkey)), b.stat(metric)
        if x is None or st is None:
            continue
        label = b.label(skip=(xkey, *skip))
        out.setdefault(label, Series(label, b.model, [])).points.append(Point(x, st, b.marks))
    for s in out.values():
        s.points.sort(key=lambda p: p.x)
    return distinguish(list(out.values()))


def distinguish(series: list[Series]) -> list[Series]:
    """Series sharing a model (e.g. skynet shape:sequential) get other dashes."""
    seen: dict[str, int] = {}
    for s in series:
        k = seen.get(s.model, 0)
        if k:
            s.ls = SAME_MODEL_DASHES[(k - 1) % len(SAME_MODEL_DASHES)]
        seen[s.model] = k + 1
    return series


def draw_lines(ax, series: list[Series], *, ls=None, lw=1.6, markers=True) -> set:
    """Median with CI error bars per series; marked points get a hollow square."""
    marks = set()
    for s in series:
        xs = [p.x for p in s.points]
        ys = [p.stat.median for p in s.points]
        ax.errorbar(xs, ys, yerr=_err([p.stat for p in s.points]), color=colour(s.model),
                    ls=ls or s.ls or line_style(s.model),
                    marker=marker(s.model) if markers else None, ms=5, lw=lw,
                    capsize=2, elinewidth=0.8)
        for p in s.points:
            if p.marks:
                marks.update(p.marks)
                ax.plot([p.x], [p.stat.median], ls="", marker="s", ms=MARK_SIZE, mfc="none",
                        mec="black", mew=1.2, zorder=5)
    return marks


def set_scales(ax, xs=(), ys=(), xlog=None, ylog=None):
    """Log where asked or where values span decades; readable big linear ticks."""
    for axis, set_scale, values, log in ((ax.xaxis, ax.set_xscale, xs, xlog),
                                         (ax.yaxis, ax.set_yscale, ys, ylog)):
        if log or (log is None and spans_decades(values)):
            set_scale("log")
        elif max((abs(v) for v in values if math.isfinite(v)), default=0) >= ENG_FROM:
            axis.set_major_formatter(EngFormatter(sep=""))


def all_x(series):
    return [p.x for s in series for p in s.points]


def all_y(series):
    return [v for s in series for p in s.points for v in (p.stat.median, p.stat.lo, p.stat.hi)]


@dataclass
class Bar:
    label: str
    model: str
    stat: Stat
    marks: tuple


def draw_hbars(ax, bars: list[Bar], unit: str, scale: str | None = None,
               extra_values=()) -> set:
    """Horizontal bars, first on top, value printed at the end of each bar.
    scale: linear, log or symlog (counts with zeros); None: log if values span decades."""
    ys = list(range(len(bars)))
    meds = [b.stat.median for b in bars]
    values = meds + [v for b in bars for v in (b.stat.lo, b.stat.hi)] + list(extra_values)
    scale = scale or ("log" if spans_decades(values) else "linear")
    rects = ax.barh(ys, meds, xerr=_err([b.stat for b in bars]),
                    color=[colour(b.model) for b in bars], edgecolor="black", linewidth=0.4,
                    error_kw={"elinewidth": 0.9, "capsize": 3}, height=0.7)
    marks = set()
    for r, b in zip(rects, bars):
        if b.marks:
            r.set_hatch("///")
            marks.update(b.marks)
    ax.set_yticks(ys, [b.label for b in bars])
    ax.invert_yaxis()
    finite = [v for v in values if v is not None and math.isfinite(v)]
    top = max(finite) if finite else 1.0
    if scale == "log":
        ax.set_xscale("log")
        positive = [v for v in finite if v > 0] or [1.0]
        ax.set_xlim(min(positive) / 3, top * 12)
    elif scale == "symlog":
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(0, top * 30)
    else:
        ax.set_xlim(0, top * 1.3 if top > 0 else 1.0)
    for y, b in zip(ys, bars):
        end = b.stat.hi if math.isfinite(b.stat.hi) else b.stat.median
        x = end + top * 0.02 if scale == "linear" else max(end * 1.25, SYMLOG_TEXT_MIN)
        ax.text(x, y, fmt(b.stat.median, unit), va="center", fontsize="small")
    ax.grid(axis="x", which="major", alpha=0.3)
    return marks


def draw_hdots(ax, bars: list[Bar], unit: str, extra_values=()) -> set:
    """One dot per row (median) with its interval, first on top, on a log x
    axis: unlike a bar, a dot's size does not depend on where the axis starts.
    Marked rows get a hollow black square."""
    ys = list(range(len(bars)))
    values = [v for b in bars for v in (b.stat.median, b.stat.lo, b.stat.hi)] + list(extra_values)
    marks = set()
    for y, b in zip(ys, bars):
        ax.errorbar([b.stat.median], [y], xerr=_err([b.stat]), color=colour(b.model),
                    marker=marker(b.model), ms=7, ls="", capsize=3, elinewidth=0.9)
        if b.marks:
            marks.update(b.marks)
            ax.plot([b.stat.median], [y], ls="", marker="s", ms=MARK_SIZE, mfc="none",
                    mec="black", mew=1.2, zorder=5)
        ax.text(b.stat.median, y - 0.32, fmt(b.stat.median, unit), ha="center",
                fontsize="x-small")
    ax.set_yticks(ys, [b.label for b in bars])
    ax.set_ylim(len(bars) - 0.5, -0.7)
    positive = [v for v in values if v is not None and math.isfinite(v) and v > 0] or [1.0]
    ax.set_xscale("log")
    ax.set_xlim(min(positive) / 2, max(positive) * 2)
    ax.grid(axis="x", which="both", alpha=0.3)
    return marks


def draw_grouped_bars(ax, groups: list[str], series: list[tuple[str, str, list]],
                      log: bool | None = None) -> set:
    """Vertical bars: one cluster per group, one bar per series (label, model, stats)."""
    width = 0.8 / max(len(series), 1)
    values = [v for _, _, bars in series for b in bars if b
              for v in (b.stat.median, b.stat.lo, b.stat.hi)]
    marks = set()
    for i, (label, model, sts) in enumerate(series):
        xs = [g + (i - (len(series) - 1) / 2) * width for g, s in enumerate(sts) if s]
        present = [s for s in sts if s]
        rects = ax.bar(xs, [s.stat.median for s in present], width=width,
                       yerr=_err([s.stat for s in present]), color=colour(model),
                       edgecolor="black", linewidth=0.4, label=label,
                       error_kw={"elinewidth": 0.8, "capsize": 2})
        for r, s in zip(rects, present):
            if s.marks:
                r.set_hatch("///")
                marks.update(s.marks)
    ax.set_xticks(range(len(groups)), groups)
    set_scales(ax, ys=values, ylog=log)
    ax.grid(axis="y", alpha=0.3)
    return marks


def bar_handles(series) -> list:
    return [Patch(facecolor=colour(model), edgecolor="black", label=label)
            for label, model, _ in series]


# ---- the charts ----------------------------------------------------------------------

def chart_switch(res: Results):
    rows = res.ok("switch")
    models = [b for b in rows if not is_baseline(b.model)]
    refs = [b for b in rows if is_baseline(b.model)]
    shown = models or refs
    bars = [Bar(b.label(), b.model, st, b.marks) for b in shown
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
    bars = [Bar(b.label(skip=("n",)), b.model, st, b.marks) for b in at_top
            if (st := b.stat(tidy.TIME_MS))]
    absent = sorted({s.label for s in series} - {b.label for b in bars})
    fig, (left, right) = new_figure(res, "Skynet: spawn a tree of tasks and sum the leaves",
                                    ncols=2, height=max(PANEL_H, 1.6 + BAR_H * len(bars)))
    marks = draw_hbars(left, bars, "ms")
    left.set_xlabel("total time (ms" + (", log scale)" if left.get_xscale() == "log" else ")"))
    title = f"time per model at N = {n_top:,.0f}"
    if absent:
        title += f"\nnot run at this N: {', '.join(absent)}"
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


def _panel_keys(rows, keys) -> list[tuple]:
    seen = []
    for b in rows:
        k = tuple(b.params.get(k) for k in keys)
        if k not in seen:
            seen.append(k)
    return sorted(seen, key=natural_key)


def _sleep_panels(rows):
    """Burst: a panel per (mode, T). Steady: one panel for the mode, because
    the bench lengthens T with N to keep the admission rate feasible (T is in
    each point's name), so splitting by T would leave single points."""
    panels = []
    for mode, t_ms in _panel_keys(rows, ("mode", "sleep_ms")):
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


def chart_echo_throughput(res: Results):
    rows = [b for b in res.ok("echo") if b.params.get("mode") == "closed"]
    sizes = _panel_keys(rows, ("size",))
    if not rows:
        return "no closed-loop echo results (mode:closed)" if res.ok("echo") else None
    ncols = min(len(sizes), 2)
    nrows = math.ceil(len(sizes) / ncols)
    fig, axes = new_figure(res, "Echo, closed loop: throughput vs connections",
                           nrows=nrows, ncols=ncols, sharey=True)
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
    for ax in axes[len(sizes):]:
        ax.set_visible(False)
    handles = [model_handle(k, m) for k, m in labels.items()] + [ci_handle()]
    if marks:
        handles.append(marks_handle(marks))
    return one_legend(fig, axes, ncols, handles)


def chart_echo_latency(res: Results):
    rows = [b for b in res.ok("echo") if b.params.get("mode") == "open"]
    panels = _panel_keys(rows, ("conns", "size"))
    if not rows:
        return "no open-loop echo results (mode:open)" if res.ok("echo") else None
    ncols = min(len(panels), 2)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = new_figure(res, "Echo, open loop: latency percentiles vs offered rate",
                           nrows=nrows, ncols=ncols, sharey=True)
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
    for ax in axes[len(panels):]:
        ax.set_visible(False)
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
              for g in _panel_keys(rows, keys)]
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


def chart_brigade(res: Results):
    return _grouped_bar_chart(res, "brigade", tidy.US_PER_HOP, ("tasks",),
                              "Brigade: time per hop of a token passed along K tasks",
                              "K tasks in the chain", "µs per hop")


def chart_fileread(res: Results):
    return _grouped_bar_chart(res, "fileread", tidy.IOPS, ("qd", "direct"),
                              "File reads: IOPS by queue depth and O_DIRECT",
                              "queue depth (qd) and O_DIRECT (direct)", "reads per second (IOPS)")


def chart_pyswitch(res: Results):
    return _grouped_bar_chart(res, "pyswitch", tidy.NS_PER_SWITCH, (),
                              "Python: time per switch (await asyncio.sleep(0), gevent.sleep(0), "
                              "thread Event ping-pong)", "system", "ns per switch")


def chart_pygather(res: Results):
    return _grouped_bar_chart(res, "pygather", tidy.WALL_OVER_T, ("n",),
                              "Python: N concurrent sleeps of T — wall time / T (ideal 1)",
                              "N sleepers", "wall time / T")


def chart_pyexecutor(res: Results):
    return _grouped_bar_chart(res, "pyexecutor", tidy.NS_PER_CALL, ("executor", "fn"),
                              "Python: run_in_executor — time per call, thread and process pools",
                              "pool and function (blocking sleep or CPU-bound)",
                              "ns per call", values_only=True)


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


def _server_chart(res: Results, workload: str, panel_keys: tuple, title: str):
    """Claim 12: requests/s vs concurrency (sequential = concurrency 1), one
    line per model, a panel per remaining parameter combination."""
    rows = [b for b in res.ok(workload) if num(b.params.get("concurrency")) is not None]
    panels = _panel_keys(rows, panel_keys)
    if not rows:
        return None
    ncols = min(len(panels), 2)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = new_figure(res, title, nrows=nrows, ncols=ncols, sharey=True)
    labels, marks, ys = {}, set(), []
    for ax, key in zip(axes, panels):
        sub = [b for b in rows if tuple(b.params.get(k) for k in panel_keys) == key]
        series = sweep(sub, tidy.REQ_PER_S, "concurrency", skip=("mode", *panel_keys))
        marks |= draw_lines(ax, series)
        labels.update({s.label: (s.model, s.ls) for s in series})
        ys += all_y(series)
        ax.set_xscale("log")
        ax.set_xticks(sorted(set(all_x(series))), [f"{x:g}" for x in sorted(set(all_x(series)))])
        ax.set_title(", ".join(f"{k}:{v}" for k, v in zip(panel_keys, key) if v is not None),
                     fontsize="small")
        ax.set_xlabel("concurrent clients (1 = sequential; log scale)")
        ax.set_ylabel("requests per second")
        ax.grid(alpha=0.3)
    for ax in axes[:len(panels)]:
        set_scales(ax, ys=ys)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
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


ANY_WORKLOAD = "*"           # a chart drawn from every workload's rows


@dataclass(frozen=True)
class Chart:
    name: str            # file stem under charts/
    workload: str        # or ANY_WORKLOAD
    what: str            # one line for the report and README
    draw: Callable


CHARTS = (
    Chart("switch", "switch", "ns per switch per model, baselines as reference lines",
          chart_switch),
    Chart("spawn", "spawn", "ns per spawned task vs N, per model", chart_spawn),
    Chart("memory", "memory", "bytes per live task per model", chart_memory),
    Chart("skynet", "skynet", "skynet time per model and ns/task over the N sweep",
          chart_skynet),
    Chart("sleep", "sleep", "wall/T and lateness percentiles vs N", chart_sleep),
    Chart("compute", "compute", "throughput vs yield granularity, no-yield dashed",
          chart_compute),
    Chart("multicore", "multicore", "speed-up vs parallelism", chart_multicore),
    Chart("locks", "locks", "time and lost updates per synchronisation", chart_locks),
    Chart("echo_throughput", "echo", "closed-loop throughput vs connections, per size",
          chart_echo_throughput),
    Chart("echo_latency", "echo", "open-loop latency percentiles vs offered rate",
          chart_echo_latency),
    Chart("brigade", "brigade", "µs per hop per model", chart_brigade),
    Chart("fileread", "fileread", "IOPS per model, queue depth and O_DIRECT", chart_fileread),
    Chart("blocking", "blocking", "wall time and heartbeat gap, direct vs offloaded",
          chart_blocking),
    Chart("redis", "redis", "requests/s vs concurrent clients, per op and pipeline",
          chart_redis),
    Chart("http", "http", "requests/s vs concurrent clients, per response size", chart_http),
    Chart("pyswitch", "pyswitch", "Python switch cost per system", chart_pyswitch),
    Chart("pygather", "pygather", "Python gather of N sleepers: wall/T", chart_pygather),
    Chart("pyexecutor", "pyexecutor", "Python run_in_executor time per call",
          chart_pyexecutor),
    Chart("os_threads", ANY_WORKLOAD, "OS threads per loop-model process, per workload",
          chart_os_threads),
)


@dataclass
class Made:
    chart: Chart
    png: Path
    svg: Path


@dataclass
class Rendered:
    made: list            # [Made]
    skipped: list         # [(Chart, reason)]: the workload ran but gave nothing to draw
    absent: list          # [Chart] whose workload is not in these results at all
    notes: list           # one-line remarks (workloads without a chart)

    def skip_lines(self) -> list[str]:
        """One line per skipped chart; charts of absent workloads share one line."""
        lines = [f"chart {c.name} skipped: {why}" for c, why in self.skipped]
        if self.absent:
            lines.append("charts skipped, their workloads are not in these results: "
                         + ", ".join(c.name for c in self.absent))
        return lines + self.notes


def figures(res: Results):
    """Pure part: [(Chart, Figure | reason)] for every chart."""
    out = []
    for c in CHARTS:
        try:
            fig = c.draw(res)
        except Exception as e:  # noqa: BLE001 -- one broken chart must not lose the others
            fig = f"drawing failed: {type(e).__name__}: {e}"
        if fig is None:
            fig = "nothing to draw" if c.workload == ANY_WORKLOAD else res.why_missing(c.workload)
        out.append((c, fig))
    return out


def render_all(res: Results, out_dir: Path) -> Rendered:
    """Write charts/<name>.png and .svg; stale files of skipped charts are removed."""
    charts = Path(out_dir) / "charts"
    try:
        charts.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{charts}: cannot create ({e.strerror})") from None
    import matplotlib
    matplotlib.rcParams["svg.hashsalt"] = SVG_HASHSALT   # same input, same SVG bytes
    made, skipped, absent = [], [], []
    for c, fig in figures(res):
        png, svg = charts / f"{c.name}.png", charts / f"{c.name}.svg"
        if isinstance(fig, str):
            if res.attempted(c.workload) or (c.workload == ANY_WORKLOAD and res.benches):
                skipped.append((c, fig))
            else:
                absent.append(c)
            for stale in (png, svg):
                stale.unlink(missing_ok=True)
            continue
        try:
            fig.savefig(png, dpi=DPI)
            fig.savefig(svg, metadata={"Date": None})
        except OSError as e:
            raise InputError(f"{charts}: cannot write charts ({e.strerror})") from None
        made.append(Made(c, png, svg))
    charted = {c.workload for c in CHARTS}
    unknown = [w for w in res.workloads() if w not in tidy.WORKLOADS]
    notes = []
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        notes.append(f"no chart for {len(unknown)} workload(s) not in the switchyard schema: "
                     f"{shown} (tables only)")
    notes += [f"no chart for {w} (table only)" for w in res.workloads()
              if w in tidy.WORKLOADS and w not in charted]
    return Rendered(made, skipped, absent, notes)
