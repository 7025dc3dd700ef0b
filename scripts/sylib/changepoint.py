"""Change points in a benchmark's history: a segment scan (circular binary
segmentation, Olshen et al. 2004) on log times with a robust noise scale.

Why segments, not single splits: a regression that was later reverted
(15 good, 15 bad, 15 good runs) has no single split that separates it well,
and a step confined to the last 3 runs is a segment at the end. Every
segment [a, b) of at least MIN_SIZE points is scored against the rest of
the series:

    z = (mean(segment) - mean(rest)) / (sigma * sqrt(1/L + 1/(n-L)))

on log values winsorised at CLIP robust sigmas around a running median of
LOCAL points, so a single wild run moves a mean by at most CLIP * sigma / L
while a step, which the running median follows, is left whole. sigma is the
robust scale of the noise from first differences, 1.4826 * median|x[i] -
x[i-1]| / sqrt(2), which a step does not inflate (it is one difference among
many), or the spread around the best segment's two levels when that is
larger (a few dozen differences can underestimate heavy-tailed noise). The
best segment's p-value is Bonferroni over the segments scanned
(a normal tail), and it is a change when p < alpha / m_series (the caller
passes how many series it scans, so a history of 110 benchmarks does not
raise a false alarm in most checks) and the two levels differ by at least
`min_shift`. The pieces on each side are scanned again.

Ranks and permutations cannot do this: with 30 runs, the last 3 being the 3
slowest happens by chance 1 in 4,060 times before any multiplicity, and 110
series multiply that past any useful alpha. The price of using magnitudes is
an assumption about the noise (roughly symmetric; heavy tails are clipped);
tests/scripts/test_history.py checks the false-alarm rate on heavy-tailed
simulated series.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

DEFAULT_ALPHA = 0.01          # family-wise, over all series of one analysis
DEFAULT_MIN_SIZE = 3          # fewest points in a segment, and outside it
DEFAULT_MIN_SHIFT = 0.03      # relative change of medians worth marking (the gate floor)
WINDOW = 60                   # latest points scanned (segments are O(n^2))
SIGMA_FLOOR = 1e-4            # a perfectly flat series still has this much noise
CLIP = 4.0                    # winsorise log values at this many sigma from the local level
LOCAL = 5                     # points in the running median that is the local level


@dataclass
class ChangePoint:
    index: int        # first point of the new level
    p: float          # Bonferroni p of the segment that made it (one series)
    before: float     # median of the points just before (geometric scale)
    after: float      # median of the points from `index` on (same level)

    @property
    def shift(self) -> float:
        return self.after / self.before - 1 if self.before else float("inf")


def robust_sigma(x: np.ndarray) -> float:
    if len(x) < 3:
        return SIGMA_FLOOR
    d = np.abs(np.diff(x))
    return max(1.4826 * float(np.median(d)) / math.sqrt(2), SIGMA_FLOOR)


def running_median(x: np.ndarray, width: int = LOCAL) -> np.ndarray:
    h = width // 2
    return np.array([np.median(x[max(0, i - h):i + h + 1]) for i in range(len(x))])


def winsorise(x: np.ndarray) -> np.ndarray:
    """Clip each point to CLIP robust sigmas from the running median around it:
    a lone wild run is tamed, while a step (the running median follows it
    within two points) is left whole."""
    level = running_median(x)
    r = x - level
    s = max(1.4826 * float(np.median(np.abs(r))), SIGMA_FLOOR)
    return level + np.clip(r, -CLIP * s, CLIP * s)


def clipped_sigma(x: np.ndarray, skip=()) -> float:
    """The noise of winsorised values as the means see it: RMS of first
    differences / sqrt(2), leaving out the differences that cross the cuts
    in `skip` (a level shift there is signal, not noise). With heavy tails
    this is larger than the MAD scale, which only sees the bulk."""
    d = np.diff(x)
    keep = np.ones(len(d), dtype=bool)
    for c in skip:
        if 0 < c < len(x):
            keep[c - 1] = False
    d = d[keep]
    return max(float(np.sqrt(np.mean(d ** 2) / 2)), SIGMA_FLOOR) if len(d) else SIGMA_FLOOR


def residual_sigma(x: np.ndarray, a: int, b: int) -> float:
    """Standard deviation around the two levels of segment [a, b) and the rest."""
    inside, outside = x[a:b], np.concatenate([x[:a], x[b:]])
    r = np.concatenate([inside - inside.mean(), outside - outside.mean()])
    return max(float(np.sqrt(np.sum(r ** 2) / max(len(x) - 2, 1))), SIGMA_FLOOR)


def best_segment(x: np.ndarray, sigma: float, min_size: int):
    """(a, b, z, segments scanned) of the strongest segment, or None."""
    n = len(x)
    c = np.concatenate([[0.0], np.cumsum(x)])
    a, b = np.triu_indices(n + 1, k=min_size)           # all [a, b) with b - a >= min_size
    L = b - a
    keep = n - L >= min_size
    a, b, L = a[keep], b[keep], L[keep]
    if len(a) == 0:
        return None
    inside = (c[b] - c[a]) / L
    outside = (c[n] - (c[b] - c[a])) / (n - L)
    z = (inside - outside) / (sigma * np.sqrt(1.0 / L + 1.0 / (n - L)))
    i = int(np.argmax(np.abs(z)))
    return int(a[i]), int(b[i]), float(z[i]), len(a)


def find(series, *, alpha: float = DEFAULT_ALPHA, series_count: int = 1,
         min_size: int = DEFAULT_MIN_SIZE, min_shift: float = DEFAULT_MIN_SHIFT,
         window: int = WINDOW) -> list[ChangePoint]:
    """Change points of a series of positive values (times), in index order.
    Only the last `window` points are scanned; indices refer to the whole series."""
    values = np.asarray(series, dtype=float)
    if len(values) == 0 or np.any(values <= 0):
        return []
    offset = max(0, len(values) - window)
    x = winsorise(np.log(values[offset:]))
    sigma = clipped_sigma(x)
    cuts: dict[int, float] = {}
    todo = [(0, len(x))]
    while todo:
        lo, hi = todo.pop()
        seg = x[lo:hi]
        if len(seg) < 2 * min_size:
            continue
        hit = best_segment(seg, sigma, min_size)
        if hit is None:
            continue
        a, b, z, scanned = hit
        # The noise without the candidate's own cuts, and around its two
        # levels (whichever is larger: a small sample of differences can
        # underestimate heavy-tailed noise), then its score again.
        s2 = max(clipped_sigma(x, skip=(cut for cut in (*cuts, lo + a, lo + b))),
                 residual_sigma(seg, a, b))
        z = z * sigma / s2
        p = min(1.0, scanned * 2 * float(stats.t.sf(abs(z), df=max(len(x) - 3, 1))))
        inside = float(np.mean(seg[a:b]))
        outside = float(np.mean(np.concatenate([seg[:a], seg[b:]])))
        if p * series_count >= alpha or abs(math.expm1(inside - outside)) < min_shift:
            continue
        for c in (lo + a, lo + b):
            if lo < c < hi:
                cuts[c] = min(cuts.get(c, 1.0), p)
        todo += [(lo, lo + a), (lo + a, lo + b), (lo + b, hi)]
    return _describe(values, offset, cuts, min_shift)


def _describe(values: np.ndarray, offset: int, cuts: dict, min_shift: float):
    """ChangePoints from cut indices: each with the medians of its neighbouring
    final segments; cuts whose neighbours differ by less than min_shift go."""
    idx = sorted(cuts)
    bounds = [0] + [offset + i for i in idx] + [len(values)]
    out = []
    for j, i in enumerate(idx):
        before = float(np.median(values[bounds[j]:bounds[j + 1]]))
        after = float(np.median(values[bounds[j + 1]:bounds[j + 2]]))
        if before and abs(after / before - 1) >= min_shift:
            out.append(ChangePoint(offset + i, cuts[i], before, after))
    return out


def segments(n: int, points: list[ChangePoint]) -> list[tuple[int, int]]:
    """[(start, end)) of the segments between change points."""
    cuts = [0] + [c.index for c in points] + [n]
    return list(zip(cuts[:-1], cuts[1:]))
