"""Intervals and back-transforms of a fitted model: predict, confint, and the natural scale."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ketabridge import schema
from ketabridge.analyses.fitted import fitted_model, is_multilevel
from ketabridge.analyses.newmods import new_moderators
from ketabridge.analyses.results import MetaResult, tidy_frame
from ketabridge.analyses.spec import ModelSpec, percent_level
from ketabridge.analyses.transforms import TRANSFORMS, TRANSFORMS_NEEDING_NI, natural_transform
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError
from ketabridge.options import EQUAL_EFFECTS_METHODS, check_choice, require_metafor

NATURAL = "natural"  # transf= value meaning "the measure's own back-transform"

# predict.rma's kinds of prediction interval: its `predtype` (metafor >= 5.0), which earlier
# releases take as `pi.type` through `...` (3.8-1's predict.rma.r); the same values in both.
PREDTYPES = ("default", "simple", "riley", "t")
ADJUST_SINCE = (4, 8)  # predict.rma gained `adjust` (Bonferroni-adjusted bounds) in 4.8-0
# Options of predict.rma (or of other functions) that ketabridge does not pass on: named here so
# the error says so instead of letting metafor ignore or misread them.
CONFINT_TYPES = ("QP", "GENQ", "PL")  # confint.rma.uni's `type` (of the tau^2 interval), 3.8-1
NOT_PASSED_ON = ("pi.type", "pi_type", "hetvar", "prob", "newscale", "addz")


def predict(
    result: MetaResult,
    level: float | None = None,
    transf: str | None = None,
    predtype: str | None = None,
    adjust: bool = False,
    newmods=None,
    **targs,
) -> pd.DataFrame:
    """Pooled effect with confidence and prediction intervals: metafor's ``predict.rma``.

    One row (``estimate, std_error, conf_low, conf_high, pi_low, pi_high``) for a model without
    moderators; with moderators, one row per study (its fitted value), as metafor does without
    ``newmods``, or one per row of ``newmods`` (see ``ketabridge.analyses.newmods``). ``level`` defaults to the model's. ``transf`` is one of
    ``exp, ilogit, ipft.hm, iarcsin, ztor`` (metafor's ``transf.*`` functions, by name), or
    ``"natural"`` for the back-transform of the measure ``escalc`` recorded (``exp`` for RR, OR,
    ROM..., ``ilogit`` for PLO, ``ipft.hm`` for PFT; none for PR, MD...); ``None`` keeps the model
    scale, as metafor does. ``ipft.hm`` takes ``ni`` from the model (or ``ni=`` here). Prediction
    intervals are metafor's: normal quantiles, or t(k - p) under ``test="knha"`` or ``"t"``; after a
    back-transform ``std_error`` is NaN. ``predtype`` chooses the kind of prediction interval
    (``default, simple, riley, t``: metafor's ``predtype``, its ``pi.type`` before 5.0);
    ``adjust=True`` Bonferroni-adjusts the bounds (metafor >= 4.8). Any other keyword raises
    InputError, where metafor would ignore it with a warning.

    Parameters
    ----------
    result : MetaResult or MultilevelResult
        The result of :func:`rma` (not of ``trimfill``, nor a SubgroupResult) or of
        :func:`rma_mv` (not of ``robust``): metafor's ``object``.
    level : float, optional
        Confidence level in percent (below 1: a proportion): metafor's ``level``. Default
        None: the model's.
    transf : {"exp", "ilogit", "ipft.hm", "iarcsin", "ztor", "natural"}, optional
        Back-transform of the estimate and bounds: metafor's ``transf`` (``exp``,
        ``transf.ilogit``, ``transf.ipft.hm``, ``transf.iarcsin``, ``transf.ztor``, by name;
        ``"natural"`` for the measure's own). Default None: the model scale.
    predtype : {"default", "simple", "riley", "t"}, optional
        The kind of prediction interval: metafor's ``predtype`` (``pi.type`` before 5.0).
        Default None: metafor's default.
    adjust : bool, default False
        Bonferroni-adjust the interval bounds: metafor's ``adjust`` (metafor >= 4.8).
    newmods : pandas.DataFrame or array_like, optional
        Moderator values to predict at: metafor's ``newmods``. For a model fitted with a
        formula, a DataFrame with exactly its moderator columns (categories as labels it was
        fitted with), turned into model-matrix rows by the fitted formula's own terms (its
        factor levels, ``scale()`` centring, ``poly()`` coefficients); for a model of moderator
        columns, a DataFrame of those columns. Or, for any model, numbers as metafor takes
        them: one column per coefficient after the intercept (a leading column of 1s for the
        intercept is allowed), a 1-D array being values of the only moderator or one row.
        Default None.
    **targs : array_like
        Only ``ni``: the studies' sample sizes for ``transf="ipft.hm"`` (default: the model's
        ``ni``), metafor's ``targs=list(ni=)``. Any other name raises InputError.

    Returns
    -------
    pandas.DataFrame
        Columns ``estimate, std_error, conf_low, conf_high, pi_low, pi_high`` (float64): one
        row for a model without moderators, one per study with moderators, one per row of
        ``newmods`` (indexed as its DataFrame) when given. Its provenance
        is in ``attrs["ketabridge_provenance"]`` (read it with :func:`provenance_of`).

    Raises
    ------
    InputError
        ``result`` is not a plain :func:`rma` result; a ``level`` outside (0, 100); an unknown
        transform, predtype or keyword; ``adjust=True`` with metafor < 4.8; ``ipft.hm`` without
        sample sizes; ``newmods`` for a model without moderators, with missing or unused
        columns, levels the model was not fitted with, or the wrong number of columns.
    MetaforError
        metafor's ``predict.rma`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    result = result if is_multilevel(result) else plain_model_result(result, "predict")
    transform, sizes = resolve_transform(result.spec, transf, targs, "predict")
    if predtype is not None:
        check_choice(predtype, PREDTYPES, "predtype")
    if not isinstance(adjust, bool):
        raise InputError(f"adjust must be True or False, not {adjust!r}")
    if adjust:
        require_metafor(ADJUST_SINCE, "predict(adjust=True)")
    new, index = (None, None) if newmods is None else new_moderators(result, newmods)
    model = fitted_model(result, "predict")
    reply = call_entry("kb_predict", model, _level(result, level), transform, sizes, predtype, adjust, new)
    table = tidy_frame(reply, schema.PREDICT)
    if index is not None and len(index) == len(table):
        table.index = index
    return table


def confint(
    result: MetaResult, level: float | None = None, *, fixed: bool = False, random: bool = True, type: str | None = None
) -> pd.DataFrame:
    """tau^2, tau, I^2 (percent) and H^2 with Q-profile confidence intervals, and with
    ``fixed=True`` the model coefficients' intervals: metafor's ``confint.rma.uni``.

    Rows ``term`` = ``tau2, tau, i2, h2``; with moderators they describe the residual
    heterogeneity. These need a model with a heterogeneity parameter (not EE, FE or CE);
    ``random=False`` leaves them out. ``fixed=True`` adds one row per coefficient first, with
    metafor's Wald-type intervals (metafor offers no profile-likelihood intervals for the
    coefficients of an rma.uni model; ``type`` applies to tau^2 only).

    Parameters
    ----------
    result : MetaResult
        The result of :func:`rma` with a random-effects method (not of ``trimfill``, nor a
        SubgroupResult): metafor's ``object``.
    level : float, optional
        Confidence level in percent (below 1: a proportion): metafor's ``level``. Default
        None: the model's.
    fixed : bool, default False
        Add the coefficients' (Wald-type) intervals: metafor's ``fixed``.
    random : bool, default True
        Give the heterogeneity intervals: metafor's ``random``.
    type : {"QP", "GENQ", "PL"}, optional
        How the tau^2 interval is built: Q-profile, generalized Q (``method="GENQ"`` models)
        or profile likelihood: metafor's ``type``. Default None: metafor's (QP; GENQ for GENQ
        models).

    Returns
    -------
    pandas.DataFrame
        With ``fixed=True`` one row per coefficient (``term`` its name), then (unless
        ``random=False``) four rows, ``term`` = ``tau2, tau, i2, h2``, with columns ``term,
        estimate, conf_low, conf_high``. Its provenance is in ``attrs["ketabridge_provenance"]`` (read it with
        :func:`provenance_of`).

    Raises
    ------
    InputError
        ``result`` is not a plain :func:`rma` result; heterogeneity intervals asked of an EE, FE
        or CE model; neither ``fixed`` nor ``random``; an unknown ``type``; ``level`` outside
        (0, 100).
    MetaforError
        metafor's ``confint.rma.uni`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    result = plain_model_result(result, "confint")
    for name, flag in (("fixed", fixed), ("random", random)):
        if not isinstance(flag, bool):
            raise InputError(f"{name} must be True or False, not {flag!r}")
    if not (fixed or random):
        raise InputError("confint with fixed=False and random=False has nothing to give; set one of them")
    if random and result.spec.method in EQUAL_EFFECTS_METHODS:
        raise InputError(
            f"confint needs a random-effects model; method {result.spec.method!r} has no tau^2 (for the "
            "coefficients' intervals alone pass fixed=True, random=False)"
        )
    if type is not None:
        check_choice(type, CONFINT_TYPES, "type")
    reply = call_entry("kb_confint", result.spec.to_r(), _level(result, level), fixed, random, type)
    return tidy_frame(reply, schema.CONFINT)


def resolve_transform(
    spec: ModelSpec, transf: str | None, targs: dict, what: str
) -> tuple[str | None, np.ndarray | None]:
    """The allow-listed transform name for R, and the sample sizes ipft.hm needs (else None)."""
    _check_targs(targs, what)
    if transf is None:
        return None, None
    check_choice(transf, TRANSFORMS + (NATURAL,), "transf")
    name = natural_transform(spec.measure) if transf == NATURAL else transf
    if name not in TRANSFORMS_NEEDING_NI and "ni" in targs:
        raise InputError(f"ni= is only used by transf='ipft.hm', not {name!r}")
    sizes = transform_sizes(
        spec,
        name,
        targs.get("ni"),
        what="transf 'ipft.hm' (inverse Freeman-Tukey)",
        remedy="fit rma with ni='<column>' (escalc adds one), or pass ni= here",
    )
    return name, sizes


def natural_scale(spec: ModelSpec) -> tuple[str | None, np.ndarray | None]:
    """The transform (and sample sizes) that augment()'s natural-scale columns use: metafor's
    ``summary.escalc`` with the measure's transform. PFT without sample sizes has no inverse, so
    those columns stay on the model scale."""
    name = natural_transform(spec.measure)
    sizes = transform_sizes(spec, name)
    if name in TRANSFORMS_NEEDING_NI and sizes is None:
        return None, None
    return name, sizes


def transform_sizes(
    spec: ModelSpec, transform: str | None, given=None, *, what: str | None = None, remedy: str = ""
) -> np.ndarray | None:
    """The sample sizes `transform` needs (ipft.hm): `given`, else the model's ni; None when it needs none.

    When it needs them and has none, raise InputError("<what> needs the studies' sample sizes:
    <remedy>"), or return None when no `what` is given (the caller then keeps the model scale).
    """
    if transform not in TRANSFORMS_NEEDING_NI:
        return None
    sizes = spec.ni if given is None else given
    if sizes is None:
        if what is None:
            return None
        raise InputError(f"{what} needs the studies' sample sizes: {remedy}")
    return _sizes(sizes)


def _check_targs(targs: dict, what: str) -> None:
    unknown = sorted(set(targs) - {"ni"})
    if not unknown:
        return
    named = [name for name in unknown if name in NOT_PASSED_ON]
    note = f" ({', '.join(named)}: metafor's, not passed on by ketabridge)" if named else ""
    options = "level, transf, predtype, adjust" if what == "predict" else "level, transf"
    raise InputError(
        f"{what}() has no option {', '.join(repr(name) for name in unknown)}{note}; metafor would ignore it "
        f"or misread it, so ketabridge refuses. Options: {options}, and ni (for transf='ipft.hm')"
    )


def _sizes(values) -> np.ndarray:
    if isinstance(values, str):
        raise InputError(
            f"ni must be the studies' sample sizes (numbers), not a column name ({values!r}); "
            "fit rma with ni='<column>' to use a column"
        )
    try:
        sizes = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"ni must be the studies' sample sizes (numbers), not {values!r}") from None
    bad = np.flatnonzero(~(sizes > 0))
    if bad.size:
        raise InputError(f"sample sizes ni must be > 0, but rows {', '.join(map(str, bad[:5]))} are not")
    return sizes


def _level(result: MetaResult, level: float | None) -> float:
    return result.spec.level if level is None else percent_level(level)


def plain_model_result(result: object, what: str) -> MetaResult:
    """A plain rma() result; trim-and-fill and subgroup results refit differently, so refuse them."""

    if not isinstance(result, MetaResult) or result.kind != "rma":
        raise InputError(f"{what} takes the result of ketabridge.rma(), not {type(result).__name__}")
    return result
