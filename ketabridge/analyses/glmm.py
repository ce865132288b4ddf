"""Generalized linear mixed models for counts: metafor's rma.glmm, and the R packages its models need."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from ketabridge.analyses import validate
from ketabridge.analyses.count_result import CountModelResult, count_model_result
from ketabridge.analyses.counts import LAYOUT_OF_MEASURE, check_estimable, checked_counts, warn_zero_cells
from ketabridge.analyses.r_packages import require_r_packages
from ketabridge.analyses.spec import percent_level
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError
from ketabridge.io import TableLike, to_arrow
from ketabridge.options import check_choice

GLMM_MEASURES = ("OR", "RR", "RD", "IRR", "PLO", "PR", "PLN", "IRLN")  # rma.glmm's in metafor 3.8-1
GLMM_MODELS = ("UM.FS", "UM.RS", "CM.EL", "CM.AL")
GLMM_METHODS = ("ML", "EE", "FE", "CE")
GLMM_TESTS = ("z", "t")
# Measures whose natural scale is not the model's (the link's inverse).
_TRANSFORM = {"OR": "exp", "RR": "exp", "IRR": "exp", "PLN": "exp", "IRLN": "exp", "PLO": "ilogit"}


def glmm_packages(measure: str, model: str, method: str) -> tuple[str, ...]:
    """The R packages metafor 3.8-1's rma.glmm needs for this fit (its own checks, R/rma.glmm.r
    "check that the required packages are installed", with its default control settings): lme4
    for the random-effects fits (and every UM.RS fit); numDeriv and BiasedUrn for the exact
    conditional (non-central hypergeometric) model of odds ratios."""
    needed = []
    random_effects = method == "ML"
    if (measure in ("OR", "RR", "RD", "IRR") and (random_effects or model == "UM.RS")) or (
        measure in ("PLO", "PR", "PLN", "IRLN") and random_effects
    ):
        needed.append("lme4")
    if measure == "OR" and model == "CM.EL":
        needed += ["numDeriv", "BiasedUrn"]
    return tuple(needed)


def rma_glmm(
    data: TableLike,
    measure: str,
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
    xi: str | None = None,
    mi: str | None = None,
    ti: str | None = None,
    ni: str | None = None,
    model: str = "UM.FS",
    method: str = "ML",
    mods: Sequence[str] | None = None,
    test: str = "z",
    level: float = 95,
    nAGQ: int = 7,  # noqa: N803 (metafor's name)
    control: Mapping[str, object] | None = None,
    slab: str | None = None,
    na_action: str = "omit",
) -> CountModelResult:
    """Generalized linear mixed model for counts: metafor's ``rma.glmm``.

    Two-group 2x2 tables (OR, RR, RD: ``ai, bi, ci, di`` or ``ai, ci, n1i, n2i``), two-group
    events and person-time (IRR: ``x1i, x2i, t1i, t2i``), one group's events (PLO, PR, PLN:
    ``xi`` with ``ni`` or ``mi``) or events and person-time (IRLN: ``xi, ti``). The models are
    Stijnen, Hamza and Ozdemir's (2010): unconditional with fixed (``"UM.FS"``) or random
    (``"UM.RS"``) study effects, conditional with exact (``"CM.EL"``) or approximate
    (``"CM.AL"``) likelihood. A required R package that is missing raises RNotAvailableError
    naming it (see ``ketabridge.analyses.glmm.glmm_packages``). Double-zero studies are left out of the fit by
    metafor (its drop00); a ``ZeroCellWarning`` names them.

    Parameters
    ----------
    data : pandas.DataFrame, pyarrow.Table, pyarrow.RecordBatch, str or os.PathLike
        One row per study: a table, or the path of a CSV, Parquet, Feather or Arrow IPC file.
    measure : {"OR", "RR", "RD", "IRR", "PLO", "PR", "PLN", "IRLN"}
        The outcome measure: metafor's ``measure`` (RR, RD, PR, PLN are experimental in metafor).
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
    xi : str, optional
        Column of events (PLO, PR, PLN, IRLN): metafor's ``xi``.
    mi : str, optional
        Column of non-events (instead of ``ni``): metafor's ``mi``.
    ti : str, optional
        Column of person-time (IRLN): metafor's ``ti``.
    ni : str, optional
        Column of group sizes (PLO, PR, PLN): metafor's ``ni``.
    model : {"UM.FS", "UM.RS", "CM.EL", "CM.AL"}, default "UM.FS"
        The model type for two-group data: metafor's ``model``.
    method : {"ML", "EE", "FE", "CE"}, default "ML"
        ML fits the random-effects model, the others the equal-effects model: metafor's ``method``.
    mods : list of str, optional
        Numeric moderator columns (a matrix, no formulas): metafor's ``mods``.
    test : {"z", "t"}, default "z"
        metafor's ``test``.
    level : float, default 95
        Confidence level in percent: metafor's ``level``.
    nAGQ : int, default 7
        Quadrature points of lme4's glmer: metafor's ``nAGQ`` (metafor sets 1 for UM.RS, with a
        warning).
    control : dict, optional
        metafor's ``control`` (e.g. ``{"optimizer": "nlminb"}``), values numbers, strings or
        True/False.
    slab : str, optional
        Column of study labels: metafor's ``slab``.
    na_action : {"omit", "fail"}, default "omit"
        Rows with a missing count or moderator: left out with a MissingValuesWarning, or InputError.

    Returns
    -------
    CountModelResult
        ``glance()`` one row (schema.COUNT_GLANCE: ``model`` the GLMM type, ``tau2``,
        ``sigma2`` (UM.RS), ``q`` and ``q_lrt`` (the Wald and likelihood-ratio tests for
        heterogeneity), ``qm``, the intercept with its natural-scale values and prediction
        interval); ``tidy()`` one row per coefficient; ``augment()`` one row per study
        (``weight`` is NaN: metafor 3.8 has no weights for these models); ``provenance``.

    Raises
    ------
    InputError
        An unknown measure, model, method or test; count columns missing, incomplete for the
        measure, not numeric, negative or infinite; fewer than 2 studies; no event at all.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old, or an R package the model needs (lme4,
        numDeriv, BiasedUrn).
    MetaforError
        metafor's ``rma.glmm`` stopped with an error (ConvergenceError when the fit did not
        converge) or gave no estimate.
    """
    check_choice(measure, GLMM_MEASURES, "measure")
    check_choice(model, GLMM_MODELS, "model")
    check_choice(method, GLMM_METHODS, "method")
    check_choice(test, GLMM_TESTS, "test")
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, numbers.Integral) or nAGQ < 1:
        raise InputError(f"nAGQ must be a whole number >= 1, not {nAGQ!r}")
    layout = LAYOUT_OF_MEASURE[measure]
    given = dict(
        ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i, x1i=x1i, x2i=x2i, t1i=t1i, t2i=t2i, xi=xi, mi=mi, ti=ti, ni=ni
    )
    table = to_arrow(data)
    mods = [mods] if isinstance(mods, str) else list(mods or ())
    counts = checked_counts(table, (layout,), given, slab, na_action)
    moderators = {}
    if mods:
        checked = validate.checked_columns(table, [(name, validate.FINITE) for name in mods])
        moderators = {name: checked[name][counts.rows] for name in mods}
        bad = np.isnan(np.column_stack(list(moderators.values()))).any(axis=1)
        if bad.any():
            raise InputError(
                f"moderators {', '.join(mods)} have missing values in {validate.rows_text(counts.rows[bad])}"
            )
    check_estimable(counts, measure, "the GLMM")
    options = {
        "model": model,
        "method": method,
        "test": test,
        "level": percent_level(level),
        "nAGQ": int(nAGQ),
        "control": _checked_control(control),
    }
    packages = require_r_packages(
        glmm_packages(measure, model, method), f"rma.glmm(measure={measure!r}, model={model!r})"
    )
    if layout in ("table", "person_time"):
        warn_zero_cells(counts, "metafor leaves them out of the model fit (its drop00)")
    reply = call_entry(
        "kb_rma_glmm",
        counts.values,
        measure,
        moderators or None,
        {name: value for name, value in options.items() if value is not None},
        list(counts.labels),
        _TRANSFORM.get(measure, ""),
        counts.columns,
    )
    return count_model_result("rma_glmm", reply, counts, r_packages=packages)


def _checked_control(control: Mapping[str, object] | None) -> dict | None:
    if not control:
        return None
    for key, value in control.items():
        if not isinstance(key, str) or not isinstance(value, (numbers.Real, str)):
            raise InputError(f"control settings are names with a number, string or True/False: {key!r}={value!r}")
    return dict(control)
