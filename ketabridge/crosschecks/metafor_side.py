"""metafor's values for every data set of a suite, from one ketabridge.batch run per method and test."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ketabridge.crosschecks.suites import Dataset, to_long

PARALLEL_FROM = 1000  # below this many data sets, starting worker processes costs more than it saves


def metafor_values(
    datasets: list[Dataset], method: str, test: str, level: float, quantities: list[str], workers: int | None = None
) -> tuple[pd.DataFrame, dict]:
    """One row per data set (index: its name): each quantity's metafor value, then ``k``,
    ``failed`` (bool), ``message`` (R's error or warnings) and ``r_call``; and the batch's provenance.

    Maps to ``rma.uni(yi, vi, method=, test=, level=)`` with ``predict``, ``trimfill`` (L0) and
    ``regtest`` (model "rma", predictor "sei") per data set, run by ketabridge.batch. A fit that
    does not converge counts as failed."""
    from ketabridge.batches import batch

    if workers is None:
        workers = 0 if len(datasets) < PARALLEL_FROM else (os.cpu_count() or 1)
    result = batch(
        to_long(datasets),
        "dataset",
        method=method,
        test=test,
        level=level,
        workers=workers,
        progress=False,
        trimfill=any(q.startswith("trimfill_") for q in quantities),
        regtest=any(q.startswith("regtest_") for q in quantities),
    )
    glance = result.glance().set_index("analysis_id")
    status = result.status().set_index("analysis_id")
    table = pd.DataFrame(index=pd.Index([d.name for d in datasets], name="dataset"))
    for quantity in quantities:  # each quantity is named as its batch glance column
        values = glance[quantity] if quantity in glance else pd.Series(np.nan, index=glance.index)
        table[quantity] = pd.to_numeric(values, errors="coerce").astype(float).reindex(table.index).to_numpy()
    converged = glance["converged"].reindex(table.index)
    table["k"] = [len(d.yi) for d in datasets]
    table["failed"] = (status["status"].reindex(table.index) == "error").to_numpy() | ~converged.fillna(False).astype(
        bool
    ).to_numpy()
    table["message"] = status["message"].reindex(table.index).fillna("").astype(str).to_numpy()
    table["r_call"] = status["r_call"].reindex(table.index).fillna("").astype(str).to_numpy()
    return table, result.provenance.to_dict()
