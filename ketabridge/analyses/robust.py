"""Cluster-robust tests and confidence intervals: metafor's ``robust`` (CR1) and, through it,
clubSandwich's CR2 estimator with Satterthwaite degrees of freedom."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ketabridge import schema
from ketabridge.analyses import validate
from ketabridge.analyses.multilevel import MultilevelResult, multilevel_result
from ketabridge.analyses.r_packages import r_package_versions
from ketabridge.analyses.results import MetaResult, Provenance
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError, MetaforError, RNotAvailableError

_MISSING_PACKAGE = "ketabridge-missing-package: "
CLUBSANDWICH = "clubSandwich"  # the R package of CR2 (Debian: r-cran-clubsandwich)


def robust(
    result: MetaResult | MultilevelResult,
    cluster: str | Sequence | np.ndarray | pd.Series,
    *,
    clubsandwich: bool = True,
    adjust: bool = True,
) -> MetaResult | MultilevelResult:
    """Cluster-robust inference for a fitted model: metafor's ``robust``.

    With ``clubsandwich=True`` (the default here; metafor's default is False) the coefficients'
    variance is clubSandwich's CR2 estimator and the t tests use Satterthwaite degrees of
    freedom (metafor's ``robust(..., clubSandwich=TRUE)``); with ``clubsandwich=False`` it is
    metafor's own sandwich estimator, CR1 (``adjust=True``, the small-sample factor) or CR0,
    with residual degrees of freedom. The model itself (variance components, Q, augment) is
    unchanged.

    Parameters
    ----------
    result : MetaResult or MultilevelResult
        The result of :func:`rma` (without subgroups) or :func:`rma_mv`: metafor's ``x``.
    cluster : str or sequence
        The clusters (e.g. studies): a column of the data the model was fitted to, or one value
        per row of that data: metafor's ``cluster``.
    clubsandwich : bool, default True
        Use clubSandwich's CR2 estimator with Satterthwaite df: metafor's ``clubSandwich``.
    adjust : bool, default True
        Apply the small-sample factor of CR1 (metafor's ``adjust``; ignored with clubSandwich).

    Returns
    -------
    MetaResult or MultilevelResult
        The same kind of result, of kind ``"robust"``: ``tidy()`` with robust standard errors,
        tests, ``df`` and intervals and a ``vcov_type`` column (``"CR2"``, ``"CR1"`` or
        ``"CR0"``); ``glance()`` with the robust pooled estimate's columns, ``n_clusters`` and
        ``vcov_type``. For an :func:`rma` result, ``glance()`` has :func:`rma`'s columns plus
        those two.

    Raises
    ------
    InputError
        ``result`` is not from :func:`rma` or :func:`rma_mv`; the cluster column does not exist,
        has missing values (the rows are named) or the wrong length.
    RNotAvailableError
        ``clubsandwich=True`` and the R package clubSandwich is not installed.
    MetaforError
        metafor's ``robust`` stopped with an error.
    """
    if not (isinstance(result, MetaResult) and result.kind == "rma") and not (
        isinstance(result, MultilevelResult) and result.kind == "rma.mv"
    ):
        raise InputError(f"robust takes the result of ketabridge.rma() or rma_mv(), not {_describe(result)}")
    values = _cluster_values(result, cluster)
    options = {"adjust": bool(adjust), "clubSandwich": bool(clubsandwich), "package": CLUBSANDWICH}
    try:
        reply = call_entry("kb_robust", result.spec.to_r(), values, options)
    except MetaforError as error:
        if error.r_message.startswith(_MISSING_PACKAGE):
            package = error.r_message[len(_MISSING_PACKAGE) :]
            raise RNotAvailableError(
                f"robust(clubsandwich=True) needs the R package {package}, which this R does not have: "
                f"install it (make setup, apt-get install r-cran-clubsandwich, or install.packages('{package}')), "
                "or pass clubsandwich=False for metafor's CR1"
            ) from None
        raise
    packages = r_package_versions([CLUBSANDWICH]) if clubsandwich else {}
    if isinstance(result, MultilevelResult):
        return multilevel_result("robust", result.spec, reply, source=result.source, r_packages=packages)
    glance = {**reply.value["glance"], "converged": [reply.converged]}
    return MetaResult(
        kind="robust",
        spec=result.spec,
        _glance=schema.frame(glance, schema.ROBUST_GLANCE),
        _tidy=schema.frame(reply.value["tidy"], schema.ROBUST_TIDY),
        provenance=Provenance.from_reply(reply, packages),
        _augment_call=result._augment_call,  # the model is unchanged, so is its per-study table
        source=result.source,
    )


def _describe(result: object) -> str:
    kind = getattr(result, "kind", None)
    return f"a {kind!r} result" if kind else type(result).__name__


def _cluster_values(result, cluster) -> np.ndarray:
    """The clusters of the rows the model used, as labels (a missing one is an InputError)."""
    rows = result.spec.source_rows
    if isinstance(cluster, str):
        if result.source is None:
            raise InputError("this result keeps no input table: pass the cluster values instead of a column name")
        validate.require_columns(result.source, [cluster])
        values = result.source.column(cluster).to_pylist()
        name = f"cluster column {cluster!r}"
    else:
        values = list(cluster)
        name = "cluster"
        expected = result.source.num_rows if result.source is not None else result.spec.k
        if len(values) != expected:
            raise InputError(
                f"cluster has {len(values)} values but the data the model was fitted to has {expected} rows"
            )
    missing = [row for row, value in enumerate(values) if value is None or value != value]
    if missing:
        raise InputError(
            f"{name} has missing values in {validate.rows_text(missing)}; every estimate needs its cluster"
        )
    if len(rows) and len(values) != result.spec.k:
        values = [values[row] for row in rows]
    return np.array([str(value) for value in values], dtype=object)
