"""Property tests: the publication-bias functions equal metafor run directly in a separate
Rscript process (tests/rscript/pubbias_direct.R, written from metafor's documented API and
never sourcing ketabridge's R code), on simulated data sets drawn with numpy. Numbers cross as
C99 hex floats, so both sides see bit-identical inputs; the seeded analyses (permutest, fsn REM)
get the same seed on both sides and must give the same numbers."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ketabridge

pytestmark = [pytest.mark.requires_r, pytest.mark.filterwarnings("ignore::ketabridge.MetaforWarning")]

SCRIPT = Path(__file__).parent / "rscript" / "pubbias_direct.R"
SEED = 20261203


def _data_sets() -> dict[str, pd.DataFrame]:
    """Small data sets with heterogeneity and a moderator, some studies significant (one: each selection
    model fit costs seconds, and the suite's budget is small)."""
    draw = np.random.default_rng(15)
    sets = {}
    for name, k in (("a", 16),):
        vi = draw.uniform(0.01, 0.2, k)
        x = draw.normal(0, 1, k)
        yi = 0.3 + 0.1 * x + draw.normal(0, np.sqrt(vi + 0.04))
        sets[name] = pd.DataFrame({"yi": yi, "vi": vi, "x": x})
    return sets


@pytest.fixture(scope="module")
def direct() -> dict:
    sets = _data_sets()
    with tempfile.TemporaryDirectory(prefix="kb-pubbias-") as folder:
        source, out = Path(folder) / "in.csv", Path(folder) / "long.csv"
        rows = [
            {"id": name, **{column: float(value).hex() for column, value in row.items()}}
            for name, frame in sets.items()
            for row in frame.to_dict(orient="records")
        ]
        pd.DataFrame(rows).to_csv(source, index=False)
        done = subprocess.run(
            ["Rscript", str(SCRIPT), str(source), str(SEED), str(out)], capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
        long = pd.read_csv(out, dtype=str)
    long["number"] = [np.nan if value == "NA" else float.fromhex(value) for value in long["value"]]
    values = {
        key: group.sort_values("row")["number"].to_numpy() for key, group in long.groupby(["id", "analysis", "name"])
    }
    return {"sets": sets, "values": values}


@pytest.fixture(scope="module", params=["a"])
def case(request, direct):
    name = request.param
    return name, direct["sets"][name], lambda analysis, key: direct["values"][(name, analysis, key)]


def close(actual, expected, rel=1e-6, abs_=1e-9) -> None:
    np.testing.assert_allclose(np.atleast_1d(np.asarray(actual, dtype=float)), expected, rtol=rel, atol=abs_)


def test_selection_models_match(case):
    _, data, expected = case
    model = ketabridge.rma(data, method="ML")
    half = ketabridge.selmodel(model, "halfnorm")
    row = half.glance().iloc[0]
    for column in ("estimate", "std_error", "conf_low", "conf_high", "tau2", "lrt", "lrt_pvalue"):
        close(row[column], expected("selmodel_halfnorm", column))
    close(half.weights()["estimate"], expected("selmodel_halfnorm", "delta"))
    close(half.weights()["std_error"], expected("selmodel_halfnorm", "delta_se"))
    three = ketabridge.selmodel(model, "stepfun", steps=[0.025, 1])
    close(three.glance()["estimate"], expected("selmodel_3psm", "estimate"))
    close(three.glance()["lrt"], expected("selmodel_3psm", "lrt"))
    close(three.weights()["estimate"], expected("selmodel_3psm", "delta"))


def test_permutation_tests_match_with_the_same_seed(case):
    _, data, expected = case
    tested = ketabridge.permutest(ketabridge.rma(data, mods="~ x"), iter=100, seed=SEED)
    close(tested.tidy()["p_value"], expected("permutest", "p_value"), rel=0, abs_=0)
    close(tested.glance()["qm_pvalue"], expected("permutest", "qm_pvalue"), rel=0, abs_=0)
    assert tested.glance()["seed"].iloc[0] == SEED
    assert tested.provenance.r_call.startswith(f"set.seed({SEED}); permutest(")


def test_location_scale_model_matches(case):
    _, data, expected = case
    tidy = ketabridge.rma(data, scale="~ x").tidy()
    location, scale = tidy[tidy["component"] == "location"], tidy[tidy["component"] == "scale"]
    assert scale["term"].tolist() == ["intrcpt", "x"]
    close(location["estimate"], expected("location_scale", "beta"))
    close(scale["estimate"], expected("location_scale", "alpha"))
    close(scale["std_error"], expected("location_scale", "se_alpha"))
    close(scale["p_value"], expected("location_scale", "p_alpha"))


def test_random_effects_fail_safe_n_matches_with_the_same_seed(case, installed):
    """type "REM" up to metafor 4.2; "General", which replaced it, from 4.4 (as the script does)."""
    _, data, expected = case
    if tuple(int(part) for part in installed["metafor_version"].split(".")[:2]) < (4, 4):
        row = ketabridge.fsn(data, type="REM", seed=SEED, iters=200).glance().iloc[0]
    else:
        row = ketabridge.fsn(data, type="General", seed=SEED).glance().iloc[0]
    close(row["fail_safe_n"], expected("fsn_random", "fail_safe_n"), rel=0, abs_=0)
    close(row["p_value"], expected("fsn_random", "p_value"))


def test_excess_significance_confint_and_pet_peese_match(case):
    _, data, expected = case
    model = ketabridge.rma(data)
    row = ketabridge.tes(model, test="binom").glance().iloc[0]
    for column, name in (
        ("observed", "observed"),
        ("expected", "expected"),
        ("p_value", "p_value"),
        ("theta", "theta"),
    ):
        close(row[column], expected("tes", name))
    intervals = ketabridge.confint(ketabridge.rma(data, mods="~ x"), fixed=True, random=False)
    close(intervals["conf_low"], expected("confint_fixed", "conf_low"))
    close(intervals["conf_high"], expected("confint_fixed", "conf_high"))
    both = ketabridge.pet_peese(model).glance().iloc[0]
    close(both["pet_estimate"], expected("pet_peese", "pet"))
    close(both["peese_estimate"], expected("pet_peese", "peese"))
