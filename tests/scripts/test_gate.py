"""`switchyard gate`: pure helpers (merging rounds, balanced side order,
pinning groups, callgrind eligibility and parsing, CMake defines, the PR
comment), one-line exit-2 errors, and real runs that build bench_switch under
build-gate/pytest/:
  - callgrind mode catches the test-only slowdown (-DSY_TEST_SLOWDOWN=ON)
    in switch/bare_call, and finds no change without it (deterministic);
  - timing mode runs base and cand in paired rounds and merges every round.
The decision rule itself is tested on simulated gates in test_gatestats.py.
"""
import io
import json
import shutil

import pytest

import conftest
from conftest import REPO, driver_env, one_line_error

from sylib import callgrind, deps, gate, gaterun, results, verdicts
from sylib.results import InputError

PYTEST_GATE_DIR = REPO / "build-gate" / "pytest"


def sy(*args):
    return conftest.sy(*args, env=driver_env(SWITCHYARD_SKIP_DEPS="1"), timeout=120)


# ---- command line ----------------------------------------------------------------------

def test_bad_ref_exits_2_with_one_line():
    line = one_line_error(sy("gate", "--base", "no-such-ref-xyz"))
    assert "--base no-such-ref-xyz: not a commit" in line


def test_base_is_required():
    assert "required" in one_line_error(sy("gate"))


@pytest.mark.parametrize("args,needle", [
    (["--self-test-runs", "3"], "expected two whole numbers"),
    (["--self-test-runs", "0,5"], "at least 1"),
    (["--self-test-percents", "x"], "expected whole numbers"),
    (["--policy", "/no/such/gate.toml", "--base", "HEAD"], "no such file"),
])
def test_bad_self_test_and_policy_options_exit_2(args, needle):
    assert needle in one_line_error(sy("gate", "--self-test", *args) if "--base" not in args
                                    else sy("gate", *args))


def test_too_few_repetitions_is_refused():
    line = one_line_error(sy("gate", "--base", "HEAD", "--repetitions", "3"))
    assert "at least 5 rounds" in line


def test_bad_cand_define_is_refused():
    assert "expected NAME=VALUE" in one_line_error(sy("gate", "--base", "HEAD",
                                                      "--cand-define", "oops"))


def test_resolve_ref():
    assert len(gaterun.resolve_ref("HEAD")) == 40
    with pytest.raises(InputError):
        gaterun.resolve_ref("HEAD~100000")


def test_gate_needs_valgrind():
    assert "valgrind" in deps.packages_for("gate")
    assert "valgrind" not in deps.packages_for("compare")


# ---- pure helpers ----------------------------------------------------------------------

def test_merge_rounds_renumbers_repetitions_and_drops_aggregates():
    def round_(t):
        return {"context": {"date": "x"}, "benchmarks": [
            {"name": "a/real_time", "run_name": "a/real_time", "run_type": "iteration",
             "repetition_index": 0, "real_time": t},
            {"name": "a/real_time_mean", "run_name": "a/real_time", "run_type": "aggregate",
             "aggregate_name": "mean", "real_time": t}]}
    merged = gate.merge_rounds([round_(1.0), round_(2.0), {"benchmarks": []}, round_(3.0)])
    assert [e["real_time"] for e in merged["benchmarks"]] == [1.0, 2.0, 3.0]
    assert [e["repetition_index"] for e in merged["benchmarks"]] == [0, 1, 2]
    assert all(e["repetitions"] == 3 for e in merged["benchmarks"])
    assert merged["context"] == {"date": "x"}


def test_parse_defines():
    assert gate.parse_defines(["SY_TEST_SLOWDOWN=ON", "A=b=c"]) == \
        {"SY_TEST_SLOWDOWN": "ON", "A": "b=c"}
    assert gate.parse_defines(None) == {}
    with pytest.raises(InputError):
        gate.parse_defines(["-DX=1"])


def test_rounds_per_tier():
    assert gate.GateConfig(quick=True).rounds() == gate.ROUNDS["quick"] >= gate.MIN_ROUNDS
    assert gate.GateConfig().rounds() == 10
    assert gate.GateConfig(repetitions=7).rounds() == 7


def test_cached_source(tmp_path):
    assert gaterun.cached_source(tmp_path) is None
    (tmp_path / "CMakeCache.txt").write_text("X:BOOL=ON\nCMAKE_HOME_DIRECTORY:INTERNAL=/src/a\n")
    assert gaterun.cached_source(tmp_path) == "/src/a"


def test_side_order_is_random_but_balanced_over_each_two_rounds():
    sides = ["base", "cand"]
    firsts = [gaterun.side_order(sides, k, seed=1)[0] for k in range(40)]
    for k in range(0, 40, 2):
        assert firsts[k] != firsts[k + 1]
    assert firsts == [gaterun.side_order(sides, k, seed=1)[0] for k in range(40)]   # seeded
    pairs = {firsts[k] for k in range(0, 40, 2)}
    assert pairs == {"base", "cand"}                        # not a fixed ABAB


def test_multi_threaded_benchmarks_are_not_pinned_to_one_cpu():
    names = ["switch/bare_call", "switch/futex/pin:cross", "skynet/pool/n:10/workers:2",
             "skynet/coroutine/n:10/workers:1", "multicore/coroutine/loops:2"]
    assert results.pin_groups("mixed", names) == [
        (True, ["switch/bare_call", "skynet/coroutine/n:10/workers:1"]),
        (False, ["switch/futex/pin:cross", "skynet/pool/n:10/workers:2",
                 "multicore/coroutine/loops:2"])]


def test_benches_that_place_their_own_processes_are_never_pinned():
    """bench_echo puts its server and load generator on two CPUs itself: a
    pinned bench process would put both on one."""
    assert results.pin_groups("echo", ["echo/coroutine/conns:1/size:64/mode:closed"]) == [
        (False, ["echo/coroutine/conns:1/size:64/mode:closed"])]


def test_exact_alternation_matches_only_the_names():
    import re
    rx = re.compile(results.exact_alternation(["switch/bare_call", "spawn/fiber/n:1"]))
    assert rx.search("switch/bare_call/real_time") and rx.search("spawn/fiber/n:1/real_time")
    assert not rx.search("spawn/fiber/n:10/real_time")
    assert not rx.search("switch/bare_call_x/real_time")


def test_annotated_rows_carry_round_cpu_and_stage():
    data = {"context": {"x": 1}, "benchmarks": [
        {"name": "a", "run_type": "iteration", "real_time": 1.0},
        {"name": "a_mean", "run_type": "aggregate", "real_time": 1.0}]}
    out = gaterun.runmod.annotate(data, process=7, cpu=1, stage=2)
    assert out["benchmarks"] == [{"name": "a", "run_type": "iteration", "real_time": 1.0,
                                  "process": 7, "cpu": 1, "stage": 2}]


@pytest.mark.parametrize("name,excluded", [
    ("switch/bare_call", False),
    ("switch/coroutine", False),
    ("spawn/fiber/n:1000", False),
    ("skynet/coroutine/n:1000000/workers:1", False),
    ("compute/uring/yield_every:64", False),
    ("switch/futex/pin:same", True),
    ("spawn/thread/n:1000", True),
    ("spawn/pool/n:1000", True),
    ("skynet/fiber/n:1000000/workers:2", True),
    ("sleep/coroutine/mode:burst/n:1000/sleep_ms:10", True),
    ("echo/uring/conns:10/size:64/mode:closed", True),
])
def test_callgrind_exclusions_say_why(name, excluded):
    why = callgrind.exclusion(name)
    assert (why is not None) == excluded
    if why:
        assert len(why) > 20


def test_callgrind_exact_filter():
    assert callgrind.exact_filter("switch/bare_call") == "^switch/bare_call(/|$)"
    assert callgrind.exact_filter("a.b/x:1") == r"^a\.b/x:1(/|$)"


def test_callgrind_parsing():
    assert callgrind.parse_total("events: Ir\nsummary: 4847117\ntotals: 4847117\n") == 4847117
    with pytest.raises(ValueError):
        callgrind.parse_total("nothing here")
    assert callgrind.per_iteration(1000, 3000, 10) == 200
    assert callgrind.per_iteration(3000, 3000, 10) is None


def test_callgrind_never_reports_a_count_near_zero():
    assert callgrind.unmeasurable(5_000_000, 25_000_000) is None
    assert "below 1,000,000 Ir" in callgrind.unmeasurable(5_000_000, 5_400_000)
    assert "no more instructions" in callgrind.unmeasurable(5_000_000, 4_999_000)


def test_callgrind_sees_a_fixed_iteration_count():
    one = {"benchmarks": [{"name": "skynet/x", "run_type": "iteration", "iterations": 1}]}
    assert callgrind.fixed_iterations(one, 10) == 1
    ten = {"benchmarks": [{"name": "switch/x", "run_type": "iteration", "iterations": 10}]}
    assert callgrind.fixed_iterations(ten, 10) is None
    cmd = callgrind.command(gaterun.Path("/x/bench"), "skynet/x", 2, gaterun.Path("o"),
                            gaterun.Path("j"), [], mode="repetitions")
    assert "--benchmark_repetitions=2" in cmd and not any("sy_iterations" in c for c in cmd)


def test_callgrind_iterations_grow_for_cheap_benchmarks():
    assert callgrind.iterations_for(160_000, 10) == 125          # 20M / 160k
    assert callgrind.iterations_for(50_000_000, 10) == 10        # already enough
    assert callgrind.iterations_for(1, 10) == callgrind.MAX_ITERATIONS


# ---- real runs (build bench_switch under build-gate/pytest) -----------------------------

def gate_config(tmp_path, **kw):
    return gate.GateConfig(base_ref=".", quick=True, filter="switch/bare_call",
                           targets=["bench_switch"], work_dir=PYTEST_GATE_DIR,
                           out=tmp_path / "out", history=False, **kw)


def run_gate(cfg):
    out, log = io.StringIO(), io.StringIO()
    rc = gate.execute(cfg, out=out, log=log)
    report = json.loads((cfg.out / "report.json").read_text())
    return rc, report, {r["name"]: r for r in report["rows"]}, log.getvalue()


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed "
                    "(sudo apt-get install -y valgrind)")
def test_callgrind_catches_the_test_slowdown_and_nothing_without_it(tmp_path):
    rc, report, rows, log = run_gate(gate_config(
        tmp_path, callgrind=True, callgrind_iterations=4,
        cand_options={"SY_TEST_SLOWDOWN": "ON"}))
    row = rows["switch/bare_call"]
    assert rc == 1, log
    assert row["verdict"] == "regression", row
    assert row["change"] > 0.05
    assert row["counters"]["checksum"]["equal"]          # same work, more instructions
    assert report["gate"]["mode"] == "callgrind"
    assert (tmp_path / "out" / "report.md").read_text().startswith("### switchyard: FAIL")

    rc, report, rows, log = run_gate(gate_config(tmp_path, callgrind=True,
                                                 callgrind_iterations=4))
    assert rc == 0, log
    assert rows["switch/bare_call"]["verdict"] == "no change"
    assert abs(rows["switch/bare_call"]["change"]) < 0.001


def test_timing_mode_pairs_rounds_and_merges_every_round(tmp_path):
    cfg = gate_config(tmp_path, repetitions=5, budget=0.001)   # screen only
    rc, report, rows, log = run_gate(cfg)
    assert rc in (0, 1), log             # identical builds: the verdict itself is noise
    row = rows["switch/bare_call"]
    assert row["base"]["n"] == 5 and row["cand"]["n"] == 5
    # Identical builds: the 90% screen still makes an A/A benchmark a suspect
    # about one time in ten; the budget leaves no time to confirm it.
    assert row["stage"] in ("screen", "unconfirmed") and row["change"] is not None
    assert report["gate"]["mode"] == "timing"
    assert report["gate"]["stages"][0] == {"name": "screen", "rounds": 5, "benchmarks": 1,
                                           "level": gate.SCREEN_LEVEL}
    rounds = [l for l in log.splitlines() if l.startswith("[stage 1 round ")]
    assert len(rounds) == 5 and rounds[0].startswith("[stage 1 round 1/5] 1 process pairs")
    for side in ("base", "cand"):
        raw = sorted((PYTEST_GATE_DIR / "runs" / "stage1" / side).glob("switch.pin.*.json"))
        assert len(raw) == 5
        merged = json.loads((tmp_path / "out" / side / "switch.json").read_text())
        assert merged["context"]["fingerprint"]["fingerprint_id"]
        assert merged["context"]["switchyard"]["gate_side"] == side
        procs = sorted(e["process"] for e in merged["benchmarks"])
        assert procs == [0, 1, 2, 3, 4]                       # the pairing key
        assert {e["cpu"] for e in merged["benchmarks"]} <= set(range(64))   # pinned
    assert verdicts.summary_line(report).startswith(("PASS", "FAIL"))
    md = (tmp_path / "out" / "report.md").read_text()
    assert md.startswith("### switchyard: ") and "Gate (timing): screen: 5 rounds" in md


# ---- the PR comment ------------------------------------------------------------------

def test_markdown_shows_problems_and_folds_the_rest():
    def row(name, verdict):
        return {"name": name, "verdict": verdict, "reason": "r", "base": {"median": 1.0},
                "cand": {"median": 1.1}, "change": 0.1, "ci": [0.05, 0.15], "unit": "ns",
                "notes": []}
    quiet = dict(row("d/noisy", "inconclusive"), stage="screen")   # no evidence: folded
    report = {"rows": [row("a/regressed", "regression"), row("b/same", "no change"),
                       row("c/odd", "inconclusive"), quiet],
              "summary": {"regression": 1, "inconclusive": 2, "no change": 1},
              "exit_status": 1, "notes": [],
              "base": {"label": "base", "sources": ["/tmp/x/base/s.json"], "commits": []},
              "cand": {"label": "cand", "sources": ["/tmp/x/cand/s.json"], "commits": []},
              "settings": {"metric": "time", "paired": True, "floor": 0.03, "level": None,
                           "tested": 3, "threshold": 0.01}}
    md = verdicts.format_markdown(report)
    lines = md.splitlines()
    assert lines[0] == "### switchyard: FAIL: 1 regression, 2 inconclusive, 1 no change"
    table, folded = md.split("<details>")
    assert "`a/regressed`" in table and "**regression**" in table and "`c/odd`" in table
    assert "`b/same`" not in table and "`b/same`" in folded
    assert "`d/noisy`" not in table and "`d/noisy`" in folded
    assert "+10.0% [+5.0, +15.0]" in table
    assert "](" not in md                                 # no links


# ---- the self-test's bookkeeping ----------------------------------------------------

def test_self_test_counts_hits_and_false_alarms(tmp_path):
    from sylib import selftest

    def report(verdicts):
        return {"rows": [{"name": n, "verdict": v, "change": 0.2, "ci": [0.1, 0.3]}
                         for n, v in verdicts.items()], "gate": {"seconds": 120}}
    target = "switch/bare_call"
    aa = selftest.Variant("A/A", None, 2)
    aa.results = [selftest.judge(report({target: "no change", "x/y": "inconclusive"}), target,
                                 None),
                  selftest.judge(report({target: "no change", "x/y": "improvement"}), target,
                                 None)]
    slow = selftest.Variant("+25%", 25, 2)
    slow.results = [selftest.judge(report({target: "regression", "x/y": "no change"}), target,
                                   25),
                    selftest.judge(report({target: "inconclusive", "x/y": "regression"}),
                                   target, 25)]
    rows = {r["variant"]: r for r in selftest.summarize([aa, slow], "timing")}
    assert rows["A/A"]["hits"] == 1 and rows["A/A"]["rate"] == 0.5     # one flagged x/y
    assert rows["+25%"]["hits"] == 1 and rows["+25%"]["other_flags"] == 1
    assert rows["+25%"]["median_minutes"] == 2.0
    md = selftest.format_md(list(rows.values()), {"mode": "timing", "tier": "quick",
                                                  "target": target, "machine": "m-1"})
    assert "| A/A | 2 | 1 (A/A runs that flag anything) | 50% | <= 5% |" in md
    assert "| +25% | 2 | 1 (runs that flag the 25% slowdown) | 50% | >= 90% | 1 | 2.0 |" in md


def test_callgrind_grows_n_past_jitter_and_sees_fixed_counts_from_the_2n_run():
    # a 300-instruction benchmark probed at 1 vs 2 iterations drowns in jitter
    assert callgrind.next_iterations(5_000_000, 4_999_900, 1) == 100
    assert callgrind.next_iterations(5_000_000, 5_030_000, 100) == \
        callgrind.iterations_for(300, 100)                           # 20M / 300
    assert callgrind.next_iterations(5_000_000, 30_000_000, 1) == 1   # already enough
    # Iterations(1): asked for 1 and 2, ran 1 both times -> fixed, seen on the 2N run
    one = {"benchmarks": [{"name": "skynet/x", "run_type": "iteration", "iterations": 1}]}
    assert callgrind.fixed_iterations(one, 2) == 1
