"""The random effects of a fitted model: metafor's ``blup``, ``ranef`` and ``profile`` (the
profile likelihood of a variance component, as a table and as metafor's plot)."""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np
import pandas as pd

from ketabridge import schema
from ketabridge.analyses.fitted import fitted_model, is_multilevel
from ketabridge.analyses.plots import draw_into, plot_options
from ketabridge.analyses.results import MetaResult, tidy_frame
from ketabridge.analyses.spec import percent_level
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError
from ketabridge.options import EQUAL_EFFECTS_METHODS, require_metafor

MAX_STEPS = 1000  # each step refits the model
STEP_VALUES_SINCE = (4, 6)  # profile()'s steps took the values themselves from metafor 4.6-0 (NEWS.md)
# profile.rma.mv's arguments naming a kind of component (components() calls them "<kind>.<i>",
# or the bare kind for a model's single correlation); correlations are profiled within [-1, 1].
COMPONENT_KINDS = ("sigma2", "tau2", "rho", "gamma2", "phi")
CORRELATIONS = ("rho", "phi")


def blup(result: MetaResult, level: float | None = None) -> pd.DataFrame:
    """Best linear unbiased predictions of the studies' true effects: metafor's ``blup.rma.uni``.

    Each study's fitted value plus its predicted random effect (empirical Bayes estimates),
    with prediction intervals. metafor has no ``blup`` for rma.mv models (up to 5.2 it is
    ``blup.rma.uni`` only): for an :func:`rma_mv` result use :func:`ranef` (each random term's
    predicted effects) with :func:`predict`.

    Parameters
    ----------
    result : MetaResult
        A fitted model (:func:`rma`): metafor's ``x``.
    level : float, optional
        Interval level in percent (below 1: a proportion): metafor's ``level``. Default None:
        the model's.

    Returns
    -------
    pandas.DataFrame
        One row per study: ``study``, ``estimate``, ``std_error``, ``pi_low``, ``pi_high``.
        Provenance in ``attrs["ketabridge_provenance"]``.

    Raises
    ------
    InputError
        ``result`` is not a fitted :func:`rma` model (an :func:`rma_mv` one included: metafor
        has no blup for it); ``level`` outside (0, 100).
    MetaforError
        metafor's ``blup`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    if is_multilevel(result):
        raise InputError(
            "blup() is metafor's blup.rma.uni, which rma.mv models do not have (metafor 3.8 to 5.2); "
            "use ranef() for the predicted random effects of each random term, and predict() for the fitted values"
        )
    return _predicted(result, "blup", level)


def ranef(result: MetaResult, level: float | None = None) -> pd.DataFrame:
    """Predicted random effects: metafor's ``ranef.rma.uni`` and ``ranef.rma.mv``.

    For an :func:`rma` model, the deviation of each study's true effect from its fitted value
    (``blup`` minus the fitted value), with prediction intervals; zero for every study when
    tau^2 is 0. For an :func:`rma_mv` model, metafor's table of each random term (one per
    ``~ 1 | group`` level of nesting, and one per ``~ inner | outer`` term), stacked: the
    predicted random effect of each level of the term.

    Parameters
    ----------
    result : MetaResult or MultilevelResult
        A fitted model (:func:`rma` or :func:`rma_mv`): metafor's ``object``.
    level : float, optional
        Interval level in percent (below 1: a proportion): metafor's ``level``. Default None:
        the model's.

    Returns
    -------
    pandas.DataFrame
        For an :func:`rma` model, one row per study: ``study``, ``estimate``, ``std_error``,
        ``pi_low``, ``pi_high``. For an :func:`rma_mv` model, one row per level of each random
        term: ``term`` (metafor's name of its table: ``"district"``, ``"district/school"``,
        ``"outcome | trial"``), ``level`` (the row's label, as metafor gives it), ``estimate``,
        ``std_error``, ``pi_low``, ``pi_high``. Provenance in ``attrs["ketabridge_provenance"]``.

    Raises
    ------
    InputError
        ``result`` is not a fitted model ranef takes; ``level`` outside (0, 100).
    MetaforError
        metafor's ``ranef`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    if is_multilevel(result):
        model = fitted_model(result, "ranef")
        shown_level = result.spec.level if level is None else percent_level(level)
        return tidy_frame(call_entry("kb_ranef_mv", model, shown_level), schema.RANEF_MV)
    return _predicted(result, "ranef", level)


def profile(
    result: MetaResult,
    *,
    component: str | list[str] | None = None,
    steps: int | list[float] = 20,
    xlim: tuple[float, float] | None = None,
    path: str | Path | None = None,
    width: float = 6.0,
    height: float = 5.0,
    dpi: int = 150,
) -> pd.DataFrame:
    """Profile log-likelihood of variance components: metafor's ``profile.rma.uni`` (tau^2)
    and ``profile.rma.mv`` (sigma^2, tau^2, rho, gamma^2, phi, as the model has them).

    The model is refitted with the component held at each value and its (restricted)
    log-likelihood recorded; with ``path``, metafor's own profile plot is drawn into that file
    (PNG, SVG or PDF by suffix) as well, one panel per component.

    Parameters
    ----------
    result : MetaResult or MultilevelResult
        A fitted random-effects model (:func:`rma`, not EE, FE or CE; or :func:`rma_mv`):
        metafor's ``fitted``.
    component : str or list of str, optional
        For an :func:`rma_mv` model, which components to profile, by their ``term`` in
        ``result.components()`` (``"sigma2.1"``, ``"tau2.2"``, ``"rho"``, ...) or by kind
        (``"sigma2"``: each sigma^2): metafor's ``sigma2=``, ``tau2=``, ``rho=``, ``gamma2=``,
        ``phi=``. Default None: every component the model estimates (not those fixed), as
        metafor. An :func:`rma` model has one, tau^2.
    steps : int or list of float, default 20
        How many values to profile at, from 2 to 1000, evenly spread over ``xlim`` (metafor's
        ``steps``); or the values themselves (variances >= 0, correlations in [-1, 1];
        metafor >= 4.6).
    xlim : (float, float), optional
        The range of values: metafor's ``xlim`` (for an :func:`rma_mv` model, with one
        component chosen). Default None: metafor's (for tau^2 of :func:`rma`, around the
        estimate's confidence interval; for :func:`rma_mv`, a quarter to four times a variance,
        a correlation +- 0.5).
    path : str or pathlib.Path, optional
        Also draw metafor's profile plot into this file, in an existing folder; its suffix
        (``.png``, ``.svg``, ``.pdf``) picks the R device. Default None: no plot.
    width : float, default 6.0
        Plot width in inches, in (0, 100].
    height : float, default 5.0
        Plot height in inches, in (0, 100].
    dpi : int, default 150
        Resolution of a PNG, from 10 to 2400.

    Returns
    -------
    pandas.DataFrame
        One row per value and component: ``component`` (``"tau2"`` for :func:`rma`; the
        ``term`` of ``components()`` for :func:`rma_mv`), ``value``, ``loglik``, and the
        fitted model's ``estimate`` of the component and ``max_loglik`` (the log-likelihood at
        the estimate) on every row. Provenance in ``attrs["ketabridge_provenance"]``.

    Raises
    ------
    InputError
        ``result`` is not a fitted random-effects model; ``component`` with an :func:`rma`
        model, naming no component of the model (the message lists them) or a fixed one;
        ``steps`` or ``xlim`` out of range; ``xlim`` with several components; ``steps`` as
        values with metafor < 4.6;
        an unknown suffix, missing folder, or size out of range for the plot.
    MetaforError
        metafor's ``profile`` or R's device stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    model = fitted_model(result, "profile")
    chosen = None
    if is_multilevel(result):
        chosen = _components(result, component)
        kinds = set(chosen["arg"])
        if xlim is not None and len(chosen["term"]) > 1:
            raise InputError(
                f"xlim applies to one component; choose it with component= (one of: {', '.join(chosen['term'])})"
            )
        steps_value = _steps(steps, correlation=kinds <= set(CORRELATIONS), mixed=bool(kinds & set(CORRELATIONS)))
        limits = None if xlim is None else _xlim(xlim, correlation=bool(kinds & set(CORRELATIONS)))
    else:
        if component is not None and component != "tau2":
            raise InputError(f"an rma() model has one variance component to profile, tau2, not {component!r}")
        if result.spec.method in EQUAL_EFFECTS_METHODS:
            raise InputError(
                f"profile() needs a variance component to profile; method {result.spec.method!r} has no tau^2"
            )
        steps_value = _steps(steps)
        limits = None if xlim is None else _xlim(xlim)
    if path is None:
        return tidy_frame(call_entry("kb_profile", model, steps_value, limits, None, chosen), schema.PROFILE)
    plot = plot_options(result, path, width, height, dpi, back_transform=False)
    reply = draw_into(plot, lambda options: call_entry("kb_profile", model, steps_value, limits, options, chosen))
    return tidy_frame(reply, schema.PROFILE)


def _components(result, component) -> dict:
    """profile.rma.mv's argument, position and our term name for each chosen component."""
    table = result.components()
    terms = [str(term) for term in table["term"]]
    fixed = dict(zip(terms, table["fixed"].astype(bool)))
    estimated = [term for term in terms if not fixed[term]]
    if component is None:
        chosen = estimated
        if not chosen:
            raise InputError("profile() needs a variance component to profile; every component of this model is fixed")
    else:
        names = [component] if isinstance(component, str) else list(component)
        chosen = []
        for name in names:
            if not isinstance(name, str):
                raise InputError(f"component takes names of components such as 'sigma2.1', not {name!r}")
            found = [name] if name in terms else [term for term in terms if term.split(".")[0] == name]
            if not found:
                raise InputError(
                    f"component {name!r} is not a variance or correlation component of the model; "
                    f"its components are: {', '.join(terms)}"
                )
            held = [term for term in found if fixed[term]]
            if held and len(found) == 1:
                raise InputError(f"component {name!r} was fixed, not estimated; it has no profile")
            chosen.extend(term for term in found if not fixed[term] and term not in chosen)
    args, positions = [], []
    for term in chosen:
        kind, _, number = term.partition(".")
        if kind not in COMPONENT_KINDS:  # a name components() does not give
            raise InputError(f"cannot profile component {term!r}")
        args.append(kind)
        positions.append(int(number) if number else 1)
    return {"arg": args, "pos": np.array(positions, dtype=np.int32), "term": chosen}


def _predicted(result: MetaResult, which: str, level: float | None) -> pd.DataFrame:
    model = fitted_model(result, which)
    shown_level = result.spec.level if level is None else percent_level(level)
    return tidy_frame(call_entry("kb_blup", model, which, shown_level), schema.BLUP)


def _steps(steps, correlation: bool = False, mixed: bool = False) -> float | np.ndarray:
    """A count, or the values to profile at (variances >= 0; correlations, or variances and
    correlations profiled together, in [-1, 1] and [0, 1])."""
    if isinstance(steps, numbers.Integral) and not isinstance(steps, bool):
        if not 2 <= steps <= MAX_STEPS:
            raise InputError(
                f"steps must be a whole number from 2 to {MAX_STEPS} (or the values to profile at), not {steps!r}"
            )
        return float(steps)
    try:
        values = np.asarray(steps, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"steps must be a whole number or a list of values, not {steps!r}") from None
    lowest, what = (-1.0, "correlations in [-1, 1]") if correlation else (0.0, "variances >= 0")
    if mixed and not correlation:
        what = "values in [0, 1] (variances and correlations profiled together)"
    bad = np.any(values < lowest) or ((correlation or mixed) and np.any(values > 1))
    if values.ndim != 1 or not 2 <= values.size <= MAX_STEPS or not np.all(np.isfinite(values)) or bad:
        raise InputError(f"steps as values must be 2 to {MAX_STEPS} finite {what}, not {steps!r}")
    require_metafor(STEP_VALUES_SINCE, "profile(steps=<values>)")
    return values


def _xlim(xlim, correlation: bool = False) -> np.ndarray:
    try:
        limits = np.asarray(xlim, dtype=float)
    except (TypeError, ValueError):
        limits = np.array([])
    ok = limits.shape == (2,) and bool(np.all(np.isfinite(limits))) and limits[0] < limits[1]
    if correlation:
        if not (ok and -1 <= limits[0] and limits[1] <= 1):
            raise InputError(f"xlim must be two correlations (-1 <= lower < upper <= 1), not {xlim!r}")
    elif not (ok and 0 <= limits[0]):
        raise InputError(f"xlim must be two variances (lower >= 0, lower < upper), not {xlim!r}")
    return limits
