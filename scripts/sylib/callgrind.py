"""Instruction counts of one benchmark under valgrind's callgrind.

Timings on a shared CI machine swing by tens of percent; the number of
instructions a user-space benchmark executes for a fixed iteration count does
not. Each benchmark runs in its own process twice, with N and 2N iterations
(`--sy_iterations`, no warm-up): instructions per iteration =
(Ir(2N) - Ir(N)) / N, so process start-up, registration and the benchmark's
own setup cancel out. N grows for cheap benchmarks until the difference is
large next to the ~1k instructions a process varies by from run to run.

Only user-space work is eligible: instructions say nothing about time spent
in the kernel, asleep, or waiting for another thread (callgrind also runs all
threads on one core), so such benchmarks are excluded with the reason.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .results import InputError, escape_name, parse_name, several_threads

# The first probe: 1 and 2 iterations estimate the cost per iteration cheaply
# (a spawn of 1e6 tasks is ~2 s an iteration under callgrind), then N is
# raised to reach TARGET_DELTA_IR; heavy benchmarks stay at 1 vs 2.
DEFAULT_ITERATIONS = 1
# The N-to-2N difference should be at least this many instructions: a process
# varies by about a thousand instructions from run to run (start-up reads
# /proc, formats dates), which must stay far below the 1% threshold.
TARGET_DELTA_IR = 20_000_000
MAX_ITERATIONS = 1_000_000
# Below this N-to-2N difference a count is not reported as a number: it would
# be run-to-run jitter (~1k Ir) around a near-zero cost.
MIN_DELTA_IR = 1_000_000
# A benchmark with a fixed iteration count (Iterations(k), e.g. one cold
# 1M-task tree per repetition) ignores --sy_iterations: it is measured as
# whole repetitions instead, REPETITION_PAIR against twice as many.
REPETITION_PAIR = 2

# Workloads whose cost is user-space instructions (issue 9: switch, spawn,
# skynet, compute); every other workload is dominated by syscalls or sleeping.
ELIGIBLE_WORKLOADS = ("switch", "spawn", "skynet", "compute")
OTHER_WORKLOAD_REASON = ("dominated by syscalls, sleeping or several threads: "
                         "instruction counts do not measure it")
def exclusion(name: str) -> str | None:
    """Why a benchmark is not measured under callgrind, or None if it is."""
    p = parse_name(name)
    if p["workload"] not in ELIGIBLE_WORKLOADS:
        return f"{p['workload']}: {OTHER_WORKLOAD_REASON}"
    why = several_threads(name)
    if why:
        return (f"{why}: syscalls and scheduling, not instructions (callgrind serialises "
                "threads)")
    return None


def exact_filter(name: str) -> str:
    """A --benchmark_filter regex matching exactly this benchmark."""
    return "^" + escape_name(name) + "(/|$)"


def valgrind() -> str:
    exe = shutil.which("valgrind")
    if not exe:
        raise InputError("valgrind not found (callgrind mode): sudo apt-get install -y valgrind")
    return exe


def command(exe: Path, name: str, count: int, out_file: Path, json_out: Path,
            extra: list[str], mode: str = "iterations") -> list[str]:
    """`mode` "iterations": one repetition of `count` iterations;
    "repetitions": `count` repetitions of the benchmark's own iteration count."""
    counts = ([f"--sy_iterations={count}", "--benchmark_repetitions=1"] if mode == "iterations"
              else [f"--benchmark_repetitions={count}"])
    return [valgrind(), "--tool=callgrind", f"--callgrind-out-file={out_file}",
            f"--log-file={out_file}.log", str(exe), *counts,
            f"--benchmark_filter={exact_filter(name)}",
            f"--benchmark_out={json_out}", "--benchmark_out_format=json",
            "--benchmark_color=false", *extra]


def parse_total(text: str) -> int:
    """Total Ir from a callgrind output file ('totals:' or 'summary:' line)."""
    for key in ("totals:", "summary:"):
        for line in text.splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    raise ValueError("no totals/summary line in callgrind output")


def per_unit(ir_n: int, ir_2n: int, n: int) -> float | None:
    """Instructions per iteration (or repetition) from the N and 2N runs, or
    None if nonsense."""
    d = ir_2n - ir_n
    return d / n if d > 0 else None


per_iteration = per_unit


MAX_GROWTH_STEPS = 3     # probe, then at most this many larger N


def next_iterations(ir_n: int, ir_2n: int, n: int) -> int:
    """The N to try next after an N-vs-2N pair: n itself when the difference
    already reaches TARGET_DELTA_IR; from the estimate per iteration when it
    is measurable; x100 when the probe drowned in jitter (<= 0)."""
    d = ir_2n - ir_n
    if d >= TARGET_DELTA_IR or n >= MAX_ITERATIONS:
        return n
    if d <= 0:
        return min(MAX_ITERATIONS, n * 100)
    return iterations_for(d / n, n)


def unmeasurable(ir_n: int, ir_2n: int) -> str | None:
    """Why the N-to-2N difference is no count to report, or None."""
    d = ir_2n - ir_n
    if d <= 0:
        return f"the {2}N run executed no more instructions than the N run ({d:+,} Ir)"
    if d < MIN_DELTA_IR:
        return (f"the N-to-2N difference ({d:,} Ir) is below {MIN_DELTA_IR:,} Ir: too close "
                "to run-to-run jitter to report as a count")
    return None


def fixed_iterations(data: dict, asked: int) -> int | None:
    """The benchmark's own iteration count when it ignored --sy_iterations."""
    its = {int(e["iterations"]) for e in data.get("benchmarks", [])
           if e.get("run_type") != "aggregate" and not e.get("error_occurred")
           and isinstance(e.get("iterations"), (int, float))}
    return next(iter(its)) if its and asked not in its else None


def iterations_for(ipi: float, n: int) -> int:
    """Iteration count N whose N-to-2N difference reaches TARGET_DELTA_IR."""
    if ipi <= 0:
        return n
    return int(min(MAX_ITERATIONS, max(n, -(-TARGET_DELTA_IR // int(max(ipi, 1))))))


def supports_iterations(exe: Path) -> bool:
    """Whether a bench executable knows --sy_iterations (older commits do not)."""
    try:
        r = subprocess.run([str(exe), "--sy_iterations=1", "--benchmark_list_tests=true",
                            "--benchmark_filter=^$"], capture_output=True, text=True,
                           timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0
