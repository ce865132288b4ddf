"""What users call: validate in Python, call one R entry point, build the result."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ketabridge.analyses import validate
from ketabridge.analyses.intervals import natural_scale
from ketabridge.analyses.results import (
    PROVENANCE_ATTR,
    AugmentCall,
    BiasTestResult,
    MetaResult,
    Provenance,
    SubgroupResult,
    bias_test_result,
    meta_result,
)
from ketabridge.analyses.spec import model_spec
from ketabridge.analyses.subgroups import fit_subgroups
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError
from ketabridge.io import TableLike, to_arrow
from ketabridge.options import (
    ESCALC_COLUMNS,
    ESCALC_TO,
    ESCALC_VTYPES,
    MEASURES,
    PREPOST_MEASURES,
    REGTEST_MODELS,
    REGTEST_PREDICTORS,
    TRIMFILL_ESTIMATORS,
    TRIMFILL_SIDES,
    check_choice,
    check_release,
)

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
    drop00: bool | None = None,
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

    Parameters
    ----------
    measure : str
        The effect size measure, metafor's ``measure`` (``"RR"``, ``"OR"``, ``"SMD"``, ``"MC"``,
        ...); a measure newer than the running metafor raises InputError.
    data : pandas.DataFrame, pyarrow.Table, pyarrow.RecordBatch, str or os.PathLike
        One row per study: a table, or the path of a CSV, Parquet, Feather or Arrow IPC file.
        metafor's ``data``, but required.
    add : float, optional
        The amount added to the cells of studies with zero counts: metafor's ``add``. Default
        None passes nothing, so metafor's default (1/2) applies.
    to : {"all", "only0", "if0all", "none"}, optional
        Which studies get ``add``: metafor's ``to``. Default None: metafor's ``"only0"``.
    vtype : str, optional
        How the sampling variances are computed (``"LS"``, ``"UB"``, ``"AV"``, ...): metafor's
        ``vtype``. Default None: metafor's ``"LS"``.
    na_action : {"omit", "fail"}, default "omit"
        Rows with a missing value in any of ``columns``: ``"omit"`` gives them NaN ``yi``,
        ``vi`` and ``ni`` with a MissingValuesWarning; ``"fail"`` raises InputError. (metafor's
        ``escalc`` has no such argument: it returns NA for those rows.)
    drop00 : bool, optional
        True gives studies with no events (or only events) in both groups NA ``yi`` and ``vi``:
        metafor's ``drop00``. Default None: metafor's False.
    **columns : str or float
        metafor's per-study arguments (``ai``, ``bi``, ``ci``, ``di``, ``n1i``, ``n2i``,
        ``x1i``, ``x2i``, ``t1i``, ``t2i``, ``m1i``, ``m2i``, ``sd1i``, ``sd2i``, ``xi``,
        ``mi``, ``ri``, ``ti``, ``sdi``, ``r2i``, ``ni``), each the name of a numeric column of
        ``data``; ``ri`` may be one number for the pre/post measures.

    Returns
    -------
    pandas.DataFrame
        Every column and row of ``data``, plus ``yi`` (effect size), ``vi`` (sampling
        variance) and ``ni`` (total sample size, NaN where the measure has none), all float64.
        ``attrs`` holds ``"ketabridge_measure"`` (read by :func:`rma`),
        ``"ketabridge_provenance"`` (a :class:`Provenance` as a dict; read it with
        :func:`provenance_of`) and, when ``ri`` was a number, ``"ketabridge_assumed_ri"``.

    Raises
    ------
    InputError
        An unknown measure, option or argument name; a column that is missing, not numeric,
        infinite or out of range (negative counts, correlations outside [-1, 1]); no complete
        row; missing values with ``na_action="fail"``.
    MetaforError
        metafor's ``escalc`` stopped with an error (R's message is kept).
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
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
    checked = validate.checked_columns(  # the rules batch(measure=) applies too
        table, [(column, validate.value_rule(argument, measure)) for argument, column in columns.items()]
    )
    values = {argument: checked[column] for argument, column in columns.items()}
    keep = validate.complete_rows({columns[arg]: array for arg, array in values.items()}, na_action)
    if not keep.any():
        raise InputError("no row has all of the columns escalc needs")

    if drop00 is not None and not isinstance(drop00, bool):
        raise InputError(f"drop00 must be True or False, not {drop00!r}")
    options = {"add": add, "to": to, "vtype": vtype, "drop00": drop00}
    reply = call_entry(
        "kb_escalc",
        measure,
        {argument: array[keep] for argument, array in values.items()},
        {name: value for name, value in options.items() if value is not None},
        assumed,
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
    mods: Sequence[str] | str | None = None,
    weighted: bool = True,
    control: Mapping[str, float] | None = None,
    ni: str | None = None,
    weights: str | None = None,
    measure: str | None = None,
    na_action: str = "omit",
    subgroup: str | None = None,
    scale: str | None = None,
    add: float | None = None,
    to: str | None = None,
    drop00: bool | None = None,
    vtype: str | None = None,
    **counts: str,
) -> MetaResult | SubgroupResult:
    """Fit a random- or fixed-effects model: metafor's ``rma.uni``.

    Arguments are column names of ``data``; ``mods`` is a formula (``"~ factor(alloc) + ablat"``)
    or a list of numeric columns. ``sei`` replaces ``vi`` when given. ``ni`` defaults to an ``ni`` column when the
    data has one (as ``escalc`` adds), and ``measure`` to the one ``escalc`` recorded.
    ``weights`` is only needed for the GENQ/GENQM estimators. Rows with missing values are
    left out with a warning (metafor's ``na.action``); ``na_action="fail"`` raises instead.
    ``subgroup`` (a label column) fits the model once per subgroup and returns a
    ``SubgroupResult`` with the test of subgroup differences (see ``ketabridge.analyses.subgroups``).

    Parameters
    ----------
    data : pandas.DataFrame, pyarrow.Table, pyarrow.RecordBatch, str or os.PathLike
        One row per study: a table (e.g. the output of :func:`escalc`), or the path of a CSV,
        Parquet, Feather or Arrow IPC file. metafor's ``data``, but required.
    yi : str, default "yi"
        Column of observed effect sizes: metafor's ``yi``.
    vi : str or None, default "vi"
        Column of sampling variances: metafor's ``vi``. Ignored when ``sei`` is given.
    sei : str, optional
        Column of standard errors, used instead of ``vi``: metafor's ``sei``.
    method : str, default "REML"
        The tau^2 estimator (``"EE"``, ``"FE"``, ``"DL"``, ``"PM"``, ``"ML"``, ``"REML"``, ...):
        metafor's ``method``, with the same default.
    test : {"z", "t", "knha", "hksj", "adhoc"}, default "z"
        How coefficients are tested and their intervals built: metafor's ``test``.
    level : float, default 95
        Confidence level in percent (a value below 1 is read as a proportion, as in metafor):
        metafor's ``level``.
    slab : str, optional
        Column of study labels, used in ``augment()`` and the plots: metafor's ``slab``.
    mods : str or list of str, optional
        The moderators: metafor's ``mods``. A one-sided formula (``"~ factor(alloc) + ablat"``,
        with interactions, ``relevel``, ``I()``, ``scale()``, ``log()``, ``poly()``, ``0 +`` or
        ``- 1`` to remove the intercept) whose names are columns of ``data`` (text and True/False
        columns enter as categories) and the functions ``ketabridge.analyses.formulas.FUNCTIONS``
        allows; or a list of numeric columns, entered as a matrix. A single string without ``~``
        is read as one column. Coefficients are named as metafor names them.
    weighted : bool, default True
        False fits an unweighted model: metafor's ``weighted``.
    control : dict, optional
        Settings of the iterative estimators, by metafor's names (``tau2.init``, ``tau2.min``,
        ``tau2.max``, ``threshold``, ``tol``, ``maxiter``, ``stepadj``, ``REMLf``, ``evtol``):
        metafor's ``control``.
    ni : str, optional
        Column of sample sizes (for ``regtest`` predictors ``ni``..., and for the inverse
        Freeman-Tukey back-transform): metafor's ``ni``. Default: the ``ni`` column when
        ``data`` has one with any value.
    weights : str, optional
        Column of study weights: metafor's ``weights``; required by ``method="GENQ"`` and
        ``"GENQM"``.
    measure : str, optional
        The measure the effect sizes are (for the back-transforms and labels): metafor's
        ``measure``. Default: the one :func:`escalc` recorded on a DataFrame, else ``"GEN"``.
    na_action : {"omit", "fail"}, default "omit"
        Rows with a missing value in a used column: ``"omit"`` leaves them out with a
        MissingValuesWarning, ``"fail"`` raises InputError. metafor's ``na.action``
        (``"na.omit"``, ``"na.fail"``).
    subgroup : str, optional
        Label column: fit one model per subgroup (order of first appearance) and test the
        subgroup differences. Not combinable with ``mods``. No metafor argument.
    scale : str, optional
        A one-sided formula (``"~ x"``, checked as ``mods`` formulas are) for the scale part of
        a location-scale model: log tau^2 as a linear function of the columns it names, metafor's
        ``scale``. The scale coefficients are ``tidy()`` rows with ``component="scale"`` (the
        others: ``"location"``); glance adds ``qs, qs_df, qs_pvalue`` (the test of the scale
        coefficients, metafor's QS), its ``tau2, tau2_se, tau, i2, h2`` are NaN when scale
        moderators make tau^2 differ by study, and its prediction interval is NaN (metafor's
        predict needs ``newscale`` there). Default None: an ordinary model.
    add : float, optional
        With ``**counts``: escalc's ``add`` (see :func:`escalc`), as rma.uni passes it on.
    to : str, optional
        With ``**counts``: escalc's ``to``.
    drop00 : bool, optional
        With ``**counts``: escalc's ``drop00`` (True leaves double-zero studies out, named in a
        MissingValuesWarning).
    vtype : str, optional
        With ``**counts``: escalc's ``vtype``.
    **counts : str
        metafor's shortcut: with ``measure`` and escalc's per-study columns (``ai=``, ``bi=``,
        ``ci=``, ``di=``, ``n1i=``, ``xi=``, ``m1i=``...), the effect sizes are computed first
        (:func:`escalc`) and the model fitted to them, as ``rma.uni(measure=, ai=, ...)`` does;
        ``yi``, ``vi`` and ``sei`` are then escalc's. ``ni`` is escalc's ``ni`` column when
        given. The provenance's call shows both steps.

    Returns
    -------
    MetaResult or SubgroupResult
        Without ``subgroup``, a :class:`MetaResult`: ``glance()`` one row (``k, measure, method,
        test, level``, the pooled ``estimate, std_error, statistic, df, p_value, conf_low,
        conf_high, pi_low, pi_high``, ``tau2, tau2_se, tau, i2, h2, q, q_df, q_pvalue, qm,
        qm_df, qm_pvalue, converged``), ``tidy()`` one row per coefficient (``term, estimate,
        std_error, statistic, p_value, conf_low, conf_high``), ``augment()`` one row per study
        (``study, yi, vi, weight, fitted, residual, std_residual, hat, cooks_distance,
        yi_natural, ci_low_natural, ci_high_natural``) and ``provenance``. With ``subgroup``, a
        :class:`SubgroupResult`: the same tables with a leading ``subgroup`` column, and
        ``between()`` (``q_between, df, p_value``).

    Raises
    ------
    InputError
        An unknown method, test, measure or control setting, or one newer than the running
        metafor; a ``level`` outside (0, 100); a column that is missing, not numeric or
        infinite; negative variances (0 is accepted, as in metafor), standard errors <= 0; a
        formula naming anything but columns and the allowed functions; fewer than 2 complete
        studies; missing values with ``na_action="fail"``; ``subgroup`` with ``mods``, or a
        subgroup with fewer than 2 studies; escalc's columns (``**counts``) without a measure,
        or any of escalc's problems with them.
    ConvergenceError
        The estimator did not converge (the message suggests ``control=`` or another method).
        When metafor only warns, the result has ``converged=False`` and a MetaforWarning.
    MetaforError
        metafor's ``rma.uni`` stopped with another error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """

    if subgroup is not None and mods:
        raise InputError(
            "subgroup= with mods= would compare the subgroups' intercepts (the effect at moderators = 0), "
            "not their effects; fit the subgroups without mods, or add the subgroup as a moderator"
        )
    computed = None
    if counts or any(option is not None for option in (add, to, drop00, vtype)):  # metafor's escalc shortcut
        computed = _effect_sizes_for_rma(data, measure, ni, counts, add=add, to=to, drop00=drop00, vtype=vtype)
        data, yi, vi, sei, ni = computed, "yi", "vi", None, None
    if measure is None and isinstance(data, pd.DataFrame):
        measure = data.attrs.get(MEASURE_ATTR)
    table = to_arrow(data)
    spec = model_spec(
        table,
        yi=yi,
        vi=None if sei else vi,
        sei=sei,
        weights=weights,
        ni=ni,
        slab=slab,
        mods=mods,
        measure=measure,
        method=method,
        test=test,
        level=level,
        weighted=weighted,
        control=control,
        na_action=na_action,
        scale=scale,
    )
    if subgroup is not None and scale is not None:
        raise InputError("subgroup= with scale= is not supported; fit the location-scale model with the subgroup in it")
    if subgroup is not None:
        return fit_subgroups(table, spec, subgroup)
    reply = call_entry("kb_rma", spec.to_r())
    provenance = Provenance.from_reply(reply)
    if computed is not None:  # both steps, as metafor's one call runs them
        escalc_call = computed.attrs[PROVENANCE_ATTR]["r_call"]
        provenance = dataclasses.replace(provenance, r_call=f"dat <- {escalc_call}\n{reply.call}")
    return meta_result("rma", spec, reply, provenance, AugmentCall(spec, *natural_scale(spec)), source=table)


def _effect_sizes_for_rma(
    data: TableLike, measure: str | None, ni: str | None, counts: dict[str, str], **options: object
) -> pd.DataFrame:
    """rma.uni(measure=, ai=, ...): escalc's table for the fit; refuses counts without a measure."""
    if measure is None or measure == "GEN":
        raise InputError(
            f"rma got escalc's columns ({', '.join(counts) or 'none'}) or options but no measure: pass measure= "
            "(e.g. measure='OR') to compute the effect sizes, or give yi and vi"
        )
    if not counts:
        raise InputError(
            "add, to, drop00 and vtype are escalc's options: give its columns too (e.g. ai=, bi=, ci=, di=)"
        )
    if ni is not None:
        counts = {**counts, "ni": ni}  # escalc's ni (proportions, correlations), then rma's sample sizes
    given = {name: value for name, value in options.items() if value is not None}
    return escalc(measure, data, **given, **counts)


def trimfill(result: MetaResult, side: str | None = None, estimator: str = "L0") -> MetaResult:
    """Duval and Tweedie's trim-and-fill: metafor's ``trimfill``.

    Returns the model refitted with the filled studies; its glance adds ``k0, k0_se, side,
    estimator`` and its augment a ``filled`` column. ``side=None`` lets metafor choose.

    Parameters
    ----------
    result : MetaResult
        The result of :func:`rma` for a model without moderators: metafor's ``x``.
    side : {"left", "right"}, optional
        The side of the funnel plot where studies are missing: metafor's ``side``. Default
        None: metafor estimates it.
    estimator : {"L0", "R0", "Q0"}, default "L0"
        The estimator of the number of missing studies: metafor's ``estimator``, with the same
        default.

    Returns
    -------
    MetaResult
        A result of kind ``"trimfill"``: ``glance()`` has the columns of :func:`rma`'s plus
        ``k0`` (studies filled), ``k0_se``, ``side`` and ``estimator``; ``tidy()`` the
        coefficients of the refitted model; ``augment()`` one row per observed and filled
        study, with a ``filled`` column. It can be plotted (:func:`forest`, :func:`funnel`) but
        not passed to the other follow-up analyses.

    Raises
    ------
    InputError
        ``result`` is not a plain :func:`rma` result, has moderators, or an option is unknown.
    MetaforError
        metafor's ``trimfill`` stopped with an error (ConvergenceError when the refit did not
        converge).
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
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
        "trimfill",
        result.spec,
        reply,
        Provenance.from_reply(reply),
        AugmentCall(result.spec, *natural_scale(result.spec), side=side, estimator=estimator),
    )


def regtest(result: MetaResult, model: str = "rma", predictor: str = "sei") -> BiasTestResult:
    """Egger's regression test for funnel-plot asymmetry: metafor's ``regtest``.

    ``model="lm"`` is Egger's original weighted regression, ``"rma"`` metafor's default
    meta-regression version. The glance gives the test and the limit estimate (the effect
    as the predictor goes to 0).

    Parameters
    ----------
    result : MetaResult
        The result of :func:`rma`; its moderators stay in the test model, as in metafor:
        metafor's ``x``.
    model : {"rma", "lm"}, default "rma"
        The kind of regression: metafor's ``model``, with the same default.
    predictor : {"sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"}, default "sei"
        The measure of precision regressed on: metafor's ``predictor``. The ``ni`` predictors
        need sample sizes (``ni=`` in :func:`rma`).

    Returns
    -------
    BiasTestResult
        ``glance()`` one row: ``model, predictor, statistic, df`` (NaN for a z test),
        ``p_value``, ``limit_estimate, limit_conf_low, limit_conf_high``; and ``provenance``.

    Raises
    ------
    InputError
        ``result`` is not a plain :func:`rma` result, an option is unknown, or an ``ni``
        predictor has no sample sizes.
    MetaforError
        metafor's ``regtest`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
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
    moderators (metafor >= 4.4 refuses one; 3.8 tested the raw effects, ignoring them).

    Parameters
    ----------
    result : MetaResult
        The result of :func:`rma` for a model without moderators: metafor's ``x``.

    Returns
    -------
    BiasTestResult
        ``glance()`` one row: ``kendall_tau`` (Kendall's tau between the standardized effects
        and their variances) and ``p_value``; and ``provenance``.

    Raises
    ------
    InputError
        ``result`` is not a plain :func:`rma` result, or has moderators.
    MetaforError
        metafor's ``ranktest`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    _check_result(result, "ranktest")
    if result.spec.mods:
        raise InputError("the rank test needs a model without moderators")
    reply = call_entry("kb_ranktest", result.spec.to_r())
    return bias_test_result("ranktest", reply.value, Provenance.from_reply(reply))


def _check_result(result: object, what: str) -> None:
    if not isinstance(result, MetaResult) or result.kind != "rma":
        raise InputError(f"{what} takes the result of ketabridge.rma(), not {type(result).__name__}")
