"""A run as `publish` and the claims matrix see it: where and when it ran and
what its claims say, from a results directory or a published reference
directory (docs/results/<date>-<machine id>/, written by sylib.publish).

A reference directory holds reference.json (the fingerprint with the
calibrate step's facts, the run's dates and tier) and claims.json; its raw
numbers are gzip'd under data/ and not read here. A results directory is read
through tidy (the one reader of Google Benchmark JSON) and its claims are
evaluated afresh, so thresholds edited since the run apply.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .fingerprint import machine_id
from .results import InputError

REFERENCE_FILE = "reference.json"
REFERENCE_SCHEMA = 1


@dataclass
class RunView:
    home: Path
    kind: str                      # "results" | "reference"
    fingerprint: dict
    started: str                   # ISO time the run started ("" unknown)
    tier: str
    claims: list = field(default_factory=list)   # claims.json "claims" entries (dicts)

    @property
    def machine(self) -> str:
        fp = self.fingerprint or {}
        return fp.get("machine_id") or (machine_id(fp) if fp else "m-unknown")

    @property
    def date(self) -> str:
        return self.started[:10] if self.started else "undated"

    @property
    def label(self) -> str:
        """Column heading: machine id, CPU, date."""
        cpu = (self.fingerprint or {}).get("cpu_model") or "?"
        return f"{self.machine} ({cpu}, {self.date})"


def is_reference(path: Path) -> bool:
    return (Path(path) / REFERENCE_FILE).is_file()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not readable JSON ({e})") from None


def read_reference(path: Path) -> RunView:
    path = Path(path)
    ref = _read_json(path / REFERENCE_FILE)
    if not isinstance(ref, dict) or ref.get("switchyard_reference") != REFERENCE_SCHEMA:
        raise InputError(f"{path / REFERENCE_FILE}: not a switchyard reference file "
                         f"(want switchyard_reference = {REFERENCE_SCHEMA})")
    claims_file = path / "claims.json"
    if not claims_file.is_file():
        raise InputError(f"{path}: reference directory without claims.json")
    doc = _read_json(claims_file)
    return RunView(path, "reference", ref.get("fingerprint") or {}, ref.get("started") or "",
                   ref.get("tier") or "?", list(doc.get("claims") or []))


def from_results(res, evaluated) -> RunView:
    """A loaded results directory (tidy.Results) and its evaluated claims."""
    run = res.run or {}
    return RunView(Path(res.home), "results", res.fingerprint or {},
                   run.get("started") or res.date or "", run.get("tier") or "?",
                   [e.to_json() for e in evaluated])


def load(path) -> RunView:
    """A reference directory, or a results directory whose claims are evaluated."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such directory")
    if not path.is_dir():
        raise InputError(f"{path}: not a directory (a results or reference directory)")
    if is_reference(path):
        return read_reference(path)
    from . import claims, tidy
    res = tidy.load(path)
    return from_results(res, claims.evaluate(res, claims.load_thresholds()))


def key_figure(claim: dict) -> dict | None:
    """The figure that stands for a claim in one cell: the first judged ratio
    (unit x) that fails, else the first judged ratio, else the first judged
    figure. Judged = passed is not None or too close to call."""
    figs = [f for f in claim.get("figures") or []
            if f.get("passed") is not None or f.get("close")]
    ratios = [f for f in figs if f.get("unit") == "x"]
    for pool in (ratios, figs):
        if pool:
            return next((f for f in pool if f.get("passed") is False), pool[0])
    return None
