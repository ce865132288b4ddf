"""How report.html and notebooks show a table: human column headers, numbers formatted by kind, CIs as [a, b].

Only the shown text changes: every number keeps its exact value in a `data-value` attribute
(on the cell, or on each bound's span inside an interval cell), with its code name in
`data-column`, so the page can still be checked against the Parquet files digit for digit.
"""

from __future__ import annotations

import html
import math
import numbers

import numpy as np
import pandas as pd

# The code names of the files (schema.py) and the header a reader sees for each.
LABELS: dict[str, str] = {
    "analysis": "Name",
    "title": "Analysis",
    "k": "Studies (k)",
    "measure": "Measure",
    "method": "τ² estimator",
    "scale": "Shown on",
    "test": "Test",
    "level": "Level",
    "term": "Term",
    "estimate": "Estimate",
    "std_error": "SE",
    "statistic": "Test statistic",
    "df": "df",
    "p_value": "p-value",
    "tau2": "τ²",
    "tau2_se": "SE of τ²",
    "tau": "τ",
    "i2": "I²",
    "h2": "H²",
    "q": "Q",
    "q_df": "Q df",
    "q_pvalue": "Q p-value",
    "qm": "QM (moderators)",
    "qm_df": "QM df",
    "qm_pvalue": "QM p-value",
    "converged": "Converged",
    "k0": "Filled studies (k₀)",
    "k0_se": "SE of k₀",
    "side": "Side filled",
    "estimator": "k₀ estimator",
    "model": "Model",
    "predictor": "Predictor",
    "limit_estimate": "Limit estimate (SE → 0)",
    "kendall_tau": "Kendall's τ",
    "study": "Study",
    "yi": "Effect (yi)",
    "vi": "Variance (vi)",
    "weight": "Weight",
    "fitted": "Fitted",
    "residual": "Residual",
    "std_residual": "Standardized residual",
    "hat": "Leverage",
    "cooks_distance": "Cook's distance",
    "yi_natural": "Effect, natural scale",
    "transform": "Back-transform",
    "model_estimate": "Estimate, model scale",
    "model_std_error": "SE, model scale",
    "corrected": "Continuity-corrected studies",
    "outside_unit": "CI leaves [0, 1]",
    "quantity": "Quantity",
    "timepoint": "Time point",
    "approach": "Approach",
    "published_k": "Published k",
    "published_estimate": "Published estimate",
    "difference": "Difference (ours − published)",
    "ri": "Assumed pre-post r",
    "analysis_id": "Analysis id",
    "subgroup": "Subgroup",
    "q_between": "Q between subgroups",
    # bounds shown apart (notebook tables); report.html joins each pair into one [low, high] cell
    "conf_low": "CI lower",
    "conf_high": "CI upper",
    "pi_low": "PI lower",
    "pi_high": "PI upper",
    "ci_low_natural": "CI lower, natural scale",
    "ci_high_natural": "CI upper, natural scale",
    "limit_conf_low": "Limit CI lower",
    "limit_conf_high": "Limit CI upper",
    "published_conf_low": "Published CI lower",
    "published_conf_high": "Published CI upper",
    "max_abs_diff": "Largest absolute difference",
    "compared": "Compared",
    "note": "Note",
}

# Interval columns shown as one "[low, high]" cell, under the header given here.
INTERVALS: dict[str, tuple[str, str]] = {
    "conf_low": ("conf_high", "{level} CI"),
    "pi_low": ("pi_high", "{level} prediction interval"),
    "limit_conf_low": ("limit_conf_high", "{level} CI of the limit estimate"),
    "ci_low_natural": ("ci_high_natural", "{level} CI, natural scale"),
    "published_conf_low": ("published_conf_high", "Published 95 % CI"),
}
EXTRA_PREFIXES = {"trimfill_": "Trim-and-fill", "regtest_": "Egger", "ranktest_": "Begg"}
PERCENT_COLUMNS = ("i2", "weight", "level")
P_VALUE_COLUMNS = ("p_value", "q_pvalue", "qm_pvalue")
# Text that may be long gets room to wrap in lines, not one word per line.
WIDE_TEXT_COLUMNS = ("title", "note", "quantity", "study")
MINUS = "\u2212"


def label(column: str) -> str:
    """The header a reader sees for a code name (the code name itself when it has none)."""
    for prefix, words in EXTRA_PREFIXES.items():  # a batch's extras: trimfill_k0, regtest_p_value...
        if column.startswith(prefix) and column not in LABELS:
            return f"{words}: {label(column.removeprefix(prefix))}"
    return LABELS.get(column, column)


def level_text(level: float | None) -> str:
    return "" if level is None else f"{level:g} %"


def number_text(column: str, value: float, percent: bool = False) -> str:
    """A number as a reader wants it: p-values `< 0.001`, percentages with %, 3 significant digits."""
    if math.isnan(value):
        return "–"
    if column in P_VALUE_COLUMNS:
        return "< 0.001" if value < 0.001 else f"{value:.3f}"
    if column == "level":
        return f"{value:g} %"
    if column in PERCENT_COLUMNS:
        return f"{value:.1f} %"
    if percent:  # a proportion read as a share of patients
        return _minus(f"{100 * value:.0f} %" if abs(value) >= 0.1 or value == 0 else f"{100 * value:.1f} %")
    return plain_number(value)


def plain_number(value: float) -> str:
    if math.isnan(value):
        return "–"
    if value.is_integer() and abs(value) < 1e6:
        return _minus(str(int(value)))
    size = abs(value)
    if size >= 1000:
        return _minus(f"{value:,.0f}")
    if size >= 1e-3:
        return _minus(f"{value:.3g}")
    mantissa, exponent = f"{value:.2g}".split("e") if "e" in f"{value:.2g}" else (f"{value:.2g}", "")
    if not exponent:
        return _minus(mantissa)
    return _minus(f"{mantissa} × 10{_superscript(int(exponent))}")


def is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def number_span(tag: str, column: str, value, percent: bool = False) -> str:
    """One number: shown formatted, its exact value in data-value (as the Parquet file has it)."""
    if isinstance(value, numbers.Integral):
        exact = shown = str(int(value))
    else:
        exact = repr(float(value))
        shown = html.escape(number_text(column, float(value), percent))
    return f'<{tag} data-column="{column}" data-value="{exact}">{shown}</{tag}>'


def interval_cell(low_column: str, high_column: str, low, high, percent: bool = False) -> str:
    if not (is_number(low) and is_number(high)):
        return f'<td class="interval" data-column="{low_column} {high_column}">–</td>'
    if math.isnan(float(low)) and math.isnan(float(high)):
        inner = number_span("span", low_column, low) + number_span("span", high_column, high)
        return f'<td class="interval empty">–<span hidden>{inner}</span></td>'
    return (
        f'<td class="interval">[{number_span("span", low_column, low, percent)}, '
        f"{number_span('span', high_column, high, percent)}]</td>"
    )


def cell(column: str, value, percent: bool = False) -> str:
    if is_number(value):
        return number_span("td", column, value, percent)
    missing = value is None or (pd.api.types.is_scalar(value) and pd.isna(value))
    if isinstance(value, (bool, np.bool_)):
        shown = "yes" if value else "no"
    else:
        shown = "" if missing else text(value)
    wide = " wide" if column in WIDE_TEXT_COLUMNS else ""
    return f'<td class="text{wide}" data-column="{column}">{shown}</td>'


def text(value) -> str:
    return html.escape(str(value))


def _minus(shown: str) -> str:
    return shown.replace("-", MINUS)


def _superscript(exponent: int) -> str:
    return str(exponent).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
