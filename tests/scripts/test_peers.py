"""Peer systems (issue 10): every peer echo server in runners/peers/peers.json
starts, announces its port, echoes, survives resets and half-close, stops on
SIGTERM without a traceback and leaves no process behind; py_microbench.py
writes Google Benchmark JSON that the result tools read; the driver plumbing
(--no-peers, apt packages, the pybench command, the bench environment).
A peer whose requirement is missing here is skipped with the reason.
"""
import dataclasses
import io
import json
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, _stat, descendants, one_line_error, sy

from sylib import deps, main, peers, run
from sylib.results import InputError, load_gb_json

sys.path.insert(0, str(peers.PEERS_DIR))
import py_microbench  # noqa: E402

START_TIMEOUT_S = 10
STOP_TIMEOUT_S = 5
IO_TIMEOUT_S = 5
REAP_S = 0.5
FLOOD_LIMIT = 64 << 20      # an echo server that reads without bound would take all of it
FLOOD_SETTLE_S = 0.2
SIZES = (1, 64, 16384)
PEER_NAMES = [p.name for p in peers.load(Path("/nonexistent-build"))]
FIXED_NAMES = {"py_asyncio", "py_asyncio_proto", "py_uvloop", "py_uvloop_proto", "py_gevent",
               "py_threads", "node", "go_gomaxprocs1", "go"}


# ---- the peers ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    """A build tree holding the Go peer, built here (caches in the tree, no $HOME)."""
    d = tmp_path_factory.mktemp("build")
    peers.build_go(d)   # a failure shows in test_go_peer_builds; here the go peers skip
    return d


def test_go_peer_builds(build_dir):
    if not shutil.which("go"):
        pytest.skip("go is not installed (apt-get install golang-go)")
    assert peers.build_go(build_dir) == ""
    assert os.access(build_dir / "peers" / "go_echo", os.X_OK)


def start(peer, sessions):
    p = subprocess.Popen(peer.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=dict(os.environ, **peer.env), start_new_session=True)
    sessions.append(p.pid)
    line = read_line(p.stdout, START_TIMEOUT_S)
    assert line.endswith(b"\n") and line.startswith(b"port "), \
        (line, p.poll(), stderr_after_kill(p))
    port = int(line[len(b"port "):])
    assert 0 < port < 65536
    return p, port


def read_line(stream, timeout: float) -> bytes:
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            break
        chunk = os.read(stream.fileno(), 4096)
        if not chunk:
            break
        data += chunk
    sel.close()
    return data


def stderr_after_kill(p) -> str:
    p.kill()
    return p.communicate()[1].decode(errors="replace")


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exactly(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def payload(size: int, seed: int) -> bytes:
    return bytes((i * 31 + seed) % 251 for i in range(size))


def flood(port: int) -> int:
    """Send without reading the echo until the sender blocks; the bytes sent.
    A server with backpressure stops reading, so this ends at the socket buffers."""
    s = connect(port)
    s.setblocking(False)
    chunk, sent, blocked_since = bytes(65536), 0, None
    while sent < FLOOD_LIMIT:
        try:
            sent += s.send(chunk)
            blocked_since = None
        except BlockingIOError:
            blocked_since = blocked_since or time.monotonic()
            if time.monotonic() - blocked_since > FLOOD_SETTLE_S:
                break
            time.sleep(0.01)
    s.close()
    return sent


def reset(port: int) -> None:
    """Connect, send, and close with RST (SO_LINGER 0) without reading the echo."""
    s = connect(port)
    s.sendall(payload(4096, 7))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


@pytest.mark.parametrize("name", PEER_NAMES)
def test_peer_echoes_and_stops_cleanly(name, build_dir, no_leftovers):
    peer = {p.name: p for p in peers.load(build_dir)}[name]
    why = peers.unmet(peer.requires)
    if why:
        pytest.skip(f"{name}: {why}")
    p, port = start(peer, no_leftovers)
    try:
        a, b = connect(port), connect(port)        # two connections, interleaved
        for seed, size in enumerate(SIZES):
            for s in (a, b):
                msg = payload(size, seed)
                s.sendall(msg)
                assert recv_exactly(s, size) == msg, f"{name}: size {size} echoed wrong"
        assert flood(port) < FLOOD_LIMIT, f"{name}: no backpressure"
        reset(port)                                 # a client reset ...
        msg = payload(16384, 3)
        a.sendall(msg)                              # ... leaves the others served
        assert recv_exactly(a, len(msg)) == msg
        a.sendall(msg)                              # half-close: the echo, then EOF
        a.shutdown(socket.SHUT_WR)
        assert recv_exactly(a, len(msg) + 1) == msg
        a.close()
        p.send_signal(signal.SIGTERM)               # b is still open
        try:
            rc = p.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name}: still running {STOP_TIMEOUT_S} s after SIGTERM")
        b.close()
        _, err = p.communicate()
        assert rc in (0, -signal.SIGTERM), (rc, err)
        assert b"Traceback" not in err, err.decode(errors="replace")
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate()


def test_registry_has_the_fixed_names():
    assert set(PEER_NAMES) == FIXED_NAMES
    go = {p.name: p for p in peers.load(Path("/b"))}
    assert go["go_gomaxprocs1"].env == {"GOMAXPROCS": "1"}
    assert go["go"].argv == ["/b/peers/go_echo"] and "GOMAXPROCS" not in go["go"].env
    assert go["py_uvloop"].argv[1] == str(peers.PEERS_DIR / "py_echo.py")


def test_unmet_requirements_name_the_reason(tmp_path):
    assert peers.unmet(["/usr/bin/python3"]) == ""
    assert "is missing" in peers.unmet([str(tmp_path / "nope")])
    assert "no_such_module_xyz" in peers.unmet(["python3:no_such_module_xyz"])


@pytest.mark.parametrize("argv", [
    ["/usr/bin/python3", str(peers.PEERS_DIR / "py_echo.py"), "--variant", "bogus"],
    ["/usr/bin/python3", str(peers.PEERS_DIR / "py_echo.py"), "--variant", "asyncio",
     "--port", "x"],
])
def test_py_echo_bad_arguments_are_one_line_exit_2(argv):
    one_line_error(subprocess.run(argv, capture_output=True, text=True, timeout=30))


# ---- py_microbench --------------------------------------------------------------------

def test_microbench_smoke_is_gb_json_that_compare_reads(tmp_path, no_leftovers):
    out = tmp_path / "pybench.json"
    r = subprocess.run([*peers.microbench_command("smoke"), "--out", str(out)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    data = load_gb_json(out)
    rows = [b for b in data["benchmarks"] if b["run_type"] == "iteration"]
    listed = peers.list_microbench("smoke", None)
    assert sorted({b["name"] for b in rows}) == sorted(listed)
    for b in rows:
        assert not b.get("error_occurred") or b["error_message"].startswith("skipped: "), b
    ok = {b["name"]: b for b in rows if not b.get("error_occurred")}
    assert ok["pyswitch/py_asyncio/real_time"]["switches"] == py_microbench.TIERS["smoke"].switches
    assert ok["pygather/py_threads/n:100/real_time"]["tasks"] == 100
    assert ok["pyexecutor/py_threads/executor:process/fn:cpu/real_time"]["calls"] > 0
    smoke = py_microbench.TIERS["smoke"]
    for form in py_microbench.ITER_FORMS:
        row = ok[f"pyiter/py_asyncio/form:{form}/suspend:1/real_time"]
        assert row["items"] == smoke.items_suspend
        assert row["checksum"] == py_microbench.expected_sum(smoke.items_suspend)
    row = ok["pyctx/py_uvloop/form:async_with/suspend:0/real_time"]
    assert row["checksum"] == py_microbench.expected_sum(smoke.items) + 2 * smoke.items
    for key in ("date", "host_name", "executable", "num_cpus", "versions"):
        assert key in data["context"]
    assert data["context"]["library_build_type"] == "release"
    c = sy("compare", out, out, "--json", timeout=120)
    assert c.returncode == 0, c.stderr
    assert "pyswitch/py_uvloop" in c.stdout


def test_microbench_phase_timeout_kills_the_phase(monkeypatch, no_leftovers):
    smoke = dataclasses.replace(py_microbench.TIERS["smoke"], phase_timeout_s=0.05)
    monkeypatch.setitem(py_microbench.TIERS, "smoke", smoke)
    regex = "^pyexecutor/py_threads/executor:process"
    cases = py_microbench.select(py_microbench.plan(py_microbench.TIERS["smoke"]), regex)
    results = py_microbench.run_all(cases, "smoke", 1, regex)
    assert {why for _, why in results.values()} == {"timeout after 0.05 s: killed"}


def test_microbench_sigterm_kills_its_phase_and_workers(no_leftovers):
    p = subprocess.Popen([*peers.microbench_command("quick", filter="executor:process"),
                          "--out", os.devnull], stderr=subprocess.PIPE, text=True)
    no_leftovers.append(p.pid)
    deadline = time.monotonic() + START_TIMEOUT_S
    while len(descendants(p.pid)) < 2 and time.monotonic() < deadline:   # phase + a worker
        time.sleep(0.02)
    seen = descendants(p.pid)
    assert len(seen) >= 2, "no executor worker appeared"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=STOP_TIMEOUT_S + 5)
    assert p.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    # The group is killed before the parent exits; orphans are re-parented, so
    # track the pids seen (a phase left running would go on for seconds).
    deadline = time.monotonic() + REAP_S
    while (alive := {pid for pid in seen if _stat(pid)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive, f"left behind: {sorted(alive)}"


def test_microbench_list_and_filter():
    names = peers.list_microbench("full", "^pyswitch/")
    assert names == [f"pyswitch/{s}/real_time" for s in py_microbench.SYSTEMS]
    assert peers.list_microbench("quick", "no-such-bench-xyz") == []
    assert "pygather/py_threads/n:100000/real_time" in peers.list_microbench("full", "n:100000")
    assert peers.list_microbench("smoke", "^pyctx/py_asyncio/") == [
        f"pyctx/py_asyncio/form:{f}/suspend:{s}/real_time"
        for s in (0, 1) for f in py_microbench.CTX_FORMS]


@pytest.mark.parametrize("family,forms", [("pyiter", "ITER_FORMS"), ("pyctx", "CTX_FORMS")])
def test_microbench_forms_compute_the_same_checksum(family, forms):
    """Every form of pyiter/pyctx does the same work: one loop per form, both
    suspend settings, the checksum the parent checks."""
    for form in getattr(py_microbench, forms):
        for suspend in (0, 1):
            case = py_microbench.Case(f"{family}/py_asyncio/form:{form}/suspend:{suspend}",
                                      family, "py_asyncio", form=form, suspend=suspend)
            forms_ = py_microbench.Forms(case, 50)
            try:
                assert forms_.run() == py_microbench.expected_form_sum(family, 50), form
            finally:
                forms_.close()


def test_microbench_threads_are_capped_and_labelled():
    cases = {c.name: c for c in py_microbench.plan(py_microbench.TIERS["full"])}
    assert "capped at" in cases["pygather/py_threads/n:100000"].skip
    assert cases["pygather/py_threads/n:10000"].capped
    assert not cases["pygather/py_asyncio/n:100000"].skip


def test_microbench_missing_module_is_a_skip(monkeypatch):
    monkeypatch.setitem(py_microbench.NEEDS, "py_gevent", ("no_such_module_xyz", "python3-nope"))
    cases = py_microbench.select(py_microbench.plan(py_microbench.TIERS["smoke"]),
                                 "^pyswitch/py_gevent")
    results = py_microbench.run_all(cases, "smoke", 1, "^pyswitch/py_gevent")
    [e] = py_microbench.benchmark_entries(cases, results, 1)
    assert e["error_occurred"] and e["error_message"].startswith("skipped: python3 module")


@pytest.mark.parametrize("args", [["--tier", "huge"], ["--repetitions", "0"],
                                  ["--filter", "(unclosed"]])
def test_microbench_bad_arguments_are_one_line_exit_2(args):
    one_line_error(subprocess.run([*peers.microbench_command("smoke"), *args],
                                  capture_output=True, text=True, timeout=30))


# ---- driver plumbing ------------------------------------------------------------------

def test_run_no_peers_parses():
    assert main.make_parser().parse_args(["run", "--no-peers"]).no_peers
    assert not main.make_parser().parse_args(["run"]).no_peers


def test_peer_packages_are_installed_unless_no_peers():
    for pkg in ("python3-uvloop", "python3-gevent", "nodejs", "golang-go"):
        assert pkg in deps.packages_for("run") and pkg in deps.packages_for("test")
        assert pkg not in deps.packages_for("run", peers=False)
        assert pkg not in deps.packages_for("compare")


def test_bench_env_tells_bench_echo_where_the_peers_are(tmp_path):
    env = peers.bench_env(tmp_path, enabled=True)
    assert env == {"SY_PEERS_DIR": str(REPO / "runners" / "peers"), "SY_BUILD_DIR": str(tmp_path)}
    assert peers.bench_env(tmp_path, enabled=False)["SY_NO_PEERS"] == "1"


def test_pybench_command_writes_raw_json_and_shows_without_it(tmp_path):
    cfg = run.RunConfig(quick=True, filter="pyswitch")
    job = run.Job(peers.PYBENCH, peers.MICROBENCH, 0, False, [])
    cmd, shown = run.bench_command(job, tmp_path / "raw.json", cfg)
    assert cmd[:2] == ["/usr/bin/python3", str(peers.MICROBENCH)]
    assert cmd[-2:] == ["--out", str(tmp_path / "raw.json")]
    # one repetition per process: the repetitions come from the run's rounds
    assert "--tier quick" in shown and "--repetitions 1" in shown and "raw.json" not in shown


def test_go_build_keeps_caches_in_the_build_tree(tmp_path):
    cmd, env = peers.go_build_command(tmp_path)
    assert cmd[-3:] == ["-o", str(tmp_path / "peers" / "go_echo"), str(peers.GO_SOURCE)]
    assert env["GO111MODULE"] == "off"
    assert env["GOCACHE"].startswith(str(tmp_path)) and env["GOPATH"].startswith(str(tmp_path))


def _fake_build(monkeypatch):
    """run.execute without the C++ build: no bench executables, no charts."""
    from sylib import postrun
    monkeypatch.setattr(run.buildmod, "build", lambda *a, **k: {"benches": []})
    monkeypatch.setattr(run, "probe_uring", lambda build_dir: {"available": False})
    monkeypatch.setattr(postrun, "after_run", lambda out, log=None: None)


def test_run_builds_go_and_runs_pybench_as_a_bench(tmp_path, monkeypatch, no_leftovers):
    _fake_build(monkeypatch)
    cfg = run.RunConfig(quick=True, filter="^pyswitch/py_(asyncio|threads)/", repetitions=1,
                        out=tmp_path / "out", build_dir=tmp_path / "build")
    assert run.execute(cfg, log=io.StringIO()) == 0
    if shutil.which("go"):
        assert os.access(tmp_path / "build" / "peers" / "go_echo", os.X_OK)
    [rec] = json.loads((tmp_path / "out" / "run.json").read_text())["benches"]
    assert (rec["bench"], rec["status"], rec["benchmarks"], rec["json"]) == \
        ("pybench", "ok", 2, "pybench.json")
    data = load_gb_json(tmp_path / "out" / "pybench.json")
    assert data["context"]["fingerprint"]["fingerprint_id"]
    assert data["context"]["switchyard"]["status"] == "ok"
    assert {b["name"] for b in data["benchmarks"]} == \
        {"pyswitch/py_asyncio/real_time", "pyswitch/py_threads/real_time"}


def test_run_no_peers_runs_no_pybench(tmp_path, monkeypatch):
    _fake_build(monkeypatch)
    cfg = run.RunConfig(quick=True, filter="^pyswitch/", out=tmp_path / "out",
                        build_dir=tmp_path / "build", peers=False)
    with pytest.raises(InputError, match="matches no benchmark"):
        run.execute(cfg, log=io.StringIO())
    assert not (tmp_path / "build" / "peers").exists()
