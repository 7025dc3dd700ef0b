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
from .results import MODEL_ROWS, InputError
from .tidy import Bench, Results, fmt, num


THRESHOLDS_FILE = Path(__file__).with_name("claims.toml")
RUN = "scripts/switchyard run"
CLOSE = "too close to call"
VERDICTS = ("holds", "holds only when", "mixed", "refuted", CLOSE, "not measured")

LOOP_MODELS = tidy.LOOP_MODELS
STACKLESS = ("coroutine", "coroutine_uring", "asio")  # C++20 stackless coroutines, sy::task or Asio's awaitable
STACKFUL = ("fiber",)
THREAD_HANDOFFS = ("thread", "pool", "futex")
PINNED = ("same", "cross")
MULTI_THREAD_PARAMS = tidy.MULTI_THREAD_PARAMS
OFFLOAD_MODE = tidy.OFFLOAD_MODE
THREAD_CONTROLS = ("pool", "thread")
# M:N task models (coroutine_mt): one program of coroutines on N worker threads.
MN_MODELS = tuple(r["name"] for r in MODEL_ROWS if r["shape"] == "task" and not r["loop"]
                  and r["name"] not in THREAD_CONTROLS)
UVLOOPS = ("py_uvloop_proto", "py_uvloop")
GO_PEERS = ("go", "go_gomaxprocs1")
UVLOOP_PEERS = (("node",), ("py_gevent",), GO_PEERS)     # each needs one model measured
UVLOOP_PARTS = {"node": "at least 2x node", "py_gevent": "at least 2x gevent",
                "go": "about as fast as Go", "go_gomaxprocs1": "about as fast as Go"}
SERVERS = ("redis", "http", "sql")
SERVER_PAIR_IGNORES = ("mode", "concurrency")
# The tutorial's Python libraries as clients of the same servers (rows
# <server>/<peer>/.../loop:asyncio|uvloop, runners/peers/py_*.py): claim 12
# lists them beside the C++ models and gives them a part of their own.
PY_CLIENTS = {"py_redis_asyncio": "redis.asyncio", "py_aiohttp": "aiohttp",
              "py_aiomysql": "aiomysql"}
SERVER_PARTS = ("C++ models", "Python libraries")

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


def show_interval(value, lo, hi, unit: str) -> str:
    """'1.52× [1.41, 1.60]', or the value alone without an interval."""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return show(value, unit)
    return f"{show(value, unit)} [{show(lo, unit)}, {show(hi, unit)}]"


@dataclass
class Figure:
    what: str
    value: float
    unit: str                    # ns ms B /s x count threads tasks
    passed: bool | None = None   # None: context, not judged (or too close to call: `close`)
    lo: float = math.nan         # interval over rounds (processes), when there is one
    hi: float = math.nan
    close: bool = False          # judged, and the interval straddles the threshold

    @property
    def text(self) -> str:
        mark = "≈ " if self.close else "" if self.passed is None else \
            (PASS if self.passed else FAIL)
        return f"{mark}{self.what}: {show_interval(self.value, self.lo, self.hi, self.unit)}"


@dataclass
class Case:
    """One judged comparison; attrs say what separates passing from failing.
    passed is None when the case is too close to call: its interval (over
    rounds of processes) has values on both sides of the threshold, or there
    is no interval (fewer than tidy.MIN_PROCESSES rounds)."""
    label: str
    attrs: dict
    value: float
    unit: str
    passed: bool | None
    lo: float = math.nan
    hi: float = math.nan

    @property
    def figure(self) -> Figure:
        return Figure(self.label, self.value, self.unit, self.passed, self.lo, self.hi,
                      close=self.passed is None)


# ---- estimates over rounds -------------------------------------------------------------
# A run makes every benchmark in rounds (sylib.run): round r's processes ran at
# about the same time, so a figure built from several rows (a ratio, a
# difference) is computed per round and its interval is the order-statistic
# interval of the median over rounds (tidy.summarize). Rows that do not share
# at least tidy.MIN_PROCESSES rounds give a point value without an interval.

@dataclass(frozen=True)
class Est:
    per: dict                    # round (process key) -> value

    @property
    def stat(self):
        return tidy.summarize(self.per.values())

    @property
    def value(self) -> float:
        st = self.stat
        return st.median if st else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        st = self.stat
        return (st.lo, st.hi) if st else (math.nan, math.nan)

    def map(self, fn) -> "Est":
        return Est({k: fn(v) for k, v in self.per.items()})


def est(b: Bench | None, fn) -> Est | None:
    """The value of fn per round (median within a round's process)."""
    if b is None:
        return None
    per = tidy.per_process(b, fn)
    return Est(per) if per else None


def combine(op, *ests: Est | None) -> Est | None:
    """op applied round by round over the rounds all estimates share; with
    fewer than tidy.MIN_PROCESSES shared rounds, op of their medians (a point,
    no interval)."""
    if any(e is None for e in ests):
        return None
    common = set.intersection(*(set(e.per) for e in ests))
    if len(common) >= tidy.MIN_PROCESSES:
        order = [k for k in ests[0].per if k in common]
        per = {k: op(*(e.per[k] for e in ests)) for k in order}
    else:
        per = {"point": op(*(e.value for e in ests))}
    per = {k: v for k, v in per.items() if v is not None and math.isfinite(v)}
    return Est(per) if per else None


def ratio(a: Est | None, b: Est | None) -> Est | None:
    return combine(lambda x, y: x / y if y else None, a, b)


def decide(e: Est, rule: tuple) -> bool | None:
    """True / False when the whole interval is on one side of the rule's
    threshold, None (too close to call) when it straddles it or there is no
    interval. rule: ('>=', t), ('<=', t), ('>', t), ('<', t), ('in', lo, hi)."""
    lo, hi = e.interval
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    op, *t = rule
    if op == ">=":
        return True if lo >= t[0] else False if hi < t[0] else None
    if op == "<=":
        return True if hi <= t[0] else False if lo > t[0] else None
    if op == ">":
        return True if lo > t[0] else False if hi <= t[0] else None
    if op == "<":
        return True if hi < t[0] else False if lo >= t[0] else None
    if op == "in":
        return True if t[0] <= lo and hi <= t[1] else \
            False if hi < t[0] or lo > t[1] else None
    raise ValueError(f"unknown rule {rule!r}")


def all_of(*decisions: bool | None) -> bool | None:
    """Several conditions that must all hold: False if any is False, None if
    any is undecided, else True."""
    if any(d is False for d in decisions):
        return False
    return None if any(d is None for d in decisions) else True


def case(label: str, attrs: dict, e: Est, unit: str, rule: tuple) -> Case:
    """A case judged on its interval (see decide)."""
    lo, hi = e.interval
    return Case(label, attrs, e.value, unit, decide(e, rule), lo, hi)


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
    close: int = 0              # cases too close to call (counted in total)

    @property
    def verdict_text(self) -> str:
        text = f"{self.verdict} {self.condition}" if self.condition else self.verdict
        return f"{text} ({counts(self.passed, self.total, self.close)})" if self.total else text

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


def counts(passed: int, total: int, close: int) -> str:
    """'3/4 pass, 1 too close to call'."""
    return f"{passed}/{total} pass" + (f", {close} {CLOSE}" if close else "")


def med(b: Bench, fn) -> float | None:
    """Median over processes of each process's median of fn(repetition)."""
    st = b.stat_of(fn) if b else None
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
    """'3 hold, 5 hold only when, 1 mixed, 1 refuted, 1 too close to call, 1 not measured'."""
    plural = {"holds": "hold", "holds only when": "hold only when"}
    counts = [(sum(e.verdict == v for e in evaluated), plural.get(v, v)) for v in VERDICTS]
    return ", ".join(f"{n} {v}" for n, v in counts if n)


