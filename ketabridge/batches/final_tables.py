"""A batch's final tables as the later steps read them: DataFrames in memory (no out=), or the
Parquet files the store's merge wrote (out=), read by columns or for a few ids only, so that
verifying and reporting a batch of millions of analyses never holds its whole tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

KINDS = ("glance", "tidy", "status")


class FinalTables:
    """Either frames (kind -> DataFrame) or paths (kind -> Parquet file), with the status and
    engine counts of the status table."""

    def __init__(
        self,
        *,
        status_counts: dict,
        engine_counts: dict,
        frames: dict[str, pd.DataFrame] | None = None,
        paths: dict[str, Path] | None = None,
    ):
        self.frames, self.paths = frames, paths
        self.status_counts, self.engine_counts = status_counts, engine_counts

    @classmethod
    def in_memory(cls, frames: dict[str, pd.DataFrame]) -> FinalTables:
        status = frames["status"]
        return cls(
            frames=frames,
            status_counts=status["status"].value_counts().to_dict() if len(status) else {},
            engine_counts=status["engine"].value_counts().to_dict() if len(status) else {},
        )

    def read(self, kind: str, columns: list[str] | None = None, ids: set | None = None) -> pd.DataFrame:
        """The table of one kind: those columns (default all), those analysis ids (default all)."""
        if self.frames is not None:
            table = self.frames[kind]
            if ids is not None:
                table = table[table["analysis_id"].isin(list(ids))]
            return table if columns is None else table[columns]
        if ids is None:
            return pq.read_table(self.paths[kind], columns=columns).to_pandas()
        # a few rows of a large file: row group by row group, keeping only those (a filtered
        # read_table would hold every column of the whole file at once)
        file = pq.ParquetFile(self.paths[kind])
        wanted = pa.array(list(ids), type=file.schema_arrow.field("analysis_id").type)
        pieces = []
        for group in range(file.num_row_groups):
            table = file.read_row_group(group, columns=columns)
            pieces.append(table.filter(pc.is_in(table.column("analysis_id"), value_set=wanted)))
        if not pieces:
            return file.schema_arrow.empty_table().select(columns or file.schema_arrow.names).to_pandas()
        return pa.concat_tables(pieces).to_pandas()

    def tables(self) -> dict:
        """glance, tidy and status as BatchResult takes them (frames, or paths read on demand)."""
        return dict(self.frames if self.frames is not None else self.paths)
