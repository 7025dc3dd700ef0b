"""Google Benchmark JSON: loading, validation, naming, atomic writes.

Shared by run, plot, report, claims and compare. Any bad input raises
InputError with one readable line; the CLIs turn it into exit status 2.
"""
from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from pathlib import Path


class InputError(Exception):
    """Bad input (missing/empty/malformed file, not Google Benchmark JSON)."""


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
