"""Chart scaffolding shared by every chart: the style (a fixed colour and
marker per model, Okabe-Ito for the 7 models: colour-blind safe), figures
with one legend and a footer, and the drawing helpers (lines with their
intervals, bars, dots, grouped bars). Points are medians over processes;
error bars are the order-statistic interval of the median over processes
(tidy.py); with fewer than 3 processes the values are drawn instead. Axes go
logarithmic when the values span more than LOG_RATIO.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from . import tidy  # noqa: E402
from .fingerprint import short  # noqa: E402
from .tidy import Results, Stat, fmt, is_baseline, natural_key, num  # noqa: E402

# Okabe-Ito for the models; greys/browns for baselines; other hues for peers.
COLOURS = {
    "thread": "#0072B2", "pool": "#56B4E9", "fiber": "#009E73", "coroutine": "#D55E00",
    "coroutine_mt": "#F0E442",
    "coroutine_uring": "#E69F00", "uring": "#CC79A7", "libuv": "#000000",
    "bare_call": "#7F7F7F", "bare_coroutine": "#8C564B", "bare_fcontext": "#C49C94",
    "futex": "#BCBD22", "epoll": "#17BECF", "thread_ref": "#1F77B4", "libuv_ref": "#6B6B6B",
    "uring_ref": "#B07AA1", "asio": "#2CA02C", "asio_ref": "#98DF8A",
    "py_asyncio": "#9467BD", "py_asyncio_proto": "#C5B0D5", "py_uvloop": "#8C6D31",
    "py_uvloop_proto": "#BD9E39", "py_gevent": "#E7969C", "py_threads": "#AD494A",
    "node": "#637939", "go_gomaxprocs1": "#7B4173", "go": "#A55194", "wrk": "#393B79",
}
MARKERS = {"thread": "o", "pool": "s", "fiber": "^", "coroutine": "D", "coroutine_mt": "d", "coroutine_uring": "v",
           "uring": "P", "libuv": "X", "asio": "h"}
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
# The legend entry of the error bars (short: a long entry squeezes the axes
# away). What the bar is: the order-statistic interval of the median over
# processes (README, "How to read them"); dots: the processes, when fewer than 3.
CI_TEXT = "median of processes, interval"


# Rows of one peer that stand for another peer's configuration are drawn in
# that peer's style: gobench's gomaxprocs:1 rows (skynet/go/.../gomaxprocs:1,
# switch/go/gomaxprocs:1) look like the echo peer go_gomaxprocs1 (one P).
STYLE_AS = {("go", "gomaxprocs", "1"): "go_gomaxprocs1"}


def style_model(b) -> str:
    """The model whose colour, marker and line style a benchmark is drawn in."""
    return next((as_ for (m, k, v), as_ in STYLE_AS.items()
                 if b.model == m and b.params.get(k) == v), b.model)


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


MAX_PANEL_COLS = 2


def panel_figure(res: Results, title: str, count: int, sharey=True):
    """A figure of `count` panels, at most MAX_PANEL_COLS a row, the unused
    cells of the last row hidden: (fig, every axis, columns)."""
    ncols = min(count, MAX_PANEL_COLS)
    fig, axes = new_figure(res, title, nrows=math.ceil(count / ncols), ncols=ncols,
                           sharey=sharey)
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes, ncols


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


def err(stats: list[Stat]):
    lo = [s.median - s.lo if math.isfinite(s.lo) else 0.0 for s in stats]
    hi = [s.hi - s.median if math.isfinite(s.hi) else 0.0 for s in stats]
    return [lo, hi]


def draw_values(ax, where: list[float], stats: list[Stat], *, vertical: bool) -> None:
    """Without an interval (fewer than tidy.MIN_PROCESSES processes), the
    individual values as small hollow dots at their position (`where`: the x of
    each stat for vertical values, its y for horizontal ones)."""
    for w, st in zip(where, stats):
        if st is None or st.has_interval or len(st.values) < 2:
            continue
        pos = [w] * len(st.values)
        xs, ys = (pos, list(st.values)) if vertical else (list(st.values), pos)
        ax.plot(xs, ys, ls="", marker="o", ms=3.5, mfc="none", mec="black", mew=0.8,
                zorder=6)


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
        out.setdefault(label, Series(label, style_model(b), [])).points.append(
            Point(x, st, b.marks))
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
        ax.errorbar(xs, ys, yerr=err([p.stat for p in s.points]), color=colour(s.model),
                    ls=ls or s.ls or line_style(s.model),
                    marker=marker(s.model) if markers else None, ms=5, lw=lw,
                    capsize=2, elinewidth=0.8)
        draw_values(ax, xs, [p.stat for p in s.points], vertical=True)
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
    rects = ax.barh(ys, meds, xerr=err([b.stat for b in bars]),
                    color=[colour(b.model) for b in bars], edgecolor="black", linewidth=0.4,
                    error_kw={"elinewidth": 0.9, "capsize": 3}, height=0.7)
    draw_values(ax, ys, [b.stat for b in bars], vertical=False)
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
        ax.errorbar([b.stat.median], [y], xerr=err([b.stat]), color=colour(b.model),
                    marker=marker(b.model), ms=7, ls="", capsize=3, elinewidth=0.9)
        draw_values(ax, [y], [b.stat], vertical=False)
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
                      log: bool | None = None, colours: dict | None = None) -> set:
    """Vertical bars: one cluster per group, one bar per series (label, model, stats);
    colours: label -> colour, where series are not models (else the model's colour)."""
    width = 0.8 / max(len(series), 1)
    values = [v for _, _, bars in series for b in bars if b
              for v in (b.stat.median, b.stat.lo, b.stat.hi)]
    marks = set()
    for i, (label, model, sts) in enumerate(series):
        xs = [g + (i - (len(series) - 1) / 2) * width for g, s in enumerate(sts) if s]
        present = [s for s in sts if s]
        rects = ax.bar(xs, [s.stat.median for s in present], width=width,
                       yerr=err([s.stat for s in present]),
                       color=(colours or {}).get(label) or colour(model),
                       edgecolor="black", linewidth=0.4, label=label,
                       error_kw={"elinewidth": 0.8, "capsize": 2})
        draw_values(ax, xs, [s.stat for s in present], vertical=True)
        for r, s in zip(rects, present):
            if s.marks:
                r.set_hatch("///")
                marks.update(s.marks)
    ax.set_xticks(range(len(groups)), groups)
    set_scales(ax, ys=values, ylog=log)
    ax.grid(axis="y", alpha=0.3)
    return marks


def bar_handles(series, colours: dict | None = None) -> list:
    return [Patch(facecolor=(colours or {}).get(label) or colour(model), edgecolor="black",
                  label=label) for label, model, _ in series]


def panel_keys(rows, keys) -> list[tuple]:
    seen = []
    for b in rows:
        k = tuple(b.params.get(k) for k in keys)
        if k not in seen:
            seen.append(k)
    return sorted(seen, key=natural_key)
