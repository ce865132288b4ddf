"""Built-in engines: statsmodels' combine_effects and PyMARE's estimators, each imported only when asked.

Each adapter passes on what the library itself reports, under metafor's names, and declares where
the library defines a quantity differently (see protocol.DEFINITIONS); it computes nothing the
library does not, so a difference found is the library's.
"""

from __future__ import annotations

import warnings

from ketabridge.crosschecks.protocol import declare_engine
from ketabridge.errors import InputError


def statsmodels_engine():
    """statsmodels.stats.meta_analysis.combine_effects: method_re "chi2" is metafor's DL and
    "iterated" its PM (Paule-Mandel); test "knha" is statsmodels' HKSJ variance (untruncated, as
    metafor's knha) with t on k - 1 df. I^2 and H^2 are Q-based ((Q - df) / Q as a fraction, Q / df),
    not truncated at 0 and 1. No p-value, no prediction interval."""
    try:
        from statsmodels.stats.meta_analysis import combine_effects
    except ImportError as error:
        raise InputError(
            f"the statsmodels engine needs statsmodels (pip install 'ketabridge[crosscheck]'): {error}"
        ) from None
    method_names = {"DL": "chi2", "PM": "iterated"}

    @declare_engine(
        name="statsmodels",
        methods=method_names,
        tests=("z", "knha"),
        quantities=("estimate", "std_error", "conf_low", "conf_high", "tau2", "i2", "h2", "q"),
        definitions={"i2": "q_fraction", "h2": "q"},
    )
    def statsmodels(yi, vi, *, method, test, level):
        result = combine_effects(yi, vi, method_re=method_names[method], alpha=1 - level / 100)
        knha = test == "knha"
        intervals = result.conf_int(alpha=1 - level / 100, use_t=knha)
        low, high = intervals[3] if knha else intervals[1]
        return {
            "estimate": result.mean_effect_re,
            "std_error": result.sd_eff_w_re_hksj if knha else result.sd_eff_w_re,
            "conf_low": low,
            "conf_high": high,
            "tau2": result.tau2,
            "i2": result.i2,
            "h2": result.h2,
            "q": result.q,
        }

    return statsmodels


def pymare_engine():
    """PyMARE's DerSimonianLaird (DL), Hedges (HE) and VarianceBasedLikelihoodEstimator (ML,
    REML), fitted on a pymare.Dataset. Test "z" is small_sample_correction="wald", "knha" is
    "knapp-hartung" and "adhoc" "knapp-hartung-conservative". Its "z" under a t-based test is the
    normal quantile of the t p-value, not metafor's t statistic; I^2 is Q-based in percent and H is
    sqrt(Q / df). No prediction interval."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # PyMARE leaves a JSON file open on import
            from pymare import Dataset, estimators
    except ImportError as error:
        raise InputError(f"the pymare engine needs PyMARE (pip install 'ketabridge[crosscheck]'): {error}") from None
    corrections = {"z": "wald", "knha": "knapp-hartung", "adhoc": "knapp-hartung-conservative"}
    builders = {
        "DL": lambda correction: estimators.DerSimonianLaird(small_sample_correction=correction),
        "HE": lambda correction: estimators.Hedges(small_sample_correction=correction),
        "ML": lambda correction: estimators.VarianceBasedLikelihoodEstimator(
            method="ML", small_sample_correction=correction
        ),
        "REML": lambda correction: estimators.VarianceBasedLikelihoodEstimator(
            method="REML", small_sample_correction=correction
        ),
    }

    def definitions_for(test):
        return {"i2": "q_percent", "h2": "h_q", "statistic": "metafor" if test == "z" else "normal_equivalent"}

    @declare_engine(
        name="pymare",
        methods=builders,
        tests=tuple(corrections),
        quantities=("estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high", "tau2", "i2", "h2", "q"),
        definitions={"i2": "q_percent", "h2": "h_q"},
    )
    def pymare(yi, vi, *, method, test, level):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyMARE warns on k - p < 1; the numbers say it too
            summary = builders[method](corrections[test]).fit_dataset(Dataset(y=yi, v=vi)).summary()
            fixed = summary.get_fe_stats(alpha=1 - level / 100)
            heterogeneity = summary.get_heterogeneity_stats()
        return {
            "estimate": fixed["est"],
            "std_error": fixed["se"],
            "statistic": fixed["z"],
            "p_value": fixed["p"],
            "conf_low": fixed["ci_l"],
            "conf_high": fixed["ci_u"],
            "tau2": summary.tau2,
            "i2": heterogeneity["I^2"],
            "h2": heterogeneity["H"],
            "q": heterogeneity["Q"],
            "definitions": definitions_for(test),
        }

    return pymare


def fast_engine():
    """ketabridge's own fast engine (ketabridge.fast), one data set per call: rma.uni, trimfill
    (L0, side chosen as metafor does) and regtest (rma, sei) replayed with numpy. It defines every
    quantity as metafor does; compare it with ketabridge.agreement.tolerances.EXACT
    (tolerances="exact"), as the batch's verification does."""
    import numpy as np

    from ketabridge.fast.chunk import FAST_METHODS, FAST_TESTS
    from ketabridge.fast.egger_rma import egger_rma
    from ketabridge.fast.model import rma
    from ketabridge.fast.trimfill import glance_of, trimfill

    @declare_engine(name="fast", methods=FAST_METHODS, tests=FAST_TESTS)
    def fast(yi, vi, *, method, test, level):
        yi, vi = np.asarray(yi, dtype=float)[None, :], np.asarray(vi, dtype=float)[None, :]
        fit = rma(yi, vi, method, test, level)
        if fit.outcome.failed[0] or fit.outcome.needs_metafor[0]:  # the batch would ask metafor here
            return {"converged": False}
        glance = glance_of(fit)
        values = {
            name: float(glance[name][0])
            for name in (
                "estimate",
                "std_error",
                "statistic",
                "p_value",
                "conf_low",
                "conf_high",
                "pi_low",
                "pi_high",
                "tau2",
                "i2",
                "h2",
                "q",
            )
        }
        filled = trimfill(yi, vi, method, glance)
        if not filled.outcome.failed[0] and not filled.outcome.needs_metafor[0]:
            values.update(trimfill_k0=float(filled.k0[0]), trimfill_estimate=float(filled.filled["estimate"][0]))
        egger = egger_rma(yi, vi, method, test, level)
        if not egger.outcome.failed[0] and not egger.outcome.needs_metafor[0]:
            values.update(
                regtest_statistic=float(egger.statistic[0]),
                regtest_p_value=float(egger.p_value[0]),
                regtest_limit_estimate=float(egger.limit_estimate[0]),
            )
        return values

    return fast


BUILTIN = {"statsmodels": statsmodels_engine, "pymare": pymare_engine, "fast": fast_engine}
