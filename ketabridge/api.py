"""What users call: validate in Python, call one R entry point, build the result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import numbers

import numpy as np
import pandas as pd

from . import validate
from ._r.call import call_entry
from .errors import InputError
from .intervals import natural_scale
from .io import TableLike, to_arrow
from .options import (
    ESCALC_COLUMNS, ESCALC_CORRELATIONS, ESCALC_MI_IS_COUNT, ESCALC_NONNEGATIVE, ESCALC_TO, ESCALC_VTYPES, MEASURES,
    PREPOST_MEASURES, REGTEST_MODELS, REGTEST_PREDICTORS, TRIMFILL_ESTIMATORS, TRIMFILL_SIDES, check_choice,
    check_release,
)
from .results import (
    PROVENANCE_ATTR, BiasTestResult, MetaResult, Provenance, SubgroupResult, bias_test_result, meta_result,
)
from .spec import model_spec

MEASURE_ATTR = "ketabridge_measure"
ASSUMED_RI_ATTR = "ketabridge_assumed_ri"


def escalc(
    measure: str,
    data: TableLike,
    *,
    add: float | None = None,
    to: str | None = None,
    vtype: str | None = None,
    na_action: str = "omit",
    **columns: str | float,
) -> pd.DataFrame:
    """Effect sizes and sampling variances: metafor's ``escalc``.

    ``columns`` map metafor's argument names to column names of ``data``, e.g.
    ``escalc("RR", dat, ai="tpos", bi="tneg", ci="cpos", di="cneg")``. Returns every input row
    with ``yi``, ``vi`` and ``ni`` (metafor's per-study total sample size, NaN where the measure
    has none) added; rows with missing inputs get NaN and a warning (``na_action="fail"``
    raises instead). Unlike R, ``data`` is required and columns are named by strings.
    For the pre/post measures (MC, SMCC, SMCR, SMCRH, ROMC, CVRC, VRC) ``ri`` may instead be
    one number, the assumed pre-post correlation of every study (R's recycled scalar); it
    shows in the provenance's call as ``ri = <value>``.
    """
    check_release(check_choice(measure, MEASURES, "measure"), "measure")
    assumed = {"ri": _assumed_ri(measure, columns.pop("ri"))} if _is_number(columns.get("ri")) else {}
    unknown = sorted(set(columns) - set(ESCALC_COLUMNS))
    if unknown:
        raise InputError(f"unknown escalc argument {', '.join(unknown)}; metafor's are: {', '.join(ESCALC_COLUMNS)}")
    named = [f"{arg}={col!r}" for arg, col in columns.items() if not isinstance(col, str)]
    if named:
        raise InputError(f"escalc columns are named by strings (only ri may be a number): {', '.join(named)}")
    if not columns:
        raise InputError(f"escalc needs the study columns of measure {measure!r} (e.g. ai=, n1i=, m1i=, xi=)")
    if to is not None:
        check_choice(to, ESCALC_TO, "to")
    if vtype is not None:
        check_release(check_choice(vtype, ESCALC_VTYPES, "vtype"), "vtype")

    table = to_arrow(data)
    values = {argument: validate.numeric_column(table, column) for argument, column in columns.items()}
    keep = validate.complete_rows({columns[arg]: array for arg, array in values.items()}, na_action)
    for argument, array in values.items():
        present = array[keep]
        validate.check_finite(columns[argument], present)
        if argument in ESCALC_NONNEGATIVE or (argument == "mi" and measure in ESCALC_MI_IS_COUNT):
            validate.check_range(columns[argument], present, 0.0)
        if argument in ESCALC_CORRELATIONS:
            validate.check_range(columns[argument], present, -1.0, 1.0)
    if not keep.any():
        raise InputError("no row has all of the columns escalc needs")

    options = {"add": add, "to": to, "vtype": vtype}
    reply = call_entry(
        "kb_escalc", measure, {argument: array[keep] for argument, array in values.items()},
        {name: value for name, value in options.items() if value is not None}, assumed,
    )
    frame = table.to_pandas()
    for name in ("yi", "vi", "ni"):
        full = np.full(len(frame), np.nan)
        full[keep] = reply.value[name]
        frame[name] = full
    frame.attrs[MEASURE_ATTR] = measure
    if assumed:
        frame.attrs[ASSUMED_RI_ATTR] = assumed["ri"]
    frame.attrs[PROVENANCE_ATTR] = Provenance.from_reply(reply).to_dict()
    return frame


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _assumed_ri(measure: str, value: float) -> float:
    """One assumed pre-post correlation for all rows: only for the pre/post measures, in [-1, 1]."""
    if measure not in PREPOST_MEASURES:
        raise InputError(
            f"a single number for ri (an assumed pre-post correlation) needs a pre/post measure "
            f"({', '.join(PREPOST_MEASURES)}), not {measure!r}; give ri a column name"
        )
    if not -1.0 <= float(value) <= 1.0:  # also rejects NaN
        raise InputError(f"the assumed pre-post correlation ri must be between -1 and 1, not {value!r}")
    return float(value)


def rma(
    data: TableLike,
    yi: str = "yi",
    vi: str | None = "vi",
    *,
    sei: str | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    slab: str | None = None,
    mods: Sequence[str] | None = None,
    weighted: bool = True,
    control: Mapping[str, float] | None = None,
    ni: str | None = None,
    weights: str | None = None,
    measure: str | None = None,
    na_action: str = "omit",
    subgroup: str | None = None,
) -> MetaResult | SubgroupResult:
    """Fit a random- or fixed-effects model: metafor's ``rma.uni``.

    Arguments are column names of ``data``; ``mods`` is a list of numeric columns (no
    formulas). ``sei`` replaces ``vi`` when given. ``ni`` defaults to an ``ni`` column when the
    data has one (as ``escalc`` adds), and ``measure`` to the one ``escalc`` recorded.
    ``weights`` is only needed for the GENQ/GENQM estimators. Rows with missing values are
    left out with a warning (metafor's ``na.action``); ``na_action="fail"`` raises instead.
    ``subgroup`` (a label column) fits the model once per subgroup and returns a
    ``SubgroupResult`` with the test of subgroup differences (see ``ketabridge.subgroups``).
    """
    from .subgroups import fit_subgroups  # subgroups builds on results, as api does

    if subgroup is not None and mods:
        raise InputError(
            "subgroup= with mods= would compare the subgroups' intercepts (the effect at moderators = 0), "
            "not their effects; fit the subgroups without mods, or add the subgroup as a moderator"
        )
    if measure is None and isinstance(data, pd.DataFrame):
        measure = data.attrs.get(MEASURE_ATTR)
    table = to_arrow(data)
    spec = model_spec(
        table, yi=yi, vi=None if sei else vi, sei=sei, weights=weights, ni=ni, slab=slab,
        mods=mods, measure=measure, method=method, test=test, level=level, weighted=weighted,
        control=control, na_action=na_action,
    )
    if subgroup is not None:
        return fit_subgroups(table, spec, subgroup)
    reply = call_entry("kb_rma", spec.to_r())
    return meta_result(
        "rma", spec, reply, Provenance.from_reply(reply),
        lambda: call_entry("kb_augment", spec.to_r(), None, None, *natural_scale(spec)).value, source=table,
    )


def trimfill(result: MetaResult, side: str | None = None, estimator: str = "L0") -> MetaResult:
    """Duval and Tweedie's trim-and-fill: metafor's ``trimfill``.

    Returns the model refitted with the filled studies; its glance adds ``k0, k0_se, side,
    estimator`` and its augment a ``filled`` column. ``side=None`` lets metafor choose.
    """
    _check_result(result, "trimfill")
    if side is not None:
        check_choice(side, TRIMFILL_SIDES, "side")
    check_choice(estimator, TRIMFILL_ESTIMATORS, "estimator")
    if result.spec.mods:
        raise InputError("trim-and-fill needs a model without moderators")
    model = result.spec.to_r()
    reply = call_entry("kb_trimfill", model, side, estimator)
    return meta_result(
        "trimfill", result.spec, reply, Provenance.from_reply(reply),
        lambda: call_entry("kb_augment", model, side, estimator, *natural_scale(result.spec)).value,
    )


def regtest(result: MetaResult, model: str = "rma", predictor: str = "sei") -> BiasTestResult:
    """Egger's regression test for funnel-plot asymmetry: metafor's ``regtest``.

    ``model="lm"`` is Egger's original weighted regression, ``"rma"`` metafor's default
    meta-regression version. The glance gives the test and the limit estimate (the effect
    as the predictor goes to 0).
    """
    _check_result(result, "regtest")
    check_choice(model, REGTEST_MODELS, "model")
    check_choice(predictor, REGTEST_PREDICTORS, "predictor")
    if predictor in ("ni", "ninv", "sqrtni", "sqrtninv") and result.spec.ni is None:
        raise InputError(f"predictor {predictor!r} needs sample sizes: pass ni='<column>' to rma")
    reply = call_entry("kb_regtest", result.spec.to_r(), model, predictor)
    return bias_test_result("regtest", reply.value, Provenance.from_reply(reply))


def ranktest(result: MetaResult) -> BiasTestResult:
    """Begg and Mazumdar's rank correlation test: metafor's ``ranktest``, for a model without
    moderators (metafor >= 4.4 refuses one; 3.8 tested the raw effects, ignoring them)."""
    _check_result(result, "ranktest")
    if result.spec.mods:
        raise InputError("the rank test needs a model without moderators")
    reply = call_entry("kb_ranktest", result.spec.to_r())
    return bias_test_result("ranktest", reply.value, Provenance.from_reply(reply))


def _check_result(result: object, what: str) -> None:
    if not isinstance(result, MetaResult) or result.kind != "rma":
        raise InputError(f"{what} takes the result of ketabridge.rma(), not {type(result).__name__}")
