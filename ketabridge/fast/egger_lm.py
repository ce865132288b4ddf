"""Egger's regression test, as metafor 3.8-1's ``regtest(fit, model="lm", predictor="sei")``.

metafor regresses yi on an intercept and sei = sqrt(vi) by weighted least squares
(``lm(yi ~ X - 1, weights = 1/vi)``), reports the t test of the sei slope with k - 2 degrees of
freedom, and the intercept (the "limit estimate") with a t confidence interval. Before that it
refuses a design that lm's pivoted QR finds rank-deficient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketabridge.fast import messages
from ketabridge.fast.distributions import pt_two_sided, qt_upper
from ketabridge.fast.model import alpha
from ketabridge.fast.steps import Outcome
from ketabridge.fast.weighted import design, wls

RANK_ERROR = messages.REGTEST_RANK
NAN_WARNING = "NaNs produced"  # qt() with df = 0, once for each CI bound

# lm's QR (LINPACK dqrdc2) drops a column whose norm, after the columns before it are
# projected out, falls below this fraction of its original norm.
LM_TOLERANCE = 1e-7
# Ratios within this relative distance below the tolerance still count as rank-deficient; above
# it they are left to metafor (see ILL_CONDITIONED_RATIO). Our ratio and dqrdc2's differ by
# rounding, about 1e-9 relative at the tolerance.
TOLERANCE_MARGIN = 1e-2
# Below this ratio sei is nearly constant and the slope ill-conditioned: rounding in R's QR
# and here then differs by about 2e-16 / ratio relative, more than the 1e-12 we promise.
ILL_CONDITIONED_RATIO = 1e-3
# summary.lm warns "essentially perfect fit" when the residual variance is below 1e-30 of the
# fitted values' scale. Fits within a margin of that have residuals made of rounding noise,
# which no two codes share: they are left to metafor, warning and all.
PERFECT_FIT_SCALE = 1e-30
PERFECT_FIT_MARGIN = 1e6


@dataclass(frozen=True)
class EggerTest:
    statistic: np.ndarray  # t of the sei slope, (G,)
    df: np.ndarray
    p_value: np.ndarray
    limit_estimate: np.ndarray  # the intercept
    limit_conf_low: np.ndarray
    limit_conf_high: np.ndarray
    errors: np.ndarray  # (G,) object: "" or metafor's error message
    warnings: list[tuple[str, ...]]
    needs_metafor: np.ndarray  # (G,) bool

    @property
    def outcome(self) -> Outcome:
        return Outcome.of(self.errors, self.warnings, self.needs_metafor)


def egger_lm(yi: np.ndarray, vi: np.ndarray, level: float) -> EggerTest:
    """``regtest(rma(yi, vi, level=level), model="lm")`` for (G, n) arrays; level in percent."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    groups, n = yi.shape
    if n < 2:  # lm's design (1, sei) has more columns than rows: sei is dropped
        return _all_failed(groups)
    sei = np.sqrt(vi)
    weights = 1.0 / vi
    ones = np.ones_like(sei)
    unweighted_ratio = _residual_norm_ratio(sei, ones)
    weighted_ratio = _residual_norm_ratio(sei * np.sqrt(weights), np.sqrt(weights))
    rank_deficient = unweighted_ratio < LM_TOLERANCE * (1 - TOLERANCE_MARGIN)
    # Where only the weighted fit would drop sei, R fails with a subscript error; such designs
    # are ill-conditioned and left to metafor
    # (that includes the band around lm's tolerance, where the verdict itself is uncertain)
    needs_metafor = ~rank_deficient & (
        (unweighted_ratio < ILL_CONDITIONED_RATIO) | (weighted_ratio < ILL_CONDITIONED_RATIO)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        # rank-deficient rows get a stand-in predictor so the batch's inversion stays regular
        stand_in = np.broadcast_to(np.arange(n, dtype=float), sei.shape)
        fit = _centred_fit(yi, np.where(rank_deficient[:, None], stand_in, sei), weights)
        df = np.full(groups, n - 2.0)
        # with k = 2 the QR residuals are exactly 0, so R's variance is 0/0
        resvar = np.where(df > 0, fit.rss / df, np.nan)
        statistic = fit.slope / np.sqrt(fit.slope_variance * resvar)
        p_value = pt_two_sided(statistic, df)
        limit_se = np.sqrt(fit.intercept_variance * resvar)
        critical = qt_upper(alpha(level) / 2, df)
    perfect = resvar < fit.fitted_scale * PERFECT_FIT_SCALE * PERFECT_FIT_MARGIN
    needs_metafor |= ~rank_deficient & perfect
    estimate = np.where(rank_deficient, np.nan, fit.intercept)
    failed = rank_deficient  # the only error metafor raises here
    warnings = [(NAN_WARNING, NAN_WARNING) if n == 2 and not bad else () for bad in failed.tolist()]
    return EggerTest(
        statistic=np.where(failed, np.nan, statistic),
        df=np.where(failed, np.nan, df),
        p_value=np.where(failed, np.nan, p_value),
        limit_estimate=estimate,
        limit_conf_low=np.where(failed, np.nan, estimate - critical * limit_se),
        limit_conf_high=np.where(failed, np.nan, estimate + critical * limit_se),
        errors=np.where(failed, RANK_ERROR, "").astype(object),
        warnings=warnings,
        needs_metafor=needs_metafor & ~failed,
    )


def _all_failed(groups: int) -> EggerTest:
    nan = np.full(groups, np.nan)
    return EggerTest(
        statistic=nan,
        df=nan,
        p_value=nan,
        limit_estimate=nan,
        limit_conf_low=nan,
        limit_conf_high=nan,
        errors=np.full(groups, RANK_ERROR, dtype=object),
        warnings=[()] * groups,
        needs_metafor=np.zeros(groups, dtype=bool),
    )


@dataclass(frozen=True)
class _Fit:
    intercept: np.ndarray
    slope: np.ndarray
    intercept_variance: np.ndarray  # unscaled: (X'WX)^-1 entries, times resvar gives SE^2
    slope_variance: np.ndarray
    rss: np.ndarray
    fitted_scale: np.ndarray  # mean(f)^2 + var(f) of the fitted values, as summary.lm takes it


def _centred_fit(yi: np.ndarray, sei: np.ndarray, weights: np.ndarray) -> _Fit:
    """The weighted fit of yi on (1, sei), solved with sei centred at its weighted mean.

    Centring makes X'WX diagonal, so the solution keeps the accuracy of lm's QR instead of
    losing digits to the normal equations' conditioning when sei varies little.
    """
    centre = np.sum(weights * sei, axis=1) / np.sum(weights, axis=1)
    solved = wls(yi, weights, design(sei - centre[:, None], yi.shape))
    slope = solved.beta[:, 1]
    inverse = solved.inverse
    fitted = yi - solved.residual
    return _Fit(
        intercept=solved.beta[:, 0] - slope * centre,
        slope=slope,
        intercept_variance=inverse[:, 0, 0] - 2 * centre * inverse[:, 0, 1] + centre**2 * inverse[:, 1, 1],
        slope_variance=inverse[:, 1, 1],
        rss=solved.rss,
        fitted_scale=np.mean(fitted, axis=1) ** 2 + np.var(fitted, axis=1, ddof=1),
    )


def _residual_norm_ratio(column: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """|column minus its projection on the intercept column| / |column|, per row: dqrdc2's test."""
    coefficient = np.sum(column * intercept, axis=1) / np.sum(intercept * intercept, axis=1)
    residual = column - coefficient[:, None] * intercept
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.linalg.norm(residual, axis=1) / np.linalg.norm(column, axis=1)
