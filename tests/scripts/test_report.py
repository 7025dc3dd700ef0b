"""Report: tables (models as rows, median, interval over processes, ratio to the best), the
header (fingerprint, commit, what failed or was skipped and why), report.md
and a self-contained report.html; the `report` command and the run hook.
"""
import io
import json
import math
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from conftest import DRIVER, FIXTURES, driver_env

from sylib import plot, postrun, report, tidy

sys.path.insert(0, str(FIXTURES))
import make_runs  # noqa: E402

STEP_SUMMARY_LIMIT = 1024 * 1024     # GitHub's limit for one step summary


def nothing_drawn():
    return plot.Rendered(made=[], skipped=[], absent=[], notes=[])


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return tidy.load(make_runs.good(tmp_path_factory.mktemp("good")))


def table(res, workload):
    t = next(t for t in report.tables(res) if t.workload == workload)
    return t, [dict(zip(t.columns, r)) for r in t.rows]


def test_every_workload_gets_a_table(good):
    assert [t.workload for t in report.tables(good) if t.workload] == list(tidy.WORKLOADS)


def test_switch_table_ratios_to_the_best_model(good):
    t, rows = table(good, "switch")
    by_model = {r["model"]: r for r in rows}
    assert list(by_model) == [m for m in tidy.MODELS if m in make_runs.MODELS] + [  # the fixture's
        "bare_call", "bare_coroutine", "bare_fcontext",
        "futex pin:cross", "futex pin:none", "futex pin:same"]
    assert by_model["coroutine"]["ratio to best"] == "1.00"
    assert 250 < float(by_model["thread"]["ratio to best"]) < 300     # 2.5 µs / 9 ns
    assert float(by_model["bare_call"]["ratio to best"]) < 1          # baseline under best
    assert by_model["fiber"]["n"] == "3"
    assert by_model["fiber"]["ns per switch"].endswith(" ns")
    lo, hi = by_model["fiber"][report.INTERVAL].rsplit(" (", 1)[0].split(" – ")
    assert float(lo.split()[0]) <= 18.5 <= float(hi.split()[0]) + 0.5
    assert "lower is better" in t.note


def test_higher_is_better_ratio_and_groups(good):
    _, rows = table(good, "compute")
    groups = {}
    for r in rows:
        groups.setdefault(r["config"], []).append(float(r["ratio to best"]))
    assert set(groups) == {f"yield_every:{s}" for s in (1, 10, 100, 1000, 10000, "none")}
    for ratios in groups.values():
        assert min(ratios) == 1.0 and all(r >= 1.0 for r in ratios)
    one = {r["model"]: r for r in rows if r["config"] == "yield_every:1"}
    assert float(one["thread"]["ratio to best"]) > 10


def test_marks_and_extra_columns(good):
    t, rows = table(good, "spawn")
    capped = [r for r in rows if r["marks"]]
    assert [(r["config"], r["model"], r["marks"]) for r in capped] == \
        [("n:20000", "thread", "capped")]
    t, rows = table(good, "multicore")
    speedups = {r["model"]: r["speed-up vs coroutine loops:1"] for r in rows}
    assert speedups["coroutine loops:1"] == "1.00×"
    assert "oversubscribed" in {r["marks"] for r in rows}
    _, rows = table(good, "echo")
    assert "client-bound" in {r["marks"] for r in rows}
    assert {"p99 latency (µs)", "messages per second"} <= set(rows[0])


def test_markdown_has_header_problems_links_and_tables(good, tmp_path):
    out = make_runs.missing(tmp_path / "run")
    res = tidy.load(out)
    rendered = plot.render_all(res, out)
    md = report.markdown(res, rendered, report.tables(res), out)
    assert md.startswith("# switchyard report")
    assert "f1x7u4e5: Fixture CPU 9000" in md
    assert "0123456789abcdef0123456789abcdef01234567" in md
    assert "[ns per switch per model, baselines as reference lines](charts/switch.png)" in md
    assert "charts skipped, their workloads are not in these results: spawn, memory" in md
    assert "| coroutine | 3 |" in md
    assert "## spawn" not in md


def test_failures_and_skips_are_listed_with_reasons():
    res = tidy.load(FIXTURES / "run_failures")
    rendered = nothing_drawn()
    rendered.skipped = [(plot.CHARTS[8], res.why_missing("echo"))]
    lines = report.problems(res, rendered)
    bad, skips = report.failures(res, rendered), report.designed_skips(res, rendered)
    assert "bench_echo crashed: killed by SIGSEGV (log: logs/echo.log)" in bad
    assert any(l.startswith("skipped 6 benchmark(s), io_uring not available") for l in skips)
    assert not any(l.startswith("skipped ") for l in bad)         # skips are not failures
    assert "bench_echo crashed: killed by SIGSEGV (log: logs/echo.log)" in lines
    assert "failed switch/fiber: checksum mismatch: got 1, want 200010000" in lines
    assert any(l.startswith("skipped 6 benchmark(s), io_uring not available: spawn/")
               for l in lines)
    assert "chart echo_throughput skipped: bench_echo crashed: killed by SIGSEGV" in lines
    _, rows = table(res, "switch")
    assert "fiber" not in {r["model"] for r in rows}
    _, rows = table(res, "spawn")
    assert not {"uring", "coroutine_uring"} & {r["model"] for r in rows}


def test_clean_run_says_nothing_failed(good):
    md = report.markdown(good, nothing_drawn(), [], FIXTURES)
    assert "Nothing failed." in md


def test_plain_google_benchmark_gets_a_generic_table():
    res = tidy.load(FIXTURES / "gb_minimal.json")
    (t,) = report.tables(res)
    assert t.columns[:4] == ["benchmark", "file", "n", "real time"]
    assert [r[0] for r in t.rows] == ["BM_One", "BM_Two"]
    assert [r[3] for r in t.rows] == ["10 ns", "9 ns"]
    assert "no context.fingerprint" in dict(report.header(res))["machine"]


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.external = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href") and v and not v.startswith("#"):
                self.external.append(v)


def test_report_command_writes_both_reports(tmp_path):
    out = shutil.copytree(FIXTURES / "run_missing", tmp_path / "run")
    r = subprocess.run([str(DRIVER), "report", str(out)], capture_output=True, text=True,
                       env=driver_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"wrote {out / 'report.html'}" in r.stdout
    md = (out / "report.md").read_text()
    assert len(md.encode()) < STEP_SUMMARY_LIMIT and "## compute" in md
    page = (out / "report.html").read_text()
    parser = Tags()
    parser.feed(page)
    assert parser.tags.count("svg") == 2 and parser.tags.count("table") == 4   # + claims
    assert parser.external == []                       # self-contained: opens offline
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert "switch: cost of one hand-off" in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "duplicate ids across inlined charts"
    for ref in re.findall(r'(?:href|url\()="?#([^")]+)', page):
        assert ref in ids, f"reference to a missing id #{ref}"


def test_report_bad_input_is_one_line_exit_2(tmp_path):
    (tmp_path / "run.json").write_text("{}")
    r = subprocess.run([str(DRIVER), "report", str(tmp_path)], capture_output=True,
                       text=True, env=driver_env(), timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines == [f"switchyard report: {tmp_path}: no result JSON files in this directory"]


def test_after_run_hook_writes_the_report(tmp_path):
    out = shutil.copytree(FIXTURES / "run_missing", tmp_path / "run")
    log = io.StringIO()
    postrun.after_run(out, log=log)
    assert (out / "report.md").exists() and (out / "report.html").exists()
    assert log.getvalue().startswith(
        f"switchyard: 2 chart(s), {len(plot.CHARTS) - 2} skipped; report in")


def test_after_run_hook_never_raises(tmp_path):
    (tmp_path / "switch.json").write_text("{broken")
    log = io.StringIO()
    postrun.after_run(tmp_path, log=log)
    lines = log.getvalue().splitlines()
    # one line per post-run step (charts+report, history), each naming the cause
    assert len(lines) == 2
    assert lines[0].startswith("switchyard: charts and report not written") and "malformed JSON" in lines[0]
    assert lines[1].startswith("switchyard: history not updated") and "malformed JSON" in lines[1]


def _skynet_file(tmp_path, rows):
    """rows: {name: (iterations, [[ms per repetition] per process])} -> a GB JSON
    file whose rows carry their process, as `run` writes them."""
    entries = []
    for name, (iters, processes) in rows.items():
        gb = f"{name}/real_time"
        for p, times in enumerate(processes):
            for i, ms in enumerate(times):
                entries.append({"name": gb, "run_name": gb, "run_type": "iteration",
                                "repetitions": len(times), "repetition_index": i,
                                "process": p, "threads": 1,
                                "iterations": iters, "real_time": ms * 1e6, "cpu_time": ms * 1e6,
                                "time_unit": "ns", "tasks": 1111111.0,
                                "checksum": 499999500000.0})
    path = tmp_path / "skynet.json"
    path.write_text(json.dumps({"context": {}, "benchmarks": entries}))
    return path


def test_cold_repetition_is_shown_apart_for_one_iteration_rows(tmp_path):
    res = tidy.load(_skynet_file(tmp_path, {
        "skynet/coroutine/n:1000000/workers:1/iterations:1":
            (1, [[200.0, 100.0], [210.0, 104.0], [190.0, 98.0]]),
        "skynet/fiber/n:10000/workers:1": (50, [[9.0, 8.0], [8.5, 8.4], [8.6, 8.8]])}))
    t, rows = table(res, "skynet")
    assert "rep 0 (cold)" in t.columns and "steady median (reps 1+)" in t.columns
    by_model = {r["model"]: r for r in rows}
    cold = by_model["coroutine workers:1"]
    assert cold["rep 0 (cold)"] == "200 ms"          # median over processes of each rep 0
    assert cold["steady median (reps 1+)"] == "100 ms"
    assert cold["time (ms)"] == "100 ms"          # each process: its steady repetitions (1+)
    assert cold["n"] == "3"                       # processes, not repetitions
    warm = by_model["fiber workers:1"]              # many iterations: warmed up in rep 0
    assert warm["rep 0 (cold)"] == "—" and warm["steady median (reps 1+)"] == "—"


def test_no_cold_columns_with_one_repetition_per_process(tmp_path):
    res = tidy.load(_skynet_file(tmp_path, {
        "skynet/coroutine/n:1000000/workers:1/iterations:1": (1, [[200.0], [100.0], [104.0]])}))
    t, _ = table(res, "skynet")
    assert "rep 0 (cold)" not in t.columns


def test_interval_is_over_processes_not_repetitions(tmp_path):
    """Five repetitions from one process are one sample: no interval; five
    processes give the order-statistic interval [min, max] at 93.75%."""
    one = tidy.load(_skynet_file(tmp_path, {
        "skynet/fiber/n:10000/workers:1": (50, [[9.0, 8.0, 8.5, 8.4, 8.6]])}))
    b = one.benches[0]
    st = b.stat(tidy.TIME_MS)
    assert st.n == 1 and math.isnan(st.lo)
    five = tidy.load(_skynet_file(tmp_path, {
        "skynet/fiber/n:10000/workers:1": (50, [[9.0], [8.0], [8.5], [8.4], [8.6]])}))
    st = five.benches[0].stat(tidy.TIME_MS)
    assert (st.n, st.lo, st.hi, st.median) == (5, 8.0, 9.0, 8.5)
    assert st.level == pytest.approx(0.9375)


def test_header_shows_the_machine_facts_of_the_calibrate_step():
    from sylib import tidy as t
    res = t.Results(source="x", home="x", benches=[], files=[], fingerprint=None, date="",
                    run=None)
    res.fingerprint = {"fingerprint_id": "f", "facts": {
        "getppid_ns": 283.9, "futex_roundtrip_same_cpu_ns": 1400.0,
        "futex_roundtrip_cross_cpu_ns": None, "page_fault_ns": 4246.0,
        "thread_create_join_us": 48.0, "coroutine_switch_ns": 2.9, "notes": {}}}
    facts = dict(report.header(res))["machine facts"]
    assert "syscall (getppid) 284 ns" in facts and "thread create+join 48 µs" in facts
    assert "across CPUs —" in facts                     # not measurable here: said so
    res.fingerprint = {"fingerprint_id": "f", "facts": {"error": "no such file"}}
    assert dict(report.header(res))["machine facts"] == "not measured: no such file"


def test_calibrate_never_fails_the_run(tmp_path):
    from sylib import run
    facts = run.calibrate(tmp_path, log=io.StringIO())
    assert "error" in facts


def test_calibrate_prints_every_fact_or_why_not():
    from conftest import TEST_BUILD
    exe = TEST_BUILD / "benches" / "switchyard-calibrate"
    if not exe.exists():
        pytest.skip(f"{exe} not built: run `scripts/switchyard test`")
    facts = json.loads(subprocess.run([str(exe)], capture_output=True, text=True,
                                      timeout=60).stdout)
    for key, _, _ in report.FACTS:
        v = facts[key]
        assert (isinstance(v, (int, float)) and v > 0) or key in facts["notes"], key


def test_syscall_table_comes_from_the_profiling_pass(tmp_path):
    """Rows of the profiling round carry syscalls per message by name; the
    report's table shows them per server with 'other' for the unnamed rest
    and the timed against the profiled server CPU per message."""
    from sylib import profile
    entries = []
    for model, read, write, wait, total in (("thread", 1.0, 1.0, 0.0, 2.02),
                                            ("coroutine", 1.0, 1.0, 0.5, 2.6)):
        gb = f"echo/{model}/conns:10/size:64/mode:closed/manual_time"
        for p in range(3):
            row = {"name": gb, "run_name": gb, "run_type": "iteration", "repetitions": 3,
                   "repetition_index": p, "process": p, "threads": 1, "iterations": 1,
                   "real_time": 4e8, "cpu_time": 1e6, "time_unit": "ns",
                   "msgs_per_second": 1e5, "server_cpu_ns_per_msg": 4000.0}
            if p == 0:      # only the first round profiles
                row.update({"syscalls_per_msg": total, "sc_read_per_msg": read,
                            "sc_write_per_msg": write, "sc_epoll_wait_per_msg": wait,
                            "profiled_server_cpu_ns_per_msg": 4400.0})
            entries.append(row)
    f = tmp_path / "echo.json"
    f.write_text(json.dumps({"context": {}, "benchmarks": entries}))
    heading, note, columns, rows = profile.echo_syscalls(tidy.load(f))
    assert "profiling pass" in heading and "never have a profiler attached" in note
    by = {r[0]: dict(zip(columns, r)) for r in rows}
    assert by["thread"]["syscalls/msg"] == "2.02" and by["thread"]["read/msg"] == "1.00"
    assert by["coroutine"]["epoll_wait/msg"] == "0.50"
    assert by["coroutine"]["other/msg"] == "0.10"
    assert by["thread"]["server CPU/msg (timed)"] == "4 µs"
    assert by["thread"]["(profiled)"] == "4.4 µs"
    assert profile.echo_syscalls(tidy.load(FIXTURES / "gb_minimal.json")) is None


def test_seam_table_pairs_each_model_with_its_reference_round_by_round(tmp_path):
    """The seam table divides a model's server CPU per message by its
    reference's in the same round: a model that costs 1.1x in every round
    shows 1.100 with an interval, whatever the rounds' common drift."""
    from sylib import seam
    entries = []
    for model, factor in (("libuv", 1.1), ("libuv_ref", 1.0), ("coroutine", 1.02), ("epoll", 1.0)):
        gb = f"echo/{model}/conns:100/size:64/mode:closed/manual_time"
        for p in range(5):
            drift = 1000.0 * (p + 1)        # rounds differ a lot; ratios do not
            entries.append({"name": gb, "run_name": gb, "run_type": "iteration",
                            "repetitions": 5, "repetition_index": p, "process": p,
                            "threads": 1, "iterations": 1, "real_time": 4e8, "cpu_time": 1e6,
                            "time_unit": "ns", "server_cpu_ns_per_msg": drift * factor})
    f = tmp_path / "echo.json"
    f.write_text(json.dumps({"context": {}, "benchmarks": entries}))
    heading, note, columns, rows = seam.seam_table(tidy.load(f))
    by = {r[0]: dict(zip(columns, r)) for r in rows}
    assert set(by) == {"libuv / libuv_ref", "coroutine / epoll"}
    assert by["libuv / libuv_ref"]["ratio"] == "1.100"
    assert by["libuv / libuv_ref"]["interval"].startswith("[1.100, 1.100]")
    assert by["coroutine / epoll"]["ratio"] == "1.020" and by["coroutine / epoll"]["n"] == "5"
    assert seam.seam_table(tidy.load(FIXTURES / "gb_minimal.json")) is None
