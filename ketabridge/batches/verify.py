"""Every fast batch is judged by metafor: a seeded stratified sample of its analyses (see
ketabridge.batches.strata) is rerun on the metafor engine and compared value by value with the
tolerances for an exact engine (ketabridge.agreement: tolerances.EXACT, widened as
allowance.GROWING says)."""

from __future__ import annotations

import math
import threading

import numpy as np
import pandas as pd

from ketabridge.agreement.allowance import GROWING, aligned, allowed, compared_scale, data_scales
from ketabridge.agreement.tolerances import EXACT, EXACT_FLOORS, pick
from ketabridge.batches.ahead import AheadQueue
from ketabridge.batches.checks import check_chunk
from ketabridge.batches.fast_route import subset_payload
from ketabridge.batches.final_tables import FinalTables
from ketabridge.batches.progress import Progress
from ketabridge.batches.settings import chunk_size_for
from ketabridge.batches.strata import (
    CLASSIFY_COLUMNS,
    Budget,
    ahead_thresholds,
    classify,
    per_class,
    sample_keys,
    stratified,
    whole_sample,
)
from ketabridge.batches.tables import failed_tables

SHOWN = 20  # disagreements listed in provenance.json
MAX_LISTED = 10_000  # the checked ids are listed in provenance.json up to this many


class Verifier:
    """metafor's rerun of a fast batch (the same checks, the same R code as engine="metafor") on
    one set of workers. With overlap, R works on one core while numpy works on the other: first on
    the uniform share of the whole batch, drawn before numpy runs, then on the computed chunks'
    likely members of the classes' sample, most likely first (batches.ahead); once the run is
    over, each class is topped up to its allotment (stratified) and what of it R has not run yet
    runs then."""

    def __init__(self, source, settings, budget: Budget, seed: int, workers: int, run_metafor, versions: dict):
        self.source, self.settings, self.budget, self.seed = source, settings, budget, seed
        self.workers, self.run_metafor, self.versions = workers, run_metafor, versions
        self.collected: dict[str, list[pd.DataFrame]] = {"glance": [], "tidy": [], "status": []}
        self.scales: dict = {}  # analysis id -> (its largest |yi| / sei, its largest / smallest vi)
        self.queue = AheadQueue()
        self.thread: threading.Thread | None = None
        self.failure: BaseException | None = None
        self.whole: list = []
        self.whole_ids: set = set()
        self.thread_started = False
        self.keys = pd.Series(sample_keys(len(source.ids), seed), index=source.ids)
        self.seen: dict[str, int] = {}  # class -> members among the chunks computed so far
        self.classes_seen: list[pd.Series] = []  # per computed chunk, its fast analyses' classes
        self.fast_rows: dict[str, list[pd.DataFrame]] = {"glance": [], "status": []}  # of those offered
        self.observed = self.pending = 0

    def start(self, pending_ids: list, overlap: bool) -> None:
        """Draw the whole-batch share now; with overlap, start verifying it in the background."""
        self.whole = whole_sample(pending_ids, self.budget, self.seed)
        self.whole_ids = set(self.whole)
        self.pending = len(pending_ids)
        if overlap:
            self.queue.put_ids(set(self.whole))
            self.thread = threading.Thread(target=self._serve, name="ketabridge-verify", daemon=True)
            self.thread.start()
            self.thread_started = True

    def observe(self, payload: dict, glance: pd.DataFrame, status: pd.DataFrame) -> None:
        """A chunk the fast path computed (its payload, and its fast analyses' glance and status
        rows): note its analyses' classes, and (with overlap) offer those whose keys fall below
        their class's threshold to the background verification; the rows of those and of the
        whole-batch share are kept, so that finish need not read them back."""
        if not len(status):
            return
        classes = classify(glance, status, self.settings.method)
        self.classes_seen.append(classes)
        if self.thread is None:
            return
        for name, count in classes.value_counts().items():
            self.seen[name] = self.seen.get(name, 0) + int(count)
        self.observed += len(classes)
        thresholds = classes.map(ahead_thresholds(self.seen, self.observed, self.pending, self.budget))
        thresholds = thresholds.fillna(0.0).to_numpy()
        keys = self.keys.reindex(classes.index).to_numpy()
        whole = classes.index.isin(list(self.whole_ids))
        below = (keys < thresholds) & ~whole  # the whole-batch share is running already
        if below.any():
            offered = classes.index[below]
            # key / threshold: a class's sample takes its smallest keys, so lowest is likeliest
            priority = pd.Series(keys[below] / thresholds[below], index=offered)
            part = subset_payload(payload, pd.Index(payload["ids"]).isin(offered))
            self.queue.offer(part, priority.reindex(part["ids"]).to_numpy())
        if (below | whole).any():
            for kind, table in (("glance", glance), ("status", status)):
                self.fast_rows[kind].append(table[table["analysis_id"].isin(classes.index[below | whole])])

    def close(self) -> None:
        """End the background verification (after finish, or when the run failed)."""
        if self.thread is not None:
            self.queue.abandon()
            self.thread.join()
            self.thread = None

    def finish(self, tables, observed_all: bool = False) -> dict:
        """Choose the classes' share, run what is left on metafor, compare, report per class.
        tables: the batch's FinalTables (or a dict of its frames); observed_all: observe saw every
        fast chunk (nothing was resumed), so the classes need not be read from the tables, else
        only the columns that classify needs are read whole. Of the verified analyses' rows, only
        those observe did not keep are read."""
        if isinstance(tables, dict):
            tables = FinalTables.in_memory(tables)
        summary = {"budget": self.budget.describe(), "seed": self.seed}
        if observed_all:
            classes = _concat(self.classes_seen, "class")
            classes = classes.iloc[np.argsort(self.keys.index.get_indexer(classes.index), kind="stable")]
        else:
            classes = classify(
                tables.read("glance", CLASSIFY_COLUMNS["glance"]),
                tables.read("status", CLASSIFY_COLUMNS["status"]),
                self.settings.method,
            )
        more = stratified(classes, self.budget, set(self.whole), self.keys.reindex(classes.index).to_numpy())
        if self.thread is not None:
            self.queue.finish(set(more))  # stratified leaves the whole's share out
            self.thread.join()
            self.thread = None
        else:
            chosen = set(self.whole) | set(more)
            if chosen and len(classes):
                self.queue.put_ids(chosen)
                self.queue.finish(set())
                self._serve()
        if self.failure is not None:
            raise self.failure
        fast_ids = set(classes.index)
        whole = [a for a in self.whole if a in fast_ids]
        chosen = set(whole) | set(more)
        also = (self.queue.ran & fast_ids) - chosen  # run ahead, then not taken by the sample
        summary.update(
            sample=len(whole),
            stratified=len(more),
            overlapped=self.thread_started,
            sent_ahead=len(self.queue.ran),  # candidates metafor ran, chosen before the run ended
            # of the sample, how many metafor was given while numpy computed
            sample_run_while_computing=(len(whole) + len(set(more) & self.queue.ran_before_finish))
            if self.thread_started
            else 0,
            also_checked=len(also),
        )
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
        # every analysis metafor ran is compared (a disagreement outside the sample fails the run
        # too); the bounds count the sample only, the uniform draw they assume
        ran = chosen | also
        # glance and status hold every analysis (tidy has none for a failed one); tidy repeats glance
        metafor = {kind: pd.concat(self.collected[kind], ignore_index=True) for kind in ("glance", "status")}
        metafor = {kind: table[table["analysis_id"].isin(ran)] for kind, table in metafor.items()}
        metafor = {kind: table.drop_duplicates("analysis_id") for kind, table in metafor.items()}
        fast = {kind: self._fast_rows(tables, kind, ran) for kind in ("glance", "status")}
        verdict = compare(fast, metafor, self.settings.method, self.scales)
        disagreeing = {problem["analysis_id"] for problem in verdict.pop("all_problems")}
        verdict["checked"] = len(chosen)
        return {**summary, **verdict, "classes": per_class(classes, chosen, disagreeing & chosen)}

    def _fast_rows(self, tables: FinalTables, kind: str, ids: set) -> pd.DataFrame:
        """The fast engine's rows of these analyses: kept by observe, else read from the tables."""
        kept = [table[table["analysis_id"].isin(ids)] for table in self.fast_rows[kind]]
        kept = pd.concat(kept, ignore_index=True) if kept else None
        missing = ids if kept is None else ids - set(kept["analysis_id"])
        if not missing:
            return kept
        read = tables.read(kind, ids=missing)
        return read if kept is None else pd.concat([kept, read], ignore_index=True)

    def _serve(self) -> None:
        try:
            self.run_metafor(self._payloads(), self._on_result, self._on_failure)
        except BaseException as error:  # raised again by finish(), in the caller's thread
            self.failure = error
        finally:
            self._close_bar()

    def _payloads(self):
        for number, chosen in enumerate(self.queue.work()):
            if isinstance(chosen, dict):  # candidates sent ahead: the fast path's payload, no reading
                self.scales.update(zip(chosen["ids"], zip(*data_scales(chosen["sizes"], chosen["data"]))))
                yield chosen
                continue
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


def _concat(pieces: list[pd.Series], name: str) -> pd.Series:
    if not pieces:
        return pd.Series([], dtype=object, name=name, index=pd.Index([], name="analysis_id"))
    return pd.concat(pieces)


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
