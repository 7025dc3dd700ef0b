"""Benchmark history across runs, per machine.

`switchyard run` appends one summary line per benchmark to
results/history/<fingerprint id>.jsonl (append-only JSON lines: a torn last
line after a crash costs one entry, never the file). `switchyard history`
reads it back, draws one trend chart per benchmark (and tier: quick and full
sizes are different series) and marks change points found by
sylib.changepoint, so a slow drift or a step that no single gate run caught
still shows up. Lines are per machine because absolute times only compare on
one machine.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import changepoint
from .build import REPO
from .compare import WORK_COUNTERS, collect, fmt_value, load_side, rel_spread
from .results import InputError

HISTORY_DIR = REPO / "results" / "history"
LINE_VERSION = 1
MIN_POINTS_FOR_CHANGE = 2 * changepoint.DEFAULT_MIN_SIZE


# ---- writing ------------------------------------------------------------------------

def summary_lines(run_dir: Path) -> tuple[str, list[dict]]:
    """(fingerprint id, one line per benchmark) for a results directory."""
    run_dir = Path(run_dir)
    datasets = load_side(run_dir)
    try:
        manifest = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    fp = manifest.get("fingerprint") or next(
        (d.get("context", {}).get("fingerprint") for _, d in datasets
         if d.get("context", {}).get("fingerprint")), None) or {}
    when = manifest.get("started") or dt.datetime.now(dt.timezone.utc).isoformat(
        timespec="seconds")
    tier = manifest.get("tier") or next(
        (d.get("context", {}).get("switchyard", {}).get("tier") for _, d in datasets), None)
    lines = []
    for name, side in collect(datasets).items():
        status = ("failed" if side.errors else "skipped" if side.skips else
                  "ok" if side.samples else "no data")
        line = {"v": LINE_VERSION, "time": when, "run": run_dir.name,
                "commit": fp.get("git_commit"), "dirty": fp.get("git_dirty"),
                "tier": tier, "name": name, "status": status}
        if side.samples:
            line.update(median_ns=float(np.median(side.samples)), n=len(side.samples),
                        spread=round(rel_spread(side.samples), 5))
            line["work"] = {k: float(np.median(v)) for k, v in side.counters.items()
                            if k in WORK_COUNTERS}
        if status != "ok":
            line["reason"] = (side.errors or side.skips or ["no real_time"])[0]
        lines.append(line)
    return fp.get("fingerprint_id") or "unknown", lines


def append(run_dir: Path, history_dir: Path = HISTORY_DIR) -> Path:
    """Append a run's summary to <history_dir>/<fingerprint id>.jsonl."""
    fp_id, lines = summary_lines(run_dir)
    history_dir.mkdir(parents=True, exist_ok=True)
    path = history_dir / f"{fp_id}.jsonl"
    with open(path, "a") as f:
        f.write("".join(json.dumps(l, sort_keys=True) + "\n" for l in lines))
    return path


def after_run(run_dir: Path, *, log=sys.stderr) -> None:
    """The `run` hook: append to history/ beside the run directory (for the
    default results/<run>/ that is results/history/). Never fails the run."""
    try:
        path = append(run_dir, Path(run_dir).resolve().parent / "history")
        print(f"switchyard: history appended to {path}", file=log)
    except Exception as e:  # noqa: BLE001 -- history must never cost the run its results
        print(f"switchyard: history not updated: {e}", file=log)


# ---- reading ------------------------------------------------------------------------

def read_lines(path: Path) -> list[dict]:
    """Lines of a history file; torn or foreign lines are skipped."""
    out, seen = [], set()
    for raw in Path(path).read_text().splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(line, dict) or "name" not in line:
            continue
        key = (line.get("run"), line.get("time"), line["name"])
        if key in seen:          # the same run appended twice
            continue
        seen.add(key)
        out.append(line)
    return out


def pick_file(history_dir: Path, fingerprint: str | None) -> Path:
    if fingerprint:
        path = history_dir / f"{fingerprint}.jsonl"
        if not path.exists():
            known = sorted(p.stem for p in history_dir.glob("*.jsonl"))
            raise InputError(f"no history for fingerprint {fingerprint} in {history_dir}"
                             + (f" (known: {', '.join(known)})" if known else ""))
        return path
    files = sorted(history_dir.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise InputError(f"no history yet in {history_dir}: every `switchyard run` appends to it")
    return files[-1]


@dataclass
class Series:
    name: str
    tier: str | None
    points: list = field(default_factory=list)       # history lines with a median
    changes: list = field(default_factory=list)      # changepoint.ChangePoint

    @property
    def label(self) -> str:
        return f"{self.name} [{self.tier}]" if self.tier else self.name

    @property
    def values(self) -> np.ndarray:
        return np.array([p["median_ns"] for p in self.points], dtype=float)


def analyse(lines: list[dict], *, filter: str | None = None, tier: str | None = None,
            min_shift: float = changepoint.DEFAULT_MIN_SHIFT) -> list[Series]:
    """One Series per (benchmark, tier) with its change points."""
    rx = re.compile(filter) if filter else None
    by_key: dict[tuple, Series] = {}
    for l in lines:
        if l.get("status") != "ok" or l.get("median_ns") is None:
            continue
        if rx and not rx.search(l["name"]):
            continue
        if tier and l.get("tier") != tier:
            continue
        key = (l["name"], l.get("tier"))
        by_key.setdefault(key, Series(*key)).points.append(l)
    for s in by_key.values():
        s.points.sort(key=lambda p: p.get("time") or "")
        if len(s.points) >= MIN_POINTS_FOR_CHANGE:
            s.changes = changepoint.find(s.values, min_shift=min_shift)
    return list(by_key.values())


def _point_label(p: dict) -> str:
    commit = (p.get("commit") or "?")[:7] + ("+" if p.get("dirty") else "")
    return f"{(p.get('time') or '?')[:10]} {commit}"


def format_summary(series: list[Series]) -> str:
    lines = []
    for s in series:
        last = s.values[-1]
        head = f"{s.label}: {len(s.points)} runs, latest {fmt_value(last, 'ns')}"
        if len(s.points) < MIN_POINTS_FOR_CHANGE:
            lines.append(f"{head}; too few runs for change points "
                         f"(need {MIN_POINTS_FOR_CHANGE})")
        elif not s.changes:
            lines.append(f"{head}; no change point")
        else:
            marks = ", ".join(f"run {c.index + 1} ({_point_label(s.points[c.index])}): "
                              f"{c.shift * 100:+.1f}% (p={c.p:.3f})" for c in s.changes)
            lines.append(f"{head}; change points: {marks}")
    return "\n".join(lines) + ("\n" if lines else "")


def chart_name(s: Series) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", s.name).strip("_")
    return f"{stem}{'-' + s.tier if s.tier else ''}.png"


def draw(s: Series, path: Path, fingerprint: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = s.values
    scale, unit = next(((f, u) for f, u in ((1e9, "s"), (1e6, "ms"), (1e3, "us"))
                        if np.median(y) >= f), (1.0, "ns"))
    x = np.arange(1, len(y) + 1)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.plot(x, y / scale, "o-", color="#4c72b0", lw=1, ms=4, label="median of repetitions")
    for lo, hi in changepoint.segments(len(y), s.changes):
        ax.hlines(np.median(y[lo:hi]) / scale, lo + 0.6, hi + 0.4, color="#999999",
                  lw=2, alpha=0.8)
    top = float(np.max(y)) / scale * 1.15
    ax.set_ylim(0, top)
    for c in s.changes:
        ax.axvline(c.index + 0.5, color="#c44e52", ls="--", lw=1)
        ax.annotate(f"{c.shift * 100:+.1f}%", (c.index + 0.6, top * 0.98),
                    va="top", color="#c44e52", fontsize=8)
    step = max(1, len(x) // 8)
    ax.set_xticks(x[::step])
    ax.set_xticklabels([_point_label(p) for p in s.points][::step], rotation=30,
                       ha="right", fontsize=7)
    ax.set_ylabel(f"real time per iteration ({unit})")
    ax.set_title(s.label, fontsize=10)
    fig.text(0.01, 0.01, f"machine {fingerprint}; dashed: change point "
             "(binary segmentation, permutation test)", fontsize=7, color="#666666")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def execute(*, fingerprint: str | None = None, filter: str | None = None,
            tier: str | None = None, out: Path | None = None,
            history_dir: Path = HISTORY_DIR, min_shift: float = changepoint.DEFAULT_MIN_SHIFT,
            log=sys.stdout) -> int:
    if filter:
        try:
            re.compile(filter)
        except re.error as e:
            raise InputError(f"--filter: not a valid regular expression: {e}") from None
    path = pick_file(history_dir, fingerprint)
    series = analyse(read_lines(path), filter=filter, tier=tier, min_shift=min_shift)
    if not series:
        raise InputError(f"{path}: no benchmark with timings matches the selection")
    out = out or history_dir / "charts" / path.stem
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out {out}: not writable ({e.strerror})") from None
    for s in series:
        draw(s, out / chart_name(s), path.stem)
    log.write(f"history {path} (machine {path.stem}): {len(series)} series, charts in {out}\n")
    log.write(format_summary(series))
    return 0
