"""rma_mv against metafor's rma.mv run directly in a separate Rscript process
(tests/rscript/direct_rma_mv.R), on random multilevel data sets, for every var-cov structure
ketabridge offers (options.STRUCTS) and the nested ~ 1 | study/es model.

Both sides run the same metafor on the same numbers (crossing as hex floats), so they must agree
to round-off: property_direct.RTOL, relative for large values and absolute near 0. A model that
fails in the direct run must fail in ketabridge too.
"""

from __future__ import annotations

import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from property_direct import HYPOTHESIS, RSCRIPT, RTOL

import ketabridge
from ketabridge.errors import KetabridgeError
from ketabridge.options import STRUCTS

pytestmark = pytest.mark.requires_r

DIRECT = RSCRIPT / "direct_rma_mv.R"
# model name in direct_rma_mv.R -> rma_mv's arguments (the same random terms and struct)
MODELS = {
    "nested": {"random": "~ 1 | study/es"},
    **{struct: {"random": "~ outcome | study", "struct": struct} for struct in ("CS", "HCS", "UN", "ID", "DIAG")},
    **{struct: {"random": "~ time | study", "struct": struct} for struct in ("AR", "HAR", "CAR")},
}


def test_every_offered_struct_is_compared():
    assert {spec.get("struct") for spec in MODELS.values()} - {None} == set(STRUCTS)


@st.composite
def multilevel_data(draw) -> pd.DataFrame:
    """4-7 studies with 2-3 outcomes each (measured at times 1, 2, 3), true effects correlated
    within studies, sampling variances over one order of magnitude."""
    studies = draw(st.integers(4, 7))
    rows = []
    for study in range(studies):
        count = draw(st.integers(2, 3))
        shift = draw(st.floats(-0.5, 0.5))
        for index in range(count):
            vi = 10 ** draw(st.floats(-2, -1))
            noise = draw(st.floats(-2, 2)) * np.sqrt(vi)
            rows.append(
                {"study": f"s{study}", "outcome": "abc"[index], "time": float(index + 1),
                 "yi": 0.3 + shift + 0.2 * index + noise, "vi": vi}
            )  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["es"] = np.arange(1, len(frame) + 1)
    return frame


def _direct(frame: pd.DataFrame) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.csv", Path(folder) / "out.csv"
        shown = frame.assign(yi=frame["yi"].map(float.hex), vi=frame["vi"].map(float.hex))
        shown[["study", "outcome", "time", "yi", "vi"]].to_csv(source, index=False)
        subprocess.run(["Rscript", str(DIRECT), str(source), str(target)], check=True, capture_output=True)
        return pd.read_csv(target, dtype=str, keep_default_na=False)


def _ours(frame: pd.DataFrame, spec: dict) -> dict[str, float] | str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = ketabridge.rma_mv(frame, **spec)
    except KetabridgeError as error:
        return str(error)
    glance = result.glance().iloc[0]
    values = {name: float(glance[name]) for name in ("estimate", "std_error", "q", "loglik")}
    values.update(zip(result.components()["term"], result.components()["estimate"].astype(float)))
    return values


@settings(max_examples=2, **HYPOTHESIS)
@given(frame=multilevel_data())
def test_rma_mv_matches_direct_metafor_for_every_struct(frame):
    direct = _direct(frame)
    failures = []
    for name, spec in MODELS.items():
        rows = direct[direct["model"] == name]
        ours = _ours(frame, spec)
        if (rows["quantity"] == "error").any():
            if not isinstance(ours, str):
                failures.append(f"{name}: metafor failed ({rows['value'].iloc[0]}) but ketabridge fitted")
            continue
        if isinstance(ours, str):
            failures.append(f"{name}: ketabridge failed ({ours}) but metafor fitted")
            continue
        for quantity, text in zip(rows["quantity"], rows["value"]):
            expected = float.fromhex(text)
            actual = ours.get(quantity, np.nan)
            if not abs(actual - expected) <= RTOL * max(1.0, abs(expected)):
                failures.append(f"{name} {quantity}: {actual!r} vs direct {expected!r}")
        if set(ours) != set(rows["quantity"]):
            failures.append(f"{name}: quantities {sorted(ours)} vs direct {sorted(rows['quantity'])}")
    assert not failures, "\n".join(failures) + "\n" + frame.to_string()
