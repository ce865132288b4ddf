"""Which engine to cross-check: a built-in (adapters.BUILTIN), ``module:function`` or a callable,
with its declarations checked against the protocol."""

from __future__ import annotations

import importlib
from collections.abc import Collection

from ketabridge.crosschecks import deprecated_names
from ketabridge.crosschecks.adapters import BUILTIN
from ketabridge.crosschecks.protocol import DEFINITIONS, METAFOR_DEFINITIONS, QUANTITIES, Engine, EngineInfo
from ketabridge.errors import InputError
from ketabridge.options import METHODS, TESTS


def engine_info(engine: Engine | str) -> EngineInfo:
    """Resolve a built-in engine name, ``module:function`` or a callable, and check its declarations."""
    if isinstance(engine, str):
        engine = load_engine(engine)
    if not callable(engine):
        raise InputError(f"an engine must be callable (yi, vi, *, method, test, level), not {type(engine).__name__}")
    name = getattr(engine, "name", None) or getattr(engine, "__name__", None) or type(engine).__name__
    methods = getattr(engine, "methods", None)
    tests = tuple(getattr(engine, "tests", None) or ("z",))
    quantities = getattr(engine, "quantities", None)
    if quantities is not None:
        quantities = deprecated_names.renamed(quantities, f"engine {name!r} declares quantities")
    declared = dict(getattr(engine, "definitions", None) or {})
    keys = deprecated_names.renamed(declared, f"engine {name!r} declares definitions")
    definitions = dict(zip(keys, declared.values()))
    _check_names(methods or (), METHODS, "method")
    _check_names(tests, TESTS, "test")
    _check_names(quantities or (), QUANTITIES, "quantity")
    for key, value in definitions.items():
        if key not in DEFINITIONS or value not in DEFINITIONS[key]:
            choices = "; ".join(f"{name}: {', '.join(options)}" for name, options in DEFINITIONS.items())
            raise InputError(f"unknown definition {key}={value!r}; choose from {choices}")
    return EngineInfo(
        name=str(name),
        call=engine,
        methods=tuple(methods) if methods is not None else None,
        tests=tests,
        quantities=tuple(quantities) if quantities is not None else None,
        definitions={**METAFOR_DEFINITIONS, **definitions},
    )


def load_engine(spec: str) -> Engine:
    """A built-in engine by name (statsmodels, pymare, fast) or ``module:function`` (imported on request)."""
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
