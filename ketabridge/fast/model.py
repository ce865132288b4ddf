"""rma.uni for many analyses at once: tau^2, then the coefficients, tests, intervals and
heterogeneity statistics as metafor 3.8-1 computes them (intercept-only, or intercept + x)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketabridge.fast import distributions as dist
from ketabridge.fast import messages, rules
from ketabridge.fast.steps import Outcome
from ketabridge.fast.tau2 import estimate_tau2
from ketabridge.fast.weighted import design, leverage, trace_p, wls
from ketabridge.options import EQUAL_EFFECTS_METHODS

EVTOL = 1e-7  # rma.uni's control$evtol: rank and variance-ratio checks
NEAR_SINGULAR = 1e-5  # x not constant, yet X'X this close to singular: R's eigen() decides; leave to metafor


@dataclass
class Fit:
    """One rma.uni fit per row; (G, p) arrays for the coefficients, (G,) for the rest."""

    method: str
    test: str
    level: float  # percent, as kb_glance reports it
    k: int
    p: int
    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    ddf: np.ndarray
    tau2: np.ndarray
    se_tau2: np.ndarray
    qe: np.ndarray
    qe_p: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    qm: np.ndarray
    qm_p: np.ndarray
    pi_lb: np.ndarray
    pi_ub: np.ndarray
    outcome: Outcome


def alpha(level: float) -> float:
    """metafor's .level(): 95 -> 0.05, 0.95 -> 0.05, 0.05 -> 0.05 (and 1 means 1 %, 0 means 0 %)."""
    if level == 0:
        return 1.0
    if level >= 1:
        return (100 - level) / 100
    return 1 - level if level > 0.5 else level


def rma(
    yi: np.ndarray, vi: np.ndarray, method: str, test: str = "z", level: float = 95.0, x: np.ndarray | None = None
) -> Fit:
    """rma.uni(yi, vi, mods = x, method, test, level) for each row of the (G, k) arrays."""
    # R divides by zero without a word (a saturated model, se = 0): Inf and NaN are its results too;
    # an overflow makes a result non-finite, and such analyses are left to metafor
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _rma(yi, vi, method, test, level, x)


def _rma(yi, vi, method, test, level, x) -> Fit:
    count, k = yi.shape
    X = design(x, yi.shape)
    p = X.shape[2]
    outcome = Outcome.empty(count)
    too_many = (p > k) if method in EQUAL_EFFECTS_METHODS else (p + 1 > k)
    outcome.fail(np.full(count, too_many), messages.TOO_MANY_PARAMETERS)
    if p == 2:
        # a (nearly) constant moderator: metafor drops it as redundant and fits without it, which
        # is not replayed here; such rows get a stand-in moderator and go to metafor
        outcome.needs_metafor |= (np.ptp(x, axis=1) == 0) | (_smallest_eigenvalue(X) <= NEAR_SINGULAR)
        x = np.where(outcome.needs_metafor[:, None], np.arange(k, dtype=float)[None, :], x)
        # centred, the moderator spans the same space with a well-conditioned X'WX: P, tau^2 and
        # the slope are unchanged, and the intercept is moved back at the end
        shift = x.mean(axis=1)
        x = x - shift[:, None]
        X = design(x, yi.shape)
    # metafor warns that its own results may be unstable here: they rest on its order of operations
    # (a vi that underflowed to 0, from sei**2, is such a case too: the ratio is NaN or Inf)
    ratio = vi.max(axis=1) / vi.min(axis=1)
    outcome.needs_metafor |= ~(ratio < 1 / EVTOL)
    if too_many:
        estimate = None
    else:
        estimate = estimate_tau2(yi, vi, method, x)
        outcome.absorb(estimate.outcome)
    tau2 = np.full(count, np.nan) if estimate is None else np.where(outcome.failed, np.nan, estimate.tau2)
    se_tau2 = np.full(count, np.nan) if estimate is None else estimate.se

    w = 1.0 / (vi + np.nan_to_num(tau2)[:, None])
    fit = wls(yi, w, X)
    vb = fit.inverse
    if test == "knha":
        scale = np.where(fit.rss <= np.finfo(float).eps, 0.0, fit.rss / (k - p))
        vb = vb * scale[:, None, None]
        warning = rules.current().knha_equal_effects(method) if method in EQUAL_EFFECTS_METHODS else None
        if warning:
            outcome.warn(np.ones(count, dtype=bool), warning)
    beta = fit.beta
    if p == 2:
        beta, vb = _uncentred(beta, vb, shift)
    se = np.sqrt(np.einsum("gaa->ga", vb))
    zval = beta / se
    a = alpha(level)
    if test == "knha":
        ddf = np.full(count, float(k - p))
        pval = dist.pt_two_sided(zval, ddf[:, None])
        crit = dist.qt_upper(a / 2, ddf)[:, None]
    else:
        ddf = np.full(count, np.nan)
        pval = dist.pnorm_two_sided(zval)
        crit = np.full((count, 1), dist.qnorm_upper(a / 2))
    qe, qe_p, i2, h2 = _heterogeneity(yi, vi, X, k, p, method, tau2)
    qm = qm_p = pi_lb = pi_ub = np.full(count, np.nan)
    if p == 1:  # metafor's chol(vb) fails on vb = 0 (knha, all yi equal): QM is NA then
        qm = np.where(vb[:, 0, 0] > 0, beta[:, 0] ** 2 / vb[:, 0, 0], np.nan)
        qm_p = dist.pf_upper(qm, 1, ddf) if test == "knha" else dist.pchisq_upper(qm, 1)
        if method not in EQUAL_EFFECTS_METHODS:
            spread = crit[:, 0] * np.sqrt(vb[:, 0, 0] + tau2)
            pi_lb, pi_ub = beta[:, 0] - spread, beta[:, 0] + spread
    # overflow (yi near 1e160, tau^2 infinite) is outside what the fast path replays
    outcome.needs_metafor |= ~outcome.failed & ~(np.isfinite(tau2) & np.isfinite(beta).all(axis=1))
    failed = outcome.failed
    nan_rows = lambda values: np.where(failed.reshape((-1,) + (1,) * (values.ndim - 1)), np.nan, values)  # noqa: E731
    return Fit(
        method=method,
        test=test,
        level=100 * (1 - a),
        k=k,
        p=p,
        beta=nan_rows(beta),
        se=nan_rows(se),
        zval=nan_rows(zval),
        pval=nan_rows(pval),
        ci_lb=nan_rows(beta - crit * se),
        ci_ub=nan_rows(beta + crit * se),
        ddf=nan_rows(ddf),
        tau2=nan_rows(tau2),
        se_tau2=nan_rows(se_tau2),
        qe=nan_rows(qe),
        qe_p=nan_rows(qe_p),
        i2=nan_rows(i2),
        h2=nan_rows(h2),
        qm=nan_rows(qm),
        qm_p=nan_rows(qm_p),
        pi_lb=nan_rows(pi_lb),
        pi_ub=nan_rows(pi_ub),
        outcome=outcome,
    )


def _heterogeneity(yi, vi, X, k, p, method, tau2):
    """Cochran's Q (always inverse-variance), its p-value, I^2 (percent) and H^2."""
    if k == p:  # a saturated model: rma.uni's fixed values
        return np.zeros(len(yi)), np.ones(len(yi)), np.zeros(len(yi)), np.ones(len(yi))
    w = 1.0 / vi
    ymc = yi - yi.mean(axis=1, keepdims=True)
    fit = wls(ymc, w, X)
    qe = np.maximum(0.0, fit.rss)
    qe_p = dist.pchisq_upper(qe, k - p)
    if method in EQUAL_EFFECTS_METHODS:
        with np.errstate(divide="ignore", invalid="ignore"):
            i2 = np.maximum(0.0, 100 * (qe - (k - p)) / qe)
        return qe, qe_p, np.where(np.isnan(i2), 0.0, i2), qe / (k - p)
    typical = (k - p) / trace_p(w, leverage(X, fit.inverse))
    return qe, qe_p, 100 * tau2 / (typical + tau2), tau2 / typical + 1


def _uncentred(beta: np.ndarray, vb: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and their covariance for [1, x] from those for [1, x - shift]."""
    intercept = beta[:, 0] - shift * beta[:, 1]
    v00 = vb[:, 0, 0] - 2 * shift * vb[:, 0, 1] + shift * shift * vb[:, 1, 1]
    v01 = vb[:, 0, 1] - shift * vb[:, 1, 1]
    covariance = np.stack([np.stack([v00, v01], -1), np.stack([v01, vb[:, 1, 1]], -1)], -2)
    return np.stack([intercept, beta[:, 1]], -1), covariance


def _smallest_eigenvalue(X: np.ndarray) -> np.ndarray:
    """Smallest eigenvalue of the 2 x 2 crossprod(X), rma.uni's full-rank check."""
    xx = np.einsum("gia,gib->gab", X, X)
    half_sum = (xx[:, 0, 0] + xx[:, 1, 1]) / 2
    radius = np.hypot((xx[:, 0, 0] - xx[:, 1, 1]) / 2, xx[:, 0, 1])
    return half_sum - radius
