"""Selection models for publication bias: metafor's ``selmodel``, and the plot of the estimated
selection function (metafor's ``plot.rma.uni.selmodel``)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ketabridge import schema
from ketabridge.analyses.intervals import plain_model_result
from ketabridge.analyses.results import MetaResult, Provenance, records
from ketabridge.analyses.spec import ModelSpec
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError
from ketabridge.options import (
    SELMODEL_ALTERNATIVES,
    SELMODEL_CONTROL_KEYS,
    SELMODEL_PRECISIONS,
    SELMODEL_TYPES,
    check_choice,
    check_release,
    require_metafor,
)

CI_KINDS = ("wald",)
# selmodel's arguments newer than 3.8-1 (its NEWS.md): decreasing= in 4.6-0, subset= in 4.8-0.
DECREASING_SINCE = (4, 6)
SUBSET_SINCE = (4, 8)


@dataclass(frozen=True, eq=False)
class SelectionResult:
    """A selection model fitted to an rma() model (see :func:`selmodel`).

    ``glance()`` is the adjusted model with the likelihood-ratio test of selection, ``tidy()``
    its coefficients (adjusted for selection), ``weights()`` the selection parameters, and
    ``provenance`` the R call. ``spec`` and ``selection`` refit it (for :func:`plot_selmodel`).
    """

    spec: ModelSpec
    selection: dict = field(repr=False)
    _glance: pd.DataFrame = field(repr=False)
    _tidy: pd.DataFrame = field(repr=False)
    _weights: pd.DataFrame = field(repr=False)
    provenance: Provenance = field(repr=False)

    def glance(self) -> pd.DataFrame:
        """One row: the adjusted estimate and its CI, tau^2, and the likelihood-ratio tests."""
        return self._glance.copy()

    def tidy(self) -> pd.DataFrame:
        """One row per model coefficient, adjusted for selection."""
        return self._tidy.copy()

    def weights(self) -> pd.DataFrame:
        """One row per selection parameter (metafor's delta), with its interval for step functions."""
        return self._weights.copy()

    def to_dict(self) -> dict:
        return {
            "glance": records(self._glance)[0],
            "tidy": records(self._tidy),
            "weights": records(self._weights),
            "provenance": self.provenance.to_dict(),
        }

    def __repr__(self) -> str:
        row = self._glance.iloc[0]
        return (
            f"<SelectionResult {row['type']} k={row['k']} estimate={row['estimate']:.4g} "
            f"[{row['conf_low']:.4g}, {row['conf_high']:.4g}] LRT={row['lrt']:.4g} (df={row['lrt_df']}), "
            f"p={row['lrt_pvalue']:.4g}>"
        )


def selmodel(
    result: MetaResult,
    type: str,
    *,
    steps: Sequence[float] | float | None = None,
    alternative: str = "greater",
    prec: str | None = None,
    control: Mapping[str, object] | None = None,
    delta: Sequence[float | None] | None = None,
    decreasing: bool = False,
    subset: str | Sequence[bool] | None = None,
) -> SelectionResult:
    """Selection model for publication bias: metafor's ``selmodel``.

    Fits the model of ``result`` again, jointly with a selection function that gives each study's
    chance of being published as a function of its one-sided p-value: a step function
    (``type="stepfun"`` with cut points ``steps``, Iyengar & Greenhouse 1988, Hedges 1992, Vevea
    & Hedges 1995), or the beta (Citkowicz & Vevea 2017), half-normal, negative-exponential,
    logistic or power function (Preston et al. 2004). The glance gives the estimate adjusted for
    selection with its CI and the likelihood-ratio test of H0: no selection; ``weights()`` the
    estimated selection parameters. Plot the selection function with :func:`plot_selmodel`.

    Parameters
    ----------
    result : MetaResult
        The result of :func:`rma`; moderators are allowed: metafor's ``x``. Selection models
        are fitted by maximum likelihood: metafor refits a model fitted by another tau^2
        estimator with ``method="ML"`` first (glance's ``method`` then says ``ML``); equal-effects
        models (EE, FE, CE) stay so.
    type : str
        The selection function: ``"stepfun"``, ``"beta"``, ``"halfnorm"``, ``"negexp"``,
        ``"logistic"``, ``"power"``, and metafor's variants ``"negexppow"``, ``"halfnorm2"``,
        ``"negexp2"``, ``"logistic2"``, ``"power2"``; ``"trunc"`` and ``"truncest"`` need
        metafor >= 4.0: metafor's ``type``.
    steps : float or sequence of float, optional
        Cut points on the p-value scale, in (0, 1], increasing: metafor's ``steps``. Required for
        ``"stepfun"`` (1 is added by metafor when missing); for the other functions one value
        makes p-values below it equally likely to be published.
    alternative : {"greater", "less", "two.sided"}, default "greater"
        The direction in which studies are favoured for publication (the side of the one-sided
        p-values): metafor's ``alternative``, with the same default.
    prec : {"sei", "vi", "ninv", "sqrtninv"}, optional
        Let the selection depend on the studies' precision as well: metafor's ``prec`` (the
        ``ni`` ones need ``ni=`` in :func:`rma`). Default None: none.
    control : dict, optional
        Optimizer settings by metafor's names (``optimizer``, ``optmethod``, ``delta.init``,
        ``beta.init``, ``tau2.init``, ``delta.min``, ``delta.max``, ``tau2.max``, ``pval.min``,
        ``hesspack``): metafor's ``control``. Values are numbers, lists of numbers, True/False
        or names.
    delta : sequence of float or None, optional
        Fix selection parameters at a priori values instead of estimating them: metafor's
        ``delta``, one value per parameter (a step function has one per interval, the first 1),
        None or NaN for a parameter to estimate. Vevea & Woods (2005) use fixed step-function
        weights for a sensitivity analysis. Default None: estimate all.
    decreasing : bool, default False
        Make a step function's weights decrease monotonically with the p-value (which also keeps
        them <= 1): metafor's ``decreasing``, from metafor 4.6 on; metafor ignores it, with a
        warning, for the other types.
    subset : str or sequence of bool, optional
        The studies the selection function applies to (the others are taken as published
        regardless of their p-value): metafor's ``subset``, from metafor 4.8 on. A column of the
        data given to :func:`rma` holding True/False (or 1/0), or one True/False per study of the
        model. Default None: all studies.

    Returns
    -------
    SelectionResult
        ``glance()`` one row: ``type, alternative, k, k_subset`` (the studies the selection
        function applies to), ``method``, the adjusted ``estimate,
        std_error, statistic, p_value, conf_low, conf_high``, ``tau2, tau2_se``, ``lrt, lrt_df,
        lrt_pvalue`` (the test of selection), ``lrt_tau2, lrt_tau2_pvalue`` (of tau^2 = 0),
        ``loglik``, ``converged``; ``tidy()`` the adjusted coefficients (the :func:`rma` tidy
        columns); ``weights()`` one row per selection parameter: ``term, p_low, p_high, k``
        (the step function's p-value interval and its studies), ``estimate, std_error,
        statistic, p_value, conf_low, conf_high, fixed``; and ``provenance``.

    Raises
    ------
    InputError
        ``result`` is not a plain :func:`rma` result; an unknown type, alternative, precision or control setting, or
        one newer than the running metafor; ``stepfun`` without ``steps``; steps outside (0, 1]
        or not increasing; an ``ni`` precision without sample sizes; ``delta`` not numbers;
        ``subset`` not True/False per study; ``decreasing`` or ``subset`` on a metafor older than
        the release that added it (4.6, 4.8).
    MetaforError
        metafor's ``selmodel`` stopped with an error (ConvergenceError when its optimizer did
        not converge).
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    result = plain_model_result(result, "selmodel")
    selection = _selection(result.spec, type, steps, alternative, prec, control)
    selection.update(_fixed_weights(delta), **_newer_options(result, decreasing, subset))
    reply = call_entry("kb_selmodel", result.spec.to_r(), selection)
    glance = {**reply.value["glance"], "converged": [reply.converged]}
    return SelectionResult(
        spec=result.spec,
        selection=selection,
        _glance=schema.frame(glance, schema.SELMODEL_GLANCE),
        _tidy=schema.frame(reply.value["tidy"], schema.TIDY),
        _weights=schema.frame(reply.value["weights"], schema.SELMODEL_WEIGHTS),
        provenance=Provenance.from_reply(reply),
    )


def plot_selmodel(
    result: SelectionResult,
    path: str | Path,
    *,
    width: float = 7.0,
    height: float = 5.0,
    dpi: int = 150,
    ci: str | None = None,
) -> Path:
    """Draw the estimated selection function into `path` (PNG, SVG or PDF by suffix): metafor's
    ``plot.rma.uni.selmodel``, with the studies' p-values as a rug.

    Parameters
    ----------
    result : SelectionResult
        The result of :func:`selmodel`: metafor's ``x``.
    path : str or pathlib.Path
        The file to write, in an existing folder; its suffix (``.png``, ``.svg``, ``.pdf``)
        picks the R device. An existing file is replaced only when the plot succeeds.
    width : float, default 7.0
        Page width in inches, in (0, 100].
    height : float, default 5.0
        Page height in inches, in (0, 100].
    dpi : int, default 150
        Resolution of a PNG, from 10 to 2400.
    ci : {"wald"}, optional
        Draw Wald-type confidence bounds around the function: metafor's ``ci="wald"``. Default
        None: none (metafor's ``ci=FALSE``).

    Returns
    -------
    pathlib.Path
        The absolute path of the file written.

    Raises
    ------
    InputError
        ``result`` is not a SelectionResult; an unknown suffix or missing folder; a size or
        dpi out of range; an unknown ``ci``.
    MetaforError
        metafor's plot or R's device stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    from ketabridge.analyses.plots import draw_into, plot_options

    if not isinstance(result, SelectionResult):
        raise InputError(f"plot_selmodel takes the result of ketabridge.selmodel(), not {type(result).__name__}")
    if ci is not None:
        check_choice(ci, CI_KINDS, "ci")
    plot = plot_options(result, path, width, height, dpi, back_transform=False)
    shown_ci = ci if ci is not None else False  # metafor's ci=FALSE
    draw_into(
        plot, lambda options: call_entry("kb_selmodel_plot", result.spec.to_r(), result.selection, options, shown_ci)
    )
    return Path(plot["path"])


def _selection(
    spec: ModelSpec,
    type: str,
    steps: Sequence[float] | float | None,
    alternative: str,
    prec: str | None,
    control: Mapping[str, object] | None,
) -> dict:
    """The `selection` list kb_selmodel takes, checked."""
    check_release(check_choice(type, SELMODEL_TYPES, "selection model type"), "selmodel_type")
    check_choice(alternative, SELMODEL_ALTERNATIVES, "alternative")
    if prec is not None:
        check_choice(prec, SELMODEL_PRECISIONS, "prec")
        if prec in ("ninv", "sqrtninv") and spec.ni is None:
            raise InputError(f"prec={prec!r} needs sample sizes: pass ni='<column>' to rma")
    cuts = _steps(steps)
    if type == "stepfun" and cuts is None:
        raise InputError("type='stepfun' needs steps= (the p-value cut points, e.g. [0.025, 0.1, 0.5, 1])")
    return {"type": type, "alternative": alternative, "steps": cuts, "prec": prec, "control": _control(control)}


def _fixed_weights(delta: Sequence[float | None] | None) -> dict:
    """metafor's delta: the fixed selection parameters, NaN (R's NA) where estimated."""
    if delta is None:
        return {"delta": None}
    values = [delta] if _real(delta) else list(delta) if isinstance(delta, Sequence) else None
    if not values or not all(value is None or isinstance(value, numbers.Real) for value in values):
        raise InputError(f"delta must be a list of numbers (None or NaN: estimate that one), not {delta!r}")
    if any(isinstance(value, bool) for value in values):
        raise InputError(f"delta must be a list of numbers, not {delta!r}")
    fixed = np.array([np.nan if value is None else value for value in values], dtype=float)
    if np.any(np.isinf(fixed)) or np.any(fixed[~np.isnan(fixed)] < 0):
        raise InputError(f"delta values must be finite and >= 0 (selection weights), not {values!r}")
    return {"delta": fixed}


def _newer_options(result: MetaResult, decreasing: bool, subset: str | Sequence[bool] | None) -> dict:
    """decreasing= and subset=, which metafor added after 3.8-1: checked, and only sent when used."""
    if not isinstance(decreasing, bool):
        raise InputError(f"decreasing must be True or False, not {decreasing!r}")
    options: dict = {}
    if decreasing:
        require_metafor(DECREASING_SINCE, "selmodel(decreasing=True)")
        options["decreasing"] = True
    if subset is not None:
        options["subset"] = _subset(result, subset)  # checked first: a wrong subset is wrong on any release
        require_metafor(SUBSET_SINCE, "selmodel(subset=...)")
    return options


def _subset(result: MetaResult, subset: str | Sequence[bool]) -> np.ndarray:
    """One True/False per study of the model, from a column of rma's data or given directly."""
    from ketabridge.analyses import validate

    k = len(result.spec.yi)
    if isinstance(subset, str):
        if result.source is None:
            raise InputError(
                f"subset={subset!r} names a column, but this result does not hold its data; pass the values"
            )
        validate.require_columns(result.source, [subset])
        column = result.source.column(subset).to_numpy(zero_copy_only=False)[result.spec.source_rows]
        name, rows = subset, result.spec.source_rows
    else:
        column = np.asarray(list(subset) if not isinstance(subset, np.ndarray) else subset, dtype=object)
        if column.shape != (k,):
            raise InputError(f"subset must have one True/False per study of the model ({k}), not shape {column.shape}")
        name, rows = "subset", np.arange(k)
    valid = np.array([isinstance(value, (bool, np.bool_)) or value in (0, 1) for value in column], dtype=bool)
    bad = np.flatnonzero(~valid)
    if bad.size:
        raise InputError(
            f"{name!r} must hold True/False (or 1/0) for every study, but {validate.rows_text(rows[bad], ('is', 'are'))} not"
        )
    return column.astype(bool)


def _steps(steps: Sequence[float] | float | None) -> np.ndarray | None:
    if steps is None:
        return None
    values = [steps] if _real(steps) else list(steps) if isinstance(steps, Sequence) else None
    if not values or not all(_real(value) for value in values):
        raise InputError(f"steps must be a number or a list of numbers in (0, 1], not {steps!r}")
    cuts = np.asarray(values, dtype=float)
    if not np.all((cuts > 0) & (cuts <= 1)):
        raise InputError(f"steps must lie in (0, 1] (they are p-values), not {values!r}")
    if np.any(np.diff(cuts) <= 0):
        raise InputError(f"steps must be increasing, not {values!r}")
    return cuts


def _control(control: Mapping[str, object] | None) -> dict:
    settings = dict(control or {})
    for key, value in settings.items():
        if key not in SELMODEL_CONTROL_KEYS:
            raise InputError(
                f"unknown selmodel control setting {key!r}; choose from: {', '.join(SELMODEL_CONTROL_KEYS)}"
            )
        if isinstance(value, (bool, str)) or _real(value):
            continue
        if isinstance(value, Sequence) and value and all(_real(item) for item in value):
            settings[key] = np.asarray(value, dtype=float)
            continue
        raise InputError(f"selmodel control setting {key!r} must be a number, a list of numbers, True/False or a name")
    return settings


def _real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
