"""Frozen results with fixed tidy schemas, and the provenance every result carries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import cache, cached_property
from importlib import metadata

import pandas as pd

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
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @classmethod
    def from_reply(cls, reply) -> "Provenance":
        """Provenance of one R reply, with the versions of the running R session."""
        from ._r.session import r_session  # no rpy2 at import: session imports it when R starts

        session = r_session()
        return cls(
            ketabridge_version=ketabridge_version(),
            r_version=session.r_version,
            metafor_version=session.metafor_version,
            rpy2_version=session.rpy2_version,
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
    """A funnel-asymmetry test (regtest or ranktest): one glance row and provenance."""

    kind: str  # "regtest" or "ranktest"
    glance_table: pd.DataFrame = field(repr=False)
    provenance: Provenance = field(repr=False)

    def glance(self) -> pd.DataFrame:
        return self.glance_table.copy()

    def to_dict(self) -> dict:
        return {"glance": records(self.glance_table)[0], "provenance": self.provenance.to_dict()}


def records(table: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts of Python scalars (NaN and NA become None; floats keep all digits)."""
    return [
        {name: None if pd.isna(value) else value for name, value in row.items()}
        for row in table.to_dict(orient="records")
    ]


def meta_result(
    kind: str, spec: ModelSpec, reply, provenance: Provenance, compute_augment: Callable[[], dict]
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
    )


def bias_test_result(kind: str, value: dict, provenance: Provenance) -> BiasTestResult:
    table_schema = schema.REGTEST_GLANCE if kind == "regtest" else schema.RANKTEST_GLANCE
    return BiasTestResult(kind=kind, glance_table=schema.frame(value["glance"], table_schema), provenance=provenance)
