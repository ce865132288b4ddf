"""Count data for rma_mh, rma_peto and rma_glmm: the column sets metafor takes, checked before R,
and the studies with zero cells named (never dropped without a word).

Three layouts, as metafor's: a 2x2 table per study (``ai, bi, ci, di``, or ``ai, ci, n1i, n2i``),
events and person-time in two groups (``x1i, x2i, t1i, t2i``), and one group's events (``xi``
with ``ni`` or ``mi``; ``xi`` with person-time ``ti``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ketabridge.analyses import validate
from ketabridge.analyses.spec import row_labels
from ketabridge.errors import InputError, MetaforWarning

# The column sets each layout accepts, in metafor's argument names.
LAYOUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "table": (("ai", "bi", "ci", "di"), ("ai", "ci", "n1i", "n2i")),
    "person_time": (("x1i", "x2i", "t1i", "t2i"),),
    "proportion": (("xi", "ni"), ("xi", "mi")),
    "rate": (("xi", "ti"),),
}
LAYOUT_OF_MEASURE = {
    **dict.fromkeys(("OR", "RR", "RD"), "table"),
    **dict.fromkeys(("IRR", "IRD"), "person_time"),
    **dict.fromkeys(("PLO", "PR", "PLN"), "proportion"),
    "IRLN": "rate",
}
COUNT_ARGUMENTS = tuple(dict.fromkeys(name for sets in LAYOUTS.values() for names in sets for name in names))


class ZeroCellWarning(MetaforWarning):
    """Studies have zero cells (no events, or only events, in a group): names them and says what
    metafor did with them."""


@dataclass(frozen=True)
class Counts:
    """Checked count columns of one analysis: metafor's argument -> float64 values of the rows kept."""

    layout: str
    values: dict[str, np.ndarray]
    rows: np.ndarray  # 0-based input rows kept
    labels: tuple[str, ...]  # study labels of those rows (slab, else metafor's 1-based row numbers)
    columns: dict[str, str]  # metafor's argument -> the user's column

    def events(self) -> tuple[np.ndarray, np.ndarray]:
        """(events, non-events) of group 1 and group 2 stacked as (2, k) arrays; person-time
        layouts give non-events NaN (they have none)."""
        v = self.values
        if self.layout == "table":
            b = v["bi"] if "bi" in v else v["n1i"] - v["ai"]
            d = v["di"] if "di" in v else v["n2i"] - v["ci"]
            return np.vstack([v["ai"], v["ci"]]), np.vstack([b, d])
        if self.layout == "person_time":
            return np.vstack([v["x1i"], v["x2i"]]), np.full((2, len(self.rows)), np.nan)
        other = v["mi"] if "mi" in v else v["ni"] - v["xi"] if "ni" in v else np.full(len(self.rows), np.nan)
        return v["xi"][None, :], other[None, :]

    def zero_cells(self) -> np.ndarray:
        """Per study: "none", "single" (a zero cell in one group) or "double" (no events, or only
        events, in every group: metafor's double-zero studies, which drop00 drops)."""
        events, others = self.events()
        with np.errstate(invalid="ignore"):
            zero = (events == 0) | (others == 0)
            # one group (proportions, rates): a zero is a zero cell, never a double-zero study
            double = ((events == 0).all(axis=0) | (others == 0).all(axis=0)) & (len(events) > 1)
        kind = np.where(zero.any(axis=0), "single", "none").astype(object)
        kind[double] = "double"
        return kind


def checked_counts(
    table: pa.Table, layout_choices: tuple[str, ...], given: Mapping[str, str | None], slab: str | None, na_action: str
) -> Counts:
    """The count columns named in ``given`` (metafor's argument -> column, None for not given),
    checked: one complete column set of a layout in ``layout_choices``, numeric, finite, >= 0,
    events at most the group sizes; rows with a missing count left out (or refused)."""
    named = {argument: column for argument, column in given.items() if column is not None}
    for argument, column in named.items():
        if not isinstance(column, str):
            raise InputError(f"count columns are named by strings: {argument}={column!r}")
    layout, chosen = _layout(layout_choices, named)
    columns = {argument: named[argument] for argument in chosen}
    checked = validate.checked_columns(table, [(column, validate.NONNEGATIVE) for column in columns.values()])
    values = {argument: checked[column] for argument, column in columns.items()}
    keep = validate.complete_rows({columns[argument]: array for argument, array in values.items()}, na_action)
    rows = np.flatnonzero(keep)
    values = {argument: array[keep] for argument, array in values.items()}
    _check_totals(values, columns, rows)
    validate.check_study_count(len(rows))
    if slab is not None:
        labels = tuple(label for label, kept in zip(validate.label_column(table, slab), keep) if kept)
    else:
        labels = row_labels(rows)
    return Counts(layout, values, rows, labels, columns)


def _layout(layout_choices: tuple[str, ...], named: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    unknown = sorted(set(named) - set(COUNT_ARGUMENTS))
    if unknown:
        raise InputError(f"unknown count argument {', '.join(unknown)}")
    for layout in layout_choices:
        for names in LAYOUTS[layout]:
            if set(names) == set(named):
                return layout, names
    wanted = " | ".join(", ".join(names) for layout in layout_choices for names in LAYOUTS[layout])
    given = ", ".join(named) or "none"
    raise InputError(f"give the count columns as one of: {wanted} (got: {given})")


def _check_totals(values: dict[str, np.ndarray], columns: dict[str, str], rows: np.ndarray) -> None:
    """Events cannot exceed their group's size."""
    for events, total in (("ai", "n1i"), ("ci", "n2i"), ("xi", "ni")):
        if events in values and total in values:
            bad = values[events] > values[total]
            if bad.any():
                raise InputError(
                    f"column {columns[events]!r} is larger than {columns[total]!r} in {validate.rows_text(rows[bad])}"
                )


def check_estimable(counts: Counts, measure: str, method_name: str) -> None:
    """Refuse, naming the columns, the data where the pooled estimate does not exist: no event at
    all, or (for the ratio measures) one group without events in every study, where metafor's
    Mantel-Haenszel returns NA (a ratio of 0 or infinity)."""
    events, others = counts.events()
    event_columns = [counts.columns[name] for name in ("ai", "ci", "x1i", "x2i", "xi") if name in counts.columns]
    if not events.any():
        raise InputError(
            f"no study has an event (columns {', '.join(repr(c) for c in event_columns)} are 0 in every row): "
            f"{method_name} has nothing to pool"
        )
    if counts.layout == "table" and not (others > 0).any():
        raise InputError(f"every participant had the event in every study: {method_name} has nothing to pool")
    if method_name == "Mantel-Haenszel" and measure in ("OR", "RR", "IRR"):
        for group, column in enumerate(event_columns):
            if not events[group].any():
                raise InputError(
                    f"column {column!r} is 0 in every row ({validate.rows_text(counts.rows)}): the Mantel-Haenszel "
                    f"{measure} is 0 or infinite, so metafor returns no estimate; use measure='RD' (risk difference)"
                    + (", rma_peto" if measure == "OR" else "")
                    + " or rma_glmm, or report the zero events without pooling"
                )


def warn_zero_cells(counts: Counts, what_metafor_did: str) -> None:
    """A ZeroCellWarning naming the double-zero studies (labels and 0-based rows) and what metafor
    did with them; studies with a zero cell in one group only stay in every fit, unnamed here
    (``augment()``'s ``zero_cells`` column lists them)."""
    chosen = np.flatnonzero(counts.zero_cells() == "double")
    if not chosen.size:
        return
    labels = ", ".join(repr(counts.labels[i]) for i in chosen[:5]) + (" ..." if chosen.size > 5 else "")
    warnings.warn(
        ZeroCellWarning(
            f"{chosen.size} stud{'y has' if chosen.size == 1 else 'ies have'} no events (or only events) in both "
            f"groups ({labels}; {validate.rows_text(counts.rows[chosen])}): {what_metafor_did}"
        ),
        stacklevel=3,
    )
