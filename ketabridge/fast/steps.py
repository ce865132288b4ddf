"""Per-analysis outcome of a vectorised step: metafor's errors and warnings, row by row."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Outcome:
    """errors: "" or metafor's error text per analysis; warnings: R's warnings in R's order, a
    tuple per analysis (one shared empty tuple where there is none: most analyses have none, and
    thousands of empty lists per step cost more than the step); needs_metafor: analyses the fast
    path does not reproduce (they are rerun on metafor)."""

    errors: np.ndarray
    warnings: list[tuple[str, ...]] = field(default_factory=list)
    needs_metafor: np.ndarray | None = None

    @classmethod
    def empty(cls, count: int) -> Outcome:
        return cls(np.full(count, "", dtype=object), [()] * count, np.zeros(count, dtype=bool))

    @classmethod
    def of(cls, errors, warnings, needs_metafor) -> Outcome:
        """From a step result's own errors / warnings / needs_metafor fields."""
        return cls(
            np.asarray(errors, dtype=object).copy(),
            [tuple(w) for w in warnings],
            np.asarray(needs_metafor, dtype=bool).copy(),
        )

    @property
    def failed(self) -> np.ndarray:
        return self.errors != ""

    def fail(self, mask: np.ndarray, message: str) -> None:
        """Record an error where none was recorded yet (R stops at the first)."""
        self.errors[mask & ~self.failed] = message

    def warn(self, mask: np.ndarray, message: str) -> None:
        for row in np.flatnonzero(mask & ~self.failed):
            self.note(row, message)

    def note(self, row: int, *messages: str) -> None:
        """Add warnings to one analysis, whether or not it failed."""
        self.warnings[row] = (*self.warnings[row], *messages)

    def absorb(self, other: Outcome, rows: np.ndarray | None = None) -> None:
        """Take another step's errors, warnings and needs_metafor (for `rows` of this outcome)."""
        rows = np.arange(len(self.errors)) if rows is None else np.asarray(rows)  # distinct rows
        first = (self.errors[rows] == "") & (other.errors != "")  # R stops at the first error
        self.errors[rows[first]] = other.errors[first]
        for position, found in enumerate(other.warnings):
            if found:
                self.note(rows[position], *found)
        self.needs_metafor[rows] |= other.needs_metafor
