"""Google Benchmark JSON: loading, validation, naming, atomic writes.

Shared by run, plot, report, claims and compare. Any bad input raises
InputError with one readable line; the CLIs turn it into exit status 2.
"""
from __future__ import annotations

import functools
import json
import math
import os
import re
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


class InputError(Exception):
    """Bad input (missing/empty/malformed file, not Google Benchmark JSON)."""


# The concurrency models, in display order, read from the one list the C++
# side is generated from (runners/model_list.hpp); this is the bottom of the
# package: every module that needs the list imports it from here.
MODEL_LIST = Path(__file__).resolve().parents[2] / "runners" / "model_list.hpp"
_MODEL_ROW = re.compile(r"^\s*X\((\w+),\s*(task|callback),\s*([01]),\s*(\w+)\)", re.MULTILINE)


def read_model_list(text: str) -> list[dict]:
    """The rows of SY_MODELS(X): [{name, shape, loop, needs}]."""
    rows = [{"name": m[0], "shape": m[1], "loop": m[2] == "1", "needs": m[3]}
            for m in _MODEL_ROW.findall(text)]
    if not rows:
        raise InputError("runners/model_list.hpp: no X(name, shape, loop, needs) rows")
    return rows


MODEL_ROWS = read_model_list(MODEL_LIST.read_text())
MODELS = tuple(r["name"] for r in MODEL_ROWS)
LOOP_MODELS = tuple(r["name"] for r in MODEL_ROWS if r["loop"])


# Suffixes Google Benchmark appends to a registered name, in the order it
# appends them (BenchmarkName::str). Matching the order keeps our own params
# intact: in 'multicore/thread/threads:2/real_time', threads:2 comes before the
# time type, so it is a switchyard param, not GB's ->Threads() suffix.
_GB_SUFFIX = re.compile(
    r"(/min_time:[^/]*)?(/min_warmup_time:[^/]*)?(/iterations:[^/]*)?(/repeats:[^/]*)?"
    r"(/process_time)?(/(real_time|manual_time))?(/threads:[^/]*)?$")


@functools.lru_cache(maxsize=65536)
def base_name(name: str) -> str:
    """'switch/futex/pin:same/real_time' -> 'switch/futex/pin:same'."""
    return _GB_SUFFIX.sub("", name)


def parse_name(name: str) -> dict:
    """Split '<workload>/<model>/<k>:<v>/...' into its parts."""
    return split_name(base_name(name))


def split_name(base: str) -> dict:
    """parse_name for a name already passed through base_name (which is not
    idempotent: it would take a trailing 'threads:2' param for GB's suffix)."""
    parts = base.split("/")
    params = {}
    extra = []
    for p in parts[2:]:
        k, sep, v = p.partition(":")
        if sep:
            params[k] = v
        else:
            extra.append(p)
    return {"workload": parts[0], "model": parts[1] if len(parts) > 1 else "",
            "params": params, "extra": extra}


# Models and baselines whose benchmarks run several OS threads by design.
MULTI_THREAD_MODELS = {
    "futex": "OS threads handing off through futex syscalls",
    "thread": "one OS thread per task",
    "pool": "worker threads",
}
# Params that give a benchmark several threads or loops when above 1.
MULTI_THREAD_PARAMS = ("workers", "loops", "threads")


def several_threads(name: str) -> str | None:
    """Why a benchmark runs on several OS threads (so pinning its process to
    one CPU, or callgrind's serialisation of threads, changes what it
    measures), or None when it is single-threaded."""
    p = parse_name(name)
    if p["model"] in MULTI_THREAD_MODELS:
        return MULTI_THREAD_MODELS[p["model"]]
    for k in MULTI_THREAD_PARAMS:
        if p["params"].get(k, "1") not in ("0", "1"):
            return f"{k}:{p['params'][k]}: several threads"
    return None


# Benches that place their own server and load processes on CPUs: a process
# running them is never pinned to one CPU (that would put server and load on it).
SELF_PLACING = ("echo", "redis", "http", "sql")


def pinnable(bench: str, name: str) -> bool:
    """May the process that runs this benchmark be pinned to one CPU? Not when
    it runs several threads by design or places its own processes."""
    return bench not in SELF_PLACING and several_threads(name) is None


def pin_groups(bench: str, names: list[str]) -> list[tuple[bool, list[str]]]:
    """[(pinned, names)]: the benchmarks a process pinned to one CPU runs and
    those a process with the full CPU mask runs; empty groups left out."""
    pin = [n for n in names if pinnable(bench, n)]
    free = [n for n in names if not pinnable(bench, n)]
    return [(p, ns) for p, ns in ((True, pin), (False, free)) if ns]


def escape_name(name: str) -> str:
    """A benchmark name as a literal inside a --benchmark_filter regex."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", name)


def exact_alternation(names: list[str]) -> str:
    """A --benchmark_filter regex matching exactly these benchmarks."""
    return "^(" + "|".join(escape_name(n) for n in names) + ")(/|$)"


def validate_gb(data, source: str) -> dict:
    if not isinstance(data, dict):
        raise InputError(f"{source}: not Google Benchmark JSON (top level is not an object)")
    if "benchmarks" not in data or not isinstance(data["benchmarks"], list):
        raise InputError(f"{source}: not Google Benchmark JSON (no 'benchmarks' list)")
    if not isinstance(data.get("context", {}), dict):
        raise InputError(f"{source}: not Google Benchmark JSON ('context' is not an object)")
    for i, b in enumerate(data["benchmarks"]):
        if not isinstance(b, dict) or "name" not in b:
            raise InputError(f"{source}: benchmark entry {i} has no 'name'")
    return data


def load_gb_json(path) -> dict:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a JSON file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    if not text.strip():
        raise InputError(f"{path}: empty file")
    try:
        data = json.loads(text)
    except ValueError as e:
        raise InputError(f"{path}: malformed JSON ({e})") from None
    return validate_gb(data, str(path))


def salvage_partial(text: str) -> dict | None:
    """Best effort: close the JSON a killed bench process left unfinished."""
    text = text.rstrip()
    if not text:
        return None
    for cut in range(len(text), max(len(text) - 20000, 0), -1):
        if text[cut - 1] not in "}]":
            continue
        head = text[:cut]
        for tail in ("", "]}", "}]}", "]\n}"):
            try:
                data = json.loads(head + tail)
            except ValueError:
                continue
            if isinstance(data, dict) and isinstance(data.get("benchmarks"), list):
                return data
    return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path, text: str) -> None:
    """Write via a temp file + rename, so readers never see half a file.
    mkstemp creates 0600; results are for sharing, so apply the umask."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def result_files(path) -> list[Path]:
    """The GB JSON files of a results directory, or [path] for a file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.glob("*.json")
                   if p.name not in ("run.json", "claims.json") and not p.name.startswith("."))
    if not files:
        raise InputError(f"{path}: no result JSON files in this directory")
    return files


def load_results(path) -> list[tuple[Path, dict]]:
    return [(f, load_gb_json(f)) for f in result_files(path)]


def is_skip(entry: dict) -> bool:
    return bool(entry.get("error_occurred")) and \
        str(entry.get("error_message", "")).startswith("skipped: ")


def is_failure(entry: dict) -> bool:
    return bool(entry.get("error_occurred")) and not is_skip(entry)


# ---- samples: the one reader of benchmark rows -----------------------------------------
# compare, gate and history read Google Benchmark JSON rows through collect():
# one field list, one unit map, one rule for which process made a row.

INSTRUCTIONS_KEY = "instructions_per_iteration"   # written by `gate --callgrind`
TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# Google Benchmark's own fields and our bookkeeping: everything else numeric
# in an entry is a counter.
STANDARD_FIELDS = frozenset({
    "name", "run_name", "run_type", "family_index", "per_family_instance_index",
    "repetitions", "repetition_index", "threads", "iterations", "real_time",
    "cpu_time", "time_unit", "aggregate_name", "aggregate_unit", "label",
    "error_occurred", "error_message", "big_o", "rms", "cpu_coefficient",
    "real_coefficient", "complexity_n", INSTRUCTIONS_KEY, "callgrind_ir_total",
    "callgrind_iterations", "process", "cpu", "stage",
})

def steady(values: list) -> list:
    """A process's steady repetitions: all but repetition 0 when it made
    several (repetition 0 is the cold run of a one-iteration row, or the only
    warm-up of a row whose single iteration outlasts the minimum time; `run`
    makes two repetitions per process exactly where that matters)."""
    return values[1:] if len(values) >= 2 else values


@dataclass
class Side:
    """One benchmark on one side: samples with the process that made each."""
    samples: list = field(default_factory=list)       # ns, or instructions
    procs: list = field(default_factory=list)         # process key per sample
    aggregate: float | None = None                     # fallback: aggregate median/mean
    counters: dict = field(default_factory=dict)       # name -> [values]
    errors: list = field(default_factory=list)
    skips: list = field(default_factory=list)

    def per_process(self) -> dict:
        """{process key: median of its samples}, in order of appearance
        (computed once: compare asks for it several times per benchmark)."""
        if getattr(self, "_per_process", None) is None or \
                self._per_process[0] != len(self.samples):
            groups: dict = {}
            for p, v in zip(self.procs, self.samples):
                groups.setdefault(p, []).append(v)
            self._per_process = (len(self.samples),
                                 {p: float(statistics.median(steady(v)))
                                  for p, v in groups.items()})
        return self._per_process[1]





def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def entry_key(entry: dict) -> str:
    """Benchmark name without Google Benchmark's suffixes and aggregate names."""
    name = str(entry.get("run_name") or entry["name"])
    if entry.get("run_type") == "aggregate" and not entry.get("run_name"):
        agg = entry.get("aggregate_name")
        if agg and name.endswith("_" + str(agg)):
            name = name[: -len(str(agg)) - 1]
    return base_name(name)


def entry_value(entry: dict, metric: str, source: str) -> float | None:
    """The entry's measurement in ns (time) or instructions, or None."""
    if metric == "instructions":
        return _number(entry.get(INSTRUCTIONS_KEY))
    t = _number(entry.get("real_time"))
    if t is None:
        return None
    unit = entry.get("time_unit", "ns")
    if unit not in TIME_UNIT_NS:
        raise InputError(f"{source}: benchmark '{entry['name']}' has unknown time_unit '{unit}'")
    return t * TIME_UNIT_NS[unit]


def entry_counters(entry: dict) -> dict:
    return {k: v for k, v in ((k, _number(v)) for k, v in entry.items()
                              if k not in STANDARD_FIELDS) if v is not None}


def process_key(entry: dict, source: str):
    """Which process made a row: its `process` field, else its input file."""
    p = entry.get("process")
    return p if isinstance(p, (int, float)) and not isinstance(p, bool) else f"file:{source}"


def collect(datasets: list[tuple[str, dict]], metric: str = "time") -> dict[str, Side]:
    """Benchmarks of one side, keyed by name, in order of first appearance."""
    sides: dict[str, Side] = {}
    fallback: dict[str, dict] = {}
    for source, data in datasets:
        for e in data["benchmarks"]:
            key = entry_key(e)
            side = sides.setdefault(key, Side())
            if is_skip(e):
                side.skips.append(str(e.get("error_message", ""))[len("skipped: "):])
                continue
            if is_failure(e):
                side.errors.append(str(e.get("error_message", "")) or "error_occurred")
                continue
            if e.get("run_type") == "aggregate":
                agg = str(e.get("aggregate_name", ""))
                if e.get("aggregate_unit", "time") == "time" and agg in ("median", "mean", ""):
                    rank = {"median": 0, "mean": 1, "": 2}[agg]
                    if key not in fallback or rank < fallback[key]["rank"]:
                        fallback[key] = {"rank": rank, "entry": e, "source": source}
                continue
            v = entry_value(e, metric, source)
            if v is None:
                continue
            side.samples.append(v)
            side.procs.append(process_key(e, source))
            for k, c in entry_counters(e).items():
                side.counters.setdefault(k, []).append(c)
    for key, f in fallback.items():
        side = sides[key]
        if not side.samples:
            side.aggregate = entry_value(f["entry"], metric, f["source"])
            for k, c in entry_counters(f["entry"]).items():
                side.counters.setdefault(k, []).append(c)
    return sides


