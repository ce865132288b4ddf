"""The engine protocol: what a native meta-analysis implementation must look like to be cross-checked.

An engine is a callable ``engine(yi, vi, *, method, test, level) -> Mapping[str, float]`` taking
numpy arrays and metafor's option names, returning some of QUANTITIES. It may declare, as
attributes (``declare_engine`` sets them): ``name``, ``methods`` and ``tests`` it supports (metafor's
names), ``quantities`` it returns, and ``definitions`` where its quantities are defined otherwise
than metafor's (see DEFINITIONS). The mapping it returns may hold ``converged=False`` (its numbers
are then not counted) and ``definitions`` (overriding the declared ones for that call).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..errors import InputError
from ..options import METHODS, TESTS

# What an engine may return, named as ketabridge's glance columns; egger_* is metafor's regtest
# (model "rma", predictor "sei") and trimfill_* its trim-and-fill (estimator L0).
QUANTITIES = (
    "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high", "pi_low", "pi_high",
    "tau2", "i2", "h2", "q",
    "trimfill_k0", "trimfill_estimate",
    "egger_statistic", "egger_p_value", "egger_limit_estimate",
)

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
    "egger": ("rma", "lm"),
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


def declare_engine(*, name: str | None = None, methods: Collection[str] | None = None,
                   tests: Collection[str] = ("z",), quantities: Collection[str] | None = None,
                   definitions: Mapping[str, str] | None = None) -> Callable:
    """Decorator: attach the protocol's declarations to an engine function."""

    def mark(function: Callable) -> Callable:
        function.name = name or getattr(function, "__name__", "engine")
        function.methods = tuple(methods) if methods is not None else None
        function.tests = tuple(tests)
        function.quantities = tuple(quantities) if quantities is not None else None
        function.definitions = dict(definitions or {})
        return function

    return mark


def engine_info(engine: Engine | str) -> EngineInfo:
    """Resolve a built-in engine name, ``module:function`` or a callable, and check its declarations."""
    if isinstance(engine, str):
        engine = load_engine(engine)
    if not callable(engine):
        raise InputError(f"an engine must be callable (yi, vi, *, method, test, level), not {type(engine).__name__}")
    methods = getattr(engine, "methods", None)
    tests = tuple(getattr(engine, "tests", None) or ("z",))
    quantities = getattr(engine, "quantities", None)
    definitions = dict(getattr(engine, "definitions", None) or {})
    _check_names(methods or (), METHODS, "method")
    _check_names(tests, TESTS, "test")
    _check_names(quantities or (), QUANTITIES, "quantity")
    for key, value in definitions.items():
        if key not in DEFINITIONS or value not in DEFINITIONS[key]:
            choices = "; ".join(f"{name}: {', '.join(options)}" for name, options in DEFINITIONS.items())
            raise InputError(f"unknown definition {key}={value!r}; choose from {choices}")
    name = getattr(engine, "name", None) or getattr(engine, "__name__", None) or type(engine).__name__
    return EngineInfo(
        name=str(name), call=engine, methods=tuple(methods) if methods is not None else None, tests=tests,
        quantities=tuple(quantities) if quantities is not None else None,
        definitions={**METAFOR_DEFINITIONS, **definitions},
    )


def load_engine(spec: str) -> Engine:
    """A built-in engine by name (statsmodels, pymare) or ``module:function`` (imported on request)."""
    from .adapters import BUILTIN

    if spec in BUILTIN:
        return BUILTIN[spec]()
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise InputError(f"engine {spec!r} is neither a built-in ({', '.join(BUILTIN)}) nor module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise InputError(f"cannot import engine module {module_name!r}: {error}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise InputError(f"module {module_name!r} has no engine {attribute!r}") from None


def _check_names(names: Collection[str], allowed: Collection[str], what: str) -> None:
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise InputError(f"engine declares unknown {what} {unknown}; choose from: {', '.join(allowed)}")
