"""Every path of bad input: the exact error class, and a message naming the column and the rows.

Expected numbers come from an independent path (the same analysis on data cleaned in pandas
first) or from Viechtbauer (2010), J Stat Softw 36(3), for the BCG REML fit: estimate
-0.7145, tau^2 0.3132, I^2 92.22%.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ketabridge as kb
from ketabridge import ConvergenceError, InputError, KetabridgeError, MetaforError, MetaforWarning, MissingValuesWarning

BCG_CSV = Path(__file__).resolve().parent.parent / "data" / "bcg" / "bcg.csv"
RR_COLUMNS = dict(ai="tpos", bi="tneg", ci="cpos", di="cneg")


# --- fixtures (kept here: tests/conftest.py belongs to someone else) -------------------------


@pytest.fixture(scope="module")
def bcg_raw() -> pd.DataFrame:
    return pd.read_csv(BCG_CSV)


@pytest.fixture(scope="module")
def effects(bcg_raw) -> pd.DataFrame:
    """BCG log risk ratios (metafor's documented example), 13 rows."""
    return kb.escalc("RR", bcg_raw, **RR_COLUMNS)


@pytest.fixture
def eff(effects) -> pd.DataFrame:
    """A fresh copy to spoil, as a plain DataFrame (yi, vi, ni and the BCG columns)."""
    return effects.copy()


def with_values(frame: pd.DataFrame, column: str, rows: dict[int, object]) -> pd.DataFrame:
    frame = frame.copy()
    values = frame[column].astype(object).tolist()
    for row, value in rows.items():
        values[row] = value
    frame[column] = pd.Series(
        values, index=frame.index, dtype=object if any(isinstance(v, str) for v in values) else float
    )
    return frame


def names_rows(message: str, rows: list[int]) -> bool:
    """The message lists exactly these 0-based rows as ketabridge writes them ('row 3' / 'rows 2, 5')."""
    word = "row" if len(rows) == 1 else "rows"
    return re.search(rf"\b{word} {', '.join(map(str, rows))}\b", message) is not None


# --- the error classes -----------------------------------------------------------------------


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)
    assert issubclass(InputError, KetabridgeError)
    assert issubclass(ConvergenceError, MetaforError)
    assert issubclass(MetaforError, KetabridgeError)
    with pytest.raises(ValueError):
        kb.rma(pd.DataFrame({"yi": [0.1, 0.2], "vi": [0.1, -0.2]}))


# --- variances and standard errors -----------------------------------------------------------


@pytest.mark.requires_r
@pytest.mark.parametrize("bad", [{0: -0.5, 3: -0.1}, {5: -1e-12}, {12: -2.0}])
def test_negative_variances(eff, bad):
    # vi = 0 is accepted, as metafor's rma.uni does (test_count_models.py: rma(yi, 0) is OLS)
    data = with_values(eff, "vi", bad)
    with pytest.raises(InputError) as caught:
        kb.rma(data)
    message = str(caught.value)
    assert "column 'vi'" in message and "variances" in message and ">= 0" in message
    assert names_rows(message, sorted(bad))
    for value in bad.values():
        assert f"{value:g}" in message


@pytest.mark.requires_r
@pytest.mark.parametrize("bad", [{1: 0.0}, {2: -0.3, 9: 0.0}])
def test_nonpositive_standard_errors(eff, bad):
    data = with_values(eff.assign(se=np.sqrt(eff["vi"])), "se", bad)
    with pytest.raises(InputError) as caught:
        kb.rma(data, sei="se")
    message = str(caught.value)
    assert "column 'se'" in message and "standard errors" in message
    assert names_rows(message, sorted(bad))


@pytest.mark.requires_r
def test_many_bad_rows_are_counted_not_all_listed(eff):
    with pytest.raises(InputError) as caught:
        kb.rma(eff.assign(vi=-eff["vi"]))
    assert "column 'vi'" in str(caught.value)
    assert "rows 0, 1, 2, 3, 4 and 8 more" in str(caught.value)


# --- missing values --------------------------------------------------------------------------


@pytest.mark.requires_r
def test_missing_values_are_omitted_with_a_warning(eff):
    data = with_values(with_values(eff, "yi", {2: np.nan}), "vi", {7: None})
    with pytest.warns(MissingValuesWarning) as caught:
        result = kb.rma(data)
    message = str(caught[0].message)
    assert message.startswith("2 of 13 rows have missing values in yi, vi (rows 2, 7)")
    # the fit uses the remaining rows: same as dropping them in pandas first
    reference = kb.rma(eff.drop(index=[2, 7]))
    assert result.glance()["k"].iloc[0] == 11
    assert len(result.augment()) == 11
    assert result.glance()["estimate"].iloc[0] == pytest.approx(reference.glance()["estimate"].iloc[0], rel=1e-12)
    assert result.glance()["tau2"].iloc[0] == pytest.approx(reference.glance()["tau2"].iloc[0], rel=1e-12)


@pytest.mark.requires_r
def test_missing_labels_follow_the_kept_rows(eff):
    data = with_values(eff, "yi", {0: np.nan, 4: np.nan})
    with pytest.warns(MissingValuesWarning, match=r"rows 0, 4"):
        result = kb.rma(data, slab="author")
    assert list(result.augment()["study"]) == list(eff["author"].drop(index=[0, 4]))


@pytest.mark.requires_r
def test_missing_values_fail(eff):
    data = with_values(eff, "yi", {3: None, 10: np.nan})
    with pytest.raises(InputError) as caught:
        kb.rma(data, na_action="fail")
    message = str(caught.value)
    assert "yi" in message and names_rows(message, [3, 10]) and "na_action='omit'" in message


@pytest.mark.requires_r
def test_missing_moderator_values_are_named(eff):
    data = with_values(eff, "ablat", {6: np.nan})
    with pytest.raises(InputError, match=r"missing values in ablat \(row 6\)"):
        kb.rma(data, mods=["ablat"], na_action="fail")


@pytest.mark.requires_r
@pytest.mark.parametrize("kept", [0, 1])
def test_too_few_studies_after_dropping(eff, kept):
    data = eff.iloc[:3].copy()
    data.loc[data.index[kept:], "yi"] = np.nan
    with pytest.warns(MissingValuesWarning), pytest.raises(InputError) as caught:
        kb.rma(data)
    assert str(caught.value) == f"a meta-analysis needs at least 2 studies with complete data; got {kept}"


@pytest.mark.requires_r
def test_single_study(eff):
    with pytest.raises(InputError, match="at least 2 studies.*got 1"):
        kb.rma(eff.iloc[:1])


@pytest.mark.requires_r
def test_escalc_missing_counts_warn_and_give_nan(bcg_raw):
    data = with_values(bcg_raw, "tpos", {5: np.nan})
    with pytest.warns(MissingValuesWarning, match=r"1 of 13 rows have missing values in tpos \(row 5\)"):
        out = kb.escalc("RR", data, **RR_COLUMNS)
    assert np.isnan(out["yi"].iloc[5]) and np.isnan(out["vi"].iloc[5])
    assert out["yi"].drop(index=5).notna().all()
    with pytest.raises(InputError, match=r"tpos \(row 5\)"):
        kb.escalc("RR", data, na_action="fail", **RR_COLUMNS)


# --- infinite values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "column, bad, kwargs",
    [
        ("yi", {1: np.inf, 6: -np.inf}, {}),
        ("vi", {4: np.inf}, {}),
        ("se", {0: np.inf}, {"sei": "se"}),
        ("ablat", {11: -np.inf}, {"mods": ["ablat"]}),
    ],
)
@pytest.mark.requires_r
def test_infinite_values(eff, column, bad, kwargs):
    data = with_values(eff.assign(se=np.sqrt(eff["vi"])), column, bad)
    with pytest.raises(InputError) as caught:
        kb.rma(data, **kwargs)
    message = str(caught.value)
    assert f"column {column!r} must be finite" in message and names_rows(message, sorted(bad))


def test_escalc_infinite_counts(bcg_raw):
    data = with_values(bcg_raw, "cneg", {2: np.inf})
    with pytest.raises(InputError, match=r"column 'cneg' must be finite, but row 2"):
        kb.escalc("RR", data, **RR_COLUMNS)


# --- text where numbers belong ---------------------------------------------------------------


@pytest.mark.requires_r
def test_text_in_a_str_column(eff):
    data = eff.assign(yi=[str(v) for v in eff["yi"]])
    data.loc[2, "yi"] = "oops"
    data.loc[5, "yi"] = "n/a?"
    assert not pd.api.types.is_numeric_dtype(data["yi"])
    with pytest.raises(InputError) as caught:
        kb.rma(data)
    message = str(caught.value)
    assert "column 'yi' must be numeric" in message and names_rows(message, [2, 5])
    assert "'oops'" in message and "'n/a?'" in message


@pytest.mark.requires_r
def test_numbers_stored_as_text(eff):
    with pytest.raises(InputError, match=r"column 'yi' holds numbers stored as text"):
        kb.rma(eff.assign(yi=[str(v) for v in eff["yi"]]))


@pytest.mark.requires_r
def test_text_in_a_mixed_object_column(eff):
    data = eff.copy()
    data["yi"] = pd.Series([*eff["yi"].iloc[:3], "oops", *eff["yi"].iloc[4:]], dtype=object)
    with pytest.raises(InputError) as caught:
        kb.rma(data)
    message = str(caught.value)
    assert "column 'yi'" in message and names_rows(message, [3]) and "'oops'" in message


@pytest.mark.requires_r
def test_text_in_a_csv_column(eff, tmp_path):
    path = tmp_path / "effects.csv"
    data = eff[["author", "yi", "vi"]].astype({"vi": object})
    data.loc[4, "vi"] = "unknown"
    data.loc[9, "vi"] = "see text"
    data.to_csv(path, index=False)
    with pytest.raises(InputError) as caught:
        kb.rma(path)
    message = str(caught.value)
    assert "column 'vi' must be numeric" in message and names_rows(message, [4, 9])
    assert "'unknown'" in message and "'see text'" in message


@pytest.mark.requires_r
def test_text_moderator(eff):
    with pytest.raises(InputError) as caught:
        kb.rma(eff, mods=["alloc"])
    message = str(caught.value)
    assert "column 'alloc' must be numeric" in message
    assert "rows 0, 1, 2, 3, 4 and 8 more" in message and "'random'" in message


def test_escalc_text_counts(bcg_raw):
    data = bcg_raw.astype({"tneg": object})
    data.loc[7, "tneg"] = "many"
    data["tneg"] = data["tneg"].astype(str)
    with pytest.raises(InputError) as caught:
        kb.escalc("RR", data, **RR_COLUMNS)
    message = str(caught.value)
    assert "column 'tneg'" in message and names_rows(message, [7]) and "'many'" in message


@pytest.mark.requires_r
def test_boolean_column_is_not_numeric(eff):
    with pytest.raises(InputError, match=r"column 'flag' must be numeric, not bool"):
        kb.rma(eff.assign(flag=eff["ablat"] > 30), mods=["flag"])


# --- missing columns -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, missing",
    [
        ({"yi": "nope"}, "nope"),
        ({"vi": "variance"}, "variance"),
        ({"sei": "se"}, "se"),
        ({"mods": ["latitude"]}, "latitude"),
        ({"slab": "study"}, "study"),
        ({"ni": "n"}, "n"),
    ],
)
@pytest.mark.requires_r
def test_missing_column(eff, kwargs, missing):
    with pytest.raises(InputError) as caught:
        kb.rma(eff, **kwargs)
    assert str(caught.value) == f"column {missing!r} not found; the data has: {', '.join(eff.columns)}"


def test_missing_escalc_column(bcg_raw):
    with pytest.raises(InputError) as caught:
        kb.escalc("RR", bcg_raw, ai="tpos", bi="tneg", ci="cpos", di="control_neg")
    assert str(caught.value) == f"column 'control_neg' not found; the data has: {', '.join(bcg_raw.columns)}"


@pytest.mark.requires_r
def test_no_variances_given(eff):
    with pytest.raises(InputError, match=r"vi=.*sei="):
        kb.rma(eff, vi=None)


@pytest.mark.requires_r
def test_missing_labels(eff):
    data = eff.assign(lab=eff["author"].astype(object))
    data.loc[8, "lab"] = None
    with pytest.raises(InputError, match=r"column 'lab' has no label in row 8"):
        kb.rma(data, slab="lab")


# --- names outside metafor's vocabularies ----------------------------------------------------
# The allowed values checked here are spot checks against metafor's documentation (3.8-1 on);
# names of later releases are checked against the running metafor in test_vocabulary.py.


@pytest.fixture(scope="module")
def fit(effects):
    return kb.rma(effects)


@pytest.mark.parametrize(
    "what, call, shown",
    [
        ("method", lambda e, f: kb.rma(e, method="reml"), ["REML", "DL", "PM", "EE", "GENQ"]),
        ("test", lambda e, f: kb.rma(e, test="HKSJ"), ["z", "t", "knha", "adhoc"]),
        ("measure", lambda e, f: kb.escalc("LOR", e, **RR_COLUMNS), ["RR", "OR", "SMD", "ZCOR"]),
        ("measure", lambda e, f: kb.rma(e, measure="LOR"), ["RR", "OR", "GEN"]),
        ("estimator", lambda e, f: kb.trimfill(f, estimator="L1"), ["L0", "R0", "Q0"]),
        ("side", lambda e, f: kb.trimfill(f, side="up"), ["left", "right"]),
        ("predictor", lambda e, f: kb.regtest(f, predictor="se"), ["sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"]),
        ("model", lambda e, f: kb.regtest(f, model="glm"), ["rma", "lm"]),
        ("na_action", lambda e, f: kb.rma(e, na_action="drop"), ["omit", "fail"]),
        ("na_action", lambda e, f: kb.escalc("RR", e, na_action="pass", **RR_COLUMNS), ["omit", "fail"]),
        ("control setting", lambda e, f: kb.rma(e, control={"iter.max": 100}), ["maxiter", "stepadj", "tol"]),
        ("vtype", lambda e, f: kb.escalc("RR", e, vtype="XX", **RR_COLUMNS), ["LS", "UB", "AV"]),
        ("to", lambda e, f: kb.escalc("RR", e, to="some", **RR_COLUMNS), ["all", "only0", "if0all", "none"]),
    ],
)
@pytest.mark.requires_r
def test_unknown_names(effects, fit, what, call, shown):
    with pytest.raises(InputError) as caught:
        call(effects, fit)
    message = str(caught.value)
    assert message.startswith(f"unknown {what} ")
    listed = re.split(r"[,:;] ?", message.split(":", 1)[1])
    for allowed in shown:
        assert allowed in [item.strip() for item in listed], (allowed, message)


@pytest.mark.requires_r
def test_non_string_choice(effects):
    with pytest.raises(InputError, match=r"unknown method None"):
        kb.rma(effects, method=None)


@pytest.mark.requires_r
def test_control_value_must_be_a_number(effects):
    with pytest.raises(InputError, match=r"control setting 'maxiter' must be a number"):
        kb.rma(effects, control={"maxiter": "many"})


@pytest.mark.requires_r
@pytest.mark.parametrize("level", [0, 100, -5, 150, float("nan"), "95", True])
def test_level_outside_0_100(effects, level):
    with pytest.raises(InputError, match=r"level must be a number between 0 and 100"):
        kb.rma(effects, level=level)


@pytest.mark.requires_r
@pytest.mark.parametrize("method", ["GENQ", "GENQM"])
def test_genq_without_weights(effects, method):
    with pytest.raises(InputError, match=rf"method '{method}' needs study weights"):
        kb.rma(effects, method=method)


@pytest.mark.requires_r
def test_negative_weights(effects):
    data = effects.assign(w=1 / effects["vi"])
    data.loc[3, "w"] = -1.0
    with pytest.raises(InputError, match=r"column 'w' must be >= 0, but row 3"):
        kb.rma(data, method="GENQ", weights="w")


@pytest.mark.requires_r
def test_trimfill_on_a_moderator_model(effects):
    with pytest.raises(InputError, match="trim-and-fill needs a model without moderators"):
        kb.trimfill(kb.rma(effects, mods=["ablat"]))


@pytest.mark.requires_r
def test_bias_tests_take_only_rma_results(fit):
    filled = kb.trimfill(fit)
    for function in (kb.trimfill, kb.regtest, kb.ranktest):
        with pytest.raises(InputError, match=r"takes the result of ketabridge.rma\(\)"):
            function(filled)
    with pytest.raises(InputError, match=r"not DataFrame"):
        kb.regtest(pd.DataFrame())


@pytest.mark.requires_r
@pytest.mark.parametrize("predictor", ["ni", "ninv", "sqrtni", "sqrtninv"])
def test_regtest_sample_size_predictor_without_sizes(effects, predictor):
    model = kb.rma(effects.drop(columns="ni"))
    with pytest.raises(InputError, match=rf"predictor '{predictor}' needs sample sizes"):
        kb.regtest(model, predictor=predictor)


# --- escalc ----------------------------------------------------------------------------------


def test_escalc_unknown_argument(bcg_raw):
    with pytest.raises(InputError) as caught:
        kb.escalc("RR", bcg_raw, ai="tpos", bi="tneg", ci="cpos", di="cneg", n3i="x")
    assert str(caught.value).startswith("unknown escalc argument n3i; metafor's are: ai, bi, ci, di")


def test_escalc_without_columns(bcg_raw):
    with pytest.raises(InputError, match="escalc needs the study columns"):
        kb.escalc("RR", bcg_raw)


def test_escalc_negative_counts(bcg_raw):
    data = bcg_raw.copy()
    data.loc[[1, 4], "cpos"] = [-1, -29]
    with pytest.raises(InputError) as caught:
        kb.escalc("RR", data, **RR_COLUMNS)
    message = str(caught.value)
    assert message == "column 'cpos' must be >= 0, but rows 1, 4 are not"


def test_escalc_correlation_outside_unit_interval():
    data = pd.DataFrame({"r": [0.2, 1.5, -0.4, -2.0], "n": [10, 20, 30, 40]})
    with pytest.raises(InputError) as caught:
        kb.escalc("ZCOR", data, ri="r", ni="n")
    assert str(caught.value) == "column 'r' must be between -1 and 1, but rows 1, 3 are not"


# --- files and tables ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".xlsx", ".txt", ""])
def test_unsupported_suffix(tmp_path, suffix):
    path = tmp_path / f"effects{suffix}"
    path.write_text("yi,vi\n0.1,0.2\n0.3,0.4\n")
    with pytest.raises(InputError) as caught:
        kb.rma(path)
    assert str(caught.value).startswith(f"{path}: unknown file type {suffix!r}; use one of ")
    assert ".csv" in str(caught.value) and ".parquet" in str(caught.value)


def test_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(InputError) as caught:
        kb.rma(str(path))
    assert str(caught.value) == f"{path}: no such file"
    with pytest.raises(InputError, match="no such file"):
        kb.escalc("RR", path, **RR_COLUMNS)


def test_unreadable_parquet(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_text("this is not parquet")
    with pytest.raises(InputError, match=r"cannot read as parquet"):
        kb.rma(path)


def test_unsupported_data_type():
    with pytest.raises(InputError, match=r"cannot read data of type dict"):
        kb.rma({"yi": [0.1, 0.2], "vi": [0.1, 0.2]})


@pytest.mark.requires_r
def test_non_string_column_names(effects):
    data = effects[["yi", "vi"]].copy()
    data.columns = [0, 1]
    with pytest.raises(InputError, match="column names must be strings"):
        kb.rma(data, yi=0, vi=1)
    with pytest.raises(InputError, match="column names must be strings"):
        kb.escalc("RR", pd.DataFrame({0: [1], 1: [2], 2: [3], 3: [4]}), ai="0", bi="1", ci="2", di="3")


# --- errors from metafor itself --------------------------------------------------------------


def _assert_not_rpy2(error):
    from rpy2.rinterface_lib.embedded import RRuntimeError

    assert not isinstance(error, RRuntimeError)
    assert not isinstance(error.__cause__, RRuntimeError)


@pytest.mark.requires_r
def test_metafor_error_more_moderators_than_studies():
    data = pd.DataFrame(
        {"yi": [0.1, 0.5, 0.9], "vi": [0.01, 0.02, 0.03], "a": [1.0, 2, 3], "b": [2.0, 1, 5], "c": [3.0, 3, 1]}
    )
    with pytest.warns(MetaforWarning, match="Redundant predictors dropped"):
        with pytest.raises(MetaforError) as caught:
            kb.rma(data, mods=["a", "b", "c"])
    error = caught.value
    assert type(error) is MetaforError
    _assert_not_rpy2(error)
    assert "larger than the number of observations" in error.r_message
    assert error.r_call.startswith("rma.uni(")
    assert "mods = cbind(a, b, c)" in error.r_call
    assert str(error) == f"metafor error: {error.r_message} [in {error.r_call}]"


@pytest.mark.requires_r
def test_metafor_error_from_escalc(bcg_raw):
    with pytest.raises(MetaforError) as caught:
        kb.escalc("RR", bcg_raw, ai="tpos")
    error = caught.value
    _assert_not_rpy2(error)
    assert error.r_message.startswith("Cannot compute outcomes.")
    assert error.r_call.startswith("escalc(") and 'measure = "RR"' in error.r_call


@pytest.mark.requires_r
def test_metafor_error_event_counts_above_group_sizes():
    with pytest.raises(MetaforError) as caught:
        kb.escalc("PR", pd.DataFrame({"x": [12, 5], "n": [10, 7]}), xi="x", ni="n")
    assert "larger than the corresponding group sizes" in caught.value.r_message
    assert caught.value.r_call.startswith("escalc(")


@pytest.mark.requires_r
def test_reml_non_convergence(effects):
    # BCG is strongly heterogeneous (I^2 92%, Viechtbauer 2010), so one Fisher scoring step is not enough.
    with pytest.raises(ConvergenceError) as caught:
        kb.rma(effects, control={"maxiter": 1})
    error = caught.value
    assert isinstance(error, MetaforError)
    _assert_not_rpy2(error)
    assert "did not converge" in error.r_message
    assert error.r_call.startswith("rma.uni(") and "maxiter = 1" in error.r_call
    assert "stepadj" in str(error) and "maxiter" in str(error)
    # the remedy the message names works, and gives the published fit
    glance = kb.rma(effects, control={"stepadj": 0.5, "maxiter": 1000}).glance().iloc[0]
    assert round(glance["estimate"], 4) == -0.7145
    assert glance["tau2"] == pytest.approx(0.3132, abs=2e-4)  # within metafor's convergence tolerance


@pytest.mark.requires_r
@pytest.mark.parametrize("method, plain", [("DLIT", "DL"), ("SJIT", "SJ")])
def test_iterated_estimator_non_convergence_names_its_own_remedy(effects, method, plain):
    """DLIT and SJIT repeat their update at most maxiter times until tau^2 changes by less than
    threshold (metafor's ?rma.uni); Fisher scoring's stepadj is not theirs to take."""
    with pytest.raises(ConvergenceError) as caught:
        kb.rma(effects, method=method, control={"maxiter": 1})
    message = str(caught.value)
    assert caught.value.r_message.startswith(f"Iterative {plain} estimator did not converge")
    assert "stepadj" not in message and "Fisher" not in message
    assert "'maxiter': 1000" in message and "'threshold'" in message and f"method='{plain}'" in message
    assert caught.value.remedy == message.rsplit("; ", 1)[1]
    # the remedy the message names works on the BCG data
    assert kb.rma(effects, method=method, control={"maxiter": 1000}).glance()["converged"].iloc[0]


@pytest.mark.parametrize(
    "message, call, named, not_named",
    [
        (
            "Fisher scoring algorithm did not converge. See 'help(rma)' for possible remedies.",
            'rma.uni(yi = yi, vi = vi, data = dat, method = "EB")',
            ["stepadj", "maxiter"],
            ["threshold", "tau2.max"],
        ),
        (
            "_NOT_ converged in 1 iteration",
            'rma.uni(yi = yi, vi = vi, data = dat, method = "PM")',
            ["tau2.max", "maxiter"],
            ["stepadj"],
        ),
        (
            "Some future wording of a failure",
            'rma.uni(yi = yi, vi = vi, data = dat, method = "GENQM")',
            ["tau2.max"],
            ["stepadj"],
        ),
        (
            "Trim and fill algorithm did not converge.",
            'trimfill(rma.uni(yi = yi, vi = vi, data = dat, method = "REML"))',
            ["estimator", "side"],
            ["stepadj", "control"],
        ),
        (
            "Iterative DL estimator did not converge.",
            'trimfill(rma.uni(yi = yi, vi = vi, data = dat, method = "DLIT"))',
            ["maxiter", "threshold", "method='DL'"],
            ["stepadj"],
        ),
    ],
)
def test_convergence_remedy_fits_the_algorithm(message, call, named, not_named):
    error = ConvergenceError(message, call)
    for word in named:
        assert word in error.remedy, (word, error.remedy)
    for word in not_named:
        assert word not in error.remedy, (word, error.remedy)
    assert str(error).endswith(error.remedy)


@pytest.mark.requires_r
def test_pm_non_convergence_is_reported_as_not_converged(effects):
    """metafor 3.8's PM estimator (uniroot) only warns when it stops early; glance says so."""
    with pytest.warns(MetaforWarning, match="_NOT_ converged"):
        result = kb.rma(effects, method="PM", control={"maxiter": 1})
    assert not result.glance()["converged"].iloc[0]
    assert kb.rma(effects, method="PM").glance()["converged"].iloc[0]


@pytest.mark.requires_r
def test_metafor_warning_from_escalc():
    data = pd.DataFrame({"a": [0, 5, 3], "b": [10, 5, 8], "c": [2, 3, 4], "d": [10, 7, 6]})
    with pytest.warns(MetaforWarning, match=r"Some 'yi' and/or 'vi' values equal to \+-Inf"):
        out = kb.escalc("OR", data, ai="a", bi="b", ci="c", di="d", to="none")
    assert np.isnan(out["yi"].iloc[0]) and out["yi"].iloc[1:].notna().all()
    assert any("+-Inf" in w for w in out.attrs["ketabridge_provenance"]["r_warnings"])


@pytest.mark.requires_r
def test_metafor_warning_from_rma():
    data = pd.DataFrame({"yi": [0.1, 0.5, 0.9], "vi": [1e-9, 1e3, 1e9]})
    with pytest.warns(MetaforWarning, match="Ratio of largest to smallest sampling variance extremely large"):
        result = kb.rma(data)
    assert any("Ratio of largest" in w for w in result.provenance.r_warnings)


# --- hostile labels and column names ---------------------------------------------------------


def hostile_labels(marker: Path) -> list[str]:
    return [
        f"\"); system('touch {marker}'); (\"",
        "`rm`",
        'it\'s "quoted"',
        "back\\slash \\n",
        "new\nline",
        "tab\there",
        "Müller–Łukasz 中文 🙂",
        "",
        "dup",
        "dup",
        f"`); system('touch {marker}'); (`",
        "NA",
        "  padded  ",
    ]


@pytest.mark.requires_r
def test_hostile_labels_round_trip(effects, tmp_path):
    marker = tmp_path / "kb_pwned"
    labels = hostile_labels(marker)
    data = effects.assign(lab=labels)
    result = kb.rma(data, slab="lab")
    assert result.augment()["study"].tolist() == labels
    assert round(result.glance()["estimate"].iloc[0], 4) == -0.7145  # labels change nothing
    filled = kb.trimfill(result)
    augment = filled.augment()
    assert augment["filled"].sum() == filled.glance()["k0"].iloc[0] >= 1
    assert augment.loc[~augment["filled"], "study"].tolist() == labels
    kb.regtest(result)
    kb.ranktest(result)
    assert not marker.exists()


@pytest.mark.requires_r
def test_hostile_labels_from_csv(effects, tmp_path):
    marker = tmp_path / "kb_pwned"
    labels = hostile_labels(marker)  # including "NA", "" and a newline, which CSV must keep as text
    path = tmp_path / "hostile.csv"
    effects.assign(lab=labels).to_csv(path, index=False)
    result = kb.rma(path, slab="lab")
    assert result.augment()["study"].tolist() == labels
    assert not marker.exists()


@pytest.mark.requires_r
def test_hostile_column_names(effects, tmp_path):
    marker = tmp_path / "kb_pwned"
    evil = f"x\"); system('touch {marker}'); (\""
    backticked = "`lat` + 1"
    data = effects.rename(columns={"yi": "y`i", "vi": 'v"i'}).assign(
        **{evil: effects["ablat"], backticked: effects["year"]}
    )
    result = kb.rma(data, yi="y`i", vi='v"i', mods=[evil, backticked])
    assert result.tidy()["term"].tolist() == ["intrcpt", evil, backticked]
    plain = kb.rma(effects, mods=["ablat", "year"]).tidy()
    assert result.tidy()["estimate"].tolist() == pytest.approx(plain["estimate"].tolist(), rel=1e-12)
    assert not marker.exists()


@pytest.mark.requires_r
def test_mi_is_a_count_only_for_proportions():
    """metafor's `mi` is non-events for PR/PLN/PLO/PAS/PFT but a mean for MN (?escalc): yi = mi, vi = sdi^2/ni."""
    frame = pd.DataFrame({"m": [-7.2, 1.0], "s": [2.0, 1.0], "n": [18, 10], "x": [1, 2]})
    means = kb.escalc("MN", frame, mi="m", sdi="s", ni="n")
    assert list(means["yi"]) == [-7.2, 1.0] and list(means["vi"]) == pytest.approx([4 / 18, 1 / 10], rel=1e-15)
    with pytest.raises(InputError, match="column 'm' must be >= 0, but row 0 is not"):
        kb.escalc("PR", frame, xi="x", mi="m")
