"""The chart of claim 13 (async iterators): ns per item of each way to consume
items, one panel per system (Python asyncio, uvloop; C++ on the stackless
coroutine loops), suspend:0 and suspend:1 side by side; in the Python panels
also `async with` against try/finally. Bars are coloured by the role of the
form, the same in every panel: the syntax (async for, the C++ generator,
async with), the loop written without it, the protocol's methods called by
hand (__anext__, __aenter__/__aexit__), the plain loop.
"""
from __future__ import annotations

from .plotkit import (Bar, bar_handles, ci_handle, draw_grouped_bars, marks_handle,
                      one_legend, panel_figure)
from . import tidy
from .tidy import Results

PANELS = (("pyiter", "py_asyncio", "Python asyncio"), ("pyiter", "py_uvloop", "Python uvloop"),
          ("asynciter", "coroutine", "C++ coroutine"),
          ("asynciter", "coroutine_uring", "C++ coroutine_uring"))
# form -> the role it plays (a bar series), in legend order (a legend label may
# not start with "_": matplotlib hides those)
ROLES = {"async_for": "async for / generator / async with",
         "generator": "async for / generator / async with",
         "async_with": "async for / generator / async with",
         "await_loop": "explicit: await loop / try-finally",
         "try_finally": "explicit: await loop / try-finally",
         "anext_loop": "by hand: __anext__, __aenter__/__aexit__ (Python)",
         "aenter_by_hand": "by hand: __anext__, __aenter__/__aexit__ (Python)",
         "list_for": "plain loop over a list (the floor)",
         "plain_loop": "plain loop over a list (the floor)"}
ROLE_COLOURS = dict(zip(dict.fromkeys(ROLES.values()),
                        ("#D55E00", "#0072B2", "#56B4E9", "#999999")))


def _groups(res: Results, workload: str, system: str) -> list[tuple[str, str, object]]:
    """[(group label, role, Stat)] of one panel: pyiter/asynciter by suspend,
    then (Python) pyctx by suspend."""
    out = []
    sources = [(workload, "")] + ([("pyctx", "async with\n")] if workload == "pyiter" else [])
    for wl, prefix in sources:
        for b in res.ok(wl):
            st = b.stat(tidy.NS_PER_ITEM)
            if b.model != system or st is None or b.params.get("form") not in ROLES:
                continue
            out.append((f"{prefix}suspend:{b.params.get('suspend')}",
                        ROLES[b.params["form"]], st, b.marks))
    return out


def chart_asynciter(res: Results):
    panels = [(title, got) for wl, system, title in PANELS
              if (got := _groups(res, wl, system))]
    if not panels:
        return None
    fig, axes, ncols = panel_figure(res, "Async iterators: time per item by form "
                                         "(the syntax vs the loop written without it)",
                                    len(panels), sharey=False)
    roles = list(ROLE_COLOURS)
    used, marks = set(), set()
    for ax, (title, got) in zip(axes, panels):
        groups = list(dict.fromkeys(g for g, _, _, _ in got))
        series = []
        for role in roles:
            bars = [None] * len(groups)
            for g, r, st, mk in got:
                if r == role:
                    bars[groups.index(g)] = Bar(role, "", st, mk)
            if any(bars):
                series.append((role, "", bars))
                used.add(role)
        marks |= draw_grouped_bars(ax, groups, series, colours=ROLE_COLOURS)
        ax.set_title(title, fontsize="small")
        ax.set_xlabel("a suspension per item (suspend:1) or not (suspend:0)")
        ax.set_ylabel("ns per item" + (" (log scale)" if ax.get_yscale() == "log" else ""))
    handles = bar_handles([(r, "", None) for r in roles if r in used], ROLE_COLOURS)
    handles.append(ci_handle())
    if marks:
        handles.append(marks_handle(marks, bars=True))
    return one_legend(fig, axes, ncols, handles)
