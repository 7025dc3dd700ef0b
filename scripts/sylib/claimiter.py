"""The check of claim 13, "asynchronous iterators don't really help much; they
only add the `async for` syntax": per item, the async iterator against the
loop written without it, in Python (pybench: pyiter, pyctx) and in C++
(asynciter on the stackless coroutine loops). Same rules as
sylib.claimchecks: the difference is computed per round of processes and
judged on its interval.

A case passes when the difference per item is small either way (claims.toml
[async_iter]): within max_overhead_pct of the explicit loop's cost, or within
the language's absolute bound. Much cheaper means the iterator does help;
much dearer means it adds more than syntax.
"""
from __future__ import annotations

from . import tidy
from .claimbase import (STACKLESS, Case, Figure, Limits, Measured, absent, combine, decide,
                        est, rows, show)
from .tidy import Results

PY_ASYNC = ("py_asyncio", "py_uvloop")
ASYNCITER_MODELS = STACKLESS        # "on the coroutine runner": where a suspension is real
# (workload, systems, language, the iterator form, the explicit form, part)
PAIRS = (
    ("pyiter", PY_ASYNC, "python", "async_for", "await_loop", "async for vs an await loop"),
    ("pyiter", PY_ASYNC, "python", "async_for", "anext_loop", "async for vs __anext__ by hand"),
    ("pyctx", PY_ASYNC, "python", "async_with", "aenter_by_hand",
     "async with vs __aenter__/__aexit__ by hand"),
    ("pyctx", PY_ASYNC, "python", "async_with", "try_finally", "async with vs try/finally"),
    ("asynciter", ASYNCITER_MODELS, "c++", "generator", "await_loop",
     "async for vs an await loop"),
)
FLOORS = (("pyiter", PY_ASYNC, "list_for"), ("asynciter", ASYNCITER_MODELS, "plain_loop"))
SHOWN = {"async_for": "async for", "await_loop": "await loop", "anext_loop": "__anext__ loop",
         "async_with": "async with", "try_finally": "try/finally",
         "aenter_by_hand": "__aenter__/__aexit__ by hand", "generator": "generator",
         "list_for": "list for", "plain_loop": "plain loop"}
NS_PER_ITEM = tidy.NS_PER_ITEM.fn


def any_of(*decisions: bool | None) -> bool | None:
    """Alternatives, one of which suffices: True if any is True, False if all
    are False, else None (undecided)."""
    if any(d is True for d in decisions):
        return True
    return False if all(d is False for d in decisions) else None


def by_form(res: Results, workload: str, model: str) -> dict[tuple, object]:
    """(form, suspend) -> the row."""
    return {(b.params.get("form"), b.params.get("suspend")): b
            for b in rows(res, workload, (model,))}


def pair_case(b_iter, b_loop, label: str, attrs: dict, t: Limits, bound_ns: float) -> Case | None:
    it, loop = est(b_iter, NS_PER_ITEM), est(b_loop, NS_PER_ITEM)
    diff = combine(lambda a, b: a - b, it, loop)
    pct = combine(lambda a, b: (a - b) / b * 100.0 if b else None, it, loop)
    if diff is None or pct is None:
        return None
    bound_pct = t["max_overhead_pct"]
    passed = any_of(decide(diff, ("in", -bound_ns, bound_ns)),
                    decide(pct, ("in", -bound_pct, bound_pct)))
    plo, phi = pct.interval
    span = f" [{plo:+.0f}%, {phi:+.0f}%]" if plo == plo and phi == phi else ""
    lo, hi = diff.interval
    return Case(f"{label} ({pct.value:+.0f}%{span}; {show(it.value, 'ns')} vs "
                f"{show(loop.value, 'ns')})",
                attrs, diff.value, "ns", passed, lo, hi)


def measure_async_iter(res: Results, t: Limits) -> Measured:
    m = Measured()
    for workload, systems, lang, form_it, form_loop, part in PAIRS:
        bound_ns = t["max_overhead_ns_python" if lang == "python" else "max_overhead_ns_cpp"]
        for system in systems:
            have = by_form(res, workload, system)
            for suspend in ("0", "1"):
                a, b = have.get((form_it, suspend)), have.get((form_loop, suspend))
                if a is None or b is None:
                    continue
                c = pair_case(a, b, f"{system} suspend:{suspend} {SHOWN[form_it]} − "
                                    f"{SHOWN[form_loop]} per item",
                              {"part": part, "suspend": suspend, "language": lang,
                               "system": system}, t, bound_ns)
                if c is not None:
                    m.cases.append(c)
    if not m.cases:
        return Measured(missing="; ".join(
            absent(res, w, what) for w, what in (
                ("pyiter", "pyiter/py_asyncio|py_uvloop/form:async_for and form:await_loop "
                           "rows"),
                ("asynciter", "asynciter/coroutine|coroutine_uring/form:generator and "
                              "form:await_loop rows"))))
    for workload, systems, floor in FLOORS:
        for system in systems:
            b = by_form(res, workload, system).get((floor, "0"))
            if b is not None and (e := est(b, NS_PER_ITEM)) is not None:
                m.context.append(Figure(f"{system} {SHOWN[floor]} per item (the floor, "
                                        "suspend:0)", e.value, "ns", None, *e.interval))
    return m
