"""The output directory: chunk parts written as they finish, final tables at the end.

Every file is written under a temporary name and renamed into place (atomic on one file
system). A chunk's status part is written last, so it marks the chunk as done: a part without
its status file (the run was killed in between) is ignored and its analyses run again.

The final tables are written a window of analyses at a time, put in input order and appended to
each table's file as one Parquet row group, so the memory a batch needs does not grow with its
size (1,000,000 analyses: issue 17). In a fresh run they are written while the run goes on (see
stream: a window is written as soon as every analysis in it is done, from the chunks still held
in memory); otherwise, or when that cannot go on, they are read back from the parts at the end
(see merge).
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ketabridge.errors import InputError

KINDS = ("glance", "tidy", "status")
SETTINGS_FILE = "batch.json"
MERGE_WINDOW = 50_000  # analyses per row group of a final table: what the merge holds in memory at once
HELD_WINDOWS = 4  # the stream gives up (merge at the end) when it holds this many windows' chunks


class BatchStore:
    def __init__(self, out: Path, fingerprint: dict, resume: bool):
        self.out = Path(out)
        self.parts = self.out / "parts"
        recorded = self.out / SETTINGS_FILE
        if recorded.exists():
            if not resume:
                raise InputError(
                    f"{self.out} already holds a batch; pass resume=True (--resume) to continue it, "
                    "or choose another output directory"
                )
            before = json.loads(recorded.read_text(encoding="utf-8"))
            if before != fingerprint:
                changed = sorted(key for key in {**before, **fingerprint} if before.get(key) != fingerprint.get(key))
                raise InputError(
                    f"{self.out} holds a batch run with other options ({', '.join(changed)}); "
                    "resume it with the same options, or choose another output directory"
                )
        self.parts.mkdir(parents=True, exist_ok=True)
        for stale in self.out.glob(".*.tmp"):  # final tables a killed run was writing
            stale.unlink()
        write_atomic(recorded, json.dumps(fingerprint, indent=2, sort_keys=True).encode())
        self.streaming: _Stream | None = None

    def stream(self, ids: list, csv: bool) -> None:
        """Write the final tables as the chunks come (a fresh run: no part exists yet)."""
        self.streaming = _Stream(self.out, ids, csv, MERGE_WINDOW)

    def abandon(self) -> None:
        """The run failed: remove the final tables being written (the parts stay, for resume)."""
        if self.streaming is not None:
            self.streaming.abandon()
            self.streaming = None

    def done_ids(self) -> set:
        done: set = set()
        for stem in self._stems():  # the id column only: a resumed large batch stays small
            done.update(pq.read_table(self._part(stem, "status"), columns=["analysis_id"]).column(0).to_pylist())
        return done

    def write_chunk(self, tables: dict[str, pd.DataFrame]) -> None:
        stem = uuid.uuid4().hex
        arrow = {kind: pa.Table.from_pandas(tables[kind], preserve_index=False) for kind in KINDS}
        for kind in KINDS:  # status last: it marks the chunk as complete
            write_atomic(self.parts / f"{stem}.{kind}.parquet", _parquet_bytes(arrow[kind]))
        if self.streaming is not None:
            self.streaming.add(arrow)

    def record_versions(self, versions: dict) -> None:
        """The R side's versions, kept so that a resumed run that runs no chunk still reports them."""
        write_atomic(self.parts / "versions.json", json.dumps(versions).encode())

    def versions(self) -> dict:
        path = self.parts / "versions.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def merge(self, ids: list, csv: bool, window: int | None = None) -> dict:
        """Write glance, tidy and status (.parquet, and .csv with csv) from the parts, in the order
        of ids, one row group per window of `window` analyses, after checking that every id has
        exactly one status row. Only the parts a window touches are read for it (a chunk's parts
        cover a run of nearby ids), so memory stays about one window. Returns the status and
        engine counts and the paths written."""
        if self.streaming is not None:
            streamed, self.streaming = self.streaming.close(), None
            if streamed is not None:
                return streamed
        window = window or MERGE_WINDOW  # read at call time (a test sets a small window)
        index = pd.Index(ids)
        spans = []  # (first and last input position of its analyses, stem) per part
        found = np.zeros(len(ids), dtype=np.int64)
        for stem in self._stems():
            positions = _positions(index, pq.read_table(self._part(stem, "status"), columns=["analysis_id"]))
            if (positions < 0).any():
                raise RuntimeError(f"batch bookkeeping error: part {stem} holds analyses that are not in the input")
            np.add.at(found, positions, 1)
            if len(positions):
                spans.append((int(positions.min()), int(positions.max()), stem))
        if not (found == 1).all():
            raise RuntimeError(
                f"batch bookkeeping error: {len(ids)} analyses in, {int(found.sum())} status rows out "
                f"({int((found == 0).sum())} missing, {int((found > 1).sum())} repeated)"
            )
        del found
        writers = {kind: _Writer(self.out, kind, self._schema(kind), csv) for kind in KINDS}
        counts = {"status": Counter(), "engine": Counter()}
        try:
            for start in range(0, len(ids), window):
                stop = start + window
                touching = [stem for first, last, stem in spans if first < stop and last >= start]
                for kind in KINDS:
                    parts = [pq.read_table(self._part(stem, kind)) for stem in touching]
                    table = _window([(part, _positions(index, part)) for part in parts], start, stop)
                    writers[kind].write(table)
                    if kind == "status":
                        _count(counts, table)
            for writer in writers.values():
                writer.close()
        except BaseException:
            for writer in writers.values():
                writer.abandon()
            raise
        return _merged(self.out, counts)

    def finish(self, provenance: dict) -> None:
        """provenance.json, written last (the tables are written by merge)."""
        write_atomic(self.out / "provenance.json", json.dumps(provenance, indent=2, default=str).encode())

    def _schema(self, kind: str) -> pa.Schema | None:
        """The parts' schemas unified, with the first part's pandas metadata (so the final file
        reads back with the same dtypes): a column that is all missing in one part has Arrow's
        null type there and its real type in another. None when no part exists (a batch with
        no analysis to run)."""
        schemas = [pq.read_schema(self._part(stem, kind)) for stem in self._stems()]
        if not schemas:
            return None
        unified = pa.unify_schemas([schema.remove_metadata() for schema in schemas], promote_options="permissive")
        return unified.with_metadata(schemas[0].metadata)

    def _part(self, stem: str, kind: str) -> Path:
        return self.parts / f"{stem}.{kind}.parquet"

    def _stems(self) -> list[str]:
        return sorted(path.name[: -len(".status.parquet")] for path in self.parts.glob("*.status.parquet"))


class _Writer:
    """One final table: Parquet (and CSV) under temporary names, renamed into place when closed."""

    def __init__(self, out: Path, kind: str, schema: pa.Schema | None, csv: bool):
        self.schema = schema
        self.paths = [out / f"{kind}.parquet", *([out / f"{kind}.csv"] if csv else [])]
        self.temporary = [path.with_name(f".{path.name}.{os.getpid()}.tmp") for path in self.paths]
        self.parquet = pq.ParquetWriter(self.temporary[0], schema) if schema is not None else None
        self.csv = open(self.temporary[1], "w", encoding="utf-8", newline="") if csv else None
        self.header = True

    def write(self, table: pa.Table | None) -> None:
        if table is None or self.parquet is None:
            return
        table = table.cast(self.schema)
        if len(table):
            self.parquet.write_table(table)
        if self.csv is not None:
            table.to_pandas().to_csv(self.csv, header=self.header, index=False)
            self.header = False

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
        else:  # no part at all: an empty table, as the in-memory batch gives
            pd.DataFrame({"analysis_id": []}).to_parquet(self.temporary[0], index=False)
        if self.csv is not None:
            if self.header:
                (
                    pd.DataFrame({"analysis_id": []}) if self.schema is None else self.schema.empty_table().to_pandas()
                ).to_csv(self.csv, index=False)
            self.csv.close()
        for temporary, path in zip(self.temporary, self.paths):
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, path)

    def abandon(self) -> None:
        for handle in (self.parquet, self.csv):
            try:
                if handle is not None:
                    handle.close()
            except Exception:  # already closed or broken: the temporary file is removed below
                pass
        for temporary in self.temporary:
            temporary.unlink(missing_ok=True)


def _positions(index: pd.Index, table: pa.Table) -> np.ndarray:
    """Input positions (0-based, -1 if unknown) of a table's rows, by their analysis_id."""
    return index.get_indexer(table.column("analysis_id").to_numpy(zero_copy_only=False))


def _window(parts: list[tuple[pa.Table, np.ndarray]], start: int, stop: int) -> pa.Table | None:
    """The rows of the analyses at input positions [start, stop), from the parts that hold them
    (each with its rows' input positions), in input order (a tidy table's rows of one analysis
    keep their order)."""
    pieces, where = [], []
    for table, positions in parts:
        inside = (positions >= start) & (positions < stop)
        if inside.all():  # the whole part (a fast chunk inside the window): no copy
            pieces.append(table.replace_schema_metadata(None))
            where.append(positions)
        elif inside.any():
            pieces.append(table.filter(pa.array(inside)).replace_schema_metadata(None))
            where.append(positions[inside])
    if not pieces:
        return None
    table = pa.concat_tables(pieces, promote_options="permissive")  # null-typed columns of some parts
    where = np.concatenate(where)
    if (np.diff(where) >= 0).all():  # in input order already (chunks come in order): no copy
        return table
    return table.take(pa.array(np.argsort(where, kind="stable")))


def write_atomic(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _count(counts: dict[str, Counter], status: pa.Table | None) -> None:
    """Add a window's status table to the status and engine counts."""
    if status is not None:
        for name in counts:
            counts[name].update(status.column(name).to_pylist())


def _merged(out: Path, counts: dict[str, Counter]) -> dict:
    """What merge returns: the status and engine counts and the final tables' paths."""
    return {
        "status_counts": dict(counts["status"].most_common()),
        "engine_counts": dict(counts["engine"].most_common()),
        "paths": {kind: out / f"{kind}.parquet" for kind in KINDS},
    }


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


class _Stream:
    """The final tables of a fresh run, written while it goes on: each chunk's tables are held
    until every analysis of the lowest unwritten window is done, then that window is written as a
    row group (as merge writes it). It gives up (close returns None, and merge reads the parts at
    the end) when it would hold more than HELD_WINDOWS windows' chunks (a slow straggler), when a
    part's column types differ from the first window's, or when an analysis comes twice or was not
    in the input (merge then reports it)."""

    def __init__(self, out: Path, ids: list, csv: bool, window: int):
        self.out, self.csv, self.window = out, csv, window
        self.index = pd.Index(ids)
        self.found = np.zeros(len(ids), dtype=np.int8)
        self.held: list[dict[str, tuple[pa.Table, np.ndarray]]] = []  # per chunk, kind -> (table, positions)
        self.start = 0  # the lowest input position not written yet
        self.writers: dict[str, _Writer | None] = {}  # per kind, from the first window (None: it had no rows)
        self.counts = {"status": Counter(), "engine": Counter()}
        self.broken = False

    def add(self, arrow: dict[str, pa.Table]) -> None:
        if self.broken:
            return
        chunk = {kind: (table, _positions(self.index, table)) for kind, table in arrow.items()}
        positions = chunk["status"][1]
        if (positions < 0).any() or (self.found[positions] > 0).any():
            return self.abandon()
        self.found[positions] += 1
        self.held.append(chunk)
        try:
            self._write_ready()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):  # types differ: merge
            return self.abandon()
        if sum(len(chunk["status"][0]) for chunk in self.held) > HELD_WINDOWS * self.window:
            self.abandon()

    def _write_ready(self) -> None:
        while self.start < len(self.found) and self.found[self.start : self.start + self.window].all():
            stop = self.start + self.window
            for kind in KINDS:
                table = _window([chunk[kind] for chunk in self.held], self.start, stop)
                if kind not in self.writers:  # the first window's types, with pandas's metadata (read back as written)
                    metadata = self.held[0][kind][0].schema.metadata
                    schema = None if table is None else table.schema.with_metadata(metadata)
                    self.writers[kind] = None if schema is None else _Writer(self.out, kind, schema, self.csv)
                if self.writers[kind] is None and table is not None:  # the first window had no such rows
                    raise pa.ArrowInvalid(f"{kind}: rows after an empty first window")
                if self.writers[kind] is not None:
                    self.writers[kind].write(table)
                if kind == "status":
                    _count(self.counts, table)
            self.start = min(stop, len(self.found))
            self.held = [chunk for chunk in self.held if chunk["status"][1].max(initial=-1) >= stop]

    def close(self) -> dict | None:
        """The merge's result when every window is written, else None (after abandoning)."""
        if self.broken or self.start < len(self.found) or not self.writers or None in self.writers.values():
            self.abandon()
            return None
        try:
            for writer in self.writers.values():
                writer.close()
        except BaseException:
            self.abandon()
            raise
        return _merged(self.out, self.counts)

    def abandon(self) -> None:
        self.broken, self.held = True, []
        for writer in self.writers.values():
            if writer is not None:
                writer.abandon()
        self.writers = {}
