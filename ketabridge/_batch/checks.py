"""Check each analysis's rows before R: a bad group becomes an error status row, never a stop.

Messages follow ketabridge.validate's wording and name the input column and the 0-based input
rows. Rows with missing values are left out of their analysis, as rma() does, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..options import ESCALC_CORRELATIONS, ESCALC_NONNEGATIVE
from ..validate import rows_text
from .settings import BatchSettings
from .source import Chunk

MIN_STUDIES = 2


@dataclass(frozen=True)
class CheckedChunk:
    index: int
    ids: list  # analyses that go to R
    sizes: np.ndarray
    data: dict[str, np.ndarray]  # role -> float64 values of those analyses' kept rows
    notes: list[str]  # per analysis in ids: what was left out ("" for nothing)
    failed_ids: list  # analyses stopped here
    failed_messages: list[str]

    def payload(self, settings: BatchSettings, by: str) -> dict:
        """What a worker needs: plain, picklable values only."""
        return {
            "index": self.index, "ids": self.ids, "sizes": self.sizes, "data": self.data,
            "notes": self.notes, "settings": settings.to_r(), "by": by,
        }


def check_chunk(chunk: Chunk, settings: BatchSettings) -> CheckedChunk:
    group = np.repeat(np.arange(len(chunk.ids)), chunk.sizes)  # analysis of each row
    problems: dict[int, list[str]] = {}
    values = {}
    for role, column in settings.columns.items():
        numbers, text_rows, text_values, type_problem = _as_float(chunk.columns[column])
        if type_problem:
            for g in range(len(chunk.ids)):
                problems.setdefault(g, []).append(f"column {column!r} must be numeric, not {type_problem}")
            numbers = np.full(len(group), np.nan)
        _report(problems, group, chunk.rows, text_rows,
                lambda rows, shown: f"column {column!r} must be numeric, but {rows_text(rows, ('holds', 'hold'))} text "
                f"({', '.join(repr(text_values[i]) for i in shown)})")
        _report(problems, group, chunk.rows, np.isinf(numbers),
                lambda rows, shown: f"column {column!r} must be finite, but {rows_text(rows, ('is', 'are'))} infinite")
        _check_range(problems, group, chunk.rows, role, column, numbers)
        values[role] = numbers

    missing = np.zeros(len(group), dtype=bool)
    for numbers in values.values():
        missing |= np.isnan(numbers)
    missing_rows = {}
    for g in np.unique(group[missing]):
        rows = chunk.rows[missing & (group == g)]
        missing_rows[int(g)] = rows
    kept_sizes = chunk.sizes - np.bincount(group[missing], minlength=len(chunk.ids))
    for g in np.flatnonzero(kept_sizes < MIN_STUDIES):
        problems.setdefault(int(g), []).append(
            f"a meta-analysis needs at least {MIN_STUDIES} studies with complete data; got {int(kept_sizes[g])}"
        )

    good = np.array([g not in problems for g in range(len(chunk.ids))], dtype=bool)
    keep_row = good[group] & ~missing
    names = ", ".join(settings.columns.values())
    notes = [
        f"{len(missing_rows[g])} rows with missing values in {names} left out ({rows_text(missing_rows[g])})"
        if g in missing_rows else ""
        for g in np.flatnonzero(good)
    ]
    return CheckedChunk(
        index=chunk.index,
        ids=[chunk.ids[g] for g in np.flatnonzero(good)],
        sizes=kept_sizes[good],
        data={role: numbers[keep_row] for role, numbers in values.items()},
        notes=notes,
        failed_ids=[chunk.ids[g] for g in sorted(problems)],
        failed_messages=["; ".join(problems[g]) for g in sorted(problems)],
    )


def _as_float(column: pa.Array) -> tuple[np.ndarray, np.ndarray, list, str]:
    """(values with NaN for nulls and text, mask of text rows, the raw values, type problem or "")."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    no_text = np.zeros(len(column), dtype=bool)
    if pa.types.is_null(kind):
        return np.full(len(column), np.nan), no_text, [], ""
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64), no_text, [], ""
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return np.full(len(column), np.nan), no_text, [], str(kind)
    trimmed = pc.utf8_trim_whitespace(column)
    blank = pc.equal(trimmed, "").to_numpy(zero_copy_only=False)  # an empty CSV cell is missing
    try:
        cleaned = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
        return pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64), no_text, [], ""
    except pa.ArrowInvalid:  # some cell is not a number: find which, one by one
        raw = column.to_pylist()
        numbers = np.full(len(raw), np.nan)
        text = np.zeros(len(raw), dtype=bool)
        for i, value in enumerate(raw):
            if value is None or blank[i]:
                continue
            try:
                numbers[i] = float(value)
            except ValueError:
                text[i] = True
        return numbers, text, raw, ""


def _check_range(problems, group, rows, role, column, numbers) -> None:
    with np.errstate(invalid="ignore"):
        if role in ("vi", "sei"):
            what = "variances" if role == "vi" else "standard errors"
            _report(problems, group, rows, numbers <= 0,
                    lambda bad, shown: f"column {column!r} holds {what}, which must be > 0, but "
                    f"{rows_text(bad, ('is', 'are'))} not ({', '.join(f'{numbers[i]:g}' for i in shown)})")
        elif role in ESCALC_NONNEGATIVE:
            _report(problems, group, rows, numbers < 0,
                    lambda bad, shown: f"column {column!r} must be >= 0, but {rows_text(bad, ('is', 'are'))} not")
        elif role in ESCALC_CORRELATIONS:
            _report(problems, group, rows, (numbers < -1) | (numbers > 1),
                    lambda bad, shown: f"column {column!r} must be between -1 and 1, but {rows_text(bad, ('is', 'are'))} not")


def _report(problems, group, rows, flagged: np.ndarray, message) -> None:
    """Add message(input rows, chunk positions of the first ones) to each analysis with flagged rows."""
    if not flagged.any():
        return
    for g in np.unique(group[flagged]):
        positions = np.flatnonzero(flagged & (group == g))
        problems.setdefault(int(g), []).append(message(rows[positions], positions[:3]))
