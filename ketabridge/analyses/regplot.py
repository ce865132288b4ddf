"""Bubble plot of a meta-regression, drawn by metafor's own ``regplot``."""

from __future__ import annotations

from pathlib import Path

from ketabridge.analyses.fitted import coefficient_indices, fitted_model, term_names
from ketabridge.analyses.plots import draw_into, plot_options
from ketabridge.analyses.results import MetaResult
from ketabridge.analyses.transforms import PROPORTION_MEASURES
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError


def regplot(
    result: MetaResult,
    path: str | Path,
    *,
    mod: str | int | None = None,
    pi: bool = False,
    width: float = 7.0,
    height: float = 6.0,
    dpi: int = 150,
    back_transform: bool = True,
) -> Path:
    """Draw a bubble plot of a meta-regression into `path` (PNG, SVG or PDF by suffix):
    metafor's ``regplot.rma``.

    The observed effects against one moderator, points sized by their weights, with the
    regression line and its confidence band (other moderators held at their means, as metafor
    does). Ratios get an axis labelled as ratios (``atransf``) and proportions are drawn on the
    proportion scale (``transf``) unless ``back_transform=False``. Returns the path written.

    Parameters
    ----------
    result : MetaResult or MultilevelResult
        A fitted meta-regression (:func:`rma` or :func:`rma_mv` with ``mods``): metafor's ``x``.
    path : str or pathlib.Path
        The file to write, in an existing folder; its suffix (``.png``, ``.svg``, ``.pdf``)
        picks the R device. An existing file is replaced only when the plot succeeds.
    mod : str or int, optional
        The moderator on the x-axis: a term name as ``tidy()`` shows it, or its 1-based
        coefficient number (metafor's ``mod``). Default None: the only moderator; a model with
        several needs it.
    pi : bool, default False
        Also draw the prediction interval bounds: metafor's ``pi``.
    width : float, default 7.0
        Page width in inches, in (0, 100].
    height : float, default 6.0
        Page height in inches, in (0, 100].
    dpi : int, default 150
        Resolution of a PNG, from 10 to 2400.
    back_transform : bool, default True
        Show the measure's natural scale: metafor's ``atransf`` (ratios) or ``transf``
        (proportions). False keeps the model scale.

    Returns
    -------
    pathlib.Path
        The absolute path of the file written.

    Raises
    ------
    InputError
        ``result`` is not a fitted model with moderators; ``mod`` is not one of its terms
        (the message lists them) or is the intercept; several moderators and no ``mod``; an
        unknown suffix, missing folder, or size out of range.
    MetaforError
        metafor's ``regplot`` or R's device stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    model = fitted_model(result, "regplot")
    terms = term_names(result)
    moderators = [position + 1 for position, term in enumerate(terms) if term != "intrcpt"]
    if not moderators:
        raise InputError("regplot() draws a meta-regression; this model has no moderators (fit rma with mods=)")
    if mod is None:
        if len(moderators) > 1:
            raise InputError(
                f"the model has several moderators; choose the x-axis with mod= (one of: {', '.join(terms[i - 1] for i in moderators)})"
            )
        index = moderators[0]
    else:
        chosen = coefficient_indices(result, mod, "mod")
        if len(chosen) != 1 or chosen[0] not in moderators:
            raise InputError(
                f"mod must name one moderator (one of: {', '.join(terms[i - 1] for i in moderators)}), not {mod!r}"
            )
        index = chosen[0]
    if not isinstance(pi, bool):
        raise InputError(f"pi must be True or False, not {pi!r}")
    plot = plot_options(result, path, width, height, dpi, back_transform)
    proportion = result.spec.measure in PROPORTION_MEASURES
    plot.update(axis="transf" if proportion else "atransf", pi=pi)
    draw_into(plot, lambda options: call_entry("kb_regplot", model, index, options))
    return Path(plot["path"])
