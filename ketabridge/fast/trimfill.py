"""Trim-and-fill (Duval & Tweedie) as metafor 3.8-1's trimfill.rma.uni runs it, for many analyses.

The side comes from an rma fit with mods = sqrt(vi) unless given; the studies are sorted on that
side; each round refits rma on the k - k0 smallest, ranks the centred values and re-estimates k0
(L0 or R0) until k0 repeats; the filled studies are mirrored about the last estimate and the model
is refitted with rma's default test and level, as metafor's trimfill does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketabridge.fast import messages
from ketabridge.fast.model import Fit, rma
from ketabridge.fast.steps import Outcome

MAXITER = 100


@dataclass
class TrimFill:
    k0: np.ndarray  # (G,) int; -1 where it failed
    k0_se: np.ndarray
    side: np.ndarray  # object (G,): "left" | "right"
    filled: dict  # glance arrays of the filled-in model (the original fit's where k0 = 0)
    outcome: Outcome  # errors/warnings of trimfill itself (R prefixes them "trimfill")


def trimfill(
    yi: np.ndarray, vi: np.ndarray, method: str, glance: dict, estimator: str = "L0", side: str | None = None
) -> TrimFill:
    """metafor's trimfill(fit, side, estimator) per row, for fits by `method` whose glance
    arrays are `glance` (returned as they are where no study is filled in)."""
    count, k = yi.shape
    outcome = Outcome.empty(count)
    if side is None:
        # trimfill's own rma fit with the predictor sqrt(vi) (warnings suppressed, errors kept);
        # a constant sqrt(vi) is dropped by rma, leaving no slope to compare with 0
        outcome.fail(np.ptp(vi, axis=1) == 0, messages.NO_SIDE)
        rows = np.flatnonzero(~outcome.failed)
        sided = rma(yi[rows], vi[rows], method, x=np.sqrt(vi[rows]))
        outcome.absorb(_errors_only(sided.outcome), rows)
        right = np.zeros(count, dtype=bool)
        right[rows] = sided.beta[:, 1] < 0
    else:
        right = np.full(count, side == "right")
    flipped = np.where(right[:, None], -yi, yi)
    order = np.argsort(flipped, axis=1, kind="stable")
    ys, vs = np.take_along_axis(flipped, order, 1), np.take_along_axis(vi, order, 1)

    k0 = np.zeros(count, dtype=np.int64)
    k0_saved = np.full(count, -1, dtype=np.int64)
    k0_se = np.full(count, np.nan)
    beta = np.full(count, np.nan)
    iteration = 0
    while True:
        active = (k0 != k0_saved) & ~outcome.failed & ~outcome.needs_metafor
        if not active.any():
            break
        iteration += 1
        if iteration > MAXITER:
            outcome.fail(active, messages.TRIMFILL_NOT_CONVERGED)
            break
        k0_saved = np.where(active, k0, k0_saved)
        for size in np.unique(k - k0[active]):
            rows = np.flatnonzero(active & (k - k0 == size))
            if size < 2:  # metafor would fit an empty or one-study model: leave it to metafor
                outcome.needs_metafor[rows] = True
                continue
            inner = rma(ys[rows, :size], vs[rows, :size], method)
            outcome.absorb(_errors_only(inner.outcome), rows)
            beta[rows] = inner.beta[:, 0]
        rows = np.flatnonzero(active & ~outcome.failed & ~outcome.needs_metafor)
        scale = np.abs(ys[rows]).max(axis=1) + np.abs(beta[rows])
        new_k0, new_se, nan_se, undefined = _estimate_k0(ys[rows] - beta[rows, None], scale, k, estimator)
        for row in rows[nan_se]:
            outcome.note(row, "NaNs produced")  # R's warning from sqrt(varSr < 0)
        outcome.needs_metafor[rows[undefined]] = True
        k0[rows], k0_se[rows] = new_k0, new_se

    done = ~outcome.failed & ~outcome.needs_metafor
    filled = {name: np.where(done, values, _missing(values)) for name, values in glance.items()}
    for extra in np.unique(k0[done & (k0 > 0)]):
        rows = np.flatnonzero(done & (k0 == extra))
        centred = ys[rows] - beta[rows, None]
        centred = np.where(right[rows, None], -(centred - beta[rows, None]), centred - beta[rows, None])
        refit = rma(
            np.concatenate([yi[rows], -centred[:, k - extra :]], axis=1),
            np.concatenate([vi[rows], vs[rows, k - extra :]], axis=1),
            method,
        )
        outcome.absorb(_errors_only(refit.outcome), rows)
        for name, values in glance_of(refit).items():
            filled[name][rows] = values
    failed = outcome.failed | outcome.needs_metafor
    return TrimFill(
        k0=np.where(failed, -1, k0),
        k0_se=np.where(failed, np.nan, k0_se),
        side=np.where(right, "right", "left").astype(object),
        filled=filled,
        outcome=outcome,
    )


def _estimate_k0(centred: np.ndarray, scale: np.ndarray, k: int, estimator: str):
    """(k0, se, sqrt(negative) happened, k0 to leave to metafor) from one round's centred values;
    scale is the size of the numbers they were centred from."""
    distance = np.abs(centred)
    order = np.argsort(distance, axis=1, kind="stable")
    ranks = np.empty(centred.shape, dtype=np.int64)
    np.put_along_axis(ranks, order, np.arange(1, k + 1)[None, :], 1)
    # signs of ~0 and the order of near-ties are decided by the last bits of the estimate, which
    # differ between R's QR and these sums: such rounds are metafor's to count. Equal values tie
    # in both (rank's "first" order); unequal values on either side of the estimate, at equal
    # distances to within rounding (-84.26 and -84.27 about -84.265), tie only where it is exact
    noise = 64 * np.finfo(float).eps * scale[:, None]
    gaps = np.diff(np.take_along_axis(distance, order, 1), axis=1)
    unequal = np.diff(np.take_along_axis(centred, order, 1), axis=1) != 0
    ambiguous = (distance <= noise).any(axis=1) | ((gaps <= noise) & unequal).any(axis=1)
    signed = np.sign(centred) * ranks
    nan_se = np.zeros(len(centred), dtype=bool)
    if estimator == "R0":
        negative = np.where(signed < 0, -signed, -np.inf).max(axis=1)
        undefined = ~np.isfinite(negative) | ambiguous  # none below the estimate: R's max() of nothing
        k0 = (k - np.where(undefined, 0, negative)) - 1
        se = np.sqrt(2 * np.maximum(0, k0) + 2)
    else:
        sr = np.where(signed > 0, signed, 0).sum(axis=1)
        k0 = (4 * sr - k * (k + 1)) / (2 * k - 1)
        var_sr = (
            1
            / 24
            * (
                k * (k + 1) * (2 * k + 1)
                + 10 * k0**3
                + 27 * k0**2
                + 17 * k0
                - 18 * k * k0**2
                - 18 * k * k0
                + 6 * k**2 * k0
            )
        )
        nan_se = var_sr < 0
        with np.errstate(invalid="ignore"):
            se = 4 * np.sqrt(var_sr) / (2 * k - 1)
        undefined = ambiguous
    # R: k0 <- max(0, round(k0)); se.k0 <- max(0, se.k0), and max(0, NaN) is NaN
    return (
        np.maximum(0, np.round(k0)).astype(np.int64),
        np.where(np.isnan(se), np.nan, np.maximum(0, se)),
        nan_se,
        undefined,
    )


def _errors_only(outcome: Outcome) -> Outcome:
    """trimfill wraps its rma fits in suppressWarnings(): their errors stop it, warnings vanish."""
    return Outcome(outcome.errors, [[] for _ in outcome.errors], outcome.needs_metafor)


def _missing(values: np.ndarray) -> np.ndarray:
    return np.full(values.shape, np.nan) if values.dtype.kind == "f" else values.copy()


def glance_of(fit: Fit) -> dict:
    """kb_glance's numeric columns of an intercept-only fit, by glance column name."""
    return {
        "k": np.full(len(fit.tau2), fit.k),
        "level": np.full(len(fit.tau2), fit.level),
        "test": np.full(len(fit.tau2), fit.test, dtype=object),
        "estimate": fit.beta[:, 0],
        "std_error": fit.se[:, 0],
        "statistic": fit.zval[:, 0],
        "df": fit.ddf,
        "p_value": fit.pval[:, 0],
        "conf_low": fit.ci_lb[:, 0],
        "conf_high": fit.ci_ub[:, 0],
        "pi_low": fit.pi_lb,
        "pi_high": fit.pi_ub,
        "tau2": fit.tau2,
        "tau2_se": fit.se_tau2,
        "tau": np.sqrt(fit.tau2),
        "i2": fit.i2,
        "h2": fit.h2,
        "q": fit.qe,
        "q_df": np.full(len(fit.tau2), fit.k - fit.p),
        "q_pvalue": fit.qe_p,
        "qm": fit.qm,
        "qm_df": np.ones(len(fit.tau2), dtype=np.int64),
        "qm_pvalue": fit.qm_p,
    }
