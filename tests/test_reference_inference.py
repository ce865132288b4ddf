"""Published and documented values for model comparison and inference: one JSON per source in
tests/reference/inference/ (the same layout and tolerance rule as tests/test_reference.py).

An analysis fits ``rma`` or ``rma_mv`` (and, for a likelihood-ratio test, a second model ``other``
of the same data and kind), runs follow-ups (anova, fitstats, vcov, blup, ranef, predict,
profile) and checks their tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_reference import SLACK

import ketabridge

REFERENCE = Path(__file__).parent / "reference" / "inference"
SOURCES = sorted(REFERENCE.glob("*.json"))
FOLLOW_UPS = ("anova", "fitstats", "vcov", "blup", "ranef", "predict", "profile")
# quantities of these tables with no class in tolerances.json: none get slack
EXTRA_SLACK = {"qm": 0.0, "aic": 0.0, "bic": 0.0, "aicc": 0.0, "loglik": 0.0, "lrt": 0.0, "r2": 0.0, "qe": 0.0}


def _cases():
    for path in SOURCES:
        source = json.loads(path.read_text())
        for analysis in source["analyses"]:
            yield pytest.param(source, analysis, id=f"{source['id']}: {analysis['name']}")


def _fit(data: pd.DataFrame, analysis: dict, arguments: dict):
    """rma, or rma_mv when the analysis names it (with V from vcalc when it gives one)."""
    if "rma_mv" not in analysis:
        return ketabridge.rma(data, **arguments)
    V = ketabridge.vcalc(data, **analysis["vcalc"]) if "vcalc" in analysis else "vi"
    return ketabridge.rma_mv(data, V=V, **arguments)


def _run(source: dict, analysis: dict) -> dict[str, pd.DataFrame]:
    data = pd.DataFrame(source["data"])
    if analysis.get("escalc"):
        arguments = dict(analysis["escalc"])
        data = ketabridge.escalc(arguments.pop("measure"), data, **arguments)
    result = _fit(data, analysis, analysis.get("rma_mv", analysis.get("rma", {})))
    tables = {"glance": result.glance(), "tidy": result.tidy().set_index("term")}
    for name, options in (analysis.get("then") or {}).items():
        assert name in FOLLOW_UPS, name
        options = dict(options)
        if "newmods_table" in options:
            options["newmods"] = pd.DataFrame(options.pop("newmods_table"))
        arguments = [result]
        if "other" in analysis:
            arguments.append(_fit(data, analysis, analysis["other"]))
        tables[name] = getattr(ketabridge, name)(*arguments, **options)
    return tables


@pytest.mark.requires_r
@pytest.mark.parametrize("source, analysis", list(_cases()))
def test_documented_values(source, analysis):
    tables = _run(source, analysis)
    failures = []
    for check in analysis["expect"]:
        table, column = tables[check["table"]], check["column"]
        if check["table"] == "tidy":
            actual = table.loc[check["term"], column]
        elif isinstance(check.get("row"), str):  # vcov: rows and columns by coefficient name
            actual = table.loc[check["row"], column]
        else:
            actual = table[column].iloc[check.get("row", 0)]
        allowed = 0.5 * 10 ** -check["decimals"] + SLACK.get(column, EXTRA_SLACK.get(column, 0.0))
        if not abs(float(actual) - check["value"]) <= allowed * (1 + 1e-9):
            where = check.get("term", check.get("row", ""))
            failures.append(
                f"{check['table']}.{column}[{where}]: {actual!r} vs documented {check['value']} (±{allowed:g})"
            )
    assert not failures, f"{source['citation']} ({source['where']}):\n" + "\n".join(failures)


def test_every_source_is_cited_and_dated():
    assert SOURCES, "no reference files"
    for path in SOURCES:
        source = json.loads(path.read_text())
        for key in ("citation", "where", "metafor_version_checked", "data", "analyses"):
            assert source.get(key), f"{path.name} lacks {key}"
        for analysis in source["analyses"]:
            assert analysis.get("source"), f"{path.name}: {analysis['name']} names no page or table"
