"""The top of the report: where the numbers come from, and the answers first.

A first-time reader opens report.md / report.html for the verdicts, so the
report leads with one row per claim (claim, verdict, the number that decides
it, a link to its chart) that fits on one screen; each claim's cases are
folded (<details>) under it and summarised (k/n pass, the case that decides)
rather than listed. Then a few headline charts, then the run's details
(`header`: fingerprint, commit, the calibrate step's machine facts), then the
per-workload sections (report.py). What failed (`failures`, red) and what
was left out by design or by the machine (`designed_skips`, neutral, folded)
are told apart here too.

Pure functions over evaluated claims (claimbase.Evaluated) and Results.
"""
from __future__ import annotations

import html
from typing import Callable

from . import tidy
from .claimbase import Evaluated, Figure, counts, tally
from .fingerprint import short
from .tidy import Results

LEAD_HEADING = "What the numbers say (claims)"
# The charts shown right after the verdicts (and in the README's reference
# run block): the claims most tutorials start with -- switch cost, task
# cost, I/O throughput, multi-core -- in this order, those that were drawn.
HEADLINE_CHARTS = ("switch", "spawn", "echo_throughput", "multicore")
MAX_HEADLINES = 4

# The calibrate step's facts (benches/calibrate/calibrate.cpp), in header order.
FACTS = (("getppid_ns", "syscall (getppid)", "ns"),
         ("futex_roundtrip_same_cpu_ns", "futex round trip, one CPU", "ns"),
         ("futex_roundtrip_cross_cpu_ns", "across CPUs", "ns"),
         ("page_fault_ns", "first touch of a page", "ns"),
         ("thread_create_join_us", "thread create+join", "us"),
         ("coroutine_switch_ns", "coroutine switch", "ns"))


def fact_text(facts: dict, key: str, unit: str) -> str:
    v = facts.get(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return tidy.fmt(v * (1e3 if unit == "us" else 1.0), "ns")
    return "—"


def fmt_facts(facts: dict) -> str:
    if facts.get("error"):
        return f"not measured: {facts['error']}"
    return "; ".join(f"{what} {fact_text(facts, key, unit)}" for key, what, unit in FACTS)


def header(res: Results) -> list[tuple[str, str]]:
    fp = res.fingerprint
    rows = [("machine", short(fp) if fp else
             "unknown: no context.fingerprint (not a switchyard run)")]
    if fp:
        commit = str(fp.get("git_commit") or "unknown")
        rows.append(("git commit", commit + (" (uncommitted changes)" if fp.get("git_dirty") else "")))
        rows.append(("build", f"{fp.get('build_type', '?')} {fp.get('flags', '')}".strip()
                     + (f", sanitize={fp['sanitize']}" if fp.get("sanitize") else "")))
        facts = fp.get("facts")
        if isinstance(facts, dict):
            rows.append(("machine facts", fmt_facts(facts)))
    rows.append(("date", res.date or "unknown"))
    if res.run:
        r = res.run
        rows.append(("run", f"tier {r.get('tier', '?')}, {r.get('repetitions', '?')} repetitions"
                     + (f", filter '{r['filter']}'" if r.get("filter") else "")
                     + (f", models {','.join(r['models'])}" if r.get("models") else "")))
    rows.append(("results", str(res.source)))
    return rows


MAX_LISTED = 20        # failures listed one by one before "... and N more"
MAX_NAMES = 5          # benchmark names shown per skip reason


def failures(res: Results, rendered) -> list[str]:
    """What went wrong, and why: one line each (red in the report)."""
    out = []
    for p in res.processes():
        if p.get("status", "ok") != "ok":
            out.append(f"bench_{p.get('bench', '?')} {p.get('status')}: "
                       f"{p.get('reason') or 'no reason given'}"
                       + (f" (log: {p['log']})" if p.get("log") else ""))
    failed = [b for b in res.benches if b.status == "failed"]
    out += [f"failed {b.name}: {b.reason}" for b in failed[:MAX_LISTED]]
    if len(failed) > MAX_LISTED:
        out.append(f"... and {len(failed) - MAX_LISTED} more failed benchmarks")
    return out + [f"chart {c.name} skipped: {why}" for c, why in rendered.skipped]


def designed_skips(res: Results, rendered) -> list[str]:
    """What was left out on purpose or by the machine, and why (a pool cannot
    serve 1000 connections, threads stop at 1e4, no io_uring here): one line
    per reason, shown apart from failures in a neutral colour, folded."""
    out = []
    by_reason: dict[str, list] = {}
    for b in res.benches:
        if b.status == "skipped":
            by_reason.setdefault(b.reason, []).append(b.name)
    for reason, names in by_reason.items():
        shown = ", ".join(names[:MAX_NAMES]) + (", ..." if len(names) > MAX_NAMES else "")
        out.append(f"skipped {len(names)} benchmark(s), {reason}: {shown}")
    skipped_models = dict((res.run or {}).get("models_skipped") or {})
    skipped_models.update((res.fingerprint or {}).get("models_disabled") or {})
    out += [f"model {m} not run: {why}" for m, why in skipped_models.items()]
    if rendered.absent:
        out.append("charts skipped, their workloads are not in these results: "
                   + ", ".join(c.name for c in rendered.absent))
    return out + rendered.notes


def problems(res: Results, rendered) -> list[str]:
    """Failures, then designed-in skips: everything that is not a number."""
    return failures(res, rendered) + designed_skips(res, rendered)


def summary_line(res: Results, evaluated) -> str:
    """One line under the title: which machine, when, and the tally."""
    fp = res.fingerprint
    where = short(fp) if fp else "unknown machine"
    what = tally(evaluated) if isinstance(evaluated, list) and evaluated else "no claims"
    return f"{where} · {res.date or 'date unknown'} · {what}"


def headline_names(made_names) -> list[str]:
    """The headline charts among those drawn, in HEADLINE_CHARTS order."""
    made = list(made_names)
    return [n for n in HEADLINE_CHARTS if n in made][:MAX_HEADLINES]


# ---- the number that decides each verdict -------------------------------------------

def deciding(verdict: str, figures: list[Figure]) -> Figure | None:
    """The case a reader should see first: for a claim that does not hold
    everywhere the first failing case (the worst a tutorial's reader meets),
    for one that holds the first passing case, else the first too-close one."""
    judged = [f for f in figures if f.passed is not None or f.close]
    order = (True,) if verdict == "holds" else (False, True)
    for want in order:
        if (f := next((f for f in judged if f.passed is want and not f.close), None)):
            return f
    return next(iter(judged), None) or next(iter(figures), None)


def decides_text(e: Evaluated) -> str:
    if e.verdict == "not measured":
        return f"not measured: {e.reason}"
    f = deciding(e.verdict, e.figures)
    return f.text if f else "—"


def verdict_text(e: Evaluated) -> str:
    return f"{e.verdict} {e.condition}" if e.condition else e.verdict


def fold_summary(e: Evaluated) -> str:
    """'3/4 pass, worst: ✗ …' -- the folded evidence's one-line summary."""
    if e.verdict == "not measured":
        return f"measure with: {e.command}"
    k = counts(e.passed, e.total, e.close) if e.total else "no judged cases"
    parts = "; ".join(p.text for p in e.parts)
    return k + (f"; parts: {parts}" if parts else "")


def evidence_lines(e: Evaluated) -> list[str]:
    """Every case and context figure, for the folded part."""
    if e.verdict == "not measured":
        return [f"not measured: {e.reason}", f"measure with: {e.command}"]
    return [f"part {p.text}" for p in e.parts] + [f.text for f in e.figures]


def _md(text) -> str:
    return str(text).replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|") \
        .replace("\n", " ")


def md_lead(evaluated: list[Evaluated], chart_link: Callable) -> list[str]:
    """Verdict table, then each claim's cases folded."""
    lines = [f"## {LEAD_HEADING}", "",
             f"{tally(evaluated)}. Details and the rules: [claims.md](claims.md).", "",
             "| # | claim | verdict | the number that decides it | chart |",
             "|---|---|---|---|---|"]
    for e in evaluated:
        links = [f"[{c}]({link})" for c in e.charts if (link := chart_link(c))]
        k = f" ({counts(e.passed, e.total, e.close)})" if e.total else ""
        lines.append(f"| {e.id} | {_md(e.title)} | **{_md(verdict_text(e))}**{k} | "
                     f"{_md(decides_text(e))} | {', '.join(links) or '—'} |")
    lines.append("")
    for e in evaluated:
        lines += [f"<details><summary>{e.id}. {html.escape(e.title)}: "
                  f"{html.escape(verdict_text(e))} ({html.escape(fold_summary(e))})</summary>",
                  ""] + [f"- {_md(x)}" for x in evidence_lines(e)] + ["", "</details>"]
    return lines + [""]


def html_lead(evaluated: list[Evaluated], chart_anchor: Callable) -> str:
    esc = html.escape
    rows = []
    for e in evaluated:
        links = ", ".join(f'<a href="{esc(a)}">{esc(c)}</a>' for c in e.charts
                          if (a := chart_anchor(c))) or "—"
        cases = "".join(f"<li>{esc(x)}</li>" for x in evidence_lines(e))
        cls = "verdict " + e.verdict.replace(" ", "-")
        rows.append(
            f'<tr><td>{e.id}</td><td class="text" title="{esc(e.claim)}">{esc(e.title)}</td>'
            f'<td class="text {cls}"><strong>{esc(verdict_text(e))}</strong></td>'
            f'<td class="text">{esc(decides_text(e))}<details><summary>'
            f'{esc(fold_summary(e))}</summary><ul>{cases}</ul></details></td>'
            f'<td class="text">{links}</td></tr>')
    return (f'<h2 id="claims">{esc(LEAD_HEADING)}</h2>'
            f'<p class="note">{esc(tally(evaluated))}. Details and the rules: '
            'claims.md beside this page.</p>'
            '<table class="lead"><thead><tr><th>#</th><th>claim</th><th>verdict</th>'
            '<th>the number that decides it (cases folded)</th><th>chart</th></tr></thead>'
            "<tbody>" + "".join(rows) + "</tbody></table>\n")
