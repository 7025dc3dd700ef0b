"""pytest setup: import sylib from scripts/, locate build trees."""
import os
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
