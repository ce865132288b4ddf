"""Multilevel and multivariate models: metafor's ``rma.mv``, as tidy tables with provenance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa

from ketabridge import schema
from ketabridge.analyses.models import MEASURE_ATTR
from ketabridge.analyses.multilevel_spec import MultilevelSpec, multilevel_spec
from ketabridge.analyses.results import Provenance, records
from ketabridge.bridge.call import call_entry
from ketabridge.io import TableLike, to_arrow


@dataclass(frozen=True, eq=False)
class MultilevelResult:
    """A fitted rma.mv model (or its cluster-robust version) as tidy tables.

    Read like every ketabridge result: ``glance()``, ``tidy()``, ``augment()`` and
    ``components()`` return copies; ``provenance`` is a Provenance; it pickles. The per-estimate
    table is computed on first use (it refits the model in R).
    """

    kind: str  # "rma.mv" or "robust"
    spec: MultilevelSpec
    _glance: pd.DataFrame = field(repr=False)
    _tidy: pd.DataFrame = field(repr=False)
    _components: pd.DataFrame = field(repr=False)
    provenance: Provenance = field(repr=False)
    source: pa.Table | None = field(default=None, repr=False)

    @cached_property
    def _augment(self) -> pd.DataFrame:
        return schema.frame(call_entry("kb_rma_mv_augment", self.spec.to_r()).value, schema.MV_AUGMENT)

    def glance(self) -> pd.DataFrame:
        """One row: the pooled (intercept) estimate, its PI, Q, the multilevel I^2 and fit statistics."""
        return self._glance.copy()

    def tidy(self) -> pd.DataFrame:
        """One row per coefficient, named as metafor names them, with ``df`` and ``vcov_type``."""
        return self._tidy.copy()

    def augment(self) -> pd.DataFrame:
        """One row per estimate: yi, vi, weight, fitted value, residuals and hat value."""
        return self._augment.copy()

    def components(self) -> pd.DataFrame:
        """One row per variance or correlation component: ``term, factor, estimate, sqrt,
        n_levels, fixed, i2`` (see ``ketabridge.schema.COMPONENTS``)."""
        return self._components.copy()

    def to_dict(self) -> dict:
        return {
            "glance": records(self._glance)[0],
            "tidy": records(self._tidy),
            "components": records(self._components),
            "augment": records(self._augment),
            "provenance": self.provenance.to_dict(),
        }

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for array in (
            self.spec.yi,
            self.spec.V,
            self.spec.source_rows,
            *self.spec.columns.values(),
            *self.spec.mods.values(),
            *self.spec.fixed.values(),
        ):
            array.flags.writeable = False

    def __repr__(self) -> str:
        row = self._glance.iloc[0]
        return (
            f"<MultilevelResult {self.kind} {row['method']} k={row['k']} estimate={row['estimate']:.4g} "
            f"[{row['conf_low']:.4g}, {row['conf_high']:.4g}] vcov={row['vcov_type']} "
            f"components={len(self._components)}>"
        )


def multilevel_result(
    kind: str, spec: MultilevelSpec, reply, source: pa.Table | None = None, r_packages: dict | None = None
) -> MultilevelResult:
    value = reply.value
    return MultilevelResult(
        kind=kind,
        spec=spec,
        # rma.mv takes no measure (it reads escalc's attribute): the one escalc recorded, or GEN
        _glance=schema.frame(
            {**value["glance"], "measure": [spec.measure], "converged": [reply.converged]}, schema.MV_GLANCE
        ),
        _tidy=schema.frame(value["tidy"], schema.MV_TIDY),
        _components=schema.frame(value["components"], schema.COMPONENTS),
        provenance=Provenance.from_reply(reply, r_packages),
        source=source,
    )


def rma_mv(
    data: TableLike,
    yi: str = "yi",
    V: str | np.ndarray | pd.DataFrame = "vi",
    *,
    random: str | Sequence[str],
    struct: str | Sequence[str] | None = None,
    mods: Sequence[str] | str | None = None,
    method: str = "REML",
    test: str = "z",
    dfs: str | float | None = None,
    level: float = 95,
    slab: str | None = None,
    sparse: bool = False,
    control: Mapping[str, object] | None = None,
    sigma2: float | Sequence[float | None] | None = None,
    tau2: float | Sequence[float | None] | None = None,
    rho: float | Sequence[float | None] | None = None,
    gamma2: float | Sequence[float | None] | None = None,
    phi: float | Sequence[float | None] | None = None,
) -> MultilevelResult:
    """Fit a multilevel or multivariate model: metafor's ``rma.mv``.

    ``random`` is written in metafor's notation, one formula or a list: ``"~ 1 | study/es_id"``
    (nested levels), ``["~ 1 | district", "~ 1 | school"]``, ``"~ outcome | trial"`` with
    ``struct="UN"``. Every name in a formula must be a column of ``data`` or an allow-listed
    function (``ketabridge.analyses.formulas.FUNCTIONS``); this is checked in Python and again in
    R, where the formula is evaluated with nothing else reachable. Rows with a missing effect,
    variance or moderator are left out with a warning; a missing value in a random-effects
    column is an InputError naming the rows.

    Parameters
    ----------
    data : pandas.DataFrame, pyarrow.Table, pyarrow.RecordBatch, str or os.PathLike
        One row per estimate (several per study): a table or the path of a CSV, Parquet,
        Feather or Arrow IPC file. metafor's ``data``, but required.
    yi : str, default "yi"
        Column of observed effect sizes: metafor's ``yi``.
    V : str, numpy.ndarray or pandas.DataFrame, default "vi"
        The sampling variances: a column name, or a k x k variance-covariance matrix in the
        rows' order (dense numpy or pandas, e.g. :func:`vcalc`'s output; block-diagonal by
        cluster or not). It must be symmetric and positive semi-definite: metafor's ``V``.
    random : str or list of str
        The random effects: metafor's ``random`` (one formula or a list; at most two
        ``~ inner | outer`` terms).
    struct : str or list of str, optional
        The var-cov structure of each ``~ inner | outer`` term: one of
        ``ketabridge.options.STRUCTS`` (CS, HCS, UN, ID, DIAG, AR, HAR, CAR). Default None:
        metafor's ``"CS"``.
    mods : str or list of str, optional
        The moderators: a one-sided formula (``"~ 0 + outcome"``) or a list of numeric
        columns: metafor's ``mods``.
    method : {"REML", "ML"}, default "REML"
        The estimator of the variance components: metafor's ``method``.
    test : {"z", "t"}, default "z"
        How coefficients are tested: metafor's ``test``.
    dfs : {"residual", "contain"} or float, optional
        The degrees of freedom of t tests: metafor's ``dfs`` (``"contain"`` implies ``test="t"``).
        Default None: metafor's ``"residual"``.
    level : float, default 95
        Confidence level in percent: metafor's ``level``.
    slab : str, optional
        Column of labels, one per estimate: metafor's ``slab``.
    sparse : bool, default False
        Use sparse matrices (faster for large block-diagonal models): metafor's ``sparse``.
    control : dict, optional
        Optimizer settings by metafor's names (``optimizer``, ``optmethod``, ``sigma2.init``,
        ``tau2.init``, ``rho.init``, ``iter.max``, ``rel.tol``, ...): metafor's ``control``.
    sigma2 : float or list of (float or None), optional
        Fix variance components of the ``~ 1 | group`` terms (one per nesting level, in order:
        ``"~ 1 | study/esid"`` has two): one number fixes them all, a list gives one value per
        component, None (or NaN) estimating it, as metafor's NA: metafor's ``sigma2``
        (``sigma2=[0, None]`` drops the study level, the reduced model of a likelihood-ratio
        test). Values must be >= 0. Default None: all estimated.
    tau2 : float or list of (float or None), optional
        Fix the variance(s) of the first ``~ inner | outer`` term (>= 0): metafor's ``tau2``.
    rho : float or list of (float or None), optional
        Fix the correlation(s) of the first ``~ inner | outer`` term (in [-1, 1]; [0, 1] for
        ``CAR``; not with ``ID``/``DIAG``, which have none): metafor's ``rho``.
    gamma2 : float or list of (float or None), optional
        Fix the variance(s) of the second ``~ inner | outer`` term: metafor's ``gamma2``.
    phi : float or list of (float or None), optional
        Fix the correlation(s) of the second ``~ inner | outer`` term: metafor's ``phi``.

    Returns
    -------
    MultilevelResult
        ``glance()`` one row (``k, measure, method, test, level``, the pooled ``estimate,
        std_error, statistic, df, p_value, conf_low, conf_high, pi_low, pi_high``,
        ``sigma2_total, i2`` (the multilevel I^2 in percent, metafor's FAQ), ``q, q_df,
        q_pvalue, qm, qm_df, qm_pvalue, loglik, aic, bic, n_clusters, vcov_type, converged``);
        ``tidy()`` one row per coefficient (with ``df`` and ``vcov_type``); ``components()`` one
        row per variance/correlation component (``term, factor, estimate, sqrt, n_levels,
        fixed, i2``; ``fixed`` is True for a component given by ``sigma2=`` ... ``phi=`` or fixed
        by metafor itself); ``augment()`` one row per estimate; and ``provenance``.

    Raises
    ------
    InputError
        An unknown method, test, struct or control setting; a random term or formula naming a
        column that does not exist or a function not allowed; a missing value in a
        random-effects column; a V matrix of the wrong size, not symmetric or not positive
        semi-definite; fewer than 2 complete rows; a fixed component (``sigma2=`` ... ``phi=``)
        that is not a number or None, out of range, or of a length that does not match the
        model's components.
    ConvergenceError
        The optimizer did not converge (try ``control={"optimizer": "optim"}``).
    MetaforError
        metafor's ``rma.mv`` stopped with another error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    measure = data.attrs.get(MEASURE_ATTR) if isinstance(data, pd.DataFrame) else None
    table = to_arrow(data)
    spec = multilevel_spec(
        table,
        yi=yi,
        V=V,
        random=random,
        struct=struct,
        mods=mods,
        method=method,
        test=test,
        dfs=dfs,
        level=level,
        slab=slab,
        sparse=sparse,
        control=control,
        measure=measure,
        fixed={"sigma2": sigma2, "tau2": tau2, "rho": rho, "gamma2": gamma2, "phi": phi},
    )
    return multilevel_result("rma.mv", spec, call_entry("kb_rma_mv", spec.to_r()), source=table)
