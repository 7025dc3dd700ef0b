"""`switchyard compare BASE CAND`: a verdict per benchmark between two sets of
Google Benchmark results, and an exit status a CI job can fail on.

Why not google/benchmark's tools/compare.py: it never fails a build and it
ignores counters. Here a benchmark that did different work (a checksum or
work counter differs between the sides) is a failure whatever its timings,
and a slowdown only counts when it is both significant and larger than the
noise. Input is any Google Benchmark JSON (files or results directories);
our `context.fingerprint` is used when present.

Verdict rules for timings (real_time per repetition, per benchmark):
  change  = median(cand) / median(base) - 1
  spread  = max over both sides of 1.4826 * MAD / median of the repetitions
            (a robust relative standard deviation: two slow outliers in five
            repetitions do not inflate it, unlike the standard deviation or IQR)
  noise   = max(floor (default 3%), spread)
  p       = two-sided Mann-Whitney U over the repetitions (scipy), adjusted
            with Benjamini-Hochberg over every benchmark tested in the same
            comparison: with 50 benchmarks and no correction, about one gate
            run in four would fail by chance
  1. cand reported an error            -> failure
  2. a work counter differs            -> failure
  3. either side skipped               -> skipped
  4. fewer than MIN_REPETITIONS a side -> inconclusive (says how many are needed)
  5. p < alpha and |change| > noise    -> regression (slower) / improvement
  6. |change| > noise, not significant -> inconclusive
  7. spread > floor                    -> inconclusive (spread above the effect)
  8. otherwise                         -> no change
Instruction counts (callgrind mode) are deterministic: |change| > threshold
(default 1%) decides, no statistics. Exit status: 1 on any regression or
failure, 0 otherwise; bad input raises InputError (exit 2).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from .results import InputError, base_name, is_failure, is_skip, load_results

DEFAULT_FLOOR = 0.03              # smallest relative change worth a verdict
DEFAULT_ALPHA = 0.05              # significance level of the Mann-Whitney test
MIN_REPETITIONS = 5               # per side; the exact test reaches p = 0.008 at 5 vs 5
DEFAULT_CALLGRIND_THRESHOLD = 0.01
INSTRUCTIONS_KEY = "instructions_per_iteration"   # written by `gate --callgrind`

TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# Google Benchmark's own fields: everything else numeric in an entry is a counter.
STANDARD_FIELDS = frozenset({
    "name", "run_name", "run_type", "family_index", "per_family_instance_index",
    "repetitions", "repetition_index", "threads", "iterations", "real_time",
    "cpu_time", "time_unit", "aggregate_name", "aggregate_unit", "label",
    "error_occurred", "error_message", "big_o", "rms", "cpu_coefficient",
    "real_coefficient", "complexity_n", INSTRUCTIONS_KEY, "callgrind_ir_total",
    "callgrind_iterations",
})
# Counters that define the work done (schema: "work"/checksum counters). They
# must be equal on both sides. Not here on purpose: locks' `final` and
# `lost_updates` (sync:none loses a varying number of updates by design),
# echo's `msgs` (depends on how long the load ran), rates and latencies.
WORK_COUNTERS = frozenset({
    "checksum", "switches", "tasks", "steps", "hops", "reads", "bytes",
    "work_items", "expected",
})
# 0/1 marks: a change is reported as a note, not judged.
MARK_COUNTERS = frozenset({"capped", "oversubscribed", "client_bound"})

FAILING = ("failure", "regression")
# Display order: what needs attention first.
VERDICT_ORDER = ("failure", "regression", "improvement", "inconclusive", "no change",
                 "skipped", "excluded", "only in base", "only in cand")


@dataclass
class Settings:
    floor: float = DEFAULT_FLOOR
    alpha: float = DEFAULT_ALPHA
    min_repetitions: int = MIN_REPETITIONS
    threshold: float = DEFAULT_CALLGRIND_THRESHOLD
    metric: str = "time"                 # "time" | "instructions"
    allow_cross_machine: bool = False
    work_counters: frozenset = WORK_COUNTERS


@dataclass
class Side:
    """One benchmark on one side: per-repetition samples and what went wrong."""
    samples: list = field(default_factory=list)       # ns, or instructions
    aggregate: float | None = None                     # fallback: aggregate median/mean
    counters: dict = field(default_factory=dict)       # name -> [values]
    errors: list = field(default_factory=list)
    skips: list = field(default_factory=list)


# ---- reading ----------------------------------------------------------------------

def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def entry_key(entry: dict) -> str:
    """Benchmark name without Google Benchmark's suffixes and aggregate names."""
    name = str(entry.get("run_name") or entry["name"])
    if entry.get("run_type") == "aggregate" and not entry.get("run_name"):
        agg = entry.get("aggregate_name")
        if agg and name.endswith("_" + str(agg)):
            name = name[: -len(str(agg)) - 1]
    return base_name(name)


def entry_value(entry: dict, metric: str, source: str) -> float | None:
    """The entry's measurement in ns (time) or instructions, or None."""
    if metric == "instructions":
        return _number(entry.get(INSTRUCTIONS_KEY))
    t = _number(entry.get("real_time"))
    if t is None:
        return None
    unit = entry.get("time_unit", "ns")
    if unit not in TIME_UNIT_NS:
        raise InputError(f"{source}: benchmark '{entry['name']}' has unknown time_unit '{unit}'")
    return t * TIME_UNIT_NS[unit]


def entry_counters(entry: dict) -> dict:
    return {k: v for k, v in ((k, _number(v)) for k, v in entry.items()
                              if k not in STANDARD_FIELDS) if v is not None}


def collect(datasets: list[tuple[str, dict]], metric: str = "time") -> dict[str, Side]:
    """Benchmarks of one side, keyed by name, in order of first appearance."""
    sides: dict[str, Side] = {}
    fallback: dict[str, dict] = {}
    for source, data in datasets:
        for e in data["benchmarks"]:
            key = entry_key(e)
            side = sides.setdefault(key, Side())
            if is_skip(e):
                side.skips.append(str(e.get("error_message", ""))[len("skipped: "):])
                continue
            if is_failure(e):
                side.errors.append(str(e.get("error_message", "")) or "error_occurred")
                continue
            if e.get("run_type") == "aggregate":
                agg = str(e.get("aggregate_name", ""))
                if e.get("aggregate_unit", "time") == "time" and agg in ("median", "mean", ""):
                    rank = {"median": 0, "mean": 1, "": 2}[agg]
                    if key not in fallback or rank < fallback[key]["rank"]:
                        fallback[key] = {"rank": rank, "entry": e, "source": source}
                continue
            v = entry_value(e, metric, source)
            if v is None:
                continue
            side.samples.append(v)
            for k, c in entry_counters(e).items():
                side.counters.setdefault(k, []).append(c)
    for key, f in fallback.items():
        side = sides[key]
        if not side.samples:
            side.aggregate = entry_value(f["entry"], metric, f["source"])
            for k, c in entry_counters(f["entry"]).items():
                side.counters.setdefault(k, []).append(c)
    return sides


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
    xs = np.asarray(xs, dtype=float)
    med = float(np.median(xs))
    if len(xs) < 2 or med == 0:
        return 0.0
    return float(MAD_TO_SIGMA * np.median(np.abs(xs - med)) / abs(med))


def mann_whitney_p(a, b) -> float:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0                        # all values equal: nothing to test
    p = stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
    return 1.0 if not np.isfinite(p) else float(p)


def pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def bh_adjust(pvalues: dict) -> dict:
    """Benjamini-Hochberg adjusted p-values, {key: p} -> {key: q}."""
    if not pvalues:
        return {}
    keys = sorted(pvalues, key=pvalues.get)
    m = len(keys)
    out, running = {}, 1.0
    for rank in range(m, 0, -1):                # step-up from the largest p
        k = keys[rank - 1]
        running = min(running, pvalues[k] * m / rank)
        out[k] = min(running, 1.0)
    return out


def time_verdict(a, b, s: Settings, p: float | None = None) -> dict:
    """Rules 4-8 of the module comment for two lists of samples (ns).
    `p`: the adjusted p-value; computed unadjusted when not given."""
    ma, mb = float(np.median(a)), float(np.median(b))
    change = mb / ma - 1 if ma else math.inf
    spread = max(rel_spread(a), rel_spread(b))
    noise = max(s.floor, spread)
    out = {"change": change, "spread": spread, "noise": noise, "p": None}
    if min(len(a), len(b)) < s.min_repetitions:
        return {**out, "verdict": "inconclusive",
                "reason": f"{len(a)} base and {len(b)} cand repetitions: "
                          f"need at least {s.min_repetitions} per side"}
    out["p_raw"] = mann_whitney_p(a, b)
    p = out["p_raw"] if p is None else p
    out["p"] = p
    if p < s.alpha and abs(change) > noise:
        v = "regression" if change > 0 else "improvement"
        return {**out, "verdict": v,
                "reason": f"{'slower' if change > 0 else 'faster'} by {abs(change) * 100:.1f}% "
                          f"(noise {noise * 100:.1f}%, p={p:.3g})"}
    if abs(change) > noise:
        return {**out, "verdict": "inconclusive",
                "reason": f"{pct(change)} but not significant (p={p:.3g} >= {s.alpha:g}): "
                          "more repetitions needed"}
    if spread > s.floor:
        return {**out, "verdict": "inconclusive",
                "reason": f"spread {spread * 100:.1f}% is above the effect ({pct(change)}) "
                          f"and the {s.floor * 100:g}% floor: too noisy to call"}
    reason = f"within the {noise * 100:.1f}% noise floor"
    if p < s.alpha:
        reason += f" (a significant {pct(change)} shift, p={p:.3g}, below the floor)"
    return {**out, "verdict": "no change", "reason": reason}


def instruction_verdict(a: float, b: float, s: Settings) -> dict:
    change = b / a - 1 if a else math.inf
    out = {"change": change, "spread": 0.0, "noise": s.threshold, "p": None}
    if abs(change) > s.threshold:
        v = "regression" if change > 0 else "improvement"
        return {**out, "verdict": v,
                "reason": f"{pct(change)} instructions per iteration "
                          f"(threshold {s.threshold * 100:g}%)"}
    return {**out, "verdict": "no change",
            "reason": f"within the {s.threshold * 100:g}% instruction threshold"}


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


def compare_one(name: str, base: Side | None, cand: Side | None, s: Settings,
                p_adjusted: float | None = None) -> dict:
    row = {"name": name, "metric": s.metric, "unit": "ns" if s.metric == "time" else "Ir",
           "base": None, "cand": None, "change": None, "p": None, "noise": None,
           "spread": None, "counters": {}, "notes": []}
    for label, side in (("base", base), ("cand", cand)):
        if side is not None and (side.samples or side.aggregate is not None):
            vals = side.samples or [side.aggregate]
            row[label] = {"n": len(side.samples), "median": float(np.median(vals)),
                          "spread": rel_spread(side.samples) if side.samples else None}
    if base is None or cand is None:
        which = "only in base" if cand is None else "only in cand"
        return {**row, "verdict": which, "reason": "not in the other side's results"}
    row["counters"], mismatches, row["notes"] = compare_counters(base, cand, s)
    if cand.errors:
        return {**row, "verdict": "failure", "reason": f"cand: {cand.errors[0]}"}
    if mismatches:
        return {**row, "verdict": "failure",
                "reason": "different work: " + "; ".join(mismatches)}
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
        v = time_verdict([row["base"]["median"]], [row["cand"]["median"]], s)
        return {**row, **v, "p": None, "verdict": "inconclusive",
                "reason": "only aggregate rows (no per-repetition rows): run with "
                          "--benchmark_repetitions and without --benchmark_report_aggregates_only"}
    return {**row, **time_verdict(base.samples, cand.samples, s, p_adjusted)}


def compare(base_sets, cand_sets, s: Settings | None = None, *, labels=("base", "cand"),
            excluded: dict | None = None) -> dict:
    """The whole report (a JSON-able dict) for two lists of (source, GB JSON)."""
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
    rows = [compare_one(n, base.get(n), cand.get(n), s) for n in names]
    # Second pass with p-values adjusted over every benchmark that was tested.
    q = bh_adjust({r["name"]: r["p_raw"] for r in rows if r.get("p_raw") is not None})
    if len(q) > 1:
        rows = [compare_one(n, base.get(n), cand.get(n), s, q.get(n)) if n in q else r
                for n, r in zip(names, rows)]
    rows += [{"name": n, "metric": s.metric, "verdict": "excluded", "reason": why,
              "base": None, "cand": None, "change": None, "p": None, "noise": None,
              "spread": None, "counters": {}, "notes": []} for n, why in excluded.items()]
    for r in rows:
        r["cross_machine"] = machine == "different"
    rows.sort(key=lambda r: VERDICT_ORDER.index(r["verdict"]))
    summary = {v: sum(r["verdict"] == v for r in rows) for v in VERDICT_ORDER}
    return {
        "switchyard_compare": 1,
        "base": {"label": labels[0], "sources": [src for src, _ in base_sets],
                 "commits": _commits(base_sets)},
        "cand": {"label": labels[1], "sources": [src for src, _ in cand_sets],
                 "commits": _commits(cand_sets)},
        "machine": machine,
        "settings": {"metric": s.metric, "floor": s.floor, "alpha": s.alpha,
                     "min_repetitions": s.min_repetitions, "threshold": s.threshold,
                     "p_adjustment": "benjamini-hochberg" if len(q) > 1 else "none",
                     "tested": len(q)},
        "notes": notes,
        "rows": rows,
        "summary": summary,
        "exit_status": 1 if any(summary[v] for v in FAILING) else 0,
    }


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


# ---- output -------------------------------------------------------------------------

def fmt_value(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "Ir":
        for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(v) >= scale:
                return f"{v / scale:.4g}{suffix} Ir"
        return f"{v:.4g} Ir"
    for scale, suffix in ((1e9, "s"), (1e6, "ms"), (1e3, "us")):
        if abs(v) >= scale:
            return f"{v / scale:.4g} {suffix}"
    return f"{v:.4g} ns"


def _cells(r: dict) -> list[str]:
    unit = r.get("unit", "ns")
    verdict = r["verdict"] + (" (x-machine)" if r.get("cross_machine") else "")
    return [r["name"],
            fmt_value((r["base"] or {}).get("median"), unit),
            fmt_value((r["cand"] or {}).get("median"), unit),
            "-" if r["change"] is None or not math.isfinite(r["change"]) else pct(r["change"]),
            "-" if r["p"] is None else f"{r['p']:.3g}",
            "-" if r["noise"] is None else f"{r['noise'] * 100:.1f}%",
            verdict, r["reason"] + ("; " + "; ".join(r["notes"]) if r.get("notes") else "")]


HEADERS = ["benchmark", "base", "cand", "change", "p", "noise", "verdict", "why"]


def summary_line(report: dict) -> str:
    parts = [f"{n} {v}" for v, n in report["summary"].items() if n]
    status = "FAIL" if report["exit_status"] else "PASS"
    return f"{status}: " + (", ".join(parts) or "nothing compared")


def _header(report: dict) -> str:
    def side(d):
        src = d["sources"]
        where = src[0] if len(src) == 1 else f"{Path(src[0]).parent}/ ({len(src)} files)"
        commits = f" @ {', '.join(d['commits'])}" if d["commits"] else ""
        return f"{d['label']} {where}{commits}"
    what = ("instructions per iteration (callgrind)" if report["settings"]["metric"] ==
            "instructions" else "real time, median of repetitions")
    return f"{side(report['base'])}  vs  {side(report['cand'])}  [{what}]"


def format_table(report: dict) -> str:
    rows = [HEADERS] + [_cells(r) for r in report["rows"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS) - 1)]
    lines = [_header(report)]
    for r in rows:
        lines.append("  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))) + "  " + r[-1])
    lines += [f"note: {n}" for n in report["notes"]]
    if report["settings"].get("p_adjustment") == "benjamini-hochberg":
        lines.append(f"note: p is Benjamini-Hochberg-adjusted over the "
                     f"{report['settings']['tested']} benchmarks tested")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(report: dict) -> str:
    lines = [f"### switchyard: {summary_line(report)}", "", _md(_header(report)), ""]
    lines.append("| " + " | ".join(HEADERS) + " |")
    lines.append("|" + "---|" * len(HEADERS))
    for r in report["rows"]:
        c = _cells(r)
        c[0] = f"`{c[0]}`"
        if r["verdict"] in FAILING:
            c[6] = f"**{c[6]}**"
        lines.append("| " + " | ".join(_md(x) for x in c) + " |")
    if report["notes"]:
        lines.append("")
        lines += [f"- {_md(n)}" for n in report["notes"]]
    lines += ["", legend(report)]
    return "\n".join(lines) + "\n"


def legend(report: dict) -> str:
    st = report["settings"]
    if st["metric"] == "instructions":
        rule = (f"*regression*/*improvement* = instructions per iteration changed by more "
                f"than {st['threshold'] * 100:g}% (callgrind, deterministic)")
    else:
        adj = (f", Benjamini-Hochberg-adjusted over {st['tested']} benchmarks"
               if st.get("p_adjustment") == "benjamini-hochberg" else "")
        rule = (f"*regression*/*improvement* = significant (Mann-Whitney U p < {st['alpha']:g}"
                f"{adj}) and larger than the noise floor (max of {st['floor'] * 100:g}% and "
                "the measured spread)")
    return (f"Verdicts: {rule}; *failure* = an error or different work counters; "
            "*inconclusive* = too few repetitions or too much spread. "
            "Exit 1 on any regression or failure.")


def format_json(report: dict) -> str:
    return json.dumps(report, indent=2) + "\n"


def render(report: dict, fmt: str) -> str:
    return {"table": format_table, "markdown": format_markdown, "json": format_json}[fmt](report)


def execute(base, cand, s: Settings, fmt: str = "table", *, out=None) -> int:
    """CLI body: print the report in `fmt`, return the exit status."""
    import sys
    report = compare_paths(base, cand, s)
    (out or sys.stdout).write(render(report, fmt))
    return report["exit_status"]
