"""Batch runs of rma.mv models (batch(random=...), `ketabridge batch --random`): each analysis
must be the model rma_mv() fits to its rows alone, the same metafor call, so the two agree to
round-off; a bad analysis is an error row, and what rma.mv batches cannot do is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from lane import REPO

import ketabridge
from ketabridge import InputError
from ketabridge.cli import main

pytestmark = pytest.mark.requires_r

DATA = REPO / "data" / "konstantopoulos2011" / "konstantopoulos2011.csv"
THREE_LEVEL = "~ 1 | district/school"
GLANCE = ["k", "estimate", "std_error", "p_value", "conf_low", "conf_high", "pi_low", "pi_high", "i2", "q", "qm"]


@pytest.fixture(scope="module")
def schools() -> pd.DataFrame:
    """Three analyses of the Konstantopoulos (2011) schools: districts split in two, and a third of
    one district only, with a missing school label (an error row)."""
    frame = pd.read_csv(DATA)
    frame["set"] = np.where(frame["district"].isin([11, 18, 56, 71, 91, 644]), "a", "b")
    broken = frame[frame["district"] == 58].assign(set="c")
    broken.loc[broken.index[1], "school"] = np.nan
    return pd.concat([frame, broken], ignore_index=True)


@pytest.fixture(scope="module")
def batched(schools):
    return ketabridge.batch(schools, by="set", random=THREE_LEVEL, mods="~ year", method="ML", workers=0)


def test_each_analysis_is_the_rma_mv_fit_of_its_rows(schools, batched):
    glance, tidy = batched.glance().set_index("analysis_id"), batched.tidy()
    for name in ("a", "b"):
        alone = ketabridge.rma_mv(schools[schools["set"] == name], random=THREE_LEVEL, mods="~ year", method="ML")
        expected = alone.glance().iloc[0]
        for column in GLANCE:
            assert glance.loc[name, column] == pytest.approx(expected[column], rel=1e-9, abs=1e-12, nan_ok=True), column
        assert np.isnan(glance.loc[name, "tau2"])  # no single tau^2 in a multilevel model
        rows = tidy[tidy["analysis_id"] == name]
        coefficients = rows[rows["component"] == "location"]
        np.testing.assert_allclose(coefficients["estimate"], alone.tidy()["estimate"], rtol=1e-9)
        np.testing.assert_allclose(coefficients["std_error"], alone.tidy()["std_error"], rtol=1e-9)
        components = rows[rows["component"] == "random"]
        assert components["term"].tolist() == alone.components()["term"].tolist() == ["sigma2.1", "sigma2.2"]
        np.testing.assert_allclose(components["estimate"], alone.components()["estimate"], rtol=1e-9, atol=1e-12)


def test_a_missing_cluster_is_an_error_row_and_the_call_is_rma_mv(schools, batched):
    status = batched.status().set_index("analysis_id")
    assert status.loc["c", "status"] == "error"
    row = int(schools.index[(schools["set"] == "c") & schools["school"].isna()][0])
    assert status.loc["c", "message"] == (
        f"random-effects column 'school' has missing values in row {row}; every estimate needs its cluster"
    )
    assert status.loc["a", "r_call"] == (
        'rma.mv(yi = yi, V = vi, mods = ~ year, random = ~ 1 | district/school, data = dat[dat[["set"]] == "a", ], '
        'method = "ML", test = "z", level = 95)'
    )
    assert batched.provenance.details["options"]["random"] == [THREE_LEVEL]


def test_cli_random_term_runs_the_same_models(schools, batched, tmp_path):
    source = tmp_path / "schools.csv"
    schools.to_csv(source, index=False)
    out = tmp_path / "out"
    arguments = ["batch", str(source), "--by", "set", "--random", THREE_LEVEL, "--mods", "~ year", "--method", "ML"]
    result = CliRunner().invoke(main, [*arguments, "--workers", "0", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    written = pd.read_parquet(out / "glance.parquet").set_index("analysis_id")
    np.testing.assert_allclose(
        written.loc[["a", "b"], "estimate"], batched.glance().set_index("analysis_id").loc[["a", "b"], "estimate"]
    )
    refused = CliRunner().invoke(main, [*arguments, "--engine", "fast", "--out", str(tmp_path / "fast")])
    assert refused.exit_code != 0 and "fast engine replays rma.uni only" in refused.output


def test_what_a_multilevel_batch_cannot_take_is_refused_before_r(schools):
    cases = [
        ({"engine": "fast"}, "fast engine replays rma.uni only"),
        ({"method": "DL"}, "takes method REML or ML"),
        ({"trimfill": True}, "trimfill work on rma.uni models only"),
        ({"fallback": True}, "fallback refits with rma.uni"),
        ({"random": "~ 1 | set"}, "cannot be in a random term and also the analysis id"),
        ({"random": "~ 1 | system('x')"}, "system"),
        ({"random": "~ 1 | district", "struct": "UN"}, "struct= applies to a random term"),
        ({"random": None, "struct": "UN"}, "struct= needs random="),
    ]
    for options, message in cases:
        arguments = {"random": THREE_LEVEL, **options}
        with pytest.raises(InputError, match=message):
            ketabridge.batch(schools, by="set", workers=0, **arguments)
    with pytest.raises(InputError, match="'nowhere'"):
        ketabridge.batch(schools, by="set", workers=0, random="~ 1 | nowhere")


def test_one_random_effect_per_study_is_rma_uni_random_effects_model():
    """rma.mv with '~ 1 | trial' (each trial its own level) is the same REML model as rma.uni's,
    and the multilevel I^2 with one sigma^2 is Higgins' I^2; the two optimizers stop at different
    points within metafor's convergence tolerance (tau^2 changes < 1e-5), so agreement is to 1e-4."""
    options = dict(by="alloc", measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", workers=0)
    multilevel = ketabridge.batch(REPO / "data" / "bcg" / "bcg.csv", random="~ 1 | trial", **options)
    univariate = ketabridge.batch(REPO / "data" / "bcg" / "bcg.csv", **options).glance()
    glance = multilevel.glance()
    assert glance["measure"].tolist() == ["RR"] * 3 and (multilevel.status()["status"] == "ok").all()
    for column in ("estimate", "std_error", "conf_low", "i2"):
        np.testing.assert_allclose(glance[column], univariate[column], rtol=1e-4)
    tidy = multilevel.tidy()
    np.testing.assert_allclose(tidy[tidy["term"] == "sigma2.1"]["estimate"], univariate["tau2"], rtol=1e-4)
