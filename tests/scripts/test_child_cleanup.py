"""A bench_echo killed by the watchdog (SIGKILL: no handler, no destructor
runs) takes its echo server and its load generator along: both are started
through sy::child_process (benches/common/child_process.hpp), which sets
PR_SET_PDEATHSIG(SIGKILL) in the child.

The bench runs one closed-loop case for many repetitions (each repetition is
one load run against a freshly started server), so the test can catch a
moment when both children exist, kill the bench, and wait -- polling, with a
generous deadline for a busy 2-core VM -- until none of them is alive.

bench_echo comes from the test build tree (`switchyard test`), else build/
(`switchyard run`); $SY_BENCH_BUILD names another tree. Not built: skipped
with the reason.
"""
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from conftest import _pids, _stat
from test_realservers import bench_exe

CASE = "echo/epoll/conns:10/size:64/mode:closed"
REPETITIONS = 1000        # far more than the test waits for: the bench is killed long before
CHILDREN = ("switchyard-echo", "switchyard-load")
START_DEADLINE_S = 120    # bench start-up and the first server + load run, on a loaded VM
GONE_DEADLINE_S = 10      # PDEATHSIG acts at once; this only absorbs a slow scheduler
POLL_S = 0.02


def identity(pid):
    """(program name, start time) of a live process, None when it is gone or
    a zombie. The start time tells a reused pid from the process we saw."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        exe = os.path.basename((Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]).decode())
    except OSError:
        return None
    state, *rest = stat[stat.rindex(")") + 2:].split()
    if state in ("Z", "X"):
        return None
    return exe, int(rest[18])  # field 22, starttime


def children_of(pid):
    """{pid: identity} of the live children of pid."""
    out = {}
    for p in _pids():
        s = _stat(p)
        if s and s[0] == pid and (ident := identity(p)):
            out[p] = ident
    return out


def alive(found):
    return {p: ident for p, ident in found.items() if identity(p) == ident}


def test_a_killed_bench_echo_leaves_no_server_or_load_generator(no_leftovers):
    exe = bench_exe("echo")
    env = dict(os.environ, SY_NO_PEERS="1")
    with tempfile.TemporaryFile(mode="w+") as err:
        p = subprocess.Popen([str(exe), "--sy_quick", f"--sy_repetitions={REPETITIONS}",
                              f"--benchmark_filter={CASE}"],
                             stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True)
        no_leftovers.append(p.pid)  # its session: killed and checked after the test
        found = {}
        try:
            deadline = time.monotonic() + START_DEADLINE_S
            while time.monotonic() < deadline and p.poll() is None:
                kids = children_of(p.pid)
                if {ident[0] for ident in kids.values()} >= set(CHILDREN):
                    found = kids
                    break
                time.sleep(POLL_S)
            if not found:
                err.seek(0)
                raise AssertionError(f"bench_echo never ran {' and '.join(CHILDREN)} at once within "
                                     f"{START_DEADLINE_S} s (exit {p.poll()}): {err.read()[-2000:]}")
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=GONE_DEADLINE_S)
            deadline = time.monotonic() + GONE_DEADLINE_S
            while alive(found) and time.monotonic() < deadline:
                time.sleep(POLL_S)
            survivors = alive(found)
            assert not survivors, (f"children outlived the killed bench_echo by {GONE_DEADLINE_S} s: "
                                   f"{sorted(survivors.items())}")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            for pid in alive(found):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
