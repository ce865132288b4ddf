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

# The pooled effect of a model's glance (its intercept), as every model family reports it.
POOLED = {
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
}
# The test for residual heterogeneity (q) and the omnibus test of the moderators (qm).
Q_TESTS = {"q": FLOAT, "q_df": INT, "q_pvalue": FLOAT, "qm": FLOAT, "qm_df": INT, "qm_pvalue": FLOAT}

# One row per model; estimate..conf_high describe the intercept (the pooled effect).
GLANCE = {
    "k": INT,
    **POOLED,
    "tau2": FLOAT,
    "tau2_se": FLOAT,
    "tau": FLOAT,
    "i2": FLOAT,  # percent, as metafor prints it
    "h2": FLOAT,
    **Q_TESTS,
    "converged": BOOL,
}

TRIMFILL_GLANCE = {**GLANCE, "k0": INT, "k0_se": FLOAT, "side": TEXT, "estimator": TEXT}
# rma(scale=...): a location-scale model adds the omnibus test of its scale coefficients
# (metafor's QS, QSdf, QSp); tau2, tau2_se, tau, i2 and h2 are NaN when scale moderators make
# tau^2 differ by study.
LOCATION_SCALE_GLANCE = {**GLANCE, "qs": FLOAT, "qs_df": INT, "qs_pvalue": FLOAT}

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

# Model comparison and inference (analyses/comparison.py, analyses/random_effects.py).
# anova(result, btt=): one row, the Wald test of the coefficients `coefficients` (1-based, as
# metafor numbers them) named `terms`; qm_df_denominator is NaN under z tests (a chi-square test).
ANOVA_WALD = {
    "coefficients": TEXT,
    "terms": TEXT,
    "qm": FLOAT,
    "qm_df": INT,
    "qm_df_denominator": FLOAT,
    "qm_pvalue": FLOAT,
}
# anova(full, reduced): rows "full" and "reduced" (metafor's table); lrt, p_value and r2 on the reduced row.
ANOVA_LRT = {
    "model": TEXT,
    "df": INT,
    "loglik": FLOAT,
    "deviance": FLOAT,
    "aic": FLOAT,
    "bic": FLOAT,
    "aicc": FLOAT,
    "lrt": FLOAT,
    "p_value": FLOAT,
    "qe": FLOAT,
    "tau2": FLOAT,
    "r2": FLOAT,
}
# fitstats(): one row; likelihood says which (ML or REML) the values are.
FITSTATS = {"likelihood": TEXT, "loglik": FLOAT, "deviance": FLOAT, "aic": FLOAT, "bic": FLOAT, "aicc": FLOAT}
# blup() and ranef(): one row per study, with prediction intervals.
BLUP = {"study": TEXT, "estimate": FLOAT, "std_error": FLOAT, "pi_low": FLOAT, "pi_high": FLOAT}
# ranef() of an rma_mv model: one row per level of each random term (term as metafor names its
# table: "district", "district/school", "outcome | trial"; level as its row name).
RANEF_MV = {"term": TEXT, "level": TEXT, "estimate": FLOAT, "std_error": FLOAT, "pi_low": FLOAT, "pi_high": FLOAT}
# profile(): one row per value of the profiled variance component.
PROFILE = {"component": TEXT, "value": FLOAT, "loglik": FLOAT, "estimate": FLOAT, "max_loglik": FLOAT}

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
    if "component" in schema and "component" not in columns and "term" in columns:
        # a coefficient table of a model without a scale part (all but location-scale rma
        # models: rma_mv, the count models...) has location coefficients only
        columns = {**columns, "component": ["location"] * len(columns["term"])}
    missing = [name for name in schema if name not in columns]
    if missing:
        raise KeyError(f"result is missing columns {missing}")
    return pd.DataFrame(
        {name: pd.array(_listed_if_object(columns[name]), dtype=dtype) for name, dtype in schema.items()}
    )


def _listed_if_object(values: object) -> object:
    # R's logical vectors arrive as object arrays of True/False/None; bool columns never hold NA.
    return list(values) if isinstance(values, np.ndarray) and values.dtype == object else values


# rma_mh(), rma_peto(), rma_glmm(): one glance row. model is "MH", "Peto" or the GLMM's type
# (UM.FS, UM.RS, CM.EL, CM.AL); k the studies in the fit, k_all those given, k_yi those with an
# effect size (double-zero studies have none under drop00). *_natural: back-transformed to the
# measure's natural scale (OR, RR, IRR, proportion; the model scale for RD, IRD, PR). q is the
# Wald-type test for heterogeneity (rma.glmm's QE.Wld), q_lrt the likelihood-ratio one (GLMM
# only); cmh and tarone the Cochran-Mantel-Haenszel and Tarone tests (MH only: tarone for OR).
COUNT_GLANCE = {
    "model": TEXT,
    "k": INT,
    "k_all": INT,
    "k_yi": INT,
    **POOLED,
    "estimate_natural": FLOAT,
    "conf_low_natural": FLOAT,
    "conf_high_natural": FLOAT,
    "pi_low_natural": FLOAT,
    "pi_high_natural": FLOAT,
    "tau2": FLOAT,
    "sigma2": FLOAT,  # UM.RS's variance of the random study effects
    "i2": FLOAT,
    "h2": FLOAT,
    "q": FLOAT,
    "q_df": "Int64",
    "q_pvalue": FLOAT,
    "q_lrt": FLOAT,
    "q_lrt_pvalue": FLOAT,
    "qm": FLOAT,
    "qm_df": "Int64",
    "qm_pvalue": FLOAT,
    "cmh": FLOAT,
    "cmh_pvalue": FLOAT,
    "tarone": FLOAT,
    "tarone_df": "Int64",
    "tarone_pvalue": FLOAT,
    "converged": BOOL,
}

# One row per study given (after rows with missing counts): yi/vi as escalc computed them (NaN
# for double-zero studies under drop00), weight in percent (NaN for GLMMs, which metafor 3.8
# gives none), zero_cells "none" | "single" | "double", used: the study entered the fit.
COUNT_AUGMENT = {
    "study": TEXT,
    "row": INT,  # 0-based row of the input table
    "yi": FLOAT,
    "vi": FLOAT,
    "weight": FLOAT,
    "zero_cells": TEXT,
    "used": BOOL,
}


# rma_mv() (and robust() of it): estimate..pi_high describe the intercept (the pooled effect);
# sigma2_total is the sum of the sigma^2 components; i2 (percent) is the multilevel I^2 of
# metafor's FAQ (W = V^-1, diag(1/vi) for uncorrelated sampling errors) (NaN for models with ~ inner | outer terms, whose I^2 is per component);
# vcov_type: "model", or "CR1"/"CR2" after robust() (n_clusters then counts the clusters).
COUNT_OR_NA = "Int64"  # a count that a model-based (not robust) fit does not have: <NA>
MV_GLANCE = {
    "k": INT,
    **POOLED,
    "sigma2_total": FLOAT,
    "i2": FLOAT,
    **Q_TESTS,
    "loglik": FLOAT,
    "aic": FLOAT,
    "bic": FLOAT,
    "n_clusters": COUNT_OR_NA,
    "vcov_type": TEXT,
    "converged": BOOL,
}
# One row per coefficient; df is the t-test's (NaN for z tests), vcov_type as in MV_GLANCE.
MV_TIDY = {**TIDY, "df": FLOAT, "vcov_type": TEXT}
# One row per estimate (Cook's distances are left out: they refit an rma.mv model k times).
MV_AUGMENT = {
    "study": TEXT,
    "yi": FLOAT,
    "vi": FLOAT,
    "weight": FLOAT,
    "fitted": FLOAT,
    "residual": FLOAT,
    "std_residual": FLOAT,
    "hat": FLOAT,
}
# result.components(): one row per variance or correlation component of an rma.mv model. term:
# sigma2.1.., tau2.1.., rho, gamma2.1.., phi; factor: the grouping (sigma2), the inner level
# (tau2/gamma2) or the inner/outer names (rho/phi); sqrt: NaN for correlations; n_levels: metafor's
# nlvls (sigma2) or k.lvl (tau2/gamma2); i2: the component's share in percent (metafor's FAQ).
COMPONENTS = {
    "term": TEXT,
    "factor": TEXT,
    "estimate": FLOAT,
    "sqrt": FLOAT,
    "n_levels": INT,
    "fixed": BOOL,
    "i2": FLOAT,
}
# robust() of an rma() result: its glance and tidy with the robust columns added.
ROBUST_GLANCE = {**GLANCE, "n_clusters": COUNT_OR_NA, "vcov_type": TEXT}
ROBUST_TIDY = MV_TIDY
# selmodel(): the adjusted model's glance row. estimate..conf_high describe the intercept;
# lrt is the likelihood-ratio test of the selection parameters (H0: no selection), lrt_tau2 the
# one of tau^2 = 0 under the selection model (NaN for equal-effects models).
SELMODEL_GLANCE = {
    "type": TEXT,
    "alternative": TEXT,
    "k": INT,
    "k_subset": INT,  # the studies the selection function applies to (selmodel's subset=; else k)
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
