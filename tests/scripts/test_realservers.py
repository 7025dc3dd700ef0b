"""The real-server benches (bench_redis, bench_http, bench_sql): a smoke run of every
model against the private redis-server / nginx / mariadbd gives verified rows (or skips
with a reason), and no server process or temp dir outlives the bench -- after
a normal exit, and after the bench is killed (PR_SET_PDEATHSIG).

Bench binaries come from the test build tree (`switchyard test`), else
build/ (`switchyard run`); $SY_BENCH_BUILD names another tree. Not built:
skipped with the reason.
"""
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, TEST_BUILD

BENCHES = ("redis", "http", "sql")
SMOKE_TIMEOUT_S = 120
GONE_TIMEOUT_S = 10
# "switchyard: redis-server pid 123 on 127.0.0.1:4567 in /tmp/switchyard-redis-..., pinned ..."
STARTED = re.compile(r"switchyard: (\S+) pid (\d+) on 127\.0\.0\.1:\d+ in (/\S+?),")


def bench_exe(name):
    trees = [Path(os.environ["SY_BENCH_BUILD"])] if os.environ.get("SY_BENCH_BUILD") else []
    trees += [TEST_BUILD, REPO / "build"]
    for tree in trees:
        exe = tree / "benches" / f"bench_{name}"
        if exe.exists():
            return exe
    pytest.skip(f"bench_{name} not built in {', '.join(map(str, trees))}: "
                "run `scripts/switchyard test` or `scripts/switchyard run`")


def bench_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "SY_NO_PEERS"}
    env.update(extra)
    return env


def running(pid):
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def processes_in(prefix):
    """Live processes whose working directory or command line mentions prefix."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or not running(d.name):
            continue
        try:
            cwd = os.readlink(d / "cwd")
        except OSError:
            cwd = ""
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            cmd = ""
        if cwd.startswith(prefix) or prefix in cmd:
            found.append(f"{d.name}: {cmd.strip()} (cwd {cwd})")
    return found


def wait_gone(pid):
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not running(pid)


def smoke(name, **env):
    exe = bench_exe(name)
    p = subprocess.Popen([str(exe), "--sy_smoke", "--benchmark_min_time=0.001",
                          "--benchmark_format=json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=bench_env(**env))
    try:
        out, err = p.communicate(timeout=SMOKE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail(f"{exe.name} --sy_smoke did not finish within {SMOKE_TIMEOUT_S} s")
    return p.pid, p.returncode, out, err


@pytest.mark.parametrize("name", BENCHES)
def test_smoke_rows_are_verified_and_nothing_is_left_behind(name):
    pid, rc, out, err = smoke(name)
    assert rc == 0, err[-2000:]
    rows = json.loads(out)["benchmarks"]
    assert rows, "no benchmark ran"
    models = set()
    for r in rows:
        if r.get("error_occurred"):
            msg = r["error_message"]
            assert msg.startswith("skipped: ") and len(msg) > len("skipped: "), (r["name"], msg)
            continue
        assert r["requests"] > 0 and r["errors"] == 0, r
        models.add(r["name"].split("/")[1])
    started = STARTED.findall(err)
    if not models:
        pytest.skip("every case skipped: " + rows[0]["error_message"])
    assert len(started) == 1, f"expected one server start line on stderr, got: {err[-2000:]}"
    _, server_pid, tmp = started[0]
    assert tmp.startswith(f"/tmp/switchyard-{name}-{pid}-"), tmp
    assert not running(int(server_pid)), f"server pid {server_pid} still runs after the bench exited"
    assert not Path(tmp).exists(), f"{tmp} was not removed"
    assert processes_in(f"/tmp/switchyard-{name}-{pid}-") == []
    if name == "http":
        assert any(r["name"].startswith("http/wrk/") for r in rows), "no wrk cross-check row"


@pytest.mark.parametrize("name", BENCHES)
def test_no_peers_skips_every_case_without_starting_a_server(name):
    pid, rc, out, err = smoke(name, SY_NO_PEERS="1")
    assert rc == 0, err[-2000:]
    rows = json.loads(out)["benchmarks"]
    assert rows and all(r.get("error_message") == "skipped: --no-peers" for r in rows), rows[:2]
    assert not STARTED.search(err), err
    assert processes_in(f"/tmp/switchyard-{name}-{pid}-") == []


@pytest.mark.parametrize("name", BENCHES)
def test_a_killed_bench_takes_its_server_along(name):
    exe = bench_exe(name)
    # --sy_quick: long enough to be killed while its server runs.
    p = subprocess.Popen([str(exe), "--sy_quick", "--benchmark_min_time=0.5"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=bench_env())
    try:
        deadline = time.monotonic() + SMOKE_TIMEOUT_S
        line = ""
        while time.monotonic() < deadline:
            line = p.stderr.readline()
            if not line or STARTED.search(line):
                break
        m = STARTED.search(line)
        if not m:
            pytest.skip(f"{exe.name} started no server (not installed?)")
        server_pid, tmp = int(m.group(2)), m.group(3)
        assert running(server_pid)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=GONE_TIMEOUT_S)
        assert wait_gone(server_pid), f"server pid {server_pid} outlived the killed bench"
        assert processes_in(tmp) == []
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stderr.close()
    # The killed bench could not remove its temp dir: the next bench of the
    # same kind does.
    assert Path(tmp).exists()
    pid, rc, _, err = smoke(name)
    assert rc == 0, err[-2000:]
    assert not Path(tmp).exists(), f"stale {tmp} was not removed by the next run"


def test_server_packages_are_installed_unless_no_peers():
    from sylib import deps
    for pkg in ("redis-server", "nginx", "mariadb-server", "wrk"):
        assert pkg in deps.packages_for("run") and pkg in deps.packages_for("test")
        assert pkg not in deps.packages_for("run", peers=False)
