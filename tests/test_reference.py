"""Published reference values: one JSON file per source in tests/reference/.

Each file cites the publication (and page or table) its numbers come from, the metafor
version they were checked with, and the analyses to run. A value printed with d decimals is
matched to half a unit in its last place, plus the per-quantity slack in tolerances.json
(each with its reason).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

import ketabridge

REFERENCE = Path(__file__).parent / "reference"
SOURCES = sorted(path for path in REFERENCE.glob("*.json") if path.name != "tolerances.json")
TOLERANCES = json.loads((REFERENCE / "tolerances.json").read_text())["classes"]
SLACK = {column: spec["slack"] for spec in TOLERANCES.values() for column in spec["columns"]}


def _ipft_harmonic(yi: float, n: float) -> float:
    """Miller (1978, p. 138) inverse of the Freeman-Tukey double arcsine for sample size n.

    Miller's t is the sum of the two arcsines; metafor's PFT yi is half of it.
    """
    if yi < 0:
        return 0.0
    if yi > math.pi / 2:
        return 1.0
    t = 2 * yi
    s = math.sin(t)
    return 0.5 * (1 - math.copysign(1, math.cos(t)) * math.sqrt(max(0.0, 1 - (s + (s - 1 / s) / n) ** 2)))


def _transform(name: str | None, value: float, data: pd.DataFrame) -> float:
    if name is None:
        return value
    if name == "exp":
        return math.exp(value)
    if name == "ilogit":
        return 1 / (1 + math.exp(-value))
    if name == "tanh":
        return math.tanh(value)
    if name in ("ipft", "ipft.hm"):
        sizes = data["ni"].dropna()
        harmonic = len(sizes) / (1 / sizes).sum()
        return _ipft_harmonic(value, harmonic)
    raise ValueError(f"unknown transform {name!r}")


# Analyses of a fitted model whose tables checks can read ("table": "<name>", by row).
FOLLOW_UPS = ("predict", "confint", "leave1out", "influence", "cumul", "fsn")


def _cases():
    for path in SOURCES:
        source = json.loads(path.read_text())
        for analysis in source["analyses"]:
            yield pytest.param(source, analysis, id=f"{source['id']}: {analysis['name']}")


def _run(source: dict, analysis: dict) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    data = pd.DataFrame(source["data"])
    tables: dict[str, pd.DataFrame] = {}
    if analysis.get("escalc"):
        arguments = dict(analysis["escalc"])
        data = ketabridge.escalc(arguments.pop("measure"), data, **arguments)
        tables["escalc"] = data
    result = ketabridge.rma(data, **analysis.get("rma", {}))
    then = analysis.get("then") or {}
    follow_ups = [name for name in FOLLOW_UPS if name in then]
    for name in follow_ups:  # each fills the table of its own name
        output = getattr(ketabridge, name)(result, **then[name])
        tables[name] = output.glance() if hasattr(output, "glance") else output
    if follow_ups:
        return tables, data
    if "trimfill" in then:
        result = ketabridge.trimfill(result, **then["trimfill"])
    if "regtest" in then or "ranktest" in then:
        name = "regtest" if "regtest" in then else "ranktest"
        test = getattr(ketabridge, name)(result, **then[name])
        tables["glance"] = test.glance()
        return tables, data
    tables.update(glance=result.glance(), tidy=result.tidy().set_index("term"), augment=result.augment())
    return tables, data


@pytest.mark.requires_r
@pytest.mark.parametrize("source, analysis", list(_cases()))
def test_published_values(source, analysis):
    tables, data = _run(source, analysis)
    failures = []
    for check in analysis["expect"]:
        table = tables[check["table"]]
        column = check["column"]
        if check["table"] == "tidy":
            actual = table.loc[check["term"], column]
        else:
            actual = table[column].iloc[check.get("row", 0)]
        actual = _transform(check.get("transform"), float(actual), data)
        allowed = 0.5 * 10 ** -check["decimals"] + SLACK.get(column, 0.0)
        if not abs(actual - check["value"]) <= allowed * (1 + 1e-9):
            where = check.get("term", check.get("row", ""))
            failures.append(
                f"{check['table']}.{column}[{where}]: {actual!r} vs published {check['value']} (±{allowed:g})"
            )
    assert not failures, f"{source['citation']} ({source['where']}):\n" + "\n".join(failures)


def test_every_source_is_cited_and_dated():
    """Each reference file names its publication, where in it, and the metafor version checked."""
    assert SOURCES, "no reference files"
    for path in SOURCES:
        source = json.loads(path.read_text())
        for key in ("citation", "where", "metafor_version_checked", "data", "analyses"):
            assert source.get(key), f"{path.name} lacks {key}"


def test_every_tolerance_has_a_reason():
    for name, spec in TOLERANCES.items():
        assert spec["reason"].strip(), f"tolerance class {name} has no reason"
