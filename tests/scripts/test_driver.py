"""The driver: usage errors exit 2 with one line; the watchdog kills a hung
bench, records it and carries on; checks failing inside a bench fail the run.
"""
import json
import os
import subprocess

import pytest

from conftest import driver_env, one_line_error, sy

from sylib import deps, procs, run
from sylib.results import InputError


@pytest.mark.parametrize("args,needle", [
    (["frobnicate"], "invalid choice"),
    ([], "required"),
    (["run", "--bogus"], "unrecognized arguments"),
    (["run", "--repetitions", "zero"], "not a whole number"),
    (["run", "--repetitions", "0"], "at least 1"),
    (["run", "--timeout", "-3"], "must be positive"),
    (["test", "--frob"], "unrecognized arguments"),
])
def test_usage_errors_are_one_line_exit_2(args, needle):
    assert needle in one_line_error(sy(*args))


def test_unknown_model_is_rejected():
    assert "unknown model 'greenlet'" in one_line_error(sy("run", "--models", "coroutine,greenlet"))


def test_invalid_filter_regex_is_rejected():
    assert "not a valid regular expression" in one_line_error(sy("run", "--filter", "(unclosed"))


def test_filter_matching_nothing_is_rejected(tmp_path, selftest_build):
    r = sy("run", "--build-dir", str(selftest_build), "--filter", "no-such-bench-xyz",
           "--out", str(tmp_path / "out"))
    assert "matches no benchmark" in one_line_error(r)


def test_unwritable_out_fails_before_any_bench(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = sy("run", "--out", str(blocker / "sub"))
    assert "not writable" in one_line_error(r)


def _run_selftest(tmp_path, build, fault, timeout="3"):
    out = tmp_path / "out"
    r = sy("run", "--build-dir", str(build), "--filter", "selftest|switch/bare_call",
           "--timeout", timeout, "--processes", "1", "--quick", "--out", str(out),
           env=driver_env(SY_SELFTEST_FAULT=fault))
    manifest = json.loads((out / "run.json").read_text())
    status = {b["bench"]: b for b in manifest["benches"]}
    return r, out, status


def test_watchdog_kills_hung_bench_and_run_continues(tmp_path, selftest_build):
    r, out, status = _run_selftest(tmp_path, selftest_build, "hang", timeout="2")
    assert r.returncode == 1
    assert status["selftest"]["status"] == "timeout"
    assert "timeout after 2 s" in status["selftest"]["reason"]
    assert status["switch"]["status"] == "ok"          # the run went on
    assert "FAILED bench_selftest" in r.stderr
    data = json.loads((out / "selftest.json").read_text())
    assert data["context"]["switchyard"]["status"] == "timeout"
    assert data["context"]["fingerprint"]["fingerprint_id"]
    sw = json.loads((out / "switch.json").read_text())
    assert any(b["name"].startswith("switch/bare_call") for b in sw["benchmarks"])


def test_crashing_bench_is_recorded(tmp_path, selftest_build):
    r, _, status = _run_selftest(tmp_path, selftest_build, "crash")
    assert r.returncode == 1
    assert status["selftest"]["status"] == "crashed"
    assert "SIGABRT" in status["selftest"]["reason"]


def test_checksum_mismatch_fails_the_run(tmp_path, selftest_build):
    r, _, status = _run_selftest(tmp_path, selftest_build, "mismatch")
    assert r.returncode == 1
    assert status["selftest"]["status"] == "failed"
    assert "checksum mismatch" in status["selftest"]["failures"][0]["reason"]


def test_skip_is_not_a_failure(tmp_path, selftest_build):
    r, _, status = _run_selftest(tmp_path, selftest_build, "skip")
    assert r.returncode == 0, r.stderr
    assert status["selftest"]["status"] == "ok"
    assert status["selftest"]["skips"][0]["reason"] == "selftest asked to skip"
    assert "skipped selftest/fault" in r.stderr


def test_progress_line_format(tmp_path, selftest_build):
    r, _, _ = _run_selftest(tmp_path, selftest_build, "")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("[")]
    assert len(lines) == 2
    assert lines[0].startswith("[1/2] bench_") and " round 1/1" in lines[0] and "(ETA " in lines[0]


def test_repetitions_come_from_separate_pinned_processes_in_rounds(tmp_path, selftest_build):
    """The default quick run: 3 rounds; every row says which round (process)
    made it and which CPU that process was pinned to; pinned single-threaded
    benchmarks alternate CPUs; a thread benchmark runs unpinned (cpu -1)."""
    out = tmp_path / "out"
    r = sy("run", "--build-dir", str(selftest_build), "--quick", "--no-peers", "--out", str(out),
           "--filter", "^switch/(bare_call|thread/pin:none)/")
    assert r.returncode == 0, r.stderr
    rows = json.loads((out / "switch.json").read_text())["benchmarks"]
    by_name: dict = {}
    for e in rows:
        by_name.setdefault(e["run_name"], []).append(e)
    bare = by_name["switch/bare_call/real_time"]
    assert sorted(e["process"] for e in bare) == [0, 1, 2]
    assert [e["repetition_index"] for e in bare] == [0, 1, 2]
    cpus = sorted(os.sched_getaffinity(0))
    assert [e["cpu"] for e in bare] == [cpus[p % len(cpus)] for p in (0, 1, 2)]
    thread = by_name["switch/thread/pin:none/real_time"]
    assert [e["cpu"] for e in thread] == [-1, -1, -1]
    manifest = json.loads((out / "run.json").read_text())
    procs = manifest["benches"][0]["processes"]
    assert len(procs) == 6                            # 3 rounds x (pinned, unpinned)
    assert not any(e.get("run_type") == "aggregate" for e in rows)
    assert "processes), 0 failed" in r.stderr


# ---- pure functions ----------------------------------------------------------------

def test_missing_packages_uses_dpkg_status():
    fake = lambda pkgs: {"a": "ii", "b": "un", "c": "rc"}
    assert deps.missing(["a", "b", "c", "d"], query=fake) == ["b", "c", "d"]


def test_install_line_is_exact():
    assert deps.install_line(["x", "y"]) == "sudo apt-get install -y x y"


def test_packages_for_test_include_pytest_and_build():
    pk = deps.packages_for("test")
    assert "python3-pytest" in pk and "liburing-dev" in pk and "g++" in pk


def test_parse_models():
    assert run.parse_models("fiber, libuv") == ["fiber", "libuv"]
    assert run.parse_models(None) is None
    with pytest.raises(InputError):
        run.parse_models("fiber,gevent")
    with pytest.raises(InputError):
        run.parse_models(",")


def test_describe_returncode():
    assert procs.describe_returncode(0) == ("ok", "")
    assert procs.describe_returncode(-11) == ("crashed", "killed by SIGSEGV")
    assert procs.describe_returncode(3) == ("failed", "exit status 3")


def test_watchdog_times_out_a_sleeping_process(tmp_path):
    o = procs.run(["sleep", "30"], timeout=0.5, log_path=str(tmp_path / "log"))
    assert o.status == "timeout" and o.seconds < 10


def test_watchdog_reports_missing_executable(tmp_path):
    o = procs.run([str(tmp_path / "nope")], timeout=1, log_path=str(tmp_path / "log"))
    assert o.status == "error" and "cannot start" in o.reason


def test_eta_uses_the_previous_run_scaled_to_this_one():
    previous = {"switch": 30.0, "echo": 300.0, "spawn": 50.0}
    # this run is twice as slow so far: echo should take ~600 s, not the mean
    assert run.eta_seconds([("switch", 60.0)], ["echo", "spawn"], previous) == \
        pytest.approx(700.0)
    # a bench without history counts as the mean of this run's so far
    assert run.eta_seconds([("switch", 20.0), ("spawn", 40.0)], ["new"], previous) == \
        pytest.approx(30.0)
    assert run.eta_seconds([("switch", 20.0)], [], previous) == 0.0
    assert run.eta_seconds([("x", 10.0)], ["y", "z"], {}) == pytest.approx(20.0)


def test_previous_seconds_only_from_the_same_selection():
    manifest = {"tier": "full", "filter": None, "models": None, "repetitions": 3,
                "benches": [{"bench": "echo", "status": "ok", "seconds": 280.0},
                            {"bench": "sleep", "status": "failed", "seconds": 9.0},
                            {"bench": "bad", "status": "ok", "seconds": "x"}, "junk"]}
    same = {"tier": "full", "filter": None, "models": None, "repetitions": 3}
    assert run.previous_seconds(manifest, same) == {"echo": 280.0}
    assert run.previous_seconds(manifest, dict(same, tier="quick")) == {}
    assert run.previous_seconds(manifest, dict(same, filter="echo")) == {}


def test_fmt_duration():
    assert run.fmt_duration(70.4) == "1:10"
    assert run.fmt_duration(0) == "0:00"


def test_explicit_repetitions_reach_benches_with_their_own_count():
    assert "--sy_repetitions=7" in run.bench_args(run.RunConfig(repetitions=7))
    assert not any(a.startswith("--sy_repetitions") for a in run.bench_args(run.RunConfig()))
    # a run's bench process: its repetitions per process (1; cold-first benches 2)
    assert "--sy_repetitions=1" in run.bench_args(run.RunConfig(), "echo")
    assert "--sy_repetitions=2" in run.bench_args(run.RunConfig(), "skynet")


def test_long_open_reaches_the_benches_and_widens_the_watchdog():
    """`run --long-open`: every bench process gets --sy_long_open (echo sizes
    its open-loop windows for p99.9), and quick's 180 s limit would not hold
    its ~16 s per server: the full tier's limit applies unless --timeout."""
    from sylib import main
    args = main.make_parser().parse_args(["run", "--quick", "--long-open"])
    assert args.long_open
    cfg = run.RunConfig(quick=True, long_open=True)
    assert "--sy_long_open" in run.bench_args(cfg, "echo")
    assert "--sy_long_open" not in run.bench_args(run.RunConfig(), "echo")
    assert cfg.limit() == 600.0 and run.RunConfig(quick=True).limit() == 180.0
    assert run.RunConfig(quick=True, long_open=True, timeout=50).limit() == 50


def test_full_is_the_publication_tier_and_excludes_quick(tmp_path):
    """`run --full`: every bench process gets --sy_full and --sy_long_open and
    the full tier's watchdog limit; with --quick it is a usage error."""
    from sylib import main
    assert main.make_parser().parse_args(["run", "--full"]).full
    cfg = run.RunConfig(full=True)
    args = run.bench_args(cfg, "echo")
    assert "--sy_full" in args and "--sy_long_open" in args
    assert "--sy_full" not in run.bench_args(run.RunConfig(), "echo")
    assert cfg.limit() == 600.0
    assert "exclude each other" in one_line_error(sy("run", "--quick", "--full",
                                                     "--out", str(tmp_path / "out")))


def test_full_tier_registers_the_points_the_default_run_leaves_out(selftest_build):
    """bench_echo --sy_full lists the 1 KiB size, the 25 000 msg/s rate and the
    reference servers' open loop, which the default run leaves out."""
    exe = selftest_build / "benches" / "bench_echo"

    def names(*extra):
        r = subprocess.run([str(exe), "--benchmark_list_tests", *extra],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return set(r.stdout.split())

    default, full = names(), names("--sy_full")
    assert default < full
    extra = full - default
    assert any("/size:1024/" in n for n in extra)
    assert any("/rate:25000" in n for n in extra)
    assert any(n.startswith("echo/libuv_ref/") and "/mode:open/" in n for n in extra) or \
        not any(n.startswith("echo/libuv_ref/") for n in default)


def test_process_plan_by_tier_and_bench():
    full, quick = run.RunConfig(), run.RunConfig(quick=True)
    assert full.procs("switch") == 5 and full.procs("echo") == 3 and full.procs("skynet") == 3
    assert quick.procs("switch") == 3 and quick.procs("echo") == 3
    assert run.RunConfig(processes=7).procs("echo") == 7


@pytest.mark.parametrize("flag,needle", [
    ("--sy_repetitions=0", "not a whole number from 1 to 1000"),
    ("--sy_repetitions=x", "not a whole number from 1 to 1000"),
    ("--sy_iterations=-1", "not a positive whole number"),
    ("--sy_models=greenlet", "unknown model 'greenlet'"),
    ("--sy_frob", "unknown flag '--sy_frob'"),
])
def test_bench_flag_errors_are_one_line_exit_2(selftest_build, flag, needle):
    exe = selftest_build / "benches" / "bench_selftest"
    r = subprocess.run([str(exe), flag], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and needle in lines[0], r.stderr
