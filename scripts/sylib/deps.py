"""Dependency check: every package the two README commands need, from apt.

Missing packages are installed (apt-get update + install) when running as
root; otherwise the exact apt-get line is printed and the caller exits 2.
The machine is assumed fresh every time: nothing installed by hand counts.
"""
from __future__ import annotations

import os
import subprocess
import sys

# C++ toolchain and libraries for the benches and runner tests.
BUILD = [
    "g++", "cmake", "ninja-build", "pkg-config", "git",
    "libbenchmark-dev", "libgtest-dev", "liburing-dev", "libuv1-dev",
    "libboost-context-dev", "nlohmann-json3-dev", "libmariadb-dev", "libasio-dev",
]
# apt's Python modules for charts, reports and statistics.
PYTHON = ["python3-matplotlib", "python3-numpy", "python3-scipy"]
# Extra for `switchyard test` (chromium: the headless browser check of
# report.html, tests/scripts/test_browser.py).
TEST = ["python3-pytest", "chromium"]
# Extra for `switchyard gate` (its --callgrind mode counts instructions).
GATE = ["valgrind"]
# The peer systems of the echo, pybench and gobench workloads (runners/peers/;
# golang-go builds go_echo and go_microbench), and
# the real servers of the redis, http and sql workloads (plus wrk, their HTTP
# cross-check), for `run` and `test` unless --no-peers. nodejs may come from
# another apt repository (e.g. nodesource): any installed `nodejs` package
# will do. The Python clients of those servers (runners/peers/py_redis_asyncio.py,
# py_aiohttp.py, py_aiomysql.py: the tutorial's libraries) come from apt too.
PEERS = ["python3-uvloop", "python3-gevent", "nodejs", "golang-go",
         "redis-server", "nginx", "mariadb-server", "wrk",
         "python3-redis", "python3-aiohttp", "python3-aiomysql"]


def packages_for(command: str, *, peers: bool = True) -> list[str]:
    """The apt packages a subcommand needs; `peers=False` (--no-peers) leaves
    out the peer systems."""
    extra = PEERS if peers else []
    if command == "test":
        return BUILD + PYTHON + TEST + GATE + extra   # test_gate.py runs callgrind
    if command == "gate":
        return BUILD + PYTHON + GATE
    if command == "run":
        return BUILD + PYTHON + extra
    return PYTHON  # plot / report / compare / claims: results only


def missing(packages: list[str], query=None) -> list[str]:
    """Packages dpkg does not report as installed ('ii')."""
    query = query or _dpkg_status
    status = query(packages)
    return [p for p in packages if status.get(p) != "ii"]


def _dpkg_status(packages: list[str]) -> dict[str, str]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${db:Status-Abbrev}\n", *packages],
        capture_output=True, text=True, check=False).stdout
    status = {}
    for line in out.splitlines():
        name, _, abbrev = line.partition("\t")
        status[name.split(":")[0]] = abbrev.strip()
    return status


def install_line(pkgs: list[str]) -> str:
    return "sudo apt-get install -y " + " ".join(pkgs)


def ensure(command: str, *, peers: bool = True, log=sys.stderr) -> int:
    """Make sure `command`'s packages are present. Returns 0, or 2 with a
    message when they are missing and we cannot install them."""
    if os.environ.get("SWITCHYARD_SKIP_DEPS") == "1":
        return 0
    if not os.path.exists("/usr/bin/dpkg-query"):
        print("switchyard: not a Debian-like system (no dpkg-query); "
              "install the packages listed in README.md by hand", file=log)
        return 2
    need = missing(packages_for(command, peers=peers))
    if not need:
        return 0
    if os.geteuid() != 0:
        print(f"switchyard: missing packages; run: {install_line(need)}", file=log)
        return 2
    print(f"switchyard: installing {' '.join(need)} (apt)", file=log, flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *need]):
        r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            tail = (r.stderr.strip().splitlines() or ["?"])[-1]
            print(f"switchyard: {' '.join(cmd[:2])} failed: {tail}", file=log)
            return 2
    still = missing(need)
    if still:
        print(f"switchyard: still missing after apt-get: {' '.join(still)}", file=log)
        return 2
    return 0
