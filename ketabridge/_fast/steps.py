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
    def empty(cls, count: int) -> "Outcome":
        return cls(np.full(count, "", dtype=object), [[] for _ in range(count)], np.zeros(count, dtype=bool))

    @property
    def failed(self) -> np.ndarray:
        return self.errors != ""

    def fail(self, mask: np.ndarray, message: str) -> None:
        """Record an error where none was recorded yet (R stops at the first)."""
        self.errors[mask & ~self.failed] = message

    def warn(self, mask: np.ndarray, message: str) -> None:
        for row in np.flatnonzero(mask & ~self.failed):
            self.warnings[row].append(message)

    def absorb(self, other, rows: np.ndarray | None = None) -> None:
        """Take another step's errors, warnings and needs_metafor (for `rows` of this outcome)."""
        rows = np.arange(len(self.errors)) if rows is None else rows
        for position, row in enumerate(rows):
            if self.errors[row] == "" and other.errors[position] != "":
                self.errors[row] = other.errors[position]
            self.warnings[row].extend(other.warnings[position])
        if other.needs_metafor is not None:
            self.needs_metafor[rows] |= other.needs_metafor
