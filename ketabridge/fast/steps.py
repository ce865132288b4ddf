"""Per-analysis outcome of a vectorised step: metafor's errors and warnings, row by row."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Outcome:
    """errors: "" or metafor's error text per analysis; warnings: R's warnings in R's order;
    needs_metafor: analyses the fast path does not reproduce (they are rerun on metafor)."""

    errors: np.ndarray
    warnings: list[list[str]] = field(default_factory=list)
    needs_metafor: np.ndarray | None = None

    @classmethod
    def empty(cls, count: int) -> Outcome:
        return cls(np.full(count, "", dtype=object), [[] for _ in range(count)], np.zeros(count, dtype=bool))

    @classmethod
    def of(cls, errors, warnings, needs_metafor) -> Outcome:
        """From a step result's own errors / warnings / needs_metafor fields."""
        return cls(
            np.asarray(errors, dtype=object).copy(),
            [list(w) for w in warnings],
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
            self.warnings[row].append(message)

    def absorb(self, other: Outcome, rows: np.ndarray | None = None) -> None:
        """Take another step's errors, warnings and needs_metafor (for `rows` of this outcome)."""
        rows = np.arange(len(self.errors)) if rows is None else rows
        for position, row in enumerate(rows):
            if self.errors[row] == "" and other.errors[position] != "":
                self.errors[row] = other.errors[position]
            self.warnings[row].extend(other.warnings[position])
        self.needs_metafor[rows] |= other.needs_metafor
