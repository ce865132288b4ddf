"""Fixed variance components of an rma.mv model: metafor's ``sigma2=``, ``tau2=``, ``rho=``,
``gamma2=`` and ``phi=``, checked in Python before R.

Each is a number (every component of that kind fixed to it, as metafor recycles one value) or a
sequence with one entry per component, None, NaN or pd.NA meaning "estimate it" (metafor's NA). They
cross into R as plain numeric vectors (NaN for an estimated component, made NA in R).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ketabridge.errors import InputError

NAMES = ("sigma2", "tau2", "rho", "gamma2", "phi")
VARIANCES = ("sigma2", "tau2", "gamma2")
# structs of an '~ inner | outer' term: how many tau2 and rho values they have, given n inner levels
_ONE_TAU2 = ("CS", "ID", "AR", "CAR")
_NO_CORRELATION = ("ID", "DIAG")  # metafor fixes rho to 0 itself


def fixed_components(
    given: Mapping[str, object],
    terms: Sequence[tuple[str, bool]],
    structs: tuple[str, ...] | None,
    columns: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """The given components as float vectors (NaN: estimated), after checking them against the
    model: ``terms`` are the random terms' texts with whether each is ``~ inner | outer``,
    ``columns`` the (complete-case) values of the columns they use."""
    counts = _component_counts(terms, structs, columns)
    fixed = {}
    for name in NAMES:
        value = given.get(name)
        if value is None:
            continue
        values = _values(name, value)
        if name not in counts:
            raise InputError(f"{name}= fixes {_WHAT[name]}, and random= has none")
        count, struct = counts[name]
        if count is not None and len(values) not in (1, count):
            raise InputError(
                f"{name}= has {len(values)} values but the model has {count} {_WHAT[name]}"
                f"{'' if count == 1 else ' (one value for all, or one per component, None to estimate)'}"
            )
        _check_range(name, values, struct)
        fixed[name] = values
    return fixed


_WHAT = {
    "sigma2": "variance components of '~ 1 | group' terms (sigma2)",
    "tau2": "variances of a first '~ inner | outer' term (tau2)",
    "rho": "correlations of a first '~ inner | outer' term (rho)",
    "gamma2": "variances of a second '~ inner | outer' term (gamma2)",
    "phi": "correlations of a second '~ inner | outer' term (phi)",
}


def _values(name: str, value: object) -> np.ndarray:
    items = list(value) if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str) else [value]
    if not items:
        raise InputError(f"{name}= is empty; give a number, or a list with None for the components to estimate")
    values = []
    for position, item in enumerate(items):
        if item is None or item is pd.NA:
            values.append(math.nan)
        elif isinstance(item, numbers.Real) and not isinstance(item, (bool, np.bool_)):
            number = float(item)
            if math.isinf(number):
                raise InputError(f"{name}= value {position} is infinite; give a finite number, or None to estimate")
            values.append(number)
        else:
            raise InputError(
                f"{name}= takes numbers, with None (or NaN) for a component to estimate; value {position} is {item!r}"
            )
    return np.array(values, dtype=np.float64)


def _check_range(name: str, values: np.ndarray, struct: str | None) -> None:
    given = values[~np.isnan(values)]
    if name in VARIANCES:
        if (given < 0).any():
            raise InputError(f"{name}= fixes variances: every value must be >= 0, not {given[given < 0][0]:g}")
        return
    if struct in _NO_CORRELATION and given.size:
        raise InputError(f"{name}= cannot be fixed with struct={struct!r}: that structure has no correlation")
    low = 0.0 if struct == "CAR" else -1.0
    outside = given[(given < low) | (given > 1)]
    if outside.size:
        raise InputError(f"{name}= fixes correlations: every value must be in [{low:g}, 1], not {outside[0]:g}")


def _component_counts(
    terms: Sequence[tuple[str, bool]], structs: tuple[str, ...] | None, columns: Mapping[str, np.ndarray]
) -> dict[str, tuple[int | None, str | None]]:
    """How many components of each kind the model has (None: known to R only), with the struct."""
    counts: dict[str, tuple[int | None, str | None]] = {}
    sigma2s = sum(len(_top_level_split(text.partition("|")[2], "/")) for text, inner in terms if not inner)
    if sigma2s:
        counts["sigma2"] = (sigma2s, None)
    inner_outer = [text for text, inner in terms if inner]
    names = (("tau2", "rho"), ("gamma2", "phi"))
    for index, text in enumerate(inner_outer):
        struct = (structs[index] if structs and len(structs) > index else (structs or ("CS",))[0]).upper()
        levels = _inner_levels(text, columns)
        variance, correlation = names[index]
        if struct in _ONE_TAU2:
            counts[variance] = (1, struct)
        else:
            counts[variance] = (levels, struct)
        if struct == "UN":
            counts[correlation] = (None if levels is None else max(levels * (levels - 1) // 2, 1), struct)
        else:
            counts[correlation] = (1, struct)
    return counts


_INNER = re.compile(r"^(?:(?:as\.)?factor\(\s*)?([A-Za-z.][A-Za-z0-9._]*)\s*\)?$")


def _inner_levels(text: str, columns: Mapping[str, np.ndarray]) -> int | None:
    """The number of distinct values of the inner variable, when it is a column (or factor() of
    one); otherwise None and metafor checks the length."""
    inner = text.partition("|")[0].replace("~", "").strip()
    match = _INNER.match(inner)
    if not match or match.group(1) not in columns or inner.count("(") != inner.count(")"):
        return None
    return len(set(np.asarray(columns[match.group(1)]).tolist()))


def _top_level_split(text: str, separator: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == separator and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]
