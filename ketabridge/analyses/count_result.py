"""The result of rma_mh, rma_peto and rma_glmm: tidy tables and provenance, read like MetaResult."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ketabridge import schema
from ketabridge.analyses.counts import Counts
from ketabridge.analyses.results import Provenance, records
from ketabridge.bridge.call import RReply
from ketabridge.errors import MetaforError


@dataclass(frozen=True, eq=False)
class CountModelResult:
    """A metafor model fitted to counts (rma.mh, rma.peto, rma.glmm) as tidy tables.

    ``glance()`` one row (schema.COUNT_GLANCE), ``tidy()`` one row per coefficient
    (schema.TIDY), ``augment()`` one row per study (schema.COUNT_AUGMENT); each a copy.
    """

    kind: str  # "rma_mh", "rma_peto" or "rma_glmm"
    _glance: pd.DataFrame = field(repr=False)
    _tidy: pd.DataFrame = field(repr=False)
    _augment: pd.DataFrame = field(repr=False)
    provenance: Provenance = field(repr=False)

    def glance(self) -> pd.DataFrame:
        """One row: the pooled estimate (model and natural scale), heterogeneity and the tests."""
        return self._glance.copy()

    def tidy(self) -> pd.DataFrame:
        """One row per coefficient (``intrcpt`` and each moderator)."""
        return self._tidy.copy()

    def augment(self) -> pd.DataFrame:
        """One row per study: yi, vi, weight, zero cells and whether it entered the fit."""
        return self._augment.copy()

    def to_dict(self) -> dict:
        return {
            "glance": records(self._glance)[0],
            "tidy": records(self._tidy),
            "augment": records(self._augment),
            "provenance": self.provenance.to_dict(),
        }

    def __repr__(self) -> str:
        row = self._glance.iloc[0]
        return (
            f"<CountModelResult {self.kind} {row['model']} {row['measure']} k={row['k']} "
            f"estimate={row['estimate']:.4g} [{row['conf_low']:.4g}, {row['conf_high']:.4g}]>"
        )


def count_model_result(
    kind: str, reply: RReply, counts: Counts, r_packages: Mapping[str, str] | None = None
) -> CountModelResult:
    """Build the result; a fit without an estimate (metafor's NA) is an error, never a quiet NaN.
    ``r_packages``: the versions of the R packages the fit used besides metafor (lme4...)."""
    glance = {**reply.value["glance"], "converged": [reply.converged]}
    estimate = float(np.asarray(glance["estimate"], dtype=float)[0])
    if not np.isfinite(estimate):
        raise MetaforError(
            "metafor returned no pooled estimate (NA): the counts do not identify it (e.g. no events in one group "
            "of every study that enters the fit)",
            reply.call,
        )
    studies = dict(reply.value["augment"])
    studies["row"] = counts.rows
    studies["zero_cells"] = list(counts.zero_cells())
    studies["study"] = list(counts.labels)  # as given: metafor makes duplicate labels unique
    return CountModelResult(
        kind=kind,
        _glance=schema.frame(glance, schema.COUNT_GLANCE),
        _tidy=schema.frame(reply.value["tidy"], schema.TIDY),
        _augment=schema.frame(studies, schema.COUNT_AUGMENT),
        provenance=Provenance.from_reply(reply, r_packages),
    )
