"""Machine fingerprint recorded in every result's `context`.

Absolute times differ between machines, so every result says where it was
measured. `fingerprint_id` hashes only what identifies the machine and the
toolchain (CPU, cores, SMT, kernel, virtualization, compiler), not the git
commit: two commits measured on one machine must stay comparable.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path

ID_KEYS = ("cpu_model", "cores_online", "smt", "kernel", "virtualization", "compiler")
# What identifies a machine across kernel and compiler upgrades: the history
# of a benchmark is one series per machine identity, with the kernel and
# compiler recorded per point instead.
MACHINE_KEYS = ("cpu_model", "cores_online", "arch")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def hypervisor_flag(cpuinfo: str) -> bool:
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return " hypervisor" in line
    return False


def virtualization(cpuinfo: str) -> str:
    detected = None
    try:
        r = subprocess.run(["systemd-detect-virt"], capture_output=True, text=True, timeout=5)
        detected = r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    parts = []
    if hypervisor_flag(cpuinfo):
        parts.append("hypervisor")
    if detected and detected != "none":
        parts.append(detected)
    return "+".join(parts) if parts else "none"


def git_state(repo: Path) -> tuple[str, bool]:
    try:
        r = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q", "HEAD"],
                           capture_output=True, text=True, timeout=10)
        commit = r.stdout.strip() if r.returncode == 0 else ""
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (commit or "unknown"), bool(dirty)
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


def fingerprint_id(fp: dict) -> str:
    key = json.dumps({k: fp.get(k) for k in ID_KEYS}, sort_keys=True)
    return hashlib.sha1(key.encode()).hexdigest()[:8]


def machine_id(fp: dict) -> str:
    """Stable identity of the machine (CPU model, cores, architecture)."""
    key = json.dumps({k: fp.get(k) or (platform.machine() if k == "arch" else None)
                      for k in MACHINE_KEYS}, sort_keys=True)
    return "m-" + hashlib.sha1(key.encode()).hexdigest()[:8]


def collect(repo: Path, build_info: dict, uring: dict | None) -> dict:
    """Everything we know about where and how a result was measured."""
    cpuinfo = _read("/proc/cpuinfo") or ""
    try:
        cores = len(os.sched_getaffinity(0))
    except OSError:
        cores = os.cpu_count() or 0
    smt = _read("/sys/devices/system/cpu/smt/active")
    commit, dirty = git_state(repo)
    mem_kb = None
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    fp = {
        "cpu_model": cpu_model(cpuinfo),
        "cores_online": cores,
        "arch": platform.machine(),
        "smt": {"1": True, "0": False}.get(smt or "", None),
        "kernel": platform.release(),
        "virtualization": virtualization(cpuinfo),
        "cpu_governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "memory_mib": mem_kb // 1024 if mem_kb else None,
        "compiler": build_info.get("compiler"),
        "flags": build_info.get("flags"),
        "build_type": build_info.get("build_type"),
        "sanitize": build_info.get("sanitize") or None,
        "versions": build_info.get("versions", {}),
        "models_enabled": build_info.get("models_enabled", []),
        "models_disabled": build_info.get("models_disabled", {}),
        "git_commit": commit,
        "git_dirty": dirty,
        "io_uring": uring if uring is not None else {"available": False,
                                                     "reason": "probe not run"},
    }
    fp["fingerprint_id"] = fingerprint_id(fp)
    fp["machine_id"] = machine_id(fp)
    return fp


def short(fp: dict) -> str:
    """One line for chart footers and report headers."""
    return (f"{fp.get('fingerprint_id', '?')}: {fp.get('cpu_model', '?')}, "
            f"{fp.get('cores_online', '?')} cores, kernel {fp.get('kernel', '?')}, "
            f"{fp.get('virtualization', '?')}, {fp.get('compiler', '?')}")
