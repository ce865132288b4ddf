"""Publication-bias models against published and documented values: one JSON per source in
tests/reference/pubbias/ (selmodel, pet_peese, tes, permutest, location-scale rma). Each file cites the publication
or metafor help page and test file its numbers come from; a value printed with d decimals is
matched to half a unit in its last place plus its class's slack (tolerances.json there, each
with its reason). PET-PEESE's PEESE estimate and PET's test, which no source prints for this
data set, are checked against numpy (weighted least squares, computed here)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ketabridge

REFERENCE = Path(__file__).parent / "reference" / "pubbias"
SOURCES = sorted(path for path in REFERENCE.glob("*.json") if path.name != "tolerances.json")
TOLERANCES = json.loads((REFERENCE / "tolerances.json").read_text())["classes"]

pytestmark = [pytest.mark.requires_r, pytest.mark.filterwarnings("ignore::ketabridge.MetaforWarning")]


def _cases():
    for path in SOURCES:
        source = json.loads(path.read_text())
        for analysis in source["analyses"]:
            yield pytest.param(source, analysis, id=f"{source['id']}: {analysis['name']}")


def _run(source: dict, analysis: dict) -> dict[str, pd.DataFrame]:
    data = pd.DataFrame(source["data"])
    if analysis.get("escalc"):
        arguments = dict(analysis["escalc"])
        data = ketabridge.escalc(arguments.pop("measure"), data, **arguments)
    run = analysis["run"]
    function = getattr(ketabridge, run["function"])
    if run.get("on") == "data":
        output = function(data, **run["args"])
    else:
        output = function(ketabridge.rma(data, **analysis.get("rma", {})), **run["args"])
    tables = {"glance": output.glance()}
    if hasattr(output, "tidy"):
        tables["tidy"] = output.tidy().set_index("term")
    if hasattr(output, "weights"):
        tables["weights"] = output.weights()
    return tables


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.replace("-", ".").split(".")[:2])


@pytest.mark.parametrize("source, analysis", list(_cases()))
def test_published_values(source, analysis, installed):
    needed = analysis.get("min_metafor")
    if needed and _release(installed["metafor_version"]) < _release(needed):
        # an option newer than this metafor: refused in Python, naming the release it needs
        with pytest.raises(ketabridge.InputError, match=f"needs metafor >= {re.escape(needed)}"):
            _run(source, analysis)
        return
    tables = _run(source, analysis)
    failures = []
    for check in analysis["expect"]:
        table = tables[check["table"]]
        if check["table"] == "tidy" and "component" in check:  # a location-scale model's terms repeat
            rows = table[table["component"] == check["component"]]
            actual = rows.loc[check["term"], check["column"]]
        elif check["table"] == "tidy":
            actual = table.loc[check["term"], check["column"]]
        else:
            actual = table[check["column"]].iloc[check.get("row", 0)]
        where = f"{check['table']}.{check['column']}[{check.get('term', check.get('row', 0))}]"
        if check["class"] == "label":
            if actual != check["value"]:
                failures.append(f"{where}: {actual!r} vs {check['value']!r}")
            continue
        actual = math.exp(float(actual)) if check.get("transform") == "exp" else float(actual)
        tolerance = TOLERANCES[check["class"]]
        allowed = (
            0.5 * 10 ** -check["decimals"] + tolerance["slack"] + tolerance.get("relative", 0) * abs(check["value"])
        )
        if not abs(actual - check["value"]) <= allowed * (1 + 1e-9):
            failures.append(f"{where}: {actual!r} vs published {check['value']} (±{allowed:g})")
    assert not failures, f"{source['citation'][:80]}... ({source['where'][:80]}...):\n" + "\n".join(failures)


def test_every_source_is_cited_and_every_class_has_a_reason():
    assert SOURCES
    for path in SOURCES:
        source = json.loads(path.read_text())
        for key in ("citation", "where", "metafor_version_checked", "data", "analyses"):
            assert source.get(key), f"{path.name} lacks {key}"
        for analysis in source["analyses"]:
            assert all(check["class"] in TOLERANCES for check in analysis["expect"]), path.name
    assert all(spec["reason"].strip() for spec in TOLERANCES.values())


def test_every_selection_type_is_covered():
    """The six selection functions issue 15 names each have a documented reference value."""
    covered = set()
    for path in SOURCES:
        for analysis in json.loads(path.read_text())["analyses"]:
            if analysis["run"]["function"] == "selmodel":
                covered.add(analysis["run"]["args"]["type"])
    assert {"stepfun", "beta", "halfnorm", "negexp", "logistic", "power"} <= covered


def _wls_limit(yi: np.ndarray, vi: np.ndarray, predictor: np.ndarray) -> tuple[float, float]:
    """Intercept and its two-sided t-test p-value of yi ~ 1 + predictor, weights 1/vi, with the
    residual variance estimated (multiplicative dispersion), as lm() and Stanley & Doucouliagos do."""
    from scipy import stats

    design = np.column_stack([np.ones_like(yi), predictor])
    weights = 1 / vi
    gram = design.T @ (weights[:, None] * design)
    beta = np.linalg.solve(gram, design.T @ (weights * yi))
    residual = yi - design @ beta
    dispersion = (weights * residual**2).sum() / (len(yi) - 2)
    std_error = math.sqrt(dispersion * np.linalg.inv(gram)[0, 0])
    return float(beta[0]), float(2 * stats.t.sf(abs(beta[0] / std_error), len(yi) - 2))


def test_pet_peese_matches_numpy_least_squares():
    source = json.loads((REFERENCE / "egger2001_pet_peese.json").read_text())
    effects = ketabridge.escalc("OR", pd.DataFrame(source["data"]), ai="ai", n1i="n1i", ci="ci", n2i="n2i")
    row = ketabridge.pet_peese(ketabridge.rma(effects), alpha=0.05).glance().iloc[0]
    yi, vi = effects["yi"].to_numpy(), effects["vi"].to_numpy()
    pet, pet_p = _wls_limit(yi, vi, np.sqrt(vi))
    peese, peese_p = _wls_limit(yi, vi, vi)
    assert row["pet_estimate"] == pytest.approx(pet, rel=1e-10)
    assert row["pet_p_value"] == pytest.approx(pet_p, rel=1e-8)
    assert row["peese_estimate"] == pytest.approx(peese, rel=1e-10)
    assert row["peese_p_value"] == pytest.approx(peese_p, rel=1e-8)
    # the conditional rule: PET's limit estimate is not significant here, so PET stands
    assert pet_p > 0.05 and row["chosen"] == "PET" and row["estimate"] == row["pet_estimate"]
    # with alpha above PET's p-value the rule picks PEESE
    above = ketabridge.pet_peese(ketabridge.rma(effects), alpha=0.5).glance().iloc[0]
    assert above["chosen"] == "PEESE" and above["estimate"] == pytest.approx(peese, rel=1e-10)
