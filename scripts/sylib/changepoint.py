"""Change points in a benchmark's history: binary segmentation with a
permutation test (no such library is packaged in apt, so it lives here).

A split at k is scored with the standardised rank-sum statistic of the left
part (Mann-Whitney in other words): ranks make one slow outlier harmless and
need no assumption about the distribution. The best split of a segment is
kept when a permutation test says the maximum score is unlikely under "no
change" (the maximum over all k is what is permuted, so trying every k does
not inflate false steps), and when the medians on each side differ by at
least `min_shift` (a significant 0.5% step is real but not worth a mark).
Each accepted split is searched again on both sides (binary segmentation).
Seeds are fixed: the same series always gives the same answer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

DEFAULT_ALPHA = 0.01          # per-split significance of the permutation test
DEFAULT_PERMUTATIONS = 999
DEFAULT_MIN_SIZE = 3          # fewest points on either side of a change point
DEFAULT_MIN_SHIFT = 0.03      # relative change of medians worth marking (the compare floor)
DEFAULT_SEED = 0


@dataclass
class ChangePoint:
    index: int        # first point of the new segment
    p: float          # permutation p-value of the split
    before: float     # median of the segment left of the split
    after: float      # median of the segment right of the split

    @property
    def shift(self) -> float:
        return self.after / self.before - 1 if self.before else float("inf")


def split_scores(ranks: np.ndarray, min_size: int) -> np.ndarray:
    """|standardised rank sum of x[:k]| for k = min_size .. n - min_size.

    `ranks` may be 2-D (one permutation per row); scores are per row.
    """
    ranks = np.atleast_2d(ranks)
    n = ranks.shape[1]
    k = np.arange(min_size, n - min_size + 1)
    left = np.cumsum(ranks, axis=1)[:, k - 1]
    mean = k * (n + 1) / 2.0
    sd = np.sqrt(k * (n - k) * (n + 1) / 12.0)
    return np.abs(left - mean) / sd


def best_split(x: np.ndarray, *, min_size: int, permutations: int,
               rng: np.random.Generator) -> tuple[int, float] | None:
    """(k, p) of the strongest split of x, or None if x is too short/flat."""
    n = len(x)
    if n < 2 * min_size or np.ptp(x) == 0:
        return None
    ranks = stats.rankdata(x)
    scores = split_scores(ranks, min_size)[0]
    k = int(np.argmax(scores)) + min_size
    observed = scores.max()
    perms = np.argsort(rng.random((permutations, n)), axis=1)
    null_max = split_scores(ranks[perms], min_size).max(axis=1)
    p = (1 + int(np.sum(null_max >= observed - 1e-12))) / (permutations + 1)
    return k, p


def find(series, *, alpha: float = DEFAULT_ALPHA, min_size: int = DEFAULT_MIN_SIZE,
         min_shift: float = DEFAULT_MIN_SHIFT, permutations: int = DEFAULT_PERMUTATIONS,
         seed: int = DEFAULT_SEED) -> list[ChangePoint]:
    """Change points of a series, in index order."""
    x = np.asarray(series, dtype=float)
    rng = np.random.default_rng(seed)
    found: list[tuple[int, float]] = []
    todo = [(0, len(x))]
    while todo:
        lo, hi = todo.pop()
        hit = best_split(x[lo:hi], min_size=min_size, permutations=permutations, rng=rng)
        if hit is None:
            continue
        k, p = hit
        before, after = np.median(x[lo:lo + k]), np.median(x[lo + k:hi])
        big_enough = before != 0 and abs(after / before - 1) >= min_shift
        if p < alpha and big_enough:
            found.append((lo + k, p))
            todo += [(lo, lo + k), (lo + k, hi)]
    found.sort()
    # Report each step with the medians of its neighbouring final segments.
    bounds = [0] + [i for i, _ in found] + [len(x)]
    return [ChangePoint(i, p, float(np.median(x[bounds[j]:i])),
                        float(np.median(x[i:bounds[j + 2]])))
            for j, (i, p) in enumerate(found)]


def segments(n: int, points: list[ChangePoint]) -> list[tuple[int, int]]:
    """[(start, end)) of the segments between change points."""
    cuts = [0] + [c.index for c in points] + [n]
    return list(zip(cuts[:-1], cuts[1:]))
