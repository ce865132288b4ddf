"""Model formulas (``mods="~ factor(alloc) + ablat"``), checked before R ever sees them.

A formula is the one place where R syntax is the interface, so it is the one place where a user
string is parsed by R. Two locks keep it from running other R code: here, every token must be a
data column, an allow-listed function or argument name, a number, a quoted level, or a formula
operator; in R (``kb_formula`` in ``r/helpers_formula.R``), the parsed expression is checked
again and evaluated in an environment that holds only those functions, with nothing behind it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ketabridge.errors import InputError

# What a formula may call: the transformations metafor's examples and users' models use.
FUNCTIONS = (
    "factor", "as.factor", "relevel", "I", "scale", "log", "log2", "log10", "log1p", "exp", "sqrt", "abs", "poly",
)  # fmt: skip
# The argument names those functions may be given by name (relevel(x, ref = "a"), poly(x, degree = 2)).
ARGUMENT_NAMES = ("ref", "degree", "raw", "center", "scale", "levels", "labels", "ordered", "base")
LITERALS = ("TRUE", "FALSE")
# R's reserved words: never a column in a formula (R would read them as keywords).
_RESERVED = frozenset(
    "if else repeat while function for in next break NULL Inf NaN NA NA_integer_ NA_real_ NA_character_ "
    "NA_complex_".split()
)

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
      | (?P<name>(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*)
      | (?P<string>"[^"\\\n]*"|'[^'\\\n]*')
      | (?P<operator>%in%|[~+\-*/^:(),=|])""",
    re.VERBOSE,
)
_R_NAME = re.compile(r"^(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*$")


@dataclass(frozen=True)
class Formula:
    """A checked one-sided formula: its text (as typed, on one line) and the data columns it uses."""

    text: str
    columns: tuple[str, ...]

    def __str__(self) -> str:
        return self.text


def is_formula(value: object) -> bool:
    """A string with a ``~`` is a formula (checked to start with one); anything else names columns."""
    return isinstance(value, str) and "~" in value


def parse_formula(
    text: str, columns: list[str] | tuple[str, ...], *, what: str = "mods", bars: bool = False
) -> Formula:
    """Check ``text`` against the allow-list and the data's ``columns``; raise InputError naming
    the first offending part. ``what`` names the argument in messages; ``bars`` allows ``|``
    (the grouping bar of rma.mv's random terms)."""
    tokens = _tokens(text, what)
    if not bars and ("operator", "|") in tokens:
        raise InputError(f"{what} formula may not use '|' (grouping belongs in random=): {text!r}")
    if not tokens or tokens[0] != ("operator", "~") or any(t == ("operator", "~") for t in tokens[1:]):
        raise InputError(f"{what} must be a one-sided formula starting with '~' (e.g. '~ x1 + factor(x2)'): {text!r}")
    if any(a[1] == b[1] == ":" for a, b in zip(tokens, tokens[1:])):
        raise InputError(f"{what} formula may not use '::' or ':::' (no package functions): {text!r}")
    used: dict[str, None] = {}
    depth = 0
    for position, (kind, value) in enumerate(tokens):
        after = tokens[position + 1] if position + 1 < len(tokens) else (None, None)
        before = tokens[position - 1] if position else (None, None)
        if (kind, value) == ("operator", "(") and before[0] != "name":
            depth += 1  # a bare grouping parenthesis
        if kind == "operator" and value == "=" and not (depth and before[0] == "name"):
            raise InputError(f"{what} formula may not assign ('='): {text!r}")
        if kind == "string" and not depth:
            raise InputError(f"{what} formula has a quoted string outside a function call: {value}")
        if kind == "name":
            _check_name(value, after, depth, columns, used, what)
        if kind == "name" and after[1] == "(":
            depth += 1
        if (kind, value) == ("operator", ")"):
            depth -= 1
            if depth < 0:
                raise InputError(f"{what} formula has an unmatched ')': {text!r}")
    if depth:
        raise InputError(f"{what} formula has an unclosed '(': {text!r}")
    # as typed, on one line (R would read a line break as the end of the formula)
    return Formula(re.sub(r"[\r\n\t]", " ", text).strip(), tuple(used))


def _tokens(text: str, what: str) -> list[tuple[str, str]]:
    if not isinstance(text, str):
        raise InputError(f"{what} must be a formula string or a list of column names, not {type(text).__name__}")
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise InputError(
                f"{what} formula has {text[position]!r} at position {position}, which a formula may not use "
                f"(allowed: column names, numbers, quoted levels, the functions {', '.join(FUNCTIONS)} and "
                f"~ + - * / ^ : %in% ( ) ,): {text!r}"
            )
        if match.lastgroup != "space":
            tokens.append((match.lastgroup, match.group()))
        position = match.end()
    return tokens


def _check_name(name: str, after: tuple, depth: int, columns, used: dict, what: str) -> None:
    if after[1] == "(":
        if name not in FUNCTIONS:
            raise InputError(
                f"{what} formula calls {name}(), which is not allowed; the functions allowed are: {', '.join(FUNCTIONS)}"
            )
        return
    if after[1] == "=" and depth:
        if name not in ARGUMENT_NAMES:
            raise InputError(
                f"{what} formula names argument {name!r}; the arguments allowed are: {', '.join(ARGUMENT_NAMES)}"
            )
        return
    if name in LITERALS:
        return
    if name in _RESERVED:
        raise InputError(f"{what} formula uses the R keyword {name!r}, which is not a column")
    if name not in columns:
        shown = ", ".join(c for c in columns if _R_NAME.match(c)) or "(none usable)"
        raise InputError(f"{what} formula names {name!r}, which is not a column of the data; its columns are: {shown}")
    used[name] = None
