"""The Paule-Mandel tau^2 of many analyses at once, as metafor 3.8-1's rma.uni(method="PM") finds it.

PM's tau^2 solves Q(tau^2) = k - p, Q the generalised Q statistic. metafor brackets the root in
[0, tau2.max] and calls uniroot() with a loose tolerance, so to agree with it to 1e-10 the search is
R's own (`zeroin`), started from the same bracket and fed the same Q values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketabridge.fast import messages
from ketabridge.fast.steps import Outcome
from ketabridge.fast.weighted import design, wls
from ketabridge.fast.zeroin import not_converged_warning, uniroot_error, zeroin

TOL = np.finfo(float).eps ** 0.25  # rma.uni's con$tol = .Machine$double.eps^0.25
MAXITER = 100  # rma.uni's con$maxiter, passed on to uniroot()
TAU2_MAX_DEFAULT = 100.0
MAD_CONSTANT = 1.4826  # R's mad(constant = 1.4826)
# lm() drops a column whose norm after QR against the earlier ones falls below 1e-7 of its own;
# x that close to constant (up to a safety margin) is left to metafor's "Redundant predictors dropped"
REDUNDANT_X = 1e-5

TAU2_MAX_TOO_LOW = "Value of 'tau2.max' too low. Try increasing 'tau2.max' or switch to another 'method'."
UNIROOT_FAILED = "Error in iterative search for tau2 using uniroot()."
TOO_MANY_PARAMETERS = messages.TOO_MANY_PARAMETERS


@dataclass(frozen=True)
class PauleMandel:
    tau2: np.ndarray  # (G,); NaN where errors
    converged: np.ndarray  # bool (G,): False where uniroot warned or metafor stops
    errors: np.ndarray  # object (G,): metafor's error message, "" when fine
    warnings: list  # G tuples of R's warning texts
    needs_metafor: np.ndarray  # bool (G,)

    @property
    def outcome(self) -> Outcome:
        return Outcome.of(self.errors, self.warnings, self.needs_metafor)


def _sum_in_order(extended: np.ndarray) -> np.ndarray:
    """Row sums added left to right in long double, as R's C loops do (numpy's pairwise sum rounds otherwise)."""
    total = np.zeros(extended.shape[0], dtype=np.longdouble)
    for column in range(extended.shape[1]):
        total = total + extended[:, column]
    return total


def r_mean(values: np.ndarray) -> np.ndarray:
    """R's mean() per row: long-double sum / n, then one long-double correction pass (summary.c)."""
    extended = np.asarray(values, dtype=np.longdouble)
    mean = _sum_in_order(extended) / extended.shape[1]
    correction = _sum_in_order(extended - mean[:, None])
    finite = np.isfinite(mean.astype(float))
    return np.where(finite, mean + correction / extended.shape[1], mean).astype(float)


def r_col_means(values: np.ndarray) -> np.ndarray:
    """colMeans() per row, as scale() centres: long-double sum / n, no correction pass (array.c)."""
    extended = np.asarray(values, dtype=np.longdouble)
    return (_sum_in_order(extended) / extended.shape[1]).astype(float)


def r_median(values: np.ndarray) -> np.ndarray:
    """median() per row: the middle value, or mean() of the two middle ones."""
    ordered = np.sort(values, axis=1)
    n = ordered.shape[1]
    half = (n + 1) // 2
    if n % 2 == 1:
        return ordered[:, half - 1]
    return r_mean(ordered[:, half - 1 : half + 1])


def tau2_max(yi: np.ndarray) -> np.ndarray:
    """rma.uni's adaptive upper bound: max(100, 10*mad(yi)^2)."""
    mad = MAD_CONSTANT * r_median(np.abs(yi - r_median(yi)[:, None]))
    return np.maximum(TAU2_MAX_DEFAULT, 10 * (mad * mad))


def q_statistic(ymc: np.ndarray, vi: np.ndarray, X: np.ndarray, tau2: np.ndarray) -> np.ndarray:
    """metafor's .QE.func with objective 0: the residual sum of squares with weights 1/(vi + tau2)."""
    return wls(ymc, 1.0 / (vi + tau2[:, None]), X).rss


def paule_mandel(yi: np.ndarray, vi: np.ndarray, x: np.ndarray | None = None) -> PauleMandel:
    """tau^2 of rma.uni(yi, vi, mods=x, method="PM") for each row of yi, vi (G, n).

    Intercept-only when x is None, else intercept + x (G, n): regtest(model="rma") and
    trimfill's choice of side fit that model. Defaults as metafor's (tau2.min = 0, adaptive
    tau2.max, tol = eps^0.25, maxiter = 100); no control argument.
    """
    yi, vi = np.atleast_2d(np.asarray(yi, dtype=float)), np.atleast_2d(np.asarray(vi, dtype=float))
    G, k = yi.shape
    needs_metafor = _needs_metafor(yi, vi, x)
    # rows left to metafor get harmless stand-ins, so one of them cannot break the whole batch
    odd = needs_metafor[:, None]
    yi, vi = np.where(odd, 0.0, yi), np.where(odd, 1.0, vi)
    if x is not None:
        x = np.where(odd, np.arange(k, dtype=float), np.asarray(x, dtype=float))
    X = design(x, yi.shape)
    p = X.shape[-1]
    errors = np.full(G, "", dtype=object)
    tau2 = np.zeros(G)

    if k == 1 and x is None:  # rma.uni skips tau^2 estimation and sets tau2 = 0
        return _result(tau2, errors, np.ones(G, dtype=bool), needs_metafor)
    if x is not None and p + 1 > k:
        errors[:] = TOO_MANY_PARAMETERS
        return _result(np.full(G, np.nan), errors, np.zeros(G, dtype=bool), needs_metafor)

    target = float(k - p)
    ymc = yi - r_col_means(yi)[:, None]  # scale(yi, scale=FALSE): metafor's Ymc
    lower = np.zeros(G)  # con$tau2.min
    upper = tau2_max(yi)
    with np.errstate(all="ignore"):
        q_lower = q_statistic(ymc, vi, X, lower)
        q_upper = q_statistic(ymc, vi, X, upper)
    needs_metafor |= ~np.isfinite(q_lower) | ~np.isfinite(q_upper)  # Q overflows: R's zeroin would warn

    below = q_lower < target  # strict, as metafor: tau2 = tau2.min
    too_low = ~below & (q_upper > target)
    errors[too_low] = TAU2_MAX_TOO_LOW
    search = ~below & ~too_low
    # uniroot evaluates f(lower) and f(upper) itself: the same Q, minus the objective
    f_lower, f_upper = q_lower - target, q_upper - target
    failed = search & (uniroot_error(lower, upper, f_lower, f_upper) != "")
    errors[failed] = UNIROOT_FAILED
    search &= ~failed

    rows = np.flatnonzero(search)  # only these rows search; the others are settled
    ymc_rows, vi_rows, X_rows = ymc[rows], vi[rows], X[rows]

    def objective(tau2_values: np.ndarray) -> np.ndarray:
        return q_statistic(ymc_rows, vi_rows, X_rows, tau2_values) - target

    root, _, found_in_search = zeroin(objective, lower[rows], upper[rows], f_lower[rows], f_upper[rows], TOL, MAXITER)
    tau2[rows] = root
    found = np.ones(G, dtype=bool)
    found[rows] = found_in_search
    tau2[too_low | failed] = np.nan
    converged = ~(too_low | failed) & found
    warnings = [() if found[g] else (not_converged_warning(MAXITER),) for g in range(G)]
    return _result(tau2, errors, converged, needs_metafor, warnings)


def _result(tau2, errors, converged, needs_metafor, warnings=None) -> PauleMandel:
    """The result, with rows left to metafor blanked: their stand-in numbers mean nothing."""
    tau2, errors, converged = tau2.copy(), errors.copy(), converged.copy()
    tau2[needs_metafor], errors[needs_metafor], converged[needs_metafor] = np.nan, "", False
    warnings = [() if odd else w for odd, w in zip(needs_metafor, warnings or [()] * len(tau2))]
    return PauleMandel(tau2=tau2, converged=converged, errors=errors, warnings=warnings, needs_metafor=needs_metafor)


def _needs_metafor(yi: np.ndarray, vi: np.ndarray, x: np.ndarray | None) -> np.ndarray:
    """Corners left to metafor: non-positive or non-finite input (metafor warns and then errors),
    and x so close to constant that metafor may drop it as redundant (it then fits intercept-only)."""
    odd = ~np.all(np.isfinite(yi) & np.isfinite(vi) & (vi > 0), axis=1)
    if x is not None:
        x = np.asarray(x, dtype=float)
        spread = np.sqrt(np.sum((x - x.mean(axis=1, keepdims=True)) ** 2, axis=1))
        odd |= ~np.all(np.isfinite(x), axis=1) | (spread <= REDUNDANT_X * np.sqrt(np.sum(x * x, axis=1)))
    return odd
