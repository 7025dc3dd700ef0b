"""History: change points on series with a known step and on flat noise
(no false step), the per-machine JSON-lines file `run` appends to, and
`switchyard history` charts and exit codes. Seeds are fixed.
"""
import json
import subprocess

import numpy as np
import pytest

from conftest import DRIVER, driver_env

from sylib import changepoint, history
from sylib.results import InputError

FP = {"fingerprint_id": "cafe0001", "git_commit": "a" * 40, "git_dirty": False}


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


def test_split_scores_match_the_rank_sum_formula():
    r = np.array([3.0, 1.0, 4.0, 2.0, 6.0, 5.0])
    n = len(r)
    got = changepoint.split_scores(r, 1)[0]
    for k in range(1, n):
        want = abs(r[:k].sum() - k * (n + 1) / 2) / np.sqrt(k * (n - k) * (n + 1) / 12)
        assert got[k - 1] == pytest.approx(want)


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
             "items_per_second": 1e9 / t} for i, t in enumerate(times)]
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
    fp_id, lines = history.summary_lines(run)
    assert fp_id == "cafe0001"
    by = {l["name"]: l for l in lines}
    ok = by["switch/bare_call"]
    assert ok["status"] == "ok" and ok["median_ns"] == 100.0 and ok["n"] == 3
    assert ok["work"] == {"switches": 20000.0, "checksum": 200010000.0}
    assert ok["tier"] == "quick" and ok["commit"] == "a" * 40 and ok["run"] == "r1"
    assert by["switch/futex/pin:same"]["status"] == "skipped"
    assert by["switch/bare_coroutine"]["status"] == "failed"


def test_after_run_appends_beside_the_run_dir(tmp_path):
    results = tmp_path / "results"
    for i in range(2):
        history.after_run(make_run(results, f"r{i}", [100.0 + i]), log=open("/dev/null", "w"))
    path = results / "history" / "cafe0001.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 2 * 2 and all(json.loads(l)["v"] == 1 for l in lines)


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


def synthetic_history(d, n=24, step_at=14):
    rng = np.random.default_rng(3)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "cafe0001.jsonl", "w") as f:
        for i in range(n):
            v = 30000 * (1.2 if i >= step_at else 1.0) * (1 + rng.normal(0, 0.02))
            for name, value in (("switch/bare_call", v), ("switch/bare_coroutine", 70000.0)):
                f.write(json.dumps({"v": 1, "time": f"2026-01-{i + 1:02d}T00:00:00+00:00",
                                    "run": f"r{i}", "commit": f"{i:07x}", "tier": "full",
                                    "name": name, "status": "ok", "median_ns": value}) + "\n")


def test_history_command_draws_charts_and_marks_the_step(tmp_path):
    synthetic_history(tmp_path / "h")
    r = subprocess.run([str(DRIVER), "history", "--dir", str(tmp_path / "h"),
                        "--out", str(tmp_path / "charts")], capture_output=True, text=True,
                       env=driver_env(SWITCHYARD_SKIP_DEPS="1"), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "switch/bare_call [full]: 24 runs" in r.stdout
    assert "change points: run 15 (2026-01-15 000000e): +2" in r.stdout
    assert "switch/bare_coroutine [full]: 24 runs, latest 70 us; no change point" in r.stdout
    pngs = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert pngs == ["switch_bare_call-full.png", "switch_bare_coroutine-full.png"]
    assert (tmp_path / "charts" / pngs[0]).read_bytes()[:4] == b"\x89PNG"


def test_history_filter_and_fingerprint(tmp_path):
    synthetic_history(tmp_path / "h")
    out = []

    class Log:
        def write(self, s):
            out.append(s)
    history.execute(history_dir=tmp_path / "h", filter="coroutine", fingerprint="cafe0001",
                    out=tmp_path / "c", log=Log())
    assert "bare_call" not in "".join(out)
    with pytest.raises(InputError, match="no history for fingerprint beef"):
        history.execute(history_dir=tmp_path / "h", fingerprint="beef")
    with pytest.raises(InputError, match="matches"):
        history.execute(history_dir=tmp_path / "h", filter="nothing-like-this")


def test_history_without_any_file_exits_2(tmp_path):
    r = subprocess.run([str(DRIVER), "history", "--dir", str(tmp_path)], capture_output=True,
                       text=True, env=driver_env(SWITCHYARD_SKIP_DEPS="1"), timeout=60)
    assert r.returncode == 2
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "no history yet" in lines[0]
