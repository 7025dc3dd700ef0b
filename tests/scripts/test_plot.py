"""Charts: every chart of a full synthetic run is drawn with the right scales,
labels, footer and colours; missing workloads are skipped with a reason, not
drawn empty; bad input is one line and exit status 2.
"""
import math
import shutil
import subprocess
import sys

import pytest
from matplotlib.image import imread

from conftest import DRIVER, FIXTURES, driver_env

from sylib import plot, tidy
from sylib.results import InputError, parse_name

sys.path.insert(0, str(FIXTURES))
import make_runs  # noqa: E402

MIN_PNG_BYTES = 10_000
MIN_PNG_WIDTH = 600
ALL_CHARTS = {c.name for c in plot.CHARTS}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A run covering every workload of the schema, drawn once for the module."""
    out = make_runs.good(tmp_path_factory.mktemp("good"))
    res = tidy.load(out)
    return res, plot.render_all(res, out), out


@pytest.fixture(scope="module")
def good_figures(good):
    return dict(plot.figures(good[0]))


def copy_fixture(name, tmp_path):
    return shutil.copytree(FIXTURES / name, tmp_path / name)


def sy(*args):
    return subprocess.run([str(DRIVER), *map(str, args)], capture_output=True, text=True,
                          env=driver_env(), timeout=120)


def one_line_error(r):
    assert r.returncode == 2, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


# ---- a full run ----------------------------------------------------------------------

def test_every_chart_is_drawn_for_a_full_run(good):
    _, rendered, out = good
    assert {m.chart.name for m in rendered.made} == ALL_CHARTS
    assert rendered.skipped == [] and rendered.absent == []
    for m in rendered.made:
        assert m.png.stat().st_size > MIN_PNG_BYTES, m.png
        assert imread(m.png).shape[1] > MIN_PNG_WIDTH, m.png
        svg = m.svg.read_text()
        assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
        assert "f1x7u4e5" in svg and "2026-01-02 03:07 UTC" in svg, f"{m.svg}: no footer"
    assert rendered.notes == []


def texts(fig):
    """Every title, axis label, tick label and legend entry of a figure."""
    out = [fig._suptitle.get_text()] if fig._suptitle else []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
        if ax.get_legend():
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    return out


def legends(fig):
    return [ax.get_legend() for ax in fig.axes if ax.get_legend()]


@pytest.mark.parametrize("name", sorted(ALL_CHARTS))
def test_every_chart_has_title_units_and_one_legend(good_figures, name):
    fig = good_figures[next(c for c in plot.CHARTS if c.name == name)]
    assert fig._suptitle and len(fig._suptitle.get_text()) > 15
    assert len(legends(fig)) == 1
    for ax in fig.axes:
        if ax.get_visible():
            assert ax.get_xlabel(), f"{name}: unlabelled x axis"
    labels = " ".join(texts(fig))
    assert any(u in labels for u in ("ns", "µs", "ms", "bytes", "per second", "speed-up",
                                      "IOPS", "wall time / T")), labels


def test_switch_dots_are_models_and_baselines_are_reference_lines(good_figures):
    fig = good_figures[plot.CHARTS[0]]
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == [m for m in tidy.MODELS if m in make_runs.MODELS]  # the fixture's models, in registry order
    assert not ax.patches                    # dots, not bars whose length is the axis' choice
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(l.startswith("bare_call: 1.") for l in legend)
    assert any(l.startswith("futex pin:cross: 3.") for l in legend)
    refs = [l for l in ax.get_lines() if len(l.get_xdata()) == 2
            and len(set(l.get_xdata())) == 1 and list(l.get_ydata()) == [0, 1]]   # axvline
    assert len(refs) == 6       # bare_call, bare_coroutine, bare_fcontext, futex x3


def test_log_scales_where_values_span_decades(good_figures):
    by_name = {c.name: f for c, f in good_figures.items()}
    spawn = by_name["spawn"].axes[0]
    assert (spawn.get_xscale(), spawn.get_yscale()) == ("log", "log")
    compute = by_name["compute"].axes[0]
    assert (compute.get_xscale(), compute.get_yscale()) == ("log", "log")
    assert by_name["brigade"].axes[0].get_yscale() == "log"       # 0.03 .. 6 µs
    assert by_name["fileread"].axes[0].get_yscale() == "linear"    # 14k .. 216k IOPS
    assert by_name["multicore"].axes[0].get_yscale() == "linear"


def test_same_colour_for_a_model_in_every_chart(good):
    _, rendered, _ = good
    coroutine = plot.COLOURS["coroutine"].lower()
    for name in ("switch", "spawn", "compute", "brigade", "echo_throughput"):
        svg = next(m.svg for m in rendered.made if m.chart.name == name).read_text()
        assert coroutine in svg, name
    assert len(set(plot.COLOURS[m] for m in tidy.MODELS)) == len(tidy.MODELS)


def test_capped_and_oversubscribed_points_are_marked(good_figures):
    by_name = {c.name: f for c, f in good_figures.items()}
    assert "capped" in texts(by_name["spawn"])
    assert "oversubscribed" in texts(by_name["multicore"])
    assert "client-bound" in texts(by_name["echo_throughput"])
    skynet = " ".join(texts(by_name["skynet"]))
    assert "not run at this N: thread workers:1" in skynet
    assert "order:breadth only at N = 10,000" in skynet


def test_echo_latency_small_multiples_at_absolute_rates(good_figures):
    """A panel per percentile that has data (p99.9 is absent: 10 200 samples),
    x = the offered rates in messages/s, saturated points hollow and named in
    the legend, the lowest server at each rate named beside its point."""
    fig = dict((c.name, f) for c, f in good_figures.items())["echo_latency"]
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split(",")[0] for ax in panels] == ["median (p50)", "p99"]
    for ax in panels:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["12.5k", "25k", "50k", "100k"]
        assert ax.get_yscale() == "log"
        assert "messages/s" in ax.get_xlabel()
    assert any("saturated" in t for t in texts(fig))
    # one name per rate; at 100k (load matters most) the fixture's highest
    # peaks, uring and coroutine_uring, have the lowest latency
    for ax in panels:
        named = {a.xy[0]: a.get_text() for ax in [ax] for a in ax.texts}
        assert sorted(named) == [12500, 25000, 50000, 100000]
        assert set(named.values()) <= set(plot.COLOURS)
        assert named[100000] in ("uring", "coroutine_uring"), named
    # thread (peak 90k) is saturated at 100k: no line reaches that rate
    thread = plot.COLOURS["thread"].lower()
    for ax in panels:
        lines = [l for l in ax.get_lines() if str(l.get_color()).lower() == thread
                 and l.get_linestyle() not in ("None", "")]
        assert lines and all(max(l.get_xdata()) <= 50000 for l in lines)


def test_multicore_keeps_threads_param():
    # GB appends '/real_time' after our 'threads:2' param; it must stay a param.
    p = parse_name("multicore/thread/threads:2/real_time")
    assert p["model"] == "thread" and p["params"] == {"threads": "2"}
    assert parse_name("BM_x/real_time/threads:4")["workload"] == "BM_x"


# ---- missing data, failures, other inputs --------------------------------------------

def test_missing_workloads_are_skipped_not_drawn_empty(tmp_path):
    out = copy_fixture("run_missing", tmp_path)
    rendered = plot.render_all(tidy.load(out), out)
    assert {m.chart.name for m in rendered.made} == {"switch", "compute"}
    assert {c.name for c in rendered.absent} == ALL_CHARTS - {"switch", "compute", "os_threads"}
    assert [(c.name, why) for c, why in rendered.skipped] == \
        [("os_threads", "no loop-model row carries the counter os_threads")]
    assert not (out / "charts" / "spawn.png").exists()
    assert any("not in these results" in l and "spawn" in l for l in rendered.skip_lines())


def test_crashed_bench_gives_its_reason_and_failed_rows_are_left_out(tmp_path):
    out = copy_fixture("run_failures", tmp_path)
    res = tidy.load(out)
    rendered = plot.render_all(res, out)
    reasons = {c.name: why for c, why in rendered.skipped}
    assert reasons["echo_throughput"] == "bench_echo crashed: killed by SIGSEGV"
    switch = dict(plot.figures(res))[plot.CHARTS[0]]
    assert "fiber" not in [t.get_text() for t in switch.axes[0].get_yticklabels()]


def test_chart_of_a_bench_that_stopped_producing_is_removed(tmp_path):
    out = copy_fixture("run_missing", tmp_path)
    plot.render_all(tidy.load(out), out)
    assert (out / "charts" / "compute.png").exists()
    (out / "compute.json").write_text('{"context": {}, "benchmarks": []}')
    rendered = plot.render_all(tidy.load(out), out)
    assert ("compute", "bench_compute produced no results") in \
        [(c.name, why) for c, why in rendered.skipped]
    assert not (out / "charts" / "compute.png").exists()


def test_a_chart_that_raises_is_reported_and_the_others_are_drawn(tmp_path, monkeypatch):
    import dataclasses

    def broken(res):
        raise ValueError("bad data")
    chart = dataclasses.replace(plot.CHARTS[0], draw=broken)
    monkeypatch.setattr(plot, "CHARTS", [chart] + list(plot.CHARTS[1:]))
    out = shutil.copytree(FIXTURES / "run_missing", tmp_path / "run")
    rendered = plot.render_all(tidy.load(out), out)
    assert (chart, "drawing failed: ValueError: bad data") in rendered.skipped
    assert rendered.made                                  # the others are still there


def test_svg_output_is_reproducible(tmp_path):
    res = tidy.load(FIXTURES / "run_missing")
    a = plot.render_all(res, tmp_path / "a")
    b = plot.render_all(res, tmp_path / "b")
    for ma, mb in zip(a.made, b.made):
        assert ma.svg.read_bytes() == mb.svg.read_bytes(), ma.chart.name


def test_baselines_only_run_draws_baselines_as_dots(tmp_path):
    g = make_runs.Gen(make_runs.np.random.default_rng(1))
    make_runs.wl_switch(g, models=())
    out = make_runs._write(tmp_path / "run", {"switch": g.entries}, {})
    fig = plot.chart_switch(tidy.load(out))
    assert "baselines only" in fig._suptitle.get_text()
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][0] == "bare_call"


def test_plain_google_benchmark_file_draws_nothing_and_says_why(tmp_path):
    src = shutil.copy(FIXTURES / "gb_minimal.json", tmp_path / "gb.json")
    rendered = plot.render_all(tidy.load(src), tmp_path)
    assert rendered.made == []
    assert any("BM_One" in n for n in rendered.notes)


def test_median_ci_is_the_order_statistic_interval():
    st = tidy.summarize([3.0, 1.0, 2.0])
    assert (st.median, st.lo, st.hi, st.n) == (2.0, 1.0, 3.0, 3)
    assert st.level == 0.75                     # [min, max] of 3: 1 - 2 / 2**3, not 95%
    two = tidy.summarize([5.0, 6.0])            # below MIN_PROCESSES: no interval
    assert two.median == 5.5 and math.isnan(two.lo) and math.isnan(two.hi)
    assert tidy.summarize([]) is None
    wide = tidy.summarize(list(range(1, 101)))  # binomial(100, 1/2) order statistics
    assert (wide.lo, wide.hi) == (40.0, 61.0) and 0.95 <= wide.level < 0.97


def test_format_picks_units():
    assert tidy.fmt(2500, "ns") == "2.5 µs"
    assert tidy.fmt(0.03, "us") == "30 ns"
    assert tidy.fmt(65600, "B") == "64.1 KiB"
    assert tidy.fmt(1.66e6, "/s") == "1.66 M/s"
    assert tidy.fmt(None, "ns") == "—"


@pytest.mark.parametrize("name,needle", [
    ("empty.json", "empty file"),
    ("malformed.json", "malformed JSON"),
    ("not_gb.json", "not Google Benchmark JSON"),
])
def test_bad_files_raise_one_line(name, needle):
    with pytest.raises(InputError) as e:
        tidy.load(FIXTURES / name)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_bad_file_inside_a_results_dir_is_named(tmp_path):
    out = copy_fixture("run_missing", tmp_path)
    shutil.copy(FIXTURES / "malformed.json", out / "sleep.json")
    with pytest.raises(InputError, match="sleep.json: malformed JSON"):
        tidy.load(out)


# ---- command line --------------------------------------------------------------------

@pytest.mark.parametrize("target,needle", [
    ("no/such/results", "no such file or directory"),
    ("empty.json", "empty file"),
    ("malformed.json", "malformed JSON"),
    ("not_gb.json", "no 'benchmarks' list"),
])
def test_plot_bad_input_is_one_line_exit_2(target, needle):
    path = FIXTURES / target if (FIXTURES / target).exists() else target
    line = one_line_error(sy("plot", path))
    assert line.startswith("switchyard plot: ") and needle in line


def test_plot_cli_writes_charts(tmp_path):
    out = copy_fixture("run_missing", tmp_path)
    r = sy("plot", out)
    assert r.returncode == 0, r.stderr
    assert "2 chart(s)" in r.stdout and "spawn" in r.stdout
    assert sorted(p.name for p in (out / "charts").iterdir()) == \
        ["compute.png", "compute.svg", "switch.png", "switch.svg"]
    assert not (out / "report.md").exists()


def test_asynciter_chart_has_a_panel_per_system_and_colours_by_role(good_figures):
    """Claim 13's chart: Python asyncio, uvloop and the two stackless C++ loops,
    each with suspend:0|1 (and async with in the Python panels); bars coloured by
    the form's role, the same in every panel."""
    fig = good_figures[next(c for c in plot.CHARTS if c.name == "asynciter")]
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["Python asyncio", "Python uvloop",
                                                 "C++ coroutine", "C++ coroutine_uring"]
    ticks = [t.get_text() for t in panels[0].get_xticklabels()]
    assert ticks == ["suspend:0", "suspend:1", "async with\nsuspend:0", "async with\nsuspend:1"]
    legend = [t.get_text() for t in legends(fig)[0].get_texts()]
    assert any(l.startswith("by hand: __anext__, __aenter__/__aexit__") for l in legend)
    assert panels[0].get_yscale() == "log"          # 60 ns .. 18 µs
