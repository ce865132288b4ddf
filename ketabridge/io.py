"""Read every supported input into a pyarrow Table."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import pandas as pd
import pyarrow as pa

from .errors import InputError

TableLike = Union[pd.DataFrame, pa.Table, pa.RecordBatch, str, os.PathLike]

_READERS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".feather": "ipc_file",
    ".arrow": "ipc_file",
    ".ipc": "ipc_file",
    ".arrows": "ipc_stream",
}


def to_arrow(data: TableLike) -> pa.Table:
    """Return data as a pyarrow Table: DataFrame, Table, RecordBatch, or a CSV/Parquet/Feather/Arrow path."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pd.DataFrame):
        if not all(isinstance(name, str) for name in data.columns):
            raise InputError("column names must be strings; rename the columns first")
        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise _mixed_column_error(data, error) from None
    if isinstance(data, (str, os.PathLike)):
        return read_table(Path(data))
    raise InputError(
        f"cannot read data of type {type(data).__name__}; pass a pandas DataFrame, a pyarrow "
        "Table or RecordBatch, or a path to a CSV, Parquet, Feather or Arrow IPC file"
    )


def _mixed_column_error(data: pd.DataFrame, error: Exception) -> InputError:
    """Name the column (and its text rows) that Arrow could not convert, e.g. numbers mixed with text."""
    from .validate import rows_text

    for name in data.columns:
        try:
            pa.array(data[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            values = data[name].tolist()
            text = [i for i, value in enumerate(values) if isinstance(value, str)]
            if text and len(text) < len(values):
                examples = ", ".join(repr(values[i]) for i in text[:3])
                return InputError(f"column {name!r} mixes numbers and text: {rows_text(text, ('holds', 'hold'))} text ({examples})")
            return InputError(f"column {name!r} cannot be converted to a typed column: {error}")
    return InputError(f"cannot convert the DataFrame: {error}")


def read_table(path: Path) -> pa.Table:
    """Read one file, choosing the reader by its suffix."""
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"{path}: unknown file type {path.suffix!r}; use one of {', '.join(sorted(_READERS))}"
        )
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if kind == "csv":
            from pyarrow import csv

            return csv.read_csv(path)
        if kind == "parquet":
            from pyarrow import parquet

            return parquet.read_table(path)
        from pyarrow import ipc

        if kind == "ipc_stream":
            with ipc.open_stream(path) as reader:
                return reader.read_all()
        from pyarrow import feather

        return feather.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{path}: cannot read as {kind}: {error}") from error
