"""The tolerance of one quantity under one estimator: a value agrees when
|engine - metafor| <= atol + rtol * |metafor|.

Quantities are named as the batch's glance columns: an extra's quantities carry its prefix
(regtest_statistic, trimfill_k0), and every rule here is keyed by the name without it, so Egger's
statistic follows the same rules as the model's statistic.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

import numpy as np

from ketabridge.errors import InputError
from ketabridge.options import EQUAL_EFFECTS_METHODS

# the batch's extras: their glance columns are the extra's name, "_", its own column
EXTRA_PREFIXES = ("trimfill_", "regtest_", "ranktest_")

# metafor 3.8-1 estimators with a closed form given yi and vi; the others iterate to a tolerance.
CLOSED_FORM_METHODS = (*EQUAL_EFFECTS_METHODS, "DL", "HE", "HS", "HSk", "SJ")
COUNTS = ("k0",)  # trim-and-fill's number of filled studies
P_VALUES = ("p_value",)  # the tail areas held to the p_values class under a closed form


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    reason: str


# For any engine (the cross-check harness's defaults).
DEFAULTS: dict[str, Tolerance] = {
    "closed_form": Tolerance(
        1e-6,
        1e-9,
        "same closed-form formulas: only floating-point order differs (~1e-12); 1e-6 still catches a 0.01 % error",
    ),
    "iterative": Tolerance(
        1e-3,
        1e-4,
        "metafor stops ML/REML/EB Fisher scoring when tau^2 moves < 1e-5 and "
        "solves PM/MP/SJIT with uniroot to ~1.2e-4 (.Machine$double.eps^0.25); an engine "
        "converged to its own tolerance may differ by that much in tau^2 and what follows",
    ),
    "p_values": Tolerance(
        1e-4,
        1e-10,
        "p-values are tail areas of the statistic: relative error grows in the "
        "far tail, and below 1e-10 they say the same thing",
    ),
    "count": Tolerance(0.0, 0.0, "integers (trim-and-fill's k0): must match exactly"),
}


# For an engine that replays metafor's own algorithm (ketabridge's fast engine): the same formulas
# and the same iterates, so only floating-point rounding may differ.
EXACT: dict[str, Tolerance] = {
    "closed_form": Tolerance(
        1e-12,
        1e-14,
        "the same closed forms summed in another order differ by ~1e-15; "
        "atol covers values that cancel to ~0 (a CI bound at 0, I^2 when Q ~ df)",
    ),
    "iterative": Tolerance(
        1e-10,
        1e-13,
        "the same iterates from the same start: rounding differences of "
        "~1e-16 per step; atol covers a tau^2 that converges towards 0",
    ),
    "p_values": Tolerance(
        1e-10, 1e-300, "scipy's and R's normal, t and chi-square tails agree to ~1e-13 relative, far into the tail"
    ),
    "count": Tolerance(0.0, 0.0, "integers (k, k0, degrees of freedom): must match exactly"),
}


# Absolute floors on top of EXACT's class tolerance, for quantities that cancel to ~0 by nature
# (value: (atol, reason)); tau is compared as tau^2, whose floor is the class atol.
EXACT_FLOORS: dict[str, tuple[float, str]] = {
    "i2": (
        1e-10,
        "I^2 = 100 tau^2 / (typical vi + tau^2) in percent: near tau^2 = 0 it inherits tau^2's "
        "absolute error (1e-13) times 100 / typical vi",
    ),
    "statistic": (
        1e-12,
        "z and t statistics are unitless, of order 1: metafor forms a slope as stXWX %*% X'WY, "
        "a difference of products whose rounding is ~5e-13 when the slope is near 0 (Egger's "
        "test on a symmetric funnel)",
    ),
    **{
        name: (
            1e-12,
            "Egger's limit estimate is extrapolated to sei = 0: an intercept formed from products "
            "of the data's size, rounded to ~2e-13 absolute in metafor itself",
        )
        for name in ("limit_estimate", "limit_conf_low", "limit_conf_high")
    },
}


# p-value -> (its statistic, power): a tail area turns the statistic's relative error e into up to
# about |x|^power * e of its own (z and t tails: z^2; chi-square and F tails: <= Q). So far in the
# tail (z = 32, p = 1e-231) a p-value may differ by its statistic's tolerance times that, no more.
P_VALUE_STATISTICS = {"p_value": ("statistic", 2), "q_pvalue": ("q", 1), "qm_pvalue": ("qm", 1)}


def split_prefix(quantity: str) -> tuple[str, str]:
    """(the extra's prefix or "", the quantity's own name): "regtest_p_value" -> ("regtest_", "p_value")."""
    prefix = next((p for p in EXTRA_PREFIXES if quantity.startswith(p)), "")
    return prefix, quantity.removeprefix(prefix)


def tolerance_class(quantity: str, method: str) -> str:
    """The class whose tolerance applies to this quantity under this estimator."""
    own = split_prefix(quantity)[1]
    if own in COUNTS:
        return "count"
    if own in P_VALUES and method in CLOSED_FORM_METHODS:
        return "p_values"
    return "closed_form" if method in CLOSED_FORM_METHODS else "iterative"


def pick(table: Mapping[str, Tolerance], quantity: str, method: str) -> tuple[str, Tolerance]:
    """The (name, tolerance) for one comparison: the quantity's own entry in `table` (a user's
    override), else its class (with the quantity's absolute floor when the class tolerance is
    EXACT's)."""
    if quantity in table:
        return quantity, table[quantity]
    name = tolerance_class(quantity, method)
    tolerance = table[name]
    floor = EXACT_FLOORS.get(split_prefix(quantity)[1])
    if floor is not None and tolerance is EXACT.get(name) and floor[0] > tolerance.atol:
        tolerance = replace(tolerance, atol=floor[0], reason=f"{tolerance.reason}; {floor[1]}")
    return name, tolerance


def statistic_of(quantity: str) -> tuple[str, int] | None:
    """(the statistic whose tail area this p-value is, with the same prefix; its power in
    P_VALUE_STATISTICS), or None for a quantity that is no such p-value."""
    prefix, own = split_prefix(quantity)
    if own not in P_VALUE_STATISTICS:
        return None
    statistic, power = P_VALUE_STATISTICS[own]
    return prefix + statistic, power


def tail_rtol(table: Mapping[str, Tolerance], quantity: str, method: str, rtol, statistic, statistic_allowed=None):
    """A p-value's relative tolerance `rtol` plus what its statistic may differ by, carried through
    the tail area (P_VALUE_STATISTICS): |d log p / dz| <= 1 + |z| for z and t tails, <= 1 for
    chi-square and F tails. `statistic` is metafor's value (a number or an array; NaN counts as 0);
    `statistic_allowed` the statistic's own allowance, by default its tolerance's rtol * |x|."""
    name, power = statistic_of(quantity)
    x = np.nan_to_num(np.abs(np.asarray(statistic, dtype=float)), nan=0.0, posinf=0.0)
    if statistic_allowed is None:
        statistic_allowed = pick(table, name, method)[1].rtol * x
    return rtol + statistic_allowed * ((1 + x) if power == 2 else 1.0)


def resolve(overrides: Mapping[str, object] | str | None, quantities: Collection[str]) -> dict[str, Tolerance]:
    """DEFAULTS with the user's overrides, keyed by class or by one of `quantities` (quantity
    wins): a Tolerance, an (rtol, atol) pair or a mapping with rtol/atol/reason; or "exact" for
    EXACT (an engine that replays metafor's own algorithm)."""
    if overrides == "exact":
        return dict(EXACT)
    table = dict(DEFAULTS)
    for key, value in (overrides or {}).items():
        if key not in DEFAULTS and key not in quantities:
            raise InputError(f"unknown tolerance key {key!r}; use a class ({', '.join(DEFAULTS)}) or a quantity")
        table[key] = _as_tolerance(key, value)
    return table


def _as_tolerance(key: str, value: object) -> Tolerance:
    if isinstance(value, Tolerance):
        return value
    if isinstance(value, Mapping):
        rtol, atol, reason = value.get("rtol", 0.0), value.get("atol", 0.0), value.get("reason", "user override")
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        (rtol, atol), reason = value, "user override"
    else:
        raise InputError(f"tolerance for {key!r} must be (rtol, atol) or {{'rtol':, 'atol':}}, not {value!r}")
    if not all(isinstance(x, (int, float)) and x >= 0 for x in (rtol, atol)):
        raise InputError(f"tolerance for {key!r} needs rtol, atol >= 0, not {rtol!r}, {atol!r}")
    return Tolerance(float(rtol), float(atol), str(reason))
