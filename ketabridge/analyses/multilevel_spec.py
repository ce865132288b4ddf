"""The validated inputs of one rma.mv model: what crosses into R, as plain vectors and scalars.

``V`` is a column of sampling variances or a k x k variance-covariance matrix (numpy, pandas, or
:func:`ketabridge.vcalc`'s DataFrame); ``random`` holds metafor's random-effects formulas, each
checked by ``analyses/formulas.py`` (data columns and allow-listed functions only) and again in R.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from ketabridge.analyses import validate
from ketabridge.analyses.fixed_components import fixed_components
from ketabridge.analyses.formulas import is_formula, parse_formula
from ketabridge.analyses.spec import percent_level, row_labels
from ketabridge.errors import InputError
from ketabridge.options import MV_CONTROL_KEYS, MV_DFS, MV_METHODS, MV_OPTIMIZERS, MV_TESTS, STRUCTS, check_choice

# Matrices whose asymmetry or negative eigenvalues are below this (relative to their largest
# entry) are round-off, not a user's mistake (vcalc's own matrices are symmetric to ~1e-16).
MATRIX_TOLERANCE = 1e-8


@dataclass(frozen=True, eq=False)
class MultilevelSpec:
    yi: np.ndarray
    V: np.ndarray  # k variances, or a k x k matrix
    random: tuple[str, ...]
    columns: dict[str, np.ndarray]  # the columns the formulas use (labels as object arrays)
    slab: tuple[str, ...] | None = None
    mods: dict[str, np.ndarray] = field(default_factory=dict)
    formula: str | None = None
    struct: tuple[str, ...] | None = None
    method: str = "REML"
    test: str = "z"
    dfs: str | float | None = None
    level: float = 95.0
    sparse: bool = False
    control: dict[str, object] = field(default_factory=dict)
    measure: str = "GEN"
    ni: np.ndarray | None = None  # no sample sizes: plots keep the model scale
    # fixed variance components by metafor's argument name (sigma2, tau2, rho, gamma2, phi): NaN estimates
    fixed: dict[str, np.ndarray] = field(default_factory=dict)
    source_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def k(self) -> int:
        return len(self.yi)

    def to_r(self) -> dict:
        """The `model` list of kb_rma_mv and its helpers (helpers_mv.R)."""
        matrix = self.V.ndim == 2
        model = {
            "yi": self.yi,
            "V": self.V.ravel(order="F") if matrix else self.V,
            "V_dim": len(self.yi) if matrix else None,
            "slab": list(self.slab) if self.slab is not None else None,
            "mods": dict(self.mods) or None,
            "formula": self.formula,
            "random": list(self.random),
            "columns": {name: _r_values(values) for name, values in self.columns.items()},
            "struct": list(self.struct) if self.struct else None,
            "method": self.method,
            "test": self.test,
            "dfs": self.dfs,
            "level": self.level,
            "sparse": self.sparse,
            "control": self.control or None,
            "measure": self.measure,
            **self.fixed,
        }
        return {name: value for name, value in model.items() if value is not None}


def _r_values(values: np.ndarray) -> np.ndarray:
    return np.array([str(value) for value in values], dtype=object) if values.dtype == object else values


def multilevel_spec(
    table: pa.Table,
    *,
    yi: str,
    V: str | np.ndarray | pd.DataFrame,
    random: str | Sequence[str],
    struct: str | Sequence[str] | None,
    mods: Sequence[str] | str | None,
    method: str,
    test: str,
    dfs: str | float | None,
    level: float,
    slab: str | None,
    sparse: bool,
    control: Mapping[str, object] | None,
    measure: str | None = None,
    fixed: Mapping[str, object] | None = None,
) -> MultilevelSpec:
    """Validate an rma_mv call; raise InputError naming the column, rows or term, before R."""
    check_choice(method, MV_METHODS, "method")
    check_choice(test, MV_TESTS, "test")
    structs = _structs(struct)
    terms = _random_terms(random, table.column_names)
    if structs and not any(term.inner_outer for term in terms):
        raise InputError("struct= applies to a random term of the form '~ inner | outer', and random= has none")
    if dfs is not None and not (isinstance(dfs, str) and dfs in MV_DFS) and not _positive_number(dfs):
        raise InputError(f"dfs must be one of {', '.join(MV_DFS)} or a positive number, not {dfs!r}")

    formula = parse_formula(mods, table.column_names) if is_formula(mods) else None
    if formula is not None and not formula.columns:
        if formula.text.replace(" ", "") not in ("~1", "~0+1"):
            raise InputError(
                f"mods formula {formula.text!r} names no column; '~ 1' (or no mods) fits the intercept only"
            )
        formula, mods = None, None
    mod_columns = list(formula.columns if formula else ([mods] if isinstance(mods, str) else list(mods or ())))

    random_columns = list(dict.fromkeys(name for term in terms for name in term.formula.columns))
    formula_columns = list(dict.fromkeys([*random_columns, *(formula.columns if formula else ())]))
    grouping = _grouping_values(table, random_columns)  # missing values here are an error, rows named

    matrix = _matrix(V, table.num_rows) if not isinstance(V, str) else None
    numeric = [(yi, validate.value_rule("yi"))]
    if matrix is None:
        numeric.append((V, validate.VARIANCES))
    labelled = [
        name for name in formula_columns if name not in random_columns and validate.is_label_column(table, name)
    ]
    numeric += [(name, validate.FINITE) for name in mod_columns if name not in labelled and name not in random_columns]
    checked = validate.checked_columns(table, numeric)
    checked.update({name: validate.labels_with_missing(table, name) for name in labelled})
    checked.update(grouping)
    used = [yi, *([V] if matrix is None else []), *mod_columns]
    keep = validate.complete_rows({name: checked[name] for name in dict.fromkeys(used)}, "omit")
    validate.check_study_count(int(keep.sum()))

    variances = matrix[np.ix_(keep, keep)] if matrix is not None else checked[V][keep]
    source_rows = np.flatnonzero(keep)
    kept_columns = {name: _frozen(checked[name][keep]) for name in formula_columns}
    components = fixed_components(
        fixed or {}, [(term.formula.text, term.inner_outer) for term in terms], structs, kept_columns
    )
    labels = None
    if slab is not None:
        labels = tuple(label for label, kept in zip(validate.label_column(table, slab), keep) if kept)
    elif not keep.all():
        labels = row_labels(source_rows)
    return MultilevelSpec(
        yi=_frozen(checked[yi][keep]),
        V=_frozen(variances),
        random=tuple(term.formula.text for term in terms),
        columns=kept_columns,
        slab=labels,
        mods={} if formula else {name: _frozen(checked[name][keep]) for name in mod_columns},
        formula=formula.text if formula else None,
        struct=structs,
        method=method,
        test=test,
        dfs=dfs,
        level=percent_level(level),
        sparse=bool(sparse),
        control=_control(control),
        measure=measure or "GEN",
        source_rows=_frozen(source_rows),
        fixed={name: _frozen(values) for name, values in components.items()},
    )


def random_effects(
    random: str | Sequence[str], struct: str | Sequence[str] | None, columns
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...] | None]:
    """The checked random terms (their text), the columns they use, and the checked structs: the
    rules of rma_mv, for callers that fit many models with the same terms (the batch engine).
    ``columns`` is anything that answers ``name in columns``."""
    structs = _structs(struct)
    terms = _random_terms(random, columns)
    if structs and not any(term.inner_outer for term in terms):
        raise InputError("struct= applies to a random term of the form '~ inner | outer', and random= has none")
    used = tuple(dict.fromkeys(name for term in terms for name in term.formula.columns))
    return tuple(term.formula.text for term in terms), used, structs


@dataclass(frozen=True)
class _Term:
    formula: object  # formulas.Formula
    inner_outer: bool  # "~ inner | outer" (struct applies), not "~ 1 | group"


def _random_terms(random: str | Sequence[str], columns: list[str]) -> list[_Term]:
    texts = [random] if isinstance(random, str) else list(random or ())
    if not texts:
        raise InputError("rma_mv needs random= (e.g. '~ 1 | study/es_id'); use rma() for a model without one")
    terms = []
    for text in texts:
        if not is_formula(text):
            raise InputError(f"each random term is a formula such as '~ 1 | study', not {text!r}")
        formula = parse_formula(text, columns, what="random", bars=True)
        left, bar, right = formula.text.partition("|")
        if not bar or "|" in right:
            raise InputError(f"random term {text!r} needs exactly one '|' (e.g. '~ 1 | study/es_id')")
        if not re.search(r"[A-Za-z.]", right):
            raise InputError(f"random term {text!r} names no grouping column after '|'")
        terms.append(_Term(formula, left.replace("~", "").strip() != "1"))
    if sum(term.inner_outer for term in terms) > 2:
        raise InputError("rma.mv takes at most two random terms of the form '~ inner | outer'")
    return terms


def _structs(struct: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if struct is None:
        return None
    names = [struct] if isinstance(struct, str) else list(struct)
    if not 1 <= len(names) <= 2:
        raise InputError(f"struct takes one name, or two (one per '~ inner | outer' term), not {len(names)}")
    return tuple(check_choice(name, STRUCTS, "struct") for name in names)


def _grouping_values(table: pa.Table, names: list[str]) -> dict[str, np.ndarray]:
    """The random terms' columns (labels or numbers): a missing value is an InputError naming the rows
    (metafor would drop the row silently from one level and keep it in another)."""
    values = {}
    for name in names:
        validate.require_columns(table, [name])
        column = validate.labels_with_missing(table, name) if validate.is_label_column(table, name) else None
        if column is None:
            column = validate.numeric_column(table, name)
        missing = np.flatnonzero(validate.is_missing(column))
        if missing.size:
            raise InputError(
                f"random-effects column {name!r} has missing values in {validate.rows_text(missing)}; "
                "every estimate needs its cluster"
            )
        values[name] = column
    return values


def _matrix(V: object, n_rows: int) -> np.ndarray:
    """A k x k variance-covariance matrix: square, of the data's size, finite, symmetric and
    positive semi-definite, with positive variances (checked here, not by rma.mv)."""
    if isinstance(V, pd.DataFrame):
        V = V.to_numpy()
    try:
        matrix = np.asarray(V, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"V must be a column name or a numeric k x k matrix, not {type(V).__name__}") from None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise InputError(f"V must be a square k x k matrix; it has shape {matrix.shape}")
    if matrix.shape[0] != n_rows:
        raise InputError(f"V is {matrix.shape[0]} x {matrix.shape[1]} but the data has {n_rows} rows")
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if bad.size:
        raise InputError(f"V has missing or infinite values in {validate.rows_text(bad)}")
    scale = max(float(np.abs(matrix).max()), np.finfo(float).tiny)
    asymmetric = np.flatnonzero((np.abs(matrix - matrix.T) > MATRIX_TOLERANCE * scale).any(axis=1))
    if asymmetric.size:
        raise InputError(f"V is not symmetric: see {validate.rows_text(asymmetric)}")
    diagonal = np.diag(matrix)
    if (diagonal <= 0).any():
        raise InputError(
            f"V has sampling variances <= 0 on its diagonal in {validate.rows_text(np.flatnonzero(diagonal <= 0))}"
        )
    smallest = float(np.linalg.eigvalsh(matrix).min())
    if smallest < -MATRIX_TOLERANCE * scale:
        raise InputError(
            f"V is not positive semi-definite (smallest eigenvalue {smallest:.3g}); check the assumed "
            "correlations (vcalc(nearpd=True) finds the nearest positive definite matrix)"
        )
    return matrix


def _control(control: Mapping[str, object] | None) -> dict[str, object]:
    control = dict(control or {})
    for key, value in control.items():
        if key not in MV_CONTROL_KEYS:
            raise InputError(f"unknown rma.mv control setting {key!r}; choose from: {', '.join(MV_CONTROL_KEYS)}")
        if key == "optimizer":
            check_choice(value, MV_OPTIMIZERS, "optimizer")
        elif key == "optmethod":
            if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z-]+", value):
                raise InputError(f"control setting 'optmethod' must be a method name such as 'BFGS', not {value!r}")
        elif not isinstance(value, numbers.Real):
            raise InputError(f"control setting {key!r} must be a number or True/False, not {value!r}")
    return control


def _positive_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value > 0


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array)
    array.flags.writeable = False
    return array
