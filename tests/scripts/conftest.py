"""pytest setup: import sylib from scripts/, locate build trees."""
import os
import subprocess
import sys
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
