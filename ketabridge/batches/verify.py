"""Every fast batch is judged by metafor: a seeded sample of its analyses, plus every analysis at a
boundary, is rerun on the metafor engine and compared value by value with the tolerances for an
exact engine (ketabridge.agreement: tolerances.EXACT, widened as allowance.GROWING says)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ketabridge.agreement.allowance import GROWING, aligned, allowed, compared_scale, data_scales
from ketabridge.agreement.tolerances import EXACT, EXACT_FLOORS, pick
from ketabridge.batches.checks import check_chunk
from ketabridge.batches.progress import Progress
from ketabridge.batches.settings import chunk_size_for
from ketabridge.batches.tables import failed_tables
from ketabridge.errors import InputError
from ketabridge.options import EQUAL_EFFECTS_METHODS

MIN_SAMPLE = 20
SHOWN = 20  # disagreements listed in provenance.json


def check_fraction(verify: float | str) -> float | str:
    if verify == "all":
        return verify
    if isinstance(verify, bool) or not isinstance(verify, (int, float)) or not 0 < verify <= 1:
        raise InputError(f"verify must be a fraction in (0, 1] or 'all', not {verify!r}")
    return float(verify)


def verify_run(
    source, settings, tables: dict, fraction, seed: int, workers: int, run_metafor, versions: dict, progress=False
) -> dict:
    """Rerun the chosen analyses on metafor (the same checks, the same R code as engine="metafor");
    `progress` shows a bar of the analyses rerun (None: on a terminal or in a notebook)."""
    sample, boundary = choose(tables["glance"], tables["status"], settings.method, fraction, seed)
    summary = {"fraction": fraction, "seed": seed, "sample": len(sample), "boundary": len(boundary)}
    if not sample and not boundary:
        return {**summary, "verdict": "nothing to verify", "checked": 0}
    chosen = set(sample) | set(boundary)
    collected: dict[str, list[pd.DataFrame]] = {"glance": [], "tidy": [], "status": []}

    bar = Progress(len(chosen), progress, what="verifying on metafor")

    def on_result(payload: dict, result: dict) -> None:
        bar.advance(len(payload["ids"]))
        versions.update(result["versions"])
        for kind, table in result["tables"].items():
            collected[kind].append(table)

    def on_failure(payload: dict, why: str) -> None:
        bar.advance(len(payload["ids"]))
        for kind, table in failed_tables(
            payload["ids"], [why] * len(payload["ids"]), payload["settings"], payload["by"]
        ).items():
            collected[kind].append(table)

    scales: dict = {}  # analysis id -> (its largest |yi| / sei, its largest / smallest vi)

    def payloads():
        for chunk in source.chunks(chunk_size_for(len(chosen), workers), only=chosen):
            payload = check_chunk(chunk, settings).payload(settings, source.by)
            scales.update(zip(payload["ids"], zip(*data_scales(payload["sizes"], payload["data"]))))
            yield payload

    try:
        run_metafor(payloads(), on_result, on_failure)
    finally:
        bar.close()
    # glance and status hold every analysis (tidy has none for a failed one); tidy repeats glance
    metafor = {kind: pd.concat(collected[kind], ignore_index=True) for kind in ("glance", "status")}
    fast = {kind: tables[kind][tables[kind]["analysis_id"].isin(chosen)] for kind in ("glance", "status")}
    return {**summary, **compare(fast, metafor, settings.method, scales)}


def choose(
    glance: pd.DataFrame, status: pd.DataFrame, method: str, fraction: float | str, seed: int
) -> tuple[list, list]:
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
    boundary = (rows["k"].fillna(0).to_numpy() <= 3) | (status["status"].to_numpy()[fast] == "error") | ~rows[
        "converged"
    ].fillna(False).to_numpy(dtype=bool) | np.char.find(messages, "failed:") >= 0 | ~np.isfinite(
        rows["estimate"].to_numpy(dtype=float)
    ) & (status["status"].to_numpy()[fast] != "error")
    if method not in EQUAL_EFFECTS_METHODS:
        boundary |= rows["tau2"].to_numpy(dtype=float) == 0
    return ids[sampled].tolist(), ids[boundary & ~sampled].tolist()


def compare(
    fast: dict[str, pd.DataFrame], metafor: dict[str, pd.DataFrame], method: str, scales: dict | None = None
) -> dict:
    """Verdict, worst discrepancy and every disagreement (status, message or value) per analysis;
    scales: analysis id -> (largest |yi| / sei, largest / smallest vi), from data_scales."""
    ids = metafor["status"]["analysis_id"].tolist()
    scale = None if scales is None else aligned(scales, ids)
    problems: list[dict] = []
    worst = {"share_of_tolerance": 0.0}
    fast_status = fast["status"].set_index("analysis_id").loc[ids]
    slow_status = metafor["status"].set_index("analysis_id").loc[ids]
    for column in ("status", "message"):
        for analysis, a, b in zip(ids, fast_status[column], slow_status[column]):
            if a != b:
                problems.append({"analysis_id": _json_scalar(analysis), "column": column, "fast": a, "metafor": b})
    fast_glance = fast["glance"].set_index("analysis_id").loc[ids]
    slow_glance = metafor["glance"].set_index("analysis_id").loc[ids]
    for column in slow_glance.columns:
        mine, theirs = fast_glance[column], slow_glance[column]
        if pd.api.types.is_float_dtype(theirs.dtype):
            name, tolerance = pick(EXACT, column, method)  # with the quantity's absolute floor
            a, b = mine.to_numpy(dtype=float), theirs.to_numpy(dtype=float)
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                a, b = compared_scale(column, a), compared_scale(column, b)
                difference = np.abs(a - b)
                allowance = allowed(column, tolerance, np.abs(b), slow_glance, method, scale)
                bad = (
                    (np.isnan(a) != np.isnan(b)) | (difference > allowance) | ((np.isinf(a) | np.isinf(b)) & (a != b))
                )  # inf - inf is no difference
                share = np.where(difference == 0, 0.0, difference / allowance)
            finite = np.isfinite(share)
            if finite.any() and share[finite].max() > worst["share_of_tolerance"]:
                at = int(np.flatnonzero(finite)[np.argmax(share[finite])])
                worst = {
                    "share_of_tolerance": float(share[at]),
                    "analysis_id": _json_scalar(ids[at]),
                    "column": column,
                    "fast": float(a[at]),
                    "metafor": float(b[at]),
                    "absolute_difference": float(difference[at]),
                    "relative_difference": float(difference[at] / abs(b[at])) if b[at] else None,
                    "tolerance": name,
                }
        else:  # counts, flags and labels: equal, or both missing
            bad = (mine.astype("string").fillna("<NA>") != theirs.astype("string").fillna("<NA>")).to_numpy()
        for at in np.flatnonzero(bad):
            problems.append(
                {
                    "analysis_id": _json_scalar(ids[at]),
                    "column": column,
                    "fast": _json_scalar(mine.iloc[at]),
                    "metafor": _json_scalar(theirs.iloc[at]),
                }
            )
    return {
        "verdict": "agree" if not problems else "disagree",
        "checked": len(ids),
        "disagreeing_analyses": len({problem["analysis_id"] for problem in problems}),
        "worst": worst,
        "disagreements": problems[:SHOWN],
        "tolerances": {name: {"rtol": t.rtol, "atol": t.atol, "reason": t.reason} for name, t in EXACT.items()},
        "absolute_floors": {name: {"atol": atol, "reason": reason} for name, (atol, reason) in EXACT_FLOORS.items()},
        "growing_tolerances": GROWING,
    }


def _json_scalar(value):
    """A JSON-ready scalar (numpy and pandas NA included)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value
