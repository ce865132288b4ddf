"""Batch of count models: one rma_mh or rma_peto per group of a long table, each with its status.

The groups are cut into chunks that run as the ordinary batch's do: in this process
(``workers=0``) or on worker processes, each with its own R (batches/pool.py, which retries a
chunk whose worker died once and otherwise reports its analyses as errors). Within a chunk each
analysis is one rma_mh/rma_peto call (metafor's rma.mh and rma.peto are closed-form and fast); a
group whose data are refused or whose fit stops becomes an error row with the message
rma_mh/rma_peto would raise, never a stop of the run. With ``out=`` every finished chunk is
written at once (batches/store.py), so ``resume=True`` continues a run killed half way.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd

from ketabridge import schema
from ketabridge.analyses import validate
from ketabridge.analyses.results import Provenance, ketabridge_version
from ketabridge.batches.batch_result import BatchResult
from ketabridge.batches.count_chunk import chunk_tables, stacked, status_row
from ketabridge.batches.store import KINDS, BatchStore
from ketabridge.errors import InputError
from ketabridge.io import TableLike, to_arrow
from ketabridge.options import check_choice

COUNT_BATCH_MODELS = ("mh", "peto")
DEFAULT_CHUNK = 100  # analyses per chunk: each is one fast R call, so chunks can be large


def count_batch(
    data: TableLike,
    by: str,
    model: str,
    columns: Mapping[str, str],
    *,
    measure: str = "OR",
    level: float = 95.0,
    out: str | Path | None = None,
    csv: bool = False,
    workers: int = 0,
    chunk_size: int | None = None,
    resume: bool = False,
) -> BatchResult:
    """One Mantel-Haenszel (``model="mh"``) or Peto (``"peto"``) fit per ``by`` group.

    Parameters
    ----------
    data : pandas.DataFrame, pyarrow.Table, pyarrow.RecordBatch, str or os.PathLike
        A long table: one row per study, a ``by`` column naming each study's analysis.
    by : str
        Column of analysis ids.
    model : {"mh", "peto"}
        :func:`ketabridge.rma_mh` or :func:`ketabridge.rma_peto`.
    columns : dict
        The count columns by metafor's argument names (``{"ai": "tpos", ...}``).
    measure : str, default "OR"
        rma_mh's measure (ignored by Peto).
    level : float, default 95
        Confidence level in percent.
    out : str or os.PathLike, optional
        Directory to write glance.parquet, tidy.parquet, status.parquet and provenance.json to.
    csv : bool, default False
        Also write the three tables as CSV.
    workers : int, default 0
        Worker processes, each with its own R; 0 runs every chunk in this process.
    chunk_size : int, optional
        Analyses per chunk (default 100).
    resume : bool, default False
        Continue a batch in ``out`` that was run with the same options, skipping the analyses
        already done (``out`` already holding a batch needs ``resume=True``).

    Returns
    -------
    BatchResult
        ``glance()`` (``analysis_id`` and schema.COUNT_GLANCE), ``tidy()`` and ``status()``
        (``ok`` | ``warning`` | ``error``, the messages, the R call) of every analysis.

    Raises
    ------
    InputError
        An unknown model; a ``by`` column that is missing; bad ``workers`` or ``chunk_size``;
        ``resume`` or ``csv`` without ``out``; ``out`` holding a batch run with other options.
    """
    check_choice(model, COUNT_BATCH_MODELS, "model")
    for name, value, least in (
        ("workers", workers, 0),
        ("chunk_size", DEFAULT_CHUNK if chunk_size is None else chunk_size, 1),
    ):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < least:
            raise InputError(f"{name} must be a whole number >= {least}, not {value!r}")
    if (resume or csv) and out is None:
        raise InputError("resume and csv need an output directory (out=)")
    table = to_arrow(data)
    validate.require_columns(table, [by])
    frame = table.to_pandas()
    options = {"model": model, "measure": measure if model == "mh" else "PETO", "by": by, **columns}
    described = str(data) if isinstance(data, (str, os.PathLike)) else f"in-memory table of {table.num_rows} rows"
    fingerprint = {"input": described, "options": {**options, "level": level}}
    store = BatchStore(Path(out), fingerprint, resume) if out is not None else None
    done = store.done_ids() if store is not None and resume else set()
    groups = list(frame.groupby(by, sort=False, dropna=False))
    ids = [analysis_id for analysis_id, _ in groups]
    settings = {"model": model, "measure": measure, "level": level, "columns": dict(columns), "by": by}
    kept: list[dict[str, pd.DataFrame]] = []
    versions: dict = store.versions() if store is not None else {}

    def keep(tables: dict[str, pd.DataFrame]) -> None:
        if store is not None:
            store.write_chunk(tables)
        else:
            kept.append(tables)

    def on_result(payload: dict, result: dict) -> None:
        if result["versions"]:
            versions.update(result["versions"])
            if store is not None:
                store.record_versions(versions)
        keep(result["tables"])

    def on_failure(payload: dict, why: str) -> None:
        statuses = [status_row(analysis_id, "error", why, "") for analysis_id, _, _ in payload["analyses"]]
        keep(chunk_tables(statuses, [], [], [analysis_id for analysis_id, _, _ in payload["analyses"]]))

    payloads = _payloads(groups, done, DEFAULT_CHUNK if chunk_size is None else chunk_size, settings)
    if workers == 0:
        from ketabridge.batches.pool import run_inline

        run_inline(payloads, on_result, on_failure)
    else:
        from ketabridge.batches.pool import run_pool

        run_pool(payloads, workers, on_result, on_failure)
    parts = {kind: [tables[kind] for tables in kept] for kind in KINDS}
    if store is not None:  # the final files, merged from the chunk files in input order; a count batch is small
        paths = store.merge(ids, csv)["paths"]
        parts = {kind: [pd.read_parquet(paths[kind])] for kind in KINDS}
    status = _in_order(_concat(parts["status"]), ids).astype({"analysis_id": "object", **schema.STATUS})
    glance = stacked([_concat(parts["glance"])], schema.COUNT_GLANCE, status["analysis_id"])
    tidy = stacked([_concat(parts["tidy"])], schema.TIDY, None)
    tidy = tidy.iloc[pd.Index(ids).get_indexer(tidy["analysis_id"]).argsort(kind="stable")].reset_index(drop=True)
    record = {
        "ketabridge_version": ketabridge_version(),
        **versions,
        "options": options,
        "analyses": len(status),
        "workers": workers,
        "resumed_analyses": len(done),
    }
    if store is not None:
        store.finish(record)
    return BatchResult(glance, tidy, status, Provenance.of_run(record))


def _payloads(groups: list, done: set, chunk_size: int, settings: dict) -> Iterator[dict]:
    """Chunks of up to chunk_size analyses not done yet, in input order."""
    analyses = []
    index = 0
    for analysis_id, rows in groups:
        if analysis_id in done:
            continue
        # messages count rows within the analysis; say which input rows those are
        where = f" (row numbers count within analysis {analysis_id!r}, which is input {validate.rows_text(rows.index)})"
        analyses.append((analysis_id, rows.drop(columns=[settings["by"]]).reset_index(drop=True), where))
        if len(analyses) == chunk_size:
            yield {"index": index, "kind": "count", "settings": settings, "analyses": analyses}
            analyses, index = [], index + 1
    if analyses:
        yield {"index": index, "kind": "count", "settings": settings, "analyses": analyses}


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [frame for frame in frames if len(frame)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _in_order(table: pd.DataFrame, ids: list) -> pd.DataFrame:
    """The rows of table in input order of their analysis ids."""
    if not len(table):
        return pd.DataFrame(
            {
                "analysis_id": pd.Series(dtype="object"),
                **{name: pd.Series(dtype=dtype) for name, dtype in schema.STATUS.items()},
            }
        )
    return table.iloc[pd.Index(ids).get_indexer(table["analysis_id"]).argsort(kind="stable")].reset_index(drop=True)
