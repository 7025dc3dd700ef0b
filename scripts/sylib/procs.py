"""Run one bench process under a watchdog.

Each bench executable runs in its own process group. On timeout the group
gets SIGTERM, then SIGKILL after a grace period; a crash is reported with its
signal name. Nothing here raises for a failing child: the caller records the
outcome and goes on with the next bench.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass

KILL_GRACE_S = 3.0


@dataclass
class Outcome:
    status: str          # "ok" | "failed" | "crashed" | "timeout" | "error"
    returncode: int | None
    seconds: float
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def describe_returncode(rc: int) -> tuple[str, str]:
    if rc == 0:
        return "ok", ""
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return "crashed", f"killed by {name}"
    return "failed", f"exit status {rc}"


def _kill_group(p: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(cmd: list[str], *, timeout: float, log_path: str, env: dict | None = None,
        cwd: str | None = None, cpus: list[int] | None = None) -> Outcome:
    """`cpus`: the CPU affinity the child starts with (None: inherit)."""
    start = time.monotonic()
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    with open(log_path, "wb") as log:
        try:
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                 cwd=cwd, start_new_session=True, preexec_fn=pin)
        except OSError as e:
            return Outcome("error", None, 0.0, f"cannot start {cmd[0]}: {e.strerror}")
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(p)
            return Outcome("timeout", p.returncode, time.monotonic() - start,
                           f"timeout after {timeout:g} s: killed by the watchdog")
        except BaseException:
            _kill_group(p)
            raise
    status, reason = describe_returncode(rc)
    return Outcome(status, rc, time.monotonic() - start, reason)
