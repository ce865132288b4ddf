"""Proportions side by side: one events/totals table pooled four ways, back-transformed."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ketabridge import schema
from ketabridge.analyses import validate
from ketabridge.analyses.glmm import glmm_packages, require_r_packages
from ketabridge.analyses.results import Provenance, deprecated, records
from ketabridge.analyses.spec import percent_level
from ketabridge.analyses.transforms import natural_transform
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError, MetaforWarning
from ketabridge.io import TableLike, to_arrow

# (measure, method) pairs: PR with DerSimonian-Laird, as many published pooled proportions are,
# then the logit, Freeman-Tukey and arcsine transforms with REML (metafor's default estimator).
APPROACHES = (("PR", "DL"), ("PLO", "REML"), ("PFT", "REML"), ("PAS", "REML"))
# The binomial-normal model (metafor's rma.glmm, measure "PLO": logit link, random intercept, ML),
# which methodologists now recommend for proportions; its row's method reads "GLMM".
GLMM_APPROACH = ("PLO", "GLMM")


class ProportionWarning(MetaforWarning):
    """A pooled proportion's interval leaves [0, 1], or studies have 0 or all events."""


@dataclass(frozen=True, eq=False, init=False)
class ProportionsResult:
    """One row per approach (``tidy()``, a copy), with the provenance of the single R call."""

    _table: pd.DataFrame = field(repr=False)
    provenance: Provenance = field(repr=False)

    def __init__(self, table: pd.DataFrame, provenance: Provenance):
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "provenance", provenance)

    def tidy(self) -> pd.DataFrame:
        return self._table.copy()

    @property
    def table(self) -> pd.DataFrame:
        deprecated("ProportionsResult.table", "ProportionsResult.tidy()")
        return self.tidy()

    def to_dict(self) -> dict:
        return {"tidy": records(self._table), "provenance": self.provenance.to_dict()}

    def __repr__(self) -> str:
        from ketabridge.analyses.display import proportions_sentence

        return f"<ProportionsResult {proportions_sentence(self)}>"

    def _repr_html_(self) -> str:
        from ketabridge.analyses.display import proportions_html

        return proportions_html(self)


def pool_proportions(
    data: TableLike,
    events: str,
    totals: str,
    *,
    slab: str | None = None,
    level: float = 95,
    na_action: str = "omit",
    glmm: bool = True,
) -> ProportionsResult:
    """Pool the same events/totals as PR (DL), PLO, PFT and PAS (REML), and the logit GLMM, side by side.

    Each approach is metafor's ``escalc(measure, xi=events, ni=totals)`` (default continuity
    correction: 1/2 added to studies with 0 or all events for PR and PLO, none for PAS and
    PFT), ``rma.uni(yi, vi, method=)`` and ``predict.rma(transf=)`` with the measure's back-
    transform (``transf.ilogit``, ``transf.ipft.hm`` with ``targs=list(ni=totals)`` as in
    metafor's documentation, ``transf.iarcsin``; none for PR). The GLMM row is metafor's
    ``rma.glmm(measure="PLO", xi=events, ni=totals)`` (binomial-normal model: logit link,
    random intercept, ML; no continuity correction) with ``predict(transf=transf.ilogit)``;
    it needs the R package lme4, and a GLMM fit that fails leaves its row NaN with a
    MetaforWarning. Warns (``ProportionWarning``)
    when an interval leaves [0, 1] and when studies have 0 or all events.

    Parameters
    ----------
    data : pandas.DataFrame, pyarrow.Table, pyarrow.RecordBatch, str or os.PathLike
        One row per study: a table, or the path of a CSV, Parquet, Feather or Arrow IPC file.
    events : str
        Column of event counts (>= 0, at most ``totals``): escalc's ``xi``.
    totals : str
        Column of sample sizes (> 0): escalc's ``ni``.
    slab : str, optional
        Column of study labels, used to name the studies in warnings (not sent to R).
        Default None: row numbers.
    level : float, default 95
        Confidence level in percent (below 1: a proportion): rma.uni's and predict's
        ``level``.
    na_action : {"omit", "fail"}, default "omit"
        Rows with a missing count: ``"omit"`` leaves them out with a MissingValuesWarning,
        ``"fail"`` raises InputError.
    glmm : bool, default True
        Add the GLMM row (measure ``"PLO"``, method ``"GLMM"``); False gives the four others only.

    Returns
    -------
    ProportionsResult
        ``tidy()`` one row per approach (PR/DL, PLO/REML, PFT/REML, PAS/REML, PLO/GLMM): ``measure,
        method, transform, k``, the back-transformed ``estimate, conf_low, conf_high, pi_low,
        pi_high``, ``tau2, i2, q, q_pvalue`` and ``model_estimate, model_std_error`` on the
        measure's scale, ``corrected`` (studies whose yi the continuity correction changed) and
        ``outside_unit`` (an interval bound outside [0, 1]); and ``provenance``.

    Raises
    ------
    InputError
        A column that is missing, not numeric or infinite; negative events, totals <= 0 or
        events above totals; fewer than 2 complete studies; a ``level`` outside (0, 100).
    MetaforError
        metafor stopped with an error in one of the approaches (ConvergenceError when an
        estimator did not converge).
    RNotAvailableError
        R, metafor or rpy2 is missing or too old; lme4 is missing (with ``glmm=True``).
    """
    level = percent_level(level)
    table = to_arrow(data)
    counts = {name: validate.numeric_column(table, name) for name in (events, totals)}
    keep = validate.complete_rows(counts, na_action)
    xi, ni = counts[events][keep], counts[totals][keep]
    _check_counts(events, totals, xi, ni, np.flatnonzero(keep))
    labels = validate.label_column(table, slab) if slab else [str(row) for row in range(table.num_rows)]

    chosen = APPROACHES + ((GLMM_APPROACH,) if glmm else ())
    if glmm:
        require_r_packages(
            glmm_packages("PLO", "UM.FS", "ML"), "the GLMM row of pool_proportions (glmm=False leaves it out)"
        )
    approaches = {  # parallel vectors, one element per approach; "" is no back-transform
        "measure": [measure for measure, _ in chosen],
        "method": [method for _, method in chosen],
        "transform": [natural_transform(measure) or "" for measure, _ in chosen],
    }
    reply = call_entry("kb_proportions", xi, ni, approaches, level)
    columns = dict(reply.value)
    bounds = np.column_stack([columns[name] for name in ("conf_low", "conf_high", "pi_low", "pi_high")])
    columns["outside_unit"] = ((bounds < 0) | (bounds > 1)).any(axis=1)
    result = ProportionsResult(schema.frame(columns, schema.PROPORTIONS), Provenance.from_reply(reply))
    _warn_outside_unit(result.tidy())
    extreme = np.flatnonzero(keep)[(xi == 0) | (xi == ni)]
    if extreme.size:
        _warn_extreme(result.tidy(), [labels[row] for row in extreme], extreme)
    return result


def _check_counts(events: str, totals: str, xi: np.ndarray, ni: np.ndarray, rows: np.ndarray) -> None:
    for name, values in ((events, xi), (totals, ni)):
        validate.check_finite(name, values)
    problems = [
        (events, xi < 0, "negative"),
        (totals, ni <= 0, "not positive"),
        (events, xi > ni, f"larger than {totals!r}"),
    ]
    for name, bad, what in problems:
        if bad.any():
            raise InputError(f"column {name!r} is {what} in {validate.rows_text(rows[bad])}")
    if len(xi) < 2:
        raise InputError(f"pooling needs at least 2 studies with complete data; got {len(xi)}")


def _warn_outside_unit(table: pd.DataFrame) -> None:
    for row in table[table["outside_unit"]].itertuples():
        shown = ", ".join(
            f"{name} {value:.4g}"
            for name in ("conf_low", "conf_high", "pi_low", "pi_high")
            if not 0 <= (value := getattr(row, name)) <= 1
        )
        warnings.warn(
            ProportionWarning(
                f"{row.measure} ({row.method}): the interval leaves [0, 1] ({shown}); raw proportions "
                "are not bounded, a transformed measure (PLO, PFT, PAS) keeps intervals inside"
            ),
            stacklevel=3,
        )


def _warn_extreme(table: pd.DataFrame, labels: list[str], rows: np.ndarray) -> None:
    corrected = [f"{row.measure} ({row.corrected})" for row in table.itertuples() if row.corrected]
    untouched = [row.measure if row.method != "GLMM" else "the GLMM" for row in table.itertuples() if not row.corrected]
    correction = (
        f"metafor's escalc added 1/2 to their events and non-events (its default add=1/2, to='only0') "
        f"for {', '.join(corrected)}"
        if corrected
        else "metafor applied no continuity correction"
    )
    warnings.warn(
        ProportionWarning(
            f"{len(rows)} stud{'y has' if len(rows) == 1 else 'ies have'} 0 or all events "
            f"({', '.join(repr(label) for label in labels[:5])}{' ...' if len(labels) > 5 else ''}; "
            f"{validate.rows_text(rows)}): {correction}"
            + (f"; none for {', '.join(untouched)}" if corrected and untouched else "")
        ),
        stacklevel=3,
    )
