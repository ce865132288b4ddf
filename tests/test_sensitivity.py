"""leave1out, influence, cumul and fsn: behaviour and errors beyond the reference values.

Documented numbers (metafor's ?leave1out, ?influence.rma.uni, ?cumul and ?fsn examples on
dat.bcg) are checked in tests/reference/bcg_metafor_sensitivity.json; agreement with metafor on
random data in tests/test_property_sensitivity.py. Expected values here come from first principles.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import ketabridge
from ketabridge import schema

pytestmark = pytest.mark.requires_r


def test_tables_have_one_row_per_study_with_the_users_labels(bcg_effects):
    result = ketabridge.rma(bcg_effects, slab="author")
    for table, table_schema in (
        (ketabridge.leave1out(result), schema.LEAVE1OUT),
        (ketabridge.influence(result), schema.INFLUENCE),
    ):
        assert list(table.columns) == list(table_schema)
        assert list(table["study"]) == list(bcg_effects["author"])
    steps = ketabridge.cumul(result, order="year")
    assert list(steps["study"]) == list(bcg_effects["author"].iloc[steps["position"]])
    assert list(bcg_effects["year"].iloc[steps["position"]]) == sorted(bcg_effects["year"])  # stable for ties
    assert list(steps["k"]) == list(range(1, 14))


def test_leave1out_row_equals_the_model_without_that_study(bcg_effects):
    """Independent route: refit without study 4 through rma() itself."""
    result = ketabridge.rma(bcg_effects, method="DL")
    row = ketabridge.leave1out(result).iloc[3]
    refit = ketabridge.rma(bcg_effects.drop(index=3), method="DL").glance().iloc[0]
    for column in ("estimate", "std_error", "conf_low", "conf_high", "q", "tau2", "i2", "h2"):
        assert row[column] == pytest.approx(refit[column], rel=1e-10)


def test_cumul_last_step_is_the_full_model_and_order_may_be_values(bcg_effects):
    result = ketabridge.rma(bcg_effects)
    by_values = ketabridge.cumul(result, order=-bcg_effects["year"].to_numpy())
    assert by_values["estimate"].iloc[-1] == pytest.approx(result.glance()["estimate"].iloc[0], rel=1e-10)
    assert by_values["study"].iloc[0] == "8" and by_values["position"].iloc[0] == 7  # trial 8, TPT Madras, 1980


def test_influence_hat_and_weight_match_augment(bcg_effects):
    result = ketabridge.rma(bcg_effects, mods=["ablat"])
    diagnostics, studies = ketabridge.influence(result), result.augment()
    np.testing.assert_allclose(diagnostics["hat"], studies["hat"], rtol=1e-10)
    np.testing.assert_allclose(diagnostics["cooks_distance"], studies["cooks_distance"], rtol=1e-8)


def test_fsn_rosenthal_and_orwin_from_first_principles(bcg_effects):
    """Rosenthal (1979): N = (sum z_i / z_alpha)^2 - k, rounded up; Orwin (1983): N = k (mean - target) / target."""
    yi, vi = bcg_effects["yi"].to_numpy(), bcg_effects["vi"].to_numpy()
    k = len(yi)
    rosenthal = ketabridge.fsn(bcg_effects).glance().iloc[0]
    assert rosenthal["fail_safe_n"] == math.ceil((np.sum(yi / np.sqrt(vi)) / stats.norm.ppf(0.95)) ** 2 - k)
    orwin = ketabridge.fsn(bcg_effects, type="Orwin", target=-0.2).glance().iloc[0]
    assert orwin["fail_safe_n"] == math.ceil(k * (yi.mean() + 0.2) / -0.2)
    assert orwin["average_effect"] == pytest.approx(yi.mean())
    from_result = ketabridge.fsn(ketabridge.rma(bcg_effects), type="Orwin", target=-0.2).glance()
    assert from_result.equals(ketabridge.fsn(bcg_effects, type="Orwin", target=-0.2).glance())
    assert list(from_result.columns) == list(schema.FSN_GLANCE)


def test_fsn_with_standard_errors(bcg_effects):
    effects = bcg_effects.assign(sei=np.sqrt(bcg_effects["vi"]))
    by_se = ketabridge.fsn(effects, vi=None, sei="sei", type="Rosenberg").glance()
    assert by_se["fail_safe_n"].iloc[0] == ketabridge.fsn(bcg_effects, type="Rosenberg").glance()["fail_safe_n"].iloc[0]


def test_bad_inputs_are_named(bcg_effects):
    with_moderator = ketabridge.rma(bcg_effects, mods=["ablat"])
    with pytest.raises(ketabridge.InputError, match="leave1out needs a model without moderators"):
        ketabridge.leave1out(with_moderator)
    with pytest.raises(ketabridge.InputError, match="cumul needs a model without moderators"):
        ketabridge.cumul(with_moderator, order="year")
    result = ketabridge.rma(bcg_effects)
    gaps = bcg_effects.assign(year=bcg_effects["year"].where(bcg_effects.index != 4))
    with pytest.raises(
        ketabridge.InputError, match="'year' must hold a finite number for every study, but row 4 is not"
    ):
        ketabridge.cumul(ketabridge.rma(gaps), order="year")
    with pytest.raises(ketabridge.InputError, match="one value per study of the model \\(13\\)"):
        ketabridge.cumul(result, order=[1, 2, 3])
    with pytest.raises(ketabridge.InputError, match="column 'nope' not found"):
        ketabridge.cumul(result, order="nope")
    # "General" is a type from metafor 4.4 (tests/test_pubbias_api.py checks its release gate)
    with pytest.raises(
        ketabridge.InputError, match="unknown type 'Fisher'; choose one of: Rosenthal, Orwin, Rosenberg, REM, General"
    ):
        ketabridge.fsn(bcg_effects, type="Fisher")
    with pytest.raises(ketabridge.InputError, match="column 'vi' holds variances, which must be > 0, but row 2 is not"):
        ketabridge.fsn(bcg_effects.assign(vi=bcg_effects["vi"].where(bcg_effects.index != 2, 0.0)))
    with pytest.raises(ketabridge.InputError, match="no option 'digits'"):
        ketabridge.leave1out(result, digits=2)
