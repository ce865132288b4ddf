"""Egger's regression test as metafor 3.8-1's regtest(fit, model = "rma", predictor = "sei"):
the fit's model refitted with sqrt(vi) as a moderator, under the fit's method, test and level."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketabridge.fast import messages
from ketabridge.fast.model import rma
from ketabridge.fast.steps import Outcome


@dataclass
class EggerTest:
    statistic: np.ndarray
    df: np.ndarray
    p_value: np.ndarray
    limit_estimate: np.ndarray  # the intercept: the effect as sei goes to 0
    limit_conf_low: np.ndarray
    limit_conf_high: np.ndarray
    outcome: Outcome


def egger_rma(yi: np.ndarray, vi: np.ndarray, method: str, test: str, level: float) -> EggerTest:
    sei = np.sqrt(vi)
    outcome = Outcome.empty(len(yi))
    # regtest first checks lm(yi ~ X - 1) for an aliased sei column: a constant sei
    outcome.fail(np.ptp(sei, axis=1) == 0, messages.REGTEST_RANK)
    model = rma(yi, vi, method, test, level, x=sei)
    outcome.absorb(model.outcome)
    failed = outcome.failed
    keep = lambda values: np.where(failed, np.nan, values)  # noqa: E731
    return EggerTest(
        statistic=keep(model.zval[:, 1]),
        df=keep(model.ddf),
        p_value=keep(model.pval[:, 1]),
        limit_estimate=keep(model.beta[:, 0]),
        limit_conf_low=keep(model.ci_lb[:, 0]),
        limit_conf_high=keep(model.ci_ub[:, 0]),
        outcome=outcome,
    )
