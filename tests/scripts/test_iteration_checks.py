"""Every iteration's work is checked, not only the last: with
SY_TEST_BAD_ITERATION=2 (a test hook that flips one bit of iteration 3's
checksum), every benchmark of the workloads that record each iteration fails
with the iteration named; without it, none does (the smoke run). Uses the
test build; skipped with the reason when it is not built."""
import json
import os
import subprocess

import pytest

from conftest import TEST_BUILD

WORKLOADS = ["switch", "spawn", "skynet", "compute", "brigade", "fileread", "locks", "asynciter"]
# The falsifier must lose updates, the same number in every iteration: it is
# checked on that (its lost count), not on a checksum the hook could flip.
EXEMPT = ("locks/", "/sync:none/suspend:1")


@pytest.mark.parametrize("workload", WORKLOADS)
def test_a_wrong_middle_iteration_fails_the_benchmark(workload, tmp_path):
    exe = TEST_BUILD / "benches" / f"bench_{workload}"
    if not exe.exists():
        pytest.skip(f"{exe} not built: run `scripts/switchyard test`")
    out = tmp_path / "out.json"
    env = dict(os.environ, SY_TEST_BAD_ITERATION="2")
    r = subprocess.run([str(exe), "--sy_smoke", "--sy_iterations=5",
                        f"--benchmark_out={out}", "--benchmark_out_format=json"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 1, r.stderr[-2000:]          # the bench says checks failed
    rows = json.loads(out.read_text())["benchmarks"]
    timed = [b for b in rows if not str(b.get("error_message", "")).startswith("skipped: ")]
    assert timed, "nothing ran"
    for b in timed:
        if b.get("iterations", 5) < 3:                   # Iterations(1) rows have no iteration 3
            continue
        if b["name"].startswith(EXEMPT[0]) and EXEMPT[1] in b["name"]:
            continue
        assert b.get("error_occurred"), f"{b['name']} passed with a wrong iteration 3"
        assert "mismatch in iteration 3 of 5" in b["error_message"], b["error_message"]
