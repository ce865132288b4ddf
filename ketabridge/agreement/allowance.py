"""How far the fast engine may be from metafor, per analysis, in one batch glance column: EXACT's
tolerance for the column (tolerances.pick), widened where rounding grows with a statistic or with
the size of the data (each rule, with its reason, is GROWING; the verdict lists them)."""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from ketabridge.agreement.tolerances import EXACT, Tolerance, pick, split_prefix, statistic_of, tail_rtol

EPS = np.finfo(float).eps
DATA_ROUNDING = 64 * EPS  # times the analysis' largest |yi| / sei: rounding of the data's own size
# sqrt() multiplies tau^2's relative error near 0 without bound: compare tau on tau^2's scale
SQUARED = ("tau", "trimfill_tau")
# reported with the verdict: the tolerances that grow with a statistic or with the data's size,
# and why (see allowed)
GROWING = {
    "p_values": "rtol + what the statistic may differ by, x (1 + |z|) for z and t tails (so ~ its rtol x z^2) "
    "or x 1 for chi-square and F tails (~ its rtol x Q): a tail area carries its statistic's rounding",
    "statistic": "rtol x (1 + |t|) where the SE comes from residuals (test knha, Egger's lm): they "
    "cancel to ~1/|t| of the data's size",
    "regtest_statistic": "atol at least 64 eps x the analysis' largest |yi| / sei: Egger's slope is formed "
    "from products of yi / sei, so its rounding follows them, not the slope",
    "trimfill_": "rtol + 64 eps x the analysis' largest |yi| / sei: filled studies are mirrored about an "
    "estimate rounded to ~eps |estimate|",
    "tau2_se": "rtol + eps x (largest / smallest vi)^2: metafor's trace of PP cancels as the squared weight ratio",
}


class Scales(NamedTuple):
    """Per analysis, the data's sizes that its rounding errors scale with (see data_scales)."""

    largest_z: np.ndarray
    vi_ratio: np.ndarray


def data_scales(sizes: np.ndarray, data: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each analysis' largest |yi| / sei and largest / smallest vi (the checked analyses of a
    payload: k >= 2, vi > 0): the sizes its rounding errors scale with."""
    if not len(sizes):
        return np.zeros(0), np.zeros(0)
    vi = data["sei"] ** 2 if "sei" in data else data["vi"]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    largest_z = np.maximum.reduceat(np.abs(data["yi"]) / np.sqrt(vi), starts)
    return largest_z, np.maximum.reduceat(vi, starts) / np.minimum.reduceat(vi, starts)


def aligned(scales: dict, ids: list) -> Scales:
    """The analyses' scales in the order of ids (an analysis with none counts as z 0, ratio 1)."""
    values = np.array([scales.get(analysis, (0.0, 1.0)) for analysis in ids], dtype=float).reshape(-1, 2)
    return Scales(largest_z=values[:, 0], vi_ratio=values[:, 1])


def compared_scale(column: str, values: np.ndarray) -> np.ndarray:
    """A column's values on the scale they are compared on (tau as tau^2, see SQUARED)."""
    return values * values if column in SQUARED else values


def allowed(
    column: str, tolerance: Tolerance, size: np.ndarray, metafor_glance: pd.DataFrame, method: str, scale: Scales | None
) -> np.ndarray:
    """|fast - metafor| allowed per analysis in one glance column, whose metafor values (on the
    compared scale) have sizes `size` and whose tolerance is tolerances.pick(EXACT, column, method):
    atol + rtol * size, where statistics and p-values widen it as GROWING says."""
    prefix, quantity = split_prefix(column)
    if prefix == "trimfill_" and scale is not None:
        # the filled studies are mirrored about an estimate rounded to ~eps |estimate|, an error of
        # up to eps x the largest |yi| / sei in each filled study's own units, and the refit keeps it
        tolerance = replace(tolerance, rtol=tolerance.rtol + DATA_ROUNDING * scale.largest_z)
    if quantity == "tau2_se" and scale is not None:
        # metafor's trace of PP cancels as the squared weight ratio: 3.4e-12 at k = 2, vi ratio 481
        return tolerance.atol + (tolerance.rtol + EPS * scale.vi_ratio**2) * size
    if quantity == "statistic":
        return _statistic_allowed(prefix, tolerance, size, metafor_glance, scale)
    tail = statistic_of(column)
    if tail is None or tail[0] not in metafor_glance:
        return tolerance.atol + tolerance.rtol * size
    statistic = tail[0]
    x = np.abs(metafor_glance[statistic].to_numpy(dtype=float))
    own = pick(EXACT, statistic, method)[1]
    x_allowed = (
        _statistic_allowed(prefix, own, x, metafor_glance, scale)
        if split_prefix(statistic)[1] == "statistic"
        else own.atol + own.rtol * x
    )
    return tolerance.atol + tail_rtol(EXACT, column, method, tolerance.rtol, x, np.nan_to_num(x_allowed)) * size


def _statistic_allowed(
    prefix: str, tolerance: Tolerance, size: np.ndarray, metafor_glance: pd.DataFrame, scale: Scales | None
) -> np.ndarray:
    """A z or t statistic's allowance. Where its SE comes from residuals (test knha, Egger's lm),
    they cancel to about 1/|t| of the data's size, so rounding grows with |t| (Egger's lm t = 131
    at k = 3 differs by 1.1e-12 relative). Egger's slope is formed from products of yi/sei
    (metafor: stXWX %*% X'WY), so its rounding follows the data's largest |yi|/sei (`scale`), not
    the slope: up to ~25 eps of it on review data with |yi| / sei up to 4e4."""
    is_value = lambda column, value: metafor_glance[column].eq(value).fillna(False).to_numpy(dtype=bool)  # noqa: E731
    from_residuals = is_value(f"{prefix}test" if prefix == "trimfill_" else "test", "knha")  # regtest: the fit's
    atol = tolerance.atol
    if prefix == "regtest_":
        from_residuals = from_residuals | is_value("regtest_model", "lm")
        if scale is not None:
            atol = np.maximum(atol, DATA_ROUNDING * scale.largest_z)
    finite = np.nan_to_num(size, nan=0.0, posinf=0.0)
    return atol + tolerance.rtol * (1 + np.where(from_residuals, finite, 0.0)) * size
