"""examples/inthout2014.py on a small grid: the simulation study of IntHout, Ioannidis & Borm
(2014, BMC Med Res Methodol 14:25) on the fast engine.

Expected values: the type I error of DL with a z test is recomputed here with numpy from the same
simulated data (the DerSimonian-Laird estimator and Wald test written out, an independent
computation), and must equal the example's count for count; the published statements (abstract:
DL's error "could be over 30%", HKSJ's "at most doubled") are checked in direction only on this
small grid, with the Monte Carlo error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import inthout2014  # noqa: E402

pytestmark = [pytest.mark.requires_r, pytest.mark.filterwarnings("ignore::ketabridge.MetaforWarning")]
GRID = dict(ks=[2, 10], i2s=[0.0, 0.75], sizes=["equal", "quarter_large"], replications=300, seed=5)


@pytest.fixture(scope="module")
def table():
    argv = ["--replications", "300", "--k", "2", "10", "--i2", "0", "75", "--sizes", "equal", "quarter_large"]
    return inthout2014.main([*argv, "--seed", "5", "--verify", "30", "--workers", "0"])


def _dl_z_rejections(data, k: int) -> np.ndarray:
    """DerSimonian-Laird with a Wald z test, in numpy: reject H0 (mean 0) at 5 %?"""
    y, v = data["yi"].to_numpy().reshape(-1, k), data["vi"].to_numpy().reshape(-1, k)
    w = 1 / v
    fixed = (w * y).sum(1) / w.sum(1)
    q = (w * (y - fixed[:, None]) ** 2).sum(1)
    tau2 = np.maximum(0, (q - (k - 1)) / (w.sum(1) - (w**2).sum(1) / w.sum(1)))
    ws = 1 / (v + tau2[:, None])
    mean, se = (ws * y).sum(1) / ws.sum(1), np.sqrt(1 / ws.sum(1))
    return 2 * stats.norm.sf(np.abs(mean / se)) < 0.05


def test_dl_error_rates_equal_an_independent_numpy_dl(table):
    conditions, data = inthout2014.design(**GRID)
    for row, condition in zip(table.itertuples(), conditions.itertuples()):
        part = data[data["analysis"].between(condition.first, condition.first + 299)]
        assert row.DL_error == pytest.approx(_dl_z_rejections(part, condition.k).mean(), abs=1e-12), row


def test_the_published_statements_hold_in_direction(table):
    null = table[table["i2"] == 0]
    # no heterogeneity: both near 5 % (4 Monte Carlo SEs at 300 replications: 5 %)
    assert (abs(null["DL_error"] - 0.05) < 0.05).all() and (abs(null["HKSJ_error"] - 0.05) < 0.05).all()
    hetero = table[(table["i2"] == 0.75) & (table["k"] == 2)]
    # heterogeneity with few, unequal trials: DL far above 5 %, HKSJ far closer to it
    assert (hetero["DL_error"] > 0.12).all() and (hetero["HKSJ_error"] < hetero["DL_error"] - 0.05).all()
    assert (table["DL_failed"] == 0).all() and (table["HKSJ_failed"] == 0).all()
