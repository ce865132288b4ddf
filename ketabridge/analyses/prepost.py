"""Pre/post sensitivity: the same analysis over a grid of assumed pre-post correlations."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import pandas as pd

from ketabridge import schema
from ketabridge.analyses.models import escalc, rma
from ketabridge.analyses.results import PROVENANCE_ATTR
from ketabridge.errors import InputError
from ketabridge.io import TableLike, to_arrow
from ketabridge.options import PREPOST_MEASURES, check_choice

DEFAULT_CORRELATIONS = (0.0, 0.3, 0.5, 0.7, 0.9)


def correlation_grid(
    data: TableLike,
    measure: str = "MC",
    ri: Sequence[float] = DEFAULT_CORRELATIONS,
    method: str = "REML",
    *,
    test: str = "z",
    level: float = 95,
    vtype: str | None = None,
    na_action: str = "omit",
    **columns: str,
) -> pd.DataFrame:
    """One glance row per assumed pre-post correlation: metafor's ``escalc`` + ``rma.uni``.

    For each value r of ``ri``, runs ``escalc(measure, ..., ri=r)`` (every study assumed to
    have correlation r) and ``rma(method=, test=, level=)``; ``columns`` are escalc's column
    arguments (``m1i``, ``m2i``, ``sd1i``, ``sd2i``, ``ni``). Only the pre/post measures (MC,
    SMCC, SMCR, SMCRH, ROMC, CVRC, VRC). Returns ``ri`` plus the glance columns; its
    ``attrs["ketabridge_provenance"]`` lists the escalc and rma provenance of each row.

    Parameters
    ----------
    data : pandas.DataFrame, pyarrow.Table, pyarrow.RecordBatch, str or os.PathLike
        One row per study: a table, or the path of a CSV, Parquet, Feather or Arrow IPC file
        (read once): escalc's ``data``.
    measure : {"MC", "SMCC", "SMCR", "SMCRH", "ROMC", "CVRC", "VRC"}, default "MC"
        The pre/post measure: escalc's ``measure``.
    ri : float or sequence of float, default (0.0, 0.3, 0.5, 0.7, 0.9)
        The assumed pre-post correlations, each in [-1, 1]: escalc's ``ri``, one value for
        every study at a time.
    method : str, default "REML"
        The tau^2 estimator: rma.uni's ``method``.
    test : {"z", "t", "knha", "hksj", "adhoc"}, default "z"
        rma.uni's ``test``.
    level : float, default 95
        Confidence level in percent: rma.uni's ``level``.
    vtype : str, optional
        escalc's ``vtype``. Default None: metafor's ``"LS"``.
    na_action : {"omit", "fail"}, default "omit"
        Rows with missing values, in escalc and rma: as in :func:`escalc` and :func:`rma`.
    **columns : str
        escalc's column arguments (``m1i``, ``m2i``, ``sd1i``, ``sd2i``, ``ni``), each the name
        of a column of ``data``.

    Returns
    -------
    pandas.DataFrame
        One row per value of ``ri``, in the order given: ``ri`` then the glance columns of
        :func:`rma` (``k, measure, method, test, level, estimate, ..., converged``).
        ``attrs["ketabridge_provenance"]`` is a list of ``{"ri", "escalc", "rma"}`` dicts
        (:func:`provenance_of` reads it as one Provenance, the rows in ``details["rows"]``).

    Raises
    ------
    InputError
        A measure that is not pre/post; an ``ri`` value outside [-1, 1] or not a number; any
        error of :func:`escalc` or :func:`rma`, with the ``ri`` it happened at.
    MetaforError
        metafor's ``escalc`` or ``rma.uni`` stopped with an error (ConvergenceError when the
        estimator did not converge).
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    check_choice(measure, PREPOST_MEASURES, "measure")
    correlations = _correlations(ri)
    table = to_arrow(data)  # read a file once, not once per correlation
    glances, provenance = [], []
    for value in correlations:
        try:
            effects = escalc(measure, table, vtype=vtype, na_action=na_action, ri=value, **columns)
            result = rma(effects, method=method, test=test, level=level, na_action=na_action)
        except InputError as error:
            raise InputError(f"with the assumed correlation ri = {value:g}: {error}") from None
        glances.append(result.glance())
        provenance.append({"ri": value, "escalc": effects.attrs[PROVENANCE_ATTR], "rma": result.provenance.to_dict()})
    grid = pd.concat(glances, ignore_index=True)
    grid.insert(0, "ri", correlations)
    grid = schema.frame(grid, schema.CORRELATION_GRID)
    grid.attrs[PROVENANCE_ATTR] = provenance
    return grid


def _correlations(ri: object) -> list[float]:
    values = [ri] if isinstance(ri, numbers.Real) else ri
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise InputError(f"ri must be one or more assumed correlations (numbers in [-1, 1]), not {ri!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not -1 <= value <= 1:
            raise InputError(f"each assumed correlation in ri must be a number in [-1, 1], not {value!r}")
    return [float(value) for value in values]
