"""`switchyard publish RESULTS_DIR`: a run as a committed reference run.

Writes docs/results/<date>-<machine id>/ -- small enough to commit (at most
MAX_BYTES, checked; nothing is written when it is over):

    reference.json   where and when: the fingerprint with the calibrate
                     step's machine facts, the run's dates and tier, file sizes
    claims.md/.json  the claims, evaluated afresh from the numbers
    report.md        the report (answers first), charts linked as SVG
    charts/*.svg     every chart, text kept as text (svg.fonttype none) and
                     coordinates to 0.01 pt: a third of matplotlib's default
    data/*.json.gz   the bench JSON and run.json as the run wrote them,
                     gzip'd (no logs): enough to recompute every figure

and regenerates the README block between REFERENCE_START and REFERENCE_END:
the newest reference run's claims (claim, verdict, one line of evidence, the
machine named) and its headline charts. Drawing the charts takes a while on a
busy machine, so it reports progress with an estimate of the time left.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import matplotlib

from . import claims, matrix, plot, report, tidy
from .claimbase import Figure, tally
from .fingerprint import machine_id, short
from .refrun import REFERENCE_FILE, REFERENCE_SCHEMA, read_reference
from .reportlead import deciding, fmt_facts, headline_names
from .results import InputError, atomic_write_text, result_files

REPO = Path(__file__).resolve().parents[2]
DOCS_RESULTS = REPO / "docs" / "results"
README = REPO / "README.md"
MAX_BYTES = 2 * 1024 * 1024          # one reference run, committed: keep the clone small
REFERENCE_START = "<!-- reference-run:start"
REFERENCE_END = "<!-- reference-run:end -->"
# SVG attributes whose numbers are coordinates in pt (never transforms: a
# scale(0.015625) rounded would be a different drawing).
_COORDS = re.compile(r'\b(d|x|y|x1|y1|x2|y2|width|height)="([^"]*)"')
_LONG_NUMBER = re.compile(r"-?\d+\.\d{3,}")


# ---- pure parts ----------------------------------------------------------------------

def minify_svg(text: str) -> str:
    """Coordinates to 0.01 pt and no indentation: the same drawing, smaller."""
    def short_num(m):
        s = f"{float(m.group()):.2f}".rstrip("0").rstrip(".")
        return "0" if s in ("-0", "") else s
    text = _COORDS.sub(lambda m: f'{m.group(1)}="{_LONG_NUMBER.sub(short_num, m.group(2))}"',
                       text)
    return re.sub(r"\n[ \t]+", "\n", text)


def machine_of(res) -> str:
    fp = res.fingerprint or {}
    return fp.get("machine_id") or machine_id(fp)


def run_name(res) -> str:
    """<date>-<machine id>, e.g. 2026-12-03-m-1a2b3c4d."""
    started = (res.run or {}).get("started") or res.date or ""
    if not re.match(r"\d{4}-\d\d-\d\d", started):
        raise InputError(f"{res.source}: no start date in run.json or the JSON context")
    return f"{started[:10]}-{machine_of(res)}"


def check_publishable(res, evaluated) -> None:
    if not res.fingerprint:
        raise InputError(f"{res.source}: no machine fingerprint in the JSON context "
                         "(not a switchyard run)")
    if all(e.verdict == "not measured" for e in evaluated):
        raise InputError(f"{res.source}: no claim could be evaluated (all {len(evaluated)} "
                         "not measured): nothing to publish")


def over_budget(sizes: dict[str, int], limit: int | None = None) -> str | None:
    """None when the files fit, else the one line that says by how much."""
    total, limit = sum(sizes.values()), limit or MAX_BYTES
    if total <= limit:
        return None
    big = sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
    return (f"{total / 1048576:.2f} MB, over the {limit / 1048576:g} MB limit of a reference "
            "run (largest: " + ", ".join(f"{n} {s // 1024} KB" for n, s in big) + ")")


def _figure(d: dict) -> Figure:
    return Figure(d.get("what", ""), d.get("value", float("nan")), d.get("unit", ""),
                  d.get("passed"), d.get("lo", float("nan")), d.get("hi", float("nan")),
                  bool(d.get("close")))


def evidence(c: dict) -> str:
    """One line for the README: the figure that decides the claim's verdict."""
    if c.get("verdict") == "not measured":
        return f"not measured: {c.get('reason', '')}"
    f = deciding(c.get("verdict", ""), [_figure(d) for d in c.get("figures") or []])
    return f.text if f else "—"


def _md(text) -> str:
    return str(text).replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def readme_block(view, rel: str, runs: int = 1) -> str:
    """The README's reference-run block for one reference directory (`rel`:
    its path from the README); `runs`: how many reference runs the matrix
    beside it (claims-matrix.md in its parent) holds."""
    fp = view.fingerprint
    facts = fp.get("facts") if isinstance(fp.get("facts"), dict) else None
    lines = [f"{REFERENCE_START} -- written by `scripts/switchyard publish`; edits here are "
             "overwritten -->",
             f"**Reference run** {view.date} on `{view.machine}` ({_md(short(fp))}), "
             f"tier {view.tier}: [claims]({rel}/claims.md) · [report]({rel}/report.md) · "
             f"[numbers]({rel}/data/)" + (f"  \nMachine facts: {_md(fmt_facts(facts))}."
                                          if facts else ""),
             "", "| # | claim | verdict | evidence |", "|---|---|---|---|"]
    for c in view.claims:
        lines.append(f"| {c.get('id')} | {_md(c.get('title', ''))} | "
                     f"**{_md(c.get('verdict_text', c.get('verdict', '')))}** | "
                     f"{_md(evidence(c))} |")
    parent = rel.rsplit("/", 1)[0] if "/" in rel else "."
    lines += ["", f"Verdicts across the committed reference runs, one column per machine and "
                  f"date ({runs} so far; `scripts/switchyard claims DIR1 DIR2 ...` draws it for "
                  f"any runs): [claims-matrix]({parent}/{matrix.BASENAME}.md)."]
    charts = headline_names(p.stem for p in sorted((view.home / "charts").glob("*.svg")))
    if charts:
        lines += [""] + [f'<img src="{rel}/charts/{n}.svg" alt="{n} chart" width="49%">'
                         for n in charts]
    return "\n".join(lines + [REFERENCE_END])


def splice_readme(text: str, block: str) -> str:
    """Replace the block between the markers; without markers, insert it
    before the README's first second-level heading (near the top)."""
    start, end = text.find(REFERENCE_START), text.find(REFERENCE_END)
    if start >= 0 and end > start:
        return text[:start] + block + text[end + len(REFERENCE_END):]
    at = text.find("\n## ")
    at = len(text) if at < 0 else at + 1
    return text[:at] + block + "\n\n" + text[at:]


def references(docs: Path) -> list:
    """Every committed reference run under `docs`, oldest first."""
    views = [read_reference(p.parent) for p in Path(docs).glob(f"*/{REFERENCE_FILE}")]
    return sorted(views, key=lambda v: (v.started, v.home.name))


def newest_reference(docs: Path):
    views = references(docs)
    return views[-1] if views else None


# ---- files ---------------------------------------------------------------------------

def draw_svgs(res, charts_dir: Path, log) -> plot.Rendered:
    """Every chart as SVG only, text as text; progress with the time left."""
    charts_dir.mkdir(parents=True)
    made, skipped, absent = [], [], []
    todo = [c for c in plot.CHARTS if res.attempted(c.workload) or c.workload == plot.ANY_WORKLOAD]
    absent = [c for c in plot.CHARTS if c not in todo]
    t0 = time.monotonic()
    import matplotlib.pyplot as plt
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": plot.SVG_HASHSALT}):
        for i, c in enumerate(todo):
            if i:
                left = (time.monotonic() - t0) / i * (len(todo) - i)
                print(f"switchyard publish: chart {i + 1}/{len(todo)} ({c.name}), "
                      f"about {left:.0f} s left", file=log, flush=True)
            try:
                fig = c.draw(res)
            except Exception as e:  # noqa: BLE001 -- one broken chart must not lose the others
                fig = f"drawing failed: {type(e).__name__}: {e}"
            if fig is None or isinstance(fig, str):
                skipped.append((c, fig or res.why_missing(c.workload)))
                continue
            svg = charts_dir / f"{c.name}.svg"
            fig.savefig(svg, metadata={"Date": None})
            plt.close(fig)
            svg.write_text(minify_svg(svg.read_text()))
            made.append(plot.Made(c, svg, svg))
    return plot.Rendered(made, skipped, absent, [])


def _gzip(src: Path, dst: Path) -> None:
    with open(src, "rb") as f, open(dst, "wb") as raw:
        with gzip.GzipFile(filename=src.name, mode="wb", fileobj=raw, mtime=0) as z:
            shutil.copyfileobj(f, z)


def write_reference(res, evaluated, stage: Path, log) -> dict[str, int]:
    rendered = draw_svgs(res, stage / "charts", log)
    svg = lambda n: f"charts/{n}.svg" if (stage / "charts" / f"{n}.svg").is_file() else None
    atomic_write_text(stage / "claims.md", claims.markdown(res, evaluated, svg))
    doc = {"switchyard_claims": 2, "results": str(res.source), "date": res.date,
           "thresholds": str(claims.THRESHOLDS_FILE.relative_to(REPO)),
           "claims": [e.to_json() for e in evaluated]}
    atomic_write_text(stage / "claims.json", json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    atomic_write_text(stage / "report.md",
                      report.markdown(res, rendered, report.tables(res), stage, evaluated))
    (stage / "data").mkdir()
    home = Path(res.home)
    for f in result_files(home) + ([home / "run.json"] if (home / "run.json").is_file() else []):
        _gzip(f, stage / "data" / f"{f.name}.gz")
    sizes = {p.relative_to(stage).as_posix(): p.stat().st_size
             for p in sorted(stage.rglob("*")) if p.is_file()}
    run = res.run or {}
    ref = {"switchyard_reference": REFERENCE_SCHEMA, "source": str(res.source),
           "started": run.get("started") or res.date, "finished": run.get("finished"),
           "tier": run.get("tier"), "machine_id": machine_of(res),
           "fingerprint": res.fingerprint, "claims": tally(evaluated), "files": sizes}
    atomic_write_text(stage / REFERENCE_FILE, json.dumps(ref, indent=1) + "\n")
    sizes[REFERENCE_FILE] = (stage / REFERENCE_FILE).stat().st_size
    return sizes


def publish(source, docs: Path = DOCS_RESULTS, readme: Path = README, *,
            log=sys.stderr) -> Path:
    """The reference directory written (InputError when the input is bad or
    the run would be over MAX_BYTES)."""
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such directory")
    if not path.is_dir():
        raise InputError(f"{path}: not a results directory (publish takes a directory)")
    if not Path(readme).is_file():
        raise InputError(f"{readme}: no such file (the README that shows the reference run)")
    res = tidy.load(path)
    evaluated = claims.evaluate(res, claims.load_thresholds())
    check_publishable(res, evaluated)
    name = run_name(res)
    docs = Path(docs)
    dest, stage = docs / name, docs / f".{name}.staging"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        sizes = write_reference(res, evaluated, stage, log)
        if (why := over_budget(sizes)):
            raise InputError(f"{name}: {why}; nothing published")
        old = docs / f".{name}.old"
        if dest.exists():
            dest.rename(old)
        stage.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print(f"switchyard publish: wrote {dest} ({len(sizes)} files, "
          f"{sum(sizes.values()) // 1024} KB of {MAX_BYTES // 1024} KB)", file=log)
    views = references(docs)
    written = matrix.write(views, docs)
    print(f"switchyard publish: claims matrix of {len(views)} reference run(s): "
          + ", ".join(str(f) for f in written), file=log)
    newest = views[-1]
    rel = Path(os.path.relpath(newest.home.resolve(), readme.resolve().parent))
    try:
        text = readme.read_text()
        atomic_write_text(readme, splice_readme(text, readme_block(newest, rel.as_posix(),
                                                                   len(views))))
    except OSError as e:
        raise InputError(f"{readme}: cannot update the reference run block ({e.strerror})") \
            from None
    print(f"switchyard publish: {readme.name}: reference run block shows {newest.home.name}",
          file=log)
    return dest


def command(source, docs=None, readme=None, *, log=sys.stderr) -> int:
    """`switchyard publish RESULTS_DIR [--docs DIR] [--readme FILE]`."""
    publish(source, docs or DOCS_RESULTS, readme or README, log=log)
    return 0
