"""The gate's decision rule on simulated gates, at the sizes it is used at.

Each simulated gate is `gate.two_stage` itself (the code the real gate runs)
on synthetic paired rounds of the ~110 benchmarks the quick gate screens,
with noise drawn from a real A/A gate on this suite (fixtures/gate_noise.json:
per benchmark its paired log ratios per round; made by
fixtures/make_gate_noise.py). Per benchmark the noise keeps its own scale
(robust sigma of its ratios) and all share the pooled shape of the
standardised ratios, signs drawn at random (the gate's balanced random order
makes A/A ratios symmetric). Seeds are fixed: nothing here flakes.

Asserted (200 simulated gate runs per case):
  - A/A: at most 5% of gate runs flag anything (regression, improvement);
  - one benchmark slower by 25% / 10%, at the noise of switch/bare_call (the
    self-test's target): found in >= 90% / >= 70% of runs, and the other
    benchmarks still flag nothing in >= 95% of runs;
  - a slowdown in a random benchmark: the share found is reported per noise
    band (printed with -s) and large effects in quiet benchmarks are found.
"""
import json
import math

import numpy as np
import pytest

from conftest import FIXTURES

from sylib import compare, gate

RUNS = 200
FLAGS = ("regression", "improvement")


@pytest.fixture(scope="module")
def noise():
    data = json.loads((FIXTURES / "gate_noise.json").read_text())["benchmarks"]
    sigma, pool = {}, []
    for name, d in data.items():
        d = np.asarray(d, dtype=float)
        s = 1.4826 * float(np.median(np.abs(d - np.median(d))))
        sigma[name] = max(s, 1e-3)
        pool += list((d - np.median(d)) / sigma[name])
    return sigma, np.asarray(pool)


def datasets(ratios: dict, first_round: int) -> dict:
    """Synthetic gate output: one row per benchmark and round and side."""
    out = {"base": [], "cand": []}
    for side in out:
        rows = []
        for name, d in ratios.items():
            for r, x in enumerate(d):
                t = 1000.0 * math.exp(x / 2 if side == "cand" else -x / 2)
                rows.append({"name": f"{name}/real_time", "run_type": "iteration",
                             "real_time": t, "time_unit": "ns", "iterations": 1,
                             "process": first_round + r})
        out[side] = [(side, {"context": {}, "benchmarks": rows})]
    return out


def simulate(noise, rng, *, target=None, shift=0.0, target_sigma=None):
    """One gate run; returns its final rows by name."""
    sigma, pool = noise

    def draw(name, n):
        s = target_sigma if (name == target and target_sigma) else sigma[name]
        d = s * rng.choice(pool, n) * rng.choice([-1.0, 1.0], n)
        return d + (math.log1p(shift) if name == target else 0.0)

    r1 = gate.ROUNDS["quick"]
    screen = datasets({n: draw(n, r1) for n in sigma}, 0)
    rows, stages = gate.two_stage(
        screen, lambda names, r2: datasets({n: draw(n, r2) for n in sorted(names)}, r1),
        compare.Settings(), cost={n: 0.0 for n in sigma},
        base_rounds=gate.CONFIRM_ROUNDS["quick"], budget=math.inf)
    return {r["name"]: r for r in rows}, stages


def flagged(rows, exclude=None):
    return [n for n, r in rows.items() if r["verdict"] in FLAGS and n != exclude]


def test_fixture_is_real_rounds_of_the_quick_gate(noise):
    sigma, pool = noise
    assert 100 <= len(sigma) <= 130                       # m ~ 110 benchmarks
    assert "switch/bare_call" in sigma and len(pool) > 500


def test_aa_gates_flag_anything_at_most_5_percent_of_runs(noise):
    rng = np.random.default_rng(1)
    any_flag, suspects = 0, []
    for _ in range(RUNS):
        rows, stages = simulate(noise, rng)
        any_flag += bool(flagged(rows))
        suspects.append(next((s["benchmarks"] for s in stages if s["name"] == "confirm"), 0))
    print(f"A/A: {any_flag}/{RUNS} runs flag anything; suspects per run: median "
          f"{np.median(suspects):.0f}, max {max(suspects)}")
    assert any_flag / RUNS <= 0.05


@pytest.mark.parametrize("shift,power", [(0.25, 0.90), (0.10, 0.70)])
def test_one_slowed_benchmark_is_found(noise, shift, power):
    rng = np.random.default_rng(int(shift * 100))
    target = "switch/bare_call"
    hits = other = 0
    for _ in range(RUNS):
        rows, _ = simulate(noise, rng, target=target, shift=shift)
        hits += rows[target]["verdict"] == "regression"
        other += bool(flagged(rows, exclude=target))
    print(f"+{shift:.0%} on {target} (sigma {noise[0][target]:.3f}): found {hits}/{RUNS}, "
          f"other benchmarks flagged in {other}/{RUNS} runs")
    assert hits / RUNS >= power
    assert other / RUNS <= 0.05


def test_power_by_noise_band_for_a_random_benchmark(noise):
    """Which benchmarks the gate can watch at all: +25% in a random benchmark,
    found rate per band of its noise. Quiet ones must be found; the bands are
    printed so a reader sees where the gate is blind on this machine."""
    sigma, _ = noise
    rng = np.random.default_rng(7)
    names = sorted(sigma)
    bands = {"sigma < 5%": [], "5-10%": [], "10-20%": [], ">= 20%": []}
    for i in range(RUNS):
        target = names[i % len(names)]
        rows, _ = simulate(noise, rng, target=target, shift=0.25)
        s = sigma[target]
        key = ("sigma < 5%" if s < 0.05 else "5-10%" if s < 0.10 else
               "10-20%" if s < 0.20 else ">= 20%")
        bands[key].append(rows[target]["verdict"] == "regression")
    print("+25% in a random benchmark, found by noise band: " +
          ", ".join(f"{k}: {sum(v)}/{len(v)}" for k, v in bands.items()))
    quiet = bands["sigma < 5%"] + bands["5-10%"]
    assert quiet and sum(quiet) / len(quiet) >= 0.8


def test_confirm_rounds_reach_a_finite_interval():
    for k in (1, 5, 11, 40, 110):
        r2 = gate.confirm_rounds(k, 0.05, gate.CONFIRM_ROUNDS["quick"])
        level = 1 - 0.05 / k
        from sylib import intervals
        assert r2 >= intervals.min_pairs(level) + gate.SPARE_PAIRS
        d = np.linspace(-0.1, 0.1, r2)
        assert intervals.paired(d, level).finite
    assert gate.confirm_rounds(0, 0.05, 10) == 0


def test_budget_keeps_the_largest_suspects():
    picked = [{"name": n, "change": c} for n, c in (("a", 0.5), ("b", 0.2), ("c", 0.1))]
    cost = {"a": 1.0, "b": 1.0, "c": 1.0}
    keep = gate.fit_budget(picked, cost, lambda k: 10, 25.0)
    assert [r["name"] for r in keep] == ["a", "b"]
    assert gate.fit_budget(picked, cost, lambda k: 10, 5.0) == []


def test_round_cost_tells_fixed_from_adaptive_benchmarks():
    def rows(name, ns, iters, n=3):
        return [{"name": f"{name}/real_time", "run_type": "iteration", "real_time": ns,
                 "time_unit": "ns", "iterations": iters, "process": r} for r in range(n)]
    data = {"context": {}, "benchmarks": rows("skynet/x/n:1000000", 60e6, 1) +
            rows("switch/bare_call", 8000.0, 2500)}
    cost = gate.round_cost({"base": [("b", data)], "cand": []}, 0.1)
    # fixed: one 60 ms tree per process; adaptive: ~2 x 0.1 s measuring; both sides
    assert cost["skynet/x/n:1000000"] == pytest.approx(2 * (gate.PROCESS_START_S + 0.06))
    assert cost["switch/bare_call"] == pytest.approx(2 * (gate.PROCESS_START_S + 0.2))
