"""The batch's output tables, built from kb_batch's flat vectors (or from failures found before R)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ketabridge import schema
from ketabridge.bridge.call import plain_message

EXTRAS = {"trimfill": schema.TRIMFILL_GLANCE, "regtest": schema.REGTEST_GLANCE, "ranktest": schema.RANKTEST_GLANCE}
# A failed analysis has no k or converged: nullable integer and boolean columns hold NA there.
_NULLABLE = {schema.INT: "Int64", schema.BOOL: "boolean"}


def nullable(table_schema: dict) -> dict:
    return {name: _NULLABLE.get(dtype, dtype) for name, dtype in table_schema.items()}


def glance_schema(extras: list[str]) -> dict:
    """GLANCE, then each extra's glance columns prefixed with its name (as render.glance_with_extras)."""
    columns = nullable(schema.GLANCE)
    for name in extras:
        columns.update({f"{name}_{column}": dtype for column, dtype in nullable(EXTRAS[name]).items()})
    return columns


def asked_extras(settings: dict) -> list[str]:
    return [name for name in EXTRAS if settings.get(name)]


def chunk_tables(
    ids: list, value: dict, settings: dict, by: str, notes: list[str], engine: str = "metafor"
) -> dict[str, pd.DataFrame]:
    """glance, tidy and status frames of one chunk from kb_batch's reply (see ketabridge/r/kb_batch.R), or
    from the fast path's reply in the same layout (ketabridge/fast/chunk.py)."""
    count = len(ids)
    id_dtype = "string" if isinstance(ids[0], str) else "int64"
    ok = np.array([bool(flag) for flag in value["ok"]], dtype=bool)
    messages = [_joined(note, plain_message(message)) for note, message in zip(notes, value["message"])]
    status = np.where(~ok, "error", np.where([bool(m) for m in messages], "warning", "ok"))
    template = (value.get("call_template") or [""])[0]
    calls = _subset_calls(template, value["r_call"], by, ids)
    columns = dict(value.get("glance") or {})
    for name in asked_extras(settings):
        columns.update({f"{name}_{key}": item for key, item in (value.get(name) or {}).items()})
    glance = _frame({"analysis_id": ids, **columns}, count, glance_schema(asked_extras(settings)), id_dtype)
    tidy_columns = value.get("tidy") or {"analysis": []}
    positions = np.asarray(tidy_columns["analysis"], dtype=np.int64) - 1
    tidy = _frame({"analysis_id": [ids[i] for i in positions], **tidy_columns}, len(positions), schema.TIDY, id_dtype)
    return {
        "glance": glance,
        "tidy": tidy,
        "status": pd.DataFrame(
            {
                "analysis_id": pd.array(ids, dtype=id_dtype),
                **{
                    name: pd.array(items, dtype=dtype)
                    for (name, dtype), items in zip(
                        schema.STATUS.items(), (status, messages, calls, list(value["fallback"]), [engine] * count)
                    )
                },
            }
        ),
    }


def failed_tables(ids: list, messages: list[str], settings: dict, by: str) -> dict[str, pd.DataFrame]:
    """The tables of analyses that never reached R (bad data) or whose worker died."""
    count = len(ids)
    value = {"ok": [False] * count, "message": messages, "fallback": [""] * count, "r_call": [""] * count}
    return chunk_tables(ids, value, settings, by, [""] * count, engine="")


def _frame(columns: dict, count: int, table_schema: dict, id_dtype: str) -> pd.DataFrame:
    """analysis_id first, then the schema's columns (all NA where R returned none)."""
    frame = {"analysis_id": pd.array(columns["analysis_id"], dtype=id_dtype)}
    for name, dtype in table_schema.items():
        values = columns.get(name)
        if values is None:
            frame[name] = pd.array([None] * count, dtype=dtype)
        else:
            frame[name] = pd.array(
                list(values) if isinstance(values, np.ndarray) and values.dtype == object else values, dtype=dtype
            )
    return pd.DataFrame(frame)


def _subset_call(template: str, by: str, analysis) -> str:
    """The chunk's call shown for one analysis: display only, never parsed."""
    return template.replace("data = dat", f"data = dat[dat[[{json.dumps(by)}]] == {json.dumps(analysis)}, ]", 1)


def _subset_calls(template: str, calls: list, by: str, ids: list) -> list[str]:
    """_subset_call for every analysis (its own call, else the chunk's template), the template cut
    once: a million analyses' calls are a million string joins, not a million replaces."""
    head, found, tail = template.partition("data = dat")
    prefix = f"{head}data = dat[dat[[{json.dumps(by)}]] == "
    suffix = f", ]{tail}"
    return [
        _subset_call(call, by, analysis)
        if call
        else (f"{prefix}{analysis if type(analysis) is int else json.dumps(analysis)}{suffix}" if found else template)
        for call, analysis in zip(calls, ids)
    ]


def _joined(*parts: str) -> str:
    return "; ".join(part for part in parts if part)
