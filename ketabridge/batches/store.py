"""The output directory: chunk parts written as they finish, final tables at the end.

Every file is written under a temporary name and renamed into place (atomic on one file
system). A chunk's status part is written last, so it marks the chunk as done: a part without
its status file (the run was killed in between) is ignored and its analyses run again.

The final tables are streamed from the parts (see merge): a window of analyses at a time is
read, put in input order and appended to each table's file as one Parquet row group, so the
memory a batch needs does not grow with its size (1,000,000 analyses: issue 17).
"""

from __future__ import annotations

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
        write_atomic(recorded, json.dumps(fingerprint, indent=2, sort_keys=True).encode())

    def done_ids(self) -> set:
        done: set = set()
        for stem in self._stems():  # the id column only: a resumed large batch stays small
            done.update(pq.read_table(self._part(stem, "status"), columns=["analysis_id"]).column(0).to_pylist())
        return done

    def write_chunk(self, tables: dict[str, pd.DataFrame]) -> None:
        stem = uuid.uuid4().hex
        for kind in KINDS:  # status last: it marks the chunk as complete
            write_atomic(self.parts / f"{stem}.{kind}.parquet", _parquet_bytes(tables[kind]))

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
                    table = _window(index, [self._part(stem, kind) for stem in touching], start, stop)
                    writers[kind].write(table)
                    if kind == "status" and table is not None:
                        for name in counts:
                            counts[name].update(table.column(name).to_pylist())
            for writer in writers.values():
                writer.close()
        except BaseException:
            for writer in writers.values():
                writer.abandon()
            raise
        return {
            "status_counts": dict(counts["status"].most_common()),
            "engine_counts": dict(counts["engine"].most_common()),
            "paths": {kind: self.out / f"{kind}.parquet" for kind in KINDS},
        }

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


def _window(index: pd.Index, paths: list[Path], start: int, stop: int) -> pa.Table | None:
    """The rows of the analyses at input positions [start, stop), from the parts that hold them,
    in input order (a tidy table's rows of one analysis keep their order)."""
    pieces, where = [], []
    for path in paths:
        table = pq.read_table(path)
        positions = _positions(index, table)
        inside = (positions >= start) & (positions < stop)
        if inside.any():
            pieces.append(table.filter(pa.array(inside)).replace_schema_metadata(None))
            where.append(positions[inside])
    if not pieces:
        return None
    table = pa.concat_tables(pieces, promote_options="permissive")  # null-typed columns of some parts
    return table.take(pa.array(np.argsort(np.concatenate(where), kind="stable")))


def write_atomic(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _parquet_bytes(table: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()
