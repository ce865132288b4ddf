"""The cross-check harness: it passes a correct engine and catches planted errors.

The correct engines are written here from first principles with numpy/scipy (DerSimonian & Laird
1986's closed form; REML by Fisher scoring as in Viechtbauer 2005, Stat Med 24:1111), so every
expected agreement is an independent computation meeting metafor's, not a copy of metafor's numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import ketabridge
from ketabridge import InputError, crosscheck, declare_engine
from ketabridge.batches.tables import EXTRAS, glance_schema
from ketabridge.crosschecks import DEFAULT_TOLERANCES
from ketabridge.crosschecks.engines import load_engine
from ketabridge.crosschecks.protocol import QUANTITIES

FIRST_PRINCIPLES = (
    "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high", "pi_low", "pi_high", "tau2", "i2",
    "h2", "q",
)  # fmt: skip


def pooled(yi, vi, tau2, test, level):
    """Everything that follows from tau2 (Viechtbauer 2010, J Stat Softw 36(3), section 2 and 3)."""
    k, w = len(yi), 1 / vi
    weights = 1 / (vi + tau2)
    estimate = np.sum(weights * yi) / np.sum(weights)
    std_error = np.sqrt(1 / np.sum(weights))
    if test == "knha":  # Knapp & Hartung (2003): residual scale, t on k - 1 df
        std_error *= np.sqrt(np.sum(weights * (yi - estimate) ** 2) / (k - 1))
    normal = test == "z"
    crit = stats.norm.ppf(0.5 + level / 200) if normal else stats.t.ppf(0.5 + level / 200, k - 1)
    statistic = estimate / std_error
    p_value = 2 * (stats.norm.sf(abs(statistic)) if normal else stats.t.sf(abs(statistic), k - 1))
    q = np.sum(w * (yi - np.sum(w * yi) / np.sum(w)) ** 2)
    typical = (k - 1) * np.sum(w) / (np.sum(w) ** 2 - np.sum(w**2))  # Higgins & Thompson (2002)
    spread = crit * np.sqrt(tau2 + std_error**2)
    return {
        "estimate": estimate,
        "std_error": std_error,
        "statistic": statistic,
        "p_value": p_value,
        "conf_low": estimate - crit * std_error,
        "conf_high": estimate + crit * std_error,
        "pi_low": estimate - spread,
        "pi_high": estimate + spread,
        "tau2": tau2,
        "i2": 100 * tau2 / (tau2 + typical),
        "h2": (tau2 + typical) / typical,
        "q": q,
    }


def dl_tau2(yi, vi):
    w = 1 / vi
    q = np.sum(w * (yi - np.sum(w * yi) / np.sum(w)) ** 2)
    return max(0.0, (q - (len(yi) - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))


def reml_tau2(yi, vi, maxiter=100):
    """Fisher scoring for REML from tau2 = DL's; the last iterate after maxiter steps."""
    tau2 = dl_tau2(yi, vi)
    for _ in range(maxiter):
        w = 1 / (vi + tau2)
        residual = w * (yi - np.sum(w * yi) / np.sum(w))  # P y for an intercept-only model
        trace_p = np.sum(w) - np.sum(w**2) / np.sum(w)
        trace_pp = np.sum(w**2) - 2 * np.sum(w**3) / np.sum(w) + (np.sum(w**2) / np.sum(w)) ** 2
        step = (np.sum(residual**2) - trace_p) / trace_pp
        new = max(0.0, tau2 + step)
        if abs(new - tau2) < 1e-12:
            return new
        tau2 = new
    return tau2


@declare_engine(name="numpy_dl", methods=("DL",), tests=("z", "t", "knha"), quantities=FIRST_PRINCIPLES)
def numpy_dl(yi, vi, *, method, test, level):
    return pooled(yi, vi, dl_tau2(yi, vi), test, level)


@declare_engine(name="tau2_off_by_1pct", methods=("DL",), quantities=("estimate", "tau2"))
def tau2_off_by_1pct(yi, vi, *, method, test, level):
    return pooled(yi, vi, 1.01 * dl_tau2(yi, vi), test, level)


@declare_engine(name="normal_quantile", methods=("DL",), tests=("t",), quantities=("conf_low", "conf_high", "p_value"))
def normal_quantile(yi, vi, *, method, test, level):
    return pooled(yi, vi, dl_tau2(yi, vi), "z", level)  # planted: z where metafor's test "t" uses t


@declare_engine(name="numpy_reml", methods=("REML",), quantities=("estimate", "std_error", "tau2"))
def numpy_reml(yi, vi, *, method, test, level):
    return pooled(yi, vi, reml_tau2(yi, vi), test, level)


@declare_engine(name="last_iterate", methods=("REML",), quantities=("estimate", "std_error", "tau2"))
def last_iterate(yi, vi, *, method, test, level):
    return pooled(yi, vi, reml_tau2(yi, vi, maxiter=1), test, level)  # planted: stops without converging


def verdicts(result, **where):
    table = result.discrepancies()
    for column, value in where.items():
        table = table[table[column] == value]
    return table["verdict"].value_counts().to_dict()


@pytest.mark.requires_r
def test_correct_engine_agrees_on_every_quantity_test_and_suite():
    for suite in ("reference", "edge"):
        result = crosscheck(numpy_dl, suite)
        assert result.ok, result.disagreements()
        assert set(result.discrepancies()["verdict"]) == {"agree"}, suite
        assert set(result.discrepancies()["test"]) == {"z", "t", "knha"}
        assert set(result.discrepancies()["quantity"]) == set(FIRST_PRINCIPLES)


@pytest.mark.requires_r
def test_tau2_off_by_one_percent_is_caught_and_only_where_tau2_is_positive():
    result = crosscheck(tau2_off_by_1pct, "reference")
    assert not result.ok
    tau2 = result.discrepancies()[result.discrepancies()["quantity"] == "tau2"]
    positive = tau2["metafor_value"] > 0
    assert (tau2.loc[positive, "verdict"] == "disagree").all()
    assert (tau2.loc[~positive, "verdict"] == "agree").all()  # 1 % of 0 is 0
    assert np.allclose(tau2.loc[positive, "rel_diff"], 0.01, rtol=1e-6)


@pytest.mark.requires_r
def test_normal_quantile_where_metafor_uses_t_is_caught():
    result = crosscheck(normal_quantile, "reference")
    assert verdicts(result, quantity="conf_low") == {"disagree": 8}
    assert verdicts(result, quantity="p_value").get("disagree", 0) >= 7  # p-values of 1e-10 and below agree


@pytest.mark.requires_r
def test_last_iterate_without_converging_is_caught_but_converged_reml_agrees():
    good = crosscheck(numpy_reml, "reference")
    assert good.ok, good.disagreements()
    bad = crosscheck(last_iterate, "reference")
    assert verdicts(bad, quantity="tau2").get("disagree", 0) >= 3
    assert not bad.ok


@pytest.mark.requires_r
def test_an_engine_that_says_it_did_not_converge_or_raises_is_engine_failed():
    @declare_engine(methods=("DL",), quantities=("tau2",))
    def unconverged(yi, vi, *, method, test, level):
        return {"tau2": 0.1, "converged": False}

    @declare_engine(methods=("DL",), quantities=("tau2",))
    def crashing(yi, vi, *, method, test, level):
        raise ZeroDivisionError("boom")

    assert verdicts(crosscheck(unconverged, "edge")) == {"engine-failed": 8}
    failed = crosscheck(crashing, "edge").discrepancies()
    assert set(failed["verdict"]) == {"engine-failed"} and set(failed["note"]) == {"ZeroDivisionError: boom"}


@pytest.mark.requires_r
def test_reml_non_convergence_in_metafor_is_metafor_failed():
    result = crosscheck(numpy_reml, "edge")
    failed = result.discrepancies()[result.discrepancies()["verdict"] == "metafor-failed"]
    assert set(failed["dataset"]) == {"edge_reml_not_converging"}
    assert failed["note"].str.contains("did not converge").all()


@pytest.mark.requires_r
def test_definitions_converted_where_exact_and_reported_otherwise():
    @declare_engine(methods=("DL", "REML"), quantities=("i2", "h2"), definitions={"i2": "q_fraction", "h2": "h_q"})
    def q_based(yi, vi, *, method, test, level):
        w = 1 / vi
        q = np.sum(w * (yi - np.sum(w * yi) / np.sum(w)) ** 2)
        i2 = max(0.0, (q - (len(yi) - 1)) / q)  # Higgins & Thompson (2002), as a fraction
        return {"i2": i2, "h2": np.sqrt(max(1.0, q / (len(yi) - 1)))}

    result = crosscheck(q_based, "reference")
    # under DL, Q-based and tau2-based I^2 and H^2 are the same numbers (Higgins & Thompson 2002)
    assert verdicts(result, method="DL") == {"agree": 16}
    reml = verdicts(result, method="REML")
    assert reml.get("differ-by-definition", 0) >= 10 and "disagree" not in reml


@pytest.mark.requires_r
def test_tolerances_override_by_quantity():
    loose = crosscheck(tau2_off_by_1pct, "reference", tolerances={"tau2": (0.02, 0.0), "estimate": (0.05, 0)})
    assert loose.ok
    with pytest.raises(InputError, match="unknown tolerance key 'tua2'"):
        crosscheck(tau2_off_by_1pct, "reference", tolerances={"tua2": (0.02, 0.0)})


@pytest.mark.requires_r
def test_statsmodels_dl_agrees_on_the_random_suite_wherever_metafor_tau2_is_positive():
    result = crosscheck("statsmodels", "random", methods=["DL"], tests=["z"], n=200, seed=1)
    table = result.discrepancies()
    tau2 = table[table["quantity"] == "tau2"].set_index("dataset")
    boundary = set(tau2.index[tau2["metafor_value"] == 0])
    interior = table[~table["dataset"].isin(boundary)]
    assert len(boundary) < 100 and set(interior["verdict"]) <= {"agree"}
    # statsmodels' DL does not truncate tau2 at 0: each disagreement is a data set with Q < k - 1
    assert set(result.disagreements()["dataset"]) == boundary
    assert (tau2.loc[sorted(boundary), "engine_value"] < 0).all()


def test_every_quantity_has_a_metafor_column():
    # metafor's side reads each quantity from the batch glance column of the same name
    assert set(QUANTITIES) <= set(glance_schema(list(EXTRAS)))
    assert not set(DEFAULT_TOLERANCES) & set(QUANTITIES)  # else an override key would be ambiguous
    assert {"crosscheck", "Engine", "declare_engine", "CrosscheckResult"} <= set(ketabridge.__all__)


def test_bad_engines_and_choices_fail_before_r():
    @declare_engine(methods=("DL",), quantities=("tau2",))
    def engine(yi, vi, *, method, test, level):
        return {}

    with pytest.raises(InputError, match="does not support method 'REML'"):
        crosscheck(engine, methods=["REML"])
    with pytest.raises(InputError, match="unknown suite 'nope'"):
        crosscheck(engine, "nope")
    with pytest.raises(InputError, match=r"unknown quantity \['tau'\]"):
        crosscheck(declare_engine(quantities=("tau",))(lambda yi, vi, **_: {}))
    with pytest.raises(InputError, match="neither a built-in"):
        crosscheck("not_an_engine")


def test_harness_and_verification_read_one_rule_per_quantity():
    # Egger's statistic is held to the model statistic's floor, its p-value to the p-value rules,
    # whichever side asks (the harness names it regtest_*, as the batch's glance column)
    from ketabridge.agreement.tolerances import EXACT, EXACT_FLOORS, pick, statistic_of, tolerance_class

    assert pick(EXACT, "regtest_statistic", "DL") == pick(EXACT, "statistic", "DL")
    assert pick(EXACT, "regtest_statistic", "DL")[1].atol == EXACT_FLOORS["statistic"][0]
    assert pick(EXACT, "regtest_limit_estimate", "REML")[1].atol == EXACT_FLOORS["limit_estimate"][0]
    assert tolerance_class("regtest_p_value", "EE") == tolerance_class("p_value", "EE") == "p_values"
    assert tolerance_class("trimfill_k0", "REML") == "count"
    assert tolerance_class("tau2", "REML") == "iterative" and tolerance_class("tau2", "CE") == "closed_form"
    assert statistic_of("regtest_p_value") == ("regtest_statistic", 2)
    assert statistic_of("q_pvalue") == ("q", 1) and statistic_of("tau2") is None


@pytest.mark.requires_r
def test_egger_names_still_work_for_one_release_with_a_deprecation_warning():
    fast = load_engine("fast")
    renamed = {
        "regtest_statistic": "egger_statistic",
        "regtest_p_value": "egger_p_value",
        "regtest_limit_estimate": "egger_limit_estimate",
    }

    @declare_engine(
        name="old_names", methods=("DL",), quantities=("tau2", *renamed.values()), definitions={"egger": "rma"}
    )
    def old_names(yi, vi, *, method, test, level):
        reply = fast(yi, vi, method=method, test=test, level=level)
        return {renamed.get(name, name): value for name, value in reply.items()}

    with pytest.warns(DeprecationWarning) as caught:
        old = crosscheck(
            old_names,
            "reference",
            quantities=["tau2", "egger_p_value", "egger_statistic"],
            tolerances={"egger_p_value": (1e-10, 0.0), "closed_form": (1e-12, 1e-14)},
        )
    renamings = [warning for warning in caught if "Egger's test is now named" in str(warning.message)]
    said = " | ".join(str(warning.message) for warning in renamings)
    for where in (
        "declares quantities",
        "declares definitions",
        "crosscheck(quantities=)",
        "crosscheck(tolerances=)",
        "returns",
    ):
        assert where in said, said
    assert "egger_p_value -> regtest_p_value" in said
    assert all(warning.filename == __file__ for warning in renamings)  # shown at the user's line
    table = old.discrepancies()
    assert set(table["quantity"]) == {"tau2", "regtest_p_value", "regtest_statistic"}
    assert old.ok and set(table["verdict"]) == {"agree"}
    record = old.provenance.details
    assert record["engine_definitions"]["regtest"] == "rma" and "egger" not in record["engine_definitions"]
    assert record["tolerances"]["regtest_p_value"]["rtol"] == 1e-10
