"""CrosscheckResult: the discrepancy table, its summary per quantity, and a reproducer per disagreement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ketabridge import schema
from ketabridge.analyses.results import Provenance, table_method
from ketabridge.crosschecks.compare import VERDICTS
from ketabridge.crosschecks.suites import Dataset


@dataclass(frozen=True, eq=False, init=False)
class CrosscheckResult:
    """A cross-check, read as every result is: ``discrepancies()`` (one row per data set x method
    x test x quantity, schema.CROSSCHECK), ``summary()`` (verdict counts per method x test x
    quantity), ``reproducers()`` (the data, as CSV text, and R code of each data set x method x
    test with a disagreement) and ``disagreements()`` return copies; ``provenance`` is a
    Provenance whose ``details`` hold the run's record (engine, suite, options, tolerances with
    their reasons, versions).

    Reading the tables as attributes (``result.summary[...]``) still works for one release, with
    a DeprecationWarning; so does ``result.provenance["..."]``.
    """

    provenance: Provenance = field(repr=False)
    _discrepancies: pd.DataFrame = field(repr=False)
    _summary: pd.DataFrame = field(repr=False)
    _reproducers: pd.DataFrame = field(repr=False)

    def __init__(
        self,
        discrepancies: pd.DataFrame,
        summary: pd.DataFrame,
        reproducers: pd.DataFrame,
        provenance: Mapping | Provenance,
    ):
        if not isinstance(provenance, Provenance):
            provenance = Provenance.of_run(provenance)
        for name, value in (
            ("_discrepancies", discrepancies),
            ("_summary", summary),
            ("_reproducers", reproducers),
            ("provenance", provenance),
        ):
            object.__setattr__(self, name, value)

    @table_method
    def discrepancies(self) -> pd.DataFrame:
        """One row per data set x method x test x quantity, with both values and the verdict."""
        return self._discrepancies.copy()

    @table_method
    def summary(self) -> pd.DataFrame:
        """Verdict counts and the largest differences per method x test x quantity."""
        return self._summary.copy()

    @table_method
    def reproducers(self) -> pd.DataFrame:
        """One row per data set x method x test with a disagreement: its data as CSV and the R code."""
        return self._reproducers.copy()

    @table_method
    def disagreements(self) -> pd.DataFrame:
        """The rows of ``discrepancies()`` whose verdict is ``disagree``."""
        return self._discrepancies[self._discrepancies["verdict"] == "disagree"].reset_index(drop=True)

    @property
    def ok(self) -> bool:
        """True when nothing disagrees (the CLI's exit code 0)."""
        return not (self._discrepancies["verdict"] == "disagree").any()

    def write(self, out) -> list[Path]:
        """Parquet and CSV of every table, provenance.json, report.html and reproducers/ in ``out``."""
        from ketabridge.crosschecks.findings_page import write_findings

        return write_findings(self, Path(out))

    def __repr__(self) -> str:
        counts = self._discrepancies["verdict"].value_counts().to_dict()
        shown = ", ".join(f"{counts.get(name, 0)} {name}" for name in VERDICTS)
        return f"<CrosscheckResult {self.provenance.details.get('engine')} vs metafor: {shown}>"

    def _repr_html_(self) -> str:
        from ketabridge.analyses.display import crosscheck_html

        return crosscheck_html(self)


def summarise(discrepancies: pd.DataFrame) -> pd.DataFrame:
    """Verdict counts and the largest differences per method x test x quantity."""
    rows = []
    for (method, test, quantity), group in discrepancies.groupby(["method", "test", "quantity"], sort=False):
        counts = group["verdict"].value_counts()
        rows.append(
            {
                "method": method,
                "test": test,
                "quantity": quantity,
                "compared": len(group),
                **{name.replace("-", "_"): int(counts.get(name, 0)) for name in VERDICTS},
                "max_abs_diff": group["abs_diff"].max(skipna=True),
                "max_rel_diff": group["rel_diff"].max(skipna=True),
            }
        )
    return schema.frame(
        {name: [row[name] for row in rows] for name in schema.CROSSCHECK_SUMMARY}, schema.CROSSCHECK_SUMMARY
    )


def reproducers(discrepancies: pd.DataFrame, datasets: list[Dataset], calls: dict, level: float) -> pd.DataFrame:
    """One row per data set x method x test with a disagreement: its data as CSV and the R code."""
    by_name = {dataset.name: dataset for dataset in datasets}
    bad = discrepancies[discrepancies["verdict"] == "disagree"]
    rows = []
    for (name, method, test), group in bad.groupby(["dataset", "method", "test"], sort=False):
        dataset = by_name[name]
        data = pd.DataFrame({"yi": dataset.yi, "vi": dataset.vi}).to_csv(index=False, float_format="%.17g")
        quantities = group["quantity"].tolist()
        rows.append(
            {
                "dataset": name,
                "method": method,
                "test": test,
                "quantities": ", ".join(quantities),
                "data_csv": data,
                "r_call": r_code(method, test, level, quantities, calls.get((name, method, test), "")),
            }
        )
    return schema.frame(
        {key: [row[key] for row in rows] for key in schema.CROSSCHECK_REPRODUCER}, schema.CROSSCHECK_REPRODUCER
    )


def r_code(method: str, test: str, level: float, quantities: list[str], batch_call: str) -> str:
    """R code reproducing metafor's side on data.csv (names are from allow-lists; no user text)."""
    lines = [
        "library(metafor)",
        'dat <- read.csv("data.csv")',
        f'res <- rma.uni(yi = yi, vi = vi, data = dat, method = "{method}", test = "{test}", level = {level:g})',
        "print(res)",
        "print(predict(res))",
    ]
    if any(q.startswith("trimfill_") for q in quantities):
        lines.append("print(trimfill(res))")
    if any(q.startswith("regtest_") for q in quantities):
        lines.append('print(regtest(res, model = "rma", predictor = "sei"))')
    if batch_call:
        # one line, so a data set name can never end the comment and become code
        lines.insert(0, f"# as run by ketabridge.batch: {' '.join(batch_call.split())}")
    return "\n".join(lines) + "\n"
