"""`switchyard compare BASE CAND`: a verdict per benchmark between two sets of
Google Benchmark results, and an exit status a CI job can fail on.

Why not google/benchmark's tools/compare.py: it never fails a build and it
ignores counters. Here a benchmark that did different work (a checksum or
work counter differs between the sides) is a failure whatever its timings,
and a slowdown only counts when its confidence interval says so.

The unit of evidence is a *process*, not a repetition: repetitions inside
one process agree to 1% while processes differ by 5-30% (code layout, heap
placement, the CPU it landed on; MEASURING.md). A row's `process` field
(written by `gate` and by process-level `run`s) says which process made it;
rows without one count as one process per input file. Per process the
median of its repetitions is one sample.

Verdict rules for timings (per benchmark; sylib.intervals does the maths):
  paired (gate: base and cand ran back to back in the same rounds):
      Hodges-Lehmann estimate of the per-round log ratios cand/base and its
      exact signed-rank confidence interval
  unpaired (two runs): Hodges-Lehmann shift of the per-process log times
      and its exact Mann-Whitney interval, at level 1 - alpha/m (Bonferroni
      over the m benchmarks tested, so 100 unchanged benchmarks do not fail
      1 run in 20 by chance); fewer than MIN_PROCESSES processes a side is
      `inconclusive` and says so
  1. cand reported an error                  -> failure
  2. a work counter differs or disappears    -> failure
  3. cand skips a case base ran              -> newly skipped (fails)
  4. either side skipped                     -> skipped
  5. interval entirely above +floor          -> regression
     entirely below -floor                   -> improvement
     entirely inside +-floor                 -> no change (an equivalence check)
     otherwise                               -> inconclusive
  then a policy (sylib.policy) may turn 1-3 and 5's regression into
  `accepted`, or a row into `ignored`.
Instruction counts (callgrind mode) are deterministic: |change| > threshold
(default 1%) decides, no statistics. Exit status: 1 on any regression,
failure or newly skipped case, 0 otherwise; bad input raises InputError.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import intervals
from .policy import Policy
from .results import (INSTRUCTIONS_KEY, STANDARD_FIELDS, TIME_UNIT_NS, InputError,  # noqa: F401
                      Side, collect, entry_counters, entry_key, entry_value, load_results)

DEFAULT_FLOOR = 0.03              # smallest relative change worth a verdict
DEFAULT_ALPHA = 0.05              # family-wise false-alarm rate of one comparison
MIN_PROCESSES = 3                 # per side, for an unpaired interval
DEFAULT_CALLGRIND_THRESHOLD = 0.01

# Counters that define the work done (schema: "work"/checksum counters). They
# must be equal on both sides. Not here on purpose: locks' `final` and
# `lost_updates` (sync:none loses a varying number of updates by design),
# echo's `msgs` (depends on how long the load ran), rates and latencies.
WORK_COUNTERS = frozenset({
    "checksum", "switches", "tasks", "steps", "hops", "reads", "bytes",
    "work_items", "expected", "items",
})
# 0/1 marks: a change is reported as a note, not judged.
MARK_COUNTERS = frozenset({"capped", "oversubscribed", "client_bound"})

FAILING = ("failure", "regression", "newly skipped")
ACCEPTABLE = FAILING
# Display order: what needs attention first.
VERDICT_ORDER = ("failure", "regression", "newly skipped", "accepted", "improvement",
                 "inconclusive", "no change", "skipped", "ignored", "excluded",
                 "only in base", "only in cand")


@dataclass
class Settings:
    floor: float = DEFAULT_FLOOR
    alpha: float = DEFAULT_ALPHA
    threshold: float = DEFAULT_CALLGRIND_THRESHOLD
    metric: str = "time"                 # "time" | "instructions"
    allow_cross_machine: bool = False
    work_counters: frozenset = WORK_COUNTERS
    policy: Policy = field(default_factory=Policy)


def fingerprints(datasets: list[tuple[str, dict]]) -> list[dict]:
    """Distinct context.fingerprint objects of one side (by fingerprint_id)."""
    seen = {}
    for _, data in datasets:
        fp = data.get("context", {}).get("fingerprint")
        if isinstance(fp, dict) and fp.get("fingerprint_id"):
            seen.setdefault(fp["fingerprint_id"], fp)
    return list(seen.values())


def describe_fp(fp: dict) -> str:
    return (f"{fp.get('fingerprint_id')} ({fp.get('cpu_model', '?')}, "
            f"{fp.get('cores_online', '?')} cores, kernel {fp.get('kernel', '?')}, "
            f"{fp.get('compiler', '?')})")


def machine_check(base_fps: list[dict], cand_fps: list[dict]) -> tuple[str, str]:
    """('same'|'unknown'|'different', note)."""
    if not base_fps or not cand_fps:
        which = "base" if not base_fps else "cand"
        if not base_fps and not cand_fps:
            which = "base and cand"
        return "unknown", (f"{which} carry no switchyard fingerprint (plain Google Benchmark "
                           "JSON): cannot tell whether both were measured on one machine")
    b = {fp["fingerprint_id"] for fp in base_fps}
    c = {fp["fingerprint_id"] for fp in cand_fps}
    if b == c and len(b) == 1:
        return "same", ""
    return "different", (f"base measured on {', '.join(describe_fp(f) for f in base_fps)}; "
                         f"cand on {', '.join(describe_fp(f) for f in cand_fps)}")


# ---- statistics ---------------------------------------------------------------------

MAD_TO_SIGMA = 1.4826             # MAD * this = standard deviation for normal data


def rel_spread(xs) -> float:
    """Robust relative spread: 1.4826 * median absolute deviation / median."""
    xs = [float(x) for x in xs]
    med = statistics.median(xs) if xs else 0.0
    if len(xs) < 2 or med == 0:
        return 0.0
    return MAD_TO_SIGMA * statistics.median(abs(x - med) for x in xs) / abs(med)


def pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def paired_log_ratios(base: Side, cand: Side) -> np.ndarray:
    """log(cand/base) per process pair (same `process` key on both sides)."""
    b, c = base.per_process(), cand.per_process()
    keys = [k for k in c if k in b and b[k] > 0 and c[k] > 0]
    return np.log(np.array([c[k] / b[k] for k in keys], dtype=float))


def testable(base: Side, cand: Side, paired: bool) -> bool:
    """Whether an interval can be formed at all (enough processes or pairs)."""
    if paired:
        return len(paired_log_ratios(base, cand)) >= 2
    return min(len(base.per_process()), len(cand.per_process())) >= MIN_PROCESSES


def time_verdict(base: Side, cand: Side, floor: float, level: float, paired: bool) -> dict:
    """Rule 5 of the module comment for one benchmark."""
    bp, cp = base.per_process(), cand.per_process()
    out = {"processes": [len(bp), len(cp)], "level": level}
    if paired:
        d = paired_log_ratios(base, cand)
        iv = intervals.paired(d, level)
        what = f"{len(d)} paired rounds"
    else:
        if min(len(bp), len(cp)) < MIN_PROCESSES:
            change = statistics.median(cp.values()) / statistics.median(bp.values()) - 1
            return {**out, "change": change, "ci": None, "verdict": "inconclusive",
                    "reason": f"repetitions from {len(bp)} base and {len(cp)} cand "
                              f"process(es): repetitions inside one process are not "
                              f"independent samples; need at least {MIN_PROCESSES} "
                              "processes a side (use `gate`, or runs with "
                              "process-level repetitions)"}
        iv = intervals.unpaired(np.log(list(bp.values())), np.log(list(cp.values())), level)
        what = f"{len(bp)} vs {len(cp)} processes"
    est, lo, hi = iv.pct()
    out.update(change=est, ci=[lo, hi] if iv.finite else None)
    if not iv.finite:
        return {**out, "verdict": "inconclusive",
                "reason": f"{what} cannot reach a {level * 100:.3g}% interval: more needed"}
    v = intervals.decide(iv, floor)
    band = f"+-{floor * 100:g}% floor"
    reason = {"regression": f"slower: the whole {level * 100:.3g}% interval is above the {band}",
              "improvement": f"faster: the whole {level * 100:.3g}% interval is below the "
                             f"{band}",
              "no change": f"the {level * 100:.3g}% interval lies inside the {band}",
              "inconclusive": f"the {level * 100:.3g}% interval straddles the {band}: "
                              "more rounds needed"}[v]
    return {**out, "verdict": v, "reason": f"{reason} ({what})"}


def instruction_verdict(a: float, b: float, s: Settings) -> dict:
    """Counts are deterministic: the threshold alone decides (gate.toml's
    floors are about timing noise and do not apply)."""
    change = b / a - 1 if a else math.inf
    threshold = s.threshold
    out = {"change": change, "ci": [change, change]}
    if abs(change) > threshold:
        v = "regression" if change > 0 else "improvement"
        return {**out, "verdict": v,
                "reason": f"{pct(change)} instructions per iteration "
                          f"(threshold {threshold * 100:g}%)"}
    return {**out, "verdict": "no change",
            "reason": f"within the {threshold * 100:g}% instruction threshold"}


def fmt_num(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.6g}"


def compare_counters(base: Side, cand: Side, s: Settings) -> tuple[dict, list, list]:
    """(per-counter comparison, work-counter mismatches, notes)."""
    out, mismatches, notes = {}, [], []
    for k in sorted(set(base.counters) | set(cand.counters)):
        bv, cv = base.counters.get(k), cand.counters.get(k)
        kind = ("work" if k in s.work_counters else
                "mark" if k in MARK_COUNTERS else "metric")
        if bv is None or cv is None:
            if kind == "work" and cv is None and (cand.samples or cand.aggregate is not None):
                mismatches.append(f"work counter {k} disappeared in cand")
            else:
                notes.append(f"counter {k} only in {'cand' if bv is None else 'base'}")
            out[k] = {"kind": kind, "base": None if bv is None else float(np.median(bv)),
                      "cand": None if cv is None else float(np.median(cv)), "change": None}
            continue
        mb, mc = float(np.median(bv)), float(np.median(cv))
        entry = {"kind": kind, "base": mb, "cand": mc,
                 "change": (mc / mb - 1) if mb else None}
        if kind == "work":
            entry["equal"] = sorted(set(bv)) == sorted(set(cv))
            if not entry["equal"]:
                mismatches.append(f"{k}: base {', '.join(fmt_num(x) for x in sorted(set(bv)))}"
                                  f" != cand {', '.join(fmt_num(x) for x in sorted(set(cv)))}")
        elif kind == "mark" and (mb > 0) != (mc > 0):
            notes.append(f"mark {k}: base {fmt_num(mb)}, cand {fmt_num(mc)}")
        elif (kind == "metric" and entry["change"] is not None and not k.endswith("_per_second")
              and abs(entry["change"]) > s.floor):
            notes.append(f"{k} {pct(entry['change'])}")
        out[k] = entry
    return out, mismatches, notes


def empty_row(name: str, s: Settings) -> dict:
    return {"name": name, "metric": s.metric, "unit": "ns" if s.metric == "time" else "Ir",
            "base": None, "cand": None, "change": None, "ci": None, "level": None,
            "floor": None, "counters": {}, "notes": []}


def compare_one(name: str, base: Side | None, cand: Side | None, s: Settings, *,
                level: float, paired: bool) -> dict:
    row = empty_row(name, s)
    row["floor"] = s.policy.floor_for(name, s.floor)
    for label, side in (("base", base), ("cand", cand)):
        if side is not None and (side.samples or side.aggregate is not None):
            vals = side.samples or [side.aggregate]
            row[label] = {"n": len(side.samples), "median": float(statistics.median(vals)),
                          "processes": len(side.per_process()),
                          "spread": rel_spread(side.samples) if side.samples else None}
    if base is None or cand is None:
        which = "only in base" if cand is None else "only in cand"
        return {**row, "verdict": which, "reason": "not in the other side's results"}
    row["counters"], mismatches, row["notes"] = compare_counters(base, cand, s)
    if cand.errors:
        return {**row, "verdict": "failure", "reason": f"cand: {cand.errors[0]}",
                "acceptable": False}
    if mismatches:
        return {**row, "verdict": "failure", "reason": "different work: " + "; ".join(mismatches)}
    if cand.skips and not base.skips and not base.errors and (base.samples or base.aggregate):
        return {**row, "verdict": "newly skipped", "reason": f"cand skipped: {cand.skips[0]}"}
    if base.skips or cand.skips:
        which = "base" if base.skips else "cand"
        return {**row, "verdict": "skipped",
                "reason": f"{which} skipped: {(base.skips or cand.skips)[0]}"}
    if base.errors:
        return {**row, "verdict": "inconclusive", "reason": f"base failed: {base.errors[0]}"}
    if row["base"] is None or row["cand"] is None:
        what = "instruction count" if s.metric == "instructions" else "real_time"
        return {**row, "verdict": "inconclusive", "reason": f"no {what} in the input"}
    if s.metric == "instructions":
        return {**row, **instruction_verdict(row["base"]["median"], row["cand"]["median"], s)}
    if not base.samples or not cand.samples:
        return {**row, "change": row["cand"]["median"] / row["base"]["median"] - 1,
                "verdict": "inconclusive",
                "reason": "only aggregate rows (no per-repetition rows): run with "
                          "--benchmark_repetitions and without --benchmark_report_aggregates_only"}
    return {**row, **time_verdict(base, cand, row["floor"], level, paired)}


def apply_policy(row: dict, policy: Policy) -> dict:
    why = policy.ignored(row["name"])
    if why and row["verdict"] not in ("only in base", "only in cand"):
        return {**row, "verdict": "ignored", "reason": f"gate policy: {why}",
                "was": row["verdict"]}
    if row["verdict"] in ACCEPTABLE and row.get("acceptable", True):
        acc = policy.accepted(row["name"])
        if acc:
            return {**row, "verdict": "accepted", "was": row["verdict"],
                    "reason": f"{row['verdict']} accepted ({acc.reason}; Perf-Accept in "
                              f"{acc.commit[:10] or 'the candidate'}): {row['reason']}"}
    return row


def compare(base_sets, cand_sets, s: Settings | None = None, *, labels=("base", "cand"),
            excluded: dict | None = None, paired: bool = False,
            level: float | None = None) -> dict:
    """The whole report (a JSON-able dict) for two lists of (source, GB JSON).
    `paired`: samples with the same `process` key on both sides are a pair
    (gate rounds). `level`: the interval's confidence; default 1 - alpha/m
    over the m benchmarks that can be tested (Bonferroni)."""
    s = s or Settings()
    machine, note = machine_check(fingerprints(base_sets), fingerprints(cand_sets))
    notes = []
    if machine == "different":
        if not s.allow_cross_machine:
            raise InputError("refusing to compare results from different machines: " + note +
                             "; pass --allow-cross-machine to compare anyway")
        notes.append("CROSS-MACHINE: " + note + "; every row is marked")
    elif machine == "unknown":
        notes.append(note)
    base = collect(base_sets, s.metric)
    cand = collect(cand_sets, s.metric)
    excluded = excluded or {}
    names = [n for n in base if n not in excluded] + \
        [n for n in cand if n not in base and n not in excluded]
    if not any(n in base and n in cand for n in names) and not excluded:
        raise InputError("no benchmark appears on both sides "
                         f"({len(base)} in base, {len(cand)} in cand)")
    tested = sum(1 for n in names if n in base and n in cand and
                 testable(base[n], cand[n], paired) and not s.policy.ignored(n))
    if level is None:
        level = 1 - s.alpha / max(tested, 1)
    rows = [apply_policy(compare_one(n, base.get(n), cand.get(n), s, level=level,
                                     paired=paired), s.policy) for n in names]
    if not paired and s.metric == "time" and rows and all(
            (r["base"] or {}).get("processes", 0) <= 1 for r in rows if r["base"]):
        notes.append("every benchmark's repetitions come from one process per side: they are "
                     "not independent, so no interval is given (MEASURING.md)")
    rows += [{**empty_row(n, s), "verdict": "excluded", "reason": why}
             for n, why in excluded.items()]
    for r in rows:
        r["cross_machine"] = machine == "different"
    rows.sort(key=lambda r: VERDICT_ORDER.index(r["verdict"]))
    return {
        "switchyard_compare": 2,
        "base": {"label": labels[0], "sources": [src for src, _ in base_sets],
                 "commits": _commits(base_sets)},
        "cand": {"label": labels[1], "sources": [src for src, _ in cand_sets],
                 "commits": _commits(cand_sets)},
        "machine": machine,
        "settings": {"metric": s.metric, "floor": s.floor, "alpha": s.alpha,
                     "threshold": s.threshold, "paired": paired, "level": level,
                     "tested": tested, "policy": s.policy.source or None},
        "notes": notes,
        "rows": rows,
        "summary": summarize(rows),
        "exit_status": exit_status(rows),
    }


def summarize(rows: list[dict]) -> dict:
    return {v: sum(r["verdict"] == v for r in rows) for v in VERDICT_ORDER}


def exit_status(rows: list[dict]) -> int:
    return 1 if any(r["verdict"] in FAILING for r in rows) else 0


def _commits(sets) -> list[str]:
    out = []
    for _, data in sets:
        fp = data.get("context", {}).get("fingerprint") or {}
        c = fp.get("git_commit")
        if c:
            c = c[:10] + ("+dirty" if fp.get("git_dirty") else "")
            if c not in out:
                out.append(c)
    return out


def load_side(path) -> list[tuple[str, dict]]:
    return [(str(p), d) for p, d in load_results(Path(path))]


def compare_paths(base_path, cand_path, s: Settings | None = None, **kw) -> dict:
    return compare(load_side(base_path), load_side(cand_path), s, **kw)


