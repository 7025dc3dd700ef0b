"""Rendering the evaluated claims: claims.md, the report's section (Markdown
and HTML), the terminal table."""
from __future__ import annotations

import html
from typing import Callable

from .claimbase import (MAX_MD_FIGURES, TERMINAL_FIGURES, TERMINAL_WIDTH, Evaluated, Figure,
                        counts, either, tally)
from .tidy import Results

# ---- rendering -----------------------------------------------------------------------

VOCABULARY = ("Verdicts: **holds** (every case meets the threshold), **holds only when "
              "<condition>** (some do; the condition says which), **mixed** (some do and "
              "no parameter separates them), **refuted** (none do), **too close to call** "
              "(no case is decided); (k/n pass) counts the cases that pass. A figure's "
              "[interval] is the order-statistic interval of its median over rounds of bench "
              "processes (each round's processes ran at about the same time, so a ratio is "
              "taken within a round); a case is decided only when the interval lies on one "
              "side of its threshold, else it is too close to call (≈) and the verdict reads "
              "the decided cases. A claim made of several claims gets a verdict per part; "
              "**not measured** (the rows the check needs are missing; the command that "
              "measures them is given). Computed only from the numbers of these results "
              "and the thresholds in `scripts/sylib/claims.toml`.")


def _md(text) -> str:
    """Plain text for markdown: '<loop model>' must not read as an HTML tag."""
    return str(text).replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def _cell(text) -> str:
    return _md(text).replace("|", "\\|")


def figure_lines(e: Evaluated, limit=None) -> list[str]:
    if e.verdict == "not measured":
        return [f"not measured: {e.reason}", f"measure with: `{e.command}`"]
    lines = [f"part {p.text}" for p in e.parts] + [f.text for f in e.figures]
    if limit and len(lines) > limit:
        lines = lines[:limit] + [f"… and {len(lines) - limit} more in claims.json"]
    return lines


def chart_links(e: Evaluated, chart_file: Callable) -> list[tuple[str, str]]:
    """[(name, link)] for the claim's charts that exist (chart_file: name -> link|None)."""
    return [(c, link) for c in e.charts if (link := chart_file(c))]


def no_chart(e: Evaluated) -> str:
    return f"no chart; see the {either(e.tables)} table" if e.tables else "no chart"


def md_table(evaluated: list[Evaluated], chart_file: Callable) -> list[str]:
    lines = ["| # | claim | check | measured | verdict | chart |", "|---|---|---|---|---|---|"]
    for e in evaluated:
        links = chart_links(e, chart_file)
        chart = ", ".join(f"[{c}]({link})" for c, link in links) or no_chart(e)
        figures = "<br>".join(_cell(x) for x in figure_lines(e, MAX_MD_FIGURES))
        lines.append(f"| {e.id} | {_cell(e.claim)} | {_cell(e.check)} | {figures} | "
                     f"**{_cell(e.verdict)}**{' ' + _cell(e.condition) if e.condition else ''}"
                     f"{f' ({counts(e.passed, e.total, e.close)})' if e.total else ''} | {chart} |")
    return lines


def markdown(res: Results, evaluated: list[Evaluated], chart_file: Callable) -> str:
    lines = ["# switchyard claims", "",
             f"Results: {res.source} · {res.date or 'date unknown'} · "
             f"{tally(evaluated)}.", "", _md(VOCABULARY), ""]
    lines += md_table(evaluated, chart_file) + ["", "## What each check reads", ""]
    lines += [f"{e.id}. {_md(e.reads)}" for e in evaluated]
    return "\n".join(lines) + "\n"


def md_section(evaluated: list[Evaluated], chart_file: Callable) -> str:
    """The claims section of report.md."""
    lines = ["## What the numbers say (claims)", "",
             f"{tally(evaluated)}; details in [claims.md](claims.md). {_md(VOCABULARY)}", ""]
    return "\n".join(lines + md_table(evaluated, chart_file)) + "\n"


def html_section(evaluated: list[Evaluated], chart_anchor: Callable) -> str:
    """The claims section of report.html (chart links point at its inline figures)."""
    e_ = html.escape
    rows = []
    for e in evaluated:
        links = chart_links(e, chart_anchor)
        chart = ", ".join(f'<a href="{e_(link)}">{e_(c)}</a>' for c, link in links) or \
            e_(no_chart(e))
        figures = "<br>".join(e_(x) for x in figure_lines(e))
        verdict = f"<strong>{e_(e.verdict)}</strong>" + (f" {e_(e.condition)}" if e.condition
                                                         else "") + \
            (f" ({counts(e.passed, e.total, e.close)})" if e.total else "")
        rows.append(f"<tr><td>{e.id}</td><td class=\"text\">{e_(e.claim)}</td>"
                    f"<td class=\"text\">{e_(e.check)}</td><td class=\"text\">{figures}</td>"
                    f"<td class=\"text\">{verdict}</td><td class=\"text\">{chart}</td></tr>")
    vocab = e_(VOCABULARY.replace("**", ""))
    return ("<h2 id=\"claims\">What the numbers say (claims)</h2>"
            f"<p class=\"note\">{e_(tally(evaluated))}. {vocab}</p>"
            "<table><thead><tr><th>#</th><th>claim</th><th>check</th><th>measured</th>"
            "<th>verdict</th><th>chart</th></tr></thead><tbody>" + "".join(rows) +
            "</tbody></table>\n")


def headline(figures: list[Figure]) -> list[Figure]:
    """The first failing and the first passing case, else the first figures."""
    picks = [f for want in (False, True)
             for f in [next((f for f in figures if f.passed is want), None)] if f]
    return picks or figures[:TERMINAL_FIGURES]


def terminal(evaluated: list[Evaluated]) -> str:
    """The table `switchyard claims` prints: #, claim, verdict, key figures."""
    table = [("#", "claim", "verdict", "measured")]
    for e in evaluated:
        if e.verdict == "not measured":
            measured = f"{e.reason}; run: {e.command}"
        else:
            measured = " · ".join(f.text for f in headline(e.figures))
        table.append((str(e.id), e.title, e.verdict_text, measured))
    widths = [min(max(len(r[i]) for r in table), TERMINAL_WIDTH) for i in range(3)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[3]
                     for r in table) + "\n"


