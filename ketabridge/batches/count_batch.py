"""Batch of count models: one rma_mh or rma_peto per group of a long table, each with its status.

The count models run in this process, one R call per analysis (metafor's rma.mh and rma.peto
are closed-form and fast); a group whose data are refused or whose fit stops becomes an error
row with the message rma_mh/rma_peto would raise, never a stop of the run.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ketabridge import schema
from ketabridge.analyses import validate
from ketabridge.analyses.rare import rma_mh, rma_peto
from ketabridge.analyses.results import Provenance, ketabridge_version
from ketabridge.batches.batch_result import BatchResult
from ketabridge.errors import InputError, KetabridgeError
from ketabridge.io import TableLike, to_arrow
from ketabridge.options import check_choice

COUNT_BATCH_MODELS = ("mh", "peto")


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

    Returns
    -------
    BatchResult
        ``glance()`` (``analysis_id`` and schema.COUNT_GLANCE), ``tidy()`` and ``status()``
        (``ok`` | ``warning`` | ``error``, the messages, the R call) of every analysis.

    Raises
    ------
    InputError
        An unknown model, or a ``by`` column that is missing.
    """
    check_choice(model, COUNT_BATCH_MODELS, "model")
    table = to_arrow(data)
    validate.require_columns(table, [by])
    frame = table.to_pandas()
    glances, tidies, statuses, versions = [], [], [], {}
    for analysis_id, rows in frame.groupby(by, sort=False, dropna=False):
        # messages count rows within the analysis; say which input rows those are
        where = f" (row numbers count within analysis {analysis_id!r}, which is input {validate.rows_text(rows.index)})"
        rows = rows.drop(columns=[by]).reset_index(drop=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if model == "mh":
                    result = rma_mh(rows, measure, level=level, **columns)
                else:
                    result = rma_peto(rows, level=level, **columns)
            except KetabridgeError as error:
                result, failure = None, error
        messages = [str(warning.message) for warning in caught]
        if result is None:
            call = getattr(failure, "r_call", "")
            statuses.append(_status(analysis_id, "error", "; ".join([str(failure) + where, *messages]), call))
            continue
        versions = {name: getattr(result.provenance, name) for name in ("r_version", "metafor_version", "rpy2_version")}
        statuses.append(
            _status(
                analysis_id,
                "warning" if messages else "ok",
                "; ".join(messages) + (where if messages else ""),
                result.provenance.r_call,
            )
        )
        glances.append(result.glance().assign(analysis_id=analysis_id))
        tidies.append(result.tidy().assign(analysis_id=analysis_id))
    status = pd.DataFrame(statuses).astype({"analysis_id": "object", **schema.STATUS})
    glance = _stacked(glances, schema.COUNT_GLANCE, status["analysis_id"])
    tidy = _stacked(tidies, schema.TIDY, None)
    record = {
        "ketabridge_version": ketabridge_version(),
        **versions,
        "options": {"model": model, "measure": measure if model == "mh" else "PETO", "by": by, **columns},
        "analyses": len(status),
    }
    if out is not None:
        _write(Path(out), {"glance": glance, "tidy": tidy, "status": status}, record, csv)
    return BatchResult(glance, tidy, status, Provenance.of_run(record))


def _status(analysis_id: object, status: str, message: str, call: str) -> dict:
    return {"analysis_id": analysis_id, "status": status, "message": message, "r_call": call, "fallback": "",
            "engine": "metafor" if call else ""}  # fmt: skip


def _stacked(parts: list[pd.DataFrame], table_schema: dict, ids: pd.Series | None) -> pd.DataFrame:
    """analysis_id first; with ids, one row per analysis (NaN for the failed ones)."""
    columns = ["analysis_id", *table_schema]
    if not parts:
        stacked = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in table_schema.items()})
        stacked.insert(0, "analysis_id", pd.Series(dtype="object"))
    else:
        stacked = pd.concat(parts, ignore_index=True)[columns]
    if ids is not None:
        stacked = pd.DataFrame({"analysis_id": ids}).merge(stacked, on="analysis_id", how="left")
        # failed analyses have no values: their int and bool columns become nullable
        nullable = {schema.BOOL: "boolean", schema.INT: "Int64"}
        stacked = stacked.astype({name: nullable.get(dtype, dtype) for name, dtype in table_schema.items()})
    return stacked


def _write(out: Path, tables: dict[str, pd.DataFrame], record: dict, csv: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} is a file, not a directory")
    out.mkdir(parents=True, exist_ok=True)
    for kind, table in tables.items():
        table.to_parquet(out / f"{kind}.parquet", index=False)
        if csv:
            table.to_csv(out / f"{kind}.csv", index=False)
    (out / "provenance.json").write_text(json.dumps(record, indent=2, default=str))
