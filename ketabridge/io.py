"""Read every supported input into pyarrow: whole tables, or record batches for a batch run.

The file's suffix chooses the reader, here and nowhere else (file_kind).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ketabridge.analyses.validate import TEXT_CELLS_KEY
from ketabridge.errors import InputError

TableLike = pd.DataFrame | pa.Table | pa.RecordBatch | str | os.PathLike

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
        return _from_pandas(data)
    if isinstance(data, (str, os.PathLike)):
        return read_table(Path(data))
    raise InputError(
        f"cannot read data of type {type(data).__name__}; pass a pandas DataFrame, a pyarrow "
        "Table or RecordBatch, or a path to a CSV, Parquet, Feather or Arrow IPC file"
    )


def _from_pandas(data: pd.DataFrame) -> pa.Table:
    """The DataFrame as a Table. A column mixing numbers and text (an object column, which has no
    type) becomes a column of text cells, as a CSV column would be, marked so for the checks
    (validate.TEXT_CELLS_KEY): its numbers stay numbers and only its text is named as text."""
    try:
        return pa.Table.from_pandas(data, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        failure = error
    data = data.copy(deep=False)
    mixed = []
    for name in data.columns:
        try:
            pa.array(data[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            cells = _cells(data[name].tolist())
            if cells is None:
                raise InputError(f"column {name!r} cannot be converted to a typed column: {failure}") from None
            data[name] = pd.Series(cells, index=data.index, dtype=object)
            mixed.append(name)
    if not mixed:
        raise InputError(f"cannot convert the DataFrame: {failure}")
    table = pa.Table.from_pandas(data, preserve_index=False)
    schema = table.schema
    for name in mixed:
        index = schema.get_field_index(name)
        schema = schema.set(index, schema.field(index).with_metadata({TEXT_CELLS_KEY: b"mixed"}))
    return pa.Table.from_arrays(table.columns, schema=schema)


def _cells(values: list) -> list | None:
    """Numbers and text as text cells (numbers written so they read back exactly), missing values
    as None; None if the values are not just numbers, text and missing values."""
    cells = []
    for value in values:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            cells.append(None)
        elif isinstance(value, str):
            cells.append(value)
        elif isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
            cells.append(str(int(value)))
        elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            cells.append(repr(float(value)))  # the shortest text that reads back as the same double
        else:
            return None
    return cells


def file_kind(path: Path) -> str:
    """The reader for a file, chosen by its suffix; InputError for another suffix or no file."""
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"{path}: unknown file type {path.suffix!r}; use one of {', '.join(sorted(_READERS))}")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return kind


def read_table(path: Path) -> pa.Table:
    """Read one file, choosing the reader by its suffix. A CSV's table is marked (validate's
    TEXT_CELLS_KEY): a CSV has no types, so its text cells that are numbers are numbers."""
    kind = file_kind(path)
    try:
        if kind == "csv":
            from pyarrow import csv

            return _text_cells(csv.read_csv(path))
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


def read_schema(path: Path) -> pa.Schema:
    """A file's columns and types, reading as little of it as its format allows."""
    kind = file_kind(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).schema_arrow
        if kind == "csv":
            from pyarrow import csv

            with csv.open_csv(path) as reader:
                return reader.schema
        return _open_ipc(path, kind).schema
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{path}: cannot read as {kind}: {error}") from error


def read_batches(
    path: Path,
    names: list[str],
    *,
    batch_rows: int,
    csv_block_bytes: int,
    csv_types: Mapping[str, pa.DataType] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream the named columns of a file in record batches (about batch_rows rows, or
    csv_block_bytes of a CSV). csv_types fixes column types of a CSV (e.g. text, so that one bad
    cell cannot stop the read: the checks then read its cells, as read_table's are read)."""
    kind = file_kind(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=names)
        elif kind == "csv":
            from pyarrow import csv

            options = csv.ConvertOptions(include_columns=names, column_types=dict(csv_types) if csv_types else None)
            with csv.open_csv(
                path, convert_options=options, read_options=csv.ReadOptions(block_size=csv_block_bytes)
            ) as reader:
                yield from reader
        else:
            reader = _open_ipc(path, kind)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches)) if kind == "ipc_file" else reader
            for batch in batches:
                yield batch.select(names)
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{path}: cannot read as {kind}: {error}") from error


def _open_ipc(path: Path, kind: str):
    source = pa.memory_map(str(path))
    return pa.ipc.open_file(source) if kind == "ipc_file" else pa.ipc.open_stream(source)


def _text_cells(table: pa.Table) -> pa.Table:
    return table.replace_schema_metadata({**(table.schema.metadata or {}), TEXT_CELLS_KEY: b"csv"})
