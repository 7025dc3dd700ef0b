"""The profiling pass, apart from timing: syscalls per message per echo
server, from the shorter pass each closed-loop echo case gets in one round of
`run` (bench_echo --sy_profile: perf attached to the server; the timed runs
have nothing attached). One table for the report: per server and
connection count, syscalls per message in all and by name (read, write,
epoll_wait, io_uring_enter, futex, ...), and the server's CPU per message in
the timed runs against the profiled one (what attaching perf costs it), so a
reader sees why one server costs more than another.
"""
from __future__ import annotations

from . import tidy
from .tidy import Results, fmt

PROFILE_SIZE = "64"                  # message size of the rows shown
PROFILE_CONNS = ("10", "100")        # the configurations the targets name; others if absent
NAME_PREFIX, NAME_SUFFIX = "sc_", "_per_msg"
MAX_NAMES = 8                        # name columns, the most frequent first


def _value(b: tidy.Bench, key: str) -> float | None:
    st = b.stat_of(lambda r: r.get(key))
    return st.median if st else None


def echo_syscalls(res: Results) -> tuple[str, str, list, list] | None:
    """(heading, note, columns, rows) of the syscall table, or None when no
    echo row was profiled."""
    rows = [b for b in res.ok("echo") if b.params.get("mode") == "closed"
            and b.params.get("size") == PROFILE_SIZE
            and any("syscalls_per_msg" in r for r in b.reps)]
    if not rows:
        return None
    conns = [c for c in PROFILE_CONNS if any(b.params.get("conns") == c for b in rows)] or \
        sorted({b.params.get("conns") for b in rows}, key=lambda c: tidy.num(c) or 0)
    rows = [b for b in rows if b.params.get("conns") in conns]
    totals: dict[str, float] = {}
    for b in rows:
        for r in b.reps:
            for k, v in r.items():
                if k.startswith(NAME_PREFIX) and k.endswith(NAME_SUFFIX) and v:
                    name = k[len(NAME_PREFIX):-len(NAME_SUFFIX)]
                    totals[name] = totals.get(name, 0.0) + v
    names = sorted(totals, key=lambda n: -totals[n])[:MAX_NAMES]
    columns = ["server", "conns", "syscalls/msg"] + [f"{n}/msg" for n in names] + \
        ["other/msg", "server CPU/msg (timed)", "(profiled)"]
    body = []
    for b in sorted(rows, key=lambda b: (tidy.num(b.params.get("conns")) or 0,
                                         tidy.model_rank(b.model))):
        total = _value(b, "syscalls_per_msg")
        per = {n: _value(b, f"{NAME_PREFIX}{n}{NAME_SUFFIX}") or 0.0 for n in totals}
        other = total - sum(per[n] for n in names) if total is not None else None
        body.append([b.model, b.params.get("conns", ""), _num(total)] +
                    [_num(per[n]) for n in names] + [_num(other),
                     fmt(_value(b, "server_cpu_ns_per_msg"), "ns"),
                     fmt(_value(b, "profiled_server_cpu_ns_per_msg"), "ns")])
    note = (f"closed loop, {PROFILE_SIZE} B messages; from a separate profiling pass "
            "(perf attached to the server) after each timed case in one round of the run: "
            "the timed figures never have a profiler attached. 'other' is every syscall "
            "not named; the last two columns compare the server's CPU per message in the "
            "timed runs with the profiled pass.")
    return "echo: syscalls per message (profiling pass)", note, columns, body


def _num(v) -> str:
    if v is None:
        return "—"
    return f"{0.0 if abs(v) < 0.005 else v:.2f}"     # no '-0.00' from rounding
