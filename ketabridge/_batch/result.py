"""BatchResult: the tables of a batch run, one row per analysis id."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True, eq=False)
class BatchResult:
    """glance: one row per input analysis id (NaN where it failed), the glance columns and the
    extras' prefixed columns; tidy: the coefficients of each fitted analysis; status: every id
    once with ok | warning | error, R's message, the R call and the fallback used; provenance:
    versions, options and timing."""

    glance: pd.DataFrame = field(repr=False)
    tidy: pd.DataFrame = field(repr=False)
    status: pd.DataFrame = field(repr=False)
    provenance: dict = field(repr=False)

    def __repr__(self) -> str:
        counts = self.status["status"].value_counts().to_dict()
        shown = ", ".join(f"{counts.get(name, 0)} {name}" for name in ("ok", "warning", "error"))
        return f"<BatchResult {len(self.status)} analyses: {shown}>"
