"""New moderator values for ``predict(result, newmods=...)``, checked before R.

A formula model takes a table of its moderator columns, from which R builds the model matrix
with the fitted formula's own terms (``r/helpers_newmods.R``); any model takes an array of
model-matrix columns, one per coefficient after the intercept, as metafor's ``newmods``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ketabridge.analyses import validate
from ketabridge.analyses.fitted import term_names
from ketabridge.analyses.formulas import parse_formula
from ketabridge.analyses.results import MetaResult
from ketabridge.errors import InputError
from ketabridge.io import to_arrow


def new_moderators(result: MetaResult, newmods) -> tuple[dict, pd.Index | None]:
    """The ``newmods`` list kb_predict takes, and the row labels of the prediction table (the
    frame's index when a frame was given)."""
    terms = term_names(result)
    intercept = terms[0] == "intrcpt"
    columns = terms[1:] if intercept else terms
    if not columns:
        raise InputError("newmods needs a model with moderators; this one has only an intercept")
    if isinstance(newmods, pd.DataFrame):
        return _from_frame(result, newmods), newmods.index
    return {"kind": "matrix", "columns": _from_array(newmods, columns, intercept)}, None


def _fitted_moderators(spec) -> dict[str, np.ndarray]:
    """The moderator columns the model was fitted with (an rma_mv formula's are among the
    columns its formulas use, with the random terms' own)."""
    if spec.formula is not None and hasattr(spec, "random"):
        names = parse_formula(spec.formula, list(spec.columns)).columns
        return {name: spec.columns[name] for name in names}
    return dict(spec.mods)


def _from_frame(result: MetaResult, frame: pd.DataFrame) -> dict:
    spec = result.spec
    fitted_columns = _fitted_moderators(spec)
    needed = list(fitted_columns)
    missing = [name for name in needed if name not in frame.columns]
    extra = [str(name) for name in frame.columns if name not in needed]
    if missing or extra:
        parts = [
            f"lacks {', '.join(map(repr, missing))}" if missing else "",
            f"has {', '.join(map(repr, extra))}, which the model does not use" if extra else "",
        ]
        raise InputError(
            f"newmods must have the model's moderator columns ({', '.join(needed)}); it {' and '.join(p for p in parts if p)}"
        )
    if frame.empty:
        raise InputError("newmods has no rows")
    table = to_arrow(frame.reset_index(drop=True)[needed])
    values: dict[str, np.ndarray] = {}
    for name in needed:
        fitted = fitted_columns[name]
        if fitted.dtype == object:  # a category column of the fitted model
            new = validate.labels_with_missing(table, name)
            bad = np.flatnonzero([not isinstance(value, str) or value not in set(fitted) for value in new])
            if bad.size:
                raise InputError(
                    f"newmods column {name!r} has values the model was not fitted with at {validate.rows_text(bad)} "
                    f"(missing, or not one of its levels: {', '.join(sorted(set(map(str, fitted))))})"
                )
            values[name] = new.astype(str)
        else:
            values[name] = validate.checked_columns(table, [(name, validate.FINITE)])[name]
            missing_rows = np.flatnonzero(np.isnan(values[name]))
            if missing_rows.size:
                raise InputError(f"newmods column {name!r} has missing values {validate.rows_text(missing_rows)}")
    if spec.formula is None:  # a model of moderator columns: the frame's columns are its matrix
        return {"kind": "matrix", "columns": _numbered([values[name] for name in needed])}
    return {"kind": "data", "columns": values}


def _from_array(newmods, columns: list[str], intercept: bool) -> dict[str, np.ndarray]:
    try:
        matrix = np.array(newmods, dtype=float)
    except (TypeError, ValueError):
        raise InputError(
            "newmods must be a DataFrame of the moderator columns, or numbers (an array with one column per "
            f"coefficient: {', '.join(columns)})"
        ) from None
    width = len(columns)
    if matrix.ndim == 0:
        matrix = matrix.reshape(1, 1)
    if matrix.ndim == 1:  # as metafor: values of the one moderator, or one row of several
        matrix = matrix.reshape(-1, 1) if width == 1 else matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise InputError(f"newmods must be a 1- or 2-dimensional array with rows, not of shape {matrix.shape}")
    if intercept and matrix.shape[1] == width + 1:
        if not np.all(matrix[:, 0] == 1):
            raise InputError("newmods has a column for the intercept, whose values must all be 1")
        matrix = matrix[:, 1:]  # newer metafor releases accept the intercept column; 3.8-1 does not
    if matrix.shape[1] != width:
        raise InputError(
            f"newmods has {matrix.shape[1]} columns but the model has {width} moderator coefficients "
            f"({', '.join(columns)}), in that order"
        )
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if bad.size:
        raise InputError(f"newmods has missing or infinite values {validate.rows_text(bad)}")
    return _numbered([np.ascontiguousarray(matrix[:, column]) for column in range(width)])


def _numbered(columns: list[np.ndarray]) -> dict[str, np.ndarray]:
    # R gets a named list (the bridge passes mappings, not lists of vectors); the names are
    # dropped there, since the columns go by position
    return {f"x{position}": column for position, column in enumerate(columns, start=1)}
