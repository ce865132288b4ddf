"""The validated inputs of one rma.uni model: what crosses into R, as plain vectors and scalars."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ketabridge.analyses import validate
from ketabridge.analyses.formulas import is_formula, parse_formula
from ketabridge.errors import InputError
from ketabridge.options import (
    CONTROL_KEYS,
    MEASURES,
    METHODS,
    METHODS_NEEDING_WEIGHTS,
    TESTS,
    check_choice,
    check_release,
)


@dataclass(frozen=True, eq=False)
class ModelSpec:
    yi: np.ndarray
    vi: np.ndarray | None
    sei: np.ndarray | None
    weights: np.ndarray | None
    ni: np.ndarray | None
    slab: tuple[str, ...] | None
    mods: dict[str, np.ndarray] = field(default_factory=dict)  # a formula's columns may be labels
    formula: str | None = None  # mods as a checked formula (analyses/formulas.py); None: mods is a matrix
    measure: str = "GEN"
    method: str = "REML"
    test: str = "z"
    level: float = 95.0
    weighted: bool = True
    control: dict[str, float] = field(default_factory=dict)
    source_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # input rows used
    # a location-scale model's scale formula (checked, analyses/formulas.py) and its columns
    scale: str | None = None
    scale_data: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.yi)

    def to_r(self) -> dict:
        """The `model` list every kb_* entry point takes (absent parts left out)."""
        model = {
            "yi": self.yi,
            "vi": self.vi,
            "sei": self.sei,
            "weights": self.weights,
            "ni": self.ni,
            "slab": list(self.slab) if self.slab is not None else None,
            "mods": self.mods or None,
            "formula": self.formula,
            "measure": self.measure,
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "weighted": self.weighted,
            "control": self.control or None,
            "scale": self.scale,
            "scale_data": self.scale_data or None,
        }
        return {name: value for name, value in model.items() if value is not None}


def model_spec(
    table: pa.Table,
    *,
    yi: str,
    vi: str | None,
    sei: str | None,
    weights: str | None,
    ni: str | None,
    slab: str | None,
    mods: Sequence[str] | str | None,
    measure: str | None,
    method: str,
    test: str,
    level: float,
    weighted: bool,
    control: Mapping[str, float] | None,
    na_action: str,
    scale: str | None = None,
) -> ModelSpec:
    """Validate the columns and options of an rma call; raise InputError naming column and rows."""
    check_release(check_choice(method, METHODS, "method"), "method")
    check_release(check_choice(test, TESTS, "test"), "test")
    if measure is not None:
        check_release(check_choice(measure, MEASURES + ("GEN",), "measure"), "measure")
    if method in METHODS_NEEDING_WEIGHTS and weights is None:
        raise InputError(f"method {method!r} needs study weights: pass weights='<column>'")
    formula = parse_formula(mods, table.column_names) if is_formula(mods) else None
    if formula is not None and not formula.columns:
        if formula.text.replace(" ", "") != "~1":
            raise InputError(
                f"mods formula {formula.text!r} names no column; '~ 1' (or no mods) fits the intercept only"
            )
        formula, mods = None, None  # "~ 1": the intercept-only model, as without mods
    if isinstance(mods, str) and formula is None:
        mods = [mods]
    scale_formula = _scale_formula(scale, table.column_names)
    scale_columns = list(scale_formula.columns) if scale_formula else []

    variance_role, variance_column = ("sei", sei) if sei else ("vi", vi)
    if variance_column is None:
        raise InputError("give the sampling variances (vi=) or standard errors (sei=)")
    # role in the model -> column in the data; the moderators apart, so no name can clash
    columns = {"yi": yi, variance_role: variance_column}
    if weights:
        columns["weights"] = weights
    mods = list(formula.columns if formula else mods or ())
    labelled = [
        name
        for name in dict.fromkeys([*mods, *scale_columns])
        # a formula's columns may be labels (categories); a moderator matrix's may not
        if (formula is not None or name not in mods) and validate.is_label_column(table, name)
    ]
    checked = validate.checked_columns(
        table,
        [(column, validate.value_rule(role)) for role, column in columns.items()]
        + [(name, validate.FINITE) for name in dict.fromkeys([*mods, *scale_columns]) if name not in labelled],
    )
    checked.update({name: validate.labels_with_missing(table, name) for name in labelled})
    keep = validate.complete_rows(
        {column: checked[column] for column in [*columns.values(), *mods, *scale_columns]}, na_action
    )
    validate.check_study_count(int(keep.sum()))
    values = {role: checked[column][keep] for role, column in columns.items()}

    sizes = None
    if ni is not None or "ni" in table.column_names:
        sizes = validate.numeric_column(table, ni or "ni")[keep]
        if ni is None and np.isnan(sizes).all():
            sizes = None  # escalc's ni column for a measure without sample sizes
    source_rows = np.flatnonzero(keep)
    labels = None
    if slab is not None:
        labels = tuple(label for label, kept in zip(validate.label_column(table, slab), keep) if kept)
    elif not keep.all():
        labels = row_labels(source_rows)  # as metafor: the rows left keep their numbers

    return ModelSpec(
        yi=_frozen(values["yi"]),
        vi=_frozen(values.get("vi")),
        sei=_frozen(values.get("sei")),
        weights=_frozen(values.get("weights")),
        ni=_frozen(sizes),
        slab=labels,
        mods={name: _frozen(checked[name][keep]) for name in mods},
        formula=formula.text if formula else None,
        measure=measure or "GEN",
        method=method,
        test=test,
        level=percent_level(level),
        weighted=bool(weighted),
        control=checked_control(control),
        source_rows=_frozen(source_rows),
        scale=scale_formula.text if scale_formula else None,
        scale_data={name: _frozen(checked[name][keep]) for name in scale_columns},
    )


def _scale_formula(scale: str | None, columns: list[str]):
    """The checked scale formula of a location-scale model (None: an ordinary model)."""
    if scale is None:
        return None
    if not is_formula(scale):
        raise InputError(f"scale must be a one-sided formula such as '~ x' (or '~ 1'), not {scale!r}")
    return parse_formula(scale, columns, what="scale")


def row_labels(rows: np.ndarray) -> tuple[str, ...]:
    """metafor's study labels when slab is not given: the 1-based row numbers of the data, which
    studies left out (missing values, subset=) take with them: "3".."7" when rows 1-2 are out."""
    return tuple(str(int(row) + 1) for row in rows)


def percent_level(level: float) -> float:
    """Confidence level in percent; like metafor, a value below 1 is read as a proportion."""
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 100:
        raise InputError(f"level must be a number between 0 and 100 (e.g. 95), not {level!r}")
    return float(level) * 100 if level < 1 else float(level)


def checked_control(control: Mapping[str, float] | None) -> dict[str, float]:
    control = dict(control or {})
    for key, value in control.items():
        if key not in CONTROL_KEYS:
            raise InputError(f"unknown control setting {key!r}; choose from: {', '.join(CONTROL_KEYS)}")
        if not isinstance(value, numbers.Real):
            raise InputError(f"control setting {key!r} must be a number or True/False, not {value!r}")
    return control


def _frozen(array: np.ndarray | None) -> np.ndarray | None:
    if array is None:
        return None
    array = np.array(array)
    array.flags.writeable = False
    return array
