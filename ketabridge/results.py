"""Frozen results with fixed tidy schemas, and the provenance every result carries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import cache, cached_property
from importlib import metadata

import pandas as pd
import pyarrow as pa

from . import schema
from .spec import ModelSpec


@cache
def ketabridge_version() -> str:
    try:
        return metadata.version("ketabridge")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class Provenance:
    """Who computed a result and how: versions, the R call as text, and R's warnings."""

    ketabridge_version: str
    r_version: str
    metafor_version: str
    rpy2_version: str
    r_call: str
    r_warnings: tuple[str, ...] = ()
    # rpy2 3.6 ships its two halves as separate distributions with their own versions.
    rpy2_rinterface_version: str = ""
    rpy2_robjects_version: str = ""
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @classmethod
    def from_reply(cls, reply) -> "Provenance":
        """Provenance of one R reply, with the versions of the running R session."""
        from ._r.session import r_session  # no rpy2 at import: session imports it when R starts

        return cls(
            ketabridge_version=ketabridge_version(),
            **r_session().versions(),
            r_call=reply.call,
            r_warnings=reply.warnings,
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "r_warnings": list(self.r_warnings)}


@dataclass(frozen=True, eq=False)
class MetaResult:
    """A fitted metafor model (rma.uni, or its trim-and-fill version) as tidy tables.

    The tables are copied on the way out, so a result cannot be changed after the fact. The
    per-study table is computed on first use: Cook's distances refit the model k times, which
    costs more than the fit itself.
    """

    kind: str  # "rma" or "trimfill"
    spec: ModelSpec  # the validated inputs, so follow-up analyses refit the same model
    glance_table: pd.DataFrame = field(repr=False)
    tidy_table: pd.DataFrame = field(repr=False)
    provenance: Provenance = field(repr=False)
    compute_augment: Callable[[], pd.DataFrame] = field(repr=False)
    source: pa.Table | None = field(default=None, repr=False)  # the input table, for cumul(order="col")

    @cached_property
    def augment_table(self) -> pd.DataFrame:
        return self.compute_augment()

    def glance(self) -> pd.DataFrame:
        """One row: the pooled (intercept) estimate, heterogeneity and fit statistics."""
        return self.glance_table.copy()

    def tidy(self) -> pd.DataFrame:
        """One row per coefficient (`intrcpt` and each moderator)."""
        return self.tidy_table.copy()

    def augment(self) -> pd.DataFrame:
        """One row per study: yi, vi, weight, fitted value, residuals and influence."""
        return self.augment_table.copy()

    def to_dict(self) -> dict:
        return {
            "glance": records(self.glance_table)[0],
            "tidy": records(self.tidy_table),
            "augment": records(self.augment_table),
            "provenance": self.provenance.to_dict(),
        }

    def __repr__(self) -> str:
        row = self.glance_table.iloc[0]
        return (
            f"<MetaResult {self.kind} {row['method']} k={row['k']} estimate={row['estimate']:.4g} "
            f"[{row['conf_low']:.4g}, {row['conf_high']:.4g}] tau2={row['tau2']:.4g} I2={row['i2']:.3g}%>"
        )


@dataclass(frozen=True, eq=False)
class BiasTestResult:
    """A publication-bias analysis (regtest, ranktest or fsn): one glance row and provenance."""

    kind: str  # "regtest", "ranktest" or "fsn"
    glance_table: pd.DataFrame = field(repr=False)
    provenance: Provenance = field(repr=False)

    def glance(self) -> pd.DataFrame:
        return self.glance_table.copy()

    def to_dict(self) -> dict:
        return {"glance": records(self.glance_table)[0], "provenance": self.provenance.to_dict()}


PROVENANCE_ATTR = "ketabridge_provenance"


def tidy_frame(reply, table_schema: dict) -> pd.DataFrame:
    """A plain tidy frame from one R reply, with that reply's provenance in ``attrs``."""
    table = schema.frame(reply.value, table_schema)
    table.attrs[PROVENANCE_ATTR] = Provenance.from_reply(reply).to_dict()
    return table


def records(table: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts of Python scalars (NaN and NA become None; floats keep all digits)."""
    return [
        {name: None if pd.isna(value) else value for name, value in row.items()}
        for row in table.to_dict(orient="records")
    ]


def meta_result(
    kind: str, spec: ModelSpec, reply, provenance: Provenance, compute_augment: Callable[[], dict],
    source: pa.Table | None = None,
) -> MetaResult:
    trimmed = kind == "trimfill"
    glance = {**reply.value["glance"], "converged": [reply.converged]}
    return MetaResult(
        kind=kind,
        spec=spec,
        glance_table=schema.frame(glance, schema.TRIMFILL_GLANCE if trimmed else schema.GLANCE),
        tidy_table=schema.frame(reply.value["tidy"], schema.TIDY),
        provenance=provenance,
        compute_augment=lambda: schema.frame(compute_augment(), schema.TRIMFILL_AUGMENT if trimmed else schema.AUGMENT),
        source=source,
    )


def bias_test_result(kind: str, value: dict, provenance: Provenance) -> BiasTestResult:
    table_schema = {"regtest": schema.REGTEST_GLANCE, "ranktest": schema.RANKTEST_GLANCE, "fsn": schema.FSN_GLANCE}[kind]
    return BiasTestResult(kind=kind, glance_table=schema.frame(value["glance"], table_schema), provenance=provenance)


@dataclass(frozen=True, eq=False)
class SubgroupResult:
    """One model per subgroup and the test of subgroup differences (see ketabridge.subgroups).

    ``fits`` maps each subgroup (in order of first appearance) to its MetaResult, so every
    follow-up analysis (predict, influence, trimfill...) works per subgroup.
    """

    column: str  # the subgroup column of the input data
    fits: dict[str, MetaResult] = field(repr=False)
    between_table: pd.DataFrame = field(repr=False)
    provenance: Provenance = field(repr=False)

    def glance(self) -> pd.DataFrame:
        """One row per subgroup: ``subgroup`` and the glance columns of its model."""
        return self._stacked(MetaResult.glance, schema.SUBGROUP_GLANCE)

    def tidy(self) -> pd.DataFrame:
        """One row per subgroup and coefficient."""
        return self._stacked(MetaResult.tidy, schema.SUBGROUP_TIDY)

    def augment(self) -> pd.DataFrame:
        """One row per study, with its subgroup."""
        return self._stacked(MetaResult.augment, schema.SUBGROUP_AUGMENT)

    def between(self) -> pd.DataFrame:
        """The test of subgroup differences: one row ``q_between, df, p_value``."""
        return self.between_table.copy()

    def to_dict(self) -> dict:
        return {
            "glance": records(self.glance()), "tidy": records(self.tidy()), "augment": records(self.augment()),
            "between": records(self.between_table)[0], "provenance": self.provenance.to_dict(),
        }

    def _stacked(self, table: Callable[[MetaResult], pd.DataFrame], table_schema: dict) -> pd.DataFrame:
        parts = [table(fit).assign(subgroup=level) for level, fit in self.fits.items()]
        return pd.concat(parts, ignore_index=True)[list(table_schema)].astype(table_schema)

    def __repr__(self) -> str:
        row = self.between_table.iloc[0]
        return (f"<SubgroupResult by {self.column!r}: {len(self.fits)} subgroups, "
                f"Q_between={row['q_between']:.4g} (df={int(row['df'])}), p={row['p_value']:.4g}>")
