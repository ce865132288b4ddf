"""One comparison: convert the engine's value to metafor's definition where exact, then a verdict."""

from __future__ import annotations

import math
from collections.abc import Mapping

from ketabridge.agreement.tolerances import Tolerance
from ketabridge.crosschecks.protocol import METAFOR_DEFINITIONS

VERDICTS = ("agree", "differ-by-definition", "disagree", "engine-failed", "metafor-failed")

# quantity -> the DEFINITIONS key that says how the engine defines it
DEFINED_BY = {
    "i2": "i2",
    "h2": "h2",
    "pi_low": "pi",
    "pi_high": "pi",
    "statistic": "statistic",
    "regtest_statistic": "regtest",
    "regtest_p_value": "regtest",
    "regtest_limit_estimate": "regtest",
}


def convert(quantity: str, value: float, definitions: Mapping[str, str]) -> tuple[float, str]:
    """The engine's value in metafor's units where the conversion is exact, and the definition it
    then has (a fraction becomes a percent, H becomes H^2; Q-based stays Q-based)."""
    key = DEFINED_BY.get(quantity)
    definition = definitions.get(key, METAFOR_DEFINITIONS.get(key, "")) if key else ""
    if quantity == "i2" and definition.endswith("_fraction"):
        return value * 100.0, definition.replace("_fraction", "_percent")
    if quantity == "h2" and definition == "h_q":
        return value * value, "q"
    return value, definition


def verdict(
    quantity: str, metafor_value: float, engine_value: float, definition: str, tolerance: Tolerance
) -> tuple[str, str]:
    """(verdict, note) for two values that both exist (NaN means 'no value')."""
    metafor_missing, engine_missing = not math.isfinite(metafor_value), not math.isfinite(engine_value)
    if metafor_missing and engine_missing:
        return "agree", "neither gives a value"
    if metafor_missing:
        return "metafor-failed", "metafor gives no value; the engine does"
    if engine_missing:
        return "engine-failed", "the engine gives no value; metafor does"
    if abs(engine_value - metafor_value) <= tolerance.atol + tolerance.rtol * abs(metafor_value):
        return "agree", ""
    key = DEFINED_BY.get(quantity)
    if key and definition != METAFOR_DEFINITIONS[key]:
        return "differ-by-definition", f"{key}: engine uses {definition}, metafor {METAFOR_DEFINITIONS[key]}"
    return "disagree", ""


def differences(metafor_value: float, engine_value: float) -> tuple[float, float]:
    """(absolute, relative to metafor) difference; NaN when either is missing."""
    if not (math.isfinite(metafor_value) and math.isfinite(engine_value)):
        return math.nan, math.nan
    absolute = abs(engine_value - metafor_value)
    if metafor_value == 0:
        return absolute, 0.0 if absolute == 0 else math.inf
    return absolute, absolute / abs(metafor_value)
