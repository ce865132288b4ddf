"""Numbers metafor changed on purpose between releases: each lane is held to what its own
metafor should give, computed here independently from the formula each release's code uses,
with the release notes (NEWS.md) or code that says so.

The reference tests under tests/reference/ hold published values; none of them uses a measure
or estimator listed here, so they hold in every lane. These are the lanes' own expectations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ketabridge
from ketabridge.bridge.compat import version_tuple

pytestmark = pytest.mark.requires_r


@pytest.fixture(scope="module")
def release(installed) -> tuple[int, ...]:
    return version_tuple(installed["metafor_version"])


def test_zpcor_variance_follows_each_release(release):
    """ZPCOR from t statistics: yi = atanh(t / sqrt(t^2 + n - m - 1)) in every release; the
    sampling variance is 1/(n - m - 1) in 3.8-1, 1/(n - m - 3) from 4.0-0 (NEWS: "the variance of
    measure ZPCOR is now calculated with 1/(ni-mi-3)") and 1/(n - m - 2) from 4.4-0 (NEWS: "mi now
    refers to the total number of predictors"; escalc.r: vi <- 1/(ni-mi-2))."""
    data = pd.DataFrame({"ti": [2.1, 3.4, 0.8], "ni": [50.0, 120.0, 35.0], "mi": [3.0, 5.0, 2.0]})
    effects = ketabridge.escalc("ZPCOR", data, ti="ti", ni="ni", mi="mi")
    t, n, m = data["ti"], data["ni"], data["mi"]
    np.testing.assert_allclose(effects["yi"], np.arctanh(t / np.sqrt(t**2 + n - m - 1)), rtol=1e-14)
    shift = 1 if release < (4, 0) else 3 if release < (4, 4) else 2
    np.testing.assert_allclose(effects["vi"], 1 / (n - m - shift), rtol=1e-14)


def test_rom_bias_correction_from_5_0(release):
    """ROM: yi = log(m1/m2) up to 4.8; from 5.0-1 escalc applies the second-order bias correction
    by default (NEWS 5.0-1; escalc.r: + 1/2 (sd1^2/(n1 m1^2) - sd2^2/(n2 m2^2)), Lajeunesse 2015,
    eq. 8). The variance is unchanged."""
    data = pd.DataFrame(
        {
            "m1": [12.0, 8.5],
            "sd1": [4.0, 3.1],
            "n1": [20.0, 35.0],
            "m2": [10.0, 9.0],
            "sd2": [3.5, 2.2],
            "n2": [22.0, 30.0],
        }
    )
    effects = ketabridge.escalc("ROM", data, m1i="m1", sd1i="sd1", n1i="n1", m2i="m2", sd2i="sd2", n2i="n2")
    plain = np.log(data["m1"] / data["m2"])
    correction = 0.5 * (
        data["sd1"] ** 2 / (data["n1"] * data["m1"] ** 2) - data["sd2"] ** 2 / (data["n2"] * data["m2"] ** 2)
    )
    expected = plain + correction if release >= (5, 0) else plain
    np.testing.assert_allclose(effects["yi"], expected, rtol=1e-14)
    variance = data["sd1"] ** 2 / (data["n1"] * data["m1"] ** 2) + data["sd2"] ** 2 / (data["n2"] * data["m2"] ** 2)
    np.testing.assert_allclose(effects["vi"], variance, rtol=1e-14)


def test_dlit_is_the_iterated_dersimonian_laird_from_4_6(bcg_effects, release):
    """metafor 4.6-0 rewrote DLIT (rma.uni.r; NEWS does not say) as the true iterated DL, whose
    fixed point is the Paule-Mandel solution: from 4.6 DLIT's tau^2 on the BCG trials agrees with
    PM's to the iteration's tolerance. Before 4.6 the iteration differs and may stop unconverged."""
    if release < (4, 6):
        pytest.skip(f"metafor {'.'.join(map(str, release))}: DLIT is the pre-4.6 iteration")
    dlit = ketabridge.rma(bcg_effects, method="DLIT").glance()["tau2"].iloc[0]
    pm = ketabridge.rma(bcg_effects, method="PM").glance()["tau2"].iloc[0]
    assert dlit == pytest.approx(pm, rel=1e-3)


def test_ranktest_refuses_moderators_in_every_release(bcg_effects):
    """metafor 4.4 stops ranktest() on a model with moderators; 3.8-1 ran it on the raw effects.
    ketabridge refuses in every release, so a result does not depend on which metafor ran it."""
    with pytest.raises(ketabridge.InputError, match="the rank test needs a model without moderators"):
        ketabridge.ranktest(ketabridge.rma(bcg_effects, mods=["ablat"]))
