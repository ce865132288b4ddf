"""One chunk of a count batch (batches/count_batch.py): an rma_mh or rma_peto fit per analysis, each
with its status row, run where the chunk runs (this process or a pool worker, batches/worker.py)."""

from __future__ import annotations

import warnings

import pandas as pd

from ketabridge import schema
from ketabridge.analyses.rare import rma_mh, rma_peto
from ketabridge.errors import KetabridgeError


def run_count_chunk(payload: dict) -> dict:
    """One chunk of a count batch, in this process (batches/worker.py hands count chunks here)."""
    settings = payload["settings"]
    glances, tidies, statuses, versions = [], [], [], {}
    for analysis_id, rows, where in payload["analyses"]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if settings["model"] == "mh":
                    result = rma_mh(rows, settings["measure"], level=settings["level"], **settings["columns"])
                else:
                    result = rma_peto(rows, level=settings["level"], **settings["columns"])
            except KetabridgeError as error:
                result, failure = None, error
        messages = [str(warning.message) for warning in caught]
        if result is None:
            call = getattr(failure, "r_call", "")
            statuses.append(status_row(analysis_id, "error", "; ".join([str(failure) + where, *messages]), call))
            continue
        versions = {name: getattr(result.provenance, name) for name in ("r_version", "metafor_version", "rpy2_version")}
        statuses.append(
            status_row(
                analysis_id,
                "warning" if messages else "ok",
                "; ".join(messages) + (where if messages else ""),
                result.provenance.r_call,
            )
        )
        glances.append(result.glance().assign(analysis_id=analysis_id))
        tidies.append(result.tidy().assign(analysis_id=analysis_id))
    ids = [analysis_id for analysis_id, _, _ in payload["analyses"]]
    return {"tables": chunk_tables(statuses, glances, tidies, ids), "versions": versions}


def chunk_tables(statuses: list[dict], glances: list, tidies: list, ids: list) -> dict[str, pd.DataFrame]:
    status = pd.DataFrame(statuses).astype({"analysis_id": "object", **schema.STATUS})
    return {
        "glance": stacked(glances, schema.COUNT_GLANCE, pd.Series(ids, dtype="object")),
        "tidy": stacked(tidies, schema.TIDY, None),
        "status": status,
    }


def status_row(analysis_id: object, status: str, message: str, call: str) -> dict:
    return {"analysis_id": analysis_id, "status": status, "message": message, "r_call": call, "fallback": "",
            "engine": "metafor" if call else ""}  # fmt: skip


def stacked(parts: list[pd.DataFrame], table_schema: dict, ids: pd.Series | None) -> pd.DataFrame:
    """analysis_id first; with ids, one row per analysis (NaN for the failed ones)."""
    columns = ["analysis_id", *table_schema]
    parts = [part for part in parts if len(part)]
    if not parts:
        table = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in table_schema.items()})
        table.insert(0, "analysis_id", pd.Series(dtype="object"))
    else:
        table = pd.concat(parts, ignore_index=True)[columns]
    if ids is not None:
        table = pd.DataFrame({"analysis_id": ids}).merge(table, on="analysis_id", how="left")
        # failed analyses have no values: their int and bool columns become nullable
        nullable = {schema.BOOL: "boolean", schema.INT: "Int64"}
        table = table.astype({name: nullable.get(dtype, dtype) for name, dtype in table_schema.items()})
    return table
