"""Sensitivity analyses of a fitted model: leave-one-out, influence, cumulative, fail-safe N."""

from __future__ import annotations

import numbers
import secrets

import numpy as np
import pandas as pd

from ketabridge import schema
from ketabridge.analyses import validate
from ketabridge.analyses.intervals import plain_model_result, resolve_transform
from ketabridge.analyses.results import BiasTestResult, MetaResult, Provenance, bias_test_result, tidy_frame
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError
from ketabridge.io import TableLike, to_arrow
from ketabridge.options import FSN_REM_UNTIL, FSN_TYPES, check_choice, check_release


def leave1out(result: MetaResult, transf: str | None = None, **targs) -> pd.DataFrame:
    """The model refitted k times, each time without one study: metafor's ``leave1out.rma.uni``.

    One row per study (``study`` is the study left out, with the user's labels), with the
    estimate, its test and interval, Q, tau^2, I^2 and H^2 of the refit. ``transf`` as in
    ``predict`` (``"natural"``, ``"exp"``...) back-transforms estimate and interval (std_error
    is then NaN, as in metafor). Models with moderators are refused, as metafor refuses them.

    Parameters
    ----------
    result : MetaResult
        The result of :func:`rma` for a model without moderators: metafor's ``x``.
    transf : {"exp", "ilogit", "ipft.hm", "iarcsin", "ztor", "natural"}, optional
        Back-transform of the estimates and bounds, as in :func:`predict`: metafor's
        ``transf``. Default None: the model scale.
    **targs : array_like
        Only ``ni``: the studies' sample sizes for ``transf="ipft.hm"`` (default: the model's
        ``ni``), metafor's ``targs=list(ni=)``. Any other name raises InputError.

    Returns
    -------
    pandas.DataFrame
        One row per study: ``study, estimate, std_error, statistic, p_value, conf_low,
        conf_high, q, q_pvalue, tau2, i2, h2``. Its provenance is in
        ``attrs["ketabridge_provenance"]`` (read it with :func:`provenance_of`).

    Raises
    ------
    InputError
        ``result`` is not a plain :func:`rma` result or has moderators; an unknown transform or
        keyword; ``ipft.hm`` without sample sizes.
    MetaforError
        metafor's ``leave1out`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    result = _without_moderators(result, "leave1out")
    transform, sizes = resolve_transform(result.spec, transf, targs, "leave1out")
    reply = call_entry("kb_leave1out", result.spec.to_r(), transform, sizes)
    return tidy_frame(reply, schema.LEAVE1OUT)


def influence(result: MetaResult) -> pd.DataFrame:
    """Outlier and influence diagnostics: metafor's ``influence.rma.uni`` (its ``inf`` table).

    One row per study: externally standardized residual (``rstudent``), ``dffits``, Cook's
    distance, covariance ratio, tau^2 and Q with the study deleted, hat value, weight (percent)
    and metafor's ``influential`` flag. The DFBETAS table is left out.

    Parameters
    ----------
    result : MetaResult
        The result of :func:`rma` (with or without moderators; not of ``trimfill``, nor a
        SubgroupResult): metafor's ``model``.

    Returns
    -------
    pandas.DataFrame
        One row per study: ``study, rstudent, dffits, cooks_distance, cov_ratio,
        tau2_deleted, q_deleted, hat, weight`` (float64; weight in percent) and
        ``influential`` (bool). Its provenance is in ``attrs["ketabridge_provenance"]`` (read
        it with :func:`provenance_of`).

    Raises
    ------
    InputError
        ``result`` is not a plain :func:`rma` result.
    MetaforError
        metafor's ``influence`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    result = plain_model_result(result, "influence")
    reply = call_entry("kb_influence", result.spec.to_r())
    return tidy_frame(reply, schema.INFLUENCE)


def cumul(result: MetaResult, order: str | np.ndarray | list, transf: str | None = None, **targs) -> pd.DataFrame:
    """Cumulative meta-analysis: metafor's ``cumul.rma.uni``.

    Studies enter in increasing ``order``: a numeric column of the data ``rma`` was given, or
    one number per study of the model (ties keep the data's order, as R's ``order()`` does).
    Row j is the model of the first j studies: ``k``, the ``study`` added and its 0-based
    ``position`` among the model's studies, then the columns of ``leave1out``. ``transf`` as in
    ``predict``. Models with moderators are refused, as metafor refuses them.

    Parameters
    ----------
    result : MetaResult
        The result of :func:`rma` for a model without moderators: metafor's ``x``.
    order : str or array_like of float
        The name of a numeric column of the data given to :func:`rma`, or one finite number
        per study of the model: metafor's ``order``. Required (metafor's default is the data's
        order).
    transf : {"exp", "ilogit", "ipft.hm", "iarcsin", "ztor", "natural"}, optional
        Back-transform of the estimates and bounds, as in :func:`predict`: metafor's
        ``transf``. Default None: the model scale.
    **targs : array_like
        Only ``ni``: the studies' sample sizes for ``transf="ipft.hm"`` (default: the model's
        ``ni``), metafor's ``targs=list(ni=)``. Any other name raises InputError.

    Returns
    -------
    pandas.DataFrame
        One row per step: ``k, study, estimate, std_error, statistic, p_value, conf_low,
        conf_high, q, q_pvalue, tau2, i2, h2, position``. Its provenance is in
        ``attrs["ketabridge_provenance"]`` (read it with :func:`provenance_of`).

    Raises
    ------
    InputError
        ``result`` is not a plain :func:`rma` result or has moderators; ``order`` is not one
        finite number per study (or names a column the result does not hold); an unknown
        transform or keyword; ``ipft.hm`` without sample sizes.
    MetaforError
        metafor's ``cumul`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    result = _without_moderators(result, "cumul")
    keys = _order_values(result, order)
    transform, sizes = resolve_transform(result.spec, transf, targs, "cumul")
    reply = call_entry("kb_cumul", result.spec.to_r(), keys, transform, sizes)
    return tidy_frame(reply, schema.CUMUL)


def fsn(
    data: TableLike | MetaResult,
    yi: str = "yi",
    vi: str | None = "vi",
    *,
    sei: str | None = None,
    type: str = "Rosenthal",
    alpha: float = 0.05,
    target: float | None = None,
    weighted: bool = False,
    na_action: str = "omit",
    seed: int | None = None,
    iters: int | None = None,
) -> BiasTestResult:
    """Fail-safe N: metafor's ``fsn`` (3.8-1), types ``Rosenthal``, ``Orwin`` and ``Rosenberg``,
    and the random-effects fail-safe N: ``REM`` (metafor 3.8-1 to 4.2, by simulation) or its
    successor ``General`` (metafor >= 4.4).

    ``data`` is a table with columns ``yi`` and ``vi`` (or ``sei``), or the result of
    ``ketabridge.rma`` (its studies' yi and vi). ``alpha`` is the target significance level
    (Rosenthal, Rosenberg); ``target`` the target average effect of Orwin's method (metafor's
    default: half the observed one); ``weighted=True`` makes Orwin's average inverse-variance
    weighted (as metafor 3.8-1; later metafor versions weight whenever vi is given). The glance
    row: ``type, fail_safe_n, alpha, p_value, average_effect, target``.

    Parameters
    ----------
    data : pandas.DataFrame, pyarrow.Table, pyarrow.RecordBatch, str, os.PathLike or MetaResult
        A table (or the path of a CSV, Parquet, Feather or Arrow IPC file) with one row per
        study, or a plain :func:`rma` result: metafor's ``data``.
    yi : str, default "yi"
        Column of effect sizes: metafor's ``yi`` (``x`` since 4.4). Ignored for a MetaResult.
    vi : str or None, default "vi"
        Column of sampling variances: metafor's ``vi``. Ignored when ``sei`` is given, and for a
        MetaResult.
    sei : str, optional
        Column of standard errors, used instead of ``vi``: metafor's ``sei``.
    type : {"Rosenthal", "Orwin", "Rosenberg", "REM", "General"}, default "Rosenthal"
        The fail-safe N method: metafor's ``type``, with the same default. ``"REM"`` (the number
        of null studies that brings the random-effects estimate down to ``target``, found by
        simulation) exists in metafor 3.8-1 to 4.2 only; 4.4 replaced it with ``"General"``.
    alpha : float, default 0.05
        Target significance level, in (0, 1): metafor's ``alpha``.
    target : float, optional
        Target average effect of Orwin's method: metafor's ``target``. Default None:
        metafor's (half the observed average effect).
    weighted : bool, default False
        Weight Orwin's average by inverse variances: metafor's ``weighted`` (3.8-1).
    na_action : {"omit", "fail"}, default "omit"
        Rows with a missing ``yi`` or variance: ``"omit"`` leaves them out with a
        MissingValuesWarning, ``"fail"`` raises InputError. No metafor argument.
    seed : int, optional
        R's random seed (``set.seed``, 0 to 2^31 - 1) for the simulating types REM and General,
        shown in the provenance's R call. Default None: one is drawn in Python and recorded.
        Ignored by the other types.
    iters : int, optional
        Simulated data sets per step of REM's search (metafor's undocumented ``iters``, default
        10^5, which takes about a minute). Default None: metafor's. REM only.

    Returns
    -------
    BiasTestResult
        ``glance()`` one row: ``type, fail_safe_n, alpha, p_value`` (NaN for Orwin),
        ``average_effect`` (NaN for Rosenthal), ``target`` (Orwin); and ``provenance``.

    Raises
    ------
    InputError
        An unknown type, or REM or General on a metafor without it; ``alpha`` outside (0, 1); a non-finite ``target``; a column that is
        missing, not numeric or infinite; variances <= 0; no complete study; a MetaResult not
        from :func:`rma`.
    MetaforError
        metafor's ``fsn`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    check_choice(type, FSN_TYPES, "type")
    check_release(type, "fsn_type")
    simulated = type in ("REM", "General")
    if type == "REM":
        _require_rem()
    if iters is not None and (type != "REM" or not _whole(iters) or iters < 1):
        raise InputError(f"iters is a whole number >= 1 for type='REM' only, not {iters!r} (type {type!r})")
    if seed is not None and (not _whole(seed) or not 0 <= seed <= 2**31 - 1):
        raise InputError(f"seed must be a whole number from 0 to {2**31 - 1}, not {seed!r}")
    if simulated and seed is None:
        seed = secrets.randbelow(2**31)
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be between 0 and 1, not {alpha!r}")
    if target is not None and not np.isfinite(target):
        raise InputError(f"target must be a finite number, not {target!r}")
    effects, variances = _effects(data, yi, vi, sei, na_action)
    reply = call_entry(
        "kb_fsn",
        effects,
        variances,
        type,
        float(alpha),
        None if target is None else float(target),
        bool(weighted),
        int(seed) if simulated else None,
        None if iters is None else int(iters),
    )
    return bias_test_result("fsn", reply.value, Provenance.from_reply(reply))


def _require_rem() -> None:
    """fsn's type "REM" is 3.8-1's to 4.2's: 4.4 replaced it with "General"."""
    from ketabridge.bridge.compat import version_tuple
    from ketabridge.bridge.session import installed_metafor_version

    running = installed_metafor_version()
    if version_tuple(running)[:2] > FSN_REM_UNTIL:
        raise InputError(
            f"fsn type 'REM' is metafor 3.8-1 to {FSN_REM_UNTIL[0]}.{FSN_REM_UNTIL[1]}'s; this R has metafor {running}, "
            "whose random-effects fail-safe N is type='General'"
        )


def _whole(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _effects(data, yi: str, vi: str | None, sei: str | None, na_action: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(data, MetaResult):
        spec = plain_model_result(data, "fsn").spec
        return spec.yi, spec.vi if spec.vi is not None else spec.sei**2
    table = to_arrow(data)
    variance_column = sei or vi
    if variance_column is None:
        raise InputError("give the sampling variances (vi=) or standard errors (sei=)")
    columns = {yi: validate.numeric_column(table, yi), variance_column: validate.numeric_column(table, variance_column)}
    keep = validate.complete_rows(columns, na_action)
    effects, spread = (columns[name][keep] for name in (yi, variance_column))
    validate.check_finite(yi, effects)
    validate.check_positive(variance_column, spread, "standard errors" if sei else "variances")
    if keep.sum() < 1:
        raise InputError("fsn needs at least one study with complete data")
    return effects, spread**2 if sei else spread


def _without_moderators(result: object, what: str) -> MetaResult:
    result = plain_model_result(result, what)
    if result.spec.mods:
        raise InputError(f"{what} needs a model without moderators (metafor's {what} refuses them)")
    return result


def _order_values(result: MetaResult, order) -> np.ndarray:
    """One finite number per study of the model, from a column name or given directly."""
    if isinstance(order, str):
        if result.source is None:
            raise InputError(f"order={order!r} names a column, but this result does not hold its data; pass the values")
        keys = validate.numeric_column(result.source, order)[result.spec.source_rows]
        name = order
    else:
        keys = np.asarray(order, dtype=float)
        name = "order"
        if keys.shape != (result.spec.k,):
            raise InputError(
                f"order must have one value per study of the model ({result.spec.k}), not shape {keys.shape}"
            )
    bad = np.flatnonzero(~np.isfinite(keys))
    if bad.size:
        rows = result.spec.source_rows[bad] if isinstance(order, str) else bad  # input rows for a column
        raise InputError(
            f"{name!r} must hold a finite number for every study, but {validate.rows_text(rows, ('is', 'are'))} not"
        )
    return keys
