"""Property tests: predict, leave1out, influence and cumul equal metafor run in its own Rscript.

For random data sets (the generators of test_property_rscript.py: identical, homogeneous,
moderate and large heterogeneity, and very small k), every number ketabridge returns is
compared with metafor's own predict.rma, leave1out, influence and cumul, called directly by
tests/rscript/sensitivity_direct.R, which never sources ketabridge's ketabridge/r/*.R files. The expected
numbers are what that Rscript run writes. Numbers cross as C99 hex floats, so both sides see
bit-identical inputs; agreement is asked to RTOL (see test_property_rscript.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from property_direct import (
    HYPOTHESIS,
    RSCRIPT,
    Mismatches,
    batches,
    guarded,
    hex_float,
    parse_number,
    quietly,
    run_rscript,
    same_failure,
)

import ketabridge

SENSITIVITY_DIRECT = RSCRIPT / "sensitivity_direct.R"

# Estimators covering the closed-form (DL, SJ), iterative (REML, PM) and equal-effects cases,
# each under normal (z) and t-based (knha) intervals; level 90 exercises a non-default level.
SETTINGS = [
    (method, test, 90.0 if test == "knha" else 95.0)
    for method in ("EE", "DL", "REML", "PM", "SJ")
    for test in ("z", "knha")
]

# ketabridge column <- metafor's, per analysis
COLUMNS = {
    "predict": {
        "estimate": "pred",
        "std_error": "se",
        "conf_low": "ci.lb",
        "conf_high": "ci.ub",
        "pi_low": "pi.lb",
        "pi_high": "pi.ub",
    },
    "predict_exp": {
        "estimate": "pred",
        "conf_low": "ci.lb",
        "conf_high": "ci.ub",
        "pi_low": "pi.lb",
        "pi_high": "pi.ub",
    },
    "leave1out": {
        "estimate": "estimate",
        "std_error": "se",
        "statistic": "zval",
        "p_value": "pval",
        "conf_low": "ci.lb",
        "conf_high": "ci.ub",
        "q": "Q",
        "q_pvalue": "Qp",
        "tau2": "tau2",
        "i2": "I2",
        "h2": "H2",
    },
    "influence": {
        "rstudent": "rstudent",
        "dffits": "dffits",
        "cooks_distance": "cook.d",
        "cov_ratio": "cov.r",
        "tau2_deleted": "tau2.del",
        "q_deleted": "QE.del",
        "hat": "hat",
        "weight": "weight",
        "influential": "inf",
    },
    "cumul": {
        "estimate": "estimate",
        "std_error": "se",
        "statistic": "zval",
        "conf_low": "ci.lb",
        "conf_high": "ci.ub",
        "q": "Q",
        "tau2": "tau2",
        "i2": "I2",
        "h2": "H2",
        "position": "ids",
    },
}

pytestmark = [
    pytest.mark.requires_r,
    pytest.mark.filterwarnings("ignore::ketabridge.MetaforWarning"),
    pytest.mark.filterwarnings("ignore::ketabridge.MissingValuesWarning"),
]


def _frame(dataset) -> pd.DataFrame:
    frame = dataset.frame()
    frame["year"] = np.floor(frame["x"] * 4)  # a cumul order with ties
    frame["label"] = [f"study {i}" for i in range(len(frame))]
    return frame


def run_direct(data) -> tuple[pd.DataFrame, dict]:
    with tempfile.TemporaryDirectory(prefix="kb-sensitivity-") as folder:
        folder = Path(folder)
        rows = [
            {"id": f"d{i}", "yi": hex_float(y), "vi": hex_float(v), "year": hex_float(year)}
            for i, d in enumerate(data)
            for y, v, year in zip(d.yi, d.vi, _frame(d)["year"])
        ]
        pd.DataFrame(rows).to_csv(folder / "in.csv", index=False)
        pd.DataFrame(SETTINGS, columns=["method", "test", "level"]).to_csv(folder / "settings.csv", index=False)
        run_rscript(
            SENSITIVITY_DIRECT, *(folder / name for name in ("in.csv", "settings.csv", "status.csv", "long.csv"))
        )
        status = pd.read_csv(folder / "status.csv", dtype=str, keep_default_na=False)
        long = pd.read_csv(folder / "long.csv", dtype=str, keep_default_na=False)
    long["value"] = long["value"].map(parse_number)
    long["row"] = long["row"].astype(int)
    tables = {
        key: part.pivot(index="row", columns="name", values="value")
        for key, part in long.groupby(["id", "setting", "table"])
    }
    return status.set_index(["id", "setting", "analysis"]), tables


def _ketabridge(analysis: str, result):
    if analysis == "predict":
        return ketabridge.predict(result, level=result.spec.level)
    if analysis == "predict_exp":
        return ketabridge.predict(result, transf="exp")
    if analysis == "cumul":
        return ketabridge.cumul(result, order="year")
    return getattr(ketabridge, analysis)(result)


@settings(max_examples=2, **HYPOTHESIS)
@given(data=batches(extra=0, max_k=10))
def test_sensitivity_matches_direct_metafor(data):
    """predict (model scale at the model's level, and transf=exp), leave1out, influence and
    cumul equal metafor's for EE, DL, REML, PM, SJ under z and knha, failures included.

    Expected numbers come from tests/rscript/sensitivity_direct.R in its own Rscript process.
    """
    status, tables = run_direct(data)
    bad = Mismatches()
    for i, dataset in enumerate(data):
        for number, (method, test, level) in enumerate(SETTINGS, start=1):
            where = f"d{i} {method}/{test}"
            if status.loc[(f"d{i}", str(number), "fit"), "ok"] != "TRUE":
                continue  # fit failures are compared by test_property_rscript.py
            result = quietly(ketabridge.rma)(_frame(dataset), method=method, test=test, level=level, slab="label")
            for analysis, columns in COLUMNS.items():
                direct = status.loc[(f"d{i}", str(number), analysis)]
                mine, error = guarded(lambda: quietly(_ketabridge)(analysis, result))
                if direct["ok"] != "TRUE":
                    same_failure(bad, f"{where} {analysis}", direct["error"], error)
                    continue
                if error is not None:
                    bad.add(f"{where} {analysis}", f"metafor ran but ketabridge raised {type(error).__name__}: {error}")
                    continue
                expected = tables[(f"d{i}", str(number), analysis)]
                if len(mine) != len(expected):
                    bad.add(f"{where} {analysis}", f"rows ketabridge={len(mine)} metafor={len(expected)}")
                    continue
                for row in range(len(mine)):
                    for name, theirs in columns.items():
                        value = float(mine[name].iloc[row]) + (
                            1 if name == "position" else 0
                        )  # metafor's ids are 1-based
                        bad.number(f"{where} {analysis}[{row}]", name, value, expected[theirs].iloc[row])
                if "study" in mine:
                    labels = list(mine["study"])
                    expected_labels = (
                        [f"study {int(p) - 1}" for p in expected["ids"]]
                        if analysis == "cumul"
                        else [f"study {r}" for r in range(len(mine))]
                    )
                    if labels != expected_labels:
                        bad.add(f"{where} {analysis}", f"study labels {labels} != {expected_labels}")
    bad.check(data)
    assert bad.compared > 0, "nothing was compared"
