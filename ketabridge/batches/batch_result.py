"""BatchResult: the tables of a batch run, one row per analysis id."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from ketabridge.analyses.results import Provenance, table_method


@dataclass(frozen=True, eq=False, init=False)
class BatchResult:
    """The tables of a batch run and its provenance, read as every result is: ``glance()``,
    ``tidy()`` and ``status()`` return copies, and ``provenance`` is a Provenance whose
    ``details`` hold the run's record (versions, options, input, timing, engine counts, the
    fast engine's verification), as provenance.json has it.

    Reading ``result.glance`` (or ``tidy``, ``status``) as a DataFrame without the call still
    works for one release, with a DeprecationWarning; so does ``result.provenance["..."]``.

    A batch run with ``out=`` keeps its tables on disk, not in memory: each call reads that
    table's Parquet file (so a batch of millions of analyses returns at once, and costs memory
    only when a table is asked for).
    """

    provenance: Provenance = field(repr=False)
    _glance: pd.DataFrame | os.PathLike = field(repr=False)
    _tidy: pd.DataFrame | os.PathLike = field(repr=False)
    _status: pd.DataFrame | os.PathLike = field(repr=False)

    def __init__(
        self,
        glance: pd.DataFrame | os.PathLike,
        tidy: pd.DataFrame | os.PathLike,
        status: pd.DataFrame | os.PathLike,
        provenance: Mapping | Provenance,
    ):
        if not isinstance(provenance, Provenance):
            provenance = Provenance.of_run(provenance)
        for name, value in (("_glance", glance), ("_tidy", tidy), ("_status", status), ("provenance", provenance)):
            object.__setattr__(self, name, value)

    @table_method
    def glance(self) -> pd.DataFrame:
        """One row per input analysis id (NaN where it failed): ``analysis_id``, the glance columns
        and the extras' prefixed columns (``trimfill_*``, ``regtest_*``, ``ranktest_*``)."""
        return _read(self._glance)

    @table_method
    def tidy(self) -> pd.DataFrame:
        """The coefficients of each fitted analysis."""
        return _read(self._tidy)

    @table_method
    def status(self) -> pd.DataFrame:
        """Every id once: ok | warning | error, R's message, the R call, the fallback and engine used."""
        return _read(self._status)

    def __repr__(self) -> str:
        column = _read(self._status, ["status"])["status"]
        counts = column.value_counts().to_dict()
        shown = ", ".join(f"{counts.get(name, 0)} {name}" for name in ("ok", "warning", "error"))
        return f"<BatchResult {len(column)} analyses: {shown}>"

    def _repr_html_(self) -> str:
        from ketabridge.analyses.display import batch_html

        return batch_html(self)


def _read(table: pd.DataFrame | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """A copy of a table in memory, or the table read from its Parquet file."""
    if isinstance(table, pd.DataFrame):
        return (table if columns is None else table[columns]).copy()
    return pd.read_parquet(table, columns=columns)
