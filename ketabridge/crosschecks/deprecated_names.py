"""Egger's test had its own names in the cross-check harness up to ketabridge 0.1.0: quantities
egger_statistic, egger_p_value, egger_limit_estimate and the definition key "egger". It is named
regtest_* (and "regtest") everywhere now, as in the batch's tables. The old names are still
accepted, with a DeprecationWarning, for one release: then delete this module and its callers' uses."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable

OLD, NEW = "egger", "regtest"
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # ketabridge/


def current(name: str) -> str:
    """The name as it is now (egger_statistic -> regtest_statistic, egger -> regtest); any other
    name unchanged."""
    if name == OLD or name.startswith(OLD + "_"):
        return NEW + name.removeprefix(OLD)
    return name


def former(name: str) -> str | None:
    """The old name of a renamed one (regtest_statistic -> egger_statistic), else None."""
    if name == NEW or name.startswith(NEW + "_"):
        return OLD + name.removeprefix(NEW)
    return None


def renamed(names: Iterable[str], where: str) -> list[str]:
    """`names` as they are now, with one DeprecationWarning for the old ones among them."""
    names = list(names)
    warn([name for name in names if current(name) != name], where)
    return [current(name) for name in names]


def warn(old_names: Iterable[str], where: str) -> None:
    """One DeprecationWarning listing the old names used in `where` (none: no warning)."""
    old_names = list(dict.fromkeys(old_names))
    if old_names:
        changes = ", ".join(f"{name} -> {current(name)}" for name in old_names)
        warnings.warn(
            f"{where}: Egger's test is now named as in the batch's tables ({changes}); the old "
            "names stop working in the next release",
            DeprecationWarning,
            stacklevel=_first_caller_outside(),
        )


def _first_caller_outside() -> int:
    """The stacklevel of the first caller outside ketabridge: the warning then names the user's
    line, and Python's default filters show a DeprecationWarning only there."""
    frame, level = sys._getframe(2), 2  # level 1 is warn(), which asks
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level
