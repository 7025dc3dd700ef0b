"""One bench process of `switchyard run` (and of the gate's rounds): the
run's configuration and tiers, the flags and command of a process, which
processes a round runs (pinned or not), what a process's output holds, and
what all the processes of one bench executable measured (BenchRecord, merged
into one Google Benchmark JSON). sylib.run schedules them.
"""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import build as buildmod
from . import peers as peersmod
from . import procs
from .results import (MODELS, InputError, exact_alternation, is_failure, is_skip, pin_groups,
                      salvage_partial, validate_gb)

REPO = buildmod.REPO

# Per bench-process limits and sizes by tier. The full run is sized to finish
# in about 15 minutes on 2 cores (build excluded), --quick in about 6.
TIERS = {
    "quick": {"timeout": 180.0, "processes": 3, "repetitions": 1, "min_time": "0.02"},
    "full": {"timeout": 600.0, "processes": 5, "repetitions": 1, "min_time": "0.05"},
}
MIN_PROCESSES = 3      # fewer: no interval (tidy.MIN_PROCESSES); allowed, with a warning
# Benches whose budget cannot hold 5 processes in the full run: 3 each (the
# minimum for an interval). echo is a third of the run; redis, http and sql start
# a server per bench process; skynet, sleep and memory have one-iteration rows of
# several seconds (a million fibers' stacks, 1e5 threads) and skynet and
# sleep run two repetitions per process; gobench is Go's skynet (~3 s a process).
FEWER_PROCESSES = {"echo": 3, "redis": 3, "http": 3, "sql": 3, "pybench": 3, "gobench": 3, "skynet": 3,
                   "sleep": 3, "memory": 3}
# Benches whose one-iteration rows have a cold repetition 0 (no warm-up): two
# repetitions per process, so cold and steady are shown apart (tidy.cold_and_steady).
COLD_FIRST = ("skynet", "sleep", "gobench")
# The peer microbenchmark processes (not bench_<name> executables): one
# unpinned process per round (gobench sets GOMAXPROCS itself, up to 2).
PEER_BENCHES = (peersmod.PYBENCH, peersmod.GOBENCH)
# Benches whose processes in the first round follow each timed case with a
# profiling pass (--sy_profile: perf attached, never during a timed window).
PROFILED = ("echo",)


@dataclass
class RunConfig:
    quick: bool = False
    filter: str | None = None
    models: list[str] | None = None
    repetitions: int | None = None     # per process
    processes: int | None = None       # per benchmark
    timeout: float | None = None
    out: Path | None = None
    build_dir: Path = REPO / "build"
    extra_env: dict = field(default_factory=dict)
    peers: bool = True          # --no-peers: no peer echo servers, no pybench/gobench
    # --long-open: echo's open-loop windows sized for p99.9 (--sy_long_open);
    # its bench processes then get the full tier's watchdog limit at least.
    long_open: bool = False
    # --full: the publication tier (--sy_full): the sweep points the default
    # run leaves out for its 15 minutes, with --long-open; no time limit.
    full: bool = False

    @property
    def tier(self) -> str:
        return "quick" if self.quick else "full"

    def reps(self, bench: str | None = None) -> int:
        if self.repetitions:
            return self.repetitions
        return max(2, TIERS[self.tier]["repetitions"]) if bench in COLD_FIRST \
            else TIERS[self.tier]["repetitions"]

    def procs(self, bench: str | None = None) -> int:
        if self.processes:
            return self.processes
        n = TIERS[self.tier]["processes"]
        return min(n, FEWER_PROCESSES.get(bench, n))

    def limit(self) -> float:
        if self.timeout:
            return self.timeout
        longer = self.long_open or self.full
        return max(TIERS[self.tier]["timeout"], TIERS["full"]["timeout"] if longer else 0)


def parse_models(text: str | None) -> list[str] | None:
    """'a,b' -> ['a', 'b']; unknown names raise InputError."""
    if text is None:
        return None
    models = [m.strip() for m in text.split(",") if m.strip()]
    if not models:
        raise InputError("--models: empty list (known: " + ", ".join(MODELS) + ")")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise InputError(f"--models: unknown model '{unknown[0]}' (known: {', '.join(MODELS)})")
    return models


def check_filter(regex: str | None) -> None:
    if regex is None:
        return
    try:
        re.compile(regex)
    except re.error as e:
        raise InputError(f"--filter: not a valid regular expression: {e}") from None


def bench_args(cfg: RunConfig, bench: str | None = None) -> list[str]:
    """Flags every bench process gets; with `bench`, also its repetitions per
    process (--sy_repetitions reaches benches with a count of their own: echo)."""
    args = ["--benchmark_color=false"]
    if cfg.quick:
        args.append("--sy_quick")
    if cfg.filter:
        args.append(f"--benchmark_filter={cfg.filter}")
    if cfg.models:
        args.append("--sy_models=" + ",".join(cfg.models))
    if cfg.long_open or cfg.full:
        args.append("--sy_long_open")
    if cfg.full:
        args.append("--sy_full")
    if bench is not None:
        args.append(f"--sy_repetitions={cfg.reps(bench)}")
    elif cfg.repetitions:
        args.append(f"--sy_repetitions={cfg.repetitions}")
    return args


def list_benchmarks(exe: Path, cfg: RunConfig) -> list[str]:
    r = subprocess.run([str(exe), "--benchmark_list_tests=true", *bench_args(cfg)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        msg = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        raise InputError(f"{exe.name}: cannot list benchmarks: {msg}")
    return [l for l in r.stdout.splitlines() if l.strip()]


@dataclass
class Job:
    """One bench process of a round."""
    bench: str
    exe: Path
    round: int
    pinned: bool
    names: list            # exact benchmark names ([] : every one the selection has)


def jobs_of_round(plan: list, r: int, cfg: RunConfig) -> list[Job]:
    out = []
    for bench, exe, names in plan:
        if r >= cfg.procs(bench):
            continue
        if bench in PEER_BENCHES:
            out.append(Job(bench, exe, r, False, names if bench == peersmod.GOBENCH
                           and cfg.filter else []))
            continue
        parts = pin_groups(bench, names)
        for pinned, ns in parts:
            out.append(Job(bench, exe, r, pinned, [] if len(parts) == 1 else ns))
    return out


def bench_command(job: Job, raw: Path, cfg: RunConfig) -> tuple[list[str], str]:
    """The command of one bench process writing its JSON to `raw`, and how
    results show it (without the output file)."""
    if job.bench == peersmod.PYBENCH:
        shown = peersmod.microbench_command(cfg.tier, filter=cfg.filter,
                                            repetitions=cfg.reps(job.bench))
        return shown + ["--out", str(raw)], " ".join(shown)
    if job.bench == peersmod.GOBENCH:
        shown = peersmod.gobench_command(cfg.build_dir, cfg.tier, names=job.names,
                                         repetitions=cfg.reps(job.bench),
                                         min_time=TIERS[cfg.tier]["min_time"])
        return shown + ["--out", str(raw)], " ".join(shown)
    cmd = [str(job.exe), f"--benchmark_out={raw}", "--benchmark_out_format=json",
           f"--benchmark_repetitions={cfg.reps(job.bench)}",
           f"--benchmark_min_time={TIERS[cfg.tier]['min_time']}", *bench_args(cfg, job.bench)]
    if job.bench in PROFILED and job.round == 0:
        cmd.append("--sy_profile")
    if job.names:
        cmd.append(f"--benchmark_filter={exact_alternation(job.names)}")
    shown = cmd[:1] + cmd[3:]
    if job.names:
        shown = shown[:-1] + [f"--benchmark_filter=<{len(job.names)} "
                              f"{'pinned' if job.pinned else 'unpinned'} benchmarks>"]
    return cmd, " ".join(shown)


def annotate(data: dict, **fields) -> dict:
    """One process's JSON with `fields` added to every iteration row (its
    aggregates are dropped: they summarise one process)."""
    rows = [{**e, **fields} for e in data.get("benchmarks", [])
            if e.get("run_type") != "aggregate"]
    return {"context": data.get("context") or {}, "benchmarks": rows}


def summarize_entries(data: dict) -> tuple[list[dict], list[dict]]:
    fails = [{"name": b["name"], "reason": b.get("error_message", "")}
             for b in data.get("benchmarks", []) if is_failure(b)]
    skips = [{"name": b["name"], "reason": b.get("error_message", "")[len("skipped: "):]}
             for b in data.get("benchmarks", []) if is_skip(b)]
    # one entry per benchmark, not per repetition
    dedup = lambda xs: list({x["name"]: x for x in xs}.values())
    return dedup(fails), dedup(skips)


def collect_output(raw_json: Path, outcome: procs.Outcome, bench: str) -> dict:
    """The bench's JSON, or what can be salvaged from a killed process."""
    text = raw_json.read_text() if raw_json.exists() else ""
    data = None
    if text.strip():
        try:
            data = validate_gb(json.loads(text), str(raw_json))
        except (ValueError, InputError):
            data = salvage_partial(text)
    if data is None:
        data = {"context": {}, "benchmarks": []}
    return data


def merge_rounds(rounds: list[dict]) -> dict:
    """Per-process (or per-round) GB JSON of one bench -> one GB JSON with every
    repetition: aggregates dropped, repetition_index counted across them."""
    rows, reps = [], {}
    for data in rounds:
        for e in data.get("benchmarks", []):
            if e.get("run_type") == "aggregate":
                continue
            e = dict(e)
            key = e.get("run_name") or e["name"]
            e["repetition_index"] = reps.get(key, 0)
            reps[key] = e["repetition_index"] + 1
            rows.append(e)
    for e in rows:
        e["repetitions"] = reps[e.get("run_name") or e["name"]]
    context = next((d.get("context") for d in rounds if d.get("context")), {}) or {}
    return {"context": dict(context), "benchmarks": rows}


SEVERITY = {"ok": 0, "failed": 1, "timeout": 2, "crashed": 3, "error": 4}


@dataclass
class BenchRecord:
    """What the processes of one bench executable ran and measured. A bench
    whose process crashed, hung or failed a check is not run again in later
    rounds: its status says which round."""
    bench: str
    benchmarks: int
    datas: list = field(default_factory=list)        # each process's annotated JSON
    processes: list = field(default_factory=list)
    commands: list = field(default_factory=list)
    failures: dict = field(default_factory=dict)
    skips: dict = field(default_factory=dict)
    status: str = "ok"
    reason: str = ""
    log: str = ""
    seconds: float = 0.0

    @property
    def stopped(self) -> bool:
        return self.status != "ok"

    def add(self, job: Job, cpu: int, outcome: procs.Outcome, data: dict, shown: str,
            log_name: str) -> None:
        fails, skips = summarize_entries(data)
        self.failures.update({f["name"]: f for f in fails})
        self.skips.update({s["name"]: s for s in skips})
        status, reason = outcome.status, outcome.reason
        if outcome.ok and fails:
            status, reason = "failed", f"{len(fails)} benchmark(s) failed their checks"
        elif outcome.status == "failed" and fails:
            reason = f"{len(fails)} benchmark(s) failed their checks"
        self.datas.append(annotate(data, process=job.round, cpu=cpu))
        if shown not in self.commands:
            self.commands.append(shown)
        self.seconds += outcome.seconds
        self.processes.append({"round": job.round, "cpu": cpu, "status": status,
                               "reason": reason, "seconds": round(outcome.seconds, 3),
                               "log": log_name})
        self.log = self.log or log_name
        if SEVERITY.get(status, 4) > SEVERITY.get(self.status, 4):
            self.status, self.log = status, log_name
            self.reason = f"{reason} (round {job.round + 1}; not run again)"

    def add_unrun(self, data: dict) -> None:
        """Rows written without a process (gobench's skips when Go is missing)."""
        self.skips.update({s["name"]: s for s in summarize_entries(data)[1]})
        self.datas.append(annotate(data, process=0, cpu=-1))

    def merged(self) -> dict:
        """Every process's rows in one Google Benchmark JSON."""
        return merge_rounds(self.datas)

    def record(self) -> dict:
        return {"bench": self.bench, "status": self.status, "reason": self.reason,
                "seconds": round(self.seconds, 3), "benchmarks": self.benchmarks,
                "json": f"{self.bench}.json", "log": self.log,
                "processes": self.processes, "failures": list(self.failures.values()),
                "skips": list(self.skips.values())}
