"""Begg and Mazumdar's rank correlation test, as metafor's ``ranktest(fit)`` computes it
(3.8-1's code; from 5.0 quiet, with a normal-approximation fallback: see rules.py).

metafor standardises each effect against the inverse-variance weighted mean,
yi* = (yi - theta) / sqrt(vi - 1/sum(wi)), and calls
``cor.test(yi*, vi, method="kendall", exact=TRUE)``. Everything below follows R 4.2.2's code
for that call operation by operation (its long-double sums, its C loop for tau, its recursive
permutation counts, its gamma function), because the exact p-value is a sum of huge counts
whose rounding depends on the order R adds them in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from ketabridge.fast import rules
from ketabridge.fast.distributions import pnorm_two_sided
from ketabridge.fast.steps import Outcome

TIES_WARNING = "Cannot compute exact p-value with ties"
SD_ZERO_WARNING = "the standard deviation is zero"  # cor()'s, when yi* or vi is constant
TOO_FEW_ERROR = "not enough finite observations"

# R's gamma() overflows above this argument (nmath's gammafn: xmax)
GAMMA_XMAX = 171.61447887182298
LN_SQRT_2PI = 0.918938533204672741780329736406
# Pairs of sign matrices held at once: (rows, n, n) int8 blocks of about this many cells
SIGN_BLOCK_CELLS = 4_000_000


@dataclass(frozen=True)
class RankTest:
    kendall_tau: np.ndarray  # (G,), NaN where cor() gives NA
    p_value: np.ndarray  # (G,)
    errors: np.ndarray  # (G,) object: "" or R's error message
    warnings: list[tuple[str, ...]]
    needs_metafor: np.ndarray  # (G,) bool

    @property
    def outcome(self) -> Outcome:
        return Outcome.of(self.errors, self.warnings, self.needs_metafor)


def ranktest(yi: np.ndarray, vi: np.ndarray) -> RankTest:
    """metafor's ``ranktest(rma(yi, vi))`` for G analyses of n studies each, (G, n) arrays."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    groups, n = yi.shape
    if n < 2:
        errors = np.full(groups, TOO_FEW_ERROR, dtype=object)
        nan = np.full(groups, np.nan)
        return RankTest(nan, nan.copy(), errors, [()] * groups, np.zeros(groups, dtype=bool))
    standardised = _standardised_effects(yi, vi)
    tau, undefined = _kendall_tau(standardised, vi)
    ties_x, ties_y = _tie_sizes(standardised), _tie_sizes(vi)
    has_ties = (ties_x > 0).any(axis=1) | (ties_y > 0).any(axis=1)
    normal = _normal_p_value(tau, ties_x, ties_y, n)
    p_value = np.where(has_ties, normal, _exact_p_value(tau, n))
    quiet = rules.current().ranktest_is_quiet
    if quiet:  # metafor >= 5.0 reruns cor.test with exact = FALSE where the exact p-value is NA
        p_value = np.where(np.isnan(p_value), normal, p_value)
    p_value = np.where(undefined, np.nan, p_value)
    tau = np.where(undefined, np.nan, tau)
    warnings = [
        () if quiet else (SD_ZERO_WARNING,) if bad else (TIES_WARNING,) if tied else ()
        for bad, tied in zip(undefined.tolist(), has_ties.tolist())
    ]
    # R's table() groups tied values by their 15-digit text: distinct tied values that print
    # alike would be merged there and not here. Never seen outside constructed data.
    needs_metafor = has_ties & ~undefined & (_ties_print_alike(standardised) | _ties_print_alike(vi))
    return RankTest(
        kendall_tau=tau,
        p_value=p_value,
        errors=np.full(groups, "", dtype=object),
        warnings=warnings,
        needs_metafor=needs_metafor,
    )


def r_sum(x: np.ndarray) -> np.ndarray:
    """R's sum() along rows: sequential accumulation in long double, rounded once to double."""
    return np.cumsum(x.astype(np.longdouble), axis=1)[:, -1].astype(float)


def _standardised_effects(yi: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """ranktest's yi.star, with weighted.mean's sum(x * w) / sum(w) as R evaluates it."""
    wi = 1.0 / vi
    theta = r_sum(yi * wi) / r_sum(wi)
    vb = 1.0 / r_sum(wi)
    return (yi - theta[:, None]) / np.sqrt(vi - vb[:, None])


def _kendall_tau(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cor(x, y, method="kendall") per row (tau-b), and where cor() gives NA (a constant column).

    R's C code sums sign products over all ordered pairs, divides by the double-rounded
    long-double square roots of the counts of unequal ordered pairs, and clamps to [-1, 1].
    """
    groups, n = x.shape
    concordance = np.empty(groups, dtype=np.int64)
    x_unequal = np.empty(groups, dtype=np.int64)
    y_unequal = np.empty(groups, dtype=np.int64)
    block = max(1, SIGN_BLOCK_CELLS // (n * n))
    for start in range(0, groups, block):
        rows = slice(start, start + block)
        sx = np.sign(x[rows, :, None] - x[rows, None, :]).astype(np.int8)
        sy = np.sign(y[rows, :, None] - y[rows, None, :]).astype(np.int8)
        concordance[rows] = np.einsum("gij,gij->g", sx, sy, dtype=np.int64)
        x_unequal[rows] = np.count_nonzero(sx, axis=(1, 2))
        y_unequal[rows] = np.count_nonzero(sy, axis=(1, 2))
    undefined = (x_unequal == 0) | (y_unequal == 0)
    scale = _sqrt_long_double(x_unequal) * _sqrt_long_double(y_unequal)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.clip(concordance.astype(float) / scale, -1.0, 1.0)
    return tau, undefined


def _sqrt_long_double(count: np.ndarray) -> np.ndarray:
    """(double) sqrtl(count), as cov.c's Kendall branch takes it."""
    return np.sqrt(count.astype(np.longdouble)).astype(float)


def _tie_sizes(values: np.ndarray) -> np.ndarray:
    """Sizes of the groups of equal values per row, 0-padded to (G, n): cor.test's xties."""
    groups, n = values.shape
    ordered = np.sort(values, axis=1)
    starts = np.ones((groups, n), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    group_index = np.cumsum(starts, axis=1) - 1 + (np.arange(groups) * n)[:, None]
    sizes = np.bincount(group_index.ravel(), minlength=groups * n).reshape(groups, n)
    return np.where(sizes >= 2, sizes, 0)


def _ties_print_alike(values: np.ndarray) -> np.ndarray:
    """Rows where two distinct tied values agree to 1e-14 relative (could share 15-digit text)."""
    ordered = np.sort(values, axis=1)
    tied = np.zeros(ordered.shape, dtype=bool)
    same = ordered[:, 1:] == ordered[:, :-1]
    tied[:, 1:] |= same
    tied[:, :-1] |= same
    masked = np.where(tied, ordered, np.nan)
    flags = np.zeros(len(values), dtype=bool)
    for row in np.flatnonzero(tied.any(axis=1)):
        distinct = np.unique(masked[row][~np.isnan(masked[row])])
        gaps = np.abs(np.diff(distinct))
        flags[row] = bool(np.any(gaps <= 1e-14 * np.maximum(np.abs(distinct[1:]), np.abs(distinct[:-1]))))
    return flags


def _normal_p_value(tau: np.ndarray, ties_x: np.ndarray, ties_y: np.ndarray, n: int) -> np.ndarray:
    """cor.test's normal approximation with the tie-corrected variance of S (exact=TRUE, ties)."""

    def pair_sum(t):
        return np.sum(t * (t - 1), axis=1).astype(float)

    def triple_sum(t):
        return np.sum(t * (t - 1) * (t - 2), axis=1).astype(float)

    pairs_total = n * (n - 1) / 2
    s = tau * np.sqrt((pairs_total - pair_sum(ties_x) / 2) * (pairs_total - pair_sum(ties_y) / 2))
    v0 = float(n * (n - 1) * (2 * n + 5))
    vt = np.sum(ties_x * (ties_x - 1) * (2 * ties_x + 5), axis=1).astype(float)
    vu = np.sum(ties_y * (ties_y - 1) * (2 * ties_y + 5), axis=1).astype(float)
    v1 = pair_sum(ties_x) * pair_sum(ties_y)
    v2 = triple_sum(ties_x) * triple_sum(ties_y)
    with np.errstate(invalid="ignore", divide="ignore"):
        var_s = (v0 - vt - vu) / 18 + v1 / float(2 * n * (n - 1)) + v2 / float(9 * n * (n - 1) * (n - 2))
        return pnorm_two_sided(s / np.sqrt(var_s))


def _exact_p_value(tau: np.ndarray, n: int) -> np.ndarray:
    """cor.test's two-sided exact p-value from the statistic T = round((tau + 1) n (n - 1) / 4)."""
    with np.errstate(invalid="ignore"):
        q = np.rint((tau + 1.0) * n * (n - 1) / 4)
        upper = q > n * (n - 1) / 4
        p = np.where(upper, 1.0 - _pkendall(q - 1, n), _pkendall(q, n))
    return np.minimum(2 * p, 1.0)


def _pkendall(q: np.ndarray, n: int) -> np.ndarray:
    """R's C pkendall: P(T <= q) as the running sum of permutation counts over gamma(n + 1)."""
    cumulative = _cumulative_counts(n)
    top = n * (n - 1) // 2
    q = np.floor(q + 1e-7)
    index = np.clip(np.nan_to_num(q, nan=0.0), 0, top).astype(np.int64)
    with np.errstate(invalid="ignore", over="ignore"):
        p = cumulative[index] / _r_gamma_integer(n + 1)
    return np.where(np.isnan(q), np.nan, np.where(q < 0, 0.0, np.where(q > top, 1.0, p)))


@cache
def _cumulative_counts(n: int) -> np.ndarray:
    """Running sums, in R's order of addition, of the numbers of permutations of n by inversions."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.cumsum(_permutation_counts(n))


@cache
def _permutation_counts(n: int) -> np.ndarray:
    """ckendall(k, n) for k = 0..n(n-1)/2: counts(n)[k] = sum over i < n of counts(n-1)[k - i].

    Each k's terms are added in order i = 0, 1, ... in double, as R's recursion adds them;
    beyond 2^53 the counts are rounded, so that order decides the last bits.
    """
    if n == 1:
        return np.ones(1)
    previous = _permutation_counts(n - 1)
    counts = np.zeros(n * (n - 1) // 2 + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        for shift in range(n):
            counts[shift : shift + len(previous)] += previous
    return counts


@cache
def _r_gamma_integer(m: int) -> float:
    """R 4.2.2's gammafn(m) for an integer m >= 1, including its Stirling branch above 50."""
    if m > GAMMA_XMAX:
        return math.inf
    if m <= 50:
        value = 1.0
        for factor in range(2, m):
            value *= factor
        return value
    return math.exp((m - 0.5) * math.log(m) - m + LN_SQRT_2PI + _r_stirlerr(m))


def _r_stirlerr(m: int) -> float:
    """R 4.2.2's stirlerr(m) for 50 < m <= 171 (its series branches)."""
    s0, s1 = 0.083333333333333333333, 0.00277777777777777777778  # 1/12, 1/360
    s2, s3 = 0.00079365079365079365079365, 0.000595238095238095238095238  # 1/1260, 1/1680
    mm = float(m) * m
    if m > 80:
        return (s0 - (s1 - s2 / mm) / mm) / m
    return (s0 - (s1 - (s2 - s3 / mm) / mm) / mm) / m
