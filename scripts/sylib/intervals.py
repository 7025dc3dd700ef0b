"""Distribution-free confidence intervals for a typical change, and the
verdict rule that reads them.

Everything is on the log scale: a ratio cand/base of 1.10 is log(1.10), so a
slowdown and the speed-up that undoes it are the same distance from 0 and
intervals turn back into percentages with exp(x) - 1.

- Paired (the gate: base and cand run back to back, one pair per round):
  Hodges-Lehmann estimate of the paired log ratios, i.e. the median of their
  Walsh averages, with the exact Wilcoxon signed-rank confidence interval.
  Why this one: the gate randomises which side runs first in each round, so
  under "no change" each paired log ratio is as likely to be +d as -d: the
  signed-rank distribution is then exact, with no assumption about the shape
  of the noise (heavy tails, code-layout outliers). It needs fewer rounds than
  the sign-test (order-statistic) interval of the median for the same width.
- Unpaired (two runs made at different times): Hodges-Lehmann shift of the
  log values with the exact Mann-Whitney interval.

An interval at a level the sample cannot reach (5 pairs at 99%: the smallest
two-sided signed-rank p is 2/32 = 0.0625) is infinite: the data cannot
decide, and the caller says so instead of pretending.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class Interval:
    estimate: float          # log scale
    lo: float                # log scale; -inf when the level is out of reach
    hi: float
    level: float             # the confidence asked for
    achieved: float          # the exact coverage of the order statistics used (>= level)
    n: int                   # pairs (paired) or min(n_base, n_cand) (unpaired)

    @property
    def finite(self) -> bool:
        return math.isfinite(self.lo) and math.isfinite(self.hi)

    def pct(self) -> tuple[float, float, float]:
        """(estimate, lo, hi) as relative changes (0.041 = +4.1%)."""
        return tuple(math.expm1(x) if math.isfinite(x) else x
                     for x in (self.estimate, self.lo, self.hi))


@lru_cache(maxsize=None)
def signed_rank_cdf(n: int) -> tuple[float, ...]:
    """P(T+ <= t) for t = 0 .. n(n+1)/2 under the null (exact, no ties)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for k in range(1, n + 1):          # rank k is either positive or not
        counts[k:] = counts[k:] + counts[:-k].copy()
    return tuple(np.cumsum(counts) / 2.0 ** n)


@lru_cache(maxsize=None)
def rank_sum_cdf(m: int, n: int) -> tuple[float, ...]:
    """P(U <= u) for u = 0 .. m*n, U the Mann-Whitney count of (x < y) pairs."""
    # f[i][j] = distribution of U for sizes i, j, built by adding one element.
    table = {(0, j): np.array([1.0]) for j in range(n + 1)}
    for i in range(1, m + 1):
        table[(i, 0)] = np.array([1.0])
        for j in range(1, n + 1):
            a = table[(i - 1, j)]          # the largest element is an x: adds j to U
            b = table[(i, j - 1)]          # ... is a y: adds nothing
            out = np.zeros(i * j + 1)
            out[j:j + len(a)] += a
            out[:len(b)] += b
            table[(i, j)] = out
    counts = table[(m, n)]
    return tuple(np.cumsum(counts) / counts.sum())


def _cut(cdf: tuple[float, ...], alpha: float) -> int | None:
    """Largest c with P(stat <= c - 1) <= alpha / 2, i.e. how many order
    statistics to drop from each end; None when even dropping none is too much."""
    c = 0
    while c < len(cdf) and cdf[c] <= alpha / 2:
        c += 1
    return c if c > 0 else None


def _interval(values: np.ndarray, cdf, level: float, n: int) -> Interval:
    values = np.sort(values)
    est = float(np.median(values))
    c = _cut(cdf, 1 - level)
    if c is None:
        return Interval(est, -math.inf, math.inf, level, 0.0, n)
    achieved = 1 - 2 * cdf[c - 1]
    return Interval(est, float(values[c - 1]), float(values[len(values) - c]), level,
                    achieved, n)


def paired(log_ratios, level: float) -> Interval:
    """Hodges-Lehmann estimate and exact signed-rank interval of paired log ratios."""
    d = np.asarray(log_ratios, dtype=float)
    n = len(d)
    if n == 0:
        return Interval(math.nan, -math.inf, math.inf, level, 0.0, 0)
    i, j = np.triu_indices(n)
    walsh = (d[i] + d[j]) / 2.0
    return _interval(walsh, signed_rank_cdf(n), level, n)


def unpaired(base_logs, cand_logs, level: float) -> Interval:
    """Hodges-Lehmann shift cand - base (log scale), exact Mann-Whitney interval."""
    x = np.asarray(base_logs, dtype=float)
    y = np.asarray(cand_logs, dtype=float)
    if len(x) == 0 or len(y) == 0:
        return Interval(math.nan, -math.inf, math.inf, level, 0.0, 0)
    diffs = (y[None, :] - x[:, None]).ravel()
    return _interval(diffs, rank_sum_cdf(len(x), len(y)), level, min(len(x), len(y)))


def min_pairs(level: float) -> int:
    """Fewest pairs whose signed-rank interval at `level` is finite."""
    n = 1
    while 2.0 ** -n > (1 - level) / 2:
        n += 1
    return n


# ---- the verdict ----------------------------------------------------------------------

def log_floor(floor: float) -> float:
    return math.log1p(floor)


def decide(iv: Interval, floor: float) -> str:
    """regression / improvement / no change / inconclusive from an interval:
    entirely above +floor, entirely below -floor, entirely inside +-floor
    (an equivalence check), or anything else."""
    f = log_floor(floor)
    if iv.lo > f:
        return "regression"
    if iv.hi < -f:
        return "improvement"
    if -f <= iv.lo and iv.hi <= f:
        return "no change"
    return "inconclusive"


def fmt_interval(iv: Interval) -> str:
    """'+4.1% [+2.0, +6.3]' (the estimate and its interval, in percent)."""
    est, lo, hi = iv.pct()
    if not math.isfinite(est):
        return "-"
    if not iv.finite:
        return f"{est * 100:+.1f}% [no interval: {iv.n} too few]"
    return f"{est * 100:+.1f}% [{lo * 100:+.1f}, {hi * 100:+.1f}]"


# ---- the median of a few processes ------------------------------------------------------

@lru_cache(maxsize=None)
def _binom_half_cdf(n: int) -> tuple[float, ...]:
    """P(B <= k) for B ~ Binomial(n, 1/2), k = 0 .. n."""
    return tuple(float(x) for x in np.cumsum([math.comb(n, k) for k in range(n + 1)]) / 2.0 ** n)


@dataclass(frozen=True)
class MedianCI:
    """The sample median and the order-statistic (sign-test) interval of the
    population median: [x(c), x(n+1-c)] covers it with probability exactly
    1 - 2 P(B <= c - 1), B ~ Bin(n, 1/2), whatever the distribution. With
    too few values for `level` it is [min, max] at the coverage it has
    (3 values: 75%, 5 values: 93.75%), never a pretended 95%."""
    median: float
    lo: float
    hi: float
    achieved: float          # exact coverage of [lo, hi]; 0 with fewer than 2 values
    n: int

    @property
    def finite(self) -> bool:
        return self.n >= 2 and math.isfinite(self.lo) and math.isfinite(self.hi)


def median_ci(values, level: float = 0.95) -> MedianCI:
    """Median and order-statistic interval of `values` (non-finite ones dropped)."""
    v = np.sort(np.asarray([x for x in values if x is not None and math.isfinite(x)], float))
    n = int(v.size)
    if n == 0:
        return MedianCI(math.nan, math.nan, math.nan, 0.0, 0)
    med = float(np.median(v))
    if n < 2:
        return MedianCI(med, math.nan, math.nan, 0.0, n)
    cdf = _binom_half_cdf(n)
    c = _cut(cdf, 1 - level) or 1          # out of reach: [min, max]
    return MedianCI(med, float(v[c - 1]), float(v[n - c]), 1 - 2 * cdf[c - 1], n)
