"""The publication-bias API's contract: bad input raises InputError before R, results are frozen,
pickle and follow their schemas, plots are written, and tidy() has the same columns for every
model (component "location", and "scale" rows for location-scale models)."""

from __future__ import annotations

import pickle
import warnings

import pandas as pd
import pytest

import ketabridge
from ketabridge import schema
from ketabridge.bridge.compat import version_tuple

pytestmark = [pytest.mark.requires_r, pytest.mark.filterwarnings("ignore::ketabridge.MetaforWarning")]


@pytest.fixture(scope="module")
def effects() -> pd.DataFrame:
    from lane import BCG_CSV

    return ketabridge.escalc("RR", pd.read_csv(BCG_CSV), ai="tpos", bi="tneg", ci="cpos", di="cneg")


@pytest.fixture(scope="module")
def model(effects) -> ketabridge.MetaResult:
    return ketabridge.rma(effects, method="ML", slab="author")


@pytest.fixture(scope="module")
def selection(model) -> ketabridge.SelectionResult:
    return ketabridge.selmodel(model, "stepfun", steps=[0.025, 1])


def test_selection_result_follows_its_schemas_and_pickles(selection):
    assert list(selection.glance().columns) == list(schema.SELMODEL_GLANCE)
    assert list(selection.tidy().columns) == list(schema.TIDY)
    assert list(selection.weights().columns) == list(schema.SELMODEL_WEIGHTS)
    weights = selection.weights()
    # the step function's first interval is the reference: delta.1 = 1, fixed, no test
    assert weights["fixed"].tolist() == [True, False] and weights["estimate"].iloc[0] == 1
    assert weights[["p_low", "p_high"]].to_numpy().tolist() == [[0, 0.025], [0.025, 1]]
    assert int(weights["k"].sum()) == selection.glance()["k"].iloc[0]
    again = pickle.loads(pickle.dumps(selection))
    pd.testing.assert_frame_equal(again.weights(), weights)
    assert selection.to_dict()["glance"]["type"] == "stepfun"
    assert selection.provenance.r_call.startswith("selmodel(rma.uni(")
    with pytest.raises(AttributeError):
        selection.spec = None


def test_selection_function_plot_is_written(selection, tmp_path):
    path = ketabridge.plot_selmodel(selection, tmp_path / "selection.png", ci="wald")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".selection*"))  # the partial file was moved, not left behind
    with pytest.raises(ketabridge.InputError, match="image format"):
        ketabridge.plot_selmodel(selection, tmp_path / "selection.gif")
    with pytest.raises(ketabridge.InputError, match="unknown ci"):
        ketabridge.plot_selmodel(selection, tmp_path / "selection.svg", ci="profile")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"type": "cubic"}, "unknown selection model type"),
        ({"type": "stepfun"}, "needs steps="),
        ({"type": "stepfun", "steps": [0.5, 0.1]}, "increasing"),
        ({"type": "stepfun", "steps": [0, 1]}, r"in \(0, 1\]"),
        ({"type": "stepfun", "steps": "0.05"}, "list of numbers"),
        ({"type": "beta", "alternative": "up"}, "unknown alternative"),
        ({"type": "halfnorm", "control": {"eval": 1}}, "unknown selmodel control"),
        ({"type": "halfnorm", "control": {"delta.init": {"a": 1}}}, "must be a number"),
    ],
)
def test_selmodel_refuses_bad_input(model, kwargs, message):
    with pytest.raises(ketabridge.InputError, match=message):
        ketabridge.selmodel(model, **kwargs)


def test_selmodel_precision_by_sample_size_needs_sizes(effects):
    without_sizes = ketabridge.rma(effects.drop(columns=["ni"]), method="ML")
    with pytest.raises(ketabridge.InputError, match="needs sample sizes"):
        ketabridge.selmodel(without_sizes, "halfnorm", prec="ninv")


def test_selmodel_types_newer_than_the_running_metafor_are_refused(model, installed):
    if version_tuple(installed["metafor_version"])[:2] >= (4, 0):
        pytest.skip("this metafor has type='trunc'")
    with pytest.raises(ketabridge.InputError, match=r"needs metafor >= 4\.0"):
        ketabridge.selmodel(model, "trunc")


def test_selection_weights_fixed_at_no_selection_give_the_model_likelihood(model):
    """metafor's test_misc_selmodel.r check: a beta selection model with delta fixed at (1, 1)
    (no selection) has the log-likelihood of the ML model it was fitted to (fitstats of rma)."""
    fixed = ketabridge.selmodel(model, "beta", delta=[1, 1])
    assert fixed.glance()["loglik"].iloc[0] == pytest.approx(ketabridge.fitstats(model)["loglik"].iloc[0], abs=1e-6)
    assert fixed.weights()["fixed"].tolist() == [True, True] and fixed.glance()["lrt_df"].iloc[0] == 0
    assert "delta = c(1, 1)" in fixed.provenance.r_call
    # None (R's NA) leaves that parameter to be estimated
    half = ketabridge.selmodel(model, "beta", delta=[1, None])
    assert half.weights()["fixed"].tolist() == [True, False] and half.glance()["lrt_df"].iloc[0] == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"delta": "1"}, "delta must be a list of numbers"),
        ({"delta": [1, True]}, "delta must be a list of numbers"),
        ({"delta": [1, -0.5]}, "finite and >= 0"),
        ({"delta": [1, float("inf")]}, "finite and >= 0"),
        ({"decreasing": "yes"}, "decreasing must be True or False"),
        ({"subset": [True, False]}, r"one True/False per study of the model \(13\)"),
        ({"subset": [True] * 12 + ["a"]}, r"'subset' must hold True/False .* row 12 is not"),
        ({"subset": "nonexistent"}, "column 'nonexistent' not found"),
        ({"subset": "author"}, r"'author' must hold True/False .* rows 0, 1, 2, 3, 4 and 8 more are not"),
    ],
)
def test_selmodel_options_are_checked_before_r(model, kwargs, message):
    with pytest.raises(ketabridge.InputError, match=message):
        ketabridge.selmodel(model, "stepfun", steps=[0.025, 1], **kwargs)


@pytest.mark.parametrize("kwargs, since", [({"decreasing": True}, (4, 6)), ({"subset": [True] * 12 + [False]}, (4, 8))])
def test_selmodel_options_newer_than_the_running_metafor_are_refused(model, installed, kwargs, since):
    if version_tuple(installed["metafor_version"])[:2] >= since:
        pytest.skip(f"this metafor has {next(iter(kwargs))}= (the reference tests check its values)")
    with pytest.raises(ketabridge.InputError, match=rf"needs metafor >= {since[0]}\.{since[1]}"):
        ketabridge.selmodel(model, "stepfun", steps=[0.025, 1], **kwargs)


def test_selmodel_takes_only_rma_results(effects):
    with pytest.raises(ketabridge.InputError, match="takes the result of ketabridge.rma"):
        ketabridge.selmodel(effects, "beta")


def test_permutest_is_reproducible_and_checks_its_arguments(effects):
    model = ketabridge.rma(effects, mods="~ ablat")
    first = ketabridge.permutest(model, iter=50, seed=7)
    pd.testing.assert_frame_equal(first.tidy(), ketabridge.permutest(model, iter=50, seed=7).tidy())
    assert first.glance()[["iterations", "exact", "seed"]].iloc[0].tolist() == [50, False, 7]
    assert list(first.tidy().columns) == list(schema.PERMUTEST_TIDY)
    drawn = ketabridge.permutest(model, iter=20)  # no seed: one is drawn and recorded
    assert drawn.provenance.r_call.startswith(f"set.seed({drawn.glance()['seed'].iloc[0]}); ")
    for kwargs, message in (
        ({"iter": 0}, "iter must be"),
        ({"iter": 2.5}, "iter must be"),
        ({"seed": -1}, "seed must be"),
        ({"seed": True}, "seed must be"),
        ({"exact": "yes"}, "exact must be"),
    ):
        with pytest.raises(ketabridge.InputError, match=message):
            ketabridge.permutest(model, **kwargs)


def test_tes_and_pet_peese_check_their_arguments(effects, model):
    for kwargs, message in (
        ({"test": "fisher"}, "unknown test"),
        ({"alpha": 1.5}, "alpha must be"),
        ({"tes_alternative": "up"}, "unknown tes_alternative"),
        ({"tau2": -1.0}, "tau2 must be >= 0"),
        ({"theta": float("nan")}, "theta must be a finite"),
    ):
        with pytest.raises(ketabridge.InputError, match=message):
            ketabridge.tes(effects, **kwargs)
    with pytest.raises(ketabridge.InputError, match="alpha must be"):
        ketabridge.pet_peese(model, alpha=0)
    with pytest.raises(ketabridge.InputError, match="unknown model"):
        ketabridge.pet_peese(model, model="glm")
    assert list(ketabridge.tes(effects).glance().columns) == list(schema.TES_GLANCE)


def test_fsn_random_effects_types_follow_the_metafor_release(effects, installed):
    running = version_tuple(installed["metafor_version"])[:2]
    if running <= (4, 2):
        with pytest.raises(ketabridge.InputError, match=r"fsn_type 'General' needs metafor >= 4\.4"):
            ketabridge.fsn(effects, type="General")
        row = ketabridge.fsn(effects, type="REM", seed=3, iters=100).glance().iloc[0]
        assert row["type"] == "REM" and row["fail_safe_n"] >= 0
    else:
        with pytest.raises(ketabridge.InputError, match="type='General'"):
            ketabridge.fsn(effects, type="REM")
    with pytest.raises(ketabridge.InputError, match="iters is a whole number >= 1 for type='REM' only"):
        ketabridge.fsn(effects, type="Rosenthal", iters=10)


def test_confint_of_the_coefficients(effects):
    equal = ketabridge.rma(effects, method="EE")
    coefficients = ketabridge.confint(equal, fixed=True, random=False)
    tidy = equal.tidy()
    assert coefficients["term"].tolist() == ["intrcpt"]
    # metafor's fixed=TRUE intervals are the Wald intervals tidy() shows
    assert coefficients[["conf_low", "conf_high"]].iloc[0].tolist() == tidy[["conf_low", "conf_high"]].iloc[0].tolist()
    with pytest.raises(ketabridge.InputError, match="confint needs a random-effects model"):
        ketabridge.confint(equal, fixed=True)
    with pytest.raises(ketabridge.InputError, match="nothing to give"):
        ketabridge.confint(equal, random=False)
    with pytest.raises(ketabridge.InputError, match="unknown type"):
        ketabridge.confint(ketabridge.rma(effects), type="Wald")


def test_every_tidy_has_a_component_column(effects):
    plain = ketabridge.rma(effects, mods="~ ablat").tidy()
    assert list(plain.columns) == list(schema.TIDY)
    assert plain["component"].tolist() == ["location", "location"]
    scaled = ketabridge.rma(effects, scale="~ ablat", method="ML").tidy()
    assert list(scaled.columns) == list(schema.TIDY)
    assert scaled["component"].tolist() == ["location", "scale", "scale"]


def test_intercept_only_scale_model_is_the_random_effects_model(effects):
    """metafor's own identity (tests/testthat/test_misc_rma_ls.r): with scale = ~ 1 and REML,
    exp(alpha) is the tau^2 of the ordinary random-effects model."""
    import math

    scaled = ketabridge.rma(effects, scale="~ 1").tidy()
    alpha = scaled.loc[scaled["component"] == "scale", "estimate"].iloc[0]
    assert math.exp(alpha) == pytest.approx(ketabridge.rma(effects).glance()["tau2"].iloc[0], rel=1e-3)


def test_location_scale_glance_and_augment(effects):
    """The glance adds the test of the scale coefficients (values: test_pubbias_reference.py);
    augment's fitted values are the location part X b (numpy here), and Cook's distances stay NA
    with a warning, because metafor 3.8-1 to 5.2-1 have no cooks.distance for location-scale models."""
    import numpy as np

    scaled = ketabridge.rma(effects, mods="~ ablat", scale="~ ablat", method="ML")
    glance = scaled.glance()
    assert list(glance.columns) == list(schema.LOCATION_SCALE_GLANCE)
    assert glance["qs_df"].iloc[0] == 1 and 0 <= glance["qs_pvalue"].iloc[0] <= 1
    # tau^2 differs by study (it depends on ablat), so the glance gives no single value
    assert glance[["tau2", "tau", "i2", "h2"]].isna().all(axis=None)
    with pytest.warns(ketabridge.MetaforWarning, match="Cook's distances not available"):
        augmented = scaled.augment()
    location = scaled.tidy().query("component == 'location'")["estimate"].to_numpy()
    expected = location[0] + location[1] * effects["ablat"].to_numpy()
    np.testing.assert_allclose(augmented["fitted"].to_numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(augmented["residual"], augmented["yi"] - augmented["fitted"], rtol=1e-10, atol=1e-12)
    assert augmented["cooks_distance"].isna().all() and augmented["hat"].notna().all()
    # scale = ~ 1: tau^2 is one value, exp(alpha)
    alpha = ketabridge.rma(effects, scale="~ 1").tidy().query("component == 'scale'")["estimate"].iloc[0]
    assert ketabridge.rma(effects, scale="~ 1").glance()["tau2"].iloc[0] == pytest.approx(np.exp(alpha), rel=1e-10)


@pytest.mark.parametrize(
    "scale, message",
    [("ablat", "one-sided formula"), ("~ nowhere", "nowhere"), ("~ system('ls')", "system"), ("~ ablat; q()", "scale")],
)
def test_scale_formulas_are_checked_before_r(effects, scale, message):
    with pytest.raises(ketabridge.InputError, match=message):
        ketabridge.rma(effects, scale=scale)


def test_scale_with_subgroups_is_refused(effects):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ketabridge.InputError, match="subgroup= with scale="):
            ketabridge.rma(effects, scale="~ ablat", subgroup="alloc")
