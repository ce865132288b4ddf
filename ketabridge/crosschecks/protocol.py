"""The engine protocol: what a native meta-analysis implementation must look like to be cross-checked.

An engine is a callable ``engine(yi, vi, *, method, test, level) -> Mapping[str, float]`` taking
numpy arrays and metafor's option names, returning some of QUANTITIES. It may declare, as
attributes (``declare_engine`` sets them): ``name``, ``methods`` and ``tests`` it supports (metafor's
names), ``quantities`` it returns, and ``definitions`` where its quantities are defined otherwise
than metafor's (see DEFINITIONS). The mapping it returns may hold ``converged=False`` (its numbers
are then not counted) and ``definitions`` (overriding the declared ones for that call).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

# What an engine may return, named as the batch's glance columns: regtest_* is metafor's regtest
# (Egger's test; model "rma", predictor "sei") and trimfill_* its trim-and-fill (estimator L0).
QUANTITIES = (
    "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high", "pi_low", "pi_high", "tau2", "i2",
    "h2", "q", "trimfill_k0", "trimfill_estimate", "regtest_statistic", "regtest_p_value",
    "regtest_limit_estimate",
)  # fmt: skip

# Quantities with more than one definition in use. The first of each is metafor's.
DEFINITIONS: dict[str, tuple[str, ...]] = {
    # I^2 from tau^2 (metafor: tau2 / (tau2 + typical vi)) or from Q ((Q - df) / Q), in percent or as a fraction
    "i2": ("tau2_percent", "tau2_fraction", "q_percent", "q_fraction"),
    # H^2 from tau^2 (metafor), as Q / df, or its square root H = sqrt(Q / df)
    "h2": ("tau2", "q", "h_q"),
    # prediction interval: metafor's (normal quantile for test "z", t with k - 1 df otherwise),
    # or Higgins et al. (2009)'s t with k - 2 df
    "pi": ("metafor", "t_k-2"),
    # Egger's test as a mixed-effects meta-regression on sei (metafor's "rma") or a weighted lm
    "regtest": ("rma", "lm"),
    # the test statistic as metafor's (z or t), or the normal quantile of a t-based p-value
    "statistic": ("metafor", "normal_equivalent"),
}
METAFOR_DEFINITIONS = {name: choices[0] for name, choices in DEFINITIONS.items()}


@runtime_checkable
class Engine(Protocol):
    """A native implementation to cross-check against metafor (the declarations are optional)."""

    def __call__(self, yi, vi, *, method: str, test: str, level: float) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class EngineInfo:
    """An engine with its declarations filled in: None means 'not declared'."""

    name: str
    call: Callable = field(repr=False)
    methods: tuple[str, ...] | None
    tests: tuple[str, ...]
    quantities: tuple[str, ...] | None
    definitions: Mapping[str, str]


def declare_engine(
    *,
    name: str | None = None,
    methods: Collection[str] | None = None,
    tests: Collection[str] = ("z",),
    quantities: Collection[str] | None = None,
    definitions: Mapping[str, str] | None = None,
) -> Callable:
    """Decorator: attach the protocol's declarations to an engine function.

    The declarations tell :func:`crosscheck` what to compare; they are checked there, not
    here. No metafor counterpart.

    Parameters
    ----------
    name : str, optional
        The engine's name in reports. Default None: the function's ``__name__``.
    methods : collection of str, optional
        metafor ``method`` names the engine supports. Default None: not declared
        (crosscheck then uses ``("REML",)``).
    tests : collection of str, default ("z",)
        metafor ``test`` names the engine supports.
    quantities : collection of str, optional
        Names from ``QUANTITIES`` the engine returns. Default None: not declared (each is
        compared where the engine returns it).
    definitions : mapping of str to str, optional
        Where the engine defines a quantity otherwise than metafor, e.g.
        ``{"i2": "q_fraction"}`` (choices in ``DEFINITIONS``). Default None: metafor's.

    Returns
    -------
    callable
        A decorator that sets the attributes ``name``, ``methods``, ``tests``, ``quantities``
        and ``definitions`` on the function and returns the same function.
    """

    def mark(function: Callable) -> Callable:
        function.name = name or getattr(function, "__name__", "engine")
        function.methods = tuple(methods) if methods is not None else None
        function.tests = tuple(tests)
        function.quantities = tuple(quantities) if quantities is not None else None
        function.definitions = dict(definitions or {})
        return function

    return mark
