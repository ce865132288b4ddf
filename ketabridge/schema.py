"""The fixed column names and dtypes of every table ketabridge returns.

Names follow broom's vocabulary in snake_case and never change with the method or test:
a quantity a model does not have is NaN, not a missing column.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

FLOAT, INT, BOOL, TEXT = "float64", "int64", "bool", "string"

TIDY = {
    "term": TEXT,
    "estimate": FLOAT,
    "std_error": FLOAT,
    "statistic": FLOAT,
    "p_value": FLOAT,
    "conf_low": FLOAT,
    "conf_high": FLOAT,
    # "location" (the coefficients of the mean), or "scale" (a location-scale model's coefficients
    # of log tau^2, metafor's alpha): every tidy has it, so the columns never depend on the model
    "component": TEXT,
}

# One row per model; estimate..conf_high describe the intercept (the pooled effect).
GLANCE = {
    "k": INT,
    "measure": TEXT,
    "method": TEXT,
    "test": TEXT,
    "level": FLOAT,
    "estimate": FLOAT,
    "std_error": FLOAT,
    "statistic": FLOAT,
    "df": FLOAT,
    "p_value": FLOAT,
    "conf_low": FLOAT,
    "conf_high": FLOAT,
    "pi_low": FLOAT,
    "pi_high": FLOAT,
    "tau2": FLOAT,
    "tau2_se": FLOAT,
    "tau": FLOAT,
    "i2": FLOAT,  # percent, as metafor prints it
    "h2": FLOAT,
    "q": FLOAT,
    "q_df": INT,
    "q_pvalue": FLOAT,
    "qm": FLOAT,
    "qm_df": INT,
    "qm_pvalue": FLOAT,
    "converged": BOOL,
}

TRIMFILL_GLANCE = {**GLANCE, "k0": INT, "k0_se": FLOAT, "side": TEXT, "estimator": TEXT}

AUGMENT = {
    "study": TEXT,
    "yi": FLOAT,
    "vi": FLOAT,
    "weight": FLOAT,  # percent of the total weight, as metafor's weights()
    "fitted": FLOAT,
    "residual": FLOAT,
    "std_residual": FLOAT,
    "hat": FLOAT,
    "cooks_distance": FLOAT,
    # yi and its normal-theory interval on the measure's natural scale (risk ratio, proportion...);
    # the model scale when the measure has no back-transform (ketabridge/analyses/transforms.py)
    "yi_natural": FLOAT,
    "ci_low_natural": FLOAT,
    "ci_high_natural": FLOAT,
}

TRIMFILL_AUGMENT = {**AUGMENT, "filled": BOOL}

REGTEST_GLANCE = {
    "model": TEXT,
    "predictor": TEXT,
    "statistic": FLOAT,
    "df": FLOAT,  # NaN for z tests
    "p_value": FLOAT,
    "limit_estimate": FLOAT,  # the estimated effect as the predictor goes to 0
    "limit_conf_low": FLOAT,
    "limit_conf_high": FLOAT,
}

RANKTEST_GLANCE = {"kendall_tau": FLOAT, "p_value": FLOAT}

# correlation_grid(): one glance row per assumed pre-post correlation ri.
CORRELATION_GRID = {"ri": FLOAT, **GLANCE}

# pool_proportions(): one row per (measure, method). estimate..pi_high are back-transformed to
# the proportion scale; tau2 and model_* stay on the measure's scale.
PROPORTIONS = {
    "measure": TEXT,
    "method": TEXT,
    "transform": TEXT,  # metafor's transf.* used to back-transform; NA for PR
    "k": INT,
    "estimate": FLOAT,
    "conf_low": FLOAT,
    "conf_high": FLOAT,
    "pi_low": FLOAT,
    "pi_high": FLOAT,
    "tau2": FLOAT,
    "i2": FLOAT,  # percent
    "q": FLOAT,
    "q_pvalue": FLOAT,
    "model_estimate": FLOAT,
    "model_std_error": FLOAT,
    "corrected": INT,  # studies whose yi escalc's continuity correction changed
    "outside_unit": BOOL,  # an interval bound below 0 or above 1
}

# One row per batch analysis (after `analysis_id`): ok | warning | error, R's messages, the call,
# what the fallback policy used ("" when nothing), and the engine that computed it: "metafor", or
# "fast" (numpy replaying metafor's algorithm; r_call is then the metafor call it stands for), or ""
# for an analysis stopped by the input checks.
STATUS = {"status": TEXT, "message": TEXT, "r_call": TEXT, "fallback": TEXT, "engine": TEXT}

# predict(): one row for an intercept-only model, one per study (fitted values) with moderators.
# std_error is NaN after a back-transform, pi_low/pi_high for equal-effects models (as in metafor).
PREDICT = {
    "estimate": FLOAT,
    "std_error": FLOAT,
    "conf_low": FLOAT,
    "conf_high": FLOAT,
    "pi_low": FLOAT,
    "pi_high": FLOAT,
}

# confint(): rows tau2, tau, i2 (percent), h2 with Q-profile confidence intervals.
CONFINT = {"term": TEXT, "estimate": FLOAT, "conf_low": FLOAT, "conf_high": FLOAT}

# leave1out(): row i is the model refitted without study i.
LEAVE1OUT = {
    "study": TEXT,
    "estimate": FLOAT,
    "std_error": FLOAT,  # NaN after a back-transform, as in metafor
    "statistic": FLOAT,
    "p_value": FLOAT,
    "conf_low": FLOAT,
    "conf_high": FLOAT,
    "q": FLOAT,
    "q_pvalue": FLOAT,
    "tau2": FLOAT,
    "i2": FLOAT,
    "h2": FLOAT,
}

# cumul(): row j is the model fitted to the first j studies in the chosen order; `study` is the
# study added at that step and `position` its 0-based row among the model's studies.
CUMUL = {"k": INT, **LEAVE1OUT, "position": INT}

INFLUENCE = {
    "study": TEXT,
    "rstudent": FLOAT,
    "dffits": FLOAT,
    "cooks_distance": FLOAT,
    "cov_ratio": FLOAT,
    "tau2_deleted": FLOAT,
    "q_deleted": FLOAT,
    "hat": FLOAT,
    "weight": FLOAT,  # percent
    "influential": BOOL,  # metafor's "*" mark
}

FSN_GLANCE = {
    "type": TEXT,
    "fail_safe_n": FLOAT,
    "alpha": FLOAT,
    "p_value": FLOAT,  # NaN for Orwin
    "average_effect": FLOAT,  # NaN for Rosenthal
    "target": FLOAT,  # Orwin only
}

SUBGROUP_GLANCE = {"subgroup": TEXT, **GLANCE}
SUBGROUP_TIDY = {"subgroup": TEXT, **TIDY}
SUBGROUP_AUGMENT = {"subgroup": TEXT, **AUGMENT}
SUBGROUP_TEST = {"q_between": FLOAT, "df": INT, "p_value": FLOAT}

# crosscheck(): one row per data set x method x test x quantity. verdict: agree |
# differ-by-definition | disagree | engine-failed | metafor-failed; tolerance names the class used.
CROSSCHECK = {
    "dataset": TEXT,
    "method": TEXT,
    "test": TEXT,
    "quantity": TEXT,
    "metafor_value": FLOAT,
    "engine_value": FLOAT,
    "abs_diff": FLOAT,
    "rel_diff": FLOAT,
    "tolerance": TEXT,
    "verdict": TEXT,
    "note": TEXT,
}
# One row per method x test x quantity: verdict counts; the largest differences where both had a value.
CROSSCHECK_SUMMARY = {
    "method": TEXT,
    "test": TEXT,
    "quantity": TEXT,
    "compared": INT,
    "agree": INT,
    "differ_by_definition": INT,
    "disagree": INT,
    "engine_failed": INT,
    "metafor_failed": INT,
    "max_abs_diff": FLOAT,
    "max_rel_diff": FLOAT,
}
# One row per data set x method x test with a disagreement: the data and the R call that reproduce it.
CROSSCHECK_REPRODUCER = {
    "dataset": TEXT,
    "method": TEXT,
    "test": TEXT,
    "quantities": TEXT,
    "data_csv": TEXT,
    "r_call": TEXT,
}


def frame(columns: Mapping[str, object], schema: Mapping[str, str]) -> pd.DataFrame:
    """Build a DataFrame with exactly the schema's columns, in order, cast to its dtypes."""
    missing = [name for name in schema if name not in columns]
    if missing:
        raise KeyError(f"result is missing columns {missing}")
    return pd.DataFrame(
        {name: pd.array(_listed_if_object(columns[name]), dtype=dtype) for name, dtype in schema.items()}
    )


def _listed_if_object(values: object) -> object:
    # R's logical vectors arrive as object arrays of True/False/None; bool columns never hold NA.
    return list(values) if isinstance(values, np.ndarray) and values.dtype == object else values


# selmodel(): the adjusted model's glance row. estimate..conf_high describe the intercept;
# lrt is the likelihood-ratio test of the selection parameters (H0: no selection), lrt_tau2 the
# one of tau^2 = 0 under the selection model (NaN for equal-effects models).
SELMODEL_GLANCE = {
    "type": TEXT,
    "alternative": TEXT,
    "k": INT,
    "method": TEXT,
    "estimate": FLOAT,
    "std_error": FLOAT,
    "statistic": FLOAT,
    "p_value": FLOAT,
    "conf_low": FLOAT,
    "conf_high": FLOAT,
    "tau2": FLOAT,
    "tau2_se": FLOAT,
    "lrt": FLOAT,
    "lrt_df": INT,
    "lrt_pvalue": FLOAT,
    "lrt_tau2": FLOAT,
    "lrt_tau2_pvalue": FLOAT,
    "loglik": FLOAT,
    "converged": BOOL,
}
# selmodel(): one row per selection parameter (metafor's delta). p_low/p_high bound the p-value
# interval of a step function (NaN for the other types), k counts the studies in it; fixed rows
# (delta.1 of a step function is 1 by definition) have NaN standard errors and tests.
SELMODEL_WEIGHTS = {
    "term": TEXT,
    "p_low": FLOAT,
    "p_high": FLOAT,
    "k": "Int64",
    "estimate": FLOAT,
    "std_error": FLOAT,
    "statistic": FLOAT,
    "p_value": FLOAT,
    "conf_low": FLOAT,
    "conf_high": FLOAT,
    "fixed": BOOL,
}

# pet_peese(): PET (limit estimate with sei as predictor) and PEESE (with vi), and the conditional
# estimate: PEESE's when PET's test of the limit estimate rejects at alpha, else PET's.
PET_PEESE_GLANCE = {
    "model": TEXT,
    "alpha": FLOAT,
    "pet_estimate": FLOAT,
    "pet_conf_low": FLOAT,
    "pet_conf_high": FLOAT,
    "pet_statistic": FLOAT,
    "pet_p_value": FLOAT,
    "peese_estimate": FLOAT,
    "peese_conf_low": FLOAT,
    "peese_conf_high": FLOAT,
    "peese_statistic": FLOAT,
    "peese_p_value": FLOAT,
    "chosen": TEXT,  # "PET" or "PEESE"
    "estimate": FLOAT,
    "conf_low": FLOAT,
    "conf_high": FLOAT,
}

# tes(): the test of excess significance (Ioannidis & Trikalinos 2007): observed and expected
# numbers of significant studies, the test, and the effect (theta) the power was computed at.
TES_GLANCE = {
    "k": INT,
    "observed": INT,
    "expected": FLOAT,
    "ratio": FLOAT,  # observed / expected
    "test": TEXT,
    "statistic": FLOAT,  # NaN for the binomial and exact tests
    "p_value": FLOAT,
    "theta": FLOAT,
    "tau2": FLOAT,
    "theta_limit": FLOAT,  # the theta at which the test would just reject at tes_alpha (NaN if none)
}

# permutest(): one row per coefficient with its permutation p-value, and one glance row.
PERMUTEST_TIDY = {**TIDY}
PERMUTEST_GLANCE = {
    "iterations": INT,
    "exact": BOOL,
    "seed": INT,  # R's set.seed() before permutest (an exact test draws nothing, but it is set all the same)
    "qm": FLOAT,
    "qm_df": INT,
    "qm_pvalue": FLOAT,  # the permutation p-value of the omnibus test
}
