"""Model comparison and inference on rma results: anova, fitstats, vcov, blup, ranef, profile,
regplot and predict(newmods=). Documented values are in test_reference_inference.py; here the
checks are independent computations (numpy, a separate Rscript run) and the bad inputs, each an
InputError before R."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest
from lane import REPO

import ketabridge
from ketabridge import InputError


@pytest.fixture(scope="module")
def effects() -> pd.DataFrame:
    return ketabridge.escalc("RR", REPO / "data/bcg/bcg.csv", ai="tpos", bi="tneg", ci="cpos", di="cneg")


@pytest.fixture(scope="module")
def fits(effects) -> dict:
    return {
        "re_ml": ketabridge.rma(effects, method="ML"),
        "ablat_ml": ketabridge.rma(effects, mods="~ ablat", method="ML"),
        "alloc_ml": ketabridge.rma(effects, mods="~ ablat + factor(alloc)", method="ML"),
        "re": ketabridge.rma(effects),
        "ablat": ketabridge.rma(effects, mods="~ ablat"),
        "year": ketabridge.rma(effects, mods="~ year"),
        "ee": ketabridge.rma(effects, mods="~ ablat", method="EE"),
    }


def _restricted_loglik(yi, vi, X, tau2):
    """metafor's REML log-likelihood (REMLf=TRUE: with the 1/2 log|X'X| term), from its formula."""
    k, p = X.shape
    w = 1 / (vi + tau2)
    xtwx = X.T @ (w[:, None] * X)
    beta = np.linalg.solve(xtwx, X.T @ (w * yi))
    rss = np.sum(w * (yi - X @ beta) ** 2)
    return (
        -0.5 * (k - p) * np.log(2 * np.pi)
        + 0.5 * np.linalg.slogdet(X.T @ X)[1]
        - 0.5 * np.sum(np.log(vi + tau2))
        - 0.5 * np.linalg.slogdet(xtwx)[1]
        - 0.5 * rss
    )


@pytest.mark.requires_r
def test_profile_is_the_restricted_likelihood_computed_with_numpy(effects, fits, installed):
    values = [0.0, 0.1, 0.2, 0.3, 0.4]  # steps=5 over xlim=(0, 0.4)
    table = ketabridge.profile(fits["ablat"], steps=5, xlim=(0, 0.4))
    yi, vi = effects["yi"].to_numpy(), effects["vi"].to_numpy()
    X = np.column_stack([np.ones(len(yi)), effects["ablat"].to_numpy()])
    expected = [_restricted_loglik(yi, vi, X, tau2) for tau2 in values]
    np.testing.assert_allclose(table["value"], values)
    np.testing.assert_allclose(table["loglik"], expected, rtol=1e-8)
    assert (table["component"] == "tau2").all()
    # the profile peaks at the estimate, where it is the model's own log-likelihood
    fitted_tau2 = fits["ablat"].glance()["tau2"].iloc[0]
    assert table["estimate"].iloc[0] == pytest.approx(fitted_tau2)
    assert table["max_loglik"].iloc[0] == pytest.approx(_restricted_loglik(yi, vi, X, fitted_tau2), rel=1e-8)
    assert table["max_loglik"].iloc[0] == pytest.approx(ketabridge.fitstats(fits["ablat"])["loglik"].iloc[0])
    if tuple(int(part) for part in installed["metafor_version"].replace("-", ".").split(".")[:2]) >= (4, 6):
        at = ketabridge.profile(fits["ablat"], steps=[0.05, 0.15])
        np.testing.assert_allclose(at["loglik"], [_restricted_loglik(yi, vi, X, t) for t in (0.05, 0.15)], rtol=1e-8)
    else:
        with pytest.raises(InputError, match=r"needs metafor >= 4.6"):
            ketabridge.profile(fits["ablat"], steps=[0.05, 0.15])


@pytest.mark.requires_r
def test_profile_and_regplot_draw_metafors_plots(fits, tmp_path):
    table = ketabridge.profile(fits["re"], steps=6, xlim=(0, 1), path=tmp_path / "profile.png")
    assert len(table) == 6 and table["value"].iloc[0] == 0 and table["value"].iloc[-1] == pytest.approx(1)
    drawn = ketabridge.regplot(fits["ablat"], tmp_path / "bubble.svg", pi=True)
    for path in (tmp_path / "profile.png", drawn):
        assert path.stat().st_size > 1000
    assert (tmp_path / "profile.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in drawn.read_bytes()[:400]
    assert ketabridge.provenance_of(table).r_call.startswith("png(file, width = 6, height = 5, ")
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no partial files left


@pytest.mark.requires_r
def test_ranef_is_blup_minus_the_fitted_values(fits):
    model = fits["ablat"]
    fitted = ketabridge.predict(model)["estimate"].to_numpy()  # one fitted value per study
    blups, effects = ketabridge.blup(model), ketabridge.ranef(model)
    np.testing.assert_allclose(blups["estimate"] - fitted, effects["estimate"], atol=1e-10)
    assert blups["study"].tolist() == [str(i) for i in range(1, 14)]


@pytest.mark.requires_r
def test_vcov_is_the_inverse_information_computed_with_numpy(effects, fits):
    model = fits["ablat"]
    tau2 = model.glance()["tau2"].iloc[0]
    X = np.column_stack([np.ones(len(effects)), effects["ablat"].to_numpy()])
    w = 1 / (effects["vi"].to_numpy() + tau2)
    expected = np.linalg.inv(X.T @ (w[:, None] * X))
    matrix = ketabridge.vcov(model)
    assert matrix.index.tolist() == matrix.columns.tolist() == ["intrcpt", "ablat"]
    np.testing.assert_allclose(matrix.to_numpy(), expected, rtol=1e-8)


@pytest.mark.requires_r
def test_anova_btt_by_name_prefix_and_number_agree(fits):
    model = fits["alloc_ml"]
    by_number = ketabridge.anova(model, btt=[3, 4])
    by_prefix = ketabridge.anova(model, btt="factor(alloc)")
    by_names = ketabridge.anova(model, btt=["factor(alloc)random", "factor(alloc)systematic"])
    for table in (by_prefix, by_names):
        pd.testing.assert_frame_equal(table, by_number)
    assert by_number["terms"].iloc[0] == "factor(alloc)random,factor(alloc)systematic"
    assert "btt = 3:4" in ketabridge.provenance_of(by_number).r_call


@pytest.mark.requires_r
def test_anova_lrt_takes_the_models_in_either_order(fits):
    forward = ketabridge.anova(fits["ablat_ml"], fits["re_ml"])
    backward = ketabridge.anova(fits["re_ml"], fits["ablat_ml"])
    pd.testing.assert_frame_equal(forward, backward)
    # the LRT is twice the log-likelihood difference
    assert forward["lrt"].iloc[1] == pytest.approx(2 * (forward["loglik"].iloc[0] - forward["loglik"].iloc[1]))
    # an equal-effects reduced model tests tau^2 = 0 (REML, same moderators)
    tau_test = ketabridge.anova(fits["ablat"], fits["ee"])
    assert tau_test["df"].tolist() == [3, 2]


@pytest.mark.requires_r
def test_anova_refuses_what_metafor_cannot_compare(effects, fits):
    with pytest.raises(InputError, match="not a term of the model; its terms are: intrcpt, ablat, factor"):
        ketabridge.anova(fits["alloc_ml"], btt="latitude")
    with pytest.raises(InputError, match="coefficient 5 does not exist: the model has 4"):
        ketabridge.anova(fits["alloc_ml"], btt=5)
    with pytest.raises(InputError, match="either btt"):
        ketabridge.anova(fits["ablat_ml"], fits["re_ml"], btt=2)
    with pytest.raises(InputError, match="REML likelihoods of models with different moderators"):
        ketabridge.anova(fits["ablat"], fits["re"])
    with pytest.raises(InputError, match="both have 3 parameters"):
        ketabridge.anova(fits["ablat"], fits["year"])
    with pytest.raises(InputError, match="method='ML'"):
        ketabridge.anova(fits["ablat_ml"], fits["re"])
    fewer = ketabridge.rma(effects.iloc[:10], method="ML")
    with pytest.raises(InputError, match="same data"):
        ketabridge.anova(fits["ablat_ml"], fewer)
    with pytest.raises(InputError, match="takes the result of ketabridge.rma"):
        ketabridge.anova(ketabridge.trimfill(fits["re"]))


# metafor run directly, with the new moderator values built by hand as an R user would:
# scale() with the fitted data's mean and SD, poly() with its orthogonal coefficients.
DIRECT_NEWMODS = """
suppressMessages(library(metafor))
dat <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
fit <- rma(yi, vi, mods = ~ scale(year) + poly(ablat, 2) + relevel(factor(alloc), ref = "random"), data = dat)
new <- data.frame(year = c(1950, 1975), ablat = c(20, 45), alloc = c("random", "systematic"))
X <- cbind((new$year - mean(dat$year)) / sd(dat$year), predict(poly(dat$ablat, 2), new$ablat),
           new$alloc == "alternate", new$alloc == "systematic")
p <- predict(fit, newmods = X)
cat(sprintf("%a %a %a\\n", p$pred, p$se, p$pi.ub), sep = "")
"""


@pytest.mark.requires_r
def test_newmods_table_builds_the_model_matrix_from_the_fitted_formula(effects):
    printed = subprocess.run(["Rscript", "-e", DIRECT_NEWMODS], capture_output=True, text=True, check=True, timeout=120)
    expected = np.array(
        [[float.fromhex(value) for value in line.split()] for line in printed.stdout.split("\n") if line]
    )
    model = ketabridge.rma(effects, mods="~ scale(year) + poly(ablat, 2) + relevel(factor(alloc), ref = 'random')")
    new = pd.DataFrame({"year": [1950, 1975], "ablat": [20, 45], "alloc": ["random", "systematic"]}, index=["a", "b"])
    table = ketabridge.predict(model, newmods=new)
    assert table.index.tolist() == ["a", "b"]
    np.testing.assert_allclose(table[["estimate", "std_error", "pi_high"]].to_numpy(), expected, rtol=1e-9)


@pytest.mark.requires_r
def test_newmods_bad_input_is_named_before_r(fits):
    alloc = fits["alloc_ml"]
    with pytest.raises(InputError, match=r"lacks 'alloc' and has 'region', which the model does not use"):
        ketabridge.predict(alloc, newmods=pd.DataFrame({"ablat": [30], "region": ["x"]}))
    with pytest.raises(InputError, match=r"'alloc' has values the model was not fitted with at rows 1, 2 "):
        ketabridge.predict(alloc, newmods=pd.DataFrame({"ablat": [30, 30, 30], "alloc": ["random", "blinded", None]}))
    with pytest.raises(InputError, match=r"'ablat' has missing values row 1"):
        ketabridge.predict(alloc, newmods=pd.DataFrame({"ablat": [30, None], "alloc": ["random", "random"]}))
    with pytest.raises(InputError, match="has 2 columns but the model has 3 moderator coefficients"):
        ketabridge.predict(alloc, newmods=[[30, 1]])
    with pytest.raises(InputError, match="only an intercept"):
        ketabridge.predict(fits["re"], newmods=[1])
    with pytest.raises(InputError, match="intercept, whose values must all be 1"):
        ketabridge.predict(fits["ablat"], newmods=[[0, 30]])
    # a leading column of 1s is the intercept (as newer metafor releases read it)
    pd.testing.assert_frame_equal(
        ketabridge.predict(fits["ablat"], newmods=[[1, 30], [1, 40]]),
        ketabridge.predict(fits["ablat"], newmods=[30, 40]),
    )


@pytest.mark.requires_r
def test_follow_ups_refuse_models_they_cannot_take(fits, tmp_path):
    with pytest.raises(InputError, match="no moderators"):
        ketabridge.regplot(fits["re"], tmp_path / "x.png")
    with pytest.raises(InputError, match=r"several moderators; choose the x-axis with mod= \(one of: ablat, factor"):
        ketabridge.regplot(fits["alloc_ml"], tmp_path / "x.png")
    with pytest.raises(InputError, match="not a term of the model"):
        ketabridge.regplot(fits["alloc_ml"], tmp_path / "x.png", mod="latitude")
    with pytest.raises(InputError, match="has no tau"):
        ketabridge.profile(fits["ee"])
    with pytest.raises(InputError, match="steps must be a whole number from 2"):
        ketabridge.profile(fits["re"], steps=1)
    with pytest.raises(InputError, match="xlim must be two"):
        ketabridge.profile(fits["re"], xlim=(1, 0))
    for function in (ketabridge.fitstats, ketabridge.vcov, ketabridge.blup, ketabridge.ranef):
        with pytest.raises(InputError, match="takes the result of ketabridge.rma"):
            function("not a model")
    assert not list(tmp_path.iterdir())


@pytest.mark.requires_r
def test_newmods_table_for_a_model_of_columns_goes_by_name(effects):
    model = ketabridge.rma(effects, mods=["ablat", "year"])
    by_name = ketabridge.predict(model, newmods=pd.DataFrame({"year": [1950, 1980], "ablat": [10, 60]}))
    by_position = ketabridge.predict(model, newmods=[[10, 1950], [60, 1980]])
    pd.testing.assert_frame_equal(by_name, by_position)
