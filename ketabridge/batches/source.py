"""Read a long table in record batches and cut it into chunks of whole analyses.

The id column is scanned first, alone (cheap: one column), which gives every id, in order of
first appearance, and tells whether each id's rows are contiguous. Contiguous ids (the usual
case: a table sorted or written group by group) are then streamed in record batches, the last,
possibly incomplete, group of a batch carried over to the next. Interleaved ids cannot be
streamed group by group, so then only the needed columns are read whole and ordered by id.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ketabridge.analyses.validate import require_columns, rows_text, text_cell_columns
from ketabridge.errors import InputError
from ketabridge.io import TableLike, file_kind, read_batches, read_schema, to_arrow

BATCH_ROWS = 65_536  # rows per record batch read from a Parquet file or an in-memory table
CSV_BLOCK_BYTES = 1 << 22  # bytes per record batch read from a CSV file (4 MiB)


@dataclass(frozen=True)
class Chunk:
    index: int
    ids: list  # analysis ids, in input order
    sizes: np.ndarray  # rows per analysis
    rows: np.ndarray  # 0-based input row of each row
    columns: dict[str, pa.Array]  # input column -> values, rows of each analysis together
    text_cells: frozenset = frozenset()  # columns whose text is untyped cells (see ketabridge.analyses.validate)


class Source:
    """A table (in memory or a file) with its analysis ids scanned."""

    def __init__(self, data: TableLike, by: str, columns: list[str]):
        self.data = data
        self.by = by
        self.columns = list(dict.fromkeys(columns))
        self.path = Path(data) if isinstance(data, (str, os.PathLike)) else None
        self.table = None if self.path is not None else to_arrow(data)
        # a CSV has no types: its data columns are read as text and their cells checked as numbers
        if self.path is not None:
            self.text_cells = frozenset(self.columns) if file_kind(self.path) == "csv" else frozenset()
        else:
            self.text_cells = text_cell_columns(self.table.schema)
        self._check_columns()
        ids = self._read([by]).column(by)
        self.ids, self.contiguous, self.id_type = _scan_ids(ids, by)

    def describe(self) -> str:
        return str(self.path) if self.path is not None else f"in-memory table of {len(self.table)} rows"

    def chunks(self, chunk_size: int, skip: set = frozenset(), only: set | None = None) -> Iterator[Chunk]:
        """Chunks of up to chunk_size analyses whose ids are not in skip (and are in only, if
        given), in input order."""
        pieces: list[pa.Table] = []  # runs of whole groups, sliced from the blocks (no per-group tables)
        pending_ids: list = []
        pending_sizes: list[np.ndarray] = []
        index = 0
        wanted = None if only is None else pa.array(list(only), type=self.id_type)
        for block in self._groups():
            if wanted is not None:  # a few ids of many (verification): drop the rest before splitting
                block = block.filter(pc.is_in(block.column(self.by), value_set=wanted))
            starts, sizes, ids = _group_bounds(block, self.by)
            keep = [not (analysis in skip or (only is not None and analysis not in only)) for analysis in ids]
            if not all(keep):  # the kept groups' rows, taken together (resume, verification)
                keep = np.array(keep, dtype=bool)
                rows = np.repeat(starts[keep] - np.cumsum(sizes[keep]) + sizes[keep], sizes[keep])
                block = block.take(pa.array(rows + np.arange(len(rows))))
                sizes, ids = sizes[keep], [analysis for analysis, kept in zip(ids, keep) if kept]
                starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
            done = 0
            while done < len(ids):
                take = min(chunk_size - len(pending_ids), len(ids) - done)
                first, last = int(starts[done]), int(starts[done + take - 1] + sizes[done + take - 1])
                pieces.append(block.slice(first, last - first))
                pending_ids.extend(ids[done : done + take])
                pending_sizes.append(sizes[done : done + take])
                done += take
                if len(pending_ids) == chunk_size:
                    yield self._chunk(index, pieces, pending_ids, pending_sizes)
                    index, pieces, pending_ids, pending_sizes = index + 1, [], [], []
        if pending_ids:
            yield self._chunk(index, pieces, pending_ids, pending_sizes)

    def _chunk(self, index: int, pieces: list[pa.Table], ids: list, sizes: list[np.ndarray]) -> Chunk:
        table = pa.concat_tables(pieces)
        return Chunk(
            index=index,
            ids=ids,
            sizes=np.concatenate(sizes).astype(np.int64),
            rows=table.column("__row").to_numpy(),
            columns={name: table.column(name).combine_chunks() for name in self.columns},
            text_cells=self.text_cells,
        )

    def _groups(self) -> Iterator[pa.Table]:
        """Tables of whole groups (each group's rows together), with a __row column of input rows."""
        wanted = [self.by, *self.columns]
        if not self.contiguous:  # interleaved ids: read the needed columns whole, order them by id
            table = _with_rows(self._read(wanted, (self.by, self.id_type)), 0)
            first_seen = {value: rank for rank, value in enumerate(self.ids)}
            rank = np.array([first_seen[value] for value in table.column(self.by).to_pylist()])
            yield table.take(np.argsort(rank, kind="stable"))
            return
        carry, offset = None, 0
        for batch in self._batches(wanted):
            block = _with_rows(pa.Table.from_batches([batch]), offset)
            offset += len(block)
            if carry is not None:
                block = pa.concat_tables([carry, block])
            if len(block) == 0:
                continue
            last_start = _last_group_start(block.column(self.by))
            carry = block.slice(last_start)
            if last_start:
                yield block.slice(0, last_start)
        if carry is not None and len(carry):
            yield carry

    def _read(self, names: list[str], id_column: tuple | None = None) -> pa.Table:
        if self.table is not None:
            return self.table.select(names)
        batches = list(self._file_batches(names, id_column))
        return pa.Table.from_batches(batches) if batches else read_schema(self.path).empty_table().select(names)

    def _batches(self, names: list[str]) -> Iterator[pa.RecordBatch]:
        if self.table is not None:
            yield from self.table.select(names).to_batches(max_chunksize=BATCH_ROWS)
        else:
            yield from self._file_batches(names, (self.by, self.id_type))

    def _file_batches(self, names: list[str], id_column: tuple | None = None) -> Iterator[pa.RecordBatch]:
        """Record batches of the named columns; id_column (name, type) reads a CSV's data columns
        as text, converted per chunk by the checks, so one bad cell cannot stop the read."""
        types = None
        if id_column is not None:
            types = {name: pa.string() for name in names if name != id_column[0]}
            types[id_column[0]] = id_column[1]
        return read_batches(self.path, names, batch_rows=BATCH_ROWS, csv_block_bytes=CSV_BLOCK_BYTES, csv_types=types)

    def _check_columns(self) -> None:
        schema = self.table.schema if self.table is not None else read_schema(self.path)
        require_columns(schema.empty_table(), [self.by, *self.columns])


def _scan_ids(ids: pa.ChunkedArray, by: str) -> tuple[list, bool, pa.DataType]:
    kind = ids.type
    if pa.types.is_dictionary(kind):
        ids = ids.cast(kind.value_type)
        kind = ids.type
    if not (pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise InputError(f"column {by!r} holds the analysis ids, which must be integers or text, not {kind}")
    missing = np.flatnonzero(ids.is_null().to_numpy(zero_copy_only=False))
    if missing.size:
        raise InputError(f"column {by!r} holds the analysis ids, but {rows_text(missing, ('has', 'have'))} none")
    if len(ids) == 0:
        raise InputError(f"the table has no rows, so no analyses to run (column {by!r})")
    values = ids.combine_chunks()
    changes = pc.not_equal(values.slice(1), values.slice(0, len(values) - 1))
    runs = 1 + pc.sum(changes).as_py() if len(values) > 1 else 1
    unique = pc.unique(values)
    return unique.to_pylist(), runs == len(unique), kind


def _with_rows(table: pa.Table, offset: int) -> pa.Table:
    return table.append_column("__row", pa.array(np.arange(offset, offset + len(table), dtype=np.int64)))


def _last_group_start(ids: pa.ChunkedArray) -> int:
    values = ids.combine_chunks()
    last = values[len(values) - 1]
    same = pc.equal(values, last).to_numpy(zero_copy_only=False)
    different = np.flatnonzero(~same)
    return int(different[-1]) + 1 if different.size else 0


def _group_bounds(block: pa.Table, by: str) -> tuple[np.ndarray, np.ndarray, list]:
    """The block's groups (contiguous runs of one id), in order: their first rows, sizes and ids."""
    values = block.column(by).combine_chunks()
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), []
    changes = np.flatnonzero(
        pc.not_equal(values.slice(1), values.slice(0, len(values) - 1)).to_numpy(zero_copy_only=False)
    )
    starts = np.concatenate([[0], changes + 1]).astype(np.int64)
    sizes = np.diff(np.append(starts, len(values)))
    return starts, sizes, values.take(pa.array(starts)).to_pylist()
