"""pytest setup: import sylib from scripts/, locate build trees."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DRIVER = REPO / "scripts" / "switchyard"
TEST_BUILD = REPO / "build-test"


@pytest.fixture
def fixtures():
    return FIXTURES


@pytest.fixture
def selftest_build():
    """The test build tree with bench_selftest (made by `switchyard test`)."""
    exe = TEST_BUILD / "benches" / "bench_selftest"
    if not exe.exists():
        pytest.skip(f"{exe} not built: run `scripts/switchyard test` (configures -DSY_SELFTEST=ON)")
    return TEST_BUILD


def driver_env(**extra):
    env = dict(os.environ)
    env.update(extra)
    return env


def sy(*args, env=None, timeout=600):
    """Run scripts/switchyard with args; returns the CompletedProcess."""
    return subprocess.run([str(DRIVER), *map(str, args)], capture_output=True, text=True,
                          env=env or driver_env(), timeout=timeout)


# Progress lines the driver prints before it can detect some input errors.
PROGRESS_PREFIXES = ("switchyard: building ", "switchyard: configuring ")


def one_line_error(r):
    """Assert exit status 2 with exactly one error line (no traceback)."""
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip() and not l.startswith(PROGRESS_PREFIXES)]
    assert len(lines) == 1, r.stderr
    return lines[0]


# ---- process bookkeeping --------------------------------------------------------------

def _stat(pid: int):
    """(ppid, pgid, session) of a live process, None when it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[2]), int(fields[3])


def _pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(root: int) -> set:
    parent = {p: s[0] for p in _pids() if (s := _stat(p))}
    found, frontier = set(), {root}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - found
        found |= frontier
    return found


def session_members(sid: int) -> set:
    return {p for p in _pids() if (s := _stat(p)) and s[2] == sid}


# How long processes a test started may take to go away after it ends.
LEFTOVER_GRACE_S = 5


@pytest.fixture
def no_leftovers():
    """Fails the test if it leaves a child or a member of a session it started
    (the test appends the session ids of what it starts to the yielded list)."""
    sessions = []
    before = descendants(os.getpid())
    yield sessions
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    while True:
        left = (descendants(os.getpid()) - before) | {p for s in sessions
                                                      for p in session_members(s)}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for sid in sessions:
        try:
            os.killpg(sid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"processes left behind: {sorted(left)}"

