"""predict, confint and the natural scale: behaviour and errors beyond the reference values.

Published numbers (metafor's predict.rma and confint.rma.uni examples on dat.bcg) are checked in
tests/reference/bcg_metafor_sensitivity.json; agreement with metafor on random data in
tests/test_property_sensitivity.py. Expected values here are computed from first principles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import ketabridge
from ketabridge import schema

pytestmark = pytest.mark.requires_r


@pytest.fixture
def proportions() -> pd.DataFrame:
    return pd.DataFrame({"events": [3, 10, 0, 7, 25], "total": [20, 40, 15, 30, 60]})


def test_predict_intervals_follow_the_model_test(bcg_effects):
    """z: normal quantile; knha: t(k - 1). Independent: the interval half-width over the SE."""
    for test, quantile in (("z", stats.norm.ppf(0.975)), ("knha", stats.t.ppf(0.975, 12))):
        result = ketabridge.rma(bcg_effects, test=test)
        row = ketabridge.predict(result).iloc[0]
        assert (row["conf_high"] - row["estimate"]) / row["std_error"] == pytest.approx(quantile, rel=1e-10)
        # PI half-width = quantile * sqrt(se^2 + tau2) (metafor's predict.rma)
        tau2 = result.glance()["tau2"].iloc[0]
        assert row["pi_high"] - row["estimate"] == pytest.approx(
            quantile * np.sqrt(row["std_error"] ** 2 + tau2), rel=1e-10
        )


def test_predict_level_and_back_transform(bcg_effects):
    result = ketabridge.rma(bcg_effects)
    model_scale = ketabridge.predict(result, level=80).iloc[0]
    assert (model_scale["conf_high"] - model_scale["estimate"]) / model_scale["std_error"] == pytest.approx(
        stats.norm.ppf(0.9)
    )
    natural = ketabridge.predict(result, level=80, transf="natural").iloc[0]
    for column in ("estimate", "conf_low", "conf_high", "pi_low", "pi_high"):
        assert natural[column] == pytest.approx(np.exp(model_scale[column]), rel=1e-12)
    assert np.isnan(natural["std_error"])  # metafor drops the SE after a transform
    assert list(ketabridge.predict(result).columns) == list(schema.PREDICT)


def test_predict_natural_is_identity_for_measures_on_their_scale(proportions):
    effects = ketabridge.escalc("PR", proportions, xi="events", ni="total")
    result = ketabridge.rma(effects)
    pd.testing.assert_frame_equal(ketabridge.predict(result, transf="natural"), ketabridge.predict(result))


def test_augment_natural_columns_invert_each_study_transform(proportions):
    """PLO, PFT and PR study values come back as the observed proportions xi/ni (first
    principles: each study's own inverse transform)."""
    zero = proportions["events"] == 0
    # escalc's default add=1/2, to="only0" corrects the zero-event study for PR and PLO, not PFT
    corrected = (proportions["events"] + 0.5 * zero) / (proportions["total"] + zero)
    for measure in ("PLO", "PFT", "PR"):
        effects = ketabridge.escalc(measure, proportions, xi="events", ni="total")
        studies = ketabridge.rma(effects).augment()
        expected = proportions["events"] / proportions["total"] if measure == "PFT" else corrected
        np.testing.assert_allclose(studies["yi_natural"], expected, rtol=1e-9, atol=1e-12)
        assert (studies["ci_low_natural"] <= studies["yi_natural"]).all()
        assert (studies["yi_natural"] <= studies["ci_high_natural"]).all()


def test_augment_natural_interval_for_risk_ratios(bcg_effects):
    """exp(yi -+ z_0.975 sqrt(vi)), the study interval metafor's summary.escalc gives."""
    studies = ketabridge.rma(bcg_effects).augment()
    half = stats.norm.ppf(0.975) * np.sqrt(bcg_effects["vi"])
    np.testing.assert_allclose(studies["yi_natural"], np.exp(bcg_effects["yi"]), rtol=1e-12)
    np.testing.assert_allclose(studies["ci_low_natural"], np.exp(bcg_effects["yi"] - half), rtol=1e-12)
    np.testing.assert_allclose(studies["ci_high_natural"], np.exp(bcg_effects["yi"] + half), rtol=1e-12)


def test_pft_pooled_back_transform_uses_harmonic_mean(proportions):
    """ipft.hm takes ni from the model: equal to passing the same ni explicitly."""
    effects = ketabridge.escalc("PFT", proportions, xi="events", ni="total")
    result = ketabridge.rma(effects)
    pd.testing.assert_frame_equal(
        ketabridge.predict(result, transf="natural"),
        ketabridge.predict(result, transf="ipft.hm", ni=proportions["total"].to_numpy()),
    )
    without_sizes = ketabridge.rma(effects.drop(columns="ni"))
    with pytest.raises(ketabridge.InputError, match="ipft.hm.*sample sizes"):
        ketabridge.predict(without_sizes, transf="ipft.hm")


def test_confint_rows_and_bounds(bcg_effects):
    table = ketabridge.confint(ketabridge.rma(bcg_effects, method="DL"))
    assert list(table["term"]) == ["tau2", "tau", "i2", "h2"]
    assert list(table.columns) == list(schema.CONFINT)
    assert np.sqrt(table["estimate"].iloc[0]) == pytest.approx(table["estimate"].iloc[1])  # tau = sqrt(tau2)
    assert (table["conf_low"] <= table["estimate"]).all() and (table["estimate"] <= table["conf_high"]).all()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"predtype": "between"}, "unknown predtype 'between'; choose one of: default, simple, riley, t"),
        ({"pi_type": "t"}, "has no option 'pi_type' \\(pi_type: metafor's, not passed on by ketabridge\\)"),
        ({"hetvar": 0.1}, "has no option 'hetvar'"),
        ({"adjust": "yes"}, "adjust must be True or False"),
        ({"newmods": [1.0]}, "newmods needs a model with moderators"),  # newmods predicts for meta-regressions
        ({"transf": "log"}, "unknown transf 'log'; choose one of: exp, ilogit, ipft.hm, iarcsin, ztor, natural"),
        ({"transf": "exp", "ni": [10, 20]}, "ni= is only used by transf='ipft.hm'"),
        ({"level": 150}, "level must be a number between 0 and 100"),
    ],
)
def test_predict_rejects_what_metafor_would_ignore(bcg_effects, options, message):
    result = ketabridge.rma(bcg_effects)
    with pytest.raises(ketabridge.InputError, match=message):
        ketabridge.predict(result, **options)


def test_confint_needs_heterogeneity(bcg_effects):
    with pytest.raises(ketabridge.InputError, match="confint needs a random-effects model; method 'EE'"):
        ketabridge.confint(ketabridge.rma(bcg_effects, method="EE"))
    with pytest.raises(ketabridge.InputError, match="takes the result of ketabridge.rma"):
        ketabridge.confint(bcg_effects)


def test_predict_ni_must_be_numbers_not_a_column_name(proportions):
    result = ketabridge.rma(ketabridge.escalc("PFT", proportions, xi="events", ni="total"))
    with pytest.raises(
        ketabridge.InputError, match="ni must be the studies' sample sizes \\(numbers\\), not a column name"
    ):
        ketabridge.predict(result, transf="ipft.hm", ni="total")
    with pytest.raises(ketabridge.InputError, match="ni must be the studies' sample sizes \\(numbers\\)"):
        ketabridge.predict(result, transf="ipft.hm", ni=["a", "b"])


def test_augment_is_one_r_round_trip(bcg_effects, monkeypatch):
    """The natural-scale columns come from the kb_augment call itself, not a second one."""
    from ketabridge.analyses import intervals, models, results  # results runs augment's stored call

    result = ketabridge.rma(bcg_effects)
    entries = []

    def counting(real):
        def call(name, *args):
            entries.append(name)
            return real(name, *args)

        return call

    monkeypatch.setattr(models, "call_entry", counting(models.call_entry))
    monkeypatch.setattr(intervals, "call_entry", counting(intervals.call_entry))
    monkeypatch.setattr(results, "call_entry", counting(results.call_entry))
    table = result.augment()
    assert entries == ["kb_augment"]
    assert {"yi_natural", "ci_low_natural", "ci_high_natural"} <= set(table.columns)


def test_predtype_t_uses_t_quantiles_with_k_minus_1_df(bcg_effects):
    """predtype="t" (pi.type before metafor 5.0): the PI is estimate +- t(0.975, k - 1) *
    sqrt(se^2 + tau^2) under test="z" (metafor's ?predict.rma); computed here with scipy."""
    from scipy import stats

    result = ketabridge.rma(bcg_effects)
    glance = result.glance().iloc[0]
    row = ketabridge.predict(result, predtype="t").iloc[0]
    half = stats.t.ppf(0.975, glance["k"] - 1) * np.sqrt(glance["std_error"] ** 2 + glance["tau2"])
    assert row["pi_low"] == pytest.approx(glance["estimate"] - half, rel=1e-10)
    assert row["pi_high"] == pytest.approx(glance["estimate"] + half, rel=1e-10)
    assert row["conf_low"] == pytest.approx(glance["conf_low"], rel=1e-12)  # the CI stays z-based
    default = ketabridge.predict(result).iloc[0]
    assert default["pi_high"] < row["pi_high"]  # normal quantiles by default: narrower


def test_adjust_is_bonferroni_where_metafor_has_it(bcg_effects, installed):
    """adjust=True (metafor >= 4.8): the bounds of k fitted values use z(1 - 0.05 / (2 k)),
    computed here with scipy; an older metafor is named in the error instead."""
    from scipy import stats

    from ketabridge.bridge.compat import version_tuple

    result = ketabridge.rma(bcg_effects, mods=["ablat"])
    if version_tuple(installed["metafor_version"]) < (4, 8):
        with pytest.raises(
            ketabridge.InputError, match=f"needs metafor >= 4.8; this R has metafor {installed['metafor_version']}"
        ):
            ketabridge.predict(result, adjust=True)
        return
    table = ketabridge.predict(result, adjust=True)
    z = stats.norm.ppf(1 - 0.05 / (2 * len(table)))
    np.testing.assert_allclose(table["conf_high"], table["estimate"] + z * table["std_error"], rtol=1e-10)
