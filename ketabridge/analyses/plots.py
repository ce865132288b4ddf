"""Forest and funnel plots drawn by metafor's own forest() and funnel() into PNG, SVG or PDF."""

from __future__ import annotations

import numbers
import secrets
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ketabridge.analyses.figure import Figure
from ketabridge.analyses.intervals import transform_sizes
from ketabridge.analyses.multilevel import MultilevelResult
from ketabridge.analyses.results import MetaResult
from ketabridge.analyses.transforms import PROPORTION_MEASURES, natural_transform
from ketabridge.bridge.call import RReply, call_entry
from ketabridge.errors import InputError, MetaforError

# The file's suffix picks the R device (png with cairo, svg, pdf).
DEVICES = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
MAX_INCHES = 100.0
DPI_RANGE = (10, 2400)


def forest(
    result: MetaResult,
    path: str | Path | None = None,
    *,
    width: float = 8.0,
    height: float | None = None,
    dpi: int = 150,
    back_transform: bool = True,
    addpred: bool = True,
) -> Path | Figure:
    """Draw a forest plot into `path` (PNG, SVG or PDF by suffix): metafor's ``forest.rma``.

    Study labels come from ``slab=``; ``addpred`` draws the prediction interval (metafor's
    ``addpred``; random-effects models without moderators only). Unless ``back_transform=False``,
    ratios get a log axis labelled as ratios (metafor's ``atransf``) and proportions are drawn on
    the proportion scale (``transf``, with ``targs=list(ni=)`` for PFT) without a reference
    line. A trim-and-fill result shows its filled studies in grey.
    ``height`` defaults to one that fits every row. Sizes are inches; ``dpi`` applies to PNG.
    Returns the path written; without a path, a Figure that notebooks show inline.

    Parameters
    ----------
    result : MetaResult
        The result of :func:`rma` or :func:`trimfill`: metafor's ``x``.
    path : str or pathlib.Path, optional
        The file to write, in an existing folder; its suffix (``.png``, ``.svg``, ``.pdf``)
        picks the R device. An existing file is replaced only when the plot succeeds.
        Default None: no file; a :class:`Figure` that Jupyter shows inline (SVG) is returned.
    width : float, default 8.0
        Page width in inches, in (0, 100] (the R device's ``width``).
    height : float, optional
        Page height in inches, in (0, 100]. Default None: 2 + 0.3 (k + 4).
    dpi : int, default 150
        Resolution of a PNG, from 10 to 2400 (the png device's ``res``).
    back_transform : bool, default True
        Show the measure's natural scale: metafor's ``atransf`` (ratios) or ``transf``
        (proportions, with ``targs=list(ni=)`` for PFT). False keeps the model scale.
    addpred : bool, default True
        Draw the prediction interval: metafor's ``addpred``, whose default is False.

    Returns
    -------
    pathlib.Path or Figure
        The absolute path of the file written; without ``path``, the plot as a
        :class:`Figure` (``figure.save(path)`` writes it).

    Raises
    ------
    InputError
        ``result`` is not from :func:`rma` or :func:`trimfill`; an unknown suffix or missing
        folder; a size or dpi out of range; a PFT back-transform without sample sizes.
    MetaforError
        metafor's ``forest`` or R's device stopped with an error (a page too small for the
        plot says so).
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    _check_plottable(result)  # before reading its glance for the default height
    if path is None:
        options = dict(width=width, height=height, dpi=dpi, back_transform=back_transform, addpred=addpred)
        return Figure(partial(forest, result, **options), "forest")
    if height is None:
        height = 2.0 + 0.3 * (result.glance()["k"].iloc[0] + 4)  # header, summary and axis rows
    plot = _plot_options(result, path, width, height, dpi, back_transform)
    proportion = result.spec.measure in PROPORTION_MEASURES
    plot.update(axis="transf" if proportion else "atransf", refline=not proportion, addpred=bool(addpred))
    return _draw("kb_forest", result, plot)


def funnel(
    result: MetaResult,
    path: str | Path | None = None,
    *,
    width: float = 6.0,
    height: float = 5.0,
    dpi: int = 150,
    back_transform: bool = True,
    contours: bool = False,
) -> Path | Figure:
    """Draw a funnel plot into `path` (PNG, SVG or PDF by suffix): metafor's ``funnel.rma``.

    ``contours=True`` draws the contour-enhanced funnel of metafor's documentation (shaded
    90/95/99% significance regions around 0: ``level=c(90,95,99), refline=0, legend=TRUE``).
    Trim-and-fill results show the filled studies as open circles, as metafor does. Axis
    labels back-transformed (``atransf``) unless ``back_transform=False``; sizes and dpi as in
    :func:`forest`. Returns the path written (a Figure without a path).

    Parameters
    ----------
    result : MetaResult
        The result of :func:`rma` or :func:`trimfill`: metafor's ``x``.
    path : str or pathlib.Path, optional
        The file to write, in an existing folder; its suffix (``.png``, ``.svg``, ``.pdf``)
        picks the R device. An existing file is replaced only when the plot succeeds.
        Default None: no file; a :class:`Figure` that Jupyter shows inline (SVG) is returned.
    width : float, default 6.0
        Page width in inches, in (0, 100] (the R device's ``width``).
    height : float, default 5.0
        Page height in inches, in (0, 100] (the R device's ``height``).
    dpi : int, default 150
        Resolution of a PNG, from 10 to 2400 (the png device's ``res``).
    back_transform : bool, default True
        Label the axis on the measure's natural scale: metafor's ``atransf`` (with
        ``targs=list(ni=)`` for PFT). False keeps the model scale's labels.
    contours : bool, default False
        Draw the contour-enhanced funnel: metafor's ``level=c(90, 95, 99)``, ``shade``,
        ``refline=0`` and ``legend=TRUE``.

    Returns
    -------
    pathlib.Path or Figure
        The absolute path of the file written; without ``path``, the plot as a
        :class:`Figure` (``figure.save(path)`` writes it).

    Raises
    ------
    InputError
        ``result`` is not from :func:`rma` or :func:`trimfill`; an unknown suffix or missing
        folder; a size or dpi out of range; a PFT back-transform without sample sizes.
    MetaforError
        metafor's ``funnel`` or R's device stopped with an error (a page too small for the
        plot says so).
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    if path is None:
        _check_plottable(result)
        options = dict(width=width, height=height, dpi=dpi, back_transform=back_transform, contours=contours)
        return Figure(partial(funnel, result, **options), "funnel")
    plot = _plot_options(result, path, width, height, dpi, back_transform)
    # funnel.rma has no transf: the axis stays on the model scale, labelled back-transformed
    return _draw("kb_funnel", result, {**plot, "axis": "atransf", "contours": bool(contours)})


def _draw(entry: str, result: MetaResult, plot: dict) -> Path:
    fill = None
    if result.kind == "trimfill":
        glance = result.glance().iloc[0]
        fill = {"side": str(glance["side"]), "estimator": str(glance["estimator"])}
    draw_into(plot, lambda options: call_entry(entry, result.spec.to_r(), fill, options))
    return Path(plot["path"])


def draw_into(plot: dict, draw: Callable[[dict], RReply]) -> RReply:
    """Run ``draw(options)`` (an R entry point drawing into ``options["path"]``) so that the file at
    ``plot["path"]`` is replaced only by a finished plot; return its reply."""
    path = Path(plot["path"])
    # R draws into a new file next to the target, moved there on success: a half-drawn file must
    # not pass for a plot, and a failed plot must not destroy a file the user had at that path
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}{path.suffix}")
    try:
        reply = draw({**plot, "path": str(partial)})
        partial.replace(path)
    except MetaforError as error:
        if "figure margins too large" in error.r_message:  # R's words for a page too small
            raise MetaforError(
                f"{error.r_message}: the page is too small for this plot; pass a larger width/height (inches)",
                error.r_call,
                error.failing_call,
            ) from None
        raise
    finally:
        partial.unlink(missing_ok=True)
    return reply


def _plot_options(
    result: object, path: str | Path, width: float, height: float, dpi: int, back_transform: bool
) -> dict:
    """Validate the target file, sizes and transform; the `plot` list the R entry points take."""
    _check_plottable(result)
    return plot_options(result, path, width, height, dpi, back_transform)


def plot_options(
    result: MetaResult, path: str | Path, width: float, height: float, dpi: int, back_transform: bool
) -> dict:
    """The `plot` list of a plot of ``result`` (whose kind the caller has checked): target file,
    device, sizes and the measure's back-transform."""
    target = Path(path).expanduser().absolute()
    device = DEVICES.get(target.suffix.lower())
    if device is None:
        raise InputError(
            f"cannot tell the image format of {str(path)!r}: the file name must end in {', '.join(DEVICES)}"
        )
    if not target.parent.is_dir():
        raise InputError(f"cannot write {str(path)!r}: folder {str(target.parent)!r} does not exist")
    for name, value in (("width", width), ("height", height)):
        if not _real(value) or not 0 < value <= MAX_INCHES:
            raise InputError(f"{name} is in inches and must be a number in (0, {MAX_INCHES:g}], not {value!r}")
    if not isinstance(dpi, numbers.Integral) or isinstance(dpi, bool) or not DPI_RANGE[0] <= dpi <= DPI_RANGE[1]:
        raise InputError(f"dpi must be a whole number from {DPI_RANGE[0]} to {DPI_RANGE[1]}, not {dpi!r}")
    plot = {"path": str(target), "device": device, "width": float(width), "height": float(height), "dpi": int(dpi)}
    transform = natural_transform(result.spec.measure) if back_transform else None
    if transform is not None:
        plot["transform"] = transform
        sizes = transform_sizes(
            result.spec,
            transform,
            what=f"the back-transformed axis of {result.spec.measure}",
            remedy="pass ni='<column>' to rma, or back_transform=False",
        )
        if sizes is not None:
            plot["ni"] = sizes
    return plot


def _check_plottable(result: object) -> None:
    if _is_multilevel(result):
        return
    if getattr(result, "kind", None) == "robust":
        raise InputError(
            "plots of a robust() result are not drawn (the plot would show the model's own intervals); "
            "plot the model passed to robust()"
        )
    if not isinstance(result, MetaResult) or result.kind not in ("rma", "trimfill"):
        raise InputError(
            f"plots take the result of ketabridge.rma(), trimfill() or rma_mv(), not {type(result).__name__}"
        )


def _is_multilevel(result: object) -> bool:
    """An rma_mv() result: drawn by the same forest.rma / funnel.rma (helpers_plot.R refits it with rma.mv)."""
    return isinstance(result, MultilevelResult) and result.kind == "rma.mv"


def _real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
