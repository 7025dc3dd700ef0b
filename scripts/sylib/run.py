"""`switchyard run`: build, run every bench executable under a watchdog,
write Google Benchmark JSON (+ fingerprint) into a results directory.

Repetitions come from separate processes (MEASURING.md: the variance lives
between processes). The run is a series of rounds; round r runs every bench
executable once, in the same order, so the r-th process of every benchmark
ran at about the same time as the r-th process of the others (A, B, C, A, B,
C, ...), and a ratio between two benchmarks can be paired by round. In each
round a bench executable runs as up to two processes: its single-threaded
benchmarks pinned to one CPU (alternating between rounds), and the ones that
run several threads by design, or place their own server and load processes
(echo, redis, http, sql), with the full CPU mask. Every row carries `process` (its
round) and `cpu` (-1: not pinned); the Google Benchmark JSON shape is
otherwise unchanged, all rounds of a bench merged into <bench>.json.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from . import build as buildmod
from . import fingerprint as fpmod
from . import peers as peersmod
from . import procs
from .results import InputError, atomic_write_json, base_name
from .runplan import (COLD_FIRST, FEWER_PROCESSES, MIN_PROCESSES, TIERS, BenchRecord,  # noqa: F401
                      Job, RunConfig, annotate, bench_args, bench_command, check_filter,
                      collect_output, jobs_of_round, list_benchmarks, parse_models,
                      summarize_entries)

REPO = buildmod.REPO
RESULTS_ROOT = REPO / "results"

def prepare_out(out: Path) -> Path:
    """Create the output directory and prove it is writable, before any bench runs."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "logs").mkdir(exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise InputError(f"--out {out}: not writable ({e.strerror})") from None
    return out


def default_out(fp_id: str, now: dt.datetime | None = None) -> Path:
    now = now or dt.datetime.now(dt.timezone.utc)
    return RESULTS_ROOT / f"{now.strftime('%Y%m%dT%H%M%SZ')}-{fp_id}"


def update_latest(out: Path) -> None:
    link = RESULTS_ROOT / "latest"
    tmp = RESULTS_ROOT / ".latest.tmp"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(os.path.relpath(out, RESULTS_ROOT))
        os.replace(tmp, link)
    except OSError as e:
        print(f"switchyard: could not update {link}: {e.strerror}", file=sys.stderr)


def process_label(bench: str) -> str:
    return bench if bench in (peersmod.PYBENCH, peersmod.GOBENCH) else f"bench_{bench}"


def fmt_duration(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}"


def previous_seconds(manifest: dict, selection: dict) -> dict[str, float]:
    """Seconds each bench process took in an earlier run with the same
    selection (tier, filter, models, repetitions; from its run.json), for the
    ETA; {} when it does not compare."""
    if any(manifest.get(k) != v for k, v in selection.items()):
        return {}
    out = {}
    for r in manifest.get("benches", []):
        if isinstance(r, dict) and r.get("status") == "ok" and \
                isinstance(r.get("seconds"), (int, float)) and isinstance(r.get("bench"), str):
            out[r["bench"]] = float(r["seconds"])
    return out


def load_previous_seconds(selection: dict) -> dict[str, float]:
    try:
        manifest = json.loads((RESULTS_ROOT / "latest" / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    return previous_seconds(manifest, selection) if isinstance(manifest, dict) else {}


def eta_seconds(done: list[tuple[str, float]], remaining: list[str],
                previous: dict[str, float]) -> float:
    """Time left: the remaining benches' durations in the previous run, scaled
    by how this run compares with it so far; without history for a bench, the
    mean of this run's benches so far (bench processes differ by 10x, so the
    history matters: echo alone is a third of the default run)."""
    spent = sum(s for _, s in done)
    mean = spent / len(done) if done else 0.0
    known = [(s, previous[b]) for b, s in done if previous.get(b)]
    scale = sum(s for s, _ in known) / sum(p for _, p in known) if known else 1.0
    return sum(previous[b] * scale if previous.get(b) else mean for b in remaining)


def probe_uring(build_dir: Path) -> dict:
    exe = build_dir / "runners" / "sy_probe"
    try:
        r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=20)
        return json.loads(r.stdout)
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        return {"available": False, "reason": f"probe failed: {e}"}


def calibrate(build_dir: Path, log=sys.stderr) -> dict:
    """The machine facts that explain verdicts (benches/calibrate/calibrate.cpp),
    measured before the benches; {"error": why} when they cannot be, never
    raising: a run without facts is still a run."""
    exe = build_dir / "benches" / "switchyard-calibrate"
    try:
        r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
        facts = json.loads(r.stdout)
        if not isinstance(facts, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        print(f"switchyard: machine facts not measured: {e}", file=log)
        return {"error": str(e)}
    print("switchyard: machine facts: " + ", ".join(
        f"{k} {v:.3g}" for k, v in facts.items() if isinstance(v, (int, float))), file=log)
    return facts


def execute(cfg: RunConfig, *, log=sys.stderr) -> int:
    check_filter(cfg.filter)
    out = prepare_out(cfg.out) if cfg.out else None

    try:
        manifest = buildmod.build(cfg.build_dir, log=log)
    except buildmod.BuildError as e:
        print(f"switchyard: {e}", file=log)
        return 1
    if cfg.peers:
        why = peersmod.build_go(cfg.build_dir)
        if why:
            print(f"switchyard: {why} (the go peers will be skipped)", file=log)

    disabled = manifest.get("models_disabled", {})
    skipped_models = {m: disabled[m] for m in (cfg.models or []) if m in disabled}
    for m, why in skipped_models.items():
        print(f"switchyard: model {m} skipped: {why}", file=log)

    plan = []
    for bench in manifest.get("benches", []):
        exe = cfg.build_dir / "benches" / f"bench_{bench}"
        names = [base_name(n) for n in list_benchmarks(exe, cfg)]
        if names:
            plan.append((bench, exe, names))
    if cfg.peers:
        names = peersmod.list_microbench(cfg.tier, cfg.filter)
        if names:
            plan.append((peersmod.PYBENCH, peersmod.MICROBENCH, names))
    unrun = {}          # bench -> its rows, written without a process (skips)
    if cfg.peers:
        why = peersmod.gobench_missing(cfg.build_dir)
        if why:
            print(f"switchyard: gobench skipped: {why}", file=log)
            data = peersmod.gobench_skipped(why, cfg.filter)
            if data["benchmarks"]:
                unrun[peersmod.GOBENCH] = data
        else:
            names = [base_name(n) for n in peersmod.list_gobench(cfg.build_dir, cfg.tier,
                                                                 cfg.filter)]
            if names:
                plan.append((peersmod.GOBENCH, peersmod.gobench_exe(cfg.build_dir), names))
    if not plan and not unrun:
        what = f"--filter '{cfg.filter}'" if cfg.filter else "the selection"
        if cfg.models:
            what += f" with --models {','.join(cfg.models)}"
        raise InputError(f"{what} matches no benchmark (see README: Workloads)")
    if cfg.processes and cfg.processes < MIN_PROCESSES:
        print(f"switchyard: --processes {cfg.processes}: fewer than {MIN_PROCESSES} processes "
              "per benchmark, so no result gets an interval", file=log)

    fp = fpmod.collect(REPO, manifest, probe_uring(cfg.build_dir))
    fp["facts"] = calibrate(cfg.build_dir, log)
    if out is None:
        out = prepare_out(default_out(fp["fingerprint_id"]))
        is_default = True
    else:
        is_default = False

    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    env = dict(os.environ, **peersmod.bench_env(cfg.build_dir, enabled=cfg.peers),
               **cfg.extra_env)
    selection = {"tier": cfg.tier, "filter": cfg.filter, "models": cfg.models,
                 "repetitions": cfg.repetitions, "processes": cfg.processes}
    if cfg.long_open:   # only then: earlier runs' manifests have no such key
        selection["long_open"] = True
    if cfg.full:
        selection["full"] = True
    rounds = max((cfg.procs(b) for b, _, _ in plan), default=0)
    schedule = [job for r in range(rounds) for job in jobs_of_round(plan, r, cfg)]
    jobs_per_bench: dict[str, int] = {}
    for job in schedule:
        jobs_per_bench[job.bench] = jobs_per_bench.get(job.bench, 0) + 1
    previous = {b: s / jobs_per_bench[b] for b, s in load_previous_seconds(selection).items()
                if b in jobs_per_bench}
    cpus = sorted(os.sched_getaffinity(0))
    benches = {b: BenchRecord(b, len(names)) for b, _, names in plan}
    for b, data in unrun.items():
        benches[b] = BenchRecord(b, len(data["benchmarks"]))
        benches[b].add_unrun(data)
    done: list[tuple[str, float]] = []
    for i, job in enumerate(schedule, 1):
        rec = benches[job.bench]
        if rec.stopped:
            done.append((job.bench, 0.0))
            continue
        cpu = cpus[job.round % len(cpus)] if job.pinned else -1
        stem = f"{job.bench}.r{job.round + 1}{'' if job.pinned or not job.names else '.free'}"
        raw = out / f".{stem}.raw.json"
        log_name = f"logs/{stem}.log"
        cmd, shown = bench_command(job, raw, cfg)
        outcome = procs.run(cmd, timeout=cfg.limit(), log_path=str(out / log_name), env=env,
                            cpus=[cpu] if cpu >= 0 else None)
        done.append((job.bench, outcome.seconds))
        data = collect_output(raw, outcome, job.bench)
        try:
            raw.unlink()
        except OSError:
            pass
        rec.add(job, cpu, outcome, data, shown, log_name)
        remaining = [j.bench for j in schedule[i:] if not benches[j.bench].stopped]
        eta = eta_seconds(done, remaining, previous)
        line = (f"[{i}/{len(schedule)}] {process_label(job.bench)} round {job.round + 1}/"
                f"{cfg.procs(job.bench)}{f' CPU {cpu}' if cpu >= 0 else ''}  "
                f"{outcome.seconds:.1f} s  (ETA {fmt_duration(eta)})")
        if rec.stopped:
            line += f"  {rec.status.upper()}: {rec.reason}"
        print(line, file=log, flush=True)

    records = []
    for bench, rec in benches.items():
        data = rec.merged()
        if "timer_slack_ns" in data["context"]:      # what the bench processes set
            fp.setdefault("timer_slack_ns", data["context"]["timer_slack_ns"])
        data["context"]["fingerprint"] = fp
        data["context"]["switchyard"] = {
            "bench": bench, "status": rec.status, "reason": rec.reason, "tier": cfg.tier,
            "repetitions": cfg.reps(bench), "processes": len(rec.processes),
            "seconds": round(rec.seconds, 3), "command": rec.commands[0] if rec.commands else "",
            "commands": rec.commands,
        }
        atomic_write_json(out / f"{bench}.json", data)
        records.append(rec.record())

    manifest_out = {
        "switchyard_run": 1,
        "started": started,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "tier": cfg.tier,
        "filter": cfg.filter, "models": cfg.models, "repetitions": cfg.repetitions,
        "processes": cfg.processes, "timeout": cfg.limit(),
        "long_open": cfg.long_open,
        "full": cfg.full,
        "fingerprint": fp,
        "models_skipped": skipped_models,
        "benches": records,
    }
    atomic_write_json(out / "run.json", manifest_out)
    if is_default:
        update_latest(out)
    from . import postrun
    postrun.after_run(out, log=log)

    failed = [r for r in records if r["status"] != "ok"]
    nskips = sum(len(r["skips"]) for r in records)
    print(f"switchyard: {len(records)} bench executables ({sum(len(r['processes']) for r in records)} "
          f"processes), {len(failed)} failed, "
          f"{nskips} benchmark(s) skipped; results in {out}", file=log)
    for r in records:
        for s in r["skips"]:
            print(f"  skipped {s['name']}: {s['reason']}", file=log)
    for r in failed:
        print(f"  FAILED {process_label(r['bench'])}: {r['reason']} (log: {out / r['log']})",
              file=log)
        for f in r["failures"][:10]:
            print(f"    {f['name']}: {f['reason']}", file=log)
    return 1 if failed else 0
