"""The history dashboard: one self-contained index.html (no scripts, no
external files) with a small chart per benchmark, change points marked,
series with a recent slowdown first, then series with any change point,
then the rest. Charts are hand-written SVG polylines: a few KB each, so a
hundred series stay one small page.
"""
from __future__ import annotations

import html

import numpy as np

from . import changepoint

W, H, PAD = 320, 90, 6


def sparkline(values: np.ndarray, changes, alert: bool, uid: str) -> str:
    lo, hi = float(np.min(values)), float(np.max(values))
    span = (hi - lo) or max(hi, 1.0) * 0.01
    n = len(values)

    def xy(i, v):
        x = PAD + (W - 2 * PAD) * (i / max(n - 1, 1))
        y = H - PAD - (H - 2 * PAD) * ((v - lo) / span)
        return x, y

    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(values)))
    parts = [f'<svg id="{uid}" class="spark" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             f'role="img" aria-label="trend">',
             f'<polyline fill="none" stroke="#4c72b0" stroke-width="1.5" points="{pts}"/>']
    for a, b in changepoint.segments(n, changes):
        level = float(np.median(values[a:b]))
        (x0, y), (x1, _) = xy(a, level), xy(b - 1, level)
        parts.append(f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" '
                     'stroke="#999" stroke-width="2" opacity="0.8"/>')
    for c in changes:
        x = xy(c.index - 0.5, lo)[0]
        colour = "#c44e52" if c.shift > 0 else "#55a868"
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{H}" stroke="{colour}" '
                     'stroke-dasharray="3,2"/>')
    if alert:
        parts.append(f'<rect x="0.5" y="0.5" width="{W - 1}" height="{H - 1}" fill="none" '
                     'stroke="#c44e52"/>')
    parts.append("</svg>")
    return "".join(parts)


def _fmt_ns(v: float) -> str:
    for scale, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "us")):
        if v >= scale:
            return f"{v / scale:.4g} {unit}"
    return f"{v:.4g} ns"


def card(s, i: int, last: int, floor: float) -> str:
    alerts = s.alerts(last, floor)
    marks = "; ".join(f"{c.shift * 100:+.1f}% at point {c.index + 1} "
                      f"({html.escape((s.points[c.index].get('commit') or '?')[:7])})"
                      for c in s.changes) or "no change point"
    head = ("<b class=alert>recent slowdown</b> " if alerts else "")
    return (f'<div class="card">{head}<div class="name">{html.escape(s.label)}</div>'
            f'{sparkline(s.values, s.changes, bool(alerts), f"s{i}")}'
            f'<div class="meta">{len(s.points)} points, latest {_fmt_ns(s.values[-1])}; '
            f'{marks}</div></div>')


def page(series, machine: str, last: int, floor: float) -> str:
    ordered = sorted(series, key=lambda s: (not s.alerts(last, floor), not s.changes, s.label))
    n_alert = sum(bool(s.alerts(last, floor)) for s in series)
    n_change = sum(bool(s.changes) for s in series)
    cards = "\n".join(card(s, i, last, floor) for i, s in enumerate(ordered))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>switchyard history {html.escape(machine)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.card {{ border: 1px solid #ddd; padding: 6px; width: {W}px; }}
.name {{ font-family: monospace; font-size: 12px; overflow-wrap: anywhere; }}
.meta {{ font-size: 11px; color: #555; }}
.alert {{ color: #c44e52; }}
</style></head><body>
<h1>switchyard history: machine {html.escape(machine)}</h1>
<p>{len(series)} series; <b class=alert>{n_alert} with a slowdown of more than
{floor * 100:g}% starting in the last {last} points</b>; {n_change} with any change point.
Each chart is one benchmark's median time per point (lower is better); grey bars are the
levels between change points, dashed lines the change points (red slower, green faster).
Change points: segment scan on log times, false-alarm rate {changepoint.DEFAULT_ALPHA:g}
over all series together.</p>
<div class="grid">
{cards}
</div></body></html>
"""
