"""Benchmark history across runs and gates, per machine, with alerts.

`switchyard run` and `switchyard gate` append one line per benchmark to
results/history/<machine id>.jsonl (append-only JSON lines: a torn last line
after a crash costs one entry, never the file). The machine id hashes what
stays put on one machine (CPU model, cores, architecture: sylib.fingerprint);
the kernel, compiler and full fingerprint are recorded per point, so a kernel
upgrade does not start a new history but can be seen on it.

`switchyard history` reads it back: one series per (benchmark, tier) over the
points of main's code (`run`, and the base side of `gate`; --origin all adds
gate candidates), change points from sylib.changepoint with the false-alarm
rate controlled over every series analysed, one self-contained dashboard
(`index.html`: a small chart per benchmark, change points marked,
regressions first) and `--json` for machines. `--check` exits 1 when a
slowdown beyond the floor starts within the last K points of a series.
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
from .compare import WORK_COUNTERS, load_side, rel_spread
from .results import collect
from .fingerprint import machine_id
from .results import InputError, atomic_write_text
from .verdicts import fmt_value

HISTORY_DIR = REPO / "results" / "history"
LINE_VERSION = 2
MIN_POINTS_FOR_CHANGE = 2 * changepoint.DEFAULT_MIN_SIZE
DEFAULT_LAST = 5                     # --check: a slowdown starting this recently alerts
MAIN_ORIGINS = ("run", "gate:base")  # main's code: what a trend is about


# ---- writing ------------------------------------------------------------------------

def points(datasets, *, fp: dict, when: str, tier, origin: str, run: str) -> list[dict]:
    """One history line per benchmark of a side's GB JSON datasets."""
    lines = []
    for name, side in collect(datasets).items():
        status = ("failed" if side.errors else "skipped" if side.skips else
                  "ok" if side.samples else "no data")
        line = {"v": LINE_VERSION, "time": when, "run": run, "origin": origin,
                "commit": fp.get("git_commit"), "dirty": fp.get("git_dirty"),
                "kernel": fp.get("kernel"), "compiler": fp.get("compiler"),
                "fingerprint_id": fp.get("fingerprint_id"), "tier": tier, "name": name,
                "status": status}
        if side.samples:
            per_proc = list(side.per_process().values())
            line.update(median_ns=float(np.median(per_proc)), n=len(side.samples),
                        processes=len(per_proc), spread=round(rel_spread(per_proc), 5))
            line["work"] = {k: float(np.median(v)) for k, v in side.counters.items()
                            if k in WORK_COUNTERS}
        if status != "ok":
            line["reason"] = (side.errors or side.skips or ["no real_time"])[0]
        lines.append(line)
    return lines


def _fingerprint(datasets, manifest: dict | None = None) -> dict:
    return (manifest or {}).get("fingerprint") or next(
        (d.get("context", {}).get("fingerprint") for _, d in datasets
         if d.get("context", {}).get("fingerprint")), None) or {}


def summary_lines(run_dir: Path) -> tuple[str, list[dict]]:
    """(machine id, one line per benchmark) for a results directory."""
    run_dir = Path(run_dir)
    datasets = load_side(run_dir)
    try:
        manifest = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    fp = _fingerprint(datasets, manifest)
    when = manifest.get("started") or _now()
    tier = manifest.get("tier") or next(
        (d.get("context", {}).get("switchyard", {}).get("tier") for _, d in datasets), None)
    return machine_id(fp), points(datasets, fp=fp, when=when, tier=tier, origin="run",
                                  run=run_dir.name)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def append_lines(machine: str, lines: list[dict], history_dir: Path) -> Path:
    history_dir.mkdir(parents=True, exist_ok=True)
    path = history_dir / f"{machine}.jsonl"
    with open(path, "a") as f:
        f.write("".join(json.dumps(l, sort_keys=True) + "\n" for l in lines))
    return path


def append(run_dir: Path, history_dir: Path = HISTORY_DIR) -> Path:
    """Append a run's summary to <history_dir>/<machine id>.jsonl."""
    machine, lines = summary_lines(run_dir)
    return append_lines(machine, lines, history_dir)


def after_run(run_dir: Path, *, log=sys.stderr) -> None:
    """The `run` hook: append to history/ beside the run directory (for the
    default results/<run>/ that is results/history/). Never fails the run."""
    try:
        path = append(run_dir, Path(run_dir).resolve().parent / "history")
        print(f"switchyard: history appended to {path}", file=log)
    except Exception as e:  # noqa: BLE001 -- history must never cost the run its results
        print(f"switchyard: history not updated: {e}", file=log)


def gate_lines(out_dir: Path) -> tuple[str, list[dict]]:
    """History lines of a timing gate's output (base and cand sides)."""
    report = json.loads((Path(out_dir) / "report.json").read_text())
    gate = report.get("gate", {})
    if gate.get("mode") != "timing":
        return "", []
    machine, lines, when = "", [], _now()
    for side in ("base", "cand"):
        datasets = load_side(Path(out_dir) / side)
        fp = _fingerprint(datasets)
        machine = machine_id(fp)
        lines += points(datasets, fp=fp, when=when, tier=gate.get("tier"),
                        origin=f"gate:{side}", run=f"gate-{when}")
    return machine, lines


def after_gate(out_dir: Path, *, log=sys.stderr, history_dir: Path = HISTORY_DIR) -> None:
    """The `gate` hook (timing mode): never fails the gate."""
    try:
        machine, lines = gate_lines(out_dir)
        if lines:
            print(f"switchyard gate: history appended to "
                  f"{append_lines(machine, lines, history_dir)}", file=log)
    except Exception as e:  # noqa: BLE001
        print(f"switchyard gate: history not updated: {e}", file=log)


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
        key = (line.get("run"), line.get("time"), line.get("origin"), line["name"])
        if key in seen:          # the same run appended twice
            continue
        seen.add(key)
        out.append(line)
    return out


def pick_file(history_dir: Path, machine: str | None) -> Path:
    if machine:
        path = history_dir / f"{machine}.jsonl"
        if not path.exists():
            known = sorted(p.stem for p in history_dir.glob("*.jsonl"))
            raise InputError(f"no history for machine {machine} in {history_dir}"
                             + (f" (known: {', '.join(known)})" if known else ""))
        return path
    files = sorted(history_dir.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise InputError(f"no history yet in {history_dir}: every `switchyard run` and "
                         "`switchyard gate` appends to it")
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

    def alerts(self, last: int, floor: float) -> list:
        """Slowdowns beyond `floor` whose new level starts in the last `last` points."""
        n = len(self.points)
        return [c for c in self.changes if c.index >= n - last and c.shift > floor]


def analyse(lines: list[dict], *, filter: str | None = None, tier: str | None = None,
            origins=MAIN_ORIGINS, min_shift: float = changepoint.DEFAULT_MIN_SHIFT,
            alpha: float = changepoint.DEFAULT_ALPHA) -> list[Series]:
    """One Series per (benchmark, tier) with its change points; the false-alarm
    rate `alpha` holds over all series together."""
    rx = re.compile(filter) if filter else None
    by_key: dict[tuple, Series] = {}
    for l in lines:
        if l.get("status") != "ok" or not l.get("median_ns"):
            continue
        if rx and not rx.search(l["name"]):
            continue
        if tier and l.get("tier") != tier:
            continue
        if origins and l.get("origin", "run") not in origins:
            continue
        key = (l["name"], l.get("tier"))
        by_key.setdefault(key, Series(*key)).points.append(l)
    series = list(by_key.values())
    for s in series:
        s.points.sort(key=lambda p: p.get("time") or "")
        if len(s.points) >= MIN_POINTS_FOR_CHANGE:
            s.changes = changepoint.find(s.values, min_shift=min_shift, alpha=alpha,
                                         series_count=len(series))
    return series


def point_label(p: dict) -> str:
    commit = (p.get("commit") or "?")[:7] + ("+" if p.get("dirty") else "")
    return f"{(p.get('time') or '?')[:10]} {commit}"


def format_summary(series: list[Series], last: int, floor: float) -> str:
    lines = []
    for s in sorted(series, key=lambda s: (not s.alerts(last, floor), not s.changes, s.label)):
        head = f"{s.label}: {len(s.points)} points, latest {fmt_value(s.values[-1], 'ns')}"
        if len(s.points) < MIN_POINTS_FOR_CHANGE:
            lines.append(f"{head}; too few points for change points "
                         f"(need {MIN_POINTS_FOR_CHANGE})")
            continue
        if not s.changes:
            lines.append(f"{head}; no change point")
            continue
        marks = ", ".join(f"point {c.index + 1} ({point_label(s.points[c.index])}): "
                          f"{c.shift * 100:+.1f}% (p={c.p:.2g})" for c in s.changes)
        alert = "ALERT: recent slowdown; " if s.alerts(last, floor) else ""
        lines.append(f"{head}; {alert}change points: {marks}")
    return "\n".join(lines) + ("\n" if lines else "")


def to_json(series: list[Series], machine: str, last: int, floor: float) -> dict:
    return {"switchyard_history": 2, "machine": machine, "last": last, "floor": floor,
            "series": [{"name": s.name, "tier": s.tier, "points": len(s.points),
                        "latest_ns": float(s.values[-1]),
                        "alert": bool(s.alerts(last, floor)),
                        "changes": [{"index": c.index, "shift": c.shift, "p": c.p,
                                     "before_ns": c.before, "after_ns": c.after,
                                     "commit": s.points[c.index].get("commit"),
                                     "time": s.points[c.index].get("time")}
                                    for c in s.changes]} for s in series]}


def execute(*, machine: str | None = None, filter: str | None = None,
            tier: str | None = None, out: Path | None = None,
            history_dir: Path = HISTORY_DIR, min_shift: float = changepoint.DEFAULT_MIN_SHIFT,
            check: bool = False, last: int = DEFAULT_LAST, all_origins: bool = False,
            fmt: str = "text", log=sys.stdout) -> int:
    if filter:
        try:
            re.compile(filter)
        except re.error as e:
            raise InputError(f"--filter: not a valid regular expression: {e}") from None
    path = pick_file(history_dir, machine)
    series = analyse(read_lines(path), filter=filter, tier=tier, min_shift=min_shift,
                     origins=None if all_origins else MAIN_ORIGINS)
    if not series:
        raise InputError(f"{path}: no benchmark with timings matches the selection")
    out = out or history_dir / "dashboard" / path.stem
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out {out}: not writable ({e.strerror})") from None
    from . import dashboard
    atomic_write_text(out / "index.html", dashboard.page(series, path.stem, last, min_shift))
    alerts = [s for s in series if s.alerts(last, min_shift)]
    if fmt == "json":
        log.write(json.dumps(to_json(series, path.stem, last, min_shift), indent=2) + "\n")
    else:
        log.write(f"history {path} (machine {path.stem}): {len(series)} series, "
                  f"dashboard {out / 'index.html'}\n")
        log.write(format_summary(series, last, min_shift))
        if check:
            log.write(f"history --check: {len(alerts)} series with a slowdown of more than "
                      f"{min_shift * 100:g}% starting in the last {last} points\n")
    return 1 if check and alerts else 0
