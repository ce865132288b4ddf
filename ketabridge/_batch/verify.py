"""Every fast batch is judged by metafor: a seeded sample of its analyses, plus every analysis at a
boundary, is rerun on the metafor engine and compared value by value with the cross-check
harness's tolerances for an exact engine (ketabridge._crosscheck.tolerances.EXACT)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._crosscheck.tolerances import EXACT, EXACT_FLOORS, P_VALUE_STATISTICS, pick, tail_rtol
from ..errors import InputError
from .checks import check_chunk
from .settings import chunk_size_for
from .tables import failed_tables


class Scales(NamedTuple):
    """Per analysis, the data's sizes that its rounding errors scale with (see data_scales)."""

    largest_z: np.ndarray
    vi_ratio: np.ndarray

MIN_SAMPLE = 20
EPS = np.finfo(float).eps
DATA_ROUNDING = 64 * EPS  # times the analysis' largest |yi| / sei: rounding of the data's own size
EXTRAS = ("trimfill_", "regtest_", "ranktest_")
# sqrt() multiplies tau^2's relative error near 0 without bound: compare tau on tau^2's scale
SQUARED = ("tau", "trimfill_tau")
SHOWN = 20  # disagreements listed in provenance.json
# reported with the verdict: the tolerances that grow with a statistic or with the data's size,
# and why (see _allowed)
GROWING = {
    "p_values": "rtol + what the statistic may differ by, x (1 + |z|) for z and t tails (so ~ its rtol x z^2) "
                "or x 1 for chi-square and F tails (~ its rtol x Q): a tail area carries its statistic's rounding",
    "statistic": "rtol x (1 + |t|) where the SE comes from residuals (test knha, Egger's lm): they "
                 "cancel to ~1/|t| of the data's size",
    "regtest_statistic": "atol at least 64 eps x the analysis' largest |yi| / sei: Egger's slope is formed "
                         "from products of yi / sei, so its rounding follows them, not the slope",
    "trimfill_": "rtol + 64 eps x the analysis' largest |yi| / sei: filled studies are mirrored about an "
                 "estimate rounded to ~eps |estimate|",
    "tau2_se": "rtol + eps x (largest / smallest vi)^2: metafor's trace of PP cancels as the squared "
               "weight ratio",
}
EQUAL_EFFECTS = ("EE", "FE")


def check_fraction(verify: float | str) -> float | str:
    if verify == "all":
        return verify
    if isinstance(verify, bool) or not isinstance(verify, (int, float)) or not 0 < verify <= 1:
        raise InputError(f"verify must be a fraction in (0, 1] or 'all', not {verify!r}")
    return float(verify)


def verify_run(source, settings, tables: dict, fraction, seed: int, workers: int, run_metafor, versions: dict) -> dict:
    """Rerun the chosen analyses on metafor (the same checks, the same R code as engine="metafor")."""
    sample, boundary = choose(tables["glance"], tables["status"], settings.method, fraction, seed)
    summary = {"fraction": fraction, "seed": seed, "sample": len(sample), "boundary": len(boundary)}
    if not sample and not boundary:
        return {**summary, "verdict": "nothing to verify", "checked": 0}
    chosen = set(sample) | set(boundary)
    collected: dict[str, list[pd.DataFrame]] = {"glance": [], "tidy": [], "status": []}

    def on_result(payload: dict, result: dict) -> None:
        versions.update(result["versions"])
        for kind, table in result["tables"].items():
            collected[kind].append(table)

    def on_failure(payload: dict, why: str) -> None:
        for kind, table in failed_tables(payload["ids"], [why] * len(payload["ids"]), payload["settings"], payload["by"]).items():
            collected[kind].append(table)

    scales: dict = {}  # analysis id -> (its largest |yi| / sei, its largest / smallest vi)

    def payloads():
        for chunk in source.chunks(chunk_size_for(len(chosen), workers), only=chosen):
            payload = check_chunk(chunk, settings).payload(settings, source.by)
            scales.update(zip(payload["ids"], zip(*data_scales(payload["sizes"], payload["data"]))))
            yield payload

    run_metafor(payloads(), on_result, on_failure)
    # glance and status hold every analysis (tidy has none for a failed one); tidy repeats glance
    metafor = {kind: pd.concat(collected[kind], ignore_index=True) for kind in ("glance", "status")}
    fast = {kind: tables[kind][tables[kind]["analysis_id"].isin(chosen)] for kind in ("glance", "status")}
    return {**summary, **compare(fast, metafor, settings.method, scales)}


def data_scales(sizes: np.ndarray, data: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each analysis' largest |yi| / sei and largest / smallest vi (the checked analyses of a
    payload: k >= 2, vi > 0): the sizes its rounding errors scale with."""
    if not len(sizes):
        return np.zeros(0), np.zeros(0)
    vi = data["sei"] ** 2 if "sei" in data else data["vi"]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    largest_z = np.maximum.reduceat(np.abs(data["yi"]) / np.sqrt(vi), starts)
    return largest_z, np.maximum.reduceat(vi, starts) / np.minimum.reduceat(vi, starts)


def choose(glance: pd.DataFrame, status: pd.DataFrame, method: str, fraction: float | str,
           seed: int) -> tuple[list, list]:
    """(random sample, boundary analyses) among the analyses the fast engine computed.

    Boundaries: tau^2 estimated at 0, k <= 3, a fit that failed or did not converge, or an extra
    that failed: where an algorithm's corner cases live."""
    fast = status["engine"].to_numpy() == "fast"
    ids = status["analysis_id"].to_numpy()[fast]
    if fraction == "all":
        return list(ids), []
    size = min(len(ids), max(MIN_SAMPLE, math.ceil(fraction * len(ids))))
    sampled = np.zeros(len(ids), dtype=bool)
    sampled[np.random.default_rng(seed).choice(len(ids), size=size, replace=False)] = True
    rows = glance.set_index("analysis_id").loc[ids]
    messages = status["message"].to_numpy()[fast].astype(str)
    boundary = (
        (rows["k"].fillna(0).to_numpy() <= 3)
        | (status["status"].to_numpy()[fast] == "error")
        | ~rows["converged"].fillna(False).to_numpy(dtype=bool)
        | np.char.find(messages, "failed:") >= 0
        | ~np.isfinite(rows["estimate"].to_numpy(dtype=float)) & (status["status"].to_numpy()[fast] != "error")
    )
    if method not in EQUAL_EFFECTS:
        boundary |= rows["tau2"].to_numpy(dtype=float) == 0
    return ids[sampled].tolist(), ids[boundary & ~sampled].tolist()


def compare(fast: dict[str, pd.DataFrame], metafor: dict[str, pd.DataFrame], method: str,
            scales: dict | None = None) -> dict:
    """Verdict, worst discrepancy and every disagreement (status, message or value) per analysis;
    scales: analysis id -> (largest |yi| / sei, largest / smallest vi), from data_scales."""
    ids = metafor["status"]["analysis_id"].tolist()
    scale = None if scales is None else _aligned(scales, ids)
    problems: list[dict] = []
    worst = {"share_of_tolerance": 0.0}
    fast_status = fast["status"].set_index("analysis_id").loc[ids]
    slow_status = metafor["status"].set_index("analysis_id").loc[ids]
    for column in ("status", "message"):
        for analysis, a, b in zip(ids, fast_status[column], slow_status[column]):
            if a != b:
                problems.append({"analysis_id": _plain(analysis), "column": column, "fast": a, "metafor": b})
    fast_glance = fast["glance"].set_index("analysis_id").loc[ids]
    slow_glance = metafor["glance"].set_index("analysis_id").loc[ids]
    for column in slow_glance.columns:
        mine, theirs = fast_glance[column], slow_glance[column]
        if pd.api.types.is_float_dtype(theirs.dtype):
            prefix = next((p for p in EXTRAS if column.startswith(p)), "")
            quantity = column.removeprefix(prefix)
            name, tolerance = pick(EXACT, quantity, method)  # with the quantity's absolute floor
            a, b = mine.to_numpy(dtype=float), theirs.to_numpy(dtype=float)
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                if column in SQUARED:
                    a, b = a * a, b * b
                difference = np.abs(a - b)
                allowed = _allowed(prefix, quantity, tolerance, np.abs(b), slow_glance, method, scale)
                bad = (np.isnan(a) != np.isnan(b)) | (difference > allowed) \
                    | ((np.isinf(a) | np.isinf(b)) & (a != b))  # inf - inf is no difference
                share = np.where(difference == 0, 0.0, difference / allowed)
            finite = np.isfinite(share)
            if finite.any() and share[finite].max() > worst["share_of_tolerance"]:
                at = int(np.flatnonzero(finite)[np.argmax(share[finite])])
                worst = {"share_of_tolerance": float(share[at]), "analysis_id": _plain(ids[at]), "column": column,
                         "fast": float(a[at]), "metafor": float(b[at]), "absolute_difference": float(difference[at]),
                         "relative_difference": float(difference[at] / abs(b[at])) if b[at] else None,
                         "tolerance": name}
        else:  # counts, flags and labels: equal, or both missing
            bad = (mine.astype("string").fillna("<NA>") != theirs.astype("string").fillna("<NA>")).to_numpy()
        for at in np.flatnonzero(bad):
            problems.append({"analysis_id": _plain(ids[at]), "column": column,
                             "fast": _plain(mine.iloc[at]), "metafor": _plain(theirs.iloc[at])})
    return {
        "verdict": "agree" if not problems else "disagree", "checked": len(ids),
        "disagreeing_analyses": len({problem["analysis_id"] for problem in problems}),
        "worst": worst, "disagreements": problems[:SHOWN],
        "tolerances": {name: {"rtol": t.rtol, "atol": t.atol, "reason": t.reason} for name, t in EXACT.items()},
        "absolute_floors": {name: {"atol": atol, "reason": reason} for name, (atol, reason) in EXACT_FLOORS.items()},
        "growing_tolerances": GROWING,
    }


def _allowed(prefix: str, quantity: str, tolerance, size: np.ndarray, metafor_glance: pd.DataFrame,
             method: str, scale: Scales | None) -> np.ndarray:
    """|fast - metafor| allowed per analysis in one column whose metafor values have sizes `size`:
    atol + rtol * size, where statistics and p-values widen it as GROWING says."""
    if prefix == "trimfill_" and scale is not None:
        # the filled studies are mirrored about an estimate rounded to ~eps |estimate|, an error of
        # up to eps x the largest |yi| / sei in each filled study's own units, and the refit keeps it
        tolerance = replace(tolerance, rtol=tolerance.rtol + DATA_ROUNDING * scale.largest_z)
    if quantity == "tau2_se" and scale is not None:
        # metafor's trace of PP cancels as the squared weight ratio: 3.4e-12 at k = 2, vi ratio 481
        return tolerance.atol + (tolerance.rtol + EPS * scale.vi_ratio ** 2) * size
    if quantity == "statistic":
        return _statistic_allowed(prefix, tolerance, size, metafor_glance, scale)
    statistic = P_VALUE_STATISTICS.get(quantity, ("",))[0]
    if f"{prefix}{statistic}" not in metafor_glance:
        return tolerance.atol + tolerance.rtol * size
    x = np.abs(metafor_glance[f"{prefix}{statistic}"].to_numpy(dtype=float))
    own = pick(EXACT, statistic, method)[1]
    x_allowed = (_statistic_allowed(prefix, own, x, metafor_glance, scale) if statistic == "statistic"
                 else own.atol + own.rtol * x)
    return tolerance.atol + tail_rtol(EXACT, quantity, method, tolerance.rtol, x, np.nan_to_num(x_allowed)) * size


def _statistic_allowed(prefix: str, tolerance, size: np.ndarray, metafor_glance: pd.DataFrame,
                       scale: Scales | None) -> np.ndarray:
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


def _aligned(scales: dict, ids: list) -> Scales:
    """The analyses' scales in the order of ids (an analysis with none counts as z 0, ratio 1)."""
    values = np.array([scales.get(analysis, (0.0, 1.0)) for analysis in ids], dtype=float).reshape(-1, 2)
    return Scales(largest_z=values[:, 0], vi_ratio=values[:, 1])


def _plain(value):
    """A JSON-ready scalar (numpy and pandas NA included)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value
