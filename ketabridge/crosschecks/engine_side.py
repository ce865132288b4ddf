"""The engine's values for every data set: its exceptions and non-convergence kept as data."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ketabridge.crosschecks import deprecated_names
from ketabridge.crosschecks.protocol import DEFINITIONS, EngineInfo
from ketabridge.crosschecks.suites import Dataset


@dataclass(frozen=True)
class EngineReply:
    values: dict[str, float]
    definitions: Mapping[str, str]
    failure: str = ""  # why none of its values count: an exception or its own non-convergence
    unreadable: dict[str, str] = field(default_factory=dict)  # quantity -> why its value is not a number
    warnings: str = ""  # what the engine warned on this data set
    old_names: tuple[str, ...] = ()  # deprecated names it used (deprecated_names), warned about once per run


def engine_values(
    info: EngineInfo, dataset: Dataset, method: str, test: str, level: float, quantities: list[str]
) -> EngineReply:
    """Call the engine on one data set (copies of yi and vi, so it cannot change the suite)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            reply = info.call(dataset.yi.copy(), dataset.vi.copy(), method=method, test=test, level=level)
        except Exception as error:  # any engine bug is a finding, not a crash of the harness
            return EngineReply({}, info.definitions, f"{type(error).__name__}: {error}")
    warned = "; ".join(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    if not isinstance(reply, Mapping):
        return EngineReply({}, info.definitions, f"returned {type(reply).__name__}, not a mapping")
    given_definitions = reply.get("definitions")
    old_names = (
        [key for key in given_definitions if deprecated_names.current(key) != key]
        if isinstance(given_definitions, Mapping)
        else []
    )
    definitions = {**info.definitions, **_checked_definitions(given_definitions)}
    values, unreadable = {}, {}
    for quantity in quantities:
        key = quantity if quantity in reply else deprecated_names.former(quantity)
        if key not in reply:
            continue
        if key != quantity:
            old_names.append(key)
        try:
            values[quantity] = scalar(reply[key])
        except (TypeError, ValueError) as error:
            unreadable[quantity] = str(error)
    failure = "" if reply.get("converged", True) else "engine reports it did not converge"
    return EngineReply(values, definitions, failure, unreadable, warned, tuple(old_names))


def scalar(value) -> float:
    """One float from a scalar, 0-d or one-element array; NaN for None."""
    if value is None:
        return float("nan")
    array = np.asarray(value, dtype=float).ravel()
    if array.size != 1:
        raise ValueError(f"expected one number, got {array.size}")
    return float(array[0])


def _checked_definitions(given) -> dict[str, str]:
    if not isinstance(given, Mapping):
        return {}
    given = {deprecated_names.current(key): value for key, value in given.items()}
    return {key: value for key, value in given.items() if key in DEFINITIONS and value in DEFINITIONS[key]}
