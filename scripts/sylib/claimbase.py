"""Claims, the bottom layer: thresholds (claims.toml), what a check produces
(figures, cases, the claim record, the evaluated claim) and the helpers that
read rows. sylib.claimchecks measures, sylib.claims judges and lists the
claims, sylib.claimrender renders.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from . import tidy
from .results import InputError
from .tidy import Bench, Results, fmt, num


THRESHOLDS_FILE = Path(__file__).with_name("claims.toml")
RUN = "scripts/switchyard run"
VERDICTS = ("holds", "holds only when", "mixed", "refuted", "not measured")

LOOP_MODELS = tidy.LOOP_MODELS
STACKLESS = ("coroutine", "coroutine_uring")
STACKFUL = ("fiber",)
THREAD_HANDOFFS = ("thread", "pool", "futex")
PINNED = ("same", "cross")
MULTI_THREAD_PARAMS = tidy.MULTI_THREAD_PARAMS
OFFLOAD_MODE = tidy.OFFLOAD_MODE
THREAD_CONTROLS = ("pool", "thread")
UVLOOPS = ("py_uvloop_proto", "py_uvloop")
GO_PEERS = ("go", "go_gomaxprocs1")
UVLOOP_PEERS = (("node",), ("py_gevent",), GO_PEERS)     # each needs one model measured
UVLOOP_PARTS = {"node": "at least 2x node", "py_gevent": "at least 2x gevent",
                "go": "about as fast as Go", "go_gomaxprocs1": "about as fast as Go"}
SERVERS = ("redis", "http")
SERVER_PAIR_IGNORES = ("mode", "concurrency")

MAX_MD_FIGURES = 20          # figures listed per claim in claims.md before "... N more"
TERMINAL_FIGURES = 2         # figures per claim in the terminal table
TERMINAL_WIDTH = 48          # widest claim / verdict column; longer text overflows
MAX_LISTED_CASES = 4         # cases named in a condition no attribute explains
PASS, FAIL = "✓ ", "✗ "



# ---- thresholds ----------------------------------------------------------------------

@dataclass(frozen=True)
class Limits:
    """One [section] of claims.toml; a missing key is bad input, named."""
    source: str
    section: str
    values: dict

    def __getitem__(self, key):
        try:
            return self.values[key]
        except KeyError:
            raise InputError(f"{self.source}: [{self.section}] has no '{key}'") from None


def load_thresholds(path=THRESHOLDS_FILE) -> dict[str, Limits]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise InputError(f"{path}: cannot read thresholds: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: malformed TOML ({e})") from None
    out = {}
    for section, values in data.items():
        if not isinstance(values, dict):
            raise InputError(f"{path}: '{section}' is not a [section]")
        for k, v in values.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise InputError(f"{path}: [{section}] {k} is not a number")
        out[section] = Limits(str(path), section, values)
    return out


# ---- what a check produces -----------------------------------------------------------

def show(value, unit: str) -> str:
    """A figure's number with its unit ('52×', '9 ns', '180 B', '1.01×')."""
    if value is None or not math.isfinite(value):
        return "—"
    if unit == "x":
        return f"{value:.3g}×"
    if unit == "threads":
        return f"{value:.0f} OS thread(s)"
    if unit == "tasks":
        return f"{value:,.0f} tasks"
    return fmt(value, unit)


@dataclass
class Figure:
    what: str
    value: float
    unit: str                    # ns ms B /s x count threads tasks
    passed: bool | None = None   # None: context, not judged

    @property
    def text(self) -> str:
        mark = "" if self.passed is None else (PASS if self.passed else FAIL)
        return f"{mark}{self.what}: {show(self.value, self.unit)}"


@dataclass
class Case:
    """One judged comparison; attrs say what separates passing from failing."""
    label: str
    attrs: dict
    value: float
    unit: str
    passed: bool

    @property
    def figure(self) -> Figure:
        return Figure(self.label, self.value, self.unit, self.passed)


@dataclass
class Measured:
    cases: list = field(default_factory=list)
    context: list = field(default_factory=list)    # [Figure], not judged
    missing: str = ""                              # why not measured ("" = measured)


@dataclass(frozen=True)
class Split:
    """An attribute that may separate passing cases from failing ones, and how
    to say so after 'holds only when'. Categorical: phrases maps value -> text;
    numeric: phrases maps '≤'/'≥' -> template with {v}. Templates may also use
    the claim's thresholds, e.g. {fine_every}."""
    attr: str
    numeric: bool = False
    phrases: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    id: int
    section: str                # its [section] in claims.toml
    title: str                  # short, for the terminal table
    text: str                   # as tutorials state it
    check: str                  # what we measure and the rule
    reads: str                  # benchmark names and counters it reads
    args: str                   # `switchyard run` arguments that measure it
    measure: Callable           # (Results, Limits) -> Measured
    splits: tuple = ()
    charts: tuple = ()          # chart names (charts/<name>.png)
    tables: tuple = ()          # report tables to look at when there is no chart
    decide: Callable | None = None   # (cases) -> (verdict, condition) | None: overrides

    @property
    def command(self) -> str:
        return f"{RUN} {self.args}"


@dataclass
class Evaluated:
    id: int
    title: str
    claim: str
    check: str
    reads: str
    verdict: str
    condition: str
    figures: list               # [Figure]
    charts: list                # chart names
    tables: list
    command: str
    reason: str                 # why not measured
    passed: int = 0             # cases passing
    total: int = 0              # cases judged
    parts: list = field(default_factory=list)   # [Part] when the claim has parts

    @property
    def verdict_text(self) -> str:
        text = f"{self.verdict} {self.condition}" if self.condition else self.verdict
        return f"{text} ({self.passed}/{self.total})" if self.total else text

    def to_json(self) -> dict:
        d = asdict(self)
        d["verdict_text"] = self.verdict_text
        d["figures"] = [dict(asdict(f), text=f.text) for f in self.figures]
        return d


# ---- reading rows --------------------------------------------------------------------

def rows(res: Results, workload: str, models=None, **params) -> list[Bench]:
    """Successful benchmarks of a workload, optionally of some models/params."""
    return [b for b in res.ok(workload) if (models is None or b.model in models)
            and all(b.params.get(k) == v for k, v in params.items())]


def med(b: Bench, fn) -> float | None:
    """Median over the repetitions of fn(repetition)."""
    st = tidy.summarize(fn(r) for r in b.reps)
    return st.median if st else None


def counter(key):
    return lambda r: r.get(key)


def worst(b: Bench, key: str) -> float | None:
    """Largest value of a counter over the repetitions (lost updates, threads)."""
    vals = [r[key] for r in b.reps if key in r]
    return max(vals) if vals else None


def valued(benches, fn) -> list[tuple[Bench, float]]:
    return [(b, v) for b in benches if (v := med(b, fn)) is not None]


def absent(res: Results, workload: str, what: str) -> str:
    """'no <what>', plus what happened to the bench when it gave nothing at all."""
    return f"no {what}" if res.ok(workload) else f"no {what} ({res.why_missing(workload)})"


def param_num(b: Bench, key: str, default=None) -> float | None:
    v = num(b.params.get(key))
    return default if v is None else v



def either(words: list[str]) -> str:
    """['a', 'b', 'c'] -> 'a, b or c'."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]

def tally(evaluated: list[Evaluated]) -> str:
    """'3 hold, 5 hold only when, 1 mixed, 1 refuted, 3 not measured'."""
    plural = {"holds": "hold", "holds only when": "hold only when"}
    counts = [(sum(e.verdict == v for e in evaluated), plural.get(v, v)) for v in VERDICTS]
    return ", ".join(f"{n} {v}" for n, v in counts if n)


