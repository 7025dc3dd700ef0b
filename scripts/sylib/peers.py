"""Peer systems (issue 10): the registry runners/peers/peers.json, the Go
programs' build (the echo peer and gobench), the pybench and gobench
microbenchmark processes, and the environment that tells bench_echo where
the peers are.

bench_echo reads peers.json itself; these functions are the driver's and the
tests' view of the same file: placeholders {peers} (runners/peers) and {build}
(the build tree) are expanded in argv, env and requires, and a peer whose
requirement is missing is reported with the reason.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .results import InputError, exact_alternation

REPO = Path(__file__).resolve().parents[2]
PEERS_DIR = REPO / "runners" / "peers"
REGISTRY = PEERS_DIR / "peers.json"
PYTHON = "/usr/bin/python3"
MICROBENCH = PEERS_DIR / "py_microbench.py"
PYBENCH = "pybench"                     # its results file: results/<dir>/pybench.json
GO_SOURCE = PEERS_DIR / "go_echo.go"
GOBENCH = "gobench"                     # its results file: results/<dir>/gobench.json
GO_MICROBENCH = PEERS_DIR / "go_microbench.go"
# The Go programs built into <build>/peers/: executable name -> source.
GO_PROGRAMS = {"go_echo": GO_SOURCE, "go_microbench": GO_MICROBENCH}
GO_MISSING = "go is not installed (apt-get install golang-go)"
# What gobench would have measured, for its skip rows when it cannot run.
GOBENCH_FAMILIES = ("skynet/go", "switch/go")
TIME_SUFFIX = "/real_time"
GO_BUILD_TIMEOUT_S = 300
REQUIRE_PROBE_TIMEOUT_S = 20
MODULE_PREFIX = "python3:"


@dataclass(frozen=True)
class Peer:
    name: str
    argv: list
    env: dict
    requires: list
    about: str


def expand(text: str, build_dir: Path, peers_dir: Path = PEERS_DIR) -> str:
    return text.replace("{peers}", str(peers_dir)).replace("{build}", str(build_dir))


def load(build_dir: Path, path: Path = REGISTRY) -> list[Peer]:
    """The registry with placeholders expanded; InputError when it is malformed."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read the peer registry ({e})") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: not a list of peers")
    peers = []
    for i, p in enumerate(data):
        try:
            peers.append(Peer(name=p["name"],
                              argv=[expand(a, build_dir) for a in p["argv"]],
                              env={k: expand(v, build_dir) for k, v in p["env"].items()},
                              requires=[expand(r, build_dir) for r in p["requires"]],
                              about=p["about"]))
        except (KeyError, TypeError, AttributeError) as e:
            raise InputError(f"{path}: peer {i} is malformed ({e!r})") from None
    return peers


def unmet(requires: list[str], *, python: str = PYTHON) -> str:
    """Why a peer cannot start here ("" when every requirement is met)."""
    for r in requires:
        if r.startswith(MODULE_PREFIX):
            module = r[len(MODULE_PREFIX):]
            try:
                ok = subprocess.run([python, "-c", f"import {module}"], capture_output=True,
                                    timeout=REQUIRE_PROBE_TIMEOUT_S).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
            if not ok:
                return f"python3 module {module} does not import with {python}"
        elif not os.access(r, os.X_OK):
            return f"{r} is missing or not executable"
    return ""


def go_build_command(build_dir: Path, go: str = "go",
                     program: str = "go_echo") -> tuple[list[str], dict]:
    """The command and environment that build a Go program (GO_PROGRAMS) into
    <build>/peers/: GOPATH mode (no module, nothing downloaded), caches under
    the build tree, nothing in $HOME."""
    out = Path(build_dir) / "peers"
    env = dict(os.environ, GO111MODULE="off", GOCACHE=str(out / "gocache"),
               GOPATH=str(out / "gopath"), GOFLAGS="")
    return [go, "build", "-o", str(out / program), str(GO_PROGRAMS[program])], env


def build_go(build_dir: Path) -> str:
    """Build the Go programs (the echo peer, gobench) when `go` is installed.
    Returns "" when built or when there is no Go (the go peers then skip with
    their `requires` reason, gobench with GO_MISSING), else one line saying
    why a build failed."""
    go = shutil.which("go")
    if go is None:
        return ""
    (Path(build_dir) / "peers").mkdir(parents=True, exist_ok=True)
    for program in GO_PROGRAMS:
        cmd, env = go_build_command(build_dir, go, program)
        try:
            r = subprocess.run(cmd, env=env, capture_output=True, text=True,
                               timeout=GO_BUILD_TIMEOUT_S)
        except (OSError, subprocess.SubprocessError) as e:
            return f"go build of {program} failed: {e}"
        if r.returncode != 0:
            tail = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
            return f"go build of {program} failed: {tail}"
    return ""


def bench_env(build_dir: Path, *, enabled: bool) -> dict:
    """What bench_echo reads: where the registry and the build tree are, and
    SY_NO_PEERS=1 under --no-peers."""
    env = {"SY_PEERS_DIR": str(PEERS_DIR), "SY_BUILD_DIR": str(build_dir)}
    if not enabled:
        env["SY_NO_PEERS"] = "1"
    return env


def microbench_command(tier: str, *, filter: str | None = None,
                       repetitions: int | None = None) -> list[str]:
    cmd = [PYTHON, str(MICROBENCH), "--tier", tier]
    if repetitions:
        cmd += ["--repetitions", str(repetitions)]
    if filter:
        cmd += ["--filter", filter]
    return cmd


def list_microbench(tier: str, filter: str | None) -> list[str]:
    """The pybench names --filter selects (for run's 'matches nothing' check)."""
    cmd = microbench_command(tier, filter=filter) + ["--list"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise InputError(f"{MICROBENCH.name}: cannot list benchmarks: {e}") from None
    if r.returncode != 0:
        msg = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        raise InputError(f"{MICROBENCH.name}: cannot list benchmarks: {msg}")
    return [l for l in r.stdout.splitlines() if l.strip()]


# ---- gobench: the Go skynet and switch (runners/peers/go_microbench.go) ----------------

def gobench_exe(build_dir: Path) -> Path:
    return Path(build_dir) / "peers" / "go_microbench"


def gobench_missing(build_dir: Path, *, which=shutil.which) -> str:
    """Why gobench cannot run here ("" when its executable is built)."""
    if os.access(gobench_exe(build_dir), os.X_OK):
        return ""
    if which("go") is None:
        return GO_MISSING
    return f"{gobench_exe(build_dir)} is missing (the go build failed: see the run's log)"


def gobench_command(build_dir: Path, tier: str, *, names: list[str] | None = None,
                    repetitions: int | None = None, min_time: str | None = None) -> list[str]:
    """The gobench process; `names` (base names, selected by list_gobench)
    become an exact --filter, so Go's regexp never sees the user's regex."""
    cmd = [str(gobench_exe(build_dir)), "--tier", tier]
    if repetitions:
        cmd += ["--repetitions", str(repetitions)]
    if min_time:
        cmd += ["--min-time", str(min_time)]
    if names:
        cmd += ["--filter", exact_alternation(names)]
    return cmd


def list_gobench(build_dir: Path, tier: str, filter: str | None) -> list[str]:
    """The gobench names (with /real_time) that --filter selects, searched
    with Python's re like every other bench's names."""
    cmd = gobench_command(build_dir, tier) + ["--list"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise InputError(f"{GO_MICROBENCH.name}: cannot list benchmarks: {e}") from None
    if r.returncode != 0:
        msg = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        raise InputError(f"{GO_MICROBENCH.name}: cannot list benchmarks: {msg}")
    names = [l for l in r.stdout.splitlines() if l.strip()]
    return [n for n in names if re.search(filter, n)] if filter else names


def gobench_skipped(reason: str, filter: str | None = None) -> dict:
    """gobench's JSON when it cannot run: one skipped entry per family the
    filter selects (its rows' names are the program's to say)."""
    rows = []
    for i, family in enumerate(GOBENCH_FAMILIES):
        name = family + TIME_SUFFIX
        if filter and not re.search(filter, name):
            continue
        rows.append({"name": name, "family_index": i, "per_family_instance_index": 0,
                     "run_name": name, "run_type": "iteration", "repetitions": 1,
                     "repetition_index": 0, "threads": 1, "iterations": 0, "real_time": 0.0,
                     "cpu_time": 0.0, "time_unit": "ns", "error_occurred": True,
                     "error_message": "skipped: " + reason})
    return {"context": {}, "benchmarks": rows}
