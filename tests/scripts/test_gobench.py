"""gobench (issue 17): runners/peers/go_microbench.go -- Go's skynet and
unbuffered-channel ping-pong -- writes Google Benchmark JSON whose work
counters and checksums are right and whose wrong checksum is an error entry;
the driver plans it next to pybench (unpinned, cold + steady repetitions,
exact names for Go's regexp), skips it with the reason without Go, and leaves
it out under --no-peers; tidy, the charts and the report read its rows
(fixtures/gobench.json: a real run, trimmed) and the switch claims ignore them.
The Go tests skip when `go` is missing.
"""
import io
import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO, one_line_error

from sylib import claimchecks, peers, plotcharts, plotkit, report, run, runplan, tidy
from sylib.claimbase import load_thresholds
from sylib.results import load_gb_json

FIXTURE = REPO / "tests" / "scripts" / "fixtures" / "gobench.json"
SMOKE_LEAVES = (100, 1_000)         # go_microbench.go's smoke tier
SMOKE_ROUND_TRIPS = 100


def tasks_for(leaves: int) -> int:
    t, n = 0, leaves
    while n >= 1:
        t, n = t + n, n // 10
    return t


@pytest.fixture(scope="module")
def go_build(tmp_path_factory):
    """A build tree with go_microbench (caches in the tree, nothing downloaded)."""
    if not shutil.which("go"):
        pytest.skip(peers.GO_MISSING)
    d = tmp_path_factory.mktemp("build")
    (d / "peers").mkdir()
    cmd, env = peers.go_build_command(d, shutil.which("go"), "go_microbench")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return d


def gobench(build, *args, env=None):
    r = subprocess.run([*peers.gobench_command(build, "smoke"), *args], capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, **(env or {})))
    assert r.returncode == 0, r.stderr
    return None if "--out" in args else json.loads(r.stdout)


# ---- the Go program -------------------------------------------------------------------

def test_smoke_rows_are_gb_json_with_checked_counters(go_build, tmp_path):
    out = tmp_path / "gobench.json"
    gobench(go_build, "--repetitions", "2", "--out", str(out))
    data = load_gb_json(out)
    its = [b for b in data["benchmarks"] if b["run_type"] == "iteration"]
    listed = peers.list_gobench(go_build, "smoke", None)
    assert sorted({b["name"] for b in its}) == sorted(listed)
    assert listed == [f"skynet/go/n:{n}/gomaxprocs:{p}/real_time"
                      for p in (1, 2) for n in SMOKE_LEAVES] + \
        [f"switch/go/gomaxprocs:{p}/real_time" for p in (1, 2)]
    for b in its:
        assert not b.get("error_occurred"), b
        assert b["iterations"] >= 1 and b["real_time"] > 0 and b["time_unit"] == "ns"
        assert b["repetitions"] == 2 and b["repetition_index"] in (0, 1)
        if b["name"].startswith("skynet/"):
            n = int(b["name"].split("/")[2][len("n:"):])
            assert b["tasks"] == tasks_for(n) and b["checksum"] == n * (n - 1) // 2
        else:
            s = 2 * SMOKE_ROUND_TRIPS
            assert b["switches"] == s and b["checksum"] == s * (s + 1) // 2
    aggs = {b["aggregate_name"] for b in data["benchmarks"] if b["run_type"] == "aggregate"}
    assert aggs == {"mean", "median", "stddev", "cv"}
    assert data["context"]["go"]["version"].startswith("go")
    assert data["context"]["gobench"]["tier"] == "smoke"


def test_a_wrong_checksum_in_a_middle_iteration_is_an_error_entry(go_build):
    data = gobench(go_build, "--filter", "^switch/go/gomaxprocs:1/", "--min-time", "0.01",
                   env={"SY_TEST_BAD_ITERATION": "1"})
    [e] = data["benchmarks"]
    assert e["error_occurred"] and e["name"] == "switch/go/gomaxprocs:1/real_time"
    assert e["error_message"].startswith("checksum mismatch in iteration 2 of "), e
    s = 2 * SMOKE_ROUND_TRIPS
    assert f"expected {s * (s + 1) // 2}" in e["error_message"]


def test_driver_selects_with_python_re_and_passes_exact_names(go_build):
    # a lookahead: Python's re has it, Go's RE2 does not
    names = peers.list_gobench(go_build, "smoke", r"^(?!switch)skynet/go/n:100/")
    assert names == ["skynet/go/n:100/gomaxprocs:1/real_time",
                     "skynet/go/n:100/gomaxprocs:2/real_time"]
    data = gobench(go_build, *peers.gobench_command(go_build, "smoke", names=[
        "skynet/go/n:100/gomaxprocs:2"])[3:])
    assert [b["name"] for b in data["benchmarks"]] == ["skynet/go/n:100/gomaxprocs:2/real_time"]


@pytest.mark.parametrize("args", [["--tier", "bogus"], ["--repetitions", "0"],
                                  ["--min-time", "0"],
                                  ["--filter", "("], ["--out", "/nonexistent-dir/x.json"],
                                  ["extra"]])
def test_bad_arguments_are_one_line_exit_2(go_build, args):
    one_line_error(subprocess.run([str(peers.gobench_exe(go_build)), *args],
                                  capture_output=True, text=True, timeout=30))


# ---- the driver -----------------------------------------------------------------------

def test_gobench_runs_unpinned_with_cold_and_steady_repetitions(tmp_path):
    cfg = run.RunConfig(filter="^skynet/go/", build_dir=tmp_path)
    names = ["skynet/go/n:10000/gomaxprocs:1"]
    [job] = runplan.jobs_of_round([(peers.GOBENCH, peers.gobench_exe(tmp_path), names)], 0, cfg)
    assert not job.pinned and job.names == names
    assert cfg.procs(peers.GOBENCH) == 3 and cfg.reps(peers.GOBENCH) == 2
    cmd, shown = run.bench_command(job, tmp_path / "raw.json", cfg)
    assert cmd[0] == str(tmp_path / "peers" / "go_microbench")
    assert cmd[-2:] == ["--out", str(tmp_path / "raw.json")] and "raw.json" not in shown
    assert "--tier full --repetitions 2 --min-time 0.05" in shown
    assert cmd[cmd.index("--filter") + 1] == "^(skynet/go/n:10000/gomaxprocs:1)(/|$)"
    assert run.process_label(peers.GOBENCH) == "gobench"


def test_without_go_the_rows_skip_with_the_reason(tmp_path):
    assert peers.gobench_missing(tmp_path, which=lambda _: None) == peers.GO_MISSING
    data = peers.gobench_skipped(peers.GO_MISSING, "^switch/")
    [e] = data["benchmarks"]
    assert e["name"] == "switch/go/real_time" and e["error_message"] == \
        "skipped: " + peers.GO_MISSING
    [b] = tidy.benches_from(data, "gobench.json")
    assert (b.workload, b.model, b.status, b.reason) == ("switch", "go", "skipped",
                                                         peers.GO_MISSING)


def _fake_build(monkeypatch):
    from sylib import postrun
    monkeypatch.setattr(run.buildmod, "build", lambda *a, **k: {"benches": []})
    monkeypatch.setattr(run, "probe_uring", lambda build_dir: {"available": False})
    monkeypatch.setattr(run, "calibrate", lambda build_dir, log=None: {})
    monkeypatch.setattr(postrun, "after_run", lambda out, log=None: None)
    monkeypatch.setattr(peers, "build_go", lambda build_dir: "")


def test_run_without_go_writes_the_skips_and_no_peers_leaves_it_out(tmp_path, monkeypatch):
    _fake_build(monkeypatch)
    monkeypatch.setattr(peers, "gobench_missing", lambda build_dir: peers.GO_MISSING)
    # a bench that runs, so the run has a plan: a pybench name (stubbed process)
    monkeypatch.setattr(peers, "list_microbench",
                        lambda tier, filter: ["pyswitch/py_asyncio/real_time"])
    monkeypatch.setattr(peers, "microbench_command",
                        lambda tier, **k: ["/bin/true"])
    log = io.StringIO()
    cfg = run.RunConfig(quick=True, filter="^(skynet|pyswitch)/", processes=1, repetitions=1,
                        out=tmp_path / "out", build_dir=tmp_path / "build")
    run.execute(cfg, log=log)
    assert f"gobench skipped: {peers.GO_MISSING}" in log.getvalue()
    data = load_gb_json(tmp_path / "out" / "gobench.json")
    assert [b["name"] for b in data["benchmarks"]] == ["skynet/go/real_time"]
    recs = {r["bench"]: r for r in json.loads((tmp_path / "out" / "run.json").read_text())
            ["benches"]}
    assert recs["gobench"]["status"] == "ok" and recs["gobench"]["processes"] == []
    assert recs["gobench"]["skips"][0]["reason"] == peers.GO_MISSING
    # the skips alone are a run (not "matches no benchmark")
    cfg.filter, cfg.out = "^switch/go/", tmp_path / "out3"
    run.execute(cfg, log=io.StringIO())
    assert [b["name"] for b in load_gb_json(cfg.out / "gobench.json")["benchmarks"]] == \
        ["switch/go/real_time"]
    cfg.peers, cfg.out = False, tmp_path / "out2"
    monkeypatch.setattr(peers, "gobench_missing", lambda build_dir: pytest.fail("asked"))
    with pytest.raises(Exception, match="matches no benchmark"):
        run.execute(cfg, log=io.StringIO())


# ---- the result tools (fixtures/gobench.json) ----------------------------------------

def test_tidy_reads_go_rows_as_the_go_peer_with_gomaxprocs():
    res = tidy.load(FIXTURE)
    sky = {b.name: b for b in res.ok("skynet")}
    b = sky["skynet/go/n:1000000/gomaxprocs:1"]
    assert (b.model, b.params) == ("go", {"n": "1000000", "gomaxprocs": "1"})
    assert b.label(skip=("n",)) == "go gomaxprocs:1" and b.model in tidy.PEERS
    assert b.one_iteration and len({r[tidy.PROCESS] for r in b.reps}) == 3
    cold, steady = tidy.cold_and_steady(b, tidy.NS_PER_TASK)
    assert cold is not None and steady is not None and steady.has_interval
    assert 100 < b.stat(tidy.NS_PER_TASK).median < 1e5      # ns per goroutine
    [sw1, sw2] = res.ok("switch")
    assert (sw1.label(), sw2.label()) == ("go gomaxprocs:1", "go gomaxprocs:2")
    assert sw1.stat(tidy.NS_PER_SWITCH).median > 0
    assert [plotkit.style_model(x) for x in (sw1, sw2)] == ["go_gomaxprocs1", "go"]


def test_charts_and_report_tables_show_the_go_rows():
    res = tidy.load(FIXTURE)
    sky = plotcharts.chart_skynet(res)
    assert sky is not None
    legend = [t.get_text() for ax in sky.axes if ax.get_legend()
              for t in ax.get_legend().get_texts()]
    assert "go gomaxprocs:1" in legend and "go gomaxprocs:2" in legend
    assert plotcharts.chart_switch(res) is not None
    table = report.workload_table(res, "skynet")
    labels = {row[1] for row in table.rows}
    assert labels == {"go gomaxprocs:1", "go gomaxprocs:2"}
    assert "rep 0 (cold)" in table.columns
    assert {row[0] for row in report.workload_table(res, "switch").rows} == \
        {"go gomaxprocs:1", "go gomaxprocs:2"}


def test_switch_claims_ignore_the_go_rows():
    res = tidy.load(FIXTURE)
    limits = load_thresholds()
    for measure, key in ((claimchecks.measure_switch_cost, "switch_cost"),
                         (claimchecks.measure_switch_rate, "switch_rate")):
        m = measure(res, limits[key])
        assert m.missing and not m.cases and "go" not in m.missing.split("(")[0]
