"""History: change points on series with a known step, a step confined to the
last runs, a reverted temporary regression, and flat noise (no false step,
over many series at once); the per-machine JSON-lines file `run` and `gate`
append to; `switchyard history` (dashboard, --json, --check) and exit codes.
Seeds are fixed.
"""
import json
import re
import subprocess

import numpy as np
import pytest

from conftest import DRIVER, driver_env

from sylib import changepoint, fingerprint, history
from sylib.results import InputError

FP = {"fingerprint_id": "cafe0001", "git_commit": "a" * 40, "git_dirty": False,
      "cpu_model": "CPU X", "cores_online": 2, "arch": "x86_64", "kernel": "6.1",
      "compiler": "GNU 12"}
MACHINE = fingerprint.machine_id(FP)


def noisy(rng, n, sd=0.02, df=None):
    """Multiplicative noise: normal, or Student t with df (heavy tails), sd sd."""
    if df is None:
        return np.exp(sd * rng.standard_normal(n))
    return np.exp(sd * rng.standard_t(df, n) / np.sqrt(df / (df - 2)))


# ---- change points --------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_known_step_is_found_where_it_is(seed):
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(100, 2, 20), rng.normal(115, 2, 16)]
    cps = changepoint.find(x)
    assert [c.index for c in cps] == [20]
    assert cps[0].shift == pytest.approx(0.15, abs=0.03)
    assert cps[0].p < changepoint.DEFAULT_ALPHA


def test_two_steps_are_both_found():
    rng = np.random.default_rng(7)
    x = np.r_[rng.normal(100, 2, 15), rng.normal(110, 2, 15), rng.normal(95, 2, 15)]
    assert [c.index for c in changepoint.find(x)] == [15, 30]


@pytest.mark.parametrize("seed", range(10))
def test_a_step_confined_to_the_last_3_runs_is_found_among_110_series(seed):
    rng = np.random.default_rng(200 + seed)
    x = 1000 * noisy(rng, 30, 0.02, df=5)
    x[-3:] *= 1.15
    cps = changepoint.find(x, series_count=110)
    assert [c.index for c in cps] == [27]
    assert cps[0].shift == pytest.approx(0.15, abs=0.05)


@pytest.mark.parametrize("seed", range(10))
def test_a_reverted_temporary_regression_is_found_among_110_series(seed):
    rng = np.random.default_rng(300 + seed)
    x = 1000 * noisy(rng, 45, 0.02, df=5)
    x[15:30] *= 1.08                                   # 15 good, 15 bad, 15 good
    cps = changepoint.find(x, series_count=110)
    assert len(cps) == 2, cps                 # where it starts and where it was reverted
    assert abs(cps[0].index - 15) <= 2 and abs(cps[1].index - 30) <= 2
    assert cps[0].shift > 0.04 and cps[1].shift < -0.04


@pytest.mark.parametrize("df,most", [(None, 1), (5, 4)])
def test_flat_noise_over_110_series_rarely_raises_anything(df, most):
    """The false-alarm rate over a whole history (110 series of 40 runs, noise
    3%): with normal noise at most 1 of 40 histories shows any step (nominal
    alpha 1%); with heavy tails (Student t, 5 degrees of freedom) the normal
    tail the p-values use is optimistic, and at most 4 of 40 do."""
    rng = np.random.default_rng(17 if df is None else 18)
    alarms = 0
    for _ in range(40):
        alarms += any(changepoint.find(1000 * noisy(rng, 40, 0.03, df), series_count=110)
                      for _ in range(110))
    assert alarms <= most


@pytest.mark.parametrize("seed", range(10))
def test_flat_noise_has_no_false_step(seed):
    x = np.random.default_rng(100 + seed).normal(100, 3, 40)
    assert changepoint.find(x) == []


def test_one_outlier_is_not_a_step():
    x = np.random.default_rng(11).normal(100, 1, 30)
    x[12] = 400
    assert changepoint.find(x) == []


def test_small_significant_step_is_below_min_shift():
    rng = np.random.default_rng(12)
    x = np.r_[rng.normal(100, 0.1, 20), rng.normal(101, 0.1, 20)]   # a clean 1% step
    assert changepoint.find(x) == []
    assert [c.index for c in changepoint.find(x, min_shift=0.005)] == [20]


def test_short_and_constant_series():
    assert changepoint.find([1, 2, 3]) == []
    assert changepoint.find([5.0] * 30) == []
    assert changepoint.find([]) == []


def test_segment_scores_match_the_formula():
    x = np.log(np.array([1.0, 1.0, 1.2, 1.2, 1.2, 1.0, 1.0, 1.0]))
    a, b, z, scanned = changepoint.best_segment(x, 0.05, 2)
    assert (a, b) == (2, 5)
    want = (np.log(1.2) - 0) / (0.05 * np.sqrt(1 / 3 + 1 / 5))
    assert z == pytest.approx(want)


def test_same_series_same_answer():
    x = np.random.default_rng(5).normal(100, 5, 30)
    x[15:] += 20
    assert changepoint.find(x) == changepoint.find(x)


def test_segments():
    cps = [changepoint.ChangePoint(4, 0.001, 1, 2)]
    assert changepoint.segments(10, cps) == [(0, 4), (4, 10)]


# ---- history file -----------------------------------------------------------------------

def make_run(root, name, times, *, tier="quick", started="2026-01-01T00:00:00+00:00",
             fail=False):
    d = root / name
    d.mkdir(parents=True)
    rows = [{"name": "switch/bare_call/real_time", "run_name": "switch/bare_call/real_time",
             "run_type": "iteration", "repetition_index": i, "real_time": t,
             "time_unit": "ns", "switches": 20000.0, "checksum": 200010000.0,
             "items_per_second": 1e9 / t, "process": i} for i, t in enumerate(times)]
    rows.append({"name": "switch/futex/pin:same/real_time", "run_type": "iteration",
                 "error_occurred": True, "error_message": "skipped: cannot pin"})
    if fail:
        rows.append({"name": "switch/bare_coroutine/real_time", "run_type": "iteration",
                     "error_occurred": True, "error_message": "checksum mismatch"})
    (d / "switch.json").write_text(json.dumps(
        {"context": {"fingerprint": FP, "switchyard": {"tier": tier}}, "benchmarks": rows}))
    (d / "run.json").write_text(json.dumps(
        {"switchyard_run": 1, "started": started, "tier": tier, "fingerprint": FP}))
    return d


def test_summary_lines_one_per_benchmark(tmp_path):
    run = make_run(tmp_path, "r1", [100.0, 110.0, 90.0], fail=True)
    machine, lines = history.summary_lines(run)
    assert machine == MACHINE and machine.startswith("m-")
    by = {l["name"]: l for l in lines}
    ok = by["switch/bare_call"]
    assert ok["status"] == "ok" and ok["median_ns"] == 100.0 and ok["n"] == 3
    assert ok["processes"] == 3 and ok["origin"] == "run"
    assert ok["kernel"] == "6.1" and ok["compiler"] == "GNU 12"          # per point
    assert ok["work"] == {"switches": 20000.0, "checksum": 200010000.0}
    assert ok["tier"] == "quick" and ok["commit"] == "a" * 40 and ok["run"] == "r1"
    assert by["switch/futex/pin:same"]["status"] == "skipped"
    assert by["switch/bare_coroutine"]["status"] == "failed"


def test_after_run_appends_beside_the_run_dir(tmp_path):
    results = tmp_path / "results"
    for i in range(2):
        history.after_run(make_run(results, f"r{i}", [100.0 + i]), log=open("/dev/null", "w"))
    path = results / "history" / f"{MACHINE}.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 2 * 2 and all(json.loads(l)["v"] == 2 for l in lines)


def test_machine_identity_ignores_kernel_and_compiler():
    assert fingerprint.machine_id({**FP, "kernel": "6.18", "compiler": "GNU 14"}) == MACHINE
    assert fingerprint.machine_id({**FP, "cores_online": 4}) != MACHINE


def test_gate_output_appends_both_sides(tmp_path):
    out = tmp_path / "gate"
    for side, t in (("base", 100.0), ("cand", 130.0)):
        (out / side).mkdir(parents=True)
        rows = [{"name": "switch/bare_call/real_time", "run_type": "iteration",
                 "real_time": t, "time_unit": "ns", "process": i} for i in range(3)]
        (out / side / "switch.json").write_text(json.dumps(
            {"context": {"fingerprint": FP}, "benchmarks": rows}))
    (out / "report.json").write_text(json.dumps({"gate": {"mode": "timing", "tier": "quick"}}))
    history.after_gate(out, log=open("/dev/null", "w"), history_dir=tmp_path / "h")
    lines = history.read_lines(tmp_path / "h" / f"{MACHINE}.jsonl")
    assert sorted((l["origin"], l["median_ns"]) for l in lines) == [
        ("gate:base", 100.0), ("gate:cand", 130.0)]
    # a trend is about main's code: the candidate side is left out unless asked for
    assert [len(s.points) for s in history.analyse(lines)] == [1]
    assert [len(s.points) for s in history.analyse(lines, origins=None)] == [2]


def test_after_run_never_raises(tmp_path, capsys):
    import sys
    history.after_run(tmp_path / "missing", log=sys.stderr)
    assert "history not updated" in capsys.readouterr().err


def test_read_lines_skips_torn_lines_and_duplicates(tmp_path):
    p = tmp_path / "h.jsonl"
    good = {"name": "a", "run": "r1", "time": "t", "status": "ok", "median_ns": 1.0}
    p.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n" + '{"name": "b", "ru')
    assert history.read_lines(p) == [good]


def test_analyse_keeps_tiers_apart_and_ignores_failures():
    lines = [{"name": "a", "tier": t, "status": "ok", "median_ns": 1.0, "time": str(i)}
             for i, t in enumerate(["quick", "full", "quick"])]
    lines.append({"name": "a", "tier": "quick", "status": "failed", "time": "9"})
    series = {s.label: s for s in history.analyse(lines)}
    assert len(series["a [quick]"].points) == 2 and len(series["a [full]"].points) == 1
    assert [s.label for s in history.analyse(lines, tier="full")] == ["a [full]"]


def synthetic_history(d, n=24, step_at=14, last_step=False):
    rng = np.random.default_rng(3)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / f"{MACHINE}.jsonl", "w") as f:
        for i in range(n):
            v = 30000 * (1.2 if i >= step_at else 1.0) * (1 + rng.normal(0, 0.02))
            w = 50000 * (1.25 if last_step and i >= n - 3 else 1.0) * (1 + rng.normal(0, 0.02))
            for name, value in (("switch/bare_call", v), ("switch/bare_coroutine", 70000.0),
                                ("switch/coroutine", w)):
                f.write(json.dumps({"v": 2, "time": f"2026-01-{i + 1:02d}T00:00:00+00:00",
                                    "run": f"r{i}", "commit": f"{i:07x}", "tier": "full",
                                    "origin": "run", "name": name, "status": "ok",
                                    "median_ns": value}) + "\n")


def sy_history(*args):
    return subprocess.run([str(DRIVER), "history", *map(str, args)], capture_output=True,
                          text=True, env=driver_env(SWITCHYARD_SKIP_DEPS="1"), timeout=120)


def test_history_command_writes_a_dashboard_and_marks_the_step(tmp_path):
    synthetic_history(tmp_path / "h")
    r = sy_history("--dir", tmp_path / "h", "--out", tmp_path / "dash")
    assert r.returncode == 0, r.stderr
    assert "switch/bare_call [full]: 24 points" in r.stdout
    assert re.search(r"change points: point 15 \(2026-01-15 000000e\): \+(19|20|21)\.", r.stdout)
    assert "switch/bare_coroutine [full]: 24 points, latest 70 us; no change point" in r.stdout
    assert sorted(p.name for p in (tmp_path / "dash").iterdir()) == ["index.html"]
    page = (tmp_path / "dash" / "index.html").read_text()
    assert page.count("<svg") == 3 and "switch/bare_call [full]" in page
    assert page.index("switch/bare_call [full]") < page.index("switch/bare_coroutine [full]")
    assert "http" not in page.replace("http-equiv", "")          # self-contained


def test_history_check_alerts_on_a_recent_slowdown_only(tmp_path):
    synthetic_history(tmp_path / "old")                     # the step is 10 points back
    r = sy_history("--dir", tmp_path / "old", "--out", tmp_path / "d1", "--check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 series with a slowdown" in r.stdout
    synthetic_history(tmp_path / "new", last_step=True)     # +25% in the last 3 points
    r = sy_history("--dir", tmp_path / "new", "--out", tmp_path / "d2", "--check")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 series with a slowdown of more than 3% starting in the last 5 points" in r.stdout
    assert "switch/coroutine [full]: 24 points" in r.stdout and "ALERT" in r.stdout
    r = sy_history("--dir", tmp_path / "new", "--out", tmp_path / "d3", "--json")
    data = json.loads(r.stdout)
    alerts = [s["name"] for s in data["series"] if s["alert"]]
    assert alerts == ["switch/coroutine"] and data["machine"] == MACHINE


def test_history_filter_and_machine(tmp_path):
    synthetic_history(tmp_path / "h")
    out = []

    class Log:
        def write(self, s):
            out.append(s)
    history.execute(history_dir=tmp_path / "h", filter="bare_coroutine", machine=MACHINE,
                    out=tmp_path / "c", log=Log())
    assert "bare_call" not in "".join(out)
    with pytest.raises(InputError, match="no history for machine beef"):
        history.execute(history_dir=tmp_path / "h", machine="beef")
    with pytest.raises(InputError, match="matches"):
        history.execute(history_dir=tmp_path / "h", filter="nothing-like-this")


def test_history_without_any_file_exits_2(tmp_path):
    r = sy_history("--dir", tmp_path)
    assert r.returncode == 2
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "no history yet" in lines[0]
