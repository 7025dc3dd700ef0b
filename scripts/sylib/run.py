"""`switchyard run`: build, run every bench executable under a watchdog,
write Google Benchmark JSON (+ fingerprint) into a results directory.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import build as buildmod
from . import fingerprint as fpmod
from . import peers as peersmod
from . import procs
from .results import (MODELS, InputError, atomic_write_json, is_failure, is_skip,
                      salvage_partial, validate_gb)

REPO = buildmod.REPO
RESULTS_ROOT = REPO / "results"

# Per bench-process limits and sizes by tier. The full run is sized to finish
# in about 15 minutes on 2 cores, --quick in about 3.
TIERS = {
    "quick": {"timeout": 180.0, "repetitions": 3, "min_time": "0.02"},
    "full": {"timeout": 600.0, "repetitions": 5, "min_time": "0.15"},
}


@dataclass
class RunConfig:
    quick: bool = False
    filter: str | None = None
    models: list[str] | None = None
    repetitions: int | None = None
    timeout: float | None = None
    out: Path | None = None
    build_dir: Path = REPO / "build"
    extra_env: dict = field(default_factory=dict)
    peers: bool = True          # --no-peers: no peer echo servers, no pybench

    @property
    def tier(self) -> str:
        return "quick" if self.quick else "full"

    def reps(self) -> int:
        return self.repetitions or TIERS[self.tier]["repetitions"]

    def limit(self) -> float:
        return self.timeout or TIERS[self.tier]["timeout"]


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


def bench_args(cfg: RunConfig) -> list[str]:
    args = ["--benchmark_color=false"]
    if cfg.quick:
        args.append("--sy_quick")
    if cfg.filter:
        args.append(f"--benchmark_filter={cfg.filter}")
    if cfg.models:
        args.append("--sy_models=" + ",".join(cfg.models))
    if cfg.repetitions:   # asked for: also benches with their own count (echo) follow it
        args.append(f"--sy_repetitions={cfg.repetitions}")
    return args


def list_benchmarks(exe: Path, cfg: RunConfig) -> list[str]:
    r = subprocess.run([str(exe), "--benchmark_list_tests=true", *bench_args(cfg)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        msg = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        raise InputError(f"{exe.name}: cannot list benchmarks: {msg}")
    return [l for l in r.stdout.splitlines() if l.strip()]


def bench_command(bench: str, exe: Path, raw: Path, cfg: RunConfig) -> tuple[list[str], str]:
    """The command of one bench process writing its JSON to `raw`, and how
    results show it (without the output file)."""
    if bench == peersmod.PYBENCH:
        shown = peersmod.microbench_command(cfg.tier, filter=cfg.filter, repetitions=cfg.reps())
        return shown + ["--out", str(raw)], " ".join(shown)
    cmd = [str(exe), f"--benchmark_out={raw}", "--benchmark_out_format=json",
           f"--benchmark_repetitions={cfg.reps()}",
           f"--benchmark_min_time={TIERS[cfg.tier]['min_time']}", *bench_args(cfg)]
    return cmd, " ".join(cmd[:1] + cmd[3:])


def process_label(bench: str) -> str:
    return bench if bench == peersmod.PYBENCH else f"bench_{bench}"


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
        names = list_benchmarks(exe, cfg)
        if names:
            plan.append((bench, exe, len(names)))
    if cfg.peers:
        names = peersmod.list_microbench(cfg.tier, cfg.filter)
        if names:
            plan.append((peersmod.PYBENCH, peersmod.MICROBENCH, len(names)))
    if not plan:
        what = f"--filter '{cfg.filter}'" if cfg.filter else "the selection"
        if cfg.models:
            what += f" with --models {','.join(cfg.models)}"
        raise InputError(f"{what} matches no benchmark (see README: Workloads)")

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
    records = []
    previous = load_previous_seconds({"tier": cfg.tier, "filter": cfg.filter,
                                      "models": cfg.models, "repetitions": cfg.reps()})
    done: list[tuple[str, float]] = []
    for i, (bench, exe, count) in enumerate(plan, 1):
        raw = out / f".{bench}.raw.json"
        cmd, shown = bench_command(bench, exe, raw, cfg)
        outcome = procs.run(cmd, timeout=cfg.limit(), log_path=str(out / "logs" / f"{bench}.log"),
                            env=env)
        done.append((bench, outcome.seconds))
        data = collect_output(raw, outcome, bench)
        try:
            raw.unlink()
        except OSError:
            pass
        fails, skips = summarize_entries(data)
        status, reason = outcome.status, outcome.reason
        if outcome.ok and fails:
            status, reason = "failed", f"{len(fails)} benchmark(s) failed their checks"
        elif outcome.status == "failed" and fails:
            reason = f"{len(fails)} benchmark(s) failed their checks"
        data.setdefault("context", {})
        if "timer_slack_ns" in data["context"]:      # what the bench process set
            fp.setdefault("timer_slack_ns", data["context"]["timer_slack_ns"])
        data["context"]["fingerprint"] = fp
        data["context"]["switchyard"] = {
            "bench": bench, "status": status, "reason": reason, "tier": cfg.tier,
            "repetitions": cfg.reps(), "seconds": round(outcome.seconds, 3),
            "command": shown,
        }
        atomic_write_json(out / f"{bench}.json", data)
        records.append({"bench": bench, "status": status, "reason": reason,
                        "seconds": round(outcome.seconds, 3), "benchmarks": count,
                        "json": f"{bench}.json", "log": f"logs/{bench}.log",
                        "failures": fails, "skips": skips})
        eta = eta_seconds(done, [b for b, _, _ in plan[i:]], previous)
        line = (f"[{i}/{len(plan)}] {process_label(bench)}  {outcome.seconds:.1f} s  "
                f"(ETA {fmt_duration(eta)})")
        if status != "ok":
            line += f"  {status.upper()}: {reason}"
        print(line, file=log, flush=True)

    manifest_out = {
        "switchyard_run": 1,
        "started": started,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "tier": cfg.tier,
        "filter": cfg.filter, "models": cfg.models, "repetitions": cfg.reps(),
        "timeout": cfg.limit(),
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
    print(f"switchyard: {len(records)} bench processes, {len(failed)} failed, "
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
