"""The echo servers of the echo bench (build/benches/switchyard-echo, one per
model, plus the epoll reference) survive what a real server meets: a client
that resets mid-message, a half-close, a flood from a client that never reads
(backpressure: the server stops reading instead of buffering without bound),
and 10,000 connections at once. Uses the test build (`switchyard test` builds
it first); skipped with the reason when it is not built.
"""
import resource
import signal
import socket
from dataclasses import dataclass, field

import pytest

from conftest import TEST_BUILD
from test_peers import FLOOD_LIMIT, connect, flood, payload, recv_exactly, reset, start

SERVERS = ["epoll", "thread_ref", "libuv_ref", "uring_ref", "asio_ref", "thread", "pool", "fiber", "coroutine",
           "coroutine_uring", "uring", "libuv", "asio"]
MANY = 10_000           # connections open at once
MANY_SAMPLE = 100       # echo checked on every MANY_SAMPLE-th connection
STOP_TIMEOUT_S = 5


@dataclass
class server:
    argv: list
    env: dict = field(default_factory=dict)


def echo_exe():
    exe = TEST_BUILD / "benches" / "switchyard-echo"
    if not exe.exists():
        pytest.skip(f"{exe} not built: run `scripts/switchyard test`")
    return exe


def launch(model, sessions):
    return start(server([str(echo_exe()), "--model", model]), sessions)


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=STOP_TIMEOUT_S)
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate()


@pytest.mark.parametrize("model", SERVERS)
def test_echo_server_survives_reset_half_close_and_flood(model, no_leftovers):
    p, port = launch(model, no_leftovers)
    try:
        a = connect(port)
        for seed, size in enumerate((1, 64, 16384)):
            msg = payload(size, seed)
            a.sendall(msg)
            assert recv_exactly(a, size) == msg, f"{model}: size {size} echoed wrong"
        a.close()                                    # the pool serves one at a time
        assert flood(port) < FLOOD_LIMIT, f"{model}: no backpressure"
        reset(port)                                  # a client that resets mid-message
        b = connect(port)                            # ... and the server still serves
        msg = payload(16384, 3)
        b.sendall(msg)
        assert recv_exactly(b, len(msg)) == msg
        b.sendall(msg)                               # half-close: the echo, then EOF
        b.shutdown(socket.SHUT_WR)
        assert recv_exactly(b, len(msg) + 1) == msg
        b.close()
        assert p.poll() is None, f"{model}: the server died"
    finally:
        stop(p)


@pytest.mark.parametrize("model", [m for m in SERVERS if m != "pool"])
def test_echo_server_holds_ten_thousand_connections(model, no_leftovers):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < MANY + 100:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {MANY + 100}: cannot open {MANY} connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, MANY + 100), hard))
    p, port = launch(model, no_leftovers)
    conns = []
    try:
        for _ in range(MANY):
            conns.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        for i in range(0, MANY, MANY_SAMPLE):
            msg = payload(64, i)
            conns[i].sendall(msg)
            assert recv_exactly(conns[i], 64) == msg, f"{model}: connection {i} not served"
        assert p.poll() is None, f"{model}: the server died"
    finally:
        for c in conns:
            c.close()
        stop(p)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_killed_echo_bench_leaves_no_server_or_load_generator(no_leftovers):
    """The watchdog SIGKILLs a bench that hangs: its echo server and load
    generator must die with it (PR_SET_PDEATHSIG), not keep a port and a CPU."""
    import os
    import subprocess
    import time
    from pathlib import Path

    from conftest import _stat, descendants
    exe = TEST_BUILD / "benches" / "bench_echo"
    if not exe.exists():
        pytest.skip(f"{exe} not built: run `scripts/switchyard test`")
    bench = subprocess.Popen([str(exe), "--sy_smoke", "--sy_repetitions=1",
                              "--benchmark_filter=^echo/coroutine/conns:1/size:64/mode:closed"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    no_leftovers.append(bench.pid)
    def ours(pid):
        try:
            cmd = (Path(f"/proc/{pid}/cmdline").read_bytes()).decode(errors="replace")
        except OSError:
            return False
        return "switchyard-echo" in cmd or "switchyard-load" in cmd

    kids, deadline = set(), time.monotonic() + 30
    while len(kids) < 2 and time.monotonic() < deadline and bench.poll() is None:
        kids = {p for p in descendants(bench.pid) if ours(p)}   # the server, the load
        time.sleep(0.01)
    assert len(kids) >= 2, f"bench_echo did not start its server and load generator: {kids}"
    os.kill(bench.pid, signal.SIGKILL)                # only the bench, not its group
    bench.wait()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and any(_stat(p) for p in kids):
        time.sleep(0.05)
    assert not [p for p in kids if _stat(p)], "children of the killed bench survived"
