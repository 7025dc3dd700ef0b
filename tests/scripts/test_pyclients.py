"""The Python clients of the real servers (runners/peers/py_redis_asyncio.py,
py_aiohttp.py, py_aiomysql.py, their plumbing pyclient.py) and their rows in
bench_redis / bench_http (benches/realserver/pyclient.hpp).

Pure parts without a server: the split of requests, the reply checks, the
SQL plan and checksum (against a fake cursor), the command lines (bad
arguments: one line, exit 2; a refused port: one line, exit 1). End to end:
each bench's smoke py_ rows against its private server (the C++ side stored
the keys, wrote the files and loaded the table, and computes the checksum a
row must reach, so a Python client that computed them differently fails
there), a fake client proving that a wrong count or a
failing client fails the row with its reason. Skips say why.
"""
import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, one_line_error
from test_realservers import bench_env, bench_exe, processes_in, wait_gone

PEERS = REPO / "runners" / "peers"
sys.path.insert(0, str(PEERS))
import py_aiohttp  # noqa: E402
import py_aiomysql  # noqa: E402
import py_redis_asyncio  # noqa: E402
import pyclient  # noqa: E402

PYTHON = "/usr/bin/python3"
RUN_TIMEOUT_S = 30
BENCH_TIMEOUT_S = 60
PROGRAMS = {
    "py_redis_asyncio.py": ["--op", "get"],
    "py_aiohttp.py": ["--size", "1024"],
    "py_aiomysql.py": ["--query", "point"],
}


def run(script, *args, env=None):
    return subprocess.run([PYTHON, str(PEERS / script), *args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, env=env)


def refused_port() -> int:
    """A loopback port nobody listens on (bound, never listened, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- pure parts -----------------------------------------------------------------------

def test_shares_cover_every_request_once_in_whole_shares_like_the_cpp_clients():
    got = pyclient.shares(1600, 100)
    assert len(got) == 100 and {count for _, count in got} == {16}
    covered = sorted(i for first, count in got for i in range(first, first + count))
    assert covered == list(range(1600))
    assert pyclient.shares(160, 1) == [(0, 160)]


def test_redis_keys_wrap_and_replies_are_checked_exactly():
    assert py_redis_asyncio.key_sequence(998, 4) == [998, 999, 0, 1]
    assert py_redis_asyncio.key(7) == "key:000007"
    v = py_redis_asyncio.VALUES
    # benches/redis.cpp: byte j of key i is 'a' + (i*7 + j*13) % 26
    assert len(v) == 1000 and {len(x) for x in v} == {64}
    assert v[0] == b"an" * 32 and v[1] == b"hu" * 32 and v[4] != v[3]
    t = pyclient.Tally()
    py_redis_asyncio.check("get", 3, v[3], t)
    py_redis_asyncio.check("set", 3, True, t)
    assert (t.requests, t.checksum, t.errors) == (2, 128, 0)
    py_redis_asyncio.check("get", 3, v[4], t)        # another key's value
    py_redis_asyncio.check("get", 3, None, t)        # nil
    py_redis_asyncio.check("set", 3, b"OK", t)       # not redis-py's True
    assert (t.requests, t.errors) == (2, 3) and "wrong value" in t.first_error


class Headers(dict):
    pass


def test_http_checks_status_length_chunking_and_every_byte():
    want = py_aiohttp.content(1024)
    assert len(want) == 1024 and py_aiohttp.path(1024) == "/1024.bin"
    ok = Headers({"Content-Length": "1024"})
    assert py_aiohttp.check(200, ok, want, want) == ""
    assert py_aiohttp.check(404, ok, want, want) == "status 404"
    assert py_aiohttp.check(200, Headers({"Content-Length": "1024",
                                          "Transfer-Encoding": "chunked"}), want, want) \
        == "chunked response"
    assert "Content-Length missing" in py_aiohttp.check(200, Headers(), want, want)
    bad = bytearray(want)
    bad[700] ^= 1
    assert py_aiohttp.check(200, ok, bytes(bad), want) == "body differs near byte 700"


def test_sql_keys_ranges_and_rows_follow_benches_sql_cpp():
    # sql.cpp: key(n) = (n * 7919) % 10000; a range starts at key % 9901
    assert [py_aiomysql.key("point", n) for n in (0, 1, 2)] == [0, 7919, 5838]
    assert py_aiomysql.key("range", 1) == 7919 and py_aiomysql.key("range", 2) == 5838
    assert py_aiomysql.key("range", 3) == 3757 and py_aiomysql.key("range", 4) == 1676
    assert py_aiomysql.key("range", 5) == 9595 % 9901
    for n in range(0, 20000, 7):
        s = py_aiomysql.key("range", n)
        assert 0 <= s and s + py_aiomysql.RANGE - 1 < py_aiomysql.ROWS
    # mariadb.hpp: row_v = id * 2654435761 % 1000000007, s = 16 letters
    assert py_aiomysql.row(1) == (1, 2654435761 % 1_000_000_007, "hu" * 8)
    assert py_aiomysql.row_s(0) == "an" * 8
    args, rows = py_aiomysql.plan("range", 1)
    assert args == (7919, 8018) and [r[0] for r in rows] == list(range(7919, 8019))
    assert py_aiomysql.plan("insert", 1, client=3) == ((3, py_aiomysql.row_v(7919)), [])


class FakeCursor:
    """Answers from the rows py_aiomysql expects; `corrupt` = a request index
    whose first row comes back with another value."""

    def __init__(self, corrupt=None):
        self.corrupt, self.rows, self.rowcount, self.n = corrupt, [], 0, -1

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    async def execute(self, sql, args):
        self.n += 1
        if sql.startswith("INSERT"):
            self.rows, self.rowcount = [], 1
            return
        lo, hi = (args[0], args[0]) if len(args) == 1 else args
        self.rows = [list(py_aiomysql.row(i)) for i in range(lo, hi + 1)]
        if self.n == self.corrupt:
            self.rows[0][1] += 1
        self.rowcount = len(self.rows)

    async def fetchall(self):
        return [tuple(r) for r in self.rows]


class FakePool:
    def __init__(self, cursor):
        self.cur = cursor

    def acquire(self):
        pool = self

        class Conn:
            async def __aenter__(self):
                return self

            async def __aexit__(self, *exc):
                return False

            def cursor(self):
                return pool.cur
        return Conn()


@pytest.mark.parametrize("query", py_aiomysql.QUERIES)
def test_sql_client_checksum_and_rows_against_a_fake_cursor(query):
    t = pyclient.Tally(extra={"rows": 0})
    asyncio.run(py_aiomysql.client(FakePool(FakeCursor()), query, 2, 40, 30, t))
    assert (t.requests, t.errors) == (30, 0)
    assert t.checksum == py_aiomysql.expected_checksum(query, 40, 30) > 0
    assert t.extra["rows"] == 30 * (py_aiomysql.RANGE if query == "range" else 1)
    if query != "insert":
        bad = pyclient.Tally(extra={"rows": 0})
        asyncio.run(py_aiomysql.client(FakePool(FakeCursor(corrupt=5)), query, 2, 40, 30, bad))
        assert (bad.requests, bad.errors) == (29, 1) and "request 45" in bad.first_error


# ---- command lines --------------------------------------------------------------------

@pytest.mark.parametrize("script", PROGRAMS)
@pytest.mark.parametrize("bad", [
    ["--mode", "sequential", "--concurrency", "3", "--requests", "30"],
    ["--mode", "concurrent", "--concurrency", "7", "--requests", "30"],
    ["--mode", "sideways", "--requests", "30"],
    ["--mode", "sequential", "--requests", "0"],
    ["--mode", "sequential", "--requests", "10", "--loop", "trio"],
    ["--mode", "sequential", "--requests", "10", "--host", "example.com"],
])
def test_bad_arguments_are_one_line_and_exit_2(script, bad):
    r = run(script, "--port", "1", *PROGRAMS[script], *bad)
    assert one_line_error(r).startswith(script[:-3] + ": ")


@pytest.mark.parametrize("script", PROGRAMS)
@pytest.mark.parametrize("loop", pyclient.LOOPS)
def test_a_refused_port_is_one_line_and_exit_1(script, loop):
    r = run(script, "--port", str(refused_port()), *PROGRAMS[script], "--mode", "sequential",
            "--requests", "10", "--loop", loop, "--timeout", "5")
    assert r.returncode == 1 and r.stdout == "", (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith(script[:-3] + ": 127.0.0.1:"), r.stderr


# ---- the bench rows -------------------------------------------------------------------

def bench_smoke(name, filter_, rc=0, **env):
    """The rows of a smoke run; `rc` 1: the bench must report failed rows."""
    exe = bench_exe(name)
    r = subprocess.run([str(exe), "--sy_smoke", "--benchmark_min_time=0.001",
                        "--benchmark_format=json", f"--benchmark_filter={filter_}"],
                       capture_output=True, text=True, timeout=BENCH_TIMEOUT_S,
                       env=bench_env(**env))
    assert r.returncode == rc, r.stderr[-2000:]
    return json.loads(r.stdout)["benchmarks"], r.stderr


def first_skip(rows):
    return next((r["error_message"] for r in rows
                 if r.get("error_message", "").startswith("skipped: ")), None)


@pytest.mark.parametrize("name,peer", [("redis", "py_redis_asyncio"), ("http", "py_aiohttp"),
                                       ("sql", "py_aiomysql")])
def test_bench_rows_are_verified_against_the_private_server(name, peer):
    rows, _ = bench_smoke(name, f"^{name}/{peer}/")
    assert rows, f"no {name}/{peer} row registered"
    if all(r.get("error_occurred") for r in rows) and (why := first_skip(rows)):
        pytest.skip(why)
    loops = set()
    for r in rows:
        assert not r.get("error_occurred"), (r["name"], r.get("error_message"))
        assert r["errors"] == 0 and r["requests"] > 0 and r["checksum"] > 0, r
        assert r["real_time"] > 0 and r["iterations"] == 1, r
        loops.add(next(p for p in r["name"].split("/") if p.startswith("loop:")))
        assert "/mode:sequential/concurrency:1/" in r["name"] or "/mode:concurrent/" in r["name"]
    assert loops == {"loop:asyncio", "loop:uvloop"}
    assert processes_in(f"runners/peers/{peer}.py") == [], "a Python client outlived its bench"


FAKE_CLIENT = """import json, sys
print(json.dumps({{"requests": {requests}, "elapsed_ns": 1000, "checksum": {checksum},
                  "errors": {errors}, "first_error": "made up", "concurrency": 1,
                  "versions": {{}}}}))
sys.stderr.write("{stderr}\\n")
sys.exit({code})
"""


@pytest.mark.parametrize("fake,reason", [
    ({"requests": 159, "checksum": 10176, "errors": 0, "code": 0, "stderr": ""}, "requests"),
    ({"requests": 160, "checksum": 1, "errors": 0, "code": 0, "stderr": ""}, "checksum"),
    ({"requests": 160, "checksum": 10240, "errors": 2, "code": 1, "stderr": ""}, "made up"),
])
def test_a_client_that_did_the_wrong_work_fails_its_row(tmp_path, fake, reason):
    (tmp_path / "py_redis_asyncio.py").write_text(FAKE_CLIENT.format(**fake))
    rows, _ = bench_smoke("redis", "^redis/py_redis_asyncio/.*mode:sequential.*loop:asyncio",
                          rc=1, SY_PEERS_DIR=str(tmp_path))
    (row,) = rows
    if first_skip(rows):
        pytest.skip(first_skip(rows))
    assert row.get("error_occurred"), row
    assert reason in row["error_message"] and not row["error_message"].startswith("skipped"), row


def test_a_client_that_cannot_run_fails_its_row_with_its_stderr_line(tmp_path):
    (tmp_path / "py_aiohttp.py").write_text(
        "import sys\nsys.stderr.write('py_aiohttp: cannot reach it\\n')\nsys.exit(1)\n")
    rows, _ = bench_smoke("http", "^http/py_aiohttp/.*mode:sequential.*loop:asyncio",
                          rc=1, SY_PEERS_DIR=str(tmp_path))
    (row,) = rows
    if first_skip(rows):
        pytest.skip(first_skip(rows))
    assert "exit 1: py_aiohttp: cannot reach it" in row["error_message"], row


def test_no_peers_skips_the_python_rows():
    rows, _ = bench_smoke("redis", "^redis/py_", SY_NO_PEERS="1")
    assert rows and all(r["error_message"] == "skipped: --no-peers" for r in rows)


HANGING_CLIENT_S = 60    # longer than the test waits: only the bench's death can end it


def test_a_killed_bench_takes_its_hanging_python_client_with_it(tmp_path):
    """The client is a sy::child_process: PR_SET_PDEATHSIG kills it with the
    bench. The fake client hangs, so nothing else would end it in time."""
    (tmp_path / "py_redis_asyncio.py").write_text(
        f"import time\ntime.sleep({HANGING_CLIENT_S})\n")
    exe = bench_exe("redis")
    bench = subprocess.Popen([str(exe), "--benchmark_filter=^redis/py_redis_asyncio/.*sequential"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=bench_env(SY_PEERS_DIR=str(tmp_path)))
    try:
        deadline = time.monotonic() + BENCH_TIMEOUT_S
        clients = []
        while not clients and bench.poll() is None and time.monotonic() < deadline:
            clients = processes_in(str(tmp_path / "py_redis_asyncio.py"))
            time.sleep(0.02)
        if not clients:
            bench.kill()
            _, err = bench.communicate()
            if "skipped: " in err:
                pytest.skip(err.strip().splitlines()[-1])
            pytest.fail(f"no client process appeared (exit {bench.returncode}): {err[-1000:]}")
        pid = int(clients[0].split(":")[0])
        bench.kill()
        bench.communicate()
        assert wait_gone(pid), f"client {pid} outlived its killed bench"
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.communicate()
