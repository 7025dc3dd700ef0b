"""The report of a results directory: report.md and report.html.

report.md is plain GitHub markdown (tables + links to charts/) small enough
for a CI step summary; report.html is one self-contained file (CSS and every
chart's SVG inline) that opens offline. Both start with the machine
fingerprint, the git commit, and what failed or was skipped and why; then one
section per workload: its charts and a table with models as rows, the median
over processes, its interval (order-statistic interval of the median over
processes, with its exact coverage; tidy.py) and the ratio to the best model
in the same configuration; and the echo servers' syscalls per message from
the profiling pass (sylib.profile).

Pure functions build the tables and the text; `produce` writes the files and
`command` is the body of `switchyard plot` / `switchyard report`.
"""
from __future__ import annotations

import html
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from . import plot, profile, seam, tidy
from . import claims as claimsmod
from .reportlead import (FACTS, designed_skips, failures, fmt_facts, header,  # noqa: F401
                         problems)  # report.X stays public
from .reportlead import LEAD_HEADING, headline_names, html_lead, md_lead, summary_line
from .results import InputError, atomic_write_text
from .tidy import Results, fmt

RATIO_NOTE = ("ratio to best: how many times worse than the best model in the same "
              "configuration (1.00 = best; baselines are compared with the best model)")


@dataclass
class Table:
    workload: str
    heading: str
    note: str
    columns: list
    rows: list            # list of lists of str


def _ratio(st, best, better) -> float | None:
    if st is None or best is None or st.median <= 0 or best <= 0:
        return None
    return st.median / best if better == "lower" else best / st.median


def workload_table(res: Results, workload: str) -> Table | None:
    spec = tidy.WORKLOADS[workload]
    rows = res.ok(workload)
    if not rows:
        return None
    keys = spec.group_by
    groups: dict[tuple, list] = {}
    for b in rows:
        groups.setdefault(tuple(b.params.get(k) for k in keys), []).append(b)
    with_marks = any(b.marks for b in rows)
    columns = (["config"] if keys else []) + ["model", "n", spec.primary.label, INTERVAL,
                                              "ratio to best"]
    columns += [m.label for m in spec.extras]
    cold = spec.cold_first and any(tidy.cold_and_steady(b, spec.primary)[1] for b in rows)
    columns += ["rep 0 (cold)", "steady median (reps 1+)"] if cold else []
    columns += ["marks"] if with_marks else []
    out = []
    for key in sorted(groups, key=tidy.natural_key):
        members = groups[key]
        stats = [b.stat(spec.primary) for b in members]
        pool = [s.median for b, s in zip(members, stats)
                if s and not tidy.is_baseline(b.model)] or [s.median for s in stats if s]
        best = (min(pool) if spec.primary.better == "lower" else max(pool)) if pool else None
        config = " ".join(f"{k}:{v}" for k, v in zip(keys, key) if v is not None)
        for b, st in zip(members, stats):
            r = _ratio(st, best, spec.primary.better)
            row = ([config] if keys else []) + [
                b.label(skip=keys), str(st.n) if st else "0",
                fmt(st.median if st else None, spec.primary.unit),
                _ci(st, spec.primary.unit), f"{r:.2f}" if r is not None else "—"]
            row += [fmt(s.median if (s := b.stat(m)) else None, m.unit) for m in spec.extras]
            if cold:
                first, steady = tidy.cold_and_steady(b, spec.primary)
                row += [fmt(first, spec.primary.unit),
                        fmt(steady.median if steady else None, spec.primary.unit)]
            row += [", ".join(m.replace("_", "-") for m in b.marks)] if with_marks else []
            out.append(row)
    better = "lower" if spec.primary.better == "lower" else "higher"
    return Table(workload, f"{workload}: {spec.what}",
                 f"{spec.primary.label}, {better} is better; {RATIO_NOTE}.", columns, out)


INTERVAL = "interval (coverage)"     # n counts processes


def _ci(st, unit) -> str:
    if st is None or not math.isfinite(st.lo):
        return "—"
    return f"{fmt(st.lo, unit)} – {fmt(st.hi, unit)} ({st.level * 100:.0f}%)"


def generic_table(res: Results, workloads: list[str]) -> Table | None:
    """Benchmarks outside the schema (plain Google Benchmark output)."""
    rows = [b for b in res.benches if b.workload in workloads and b.status == "ok"]
    if not rows:
        return None
    body = []
    for b in rows:
        st = b.stat(tidy.TIME_NS)
        body.append([b.name, b.source, str(st.n), fmt(st.median, "ns"), _ci(st, "ns")])
    return Table("", "other benchmarks (not switchyard workloads)",
                 "real time per iteration as Google Benchmark reports it; lower is better.",
                 ["benchmark", "file", "n", "real time", INTERVAL], body)


def tables(res: Results) -> list[Table]:
    known = [w for w in res.workloads() if w in tidy.WORKLOADS]
    out = [t for w in known if (t := workload_table(res, w))]
    if (sc := profile.echo_syscalls(res)):
        out.append(Table("", *sc))          # no charts of its own
    if (st := seam.seam_table(res)):
        out.append(Table("", *st))
    other = generic_table(res, [w for w in res.workloads() if w not in tidy.WORKLOADS])
    return out + ([other] if other else [])


# ---- markdown ------------------------------------------------------------------------

def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(columns, rows) -> list[str]:
    lines = ["| " + " | ".join(_md_cell(c) for c in columns) + " |",
             "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
    return lines


ACROSS_HEADING = "Across workloads"


def _charts_for(rendered: plot.Rendered, workload: str):
    made = [m for m in rendered.made if m.chart.workload == workload]
    skipped = [(c, why) for c, why in rendered.skipped if c.workload == workload]
    return made, skipped


def evaluated_claims(res: Results, out_dir: Path):
    """The claims of these results, evaluated once: claims.md and claims.json
    are written beside the report (its section links them), and the section
    is rendered from the same evaluation. A claims bug must not cost the
    report: then the one-line reason instead."""
    try:
        evaluated, _ = claimsmod.produce(res, out_dir)
        return evaluated
    except Exception as e:  # noqa: BLE001
        return f"claims not evaluated: {type(e).__name__}: {e}"


def _problem_lines_md(res: Results, rendered: plot.Rendered) -> list[str]:
    """Failures (each listed), then the designed-in skips apart and folded."""
    bad, skips = failures(res, rendered), designed_skips(res, rendered)
    lines = ["## Failed", ""] + ([f"- {_md_cell(p)}" for p in bad] or ["Nothing failed."])
    lines.append("")
    if skips:
        lines += [f"<details><summary>Skipped by design or by this machine "
                  f"({len(skips)})</summary>", ""]
        lines += [f"- {_md_cell(p)}" for p in skips] + ["", "</details>", ""]
    return lines


def markdown(res: Results, rendered: plot.Rendered, tabs: list[Table], out_dir: Path,
             evaluated=None) -> str:
    """Answers first: verdicts, failures, headline charts; then the run's
    details and one section per workload."""
    rel = lambda p: Path(os.path.relpath(p, out_dir)).as_posix()
    made = {m.chart.name: m for m in rendered.made}
    lines = ["# switchyard report", "", _md_cell(summary_line(res, evaluated)), ""]
    if isinstance(evaluated, str):
        lines += [f"## {LEAD_HEADING}", "", _md_cell(evaluated), ""]
    elif evaluated:
        lines += md_lead(evaluated, lambda c: rel(made[c].png) if c in made else None)
    lines += _problem_lines_md(res, rendered)
    heads = headline_names(made)
    if heads:
        lines += ["## Headline charts", ""]
        lines += [f"[![{made[n].chart.what}]({rel(made[n].png)})]({rel(made[n].svg)})"
                  for n in heads] + [""]
    lines += ["## This run", ""]
    lines += [f"- **{k}**: {_md_cell(v)}" for k, v in header(res)] + [""]

    def chart_lines(workload):
        made, skipped = _charts_for(rendered, workload)
        rel = lambda p: Path(os.path.relpath(p, out_dir)).as_posix()
        return [f"Chart: [{m.chart.what}]({rel(m.png)})"
                + (f" ([SVG]({rel(m.svg)}))  " if m.svg != m.png else "  ") for m in made] \
            + [f"Chart {c.name} skipped: {_md_cell(why)}  " for c, why in skipped]

    across = chart_lines(plot.ANY_WORKLOAD)
    if across:
        lines += [f"## {ACROSS_HEADING}", ""] + across + [""]
    for t in tabs:
        lines += [f"## {t.heading}", ""] + chart_lines(t.workload)
        lines += ["", t.note, ""] + _md_table(t.columns, t.rows) + [""]
    if not tabs:
        lines += ["No successful benchmark results to tabulate.", ""]
    return "\n".join(lines)


# ---- html ----------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; }
td:first-child, th:first-child, td.text { text-align: left; }
table.header td { text-align: left; }
figure { margin: 1em 0; }
figure svg { max-width: 100%; height: auto; }
.problems li { color: #8b0000; }
.skips, .skips li { color: #555; }
.summary { color: #444; margin-top: -0.5em; }
table.lead td { vertical-align: top; }
table.lead th { text-align: left; }
.headlines figure.wide { grid-column: 1 / -1; }
table.lead details { color: #555; font-size: 0.9em; margin-top: 0.2em; }
table.lead details ul { margin: 0.2em 0; padding-left: 1.2em; }
.headlines { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr));
             gap: 0 1.5em; }
.note { color: #555; font-size: 0.9em; }
"""


_SVG_ID = re.compile(r'\bid="([^"]+)"')


def _svg_inline(path: Path, prefix: str) -> str:
    """The <svg> element of a matplotlib SVG file, without XML prolog/doctype,
    every id (and every reference to one) prefixed with `prefix`: charts
    inlined in one page share glyph and clip-path ids otherwise, which is
    invalid HTML and lets one chart draw another's glyphs."""
    text = path.read_text()
    start = text.find("<svg")
    if start < 0:
        return ""
    svg = text[start:]
    ids = set(_SVG_ID.findall(svg))
    if not ids:
        return svg
    svg = _SVG_ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
    ref = re.compile(r"(#)(" + "|".join(re.escape(i) for i in sorted(ids, key=len,
                                                                       reverse=True)) + r")\b")
    return ref.sub(lambda m: f"#{prefix}{m.group(2)}", svg)


def _html_table(columns, rows, cls="") -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _problem_parts_html(res: Results, rendered: plot.Rendered) -> list[str]:
    """Failures in red; designed-in skips apart, neutral and folded."""
    e = html.escape
    bad, skips = failures(res, rendered), designed_skips(res, rendered)
    parts = ["<h2>Failed</h2>"]
    parts.append('<ul class="problems">' + "".join(f"<li>{e(p)}</li>" for p in bad) + "</ul>"
                 if bad else "<p>Nothing failed.</p>")
    if skips:
        parts.append(f'<details class="skips"><summary>Skipped by design or by this machine '
                     f'({len(skips)})</summary><ul>' +
                     "".join(f"<li>{e(p)}</li>" for p in skips) + "</ul></details>")
    return parts


WIDE_PT = 700     # a chart wider than this (several panels) takes a whole headline row


def _figure(m: plot.Made) -> str:
    e = html.escape
    svg = _svg_inline(m.svg, f"{m.chart.name}-")
    width = re.search(r'<svg[^>]*\bwidth="([\d.]+)pt"', svg)
    wide = ' class="wide"' if width and float(width.group(1)) > WIDE_PT else ""
    return (f"<figure id=\"chart-{e(m.chart.name)}\"{wide}>{svg}"
            f"<figcaption class=\"note\">{e(m.chart.what)}</figcaption></figure>")


def to_html(res: Results, rendered: plot.Rendered, tabs: list[Table], evaluated=None) -> str:
    """Answers first (as `markdown`). A headline chart is drawn once, at the
    top, and its workload's section points up to it."""
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>switchyard report</title>", f"<style>{CSS}</style></head><body>",
             "<h1>switchyard report</h1>",
             f'<p class="summary">{e(summary_line(res, evaluated))}</p>']
    shown = {m.chart.name: m for m in rendered.made}
    if isinstance(evaluated, str):
        parts.append(f'<h2>{e(LEAD_HEADING)}</h2><p class="note">{e(evaluated)}</p>')
    elif evaluated:
        parts.append(html_lead(evaluated, lambda c: f"#chart-{c}" if c in shown else None))
    parts += _problem_parts_html(res, rendered)
    heads = headline_names(shown)
    if heads:
        parts.append('<h2>Headline charts</h2><div class="headlines">')
        parts += [_figure(shown[n]) for n in heads] + ["</div>"]
    parts += ['<h2 id="run">This run</h2>', _html_table(["", ""], header(res), "header")]

    def chart_parts(workload):
        made, skipped = _charts_for(rendered, workload)
        return [_figure(m) if m.chart.name not in heads else
                f'<p class="note">Chart: <a href="#chart-{e(m.chart.name)}">'
                f'{e(m.chart.what)}</a> (under Headline charts)</p>' for m in made] + \
            [f'<p class="note">Chart {e(c.name)} skipped: {e(why)}</p>' for c, why in skipped]

    across = chart_parts(plot.ANY_WORKLOAD)
    if across:
        parts += [f"<h2>{e(ACROSS_HEADING)}</h2>"] + across
    for t in tabs:
        parts.append(f"<h2>{e(t.heading)}</h2>")
        parts += chart_parts(t.workload)
        parts.append(f'<p class="note">{e(t.note)}</p>')
        parts.append(_html_table(t.columns, t.rows))
    if not tabs:
        parts.append("<p>No successful benchmark results to tabulate.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ---- files and commands --------------------------------------------------------------

def produce(res: Results, out_dir: Path, with_report=True):
    """Charts (and the two reports) into out_dir. Returns (Rendered, [report files])."""
    out_dir = Path(out_dir)
    rendered = plot.render_all(res, out_dir)
    if not with_report:
        return rendered, []
    tabs = tables(res)
    files = [out_dir / "report.md", out_dir / "report.html"]
    try:
        evaluated = evaluated_claims(res, out_dir)
        atomic_write_text(files[0], markdown(res, rendered, tabs, out_dir, evaluated))
        atomic_write_text(files[1], to_html(res, rendered, tabs, evaluated))
    except OSError as e:
        raise InputError(f"{out_dir}: cannot write the report ({e.strerror})") from None
    return rendered, files


def command(kind: str, source, out=None, *, log=sys.stdout) -> int:
    """`switchyard plot|report RESULTS [--out DIR]`: what was made, what was skipped."""
    res = tidy.load(source)
    out_dir = Path(out) if out else res.home
    rendered, files = produce(res, out_dir, with_report=(kind == "report"))
    print(f"switchyard {kind}: {len(rendered.made)} chart(s) in {out_dir / 'charts'}", file=log)
    for line in rendered.skip_lines():
        print(f"  {line}", file=log)
    for f in files:
        print(f"switchyard {kind}: wrote {f}", file=log)
    return 0
