"""`switchyard claims DIR1 DIR2 ...`: the claims of several machines side by side.

Each DIR is a results directory (its claims evaluated afresh) or a reference
directory written by `publish` (its claims.json). The matrix has one column
per run and, as rows, first the machine (fingerprint) and the calibrate
step's facts -- the numbers that explain why a verdict differs between
machines -- then every claim and every part of a claim made of several: the
verdict and the claim's key ratio (refrun.key_figure) in each cell.

Writes <out>/claims-matrix.md, claims-matrix.html and claims-matrix.svg (the
key ratios per machine, one bar per run, log scale; 1x drawn). `--out`
defaults to the current directory: the runs may live in different trees
(results/, docs/results/), and their own directories stay untouched.
"""
from __future__ import annotations

import html
import math
import sys
from pathlib import Path

from . import refrun
from .reportlead import FACTS, fact_text
from .results import InputError, atomic_write_text

BASENAME = "claims-matrix"


def labels(views) -> list[str]:
    """Column headings; runs of one machine on one day also get their directory's name."""
    plain = [v.label for v in views]
    return [f"{p} · {v.home.name}" if plain.count(p) > 1 else p for p, v in zip(plain, views)]


def header_rows(views) -> list[tuple[str, list[str]]]:
    fps = [v.fingerprint or {} for v in views]
    rows = [("machine id", [v.machine for v in views]),
            ("CPU", [f"{fp.get('cpu_model', '?')}, {fp.get('cores_online', '?')} cores"
                     for fp in fps]),
            ("kernel, virtualization", [f"{fp.get('kernel', '?')}, {fp.get('virtualization', '?')}"
                                        for fp in fps]),
            ("compiler", [str(fp.get("compiler") or "?") for fp in fps]),
            ("run", [f"{v.date}, tier {v.tier} ({v.kind})" for v in views])]
    for key, what, unit in FACTS:
        rows.append((what, [fact_text(fp["facts"], key, unit)
                            if isinstance(fp.get("facts"), dict) else "—" for fp in fps]))
    return rows


def same_case(claim: dict | None, what: str | None) -> dict | None:
    """The claim's figure for the case `what` (so every machine shows the
    same comparison), else its own key figure."""
    if claim is None:
        return None
    mine = [f for f in claim.get("figures") or [] if f.get("what") == what]
    return mine[0] if mine else refrun.key_figure(claim)


def cell(claim: dict | None, what: str | None = None) -> str:
    if claim is None:
        return "—"
    f = same_case(claim, what)
    key = f" · {f['text']}" if f else ""
    return f"{claim.get('verdict_text') or claim.get('verdict')}{key}"


def key_cases(by_run: list[dict]) -> dict:
    """claim id -> the case that stands for it: the first run's key figure."""
    out = {}
    for d in by_run:
        for i, c in d.items():
            if i not in out and (f := refrun.key_figure(c)):
                out[i] = f.get("what")
    return out


def part_cell(claim: dict | None, name: str) -> str:
    part = next((p for p in (claim or {}).get("parts") or [] if p.get("name") == name), None)
    if part is None:
        return "—"
    cond = f" {part['condition']}" if part.get("condition") else ""
    k = f"{part['passed']}/{part['total']} pass" + \
        (f", {part['close']} too close to call" if part.get("close") else "")
    return f"{part['verdict']}{cond} ({k})"


def claim_rows(views) -> list[tuple[str, list[str]]]:
    """(row label, cells): each claim, then each of its parts, in claim order."""
    by_run = [{c["id"]: c for c in v.claims} for v in views]
    ids = sorted({i for d in by_run for i in d})
    keys = key_cases(by_run)
    rows = []
    for i in ids:
        first = next(d[i] for d in by_run if i in d)
        rows.append((f"{i}. {first.get('title', '')}", [cell(d.get(i), keys.get(i)) for d in by_run]))
        names = list(dict.fromkeys(p["name"] for d in by_run if i in d
                                   for p in d[i].get("parts") or []))
        rows += [(f"{i}. — {n}", [part_cell(d.get(i), n) for d in by_run]) for n in names]
    return rows


def key_ratios(views) -> list[tuple[str, list[float | None]]]:
    """(claim label, key ratio per run) for the claims whose key case is a ratio
    (the same case on every machine: key_cases)."""
    by_run = [{c["id"]: c for c in v.claims} for v in views]
    keys = key_cases(by_run)
    out = []
    for label, _ in claim_rows(views):
        if ". — " in label:
            continue
        cid = int(label.split(".")[0])
        vals = []
        for d in by_run:
            f = same_case(d.get(cid), keys.get(cid))
            ok = f and f.get("what") == keys.get(cid) and f.get("unit") == "x" and \
                isinstance(f.get("value"), (int, float)) and math.isfinite(f["value"]) and \
                f["value"] > 0
            vals.append(f["value"] if ok else None)
        if any(x is not None for x in vals):
            case = keys[cid] if len(keys[cid]) <= 55 else keys[cid][:54] + "…"
            out.append((f"{label}\n{case}", vals))
    return out


def _md(text) -> str:
    return str(text).replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def markdown(views, chart: str | None) -> str:
    heads = labels(views)
    lines = ["# switchyard claims across machines", "",
             "One column per run; first the machine and the calibrate step's facts, then "
             "each claim (and each part of a claim made of several): its verdict and key "
             "figure (a failing ratio when there is one). Sources: "
             + ", ".join(f"`{v.home}`" for v in views) + ".", "",
             "| | " + " | ".join(_md(h) for h in heads) + " |",
             "|---|" + "---|" * len(heads)]
    for label, cells in header_rows(views):
        lines.append(f"| *{_md(label)}* | " + " | ".join(_md(c) for c in cells) + " |")
    for label, cells in claim_rows(views):
        lines.append(f"| {_md(label)} | " + " | ".join(_md(c) for c in cells) + " |")
    if chart:
        lines += ["", f"![key ratio per claim and machine]({chart})"]
    return "\n".join(lines) + "\n"


CSS = """body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px;
padding: 0 1em; color: #222; } table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left;
vertical-align: top; } th { background: #f0f0f0; } tr.fact td { color: #555; }
img { max-width: 100%; }"""


def to_html(views, chart: str | None) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in labels(views))
    body = "".join(f'<tr class="fact"><td><em>{e(l)}</em></td>'
                   + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>"
                   for l, cells in header_rows(views))
    body += "".join(f"<tr><td>{e(l)}</td>" + "".join(f"<td>{e(c)}</td>" for c in cells)
                    + "</tr>" for l, cells in claim_rows(views))
    img = f'<img src="{e(chart)}" alt="key ratio per claim and machine">' if chart else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>switchyard claims across machines</title><style>{CSS}</style></head>"
            "<body><h1>switchyard claims across machines</h1>"
            f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"{img}</body></html>\n")


def draw(views, path: Path) -> bool:
    """Key ratio per claim, one bar per run (log x, 1x marked). False: nothing to draw."""
    data = key_ratios(views)
    if not data:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from .plotkit import SVG_HASHSALT
    n, k = len(data), len(views)
    fig, ax = plt.subplots(figsize=(10, 1.5 + 0.3 * n * k + 0.25 * k), layout="constrained")
    height = 0.8 / k
    for j, label in enumerate(labels(views)):
        ys = [i + (j - (k - 1) / 2) * height for i in range(n)]
        xs = [vals[j] for _, vals in data]
        ax.barh([y for y, x in zip(ys, xs) if x], [x for x in xs if x], height=height * 0.9,
                label=label)
    ax.set_yticks(range(n), [label for label, _ in data])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="#555", lw=0.8, ls=":")
    ax.set_xlabel("key ratio of the claim (×, log scale; 1× dotted)")
    ax.set_title("Claims: key ratio per machine (the same case on every machine)")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.06 - 0.3 / n))
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT, "svg.fonttype": "none"}):
        fig.savefig(path, metadata={"Date": None})
    plt.close(fig)
    return True


def write(views, out: Path) -> list[Path]:
    """claims-matrix.md, .html and (when there is a key ratio) .svg in `out`;
    the files written."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        chart = out / f"{BASENAME}.svg"
        drawn = draw(views, chart)
        name = chart.name if drawn else None
        files = [out / f"{BASENAME}.md", out / f"{BASENAME}.html"]
        atomic_write_text(files[0], markdown(views, name))
        atomic_write_text(files[1], to_html(views, name))
    except OSError as e:
        raise InputError(f"{out}: cannot write the claims matrix ({e.strerror})") from None
    return files + ([chart] if drawn else [])


def command(dirs, out: Path, *, log=sys.stdout) -> int:
    """`switchyard claims DIR1 DIR2 ... [--out DIR]`."""
    views = [refrun.load(d) for d in dirs]
    files = write(views, out)
    print(f"switchyard claims: {len(views)} runs, "
          f"{len(claim_rows(views))} claim rows", file=log)
    for f in files:
        print(f"switchyard claims: wrote {f}", file=log)
    return 0
