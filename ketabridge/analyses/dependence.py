"""Dependent estimates from a correlation assumption: metafor's ``vcalc`` (build the
variance-covariance matrix) and ``aggregate.escalc`` (collapse to one estimate per cluster).
The assumed correlations are recorded in the provenance (its R call) and in ``attrs``."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ketabridge.analyses import validate
from ketabridge.analyses.results import PROVENANCE_ATTR, Provenance
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError
from ketabridge.io import TableLike, to_arrow
from ketabridge.options import AGGREGATE_STRUCTS, check_choice

ASSUMED_RHO_ATTR = "ketabridge_assumed_rho"
# vcalc's per-row arguments besides vi and cluster: labels (identifiers) and numbers.
VCALC_LABELS = ("subgroup", "obs", "type", "grp1", "grp2")
VCALC_NUMBERS = ("time1", "time2", "w1", "w2")


def vcalc(
    data: TableLike,
    vi: str = "vi",
    *,
    cluster: str,
    obs: str | None = None,
    rho: float | Sequence[float] | None = None,
    phi: float | None = None,
    type: str | None = None,
    subgroup: str | None = None,
    time1: str | None = None,
    time2: str | None = None,
    grp1: str | None = None,
    grp2: str | None = None,
    w1: str | None = None,
    w2: str | None = None,
    rvars: Sequence[str] | None = None,
    checkpd: bool = True,
    nearpd: bool = False,
) -> pd.DataFrame:
    """Build the variance-covariance matrix of dependent estimates: metafor's ``vcalc``.

    Estimates in the same ``cluster`` are correlated as metafor's ``vcalc`` assumes: ``rho``
    between different ``obs`` (or ``type``) measured at the same time, ``phi`` across time
    points, shared groups via ``grp1``/``grp2``; or, with ``rvars``, from correlation columns
    given row by row. The result is block-diagonal by cluster and goes straight to
    :func:`rma_mv` as ``V``.

    Parameters
    ----------
    data : pandas.DataFrame, pyarrow.Table, pyarrow.RecordBatch, str or os.PathLike
        One row per estimate, rows of a cluster together or not.
    vi : str, default "vi"
        Column of sampling variances: metafor's ``vi``.
    cluster : str
        Column of clusters (e.g. studies): metafor's ``cluster``. Missing values are an
        InputError naming the rows.
    obs : str, optional
        Column telling different estimates of the same construct apart: metafor's ``obs``.
    rho : float or list of float, optional
        The assumed correlation(s) of estimates measured concurrently: metafor's ``rho``.
    phi : float, optional
        The autocorrelation across time points: metafor's ``phi``.
    type : str, optional
        Column of construct types: metafor's ``type``.
    subgroup : str, optional
        Column of independent subgroups within clusters: metafor's ``subgroup``.
    time1 : str, optional
        Column of time points (of the first condition): metafor's ``time1``.
    time2 : str, optional
        Column of time points of the second condition: metafor's ``time2``.
    grp1 : str, optional
        Column of the group of the first condition: metafor's ``grp1``.
    grp2 : str, optional
        Column of the group of the second condition: metafor's ``grp2``.
    w1 : str, optional
        Column of group sizes (weights) of the first condition: metafor's ``w1``.
    w2 : str, optional
        Column of group sizes (weights) of the second condition: metafor's ``w2``.
    rvars : list of str, optional
        Columns holding each cluster's correlation (or, with vi = 1, var-cov) matrix row by
        row: metafor's ``rvars`` (then obs, type, time and groups are ignored).
    checkpd : bool, default True
        Check each cluster's matrix is positive definite: metafor's ``checkpd``.
    nearpd : bool, default False
        Replace a matrix that is not by the nearest positive definite one: metafor's ``nearpd``.

    Returns
    -------
    pandas.DataFrame
        The k x k matrix, rows and columns labelled by the data's row positions (0-based).
        ``attrs`` holds ``"ketabridge_assumed_rho"`` (rho as given, None without) and the
        provenance (read it with :func:`provenance_of`), whose R call shows rho and phi.

    Raises
    ------
    InputError
        A column that is missing, not numeric or with missing values (rows named); rho or phi
        outside [-1, 1].
    MetaforError
        metafor's ``vcalc`` stopped with an error (for example rvars that do not cover the
        largest cluster).
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    table = to_arrow(data)
    columns = {"vi": _numbers(table, vi, validate.NONNEGATIVE), "cluster": _labels(table, cluster, "cluster")}
    given = {"subgroup": subgroup, "obs": obs, "type": type, "grp1": grp1, "grp2": grp2}
    columns.update({role: _labels(table, name, role) for role, name in given.items() if name is not None})
    for role in ("obs", "type"):  # metafor < 4.0 read these as indices (NEWS 4.0-0): pass 1-based codes
        if role in columns:
            columns[role] = (pd.factorize(columns[role])[0] + 1).astype(np.int64)
    numbered = {"time1": time1, "time2": time2, "w1": w1, "w2": w2}
    columns.update(
        {role: _numbers(table, name, validate.FINITE) for role, name in numbered.items() if name is not None}
    )
    correlations = None
    if rvars is not None:
        if isinstance(rvars, str) or not rvars:
            raise InputError("rvars takes a list of column names (one per row of the largest cluster)")
        correlations = {f"r{i}": validate.numeric_column(table, name) for i, name in enumerate(rvars, start=1)}
    options = {
        "rho": _correlations(rho, "rho"),
        "phi": _correlations(phi, "phi"),
        "checkpd": bool(checkpd),
        "nearpd": bool(nearpd),
    }
    reply = call_entry(
        "kb_vcalc", columns, correlations, {key: value for key, value in options.items() if value is not None}
    )
    k = int(reply.value["k"][0])
    frame = pd.DataFrame(np.asarray(reply.value["V"]).reshape((k, k), order="F"))
    frame.attrs[ASSUMED_RHO_ATTR] = _shown(rho)
    frame.attrs[PROVENANCE_ATTR] = Provenance.from_reply(reply).to_dict()
    return frame


def aggregate(
    data: TableLike,
    *,
    cluster: str,
    rho: float | None = None,
    yi: str = "yi",
    vi: str = "vi",
    struct: str = "CS",
    phi: float | None = None,
    time: str | None = None,
    obs: str | None = None,
    weighted: bool = True,
    checkpd: bool = True,
    addk: bool = False,
) -> pd.DataFrame:
    """Collapse dependent estimates to one per cluster: metafor's ``aggregate.escalc``.

    Within a cluster, the estimates are combined by inverse-variance (GLS) weighting under the
    assumed structure (``struct="CS"``: every pair correlated ``rho``); other columns are
    aggregated as metafor does (numbers averaged, text taken from a row).

    Parameters
    ----------
    data : pandas.DataFrame, pyarrow.Table, pyarrow.RecordBatch, str or os.PathLike
        One row per estimate with ``yi`` and ``vi`` columns (e.g. :func:`escalc`'s output).
    cluster : str
        Column of clusters: metafor's ``cluster``. Missing values are an InputError naming the rows.
    rho : float, optional
        The assumed within-cluster correlation, in [-1, 1]: metafor's ``rho`` (required for
        CS and CS+CAR).
    yi : str, default "yi"
        Column of effect sizes.
    vi : str, default "vi"
        Column of sampling variances.
    struct : {"ID", "CS", "CAR", "CS+CAR"}, default "CS"
        The assumed structure: metafor's ``struct``.
    phi : float, optional
        The autocorrelation for CAR structures: metafor's ``phi``.
    time : str, optional
        Column of time points for CAR structures: metafor's ``time``.
    obs : str, optional
        Column of observations for CS+CAR: metafor's ``obs``.
    weighted : bool, default True
        Inverse-variance weighting (False: unweighted means): metafor's ``weighted``.
    checkpd : bool, default True
        Check each cluster's matrix is positive definite: metafor's ``checkpd``.
    addk : bool, default False
        Add a column ``ki`` with the number of estimates per cluster: metafor's ``addk``.

    Returns
    -------
    pandas.DataFrame
        One row per cluster, with the data's columns (yi and vi aggregated). ``attrs`` holds
        ``"ketabridge_assumed_rho"`` and the provenance (read it with :func:`provenance_of`),
        whose R call shows rho.

    Raises
    ------
    InputError
        An unknown struct; a missing column; missing values in ``cluster`` (rows named) or in
        yi/vi; rho or phi outside [-1, 1], or rho missing for a CS structure.
    MetaforError
        metafor's ``aggregate`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    check_choice(struct, AGGREGATE_STRUCTS, "struct")
    if struct in ("CS", "CS+CAR") and rho is None:
        raise InputError(f"struct {struct!r} needs the assumed within-cluster correlation rho (e.g. rho=0.6)")
    table = to_arrow(data)
    clusters = _labels(table, cluster, "cluster")
    checked = validate.checked_columns(table, [(yi, validate.FINITE), (vi, validate.VARIANCES)])
    missing = np.flatnonzero(np.isnan(checked[yi]) | np.isnan(checked[vi]))
    if missing.size:
        raise InputError(f"{yi}/{vi} have missing values in {validate.rows_text(missing)}")
    frame = table.to_pandas()
    columns = {name: _column_for_r(frame[name]) for name in frame.columns if name not in (yi, vi)}
    columns.update(yi=checked[yi], vi=checked[vi])
    options = {
        "struct": struct,
        "rho": _correlations(rho, "rho"),
        "phi": _correlations(phi, "phi"),
        "weighted": bool(weighted),
        "checkpd": bool(checkpd),
        "addk": bool(addk),
    }
    if time is not None:
        options["time"] = _numbers(table, time, validate.FINITE)
    if obs is not None:
        options["obs"] = _labels(table, obs, "obs")
    reply = call_entry(
        "kb_aggregate", columns, clusters, {key: value for key, value in options.items() if value is not None}
    )
    names = reply.value["names"]
    out = pd.DataFrame({name: reply.value["table"][name] for name in names})
    out = out.rename(columns={"yi": yi, "vi": vi})
    out.attrs[ASSUMED_RHO_ATTR] = _shown(rho)
    out.attrs[PROVENANCE_ATTR] = Provenance.from_reply(reply).to_dict()
    return out


def _labels(table, name: str, role: str) -> np.ndarray:
    validate.require_columns(table, [name])
    cells = table.column(name).to_pylist()
    missing = [row for row, value in enumerate(cells) if value is None or value != value]
    if missing:
        raise InputError(f"{role} column {name!r} has missing values in {validate.rows_text(missing)}")
    return np.array([str(value) for value in cells], dtype=object)


def _numbers(table, name: str, rule: str) -> np.ndarray:
    values = validate.checked_columns(table, [(name, rule)])[name]
    missing = np.flatnonzero(np.isnan(values))
    if missing.size:
        raise InputError(f"column {name!r} has missing values in {validate.rows_text(missing)}")
    return values


def _column_for_r(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return np.array([None if value is None or value != value else str(value) for value in column], dtype=object)
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def _correlations(value, name: str):
    if value is None:
        return None
    values = [value] if isinstance(value, numbers.Real) else list(value)
    for item in values:
        if isinstance(item, bool) or not isinstance(item, numbers.Real) or not -1 <= item <= 1:
            raise InputError(f"{name} is a correlation and must be a number in [-1, 1], not {value!r}")
    return np.array(values, dtype=np.float64)


def _shown(value):
    if value is None or isinstance(value, numbers.Real):
        return value
    return [float(item) for item in value]
