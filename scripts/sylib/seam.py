"""The seam's cost per echo server: each model's server CPU per message
divided by the hand-written reference it is written like (benches/echo/refs.hpp),
ratio taken round by round (the two rows' processes of one round ran
back to back) and summarised as the median over rounds with its
order-statistic interval. A ratio near 1 says the model's I/O through the
seam costs what the library's own idiom costs; above 1 is the seam's
overhead. One table for the report, at the configurations issue targets name
(closed loop, 64 B, 10 and 100 connections).
"""
from __future__ import annotations

from . import tidy
from .claimbase import Est, est, ratio
from .tidy import Results

# model -> the reference written with the same library and kernel paths
REFERENCES = (("thread", "thread_ref"), ("pool", "thread_ref"), ("fiber", "epoll"),
              ("coroutine", "epoll"), ("coroutine_uring", "uring_ref"),
              ("uring", "uring_ref"), ("libuv", "libuv_ref"), ("asio", "asio_ref"),
              ("thread", "py_threads"),        # context: C++ vs Python threads,
              ("thread_ref", "py_threads"))    # through the seam and without it
SIZE, CONNS = "64", ("10", "100")
KEY = "server_cpu_ns_per_msg"


def _row(res: Results, model: str, conns: str) -> tidy.Bench | None:
    for b in res.ok("echo"):
        p = b.params
        if b.model == model and p.get("mode") == "closed" and p.get("size") == SIZE \
                and p.get("conns") == conns:
            return b
    return None


def _show(e: Est | None) -> tuple[str, str, str]:
    if e is None:
        return "—", "", ""
    st = e.stat
    if st is None or st.lo != st.lo:
        return f"{e.value:.3f}", "", str(len(e.per))
    return f"{st.median:.3f}", f"[{st.lo:.3f}, {st.hi:.3f}] {st.level:.0%}", str(len(e.per))


def seam_table(res: Results) -> tuple[str, str, list, list] | None:
    """(heading, note, columns, rows), or None when no pair was measured."""
    body = []
    for conns in CONNS:
        for model, ref in REFERENCES:
            a, b = _row(res, model, conns), _row(res, ref, conns)
            if a is None or b is None:
                continue
            value = lambda r: r.get(KEY)  # noqa: E731
            body.append([f"{model} / {ref}", conns, *_show(ratio(est(a, value), est(b, value)))])
    if not body:
        return None
    note = ("server CPU per message of the model's echo server divided by its reference's "
            f"(closed loop, {SIZE} B), ratio per round, median over rounds and the "
            "order-statistic interval with its coverage; n = rounds. 1.00 = the seam costs "
            "nothing over the library's own idiom. The last two pairs are context: the C++ "
            "thread-per-connection servers (through the seam and textbook) against Python's "
            "ThreadingTCPServer.")
    return ("echo: the seam's cost (model / reference, server CPU per message)", note,
            ["pair", "conns", "ratio", "interval", "n"], body)
