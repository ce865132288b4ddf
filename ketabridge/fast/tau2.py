"""tau^2 as metafor 3.8-1's rma.uni estimates it, for many analyses at once.

Each estimator follows rma.uni's own steps and defaults (control: tau2.min 0, threshold 1e-5,
maxiter 100, stepadj 1, tol .Machine$double.eps^0.25, ll0check TRUE), so the iterates, the
truncation at 0 and the failures are metafor's. Quantities metafor takes from the k x k matrix P
come from weighted.py's moment sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketabridge.agreement.tolerances import EXACT
from ketabridge.fast import messages
from ketabridge.fast.steps import Outcome
from ketabridge.fast.weighted import design, leverage, trace_p, trace_pp, wls
from ketabridge.options import EQUAL_EFFECTS_METHODS

THRESHOLD = 1e-5
MAXITER = 100
# Past tau^2 ~ 7e8 the absolute threshold is within 64 ulps of tau^2: whether Fisher scoring ever
# stops (a step of exactly 0 in R, one ulp in numpy) is decided by rounding; left to metafor
ROUNDING_DECIDES = THRESHOLD / (64 * np.finfo(float).eps)
TOL = np.finfo(float).eps ** 0.25
LOG_2PI = np.log(2 * np.pi)


@dataclass
class Tau2:
    tau2: np.ndarray  # (G,); NaN where the estimator failed
    se: np.ndarray  # metafor's se.tau2 (NaN for EE/FE)
    outcome: Outcome


def estimate_tau2(yi: np.ndarray, vi: np.ndarray, method: str, x: np.ndarray | None = None) -> Tau2:
    """tau^2 and its SE for the model yi ~ 1 (+ x), as rma.uni(yi, vi, mods=x, method=method)."""
    count, k = yi.shape
    X = design(x, yi.shape)
    p = X.shape[2]
    ymc = yi - yi.mean(axis=1, keepdims=True)  # rma.uni centres yi for the tau^2 computations
    outcome = Outcome.empty(count)
    if method in EQUAL_EFFECTS_METHODS:
        return Tau2(np.zeros(count), np.full(count, np.nan), outcome)
    if method == "DL":
        return _dersimonian_laird(ymc, vi, X, k, p, outcome)
    if method == "SJ":
        return _sidik_jonkman(ymc, vi, X, k, p, outcome)
    if method == "PM":
        from ketabridge.fast.paule_mandel import paule_mandel

        pm = paule_mandel(yi, vi, x)
        outcome.absorb(pm.outcome)
        tau2 = np.where(outcome.failed, np.nan, pm.tau2)
        with np.errstate(invalid="ignore"):
            se = np.sqrt(2.0 * k * k / (k - p)) / np.sum(1.0 / (vi + tau2[:, None]), axis=1)
        return Tau2(tau2, se, outcome)
    hedges, hedges_se = _hedges(ymc, vi, X, k, p)
    if method == "HE":
        return Tau2(np.maximum(0.0, hedges), hedges_se, outcome)
    return _fisher_scoring(ymc, vi, X, k, p, method, np.maximum(0.0, hedges), outcome)


def _dersimonian_laird(ymc, vi, X, k, p, outcome) -> Tau2:
    w = 1.0 / vi
    fit = wls(ymc, w, X)
    h = leverage(X, fit.inverse)
    tr_p = trace_p(w, h)
    tau2 = np.maximum(0.0, (fit.rss - (k - p)) / tr_p)
    se = np.sqrt(1.0 / tr_p**2 * (2 * (k - p) + 4 * tau2 * tr_p + 2 * tau2**2 * trace_pp(w, h, X, fit.inverse)))
    return Tau2(tau2, se, outcome)


def _hedges(ymc, vi, X, k, p) -> tuple[np.ndarray, np.ndarray]:
    """The untruncated HE estimate (also ML/REML's start value) and HE's SE at max(0, it)."""
    ones = np.ones_like(vi)
    fit = wls(ymc, ones, X)
    h = leverage(X, fit.inverse)
    tr_pv = np.sum((1.0 - h) * vi, axis=1)
    tau2 = (fit.rss - tr_pv) / (k - p)
    # tr(PVPV) with P = I - X(X'X)^-1X': sum v^2 - 2 sum h v^2 + tr((A^-1 C)^2), C = X'VX
    ac = np.einsum("gab,gbc->gac", fit.inverse, np.einsum("gi,gia,gib->gab", vi, X, X))
    tr_pvpv = np.sum(vi * vi - 2.0 * h * vi * vi, axis=1) + np.einsum("gab,gba->g", ac, ac)
    positive = np.maximum(0.0, tau2)
    se = np.sqrt(1.0 / (k - p) ** 2 * (2 * tr_pvpv + 4 * positive * tr_pv + 2 * positive**2 * (k - p)))
    return tau2, se


def _sidik_jonkman(ymc, vi, X, k, p, outcome) -> Tau2:
    start = ymc.var(axis=1, ddof=1) * (k - 1) / k
    w = 1.0 / (vi + start[:, None])
    fit = wls(ymc, w, X)
    tau2 = np.maximum(0.0, start * fit.rss / (k - p))
    h = leverage(X, fit.inverse)
    b = np.einsum("gi,gia,gib->gab", w * w, X, X)
    ab = np.einsum("gab,gbc->gac", fit.inverse, b)
    g = np.einsum("gia,gab,gib->gi", X, ab @ fit.inverse, X)  # x' A^-1 B A^-1 x
    ac = np.einsum("gab,gbc->gac", fit.inverse, np.einsum("gi,gia,gib->gab", w * w * vi, X, X))
    tr_pvpv = np.sum(w * w * vi * vi - 2.0 * w**3 * vi * vi * h, axis=1) + np.einsum("gab,gba->g", ac, ac)
    pv_p = np.sum(vi * (w * w - 2.0 * w**3 * h + w * w * g), axis=1)  # sum(PV * P)
    pp = trace_pp(w, h, X, fit.inverse)
    se = np.sqrt(start**2 / (k - p) ** 2 * (2 * tr_pvpv + 4 * tau2 * pv_p + 2 * tau2**2 * pp))
    return Tau2(tau2, se, outcome)


def _fisher_scoring(ymc, vi, X, k, p, method, start, outcome) -> Tau2:
    """ML/REML: rma.uni's Fisher scoring from the HE start, step-halving at tau2.min = 0."""
    tau2 = start.copy()
    converged = np.ones(len(tau2), dtype=bool)
    # the analyses still iterating, their data kept compact and shrunk only when some stop: most
    # iterations run on a few slow analyses, where numpy's per-call cost is what counts
    rows = np.arange(len(tau2))
    y_rows, v_rows, X_rows = ymc, vi, X
    intercept_only = X.shape[2] == 1
    iteration = 0
    while len(rows):
        iteration += 1
        old = tau2[rows]
        w = 1.0 / (v_rows + old[:, None])
        if intercept_only:  # wls, leverage, trace_p and trace_pp for X = 1, inlined (the same arithmetic)
            total = w.sum(axis=1)
            residual = y_rows - ((w * y_rows).sum(axis=1) / total)[:, None]
            ypy2 = np.sum((w * residual) ** 2, axis=1)
        else:
            fit = wls(y_rows, w, X_rows)
            ypy2 = np.sum((w * fit.residual) ** 2, axis=1)  # Y'PPY: P y = W (y - X b)
        if method == "ML":
            adj = (ypy2 - w.sum(axis=1)) / np.sum(w * w, axis=1)
        elif intercept_only:
            h = (1.0 / total)[:, None]  # leverage: (X'WX)^-1 for every study
            w2 = w * w
            ab = h[:, 0] * w2.sum(axis=1)
            adj = (ypy2 - np.sum(w - w * w * h, axis=1)) / (np.sum(w2 - 2.0 * w2 * w * h, axis=1) + ab * ab)
        else:
            h = leverage(X_rows, fit.inverse)
            adj = (ypy2 - trace_p(w, h)) / trace_pp(w, h, X_rows, fit.inverse)
        adj[np.isnan(adj)] = 0.0
        adj = _halve_below_zero(old, adj)
        new = old + adj
        tau2[rows] = new
        if iteration > MAXITER:
            converged[rows] = False
            break
        going = np.abs(old - new) > THRESHOLD
        if not going.all():
            rows, y_rows, v_rows, X_rows = rows[going], y_rows[going], v_rows[going], X_rows[going]
    outcome.needs_metafor |= np.abs(tau2) > ROUNDING_DECIDES
    outcome.fail(~converged, messages.NOT_CONVERGED)
    if method in ("ML", "REML"):
        stuck = converged & _zero_is_better(ymc, vi, X, k, p, method, tau2)
        outcome.warn(stuck, messages.LOCAL_MAXIMUM)
        tau2 = np.where(stuck, 0.0, tau2)
    tau2 = np.where(converged, np.maximum(0.0, tau2), np.nan)
    w = 1.0 / (vi + tau2[:, None])
    fit = wls(ymc, w, X)
    outcome.needs_metafor |= _rounding_of_the_effects_matters(ymc, w, fit, tau2)
    if method == "ML":
        se = np.sqrt(2.0 / np.sum(w * w, axis=1))
    else:
        se = np.sqrt(2.0 / trace_pp(w, leverage(X, fit.inverse), X, fit.inverse))
    return Tau2(tau2, se, outcome)


def _rounding_of_the_effects_matters(ymc, w, fit, tau2) -> np.ndarray:
    """Whether the effects' own rounding can move tau^2 by more than the fast engine's tolerance.

    Each Fisher step is formed from weighted residuals, which carry the rounding of the effects'
    size (eps x max |yi|); numpy and R form them in another order, so every step may differ by
    about eps x max|yi| x max(w |res|) x max(w) / sum(w^2), and the iterations carry that absolute
    difference down to the estimate (seen: effects up to 1155 with vi from 0.47 to 5e5 leave ML's
    tau^2 = 8.2e-6 at 1.25e-12 from metafor's, every iterate off by the same). Where twice that,
    with 64 ulps to spare, could pass the iterative class's absolute tolerance, metafor decides.
    """
    eps = np.finfo(float).eps
    per_step = (
        eps
        * np.max(np.abs(ymc), axis=1)
        * np.max(np.abs(w * fit.residual), axis=1)
        * np.max(w, axis=1)
        / np.sum(w * w, axis=1)
    )
    allowed = EXACT["iterative"].atol + EXACT["iterative"].rtol * np.abs(np.nan_to_num(tau2))
    return 2 * 64 * per_step > allowed


def _halve_below_zero(tau2: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """rma.uni's `while (tau2 + adj < tau2.min) adj <- adj / 2`. From tau2 = 0 a downhill step
    halves until it underflows to -0, so it becomes 0 at once (same result, no 1075 halvings)."""
    adj = np.where((tau2 == 0) & (adj < 0), -0.0, adj)
    below = tau2 + adj < 0
    while below.any():
        adj[below] /= 2
        below = tau2 + adj < 0
    return adj


def _zero_is_better(ymc, vi, X, k, p, method, tau2) -> np.ndarray:
    """ll0check: the (restricted) log-likelihood at tau^2 = 0 beats the estimate by more than tol."""
    gain = _log_likelihood(ymc, vi, X, k, p, method) - _log_likelihood(
        ymc, vi + np.nan_to_num(tau2)[:, None], X, k, p, method
    )
    return (gain > TOL) & (tau2 > THRESHOLD)


def _log_likelihood(ymc, variances, X, k, p, method) -> np.ndarray:
    w = 1.0 / variances
    fit = wls(ymc, w, X)
    if method == "ML":
        return -0.5 * k * LOG_2PI - 0.5 * np.sum(np.log(variances), axis=1) - 0.5 * fit.rss
    log_det = -np.linalg.slogdet(fit.inverse)[1]  # log |X'WX|
    return -0.5 * (k - p) * LOG_2PI - 0.5 * np.sum(np.log(variances), axis=1) - 0.5 * log_det - 0.5 * fit.rss
