"""Fast engine vs metafor engine: one batch's tables compared value by value, independently of
ketabridge.batches.verify.compare (its own tolerance rules, written from the numbers' error
analysis, not from tolerances.EXACT except for I^2's floor, which the brief fixes).

Expected values always come from ``ketabridge.batch(..., engine="metafor")``: real metafor 3.8-1
through the bridge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ketabridge.agreement.tolerances import EXACT_FLOORS

ITERATIVE = ("PM", "ML", "REML")  # tau^2 found by iteration (Fisher scoring, uniroot)
CLOSED_RTOL = 1e-12  # the target for closed forms (EE/FE, DL, HE, SJ)
ITERATIVE_RTOL = 1e-10  # the target for iterative estimators
EPS = np.finfo(float).eps
# Absolute floor for a value that cancels to ~0 (a CI bound at 0, tau^2 at 0, an estimate at 0):
# it is a difference of terms the size of the data (S = max|yi| + sqrt(max vi) for values in yi's
# units, max vi for values in tau^2's units), and each floating-point operation leaves ~EPS * S of
# rounding. A weighted sum over k <= 40 studies, or a few dozen Fisher-scoring / uniroot steps,
# accumulates at most some hundreds of those: 1000 * EPS * S (~2e-13 S) is rounding; a wrong
# weight, a missed step or a different start moves such a value by orders of magnitude more.
FLOOR = 1000 * EPS
# Below the smallest normal double R's pchisq/pnorm return subnormals that scipy may flush to 0;
# such a p-value has lost its relative precision bit by bit on both sides and says the same.
P_FLOOR = np.finfo(float).tiny
I2_ATOL = EXACT_FLOORS["i2"][0]  # I^2 in percent near tau^2 = 0: tau^2's absolute error x 100 / vi

PREFIXES = ("trimfill_", "regtest_", "ranktest_")
LOCATION = (
    "estimate", "std_error", "conf_low", "conf_high", "pi_low", "pi_high", "limit_estimate", "limit_conf_low",
    "limit_conf_high",
)  # fmt: skip
SCALE_OF_VI = ("tau2", "tau2_se")
SQUARED = ("tau",)  # sqrt() magnifies tau^2's relative error near 0: compared as tau^2
P_VALUES = {"p_value": "statistic", "q_pvalue": "q", "qm_pvalue": "qm"}  # p-value -> its statistic
PLAIN = ("q", "qm", "h2", "k0_se", "df", "level", "kendall_tau")  # no cancellation: relative only


@dataclass
class Comparison:
    """Every disagreement found, and the worst relative difference per glance column."""

    problems: list[str] = field(default_factory=list)
    worst: dict[str, tuple[float, str]] = field(default_factory=dict)  # column -> (relative, id)

    def merge(self, other: Comparison, label: str = "") -> None:
        self.problems += [f"{label}{problem}" for problem in other.problems]
        for column, (rel, where) in other.worst.items():
            if rel > self.worst.get(column, (-1.0, ""))[0]:
                self.worst[column] = (rel, f"{label}{where}")

    def report(self) -> str:
        return "\n".join(f"  {column:28s} {rel:9.2e}  ({where})" for column, (rel, where) in sorted(self.worst.items()))


def compare_engines(
    fast, metafor, data: pd.DataFrame, by: str, method: str, regtest_rtol: float | None = None
) -> Comparison:
    """fast and metafor: BatchResults over the same data; data: the long input (by, yi, vi).
    regtest_rtol overrides the relative tolerance of the regtest_ columns (see test_fast_suites)."""
    out = Comparison()
    fast_glance, fast_status = fast.glance(), fast.status()
    metafor_glance, metafor_status = metafor.glance(), metafor.status()
    ids = metafor_status["analysis_id"].tolist()
    if (
        fast_status["analysis_id"].tolist() != ids
        or fast_glance["analysis_id"].tolist() != metafor_glance["analysis_id"].tolist()
    ):
        out.problems.append("analysis ids or their order differ")
        return out
    for column in ("status", "message", "fallback"):
        mine, theirs = _text(fast_status[column]), _text(metafor_status[column])
        out.problems += [f"{i}: {column} fast {a!r} != metafor {b!r}" for i, a, b in zip(ids, mine, theirs) if a != b]
    failed = [set(status["analysis_id"][status["status"] == "error"]) for status in (fast_status, metafor_status)]
    if failed[0] != failed[1]:
        out.problems.append(
            f"failed analyses differ: fast only {failed[0] - failed[1]}, metafor only {failed[1] - failed[0]}"
        )
    if list(fast_glance.columns) != list(metafor_glance.columns):
        out.problems.append(f"glance columns differ: {set(fast_glance.columns) ^ set(metafor_glance.columns)}")
        return out
    scale = _scales(data, by, metafor_glance["analysis_id"])
    base = ITERATIVE_RTOL if method in ITERATIVE else CLOSED_RTOL
    glance_ids = metafor_glance["analysis_id"].to_numpy()
    for column in metafor_glance.columns:
        a_col, b_col = fast_glance[column], metafor_glance[column]
        if not pd.api.types.is_float_dtype(b_col.dtype):  # counts, flags, labels: identical
            mine, theirs = _text(a_col), _text(b_col)
            out.problems += [
                f"{i}: {column} fast {a!r} != metafor {b!r}" for i, a, b in zip(glance_ids, mine, theirs) if a != b
            ]
            continue
        prefix = next((p for p in PREFIXES if column.startswith(p)), "")
        rtol = regtest_rtol if (prefix == "regtest_" and regtest_rtol is not None) else base
        a, b, rtol, atol = _tolerance(
            column, prefix, a_col.to_numpy(float), b_col.to_numpy(float), metafor_glance, scale, rtol
        )
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            both = np.isfinite(a) & np.isfinite(b)
            same = (a == b) | (np.isnan(a) & np.isnan(b))  # equal infinities and zeros included
            difference = np.where(both, np.abs(a - b), 0.0)
            bad = ~(same | (both & (difference <= atol + rtol * np.abs(b))))
            relative = np.where(both & (difference > 0), difference / np.abs(b), 0.0)
        out.problems += [f"{glance_ids[i]}: {column} fast {a[i]!r} != metafor {b[i]!r}" for i in np.flatnonzero(bad)]
        if both.any():
            at = int(np.argmax(np.where(both, relative, -1.0)))
            out.worst[column] = (float(relative[at]), str(glance_ids[at]))
    return out


def assert_engines_agree(fast, metafor, data, by, method, **options) -> Comparison:
    found = compare_engines(fast, metafor, data, by, method, **options)
    assert not found.problems, f"{len(found.problems)} disagreements ({method}):\n" + "\n".join(found.problems[:40])
    return found


def _tolerance(column, prefix, a, b, glance, scale, rtol):
    """(a, b, rtol, atol) for one float column; atol may be an array (one floor per analysis)."""
    quantity = column.removeprefix(prefix)
    if quantity in SQUARED:
        with np.errstate(invalid="ignore", over="ignore"):
            a, b = a * a, b * b
        return a, b, rtol, FLOOR * scale["vi"]
    if quantity in SCALE_OF_VI:
        return a, b, rtol, FLOOR * scale["vi"]
    if quantity in LOCATION:
        return a, b, rtol, FLOOR * scale["yi"]
    if quantity == "statistic" and prefix != "regtest_":  # estimate / std_error
        se = glance[f"{prefix}std_error"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return a, b, rtol, np.nan_to_num(FLOOR * scale["yi"] / se)
    if quantity == "i2":
        return a, b, rtol, I2_ATOL
    if quantity in P_VALUES:
        # a tail area P(x) turns a relative error e of x into about (x/2) e (chi-square tails, and
        # z^2/2 for normal ones; t tails are flatter): the far tail is ill-conditioned, not wrong
        source = f"{prefix}{P_VALUES.get(quantity, 'statistic')}"
        x = (
            np.abs(np.nan_to_num(glance[source].to_numpy(float), nan=0.0, posinf=0.0, neginf=0.0))
            if source in glance
            else np.zeros(len(b))
        )
        if P_VALUES.get(quantity, "statistic") == "statistic":
            x = x**2
        # capped: past x = 200 (z ~ 14, p ~ 1e-44) a p-value may drift 100x its base tolerance, no more
        return a, b, rtol * (1 + np.minimum(x, 200) / 2), P_FLOOR
    if quantity == "statistic":  # Egger's: the slope over its SE, unitless, of order 1
        # metafor forms the slope as stXWX %*% X'WY, a difference of products of the data's size:
        # its own rounding reaches ~5e-13 when the slope is near 0 (random_00020, t = 0.094)
        return a, b, rtol, 1e-12
    if quantity in PLAIN:
        return a, b, rtol, 0.0
    raise AssertionError(f"glance column {column!r} has no tolerance rule: add one in tests/fast_compare.py")


def _scales(data: pd.DataFrame, by: str, ids: pd.Series) -> dict[str, np.ndarray]:
    grouped = data.assign(_abs=data["yi"].abs()).groupby(data[by].astype(str))
    vi_max = grouped["vi"].max()
    yi_scale = grouped["_abs"].max() + np.sqrt(vi_max)
    keys = ids.astype(str)
    return {"yi": yi_scale.reindex(keys).to_numpy(float), "vi": vi_max.reindex(keys).to_numpy(float)}


def _text(values: pd.Series) -> list[str]:
    return values.astype("string").fillna("<NA>").tolist()
