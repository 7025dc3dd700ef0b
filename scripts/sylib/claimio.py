"""The checks of the claims that compare servers and peers over the network:
uvloop against node, gevent and Go (claim 11) and concurrent against
sequential requests to real servers (claim 12). Same rules as
sylib.claimchecks: figures per round of processes, judged on their interval.
"""
from __future__ import annotations

import statistics

from . import tidy
from .claimbase import (GO_PEERS, PY_CLIENTS, SERVER_PAIR_IGNORES, SERVER_PARTS, SERVERS,
                        UVLOOP_PARTS, UVLOOP_PEERS, UVLOOPS, Est, Limits, Measured, absent, case,
                        combine, counter, est, ratio, rows)
from .tidy import Results


def closed_echo(res: Results, model: str) -> dict[tuple, Est]:
    """(conns, size) -> msgs/s per round of closed-loop echo rows that are not
    client-bound."""
    return {(b.params.get("conns"), b.params.get("size")): e
            for b in rows(res, "echo", (model,), mode="closed")
            if "client_bound" not in b.marks and (e := est(b, counter("msgs_per_second")))}


def median_ratio(mine: dict, theirs: dict) -> tuple[Est, int] | None:
    """Per round, the median over the configurations both ran of mine/theirs;
    and the number of configurations."""
    common = [k for k in mine if k in theirs]
    if not common:
        return None
    ests = [mine[k] for k in common] + [theirs[k] for k in common]
    n = len(common)
    r = combine(lambda *v: statistics.median([a / b for a, b in zip(v[:n], v[n:]) if b])
                if any(v[n:]) else None, *ests)
    return (r, n) if r is not None else None


def measure_uvloop(res: Results, t: Limits) -> Measured:
    echo = {m: e for m in UVLOOPS + sum(UVLOOP_PEERS, ()) if (e := closed_echo(res, m))}
    missing = [] if any(u in echo for u in UVLOOPS) else ["echo/py_uvloop[_proto]"]
    missing += [f"echo/{'|'.join(models)}" for models in UVLOOP_PEERS
                if not any(p in echo for p in models)]
    if missing:
        return Measured(missing=absent(res, "echo", ", no ".join(missing) +
                                       " closed-loop rows (not client-bound)"))
    m = Measured()
    for u in (u for u in UVLOOPS if u in echo):
        for peer in (p for models in UVLOOP_PEERS for p in models if p in echo):
            got = median_ratio(echo[u], echo[peer])
            if got is None:
                continue
            r, n = got
            rule = ("in", t["comparable_low"], t["comparable_high"]) if peer in GO_PEERS \
                else (">=", t["min_advantage"])
            m.cases.append(case(f"{u} over {peer} msgs/s (median of {n} configs)",
                                {"peer": peer, "uvloop": u, "part": UVLOOP_PARTS[peer]},
                                r, "x", rule))
    if not m.cases:
        return Measured(missing="uvloop and its peers ran no closed-loop echo configuration "
                                "in common")
    return m


def server_config(b) -> tuple:
    """What a concurrent row is compared at, whoever the client is: its params
    but the model's, the mode and the event loop (a Python client's)."""
    return tuple(sorted((k, p) for k, p in b.params.items() if k not in ("mode", "loop")))


def measure_real_servers(res: Results, t: Limits) -> Measured:
    m = Measured()
    for server in SERVERS:
        # Every concurrent row against the sequential row of the same model and
        # other params: one case per concurrency (10 and 100 are both claims).
        sequential: dict[tuple, Est] = {}
        concurrent: dict[tuple, list] = {}
        for b in res.ok(server):
            if (v := est(b, tidy.REQ_PER_S.fn)) is None:
                continue
            key = (b.model,) + tuple(sorted((k, p) for k, p in b.params.items()
                                            if k not in SERVER_PAIR_IGNORES))
            if b.params.get("mode") == "sequential":
                sequential[key] = v
            elif b.params.get("mode") == "concurrent":
                concurrent.setdefault(key, []).append((b, v))
        found = []
        for key, pairs in concurrent.items():
            if key not in sequential:
                continue
            seq = sequential[key]
            for b, conc in pairs:
                label = b.label(skip=("mode",))
                if (gain := ratio(conc, seq)) is None:
                    continue
                python = b.model in PY_CLIENTS
                if python:
                    label = f"{label} (Python {PY_CLIENTS[b.model]})"
                found.append((b, case(f"{label} concurrent over sequential requests/s",
                                      {"server": server, "model": b.model,
                                       "client": "python" if python else "c++",
                                       "concurrency": b.params.get("concurrency")},
                                      gain, "x", (">=", t["min_gain"]))))
        m.cases += beside(found)
    if not m.cases:
        return Measured(missing="no redis|http|sql/<model>/mode:sequential and mode:concurrent "
                                "pair with the counter requests")
    if any(c.attrs["client"] == "python" for c in m.cases):
        for c in m.cases:
            c.attrs["part"] = SERVER_PARTS[c.attrs["client"] == "python"]
    return m


def beside(found: list) -> list:
    """One server's cases in the order the evidence lists them: the
    configurations a Python library ran first, its rows leading the C++
    models of the same configuration; then the rest, as the rows came."""
    py_configs = [server_config(b) for b, _ in found if b.model in PY_CLIENTS]
    first = list(dict.fromkeys(py_configs))

    def order(item):
        b, _ = item
        cfg = server_config(b)
        return (first.index(cfg) if cfg in first else len(first), b.model not in PY_CLIENTS)
    return [c for _, c in sorted(found, key=order)]
