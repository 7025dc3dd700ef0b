"""`switchyard compare`: verdicts on synthetic results where the truth is
known (seeded, so nothing flakes), counters, fingerprints, output formats,
and one-line exit-2 errors for bad input.
"""
import json
import re

import numpy as np
import pytest

import conftest
from conftest import FIXTURES, driver_env, one_line_error

from sylib import compare, policy, verdicts
from sylib.results import InputError

FP_A = {"fingerprint_id": "aaaa1111", "cpu_model": "CPU A", "cores_online": 2,
        "kernel": "6.1", "compiler": "GNU 12.2.0", "git_commit": "1" * 40, "git_dirty": False}
FP_B = {**FP_A, "fingerprint_id": "bbbb2222", "cpu_model": "CPU B"}
SWITCH_WORK = {"switches": 20000.0, "checksum": 200010000.0}


def gb(benches: dict, *, fingerprint=FP_A, counters=None, unit="ns", aggregates=True,
       processes=True) -> dict:
    """Google Benchmark JSON shaped like bench_switch's: per-repetition rows
    (+ mean/median/stddev/cv aggregates) for {name: [real_time, ...]}.
    `processes`: every repetition from a process of its own (a `process`
    field, as gate and process-level runs write); False: all from one."""
    rows = []
    for name, times in benches.items():
        run_name = f"{name}/real_time"
        c = dict(SWITCH_WORK if counters is None else counters)
        for i, t in enumerate(times):
            rows.append({"name": run_name, "run_name": run_name, "run_type": "iteration",
                         "repetitions": len(times), "repetition_index": i, "threads": 1,
                         "iterations": 100, "real_time": float(t), "cpu_time": float(t),
                         "time_unit": unit, "items_per_second": 1e9 / t, **c,
                         **({"process": i} if processes else {})})
        if aggregates and len(times) > 1:
            for agg, v in (("mean", np.mean(times)), ("median", np.median(times)),
                           ("stddev", np.std(times)), ("cv", np.std(times) / np.mean(times))):
                rows.append({"name": f"{run_name}_{agg}", "run_name": run_name,
                             "run_type": "aggregate", "aggregate_name": agg,
                             "aggregate_unit": "percentage" if agg == "cv" else "time",
                             "iterations": len(times), "real_time": float(v),
                             "cpu_time": float(v), "time_unit": unit, **c})
    ctx = {"date": "2026-01-01", "num_cpus": 2}
    if fingerprint:
        ctx["fingerprint"] = fingerprint
    return {"context": ctx, "benchmarks": rows}


def normal(seed, n, centre=1000.0, rel_sd=0.01):
    return list(np.random.default_rng(seed).normal(centre, centre * rel_sd, n))


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def sy(*args):
    return conftest.sy(*args, env=driver_env(SWITCHYARD_SKIP_DEPS="1"), timeout=120)


def verdict(base, cand, **settings):
    report = compare.compare([("base", base)], [("cand", cand)], compare.Settings(**settings))
    return report, {r["name"]: r for r in report["rows"]}


# ---- the synthetic truths --------------------------------------------------

def test_20_percent_slowdown_with_9_repetitions_is_a_regression(tmp_path):
    base = write(tmp_path, "base.json", gb({"switch/bare_call": normal(1, 9)}))
    cand = write(tmp_path, "cand.json", gb({"switch/bare_call": normal(2, 9, 1200.0)}))
    r = sy("compare", base, cand)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "regression" in r.stdout and re.search(r"\+(19|20)\.\d%", r.stdout)
    assert "FAIL: 1 regression" in r.stdout


def test_identical_distributions_are_no_change():
    report, rows = verdict(gb({"switch/bare_call": normal(3, 9)}),
                           gb({"switch/bare_call": normal(4, 9)}))
    assert rows["switch/bare_call"]["verdict"] == "no change"
    assert report["exit_status"] == 0


def test_two_processes_are_inconclusive_and_say_how_many_are_needed():
    _, rows = verdict(gb({"switch/bare_call": [1000, 1001]}),
                      gb({"switch/bare_call": [1500, 1490]}))
    row = rows["switch/bare_call"]
    assert row["verdict"] == "inconclusive"
    assert "need at least 3 processes a side" in row["reason"]
    assert row["change"] == pytest.approx(1495 / 1000.5 - 1)


def test_repetitions_from_one_process_get_no_interval_and_the_report_says_why():
    base = gb({"switch/bare_call": normal(1, 9)}, processes=False)
    cand = gb({"switch/bare_call": normal(2, 9, 1500.0)}, processes=False)
    report, rows = verdict(base, cand)
    row = rows["switch/bare_call"]
    assert row["verdict"] == "inconclusive" and row["ci"] is None
    assert "1 base and 1 cand process(es)" in row["reason"]
    assert row["base"]["n"] == 9 and row["base"]["processes"] == 1
    assert any("not independent" in n for n in report["notes"])
    assert report["exit_status"] == 0


def test_noisy_15_percent_with_2_percent_shift_is_inconclusive():
    rng = np.random.default_rng(5)
    base = list(1000 * rng.uniform(0.85, 1.15, 9))
    cand = list(1020 * rng.uniform(0.85, 1.15, 9))
    _, rows = verdict(gb({"switch/bare_call": base}), gb({"switch/bare_call": cand}))
    row = rows["switch/bare_call"]
    assert row["verdict"] == "inconclusive", row
    assert row["ci"][0] < 0.03 < row["ci"][1]            # the interval straddles the floor
    assert "straddles" in row["reason"]


def test_counter_mismatch_is_a_failure_whatever_the_timings(tmp_path):
    same = normal(6, 9)
    base = write(tmp_path, "base.json", gb({"switch/bare_call": same}))
    cand = write(tmp_path, "cand.json", gb({"switch/bare_call": same},
                                           counters={**SWITCH_WORK, "checksum": 1.0}))
    r = sy("compare", base, cand)
    assert r.returncode == 1
    assert "failure" in r.stdout and "checksum: base 200010000 != cand 1" in r.stdout


@pytest.mark.parametrize("content,needle", [
    ("", "empty file"),
    ("{not json", "malformed JSON"),
    ("[1, 2]", "not Google Benchmark JSON"),
    ('{"context": {}}', "no 'benchmarks' list"),
    ('{"benchmarks": [{"real_time": 1}]}', "has no 'name'"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, content, needle):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    good = write(tmp_path, "good.json", gb({"switch/bare_call": normal(7, 5)}))
    assert needle in one_line_error(sy("compare", bad, good))
    assert needle in one_line_error(sy("compare", good, bad))


def test_missing_file_and_empty_dir_exit_2(tmp_path):
    good = write(tmp_path, "good.json", gb({"switch/bare_call": normal(7, 5)}))
    assert "no such file" in one_line_error(sy("compare", tmp_path / "nope.json", good))
    (tmp_path / "empty").mkdir()
    assert "no result JSON" in one_line_error(sy("compare", good, tmp_path / "empty"))


def test_nothing_in_common_exits_2(tmp_path):
    a = write(tmp_path, "a.json", gb({"switch/bare_call": normal(1, 5)}))
    b = write(tmp_path, "b.json", gb({"spawn/fiber/n:10": normal(1, 5)}))
    assert "no benchmark appears on both sides" in one_line_error(sy("compare", a, b))


def test_unknown_time_unit_exits_2(tmp_path):
    a = write(tmp_path, "a.json", gb({"switch/bare_call": normal(1, 5)}, unit="fortnights"))
    assert "unknown time_unit 'fortnights'" in one_line_error(sy("compare", a, a))


def test_fingerprint_mismatch_is_refused(tmp_path):
    base = write(tmp_path, "base.json", gb({"switch/bare_call": normal(1, 9)}))
    cand = write(tmp_path, "cand.json", gb({"switch/bare_call": normal(2, 9)}, fingerprint=FP_B))
    line = one_line_error(sy("compare", base, cand))
    assert "different machines" in line and "aaaa1111" in line and "bbbb2222" in line
    assert "--allow-cross-machine" in line


def test_allow_cross_machine_marks_every_row(tmp_path):
    base = write(tmp_path, "base.json", gb({"switch/bare_call": normal(1, 9)}))
    cand = write(tmp_path, "cand.json", gb({"switch/bare_call": normal(2, 9, 1300.0)},
                                           fingerprint=FP_B))
    r = sy("compare", "--allow-cross-machine", "--json", base, cand)
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert report["machine"] == "different"
    assert all(row["cross_machine"] for row in report["rows"])
    assert report["notes"][0].startswith("CROSS-MACHINE")
    assert "(x-machine)" in verdicts.format_table(report)


# ---- plain Google Benchmark JSON -----------------------------------------------------

def test_plain_google_benchmark_json_is_compared_with_a_note(tmp_path):
    r = sy("compare", FIXTURES / "gb_plain_base.json", FIXTURES / "gb_plain_cand.json",
           "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    rows = {row["name"]: row for row in report["rows"]}
    assert report["machine"] == "unknown"
    assert "no switchyard fingerprint" in report["notes"][0]
    # units are converted: 0.5 s == 500 ms, 2 ms == 2000 us
    assert rows["BM_Seconds"]["change"] == pytest.approx(0.0)
    assert rows["BM_Labelled"]["change"] == pytest.approx(0.0)
    # duplicate names without run_type are repetitions; 2 are too few
    assert rows["BM_Twice"]["base"]["n"] == 2
    assert rows["BM_Twice"]["change"] == pytest.approx(1.0)
    assert rows["BM_Twice"]["verdict"] == "inconclusive"
    assert "only aggregate rows" in rows["BM_AggOnly"]["reason"]
    assert "no real_time" in rows["Complexity"]["reason"]
    assert rows["BM_OnlyInBase"]["verdict"] == "only in base"
    assert rows["BM_OnlyInCand"]["verdict"] == "only in cand"


def test_google_benchmark_minimal_fixture_against_itself(fixtures):
    data = json.loads((fixtures / "gb_minimal.json").read_text())
    report, rows = verdict(data, data)
    assert report["exit_status"] == 0 and set(rows) == {"BM_One", "BM_Two"}


def test_results_directories_are_compared(tmp_path):
    for side, centre in (("a", 1000.0), ("b", 800.0)):
        d = tmp_path / side
        d.mkdir()
        write(d, "switch.json", gb({"switch/bare_call": normal(9, 7, centre)}))
        (d / "run.json").write_text('{"switchyard_run": 1}')
    r = sy("compare", tmp_path / "a", tmp_path / "b")
    assert r.returncode == 0, r.stderr
    assert "improvement" in r.stdout and "-20." in r.stdout


# ---- rules in detail ------------------------------------------------------------------

def test_improvement_does_not_fail():
    report, rows = verdict(gb({"x/y": normal(1, 9)}), gb({"x/y": normal(2, 9, 700.0)}))
    assert rows["x/y"]["verdict"] == "improvement" and report["exit_status"] == 0


def test_significant_shift_below_the_floor_is_no_change():
    report, rows = verdict(gb({"x/y": normal(1, 15, rel_sd=0.002)}),
                           gb({"x/y": normal(2, 15, 1015.0, rel_sd=0.002)}))
    row = rows["x/y"]
    assert row["verdict"] == "no change"
    assert 0 < row["ci"][0] and row["ci"][1] < 0.03      # a real shift, inside the floor
    assert "inside" in row["reason"]


def test_floor_is_configurable():
    base, cand = gb({"x/y": normal(1, 15, rel_sd=0.002)}), \
        gb({"x/y": normal(2, 15, 1015.0, rel_sd=0.002)})
    _, rows = verdict(base, cand, floor=0.01)
    assert rows["x/y"]["verdict"] == "regression"


def test_large_but_insignificant_change_is_inconclusive():
    # bimodal: three fast and two very slow repetitions on each side
    base = [1000, 1001, 1002, 3000, 3001]
    cand = [1003, 1004, 3002, 3003, 3004]
    _, rows = verdict(gb({"x/y": base}), gb({"x/y": cand}))
    assert rows["x/y"]["verdict"] == "inconclusive"
    assert "straddles" in rows["x/y"]["reason"]


def test_candidate_error_is_a_failure_and_base_error_is_not():
    base = gb({"x/y": normal(1, 5)})
    cand = gb({"x/y": normal(1, 5)})
    cand["benchmarks"].append({"name": "x/y/real_time", "run_name": "x/y/real_time",
                               "run_type": "iteration", "error_occurred": True,
                               "error_message": "checksum mismatch: got 1, expected 2"})
    report, rows = verdict(base, cand)
    assert rows["x/y"]["verdict"] == "failure" and report["exit_status"] == 1
    report, rows = verdict(cand, base)
    assert rows["x/y"]["verdict"] == "inconclusive" and "base failed" in rows["x/y"]["reason"]


def test_skip_is_not_a_failure():
    skip = {"context": {"fingerprint": FP_A}, "benchmarks": [
        {"name": "x/y/real_time", "run_type": "iteration", "error_occurred": True,
         "error_message": "skipped: no io_uring"}]}
    report, rows = verdict(skip, skip)
    assert rows["x/y"]["verdict"] == "skipped" and "no io_uring" in rows["x/y"]["reason"]
    assert report["exit_status"] == 0
    report, rows = verdict(skip, gb({"x/y": normal(1, 5)}))      # cand runs it again
    assert rows["x/y"]["verdict"] == "skipped" and report["exit_status"] == 0


def test_rate_and_lossy_counters_are_not_equality_checked():
    base = gb({"locks/thread/sync:none/suspend:0": normal(1, 9)},
              counters={"expected": 1000.0, "final": 990.0, "lost_updates": 10.0})
    cand = gb({"locks/thread/sync:none/suspend:0": normal(2, 9)},
              counters={"expected": 1000.0, "final": 900.0, "lost_updates": 100.0})
    report, rows = verdict(base, cand)
    row = rows["locks/thread/sync:none/suspend:0"]
    assert row["verdict"] == "no change", row
    assert row["counters"]["expected"]["equal"] is True
    assert row["counters"]["final"]["kind"] == "metric"
    assert any(n.startswith("final ") for n in row["notes"])      # reported, not judged


def test_extra_work_counter_from_the_command_line(tmp_path):
    t = normal(1, 9)
    base = write(tmp_path, "a.json", gb({"x/y": t}, counters={"frames": 10.0}))
    cand = write(tmp_path, "b.json", gb({"x/y": t}, counters={"frames": 11.0}))
    assert sy("compare", base, cand).returncode == 0
    r = sy("compare", "--work-counter", "frames", base, cand)
    assert r.returncode == 1 and "frames: base 10 != cand 11" in r.stdout


def test_instruction_counts_use_the_threshold():
    def ir(v):
        d = gb({"switch/bare_call": [1.0]}, aggregates=False)
        d["benchmarks"][0][compare.INSTRUCTIONS_KEY] = v
        return d
    s = dict(metric="instructions")
    _, rows = verdict(ir(160000), ir(161600 + 10), **s)
    assert rows["switch/bare_call"]["verdict"] == "regression"
    _, rows = verdict(ir(160000), ir(160500), **s)
    assert rows["switch/bare_call"]["verdict"] == "no change"
    _, rows = verdict(ir(160000), ir(150000), **s)
    assert rows["switch/bare_call"]["verdict"] == "improvement"


def test_rel_spread_is_robust_to_outliers():
    assert compare.rel_spread([100, 100, 100, 100]) == 0
    assert compare.rel_spread([100, 101, 99, 300, 400]) < 0.03


def test_markdown_and_json_outputs(tmp_path):
    base = write(tmp_path, "base.json", gb({"switch/bare_call": normal(1, 9),
                                             "switch/bare_coroutine": normal(3, 9)}))
    cand = write(tmp_path, "cand.json", gb({"switch/bare_call": normal(2, 9, 1250.0),
                                             "switch/bare_coroutine": normal(4, 9)}))
    md = sy("compare", "--markdown", base, cand)
    assert md.returncode == 1
    assert md.stdout.startswith("### switchyard: FAIL: 1 regression")
    assert "| `switch/bare_call` |" in md.stdout and "**regression**" in md.stdout
    js = sy("compare", "--json", base, cand)
    report = json.loads(js.stdout)
    assert report["exit_status"] == 1 and report["summary"]["regression"] == 1
    assert report["rows"][0]["name"] == "switch/bare_call"       # problems first
    assert report["rows"][0]["base"]["n"] == 9


def test_usage_errors(tmp_path):
    assert "required" in one_line_error(sy("compare"))
    assert "not allowed with" in one_line_error(sy("compare", "--json", "--markdown", "a", "b"))
    assert "not a fraction" in one_line_error(sy("compare", "--floor", "x", "a", "b"))


def test_entry_key_strips_suffixes():
    assert compare.entry_key({"name": "switch/bare_call/iterations:10/real_time"}) == \
        "switch/bare_call"
    assert compare.entry_key({"name": "BM_X_mean", "run_type": "aggregate",
                              "aggregate_name": "mean"}) == "BM_X"


def test_compare_raises_input_error_for_refusal():
    with pytest.raises(InputError):
        verdict(gb({"x/y": [1.0]}), gb({"x/y": [1.0]}, fingerprint=FP_B))


def test_many_unchanged_benchmarks_do_not_fail_by_chance_but_a_real_slowdown_does():
    names = [f"spawn/fiber/n:{i}" for i in range(30)]
    base = {n: normal(100 + i, 10, rel_sd=0.05) for i, n in enumerate(names)}
    cand = {n: normal(200 + i, 10, rel_sd=0.05) for i, n in enumerate(names)}
    report, _ = verdict(gb(base), gb(cand))
    assert report["exit_status"] == 0
    assert report["settings"]["tested"] == 30
    assert report["settings"]["level"] == pytest.approx(1 - 0.05 / 30)    # Bonferroni
    cand[names[0]] = normal(999, 10, 1250.0, rel_sd=0.05)
    report, rows = verdict(gb(base), gb(cand))
    assert rows[names[0]]["verdict"] == "regression" and report["exit_status"] == 1


def test_paired_rows_are_decided_from_their_ratios():
    # Each process pair shares a slow or fast period (x2 swings); the ratio
    # inside a pair is +10%. Unpaired, the swings hide it; paired, it shows.
    swing = [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0]
    base = gb({"x/y": [1000 * w for w in swing]})
    cand = gb({"x/y": [1100 * w * (1 + 0.002 * (i % 3)) for i, w in enumerate(swing)]})
    report = compare.compare([("b", base)], [("c", cand)], compare.Settings(), paired=True)
    row = report["rows"][0]
    assert row["verdict"] == "regression", row
    assert row["change"] == pytest.approx(0.102, abs=0.003)
    assert report["settings"]["paired"]
    unpaired = compare.compare([("b", base)], [("c", cand)], compare.Settings())["rows"][0]
    assert unpaired["verdict"] == "inconclusive"


def test_newly_skipped_and_lost_work_counter_fail_and_are_in_the_summary():
    base = gb({"x/y": normal(1, 5), "x/z": normal(2, 5)})
    cand = gb({"x/y": normal(1, 5), "x/z": normal(2, 5)}, counters={"checksum": 200010000.0})
    cand["benchmarks"] = [e for e in cand["benchmarks"] if not e["name"].startswith("x/y")]
    cand["benchmarks"].append({"name": "x/y/real_time", "run_type": "iteration",
                               "error_occurred": True, "error_message": "skipped: no io_uring"})
    report, rows = verdict(base, cand)
    assert rows["x/y"]["verdict"] == "newly skipped"
    assert rows["x/z"]["verdict"] == "failure"
    assert "work counter switches disappeared" in rows["x/z"]["reason"]
    line = verdicts.summary_line(report)
    assert line.startswith("FAIL") and "1 newly skipped" in line
    assert "1 with a work counter lost" in line


def test_policy_floor_ignore_and_accept():
    base = gb({"a/b": normal(1, 9), "c/d": normal(2, 9), "e/f": normal(3, 9)})
    cand = gb({"a/b": normal(4, 9, 1060.0), "c/d": normal(5, 9, 1300.0),
               "e/f": normal(6, 9, 1300.0)})
    rules = policy.parse_rules('[[rule]]\nmatch = "^a/"\nfloor = "10%"\n'
                               '[[rule]]\nmatch = "^c/"\nignore = "flaky here"\n', "t")
    accepts = policy.parse_trailers("fix\n\nPerf-Accept: ^e/f slower on purpose\n", "abc")
    s = compare.Settings(policy=policy.Policy(rules, accepts, "t"))
    report = compare.compare([("b", base)], [("c", cand)], s)
    rows = {r["name"]: r for r in report["rows"]}
    assert rows["a/b"]["verdict"] == "no change" and rows["a/b"]["floor"] == 0.10
    assert rows["c/d"]["verdict"] == "ignored" and "flaky here" in rows["c/d"]["reason"]
    assert rows["e/f"]["verdict"] == "accepted" and "slower on purpose" in rows["e/f"]["reason"]
    assert report["exit_status"] == 0


@pytest.mark.parametrize("text,needle", [
    ("not toml [", "not valid TOML"),
    ('[[rule]]\nmatch = "("\nfloor = "5%"', "bad regular expression"),
    ('[[rule]]\nmatch = "a"', "exactly one of"),
    ('[[rule]]\nmatch = "a"\nfloor = "x"', "not a fraction"),
    ('[[rule]]\nmatch = "a"\nfloor = "5%"\ncolour = 1', "unknown key 'colour'"),
    ('[other]\nx = 1', "unknown table"),
])
def test_bad_policy_is_an_input_error(text, needle):
    with pytest.raises(InputError, match=needle):
        policy.parse_rules(text, "gate.toml")


def test_bad_accept_trailer_is_an_input_error():
    with pytest.raises(InputError, match="expected 'Perf-Accept: REGEX reason'"):
        policy.parse_trailers("Perf-Accept: ^x/\n", "abc")
