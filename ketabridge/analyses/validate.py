"""Check columns before anything crosses into R, naming the column and rows of each problem.

One set of checks for both roads: a single analysis (``rma``, ``escalc``) is one group of rows,
a batch is thousands of groups checked at once, vectorised over their rows. The same rows give
the same message on both roads: a single analysis raises it as an InputError, a batch writes it
on the analysis's error row.

Text where numbers belong: a typed column (DataFrame, Parquet, Feather, Arrow) must hold a
numeric type, so numbers stored as text are an error naming the rows. Cells without a type, a
CSV file's or those of a DataFrame column mixing numbers and text, are numbers when they parse
(as pyarrow's CSV reader reads them), missing when blank or a CSV null token, and text otherwise.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv

from ketabridge.errors import InputError, MissingValuesWarning
from ketabridge.options import (
    ESCALC_CORRELATIONS,
    ESCALC_MI_IS_COUNT,
    ESCALC_NONNEGATIVE,
    ESCALC_TI_IS_STATISTIC,
    NA_ACTIONS,
    check_choice,
)

_SHOWN_ROWS = 5
_SHOWN_VALUES = 3
MIN_STUDIES = 2

# Schema metadata io puts on a table read from CSV (all its text columns are cells) or on a
# field made from a DataFrame column mixing numbers and text (that column's text is cells).
TEXT_CELLS_KEY = b"ketabridge.text_cells"

# What a column's values must be, beyond numeric (finite for every rule but NUMBER).
NUMBER = "number"  # any number (rma's sample sizes)
FINITE = "finite"  # effect sizes, moderators, means
VARIANCES = "variances"  # > 0
STANDARD_ERRORS = "standard errors"  # > 0
# rma's yi/vi variances: >= 0, as metafor's rma.uni takes them (vi = 0 for every study reproduces
# ordinary least squares with the default REML; DL and equal-effects fits refuse zeros themselves).
MODEL_VARIANCES = "model variances"
NONNEGATIVE = "nonnegative"  # counts, sample sizes, standard deviations, weights
CORRELATION = "correlation"  # in [-1, 1]

# What pyarrow's cast from text to float64 accepts (tested against it), so a cell is a number
# exactly when the cast would read it; RE2's \d is ASCII only, as the cast is.
_NUMBER = r"(?i)^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|inf|infinity|nan)$"
# The cells pyarrow's CSV reader reads as missing by default (as io.read_table does).
_CSV_NULLS = pa.array(csv.ConvertOptions().null_values, pa.string())


def rows_text(rows: Sequence[int] | np.ndarray, verb: tuple[str, str] | None = None) -> str:
    """'rows 3, 8 and 2 more' for messages; rows are 0-based positions in the input table.

    verb is (singular, plural), e.g. ("is", "are"), appended in agreement with the count.
    """
    rows = [int(row) for row in rows]
    shown = ", ".join(str(row) for row in rows[:_SHOWN_ROWS])
    more = f" and {len(rows) - _SHOWN_ROWS} more" if len(rows) > _SHOWN_ROWS else ""
    text = f"{'row' if len(rows) == 1 else 'rows'} {shown}{more}"
    return text if verb is None else f"{text} {verb[len(rows) > 1]}"


def value_rule(role: str, measure: str | None = None) -> str:
    """The rule for a column playing `role`: rma's yi, vi, sei, weights, or one of escalc's
    arguments (whose rules depend on the measure: `mi` counts non-events only for proportions)."""
    if role == "vi":
        return MODEL_VARIANCES
    if role == "sei":
        return STANDARD_ERRORS
    if role == "ti" and measure in ESCALC_TI_IS_STATISTIC:
        return FINITE  # a t statistic, negative for a negative (semi-)partial correlation
    if role == "weights" or role in ESCALC_NONNEGATIVE or (role == "mi" and measure in ESCALC_MI_IS_COUNT):
        return NONNEGATIVE
    if role in ESCALC_CORRELATIONS:
        return CORRELATION
    return FINITE


# --- the messages: one wording for both roads ------------------------------------------------


def text_message(name: str, rows: np.ndarray, cells: Sequence[str]) -> str:
    examples = ", ".join(repr(cell) for cell in cells[:_SHOWN_VALUES])
    return f"column {name!r} must be numeric, but {rows_text(rows, ('holds', 'hold'))} text ({examples})"


def stored_message(name: str, rows: np.ndarray, cells: Sequence[str]) -> str:
    examples = ", ".join(repr(cell) for cell in cells[:_SHOWN_VALUES])
    return (
        f"column {name!r} holds numbers stored as text in {rows_text(rows)} ({examples}); convert it to a numeric type"
    )


def type_message(name: str, kind: pa.DataType) -> str:
    return f"column {name!r} must be numeric, not {kind}"


def infinite_message(name: str, rows: np.ndarray) -> str:
    return f"column {name!r} must be finite, but {rows_text(rows, ('is', 'are'))} infinite"


def positive_message(name: str, rows: np.ndarray, values: np.ndarray, what: str = VARIANCES) -> str:
    shown = ", ".join(f"{value:g}" for value in values[:_SHOWN_VALUES])
    return f"column {name!r} holds {what}, which must be > 0, but {rows_text(rows, ('is', 'are'))} not ({shown})"


def nonnegative_message(name: str, rows: np.ndarray, values: np.ndarray) -> str:
    shown = ", ".join(f"{value:g}" for value in values[:_SHOWN_VALUES])
    return f"column {name!r} holds variances, which must be >= 0, but {rows_text(rows, ('is', 'are'))} not ({shown})"


def range_message(name: str, rows: np.ndarray, low: float, high: float | None = None) -> str:
    bound = f">= {low:g}" if high is None else f"between {low:g} and {high:g}"
    return f"column {name!r} must be {bound}, but {rows_text(rows, ('is', 'are'))} not"


def too_few_studies_message(k: int) -> str:
    return f"a meta-analysis needs at least {MIN_STUDIES} studies with complete data; got {k}"


# --- groups of rows and their problems ---------------------------------------------------------


@dataclass(frozen=True)
class Groups:
    """Analyses as runs of rows: `sizes` rows each, in order; `rows` the 0-based input row of each."""

    sizes: np.ndarray
    rows: np.ndarray
    owner: np.ndarray = field(init=False, repr=False)  # the analysis of each row

    def __post_init__(self) -> None:
        object.__setattr__(self, "owner", np.repeat(np.arange(len(self.sizes)), self.sizes))

    @classmethod
    def single(cls, n_rows: int) -> Groups:
        """One analysis of every row of a table."""
        return cls(np.array([n_rows], dtype=np.int64), np.arange(n_rows, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.sizes)

    def flagged(self, flagged: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(analysis, positions of its flagged rows) for each analysis with a flagged row (a
        boolean mask over all rows): Python runs once per such analysis, never per row."""
        positions = np.flatnonzero(flagged)
        if not positions.size:
            return
        for part in np.split(positions, np.flatnonzero(np.diff(self.owner[positions])) + 1):
            yield int(self.owner[part[0]]), part


class Problems:
    """What stops each analysis, in the order found."""

    def __init__(self, groups: Groups):
        self.groups = groups
        self.found: dict[int, list[str]] = {}

    def flag(self, flagged: np.ndarray, message: Callable[[np.ndarray, np.ndarray], str]) -> None:
        """Add message(input rows, positions) for each analysis with flagged rows (a boolean mask
        over all rows)."""
        for analysis, part in self.groups.flagged(flagged):
            self.found.setdefault(analysis, []).append(message(self.groups.rows[part], part))

    def flag_analyses(self, flagged: np.ndarray, message: Callable[[int], str]) -> None:
        """Add message(analysis) for each flagged analysis (a boolean mask over the analyses)."""
        for analysis in np.flatnonzero(flagged):
            self.found.setdefault(int(analysis), []).append(message(int(analysis)))

    def failed(self) -> np.ndarray:
        """Boolean mask over the analyses: True where a problem stops it."""
        mask = np.zeros(len(self.groups), dtype=bool)
        mask[list(self.found)] = True
        return mask

    def message(self, analysis: int) -> str:
        return "; ".join(self.found.get(analysis, ()))

    def raise_first(self) -> None:
        """The single-analysis road: raise the (first) analysis's problems as one InputError."""
        if self.found:
            raise InputError(self.message(min(self.found)))


# --- reading numbers -----------------------------------------------------------------------


@dataclass(frozen=True)
class Numbers:
    values: np.ndarray  # float64; NaN where missing, text or of a non-numeric type
    text: np.ndarray  # rows holding text that is not a number
    stored: np.ndarray  # rows holding a number stored as text (typed text columns only)
    cells: pa.Array | None  # the column as text, for messages
    bad_type: pa.DataType | None  # a type that holds no numbers at all (e.g. bool)


def parse_numbers(column: pa.Array | pa.ChunkedArray, *, text_cells: bool = False) -> Numbers:
    """Read a column as float64, vectorised; nothing is raised here.

    text_cells: the column's text is untyped cells (a CSV's), so cells that parse are numbers,
    and blank cells or CSV null tokens are missing; otherwise text is text even when it parses.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    none = np.zeros(len(column), dtype=bool)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return Numbers(
            column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64), none, none, None, None
        )
    if pa.types.is_null(kind):
        return Numbers(np.full(len(column), np.nan), none, none, None, None)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return Numbers(np.full(len(column), np.nan), none, none, None, kind)
    trimmed = pc.utf8_trim_whitespace(column)
    present = column.is_valid().to_numpy(zero_copy_only=False)
    if text_cells:
        blank = pc.or_(pc.equal(trimmed, ""), pc.is_in(trimmed, value_set=_CSV_NULLS)).to_numpy(zero_copy_only=False)
        present &= ~np.asarray(blank, dtype=bool)
    number = present & pc.match_substring_regex(trimmed, _NUMBER).to_numpy(zero_copy_only=False).astype(bool)
    values = np.full(len(column), np.nan)
    if number.any():
        values[number], parsed = _cast_cells(trimmed.filter(pa.array(number)))
        number[number] = parsed
    text = present & ~number
    stored = none if text_cells else number
    return Numbers(values, text, stored, column, None)


def _cast_cells(cells: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, which cells the cast read); all at once unless one is refused."""
    try:
        return pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64), np.ones(len(cells), bool)
    except pa.ArrowInvalid:  # the pattern let through a cell the cast refuses: then one by one
        values, parsed = np.full(len(cells), np.nan), np.zeros(len(cells), dtype=bool)
        for i, cell in enumerate(cells.to_pylist()):
            try:
                values[i], parsed[i] = pc.cast(pa.array([cell]), pa.float64())[0].as_py(), True
            except pa.ArrowInvalid:
                pass
        return values, parsed


def text_cell_columns(schema: pa.Schema) -> frozenset[str]:
    """The columns whose text is untyped cells (see TEXT_CELLS_KEY), by name."""
    whole = bool(schema.metadata and schema.metadata.get(TEXT_CELLS_KEY))
    return frozenset(field.name for field in schema if whole or (field.metadata and field.metadata.get(TEXT_CELLS_KEY)))


# --- the checks ----------------------------------------------------------------------------


def check_columns(
    groups: Groups,
    columns: Iterable[tuple[str, pa.Array | pa.ChunkedArray, str]],
    *,
    text_cells: Collection[str] = frozenset(),
) -> tuple[dict[str, np.ndarray], Problems]:
    """Check (column name, values, rule) triples over every analysis at once; text_cells names
    the columns whose text is untyped cells (see parse_numbers).

    Returns each column's float64 values (NaN where missing or unusable) and the problems of
    each analysis: text, numbers stored as text, a non-numeric type, infinite values, and the
    rule's range. Rows with missing values are not problems here (see missing_rows).
    """
    problems = Problems(groups)
    values: dict[str, np.ndarray] = {}
    seen: set[tuple[str, str]] = set()
    for name, column, rule in columns:
        if (name, rule) not in seen:  # one column in two roles with one rule: checked once
            seen.add((name, rule))
            values[name] = _check_column(problems, name, parse_numbers(column, text_cells=name in text_cells), rule)
    return values, problems


def _check_column(problems: Problems, name: str, parsed: Numbers, rule: str) -> np.ndarray:
    groups = problems.groups

    def cells(part: np.ndarray) -> list:
        return parsed.cells.take(part[:_SHOWN_VALUES]).to_pylist()

    if parsed.bad_type is not None:
        problems.flag(np.ones(len(groups.rows), dtype=bool), lambda rows, part: type_message(name, parsed.bad_type))
    problems.flag(parsed.text, lambda rows, part: text_message(name, rows, cells(part)))
    if parsed.stored.any():  # only in analyses without plain text, whose message says enough
        texted = np.zeros(len(groups), dtype=bool)
        texted[groups.owner[parsed.text]] = True
        problems.flag(parsed.stored & ~texted[groups.owner], lambda rows, part: stored_message(name, rows, cells(part)))
    if rule != NUMBER:
        problems.flag(np.isinf(parsed.values), lambda rows, part: infinite_message(name, rows))
    _check_rule(problems, name, parsed.values, rule)
    return parsed.values


def _check_rule(problems: Problems, name: str, numbers: np.ndarray, rule: str) -> None:
    with np.errstate(invalid="ignore"):
        if rule == MODEL_VARIANCES:
            problems.flag(numbers < 0, lambda rows, part: nonnegative_message(name, rows, numbers[part]))
        elif rule in (VARIANCES, STANDARD_ERRORS):
            problems.flag(numbers <= 0, lambda rows, part: positive_message(name, rows, numbers[part], rule))
        elif rule == NONNEGATIVE:
            problems.flag(numbers < 0, lambda rows, part: range_message(name, rows, 0.0))
        elif rule == CORRELATION:
            problems.flag((numbers < -1) | (numbers > 1), lambda rows, part: range_message(name, rows, -1.0, 1.0))


def missing_rows(values: Iterable[np.ndarray], n_rows: int) -> np.ndarray:
    """Boolean mask of rows with a missing value in any of the columns."""
    missing = np.zeros(n_rows, dtype=bool)
    for numbers in values:
        missing |= is_missing(numbers)
    return missing


def is_missing(values: np.ndarray) -> np.ndarray:
    """NaN in numbers; NaN or None in a formula's category column (labels_with_missing)."""
    if values.dtype != object:
        return np.isnan(values)
    return np.array([value is None or value != value for value in values], dtype=bool)


def check_study_counts(problems: Problems, kept_sizes: np.ndarray) -> None:
    """Fewer than MIN_STUDIES complete rows stops an analysis (one not already stopped)."""
    problems.flag_analyses(
        (kept_sizes < MIN_STUDIES) & ~problems.failed(),
        lambda analysis: too_few_studies_message(int(kept_sizes[analysis])),
    )


# --- the single-analysis road: one group, problems raised ------------------------------------


def require_columns(table: pa.Table, names: Sequence[str]) -> None:
    missing = [name for name in dict.fromkeys(names) if name not in table.column_names]
    if missing:
        raise InputError(
            f"column {', '.join(repr(m) for m in missing)} not found; the data has: {', '.join(table.column_names)}"
        )


def checked_columns(table: pa.Table, columns: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
    """Each (column name, rule)'s values as float64, nulls as NaN; every problem of the
    table's rows raised as one InputError (messages joined by '; '), as a batch would write it."""
    require_columns(table, [name for name, _ in columns])
    groups = Groups.single(table.num_rows)
    values, problems = check_columns(
        groups, [(name, table.column(name), rule) for name, rule in columns], text_cells=text_cell_columns(table.schema)
    )
    problems.raise_first()
    return values


def numeric_column(table: pa.Table, name: str) -> np.ndarray:
    """The column as float64, nulls as NaN; text or other types raise InputError naming the rows."""
    return checked_columns(table, [(name, NUMBER)])[name]


def label_column(table: pa.Table, name: str) -> list[str]:
    """Study labels as strings, exactly as given; missing labels raise InputError."""
    require_columns(table, [name])
    labels = pc.cast(table.column(name), pa.string()).to_pylist()
    missing = [i for i, label in enumerate(labels) if label is None]
    if missing:
        raise InputError(f"column {name!r} has no label in {rows_text(missing)}")
    return labels


def is_label_column(table: pa.Table, name: str) -> bool:
    """A column a formula reads as categories (text, categorical or True/False), not as numbers.
    Untyped cells (a CSV's) are categories when any of them is text that is not a number."""
    require_columns(table, [name])
    kind = table.schema.field(name).type
    if pa.types.is_boolean(kind):
        return True
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind)):
        return False
    if name not in text_cell_columns(table.schema):
        return True
    return bool(parse_numbers(table.column(name), text_cells=True).text.any())


def labels_with_missing(table: pa.Table, name: str) -> np.ndarray:
    """A category column as an object array of str, missing ones as NaN, so that
    complete_rows treats them like missing numbers."""
    column = table.column(name)
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, pa.string())
    cells = column.to_pylist()
    if pa.types.is_boolean(column.type):  # as R spells a logical's levels (coefficient "xTRUE")
        cells = [None if cell is None else str(cell).upper() for cell in cells]
    values = np.array(cells, dtype=object)
    values[np.array([value is None for value in values], dtype=bool)] = np.nan
    return values


def check_finite(name: str, values: np.ndarray) -> None:
    bad = np.flatnonzero(np.isinf(values))
    if bad.size:
        raise InputError(infinite_message(name, bad))


def check_positive(name: str, values: np.ndarray, what: str = VARIANCES) -> None:
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        raise InputError(positive_message(name, bad, values[bad], what))


def check_range(name: str, values: np.ndarray, low: float, high: float | None = None) -> None:
    outside = values < low if high is None else (values < low) | (values > high)
    bad = np.flatnonzero(outside)
    if bad.size:
        raise InputError(range_message(name, bad, low, high))


def complete_rows(columns: dict[str, np.ndarray], na_action: str) -> np.ndarray:
    """Boolean mask of rows with no missing value; warns (omit) or raises (fail) on the others."""
    check_choice(na_action, NA_ACTIONS, "na_action")
    n_rows = len(next(iter(columns.values())))
    missing = missing_rows(columns.values(), n_rows)
    if not missing.any():
        return ~missing
    where = [name for name, values in columns.items() if is_missing(values).any()]
    rows = np.flatnonzero(missing)
    message = f"{len(rows)} of {n_rows} rows have missing values in {', '.join(where)} ({rows_text(rows)})"
    if na_action == "fail":
        raise InputError(f"{message}; pass na_action='omit' to leave them out")
    warnings.warn(f"{message}; left out of the analysis", MissingValuesWarning, stacklevel=4)
    return ~missing


def check_study_count(k: int) -> None:
    """The single-analysis road's count check (check_study_counts for a batch)."""
    if k < MIN_STUDIES:
        raise InputError(too_few_studies_message(k))
