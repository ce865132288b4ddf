"""Every fast batch is judged by metafor: a seeded stratified sample of its analyses (see
ketabridge.batches.strata) is rerun on the metafor engine and compared value by value with the
tolerances for an exact engine (ketabridge.agreement: tolerances.EXACT, widened as
allowance.GROWING says)."""

from __future__ import annotations

import math
import queue
import threading

import numpy as np
import pandas as pd

from ketabridge.agreement.allowance import GROWING, aligned, allowed, compared_scale, data_scales
from ketabridge.agreement.tolerances import EXACT, EXACT_FLOORS, pick
from ketabridge.batches.checks import check_chunk
from ketabridge.batches.final_tables import FinalTables
from ketabridge.batches.progress import Progress
from ketabridge.batches.settings import chunk_size_for
from ketabridge.batches.strata import CLASSIFY_COLUMNS, Budget, classify, per_class, stratified, whole_sample
from ketabridge.batches.tables import failed_tables

SHOWN = 20  # disagreements listed in provenance.json
MAX_LISTED = 10_000  # the checked ids are listed in provenance.json up to this many


class Verifier:
    """metafor's rerun of a fast batch (the same checks, the same R code as engine="metafor"), in
    two rounds on one set of workers: the uniform share of the whole batch, started before numpy
    runs so that R works on one core while numpy works on the other, then each class topped up to
    its allotment once the fast tables say which analysis is in which class."""

    def __init__(self, source, settings, budget: Budget, seed: int, workers: int, run_metafor, versions: dict):
        self.source, self.settings, self.budget, self.seed = source, settings, budget, seed
        self.workers, self.run_metafor, self.versions = workers, run_metafor, versions
        self.collected: dict[str, list[pd.DataFrame]] = {"glance": [], "tidy": [], "status": []}
        self.scales: dict = {}  # analysis id -> (its largest |yi| / sei, its largest / smallest vi)
        self.rounds: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.failure: BaseException | None = None
        self.whole: list = []
        self.thread_started = False

    def start(self, pending_ids: list, overlap: bool) -> None:
        """Draw the whole-batch share now; with overlap, start verifying it in the background."""
        self.whole = whole_sample(pending_ids, self.budget, self.seed)
        if overlap and self.whole:
            self.rounds.put(set(self.whole))
            self.thread = threading.Thread(target=self._serve, name="ketabridge-verify", daemon=True)
            self.thread.start()
            self.thread_started = True

    def close(self) -> None:
        """End the background round (on success or failure of the run)."""
        if self.thread is not None:
            self.rounds.put(None)
            self.thread.join()
            self.thread = None

    def finish(self, tables) -> dict:
        """Choose the classes' share, run what is left on metafor, compare, report per class.
        tables: the batch's FinalTables (or a dict of its frames); only the columns that classify
        needs are read whole, and the verified analyses' rows."""
        if isinstance(tables, dict):
            tables = FinalTables.in_memory(tables)
        summary = {"budget": self.budget.describe(), "seed": self.seed}
        classes = classify(
            tables.read("glance", CLASSIFY_COLUMNS["glance"]),
            tables.read("status", CLASSIFY_COLUMNS["status"]),
            self.settings.method,
        )
        more = stratified(classes, self.budget, set(self.whole), self.seed)
        if self.thread is not None:
            self.rounds.put(set(more))
            self.close()
        else:
            chosen = set(self.whole) | set(more)
            if chosen and len(classes):
                self.rounds.put(chosen)
                self.rounds.put(None)
                self._serve()
        if self.failure is not None:
            raise self.failure
        fast_ids = set(classes.index)
        whole = [a for a in self.whole if a in fast_ids]
        chosen = set(whole) | set(more)
        summary.update(sample=len(whole), stratified=len(more), overlapped=self.thread_started)
        if len(chosen) <= MAX_LISTED:
            order = {analysis: rank for rank, analysis in enumerate(classes.index)}
            summary["checked_ids"] = [_json_scalar(a) for a in sorted(chosen, key=order.__getitem__)]
        if not chosen:
            return {
                **summary,
                "verdict": "nothing to verify",
                "checked": 0,
                "classes": per_class(classes, set(), set()),
            }
        # glance and status hold every analysis (tidy has none for a failed one); tidy repeats glance
        metafor = {kind: pd.concat(self.collected[kind], ignore_index=True) for kind in ("glance", "status")}
        metafor = {kind: table[table["analysis_id"].isin(chosen)] for kind, table in metafor.items()}
        metafor = {kind: table.drop_duplicates("analysis_id") for kind, table in metafor.items()}
        fast = {kind: tables.read(kind, ids=chosen) for kind in ("glance", "status")}
        verdict = compare(fast, metafor, self.settings.method, self.scales)
        disagreeing = {problem["analysis_id"] for problem in verdict.pop("all_problems")}
        return {**summary, **verdict, "classes": per_class(classes, chosen, disagreeing)}

    def _serve(self) -> None:
        try:
            self.run_metafor(self._payloads(), self._on_result, self._on_failure)
        except BaseException as error:  # raised again by finish(), in the caller's thread
            self.failure = error
        finally:
            self._close_bar()

    def _payloads(self):
        for number, chosen in enumerate(iter(self.rounds.get, None)):
            if not chosen:
                continue
            self._close_bar()
            self.bar = Progress(len(chosen), getattr(self, "progress", False), what="verifying on metafor")
            for chunk in self.source.chunks(chunk_size_for(len(chosen), self.workers), only=chosen):
                checked = check_chunk(chunk, self.settings)
                if not checked.ids:  # stopped by the input checks: never on the fast engine either
                    continue
                payload = checked.payload(self.settings, self.source.by)
                payload["index"] = f"verify{number}.{payload['index']}"
                self.scales.update(zip(payload["ids"], zip(*data_scales(payload["sizes"], payload["data"]))))
                yield payload

    def _close_bar(self) -> None:
        if getattr(self, "bar", None) is not None:
            self.bar.close()
            self.bar = None

    def _advance(self, payload: dict) -> None:
        if getattr(self, "bar", None) is not None:
            self.bar.advance(len(payload["ids"]))

    def _on_result(self, payload: dict, result: dict) -> None:
        self._advance(payload)
        self.versions.update(result["versions"])
        for kind, table in result["tables"].items():
            self.collected[kind].append(table)

    def _on_failure(self, payload: dict, why: str) -> None:
        self._advance(payload)
        for kind, table in failed_tables(
            payload["ids"], [why] * len(payload["ids"]), payload["settings"], payload["by"]
        ).items():
            self.collected[kind].append(table)


def skipped() -> dict:
    """The provenance of a fast run nobody checked (verify=0 with skip_verification_unsafe=True)."""
    return {
        "verdict": "UNVERIFIED: verification skipped (skip_verification_unsafe=True); no analysis was checked "
        "against metafor, so nothing bounds the fast engine's disagreement rate on this batch",
        "budget": 0,
        "checked": 0,
        "unsafe_skip": True,
    }


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
        "all_problems": problems,
        "tolerances": {name: {"rtol": t.rtol, "atol": t.atol, "reason": t.reason} for name, t in EXACT.items()},
        "absolute_floors": {name: {"atol": atol, "reason": reason} for name, (atol, reason) in EXACT_FLOORS.items()},
        "growing_tolerances": GROWING,
    }


def _json_scalar(value):
    """A JSON-ready scalar (numpy and pandas NA included)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value
