"""Follow-ups of rma_mv results: anova (Wald and likelihood-ratio), fitstats, vcov, profile of
each variance/correlation component, ranef of each random term, predict(newmods=), and blup's
refusal. Expected numbers come from metafor run directly in a separate Rscript process
(tests/rscript/direct_mv_followups.R, values crossing as hex floats, so agreement is to
round-off: property_direct.RTOL); documented values are in tests/reference/inference/
(test_reference_inference.py)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lane import REPO
from property_direct import RSCRIPT, RTOL

import ketabridge
from ketabridge import InputError

pytestmark = pytest.mark.requires_r

DATA = REPO / "data" / "konstantopoulos2011" / "konstantopoulos2011.csv"
THREE_LEVEL = "~ 1 | district/school"


@pytest.fixture(scope="module")
def fits(schools_by_era) -> dict:
    return {
        "three": ketabridge.rma_mv(schools_by_era, random=THREE_LEVEL),
        "two": ketabridge.rma_mv(schools_by_era, random="~ 1 | study"),
        "mixed": ketabridge.rma_mv(schools_by_era, random=THREE_LEVEL, mods="~ scale(year) + era", method="ML"),
        "multivariate": ketabridge.rma_mv(schools_by_era, random="~ factor(school) | district"),
        "two_terms": ketabridge.rma_mv(
            schools_by_era, random=["~ era | district", "~ factor(school) | district"], struct=["CS", "ID"]
        ),
    }


@pytest.fixture(scope="module")
def direct() -> dict[str, np.ndarray]:
    """quantity -> values, from metafor called directly (one Rscript run for the module)."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "out.csv"
        script = RSCRIPT / "direct_mv_followups.R"
        subprocess.run(["Rscript", str(script), str(DATA), str(target)], check=True, capture_output=True, timeout=300)
        table = pd.read_csv(target, dtype={"value": str})
    return {
        name: np.array([float.fromhex(value) for value in rows.sort_values("index")["value"]])
        for name, rows in table.groupby("quantity")
    }


def _agree(actual, expected) -> None:
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    np.testing.assert_array_less(np.abs(actual - expected), RTOL * np.maximum(1.0, np.abs(expected)) + 1e-300)


def test_lrt_of_three_against_two_levels_matches_direct_metafor(fits, direct):
    table = ketabridge.anova(fits["two"], fits["three"])  # either order: the full model has more parameters
    lrt, p_value, full_df, reduced_df = direct["lrt"]
    assert table["model"].tolist() == ["full", "reduced"]
    assert table["df"].tolist() == [int(full_df), int(reduced_df)] == [3, 2]
    _agree(table[["lrt", "p_value"]].iloc[1], [lrt, p_value])
    columns = ["loglik", "deviance", "aic", "bic", "aicc"]
    _agree(table[columns].iloc[0], direct["lrt_full"])
    _agree(table[columns].iloc[1], direct["lrt_reduced"])
    assert np.isnan(table["tau2"]).all() and np.isnan(table["r2"]).all()  # metafor gives them for rma.uni only


def test_wald_fitstats_and_vcov_match_direct_metafor(fits, direct):
    model = fits["mixed"]
    wald = ketabridge.anova(model, btt=["scale(year)", "era"])  # a term, and the prefix of the eralate dummy
    assert wald["terms"].iloc[0] == "scale(year),eralate"
    _agree(wald[["qm", "qm_pvalue"]].iloc[0], direct["wald"])
    pd.testing.assert_frame_equal(ketabridge.anova(model, btt=[2, 3]), wald)
    statistics = ketabridge.fitstats(model)
    assert statistics["likelihood"].iloc[0] == "ML"
    _agree(statistics[["loglik", "deviance", "aic", "bic", "aicc"]].iloc[0], direct["fitstats"])
    matrix = ketabridge.vcov(model)
    assert matrix.index.tolist() == ["intrcpt", "scale(year)", "eralate"]
    _agree(matrix.to_numpy().ravel(order="F"), direct["vcov"])
    assert ketabridge.provenance_of(matrix).r_call.startswith("vcov(rma.mv(yi = yi, V = vi, mods = ~ scale(year) + era")


def test_predict_newmods_builds_the_rows_from_the_rma_mv_formula(fits, direct):
    new = pd.DataFrame({"year": [1975, 1990], "era": ["early", "late"]}, index=["a", "b"])
    table = ketabridge.predict(fits["mixed"], newmods=new)
    assert table.index.tolist() == ["a", "b"]
    _agree(table[["estimate", "std_error", "conf_low", "pi_high"]].to_numpy().ravel(order="F"), direct["predict"])
    back = ketabridge.predict(fits["mixed"], newmods=new, transf="exp")
    _agree(back[["estimate", "conf_low", "pi_high"]].to_numpy().ravel(order="F"), direct["predict_exp"])


def test_profile_of_each_component_matches_direct_metafor(fits, direct):
    table = ketabridge.profile(fits["three"], component="sigma2.2", steps=4, xlim=(0.01, 0.1))
    values = direct["profile_sigma2.2"]
    assert (table["component"] == "sigma2.2").all()
    _agree(table["value"], values[:4])
    _agree(table["loglik"], values[4:])
    # the profile peaks at the estimate, where it is the model's own log-likelihood
    estimate = fits["three"].components().set_index("term").loc["sigma2.2", "estimate"]
    assert table["estimate"].iloc[0] == pytest.approx(estimate, rel=1e-12)
    assert table["max_loglik"].iloc[0] == pytest.approx(ketabridge.fitstats(fits["three"])["loglik"].iloc[0])
    correlation = ketabridge.profile(fits["multivariate"], component="rho", steps=3, xlim=(0.3, 0.9))
    _agree(correlation["value"], direct["profile_rho"][:3])
    _agree(correlation["loglik"], direct["profile_rho"][3:])


def test_second_inner_outer_term_gamma2_and_its_ranef_match_direct_metafor(fits, direct):
    model = fits["two_terms"]
    assert model.components().set_index("term").loc["phi", "fixed"]  # struct ID: phi fixed at 0
    table = ketabridge.profile(model, component="gamma2.1", steps=3, xlim=(0.01, 0.1))
    _agree(table["value"], direct["profile_gamma2"][:3])
    _agree(table["loglik"], direct["profile_gamma2"][3:])
    with pytest.raises(InputError, match="'phi' was fixed"):
        ketabridge.profile(model, component="phi")
    assert "phi" not in set(ketabridge.profile(model, steps=2)["component"])  # fixed: not profiled
    effects = ketabridge.ranef(model)
    second = effects[effects["term"] == "~factor(school) | district"]
    _agree(second[["estimate", "pi_low"]].to_numpy().ravel(order="F"), direct["ranef_second_term"])


def test_profile_without_component_takes_every_estimated_one_and_plots_draw(fits, tmp_path):
    table = ketabridge.profile(fits["multivariate"], steps=3, path=tmp_path / "profile.png")
    assert table["component"].unique().tolist() == ["tau2.1", "rho"]
    assert (tmp_path / "profile.png").read_bytes()[:4] == b"\x89PNG"
    call = ketabridge.provenance_of(table).r_call
    assert "tau2 = 1L, steps = 3" in call and "rho = 1L, steps = 3" in call
    by_kind = ketabridge.profile(fits["three"], component="sigma2", steps=2)
    assert by_kind["component"].tolist() == ["sigma2.1", "sigma2.1", "sigma2.2", "sigma2.2"]
    drawn = ketabridge.regplot(fits["mixed"], tmp_path / "bubble.svg", mod="scale(year)")  # metafor's regplot.rma.mv
    assert b"<svg" in drawn.read_bytes()[:400]


def test_ranef_gives_each_random_terms_table(fits, direct):
    table = ketabridge.ranef(fits["three"])
    assert table["term"].unique().tolist() == ["district", "district/school"]
    district = table[table["term"] == "district"]
    school = table[table["term"] == "district/school"]
    assert district["level"].tolist()[:3] == ["11", "12", "18"] and len(school) == 56
    _agree(district[["estimate", "std_error", "pi_low"]].to_numpy().ravel(order="F"), direct["ranef_district"])
    _agree(school[["estimate", "std_error", "pi_high"]].to_numpy().ravel(order="F"), direct["ranef_school"])
    multivariate = ketabridge.ranef(fits["multivariate"])
    assert multivariate["term"].unique().tolist() == ["~factor(school) | district"]
    assert multivariate["level"].iloc[0] == "1 | 11"  # metafor's "inner | outer" label, its padding trimmed
    _agree(multivariate[["estimate", "std_error"]].to_numpy().ravel(order="F"), direct["ranef_multivariate"])


def test_follow_ups_refuse_what_metafor_cannot_do_for_rma_mv(fits, schools_by_era):
    with pytest.raises(InputError, match="blup.rma.uni, which rma.mv models do not have"):
        ketabridge.blup(fits["three"])
    with pytest.raises(InputError, match="its components are: sigma2.1, sigma2.2"):
        ketabridge.profile(fits["three"], component="tau2")
    with pytest.raises(InputError, match="xlim applies to one component"):
        ketabridge.profile(fits["three"], xlim=(0, 1))
    with pytest.raises(InputError, match="xlim must be two correlations"):
        ketabridge.profile(fits["multivariate"], component="rho", xlim=(0.5, 1.5))
    with pytest.raises(InputError, match="rma_mv model with another rma_mv model"):
        ketabridge.anova(fits["three"], ketabridge.rma(schools_by_era))
    with pytest.raises(InputError, match="both have 3 parameters"):
        ketabridge.anova(fits["three"], ketabridge.rma_mv(schools_by_era, random=["~ 1 | district", "~ 1 | study"]))
    with pytest.raises(InputError, match="same method"):
        ketabridge.anova(fits["three"], ketabridge.rma_mv(schools_by_era, random="~ 1 | study", method="ML"))
    with pytest.raises(InputError, match="REML likelihoods of models with different moderators"):
        ketabridge.anova(fits["three"], ketabridge.rma_mv(schools_by_era, random=THREE_LEVEL, mods="~ year"))
    with pytest.raises(InputError, match="same data"):
        ketabridge.anova(fits["three"], ketabridge.rma_mv(schools_by_era.iloc[:50], random="~ 1 | study"))
    with pytest.raises(InputError, match="not a term of the model"):
        ketabridge.anova(fits["mixed"], btt="decade")
    with pytest.raises(InputError, match="lacks 'era'"):
        ketabridge.predict(fits["mixed"], newmods=pd.DataFrame({"year": [1980]}))
    with pytest.raises(InputError, match="takes the result of ketabridge.rma\\(\\) or rma_mv\\(\\)"):
        ketabridge.fitstats(ketabridge.robust(fits["three"], "district", clubsandwich=False))
