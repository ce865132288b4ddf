"""pool_proportions: four pooled proportions side by side, checked against cited sources.

Expected values: Miller (1978, p. 138, tests/reference/proportions/miller1978.json) for the
Freeman-Tukey row; metafor's documented example for dat.pritz1997 (tests/reference/proportions/
pritz1997.json) run in a separate Rscript process for every row; and PR + DL recomputed from
first principles with numpy.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import ketabridge
from ketabridge import schema

REFERENCE = Path(__file__).parent / "reference" / "proportions"
MILLER = json.loads((REFERENCE / "miller1978.json").read_text())
PRITZ = json.loads((REFERENCE / "pritz1997.json").read_text())
RTOL = 1e-8  # same metafor on the same integers in both processes: only round-off may differ

# metafor's ?dat.pritz1997 example, extended to the PFT/PAS rows as ?transf documents them;
# plain metafor, nothing from ketabridge. Prints one line per row as hex floats.
DOCUMENTED_EXAMPLE = r"""
suppressPackageStartupMessages(library(metafor))
dat <- dat.pritz1997
out <- function(res, pred) cat(sprintf("%a", c(pred$pred, pred$ci.lb, pred$ci.ub, pred$pi.lb, pred$pi.ub, res$tau2, res$I2, res$QE)), "\n")
d <- escalc(measure="PR", xi=xi, ni=ni, data=dat);  res <- rma(yi, vi, data=d, method="DL"); out(res, predict(res))
d <- escalc(measure="PLO", xi=xi, ni=ni, data=dat); res <- rma(yi, vi, data=d); out(res, predict(res, transf=transf.ilogit))
d <- escalc(measure="PFT", xi=xi, ni=ni, data=dat); res <- rma(yi, vi, data=d); out(res, predict(res, transf=transf.ipft.hm, targs=list(ni=dat$ni)))
d <- escalc(measure="PAS", xi=xi, ni=ni, data=dat); res <- rma(yi, vi, data=d); out(res, predict(res, transf=transf.iarcsin))
"""
COMPARED = ("estimate", "conf_low", "conf_high", "pi_low", "pi_high", "tau2", "i2", "q")


@pytest.fixture(scope="module")
def pritz():
    with pytest.warns(ketabridge.ProportionWarning):
        return ketabridge.pool_proportions(pd.DataFrame(PRITZ["data"]), "xi", "ni", slab="study").tidy()


@pytest.mark.requires_r
def test_table_has_one_row_per_approach_in_the_fixed_schema(pritz):
    assert list(pritz.columns) == list(schema.PROPORTIONS)
    assert [str(dtype) for dtype in pritz.dtypes] == list(schema.PROPORTIONS.values())
    assert list(zip(pritz["measure"], pritz["method"])) == [
        ("PR", "DL"),
        ("PLO", "REML"),
        ("PFT", "REML"),
        ("PAS", "REML"),
        ("PLO", "GLMM"),  # rma.glmm's binomial-normal model: checked in test_count_models.py
    ]
    assert (pritz["k"] == 14).all()


@pytest.mark.requires_r
def test_every_row_matches_metafors_documented_example_in_a_separate_rscript(pritz):
    lines = (
        subprocess.run(["Rscript", "-e", DOCUMENTED_EXAMPLE], capture_output=True, text=True, check=True, timeout=120)
        .stdout.strip()
        .splitlines()
    )
    expected = pd.DataFrame([[float.fromhex(value) for value in line.split()] for line in lines], columns=COMPARED)
    np.testing.assert_allclose(
        pritz[list(COMPARED)].iloc[:4].to_numpy(float), expected.to_numpy(), rtol=RTOL, atol=1e-12
    )


@pytest.mark.requires_r
def test_raw_proportions_with_dersimonian_laird_from_first_principles(pritz):
    xi, ni = np.array(PRITZ["data"]["xi"], float), np.array(PRITZ["data"]["ni"], float)
    extreme = (xi == 0) | (xi == ni)  # ?escalc: add = 1/2 to events and non-events (to = "only0")
    xi, ni = np.where(extreme, xi + 0.5, xi), np.where(extreme, ni + 1, ni)
    p = xi / ni
    vi = p * (1 - p) / ni
    w = 1 / vi
    mean_fixed = np.sum(w * p) / np.sum(w)
    q = np.sum(w * (p - mean_fixed) ** 2)
    tau2 = max(0.0, (q - (len(p) - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))  # DerSimonian & Laird 1986
    w_random = 1 / (vi + tau2)
    estimate = np.sum(w_random * p) / np.sum(w_random)
    se = np.sqrt(1 / np.sum(w_random))
    z = stats.norm.ppf(0.975)
    row = pritz.iloc[0]
    np.testing.assert_allclose(
        [row["estimate"], row["conf_low"], row["conf_high"], row["pi_low"], row["pi_high"], row["tau2"], row["q"]],
        [
            estimate,
            estimate - z * se,
            estimate + z * se,
            estimate - z * np.sqrt(se**2 + tau2),
            estimate + z * np.sqrt(se**2 + tau2),
            tau2,
            q,
        ],
        rtol=1e-10,
    )
    assert row["corrected"] == 2 and row["model_estimate"] == row["estimate"]  # PR is not transformed


@pytest.mark.requires_r
@pytest.mark.parametrize("check", MILLER["expect"], ids=lambda check: f"{check['measure']} {check['column']}")
def test_freeman_tukey_row_reproduces_miller_1978(check):
    table = ketabridge.pool_proportions(pd.DataFrame(MILLER["data"]), "xi", "ni").tidy().set_index("measure")
    assert table.loc[check["measure"], "method"] == check["method"]
    assert abs(table.loc[check["measure"], check["column"]] - check["value"]) <= 0.5 * 10 ** -check["decimals"]


@pytest.mark.requires_r
def test_warns_when_an_interval_leaves_the_unit_interval():
    with pytest.warns(ketabridge.ProportionWarning) as caught:
        table = ketabridge.pool_proportions(pd.DataFrame(PRITZ["data"]), "xi", "ni").tidy()
    messages = [str(warning.message) for warning in caught]
    leaving = table.loc[table["outside_unit"], "measure"].tolist()
    assert leaving == ["PR"] and table.loc[0, "pi_high"] > 1  # only raw proportions are unbounded
    assert any(message.startswith("PR (DL): the interval leaves [0, 1] (pi_high 1.0") for message in messages)


@pytest.mark.requires_r
def test_warns_about_zero_or_all_events_and_the_correction_metafor_applied():
    with pytest.warns(ketabridge.ProportionWarning, match=r"2 studies have 0 or all events") as caught:
        ketabridge.pool_proportions(pd.DataFrame(PRITZ["data"]), "xi", "ni", slab="study")
    message = next(str(w.message) for w in caught if "0 or all events" in str(w.message))
    assert "'Tanabe et al.', 'Hadeishi et al.'; rows 4, 7" in message  # 10/10 and 12/12 events
    assert "add=1/2, to='only0') for PR (2), PLO (2); none for PFT, PAS" in message


@pytest.mark.requires_r
def test_no_extreme_warning_without_zero_or_all_events():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = ketabridge.pool_proportions(pd.DataFrame(MILLER["data"]), "xi", "ni").tidy()
    assert not any("0 or all events" in str(w.message) for w in caught)
    assert (table["corrected"] == 0).all()


@pytest.mark.parametrize(
    "xi, ni, message",
    [
        ([3, 12], [11, 10], "column 'events' is larger than 'totals' in row 1"),
        ([-1, 2], [11, 10], "column 'events' is negative in row 0"),
        ([1, 2], [0, 10], "column 'totals' is not positive in row 0"),
        ([1, None], [5, 10], "pooling needs at least 2 studies"),
    ],
)
def test_bad_counts_raise_input_error(xi, ni, message):
    data = pd.DataFrame({"events": xi, "totals": ni})
    with pytest.raises(ketabridge.InputError, match=message):
        ketabridge.pool_proportions(data, "events", "totals")


@pytest.mark.requires_r
def test_provenance_names_each_metafor_call():
    result = ketabridge.pool_proportions(pd.DataFrame(MILLER["data"]), "xi", "ni", level=90)
    assert "transf = transf.ipft.hm, targs = list(ni = ni)" in result.provenance.r_call
    assert 'method = "DL", level = 90' in result.provenance.r_call
    assert result.to_dict()["tidy"][0]["measure"] == "PR"
