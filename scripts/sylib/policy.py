"""Per-benchmark gate policy (`scripts/gate.toml`) and accepted regressions
(`Perf-Accept:` commit trailers).

gate.toml is a list of rules; the first whose `match` regex finds the
benchmark name applies:

    [[rule]]
    match = "^skynet/.*/n:1000000"
    floor = "10%"                      # smallest change that counts here
    reason = "one cold tree per repetition"

    [[rule]]
    match = "^switch/futex/pin:cross"
    ignore = "cross-CPU wake-ups vary 10x between VMs"   # not gated, shown as ignored

A pull request that makes something slower on purpose says so in a commit
message between base and candidate, one trailer per line:

    Perf-Accept: ^spawn/thread/ one clone(2) more per task, for the join fix

and the matching rows' `regression` (or `newly skipped`, or different work)
becomes `accepted`, with the reason shown. Bad input (a file that is not
TOML, a bad regex, an unknown key, a trailer without a reason) is an
InputError naming the place.
"""
from __future__ import annotations

import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .results import InputError

RULE_KEYS = {"match", "floor", "ignore", "reason"}
TRAILER = re.compile(r"^Perf-Accept:\s*(.*)$", re.MULTILINE)


@dataclass
class Rule:
    pattern: re.Pattern
    floor: float | None = None
    ignore: str | None = None
    reason: str = ""


@dataclass
class Accept:
    pattern: re.Pattern
    reason: str
    commit: str = ""


@dataclass
class Policy:
    rules: list = field(default_factory=list)
    accepts: list = field(default_factory=list)
    source: str = ""

    def rule_for(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.pattern.search(name)), None)

    def floor_for(self, name: str, default: float) -> float:
        r = self.rule_for(name)
        return r.floor if r and r.floor is not None else default

    def ignored(self, name: str) -> str | None:
        r = self.rule_for(name)
        return r.ignore if r else None

    def accepted(self, name: str) -> Accept | None:
        return next((a for a in self.accepts if a.pattern.search(name)), None)


def parse_fraction(text, where: str) -> float:
    t = str(text).strip()
    try:
        v = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise InputError(f"{where}: floor {text!r} is not a fraction or percentage") from None
    if not 0 <= v < 10:
        raise InputError(f"{where}: floor {text!r} is out of range")
    return v


def _regex(text, where: str) -> re.Pattern:
    if not isinstance(text, str) or not text:
        raise InputError(f"{where}: 'match' must be a non-empty regular expression")
    try:
        return re.compile(text)
    except re.error as e:
        raise InputError(f"{where}: bad regular expression {text!r}: {e}") from None


def parse_rules(text: str, source: str) -> list[Rule]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{source}: not valid TOML ({e})") from None
    unknown = set(doc) - {"rule"}
    if unknown:
        raise InputError(f"{source}: unknown table '{sorted(unknown)[0]}' (only [[rule]])")
    rules = []
    for i, raw in enumerate(doc.get("rule", []), 1):
        where = f"{source} rule {i}"
        if not isinstance(raw, dict):
            raise InputError(f"{where}: not a table")
        bad = set(raw) - RULE_KEYS
        if bad:
            raise InputError(f"{where}: unknown key '{sorted(bad)[0]}' "
                             f"(known: {', '.join(sorted(RULE_KEYS))})")
        if ("floor" in raw) == ("ignore" in raw):
            raise InputError(f"{where}: give exactly one of 'floor' or 'ignore'")
        if "ignore" in raw and not str(raw["ignore"]).strip():
            raise InputError(f"{where}: 'ignore' needs the reason as its value")
        rules.append(Rule(pattern=_regex(raw.get("match"), where),
                          floor=parse_fraction(raw["floor"], where) if "floor" in raw else None,
                          ignore=str(raw["ignore"]).strip() if "ignore" in raw else None,
                          reason=str(raw.get("reason", ""))))
    return rules


def parse_trailers(message: str, commit: str = "") -> list[Accept]:
    """Perf-Accept trailers of one commit message."""
    out = []
    for m in TRAILER.finditer(message):
        body = m.group(1).strip()
        regex, _, reason = body.partition(" ")
        where = f"Perf-Accept in commit {commit[:10] or '?'}"
        if not reason.strip():
            raise InputError(f"{where}: expected 'Perf-Accept: REGEX reason', got {body!r}")
        out.append(Accept(_regex(regex, where), reason.strip(), commit))
    return out


def load_rules(path: Path | None) -> tuple[list[Rule], str]:
    if path is None or not Path(path).exists():
        return [], ""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    return parse_rules(text, str(path)), str(path)


def accepts_between(repo: Path, base_sha: str | None) -> list[Accept]:
    """Perf-Accept trailers of the commits base..HEAD (none for --base .)."""
    if not base_sha:
        return []
    r = subprocess.run(["git", "-C", str(repo), "log", "--format=%H%x00%B%x01",
                        f"{base_sha}..HEAD"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return []
    out = []
    for chunk in r.stdout.split("\x01"):
        sha, _, msg = chunk.strip().partition("\x00")
        if sha:
            out += parse_trailers(msg, sha)
    return out
