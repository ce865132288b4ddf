"""The random effects of a fitted model: metafor's ``blup``, ``ranef`` and ``profile`` (the
profile likelihood of a variance component, as a table and as metafor's plot)."""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np
import pandas as pd

from ketabridge import schema
from ketabridge.analyses.fitted import fitted_model
from ketabridge.analyses.plots import draw_into, plot_options
from ketabridge.analyses.results import MetaResult, tidy_frame
from ketabridge.analyses.spec import percent_level
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError
from ketabridge.options import EQUAL_EFFECTS_METHODS, require_metafor

MAX_STEPS = 1000  # each step refits the model
STEP_VALUES_SINCE = (4, 6)  # profile()'s steps took the values themselves from metafor 4.6-0 (NEWS.md)


def blup(result: MetaResult, level: float | None = None) -> pd.DataFrame:
    """Best linear unbiased predictions of the studies' true effects: metafor's ``blup.rma.uni``.

    Each study's fitted value plus its predicted random effect (empirical Bayes estimates),
    with prediction intervals.

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
        ``result`` is not a fitted model blup takes; ``level`` outside (0, 100).
    MetaforError
        metafor's ``blup`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    return _predicted(result, "blup", level)


def ranef(result: MetaResult, level: float | None = None) -> pd.DataFrame:
    """Predicted random effects of the studies: metafor's ``ranef.rma.uni``.

    The deviation of each study's true effect from its fitted value (``blup`` minus the fitted
    value), with prediction intervals; zero for every study when tau^2 is 0.

    Parameters
    ----------
    result : MetaResult
        A fitted model (:func:`rma`): metafor's ``object``.
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
        ``result`` is not a fitted model ranef takes; ``level`` outside (0, 100).
    MetaforError
        metafor's ``ranef`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    return _predicted(result, "ranef", level)


def profile(
    result: MetaResult,
    *,
    steps: int | list[float] = 20,
    xlim: tuple[float, float] | None = None,
    path: str | Path | None = None,
    width: float = 6.0,
    height: float = 5.0,
    dpi: int = 150,
) -> pd.DataFrame:
    """Profile log-likelihood of the variance component tau^2: metafor's ``profile.rma.uni``.

    The model is refitted with tau^2 held at each value and its (restricted) log-likelihood
    recorded; with ``path``, metafor's own profile plot is drawn into that file (PNG, SVG or
    PDF by suffix) as well.

    Parameters
    ----------
    result : MetaResult
        A fitted random-effects model (:func:`rma`, not EE, FE or CE): metafor's ``fitted``.
    steps : int or list of float, default 20
        How many values to profile at, from 2 to 1000, evenly spread over ``xlim`` (metafor's
        ``steps``); or the tau^2 values themselves (each >= 0; metafor >= 4.6).
    xlim : (float, float), optional
        The range of tau^2 values: metafor's ``xlim``. Default None: metafor's (around the
        estimate's confidence interval).
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
        One row per value: ``component`` (``"tau2"``), ``value``, ``loglik``, and the fitted
        model's ``estimate`` and ``max_loglik`` (the log-likelihood at the estimate) on every
        row. Provenance in ``attrs["ketabridge_provenance"]``.

    Raises
    ------
    InputError
        ``result`` is not a fitted random-effects model; ``steps`` or ``xlim`` out of range;
        ``steps`` as values with metafor < 4.6;
        an unknown suffix, missing folder, or size out of range for the plot.
    MetaforError
        metafor's ``profile`` or R's device stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    model = fitted_model(result, "profile")
    if result.spec.method in EQUAL_EFFECTS_METHODS:
        raise InputError(f"profile() needs a variance component to profile; method {result.spec.method!r} has no tau^2")
    steps_value = _steps(steps)
    limits = None if xlim is None else _xlim(xlim)
    if path is None:
        return tidy_frame(call_entry("kb_profile", model, steps_value, limits, None), schema.PROFILE)
    plot = plot_options(result, path, width, height, dpi, back_transform=False)
    reply = draw_into(plot, lambda options: call_entry("kb_profile", model, steps_value, limits, options))
    return tidy_frame(reply, schema.PROFILE)


def _predicted(result: MetaResult, which: str, level: float | None) -> pd.DataFrame:
    model = fitted_model(result, which)
    shown_level = result.spec.level if level is None else percent_level(level)
    return tidy_frame(call_entry("kb_blup", model, which, shown_level), schema.BLUP)


def _steps(steps) -> float | np.ndarray:
    if isinstance(steps, numbers.Integral) and not isinstance(steps, bool):
        if not 2 <= steps <= MAX_STEPS:
            raise InputError(
                f"steps must be a whole number from 2 to {MAX_STEPS} (or the values to profile at), not {steps!r}"
            )
        return float(steps)
    try:
        values = np.asarray(steps, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"steps must be a whole number or a list of tau^2 values, not {steps!r}") from None
    if values.ndim != 1 or not 2 <= values.size <= MAX_STEPS or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise InputError(f"steps as values must be 2 to {MAX_STEPS} finite tau^2 values >= 0, not {steps!r}")
    require_metafor(STEP_VALUES_SINCE, "profile(steps=<values>)")
    return values


def _xlim(xlim) -> np.ndarray:
    try:
        limits = np.asarray(xlim, dtype=float)
    except (TypeError, ValueError):
        limits = np.array([])
    if limits.shape != (2,) or not np.all(np.isfinite(limits)) or not 0 <= limits[0] < limits[1]:
        raise InputError(f"xlim must be two tau^2 values (lower >= 0, lower < upper), not {xlim!r}")
    return limits
