"""Published and documented values of multilevel/multivariate models and cluster-robust tests:
one JSON per source in tests/reference/multilevel/ (citation, page or table, metafor version).

A value printed with d decimals is matched to half a unit in its last place plus the slack of
its column's class in tests/reference/tolerances.json (0 for columns it does not list), as in
test_reference.py. Each analysis may build V with vcalc, compute yi/vi with escalc, fit rma_mv
(or rma), compare it by anova() with a second rma_mv model ("anova_with", its arguments; the
table's rows are "full" and "reduced"), and pass the fit to robust().
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import ketabridge

REFERENCE = Path(__file__).parent / "reference" / "multilevel"
SOURCES = sorted(REFERENCE.glob("*.json"))
TOLERANCES = json.loads((REFERENCE.parent / "tolerances.json").read_text())["classes"]
SLACK = {column: spec["slack"] for spec in TOLERANCES.values() for column in spec["columns"]}

pytestmark = pytest.mark.requires_r


def _cases():
    for path in SOURCES:
        source = json.loads(path.read_text())
        for analysis in source["analyses"]:
            yield pytest.param(source, analysis, id=f"{source['id']}: {analysis['name'][:60]}")


def _data(source: dict, analysis: dict) -> pd.DataFrame:
    if "dataset" in analysis:
        return pd.DataFrame(source["datasets"][analysis["dataset"]])
    return pd.DataFrame(source["data"])


def _run(source: dict, analysis: dict) -> dict[str, pd.DataFrame]:
    data = _data(source, analysis)
    if "escalc" in analysis:
        arguments = dict(analysis["escalc"])
        data = ketabridge.escalc(arguments.pop("measure"), data, **arguments)
    if "rma" in analysis:
        result = ketabridge.rma(data, **analysis["rma"])
    else:
        V = ketabridge.vcalc(data, **analysis["vcalc"]) if "vcalc" in analysis else "vi"
        result = ketabridge.rma_mv(data, V=V, **analysis["rma_mv"])
    tables = {}
    if "anova_with" in analysis:  # likelihood-ratio test against a second model: rows "full", "reduced"
        other = ketabridge.rma_mv(data, V=V, **analysis["anova_with"])
        tables["anova"] = ketabridge.anova(result, other).set_index("model")
    if "robust" in analysis:
        result = ketabridge.robust(result, **analysis["robust"])
    tables.update({"glance": result.glance(), "tidy": result.tidy().set_index("term")})
    if hasattr(result, "components"):
        tables["components"] = result.components().set_index("term")
    return tables


@pytest.mark.parametrize("source, analysis", list(_cases()))
def test_published_values(source, analysis):
    tables = _run(source, analysis)
    failures = []
    for check in analysis["expect"]:
        table, column = tables[check["table"]], check["column"]
        actual = float(table.loc[check["term"], column] if "term" in check else table[column].iloc[0])
        allowed = 0.5 * 10 ** -check["decimals"] + SLACK.get(column, 0.0)
        if not abs(actual - check["value"]) <= allowed * (1 + 1e-9):
            failures.append(
                f"{check['table']}.{column}[{check.get('term', 0)}]: {actual!r} vs {check['value']} (±{allowed:g})"
            )
    assert not failures, f"{source['citation']} ({source['where']}):\n" + "\n".join(failures)


def test_every_source_is_cited_and_dated():
    assert len(SOURCES) >= 5
    for path in SOURCES:
        source = json.loads(path.read_text())
        for key in ("citation", "where", "metafor_version_checked", "analyses"):
            assert source.get(key), f"{path.name} lacks {key}"
        assert source.get("data") or source.get("datasets"), f"{path.name} has no data"


def test_references_cover_every_vcov_type_and_both_estimators():
    """The sources check CR1 and CR2, ML and REML, and a multilevel and a multivariate (UN) model."""
    analyses = [analysis for path in SOURCES for analysis in json.loads(path.read_text())["analyses"]]
    sandwiches = {analysis["robust"]["clubsandwich"] for analysis in analyses if "robust" in analysis}
    methods = {analysis["rma_mv"].get("method", "REML") for analysis in analyses if "rma_mv" in analysis}
    structs = {analysis["rma_mv"].get("struct") for analysis in analyses if "rma_mv" in analysis}
    assert sandwiches == {True, False} and methods == {"ML", "REML"} and "UN" in structs
