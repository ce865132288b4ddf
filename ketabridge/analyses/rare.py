"""Equal-effects pooling of 2x2 tables and person-time for rare events: metafor's rma.mh
(Mantel-Haenszel) and rma.peto (Peto's one-step odds ratio)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from ketabridge.analyses.count_result import CountModelResult, count_model_result
from ketabridge.analyses.counts import check_estimable, checked_counts, warn_zero_cells
from ketabridge.analyses.spec import percent_level
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError
from ketabridge.io import TableLike, to_arrow
from ketabridge.options import ESCALC_TO, check_choice

MH_MEASURES = ("OR", "RR", "RD", "IRR", "IRD")

# What metafor does with a double-zero study (no events, or only events, in both groups), per
# measure: escalc's drop00 leaves its yi/vi NA either way. Mantel-Haenszel's OR and RR (and IRR)
# give it zero weight; the differences keep it (its tables enter the MH estimate); Peto's
# O - E and V are 0 for it.
_DOUBLE_ZERO_EFFECT = {
    "OR": "their yi/vi are NA (escalc's drop00) and their Mantel-Haenszel weight is 0: they add nothing",
    "RR": "their yi/vi are NA (escalc's drop00) and their Mantel-Haenszel weight is 0: they add nothing",
    "IRR": "their yi/vi are NA and their Mantel-Haenszel weight is 0: they add nothing",
    "RD": "their yi/vi are NA, but their tables enter the Mantel-Haenszel risk difference (a difference of 0)",
    "IRD": "their yi/vi are NA, but their data enter the Mantel-Haenszel rate difference (a difference of 0)",
    "PETO": "their yi/vi are NA and their Peto weight is 0 (observed minus expected and its variance are 0)",
}


def rma_mh(
    data: TableLike,
    measure: str = "OR",
    *,
    ai: str | None = None,
    bi: str | None = None,
    ci: str | None = None,
    di: str | None = None,
    n1i: str | None = None,
    n2i: str | None = None,
    x1i: str | None = None,
    x2i: str | None = None,
    t1i: str | None = None,
    t2i: str | None = None,
    add: float | Sequence[float] | None = None,
    to: str | Sequence[str] | None = None,
    drop00: bool | Sequence[bool] | None = None,
    correct: bool = True,
    level: float = 95,
    slab: str | None = None,
    na_action: str = "omit",
) -> CountModelResult:
    """Mantel-Haenszel equal-effects model for 2x2 tables or person-time: metafor's ``rma.mh``.

    Counts are column names of ``data``: ``ai, bi, ci, di`` (or ``ai, ci, n1i, n2i``) for OR,
    RR and RD; ``x1i, x2i, t1i, t2i`` (events and person-time) for IRR and IRD. Studies with no
    events (or only events) in both groups are named in a ``ZeroCellWarning`` saying what
    metafor did with them; a ratio measure with no event in one group of every study, or data
    with no event at all, is refused (metafor would return NA).

    Parameters
    ----------
    data : pandas.DataFrame, pyarrow.Table, pyarrow.RecordBatch, str or os.PathLike
        One row per study: a table, or the path of a CSV, Parquet, Feather or Arrow IPC file.
    measure : {"OR", "RR", "RD", "IRR", "IRD"}, default "OR"
        The effect size measure: metafor's ``measure``.
    ai : str, optional
        Column of events in group 1: metafor's ``ai``.
    bi : str, optional
        Column of non-events in group 1: metafor's ``bi``.
    ci : str, optional
        Column of events in group 2: metafor's ``ci``.
    di : str, optional
        Column of non-events in group 2: metafor's ``di``.
    n1i : str, optional
        Column of group 1's sizes (instead of ``bi``): metafor's ``n1i``.
    n2i : str, optional
        Column of group 2's sizes (instead of ``di``): metafor's ``n2i``.
    x1i : str, optional
        Column of events in group 1 (IRR, IRD): metafor's ``x1i``.
    x2i : str, optional
        Column of events in group 2 (IRR, IRD): metafor's ``x2i``.
    t1i : str, optional
        Column of group 1's person-time (IRR, IRD): metafor's ``t1i``.
    t2i : str, optional
        Column of group 2's person-time (IRR, IRD): metafor's ``t2i``.
    add : float or pair of floats, optional
        Added to the cells of studies with zero cells: one value for the studies' yi/vi, a
        second for the Mantel-Haenszel computation: metafor's ``add`` (default 1/2 and 0).
    to : str or pair of str, optional
        Which studies get ``add`` (``"all"``, ``"only0"``, ``"if0all"``, ``"none"``):
        metafor's ``to`` (default ``"only0"`` and ``"none"``).
    drop00 : bool or pair of bools, optional
        Whether double-zero studies are dropped: metafor's ``drop00`` (default True for yi/vi,
        False for the Mantel-Haenszel computation).
    correct : bool, default True
        Continuity correction of the Cochran-Mantel-Haenszel test: metafor's ``correct``.
    level : float, default 95
        Confidence level in percent (below 1: a proportion): metafor's ``level``.
    slab : str, optional
        Column of study labels: metafor's ``slab``.
    na_action : {"omit", "fail"}, default "omit"
        Rows with a missing count: left out with a MissingValuesWarning, or InputError.

    Returns
    -------
    CountModelResult
        ``glance()`` one row (schema.COUNT_GLANCE: ``model`` "MH", ``k``, the pooled
        ``estimate`` on the log scale (RD/IRD: the difference) with ``std_error, statistic,
        p_value, conf_low, conf_high``, the same back-transformed as ``*_natural``, ``q,
        q_pvalue, i2, h2``, ``cmh, cmh_pvalue`` (the Cochran-Mantel-Haenszel test; OR and IRR)
        and ``tarone, tarone_df, tarone_pvalue`` (Tarone's test; OR)); ``tidy()`` the
        coefficient; ``augment()`` one row per study (``study, row, yi, vi, weight,
        zero_cells, used``); and ``provenance``.

    Raises
    ------
    InputError
        An unknown measure or option; count columns that are missing, not a complete set for
        the measure, not numeric, negative or infinite; events above group sizes; fewer than 2
        studies; data where the estimate does not exist (see above).
    MetaforError
        metafor's ``rma.mh`` stopped with an error or gave no estimate.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    check_choice(measure, MH_MEASURES, "measure")
    layout = ("person_time",) if measure in ("IRR", "IRD") else ("table",)
    given = dict(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i, x1i=x1i, x2i=x2i, t1i=t1i, t2i=t2i)
    counts = checked_counts(to_arrow(data), layout, given, slab, na_action)
    options = {**zero_options(add, to, drop00), "correct": _flag(correct, "correct"), "level": percent_level(level)}
    check_estimable(counts, measure, "Mantel-Haenszel")
    warn_zero_cells(counts, _double_zero_effect(measure, options, "Mantel-Haenszel"))
    transform = "" if measure in ("RD", "IRD") else "exp"
    reply = call_entry("kb_rma_mh", counts.values, measure, options, list(counts.labels), transform, counts.columns)
    return count_model_result("rma_mh", reply, counts)


def rma_peto(
    data: TableLike,
    *,
    ai: str | None = None,
    bi: str | None = None,
    ci: str | None = None,
    di: str | None = None,
    n1i: str | None = None,
    n2i: str | None = None,
    add: float | Sequence[float] | None = None,
    to: str | Sequence[str] | None = None,
    drop00: bool | Sequence[bool] | None = None,
    level: float = 95,
    slab: str | None = None,
    na_action: str = "omit",
) -> CountModelResult:
    """Peto's one-step odds ratio (equal-effects) for 2x2 tables: metafor's ``rma.peto``.

    Studies with no events (or only events) in both groups are named in a ``ZeroCellWarning``
    (their Peto weight is 0). Data with no event at all are refused; metafor's own refusal
    (an outcome that never occurred in any table) comes back as a MetaforError.

    Parameters
    ----------
    data : pandas.DataFrame, pyarrow.Table, pyarrow.RecordBatch, str or os.PathLike
        One row per study: a table, or the path of a CSV, Parquet, Feather or Arrow IPC file.
    ai : str, optional
        Column of events in group 1: metafor's ``ai``.
    bi : str, optional
        Column of non-events in group 1: metafor's ``bi``.
    ci : str, optional
        Column of events in group 2: metafor's ``ci``.
    di : str, optional
        Column of non-events in group 2: metafor's ``di``.
    n1i : str, optional
        Column of group 1's sizes (instead of ``bi``): metafor's ``n1i``.
    n2i : str, optional
        Column of group 2's sizes (instead of ``di``): metafor's ``n2i``.
    add : float or pair of floats, optional
        metafor's ``add`` (one value for yi/vi, a second for Peto's method; default 1/2 and 0).
    to : str or pair of str, optional
        metafor's ``to`` (default ``"only0"`` and ``"none"``).
    drop00 : bool or pair of bools, optional
        metafor's ``drop00`` (default True and False).
    level : float, default 95
        Confidence level in percent: metafor's ``level``.
    slab : str, optional
        Column of study labels: metafor's ``slab``.
    na_action : {"omit", "fail"}, default "omit"
        Rows with a missing count: left out with a MissingValuesWarning, or InputError.

    Returns
    -------
    CountModelResult
        As :func:`rma_mh`, with ``model`` "Peto", measure "PETO" and no CMH or Tarone test.

    Raises
    ------
    InputError
        As :func:`rma_mh`.
    MetaforError
        metafor's ``rma.peto`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    given = dict(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i)
    counts = checked_counts(to_arrow(data), ("table",), given, slab, na_action)
    options = {**zero_options(add, to, drop00), "level": percent_level(level)}
    check_estimable(counts, "OR", "Peto's method")
    warn_zero_cells(counts, _double_zero_effect("PETO", options, "Peto"))
    reply = call_entry("kb_rma_peto", counts.values, options, list(counts.labels), counts.columns)
    return count_model_result("rma_peto", reply, counts)


def _double_zero_effect(measure: str, options: dict, method: str) -> str:
    """What metafor does with double-zero studies, given drop00's second value (the pooling's)."""
    drop = options.get("drop00")
    if drop is not None and bool(drop[-1]) and len(drop) == 2:
        return f"their yi/vi are NA and metafor leaves them out of the {method} computation (drop00)"
    return _DOUBLE_ZERO_EFFECT[measure]


def zero_options(add: object, to: object, drop00: object) -> dict:
    """metafor's add, to and drop00 (one value, or two: yi/vi and the pooling method), checked;
    absent ones are left out so metafor's defaults apply."""
    options: dict = {}
    if add is not None:
        values = _pair(add, "add")
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 <= v < np.inf for v in values):
            raise InputError(f"add must be a number >= 0, or two of them, not {add!r}")
        options["add"] = np.array(values, dtype=float)
    if to is not None:
        options["to"] = [check_choice(value, ESCALC_TO, "to") for value in _pair(to, "to")]
    if drop00 is not None:
        options["drop00"] = np.array([_flag(value, "drop00") for value in _pair(drop00, "drop00")], dtype=bool)
    return options


def _pair(value: object, name: str) -> list:
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not 1 <= len(values) <= 2:
        raise InputError(f"{name} takes one value or two (for yi/vi, then for the pooling method), not {value!r}")
    return values


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False, not {value!r}")
    return bool(value)
