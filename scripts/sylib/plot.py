"""Charts of a results directory: tidy rows -> matplotlib figures -> PNG + SVG.

One function per chart (sylib.plotcharts: in-process workloads; sylib.plotio:
I/O and peers; both drawing with sylib.plotkit) takes `tidy.Results` and
returns a Figure, or None / a string saying why it cannot be drawn (the
report lists it; no empty pictures). This module lists the charts and
`render_all` writes every chart into <results>/charts/.

Every chart: a title saying what was measured, axis labels with units, one
legend, a fixed colour per model (Okabe-Ito for the 7 models: colour-blind
safe, plus a distinct marker each), capped / oversubscribed / client-bound
points marked (hollow black square on lines, hatching on bars), and a footer
with the short machine fingerprint and date. Points are medians over
processes; error bars are the order-statistic interval of the median over
processes (tidy.py); with fewer than 3 processes the values are drawn instead.
Axes go logarithmic when the values span more than LOG_RATIO.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .plotcharts import (chart_compute, chart_locks, chart_memory, chart_multicore,
                         chart_skynet, chart_sleep, chart_spawn, chart_switch)
from .plotio import (chart_blocking, chart_echo_latency, chart_echo_throughput,
                     chart_fileread, chart_http, chart_os_threads, chart_pyexecutor,
                     chart_pygather, chart_pyswitch, chart_redis, chart_brigade,
                     chart_sql)
from .plotiter import chart_asynciter
from .plotkit import COLOURS, DPI, MARKERS, SVG_HASHSALT  # noqa: F401 (COLOURS, MARKERS: public)
from . import tidy
from .results import InputError
from .tidy import Results

ANY_WORKLOAD = "*"           # a chart drawn from every workload's rows


@dataclass(frozen=True)
class Chart:
    name: str            # file stem under charts/
    workload: str        # or ANY_WORKLOAD
    what: str            # one line for the report and README
    draw: Callable
    also: tuple = ()     # other workloads it draws (they need no chart of their own)


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
    Chart("sql", "sql", "requests/s vs concurrent clients, per query", chart_sql),
    Chart("pyswitch", "pyswitch", "Python switch cost per system", chart_pyswitch),
    Chart("pygather", "pygather", "Python gather of N sleepers: wall/T", chart_pygather),
    Chart("pyexecutor", "pyexecutor", "Python run_in_executor time per call",
          chart_pyexecutor),
    Chart("asynciter", "asynciter", "ns per item by form: async for / generator / async with "
          "vs the explicit loop, Python and C++, suspend:0|1", chart_asynciter,
          ("pyiter", "pyctx")),
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
    charted = {w for c in CHARTS for w in (c.workload, *c.also)}
    unknown = [w for w in res.workloads() if w not in tidy.WORKLOADS]
    notes = []
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        notes.append(f"no chart for {len(unknown)} workload(s) not in the switchyard schema: "
                     f"{shown} (tables only)")
    notes += [f"no chart for {w} (table only)" for w in res.workloads()
              if w in tidy.WORKLOADS and w not in charted]
    return Rendered(made, skipped, absent, notes)
