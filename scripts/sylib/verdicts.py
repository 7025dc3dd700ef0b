"""Rendering a compare/gate report: a table for the terminal, Markdown for a
CI step summary or a pull-request comment, JSON for machines.

The Markdown is written for a PR comment: one summary line, a table of only
the rows that need a reader (failures, regressions, newly skipped,
accepted, improvements, and inconclusive rows the gate had reason to look at
again), everything else folded in <details> -- including the gate's
screened "no evidence of a change" rows, which on a noisy runner are most of
the table -- and no links (a path inside the run directory is dead outside it).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .compare import FAILING, pct

ATTENTION = ("failure", "regression", "newly skipped", "accepted", "improvement",
             "inconclusive")
HEADERS = ["benchmark", "base", "cand", "change [interval]", "verdict", "why"]


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


def fmt_change(r: dict) -> str:
    c = r.get("change")
    if c is None or not math.isfinite(c):
        return "-"
    ci = r.get("ci")
    if r.get("unit") == "Ir" or not ci:
        return pct(c)
    return f"{pct(c)} [{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}]"


def _cells(r: dict) -> list[str]:
    unit = r.get("unit", "ns")
    verdict = r["verdict"] + (" (x-machine)" if r.get("cross_machine") else "")
    why = r["reason"] + ("; " + "; ".join(r["notes"]) if r.get("notes") else "")
    return [r["name"], fmt_value((r["base"] or {}).get("median"), unit),
            fmt_value((r["cand"] or {}).get("median"), unit), fmt_change(r), verdict, why]


def extras(report: dict) -> list[str]:
    """What the summary line must say besides the verdict counts."""
    out = []
    lost = [r["name"] for r in report["rows"] if "disappeared in cand" in r.get("reason", "")]
    if lost:
        out.append(f"{len(lost)} with a work counter lost")
    return out


def summary_line(report: dict) -> str:
    parts = [f"{n} {v}" for v, n in report["summary"].items() if n]
    status = "FAIL" if report["exit_status"] else "PASS"
    return f"{status}: " + (", ".join(parts + extras(report)) or "nothing compared")


def _header(report: dict) -> str:
    def side(d):
        src = d["sources"]
        where = src[0] if len(src) == 1 else f"{Path(src[0]).parent.name}/ ({len(src)} files)"
        commits = f" @ {', '.join(d['commits'])}" if d["commits"] else ""
        return f"{d['label']} {where}{commits}"
    st = report["settings"]
    if st["metric"] == "instructions":
        what = "instructions per iteration (callgrind)"
    elif st.get("paired"):
        what = "real time, paired rounds"
    else:
        what = "real time, per-process medians"
    return f"{side(report['base'])}  vs  {side(report['cand'])}  [{what}]"


def format_table(report: dict) -> str:
    rows = [HEADERS] + [_cells(r) for r in report["rows"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS) - 1)]
    lines = [_header(report)]
    for r in rows:
        lines.append("  ".join(c.ljust(w) if i in (0, 4) else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))) + "  " + r[-1])
    lines += [f"note: {n}" for n in report["notes"]]
    lines.append("note: " + legend(report))
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def _md_table(rows: list[dict]) -> list[str]:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for r in rows:
        c = _cells(r)
        c[0] = f"`{c[0]}`"
        if r["verdict"] in FAILING:
            c[4] = f"**{c[4]}**"
        lines.append("| " + " | ".join(_md(x) for x in c) + " |")
    return lines


def needs_reader(row: dict) -> bool:
    """Shown in the PR comment's table rather than folded."""
    if row["verdict"] == "inconclusive" and row.get("stage") == "screen":
        return False                  # screened: no evidence of a change
    return row["verdict"] in ATTENTION


def format_markdown(report: dict) -> str:
    lines = [f"### switchyard: {summary_line(report)}", "", _md(_header(report)), ""]
    shown = [r for r in report["rows"] if needs_reader(r)]
    folded = [r for r in report["rows"] if not needs_reader(r)]
    if shown:
        lines += _md_table(shown)
    else:
        lines.append("Nothing needs attention.")
    if folded:
        lines += ["", f"<details><summary>{len(folded)} more rows (no change, no evidence "
                      "of a change, skipped, ignored, excluded, ...)</summary>", ""]
        lines += _md_table(folded)
        lines += ["", "</details>"]
    gate = report.get("gate")
    if gate:
        lines += ["", _md(gate_line(gate))]
    if report["notes"]:
        lines.append("")
        lines += [f"- {_md(n)}" for n in report["notes"]]
    lines += ["", _md(legend(report))]
    return "\n".join(lines) + "\n"


def gate_line(gate: dict) -> str:
    stages = "; ".join(
        f"{s['name']}: {s['rounds']} rounds of {s['benchmarks']} benchmarks at "
        f"{s['level'] * 100:.3g}%" if s["rounds"] else f"{s['name']}: {s['benchmarks']} benchmarks"
        for s in gate.get("stages", []))
    return (f"Gate ({gate['mode']}): {stages or 'no stages'}; built in "
            f"{gate.get('build_seconds', 0):.0f} s, {gate.get('seconds', 0):.0f} s in all.")


def legend(report: dict) -> str:
    st = report["settings"]
    if st["metric"] == "instructions":
        rule = (f"regression/improvement = instructions per iteration changed by more "
                f"than {st['threshold'] * 100:g}% (callgrind, deterministic)")
    else:
        how = ("Hodges-Lehmann estimate of the paired log ratios with its exact "
               "signed-rank interval" if st.get("paired") else
               "Hodges-Lehmann shift of per-process medians with its exact Mann-Whitney "
               f"interval at {st['level'] * 100:.4g}% (Bonferroni over {st['tested']} "
               "benchmarks)")
        rule = (f"change = {how}; regression/improvement = the whole interval beyond "
                f"+-{st['floor'] * 100:g}% (or the gate.toml floor of the row); no change = "
                "the interval inside it; inconclusive = neither")
    return (f"Verdicts: {rule}; failure = an error or different work counters; "
            "newly skipped = the candidate skips a case the base ran; accepted = a "
            "Perf-Accept trailer covers it. Exit 1 on any failure, regression or newly "
            "skipped case.")


def format_json(report: dict) -> str:
    return json.dumps(report, indent=2) + "\n"


def render(report: dict, fmt: str) -> str:
    return {"table": format_table, "markdown": format_markdown, "json": format_json}[fmt](report)
