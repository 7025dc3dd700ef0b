"""`switchyard gate --self-test`: the gate's own benchmark, on this machine.

A gate is only worth its false alarms and its misses, and both depend on
the machine. This runs the gate many times against builds whose truth is
known and counts:

  power        the share of gate runs that flag `regression` on the ONE
               benchmark made slower (-DSY_TEST_SLOWDOWN=P: P% more wall time
               per iteration for timing gates, P% more of its own work, i.e.
               instructions, for callgrind gates; -DSY_TEST_SLOWDOWN_TARGET
               picks the benchmark)
  false alarm  the share of A/A runs (`--base .`: the same tree built twice)
               that flag anything at all (a regression, an improvement or a
               failure), and, in the slowdown runs, any flag on a benchmark
               that was not slowed down

The variants run interleaved (A/A, +P1, +P2, A/A, ...) so that slow and fast
periods of the machine fall on all of them. Each variant keeps its build
tree, so only the first run of a variant builds. Results: a table on stdout,
selftest.json and selftest.md in --out (default build-gate/selftest/out).
"""
from __future__ import annotations

import copy
import io
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import gate as gatemod
from .results import atomic_write_json, atomic_write_text

DEFAULT_PERCENTS = (25, 10)
DEFAULT_RUNS = {"slowdown": 10, "aa": 20}
# The targets on a 2-vCPU VM (timing, --quick): shown beside the
# measured rates, never used to change a verdict.
TARGETS = {"timing": {25: 0.9, 10: 0.7, "aa": 0.05},
           "callgrind": {2: 1.0, "aa": 0.0}}
FLAGS = ("regression", "improvement", "failure", "newly skipped")


@dataclass
class Variant:
    name: str                      # "A/A" or "+25%"
    percent: int | None            # None for A/A
    runs: int
    results: list = field(default_factory=list)   # one dict per gate run


def judge(report: dict, target: str, percent: int | None) -> dict:
    """What one gate run found: hit (target flagged as regression), and the
    rows flagged that should not have been."""
    flagged = [r for r in report["rows"] if r["verdict"] in FLAGS]
    hit = any(r["name"] == target and r["verdict"] == "regression" for r in flagged)
    false = [r["name"] for r in flagged if percent is None or r["name"] != target]
    row = next((r for r in report["rows"] if r["name"] == target), {})
    return {"hit": hit, "false_flags": false, "target_verdict": row.get("verdict"),
            "target_change": row.get("change"), "target_ci": row.get("ci"),
            "seconds": report.get("gate", {}).get("seconds"),
            "stages": report.get("gate", {}).get("stages")}


def variant_config(base: gatemod.GateConfig, v: Variant, target: str, root: Path):
    cfg = copy.deepcopy(base)
    cfg.base_ref = gatemod.WORKTREE_BASE
    cfg.history = False
    key = "aa" if v.percent is None else f"p{v.percent}"
    cfg.work_dir = root                  # one base build for every variant
    cfg.cand_build = f"cand-{key}"
    cfg.out = root / f"out-{key}"
    # Timing gates get P% more wall time, callgrind gates P% more instructions
    # (extra work is not always extra time: switch/bare_call's time hardly
    # moves with 25% more calls on one VM measured here).
    kind = "work" if cfg.callgrind else "time"
    cfg.cand_options = {} if v.percent is None else {
        "SY_TEST_SLOWDOWN": str(v.percent), "SY_TEST_SLOWDOWN_TARGET": target,
        "SY_TEST_SLOWDOWN_KIND": kind}
    return cfg


def summarize(variants: list[Variant], mode: str) -> list[dict]:
    rows = []
    for v in variants:
        n = len(v.results)
        secs = [r["seconds"] for r in v.results if r["seconds"]]
        if v.percent is None:
            hits = sum(bool(r["false_flags"]) for r in v.results)
            what, target = "A/A runs that flag anything", TARGETS[mode].get("aa")
        else:
            hits = sum(r["hit"] for r in v.results)
            what, target = f"runs that flag the {v.percent}% slowdown", \
                TARGETS[mode].get(v.percent)
        other = sum(len(r["false_flags"]) for r in v.results) if v.percent else None
        rows.append({"variant": v.name, "runs": n, "hits": hits, "what": what,
                     "rate": hits / n if n else None, "target": target,
                     "other_flags": other,
                     "median_minutes": statistics.median(secs) / 60 if secs else None})
    return rows


def format_md(rows: list[dict], meta: dict) -> str:
    lines = [f"### gate self-test ({meta['mode']}, {meta['tier']}, target "
             f"`{meta['target']}`, machine {meta['machine']})", "",
             "| variant | runs | flagged | rate | target | other rows flagged | minutes per gate |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["target"] is None:
            tgt = "-"
        else:
            sign = "<=" if r["variant"] == "A/A" else ">="
            tgt = f"{sign} {r['target'] * 100:.0f}%"
        rate = "-" if r["rate"] is None else f"{r['rate'] * 100:.0f}%"
        other = "-" if r["other_flags"] is None else str(r["other_flags"])
        mins = "-" if r["median_minutes"] is None else f"{r['median_minutes']:.1f}"
        lines.append(f"| {r['variant']} | {r['runs']} | {r['hits']} ({r['what']}) | {rate} | "
                     f"{tgt} | {other} | {mins} |")
    return "\n".join(lines) + "\n"


def execute(base_cfg: gatemod.GateConfig, *, percents=DEFAULT_PERCENTS,
            runs: dict | None = None, target: str = "switch/bare_call",
            out: Path | None = None, log=sys.stderr, stdout=sys.stdout) -> int:
    runs = {**DEFAULT_RUNS, **(runs or {})}
    mode = "callgrind" if base_cfg.callgrind else "timing"
    root = base_cfg.work_dir / "selftest"
    out = out or root / "out"
    out.mkdir(parents=True, exist_ok=True)
    variants = [Variant("A/A", None, runs["aa"])] + \
        [Variant(f"+{p}%", p, runs["slowdown"]) for p in percents]
    started = time.monotonic()
    total = sum(v.runs for v in variants)
    done = 0
    machine = "?"
    for i in range(max(v.runs for v in variants)):
        for v in variants:
            if i >= v.runs:
                continue
            cfg = variant_config(base_cfg, v, target, root)
            rc = gatemod.execute(cfg, log=io.StringIO(), out=io.StringIO())
            report = json.loads((cfg.out / "report.json").read_text())
            if rc not in (0, 1):
                raise RuntimeError(f"gate run failed with exit status {rc}")
            res = judge(report, target, v.percent)
            v.results.append(res)
            fp = json.loads(next((cfg.out / "base").glob("*.json")).read_text())[
                "context"].get("fingerprint", {})
            machine = fp.get("machine_id") or machine
            done += 1
            spent = time.monotonic() - started
            eta = spent / done * (total - done)
            verdict = res["target_verdict"] or "-"
            write_results(out, variants, mode, base_cfg.tier, target, machine, started)
            print(f"[{done}/{total}] {v.name:>5}: target {verdict}"
                  f"{'' if not res['false_flags'] else ', also flagged: ' + ', '.join(res['false_flags'][:3])}"
                  f"  {res['seconds'] or 0:.0f} s  (ETA {gatemod.runmod.fmt_duration(eta)})",
                  file=log, flush=True)
    stdout.write(write_results(out, variants, mode, base_cfg.tier, target, machine, started))
    return 0


def write_results(out: Path, variants, mode, tier, target, machine, started) -> str:
    """selftest.json and selftest.md as they stand (after every gate run, so
    an interrupted self-test keeps what it measured); returns the Markdown."""
    rows = summarize(variants, mode)
    meta = {"mode": mode, "tier": tier, "target": target, "machine": machine,
            "seconds": round(time.monotonic() - started, 1)}
    atomic_write_json(out / "selftest.json", {"meta": meta, "rows": rows,
                                              "runs": {v.name: v.results for v in variants}})
    md = format_md(rows, meta)
    atomic_write_text(out / "selftest.md", md)
    return md
