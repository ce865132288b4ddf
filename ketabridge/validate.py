"""Check columns before anything crosses into R, naming the column and rows of each problem."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import InputError, MissingValuesWarning
from .options import NA_ACTIONS, check_choice

_SHOWN_ROWS = 5


def rows_text(rows: Sequence[int] | np.ndarray, verb: tuple[str, str] | None = None) -> str:
    """'rows 3, 8 and 2 more' for messages; rows are 0-based positions in the input table.

    verb is (singular, plural), e.g. ("is", "are"), appended in agreement with the count.
    """
    rows = [int(row) for row in rows]
    shown = ", ".join(str(row) for row in rows[:_SHOWN_ROWS])
    more = f" and {len(rows) - _SHOWN_ROWS} more" if len(rows) > _SHOWN_ROWS else ""
    text = f"{'row' if len(rows) == 1 else 'rows'} {shown}{more}"
    return text if verb is None else f"{text} {verb[len(rows) > 1]}"


def require_columns(table: pa.Table, names: Sequence[str]) -> None:
    missing = [name for name in names if name not in table.column_names]
    if missing:
        raise InputError(
            f"column {', '.join(repr(m) for m in missing)} not found; "
            f"the data has: {', '.join(table.column_names)}"
        )


def numeric_column(table: pa.Table, name: str) -> np.ndarray:
    """The column as float64, nulls as NaN; text or other types raise InputError naming the rows."""
    require_columns(table, [name])
    column = table.column(name)
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    if pa.types.is_null(kind):
        return np.full(len(column), np.nan)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        values = column.to_pylist()
        bad = [i for i, value in enumerate(values) if value is not None and not _is_number(value)]
        if bad:
            examples = ", ".join(repr(values[i]) for i in bad[:3])
            raise InputError(
                f"column {name!r} must be numeric, but {rows_text(bad, ('holds', 'hold'))} text ({examples})"
            )
        raise InputError(f"column {name!r} holds numbers stored as text; convert it to a numeric type")
    raise InputError(f"column {name!r} must be numeric, not {kind}")


def label_column(table: pa.Table, name: str) -> list[str]:
    """Study labels as strings, exactly as given; missing labels raise InputError."""
    require_columns(table, [name])
    labels = pc.cast(table.column(name), pa.string()).to_pylist()
    missing = [i for i, label in enumerate(labels) if label is None]
    if missing:
        raise InputError(f"column {name!r} has no label in {rows_text(missing)}")
    return labels


def check_finite(name: str, values: np.ndarray) -> None:
    bad = np.flatnonzero(np.isinf(values))
    if bad.size:
        raise InputError(f"column {name!r} must be finite, but {rows_text(bad, ('is', 'are'))} infinite")


def check_positive(name: str, values: np.ndarray, what: str = "variances") -> None:
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        raise InputError(
            f"column {name!r} holds {what}, which must be > 0, but {rows_text(bad, ('is', 'are'))} "
            f"not ({', '.join(f'{v:g}' for v in values[bad[:3]])})"
        )


def check_range(name: str, values: np.ndarray, low: float, high: float | None = None) -> None:
    outside = values < low if high is None else (values < low) | (values > high)
    bad = np.flatnonzero(outside)
    if bad.size:
        bound = f">= {low:g}" if high is None else f"between {low:g} and {high:g}"
        raise InputError(f"column {name!r} must be {bound}, but {rows_text(bad, ('is', 'are'))} not")


def complete_rows(columns: dict[str, np.ndarray], na_action: str) -> np.ndarray:
    """Boolean mask of rows with no missing value; warns (omit) or raises (fail) on the others."""
    check_choice(na_action, NA_ACTIONS, "na_action")
    n_rows = len(next(iter(columns.values())))
    missing = np.zeros(n_rows, dtype=bool)
    where = []
    for name, values in columns.items():
        gaps = np.isnan(values)
        if gaps.any():
            where.append(name)
            missing |= gaps
    if not missing.any():
        return ~missing
    rows = np.flatnonzero(missing)
    message = f"{len(rows)} of {n_rows} rows have missing values in {', '.join(where)} ({rows_text(rows)})"
    if na_action == "fail":
        raise InputError(f"{message}; pass na_action='omit' to leave them out")
    warnings.warn(f"{message}; left out of the analysis", MissingValuesWarning, stacklevel=4)
    return ~missing


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
