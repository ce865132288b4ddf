"""One set of input checks for both roads: the same bad rows give the same message from
rma()/escalc() (raised as InputError) and from batch() (written on the analysis's error row).

The bad analysis is the first group of each batch table, so its 0-based input rows are the
rows the single-analysis road names too. Expected labels of studies left out for missing values
come from metafor itself (names(weights(res)) in an Rscript run).
"""

from __future__ import annotations

import subprocess
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import ketabridge as kb
from ketabridge import InputError, MissingValuesWarning
from ketabridge.analyses import validate


def status_of(result) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # status as a table or a method, either way
        status = result.status() if callable(result.status) else result.status
    return status.set_index("analysis_id")


def single_message(call) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingValuesWarning)
        with pytest.raises(InputError) as caught:
            call()
    return str(caught.value)


def effects_table(bad: dict[str, list], n_bad: int = 4, n_good: int = 5) -> pd.DataFrame:
    """A bad analysis 'a' (rows 0..n_bad-1, columns spoiled by `bad`) then a good analysis 'b'."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "id": ["a"] * n_bad + ["b"] * n_good,
            "yi": rng.normal(0.3, 0.2, n_bad + n_good),
            "vi": rng.uniform(0.01, 0.05, n_bad + n_good),
        }
    )
    for column, values in bad.items():
        frame[column] = pd.Series(
            list(values) + list(frame[column].iloc[n_bad:]),
            dtype=object if any(isinstance(v, str) for v in values) else None,
        )
    return frame


RMA_CASES = {
    "text": {"yi": [0.1, "oops", 0.2, "n/a?"]},
    "infinite": {"yi": [0.1, np.inf, 0.2, -np.inf]},
    "variance zero or negative": {"vi": [0.02, 0.0, -0.1, 0.03]},
    "too few after missing": {"yi": [0.1, np.nan, np.nan, np.nan]},
}


@pytest.mark.requires_r
@pytest.mark.parametrize("case", RMA_CASES, ids=list(RMA_CASES))
def test_rma_and_batch_give_the_same_message(case):
    frame = effects_table(RMA_CASES[case])
    expected = single_message(lambda: kb.rma(frame[frame["id"] == "a"].drop(columns="id")))
    status = status_of(kb.batch(frame, by="id", workers=0))
    assert status.loc["a", "status"] == "error"
    assert status.loc["a", "message"] == expected
    assert status.loc["b", "status"] == "ok"


@pytest.mark.requires_r
def test_standard_errors_give_the_same_message():
    frame = effects_table({"vi": [0.02, 0.0, 0.1, -0.3]}).rename(columns={"vi": "se"})
    expected = single_message(lambda: kb.rma(frame[frame["id"] == "a"], sei="se"))
    assert "column 'se' holds standard errors, which must be > 0, but rows 1, 3 are not (0, -0.3)" == expected
    status = status_of(kb.batch(frame, by="id", sei="se", workers=0))
    assert status.loc["a", "message"] == expected and status.loc["b", "status"] == "ok"


def test_numbers_stored_as_text_fail_every_analysis_on_both_roads():
    """A typed text column is an error on both roads: each analysis gets an error row naming its
    own rows, none is dropped, and the message is the one rma() raises on those rows."""
    frame = effects_table({})
    frame["yi"] = frame["yi"].map(repr)
    assert not pd.api.types.is_numeric_dtype(frame["yi"])
    expected = single_message(lambda: kb.rma(frame[frame["id"] == "a"]))
    assert expected.startswith("column 'yi' holds numbers stored as text in rows 0, 1, 2, 3 (")
    assert expected.endswith("; convert it to a numeric type")
    status = status_of(kb.batch(frame, by="id", workers=0))
    assert list(status.index) == ["a", "b"] and (status["status"] == "error").all()
    assert status.loc["a", "message"] == expected
    assert status.loc["b", "message"].startswith("column 'yi' holds numbers stored as text in rows 4, 5, 6, 7, 8 (")


def test_text_beats_stored_numbers_in_one_message():
    """An analysis whose text column holds a word is told about the word, not about the numbers."""
    frame = effects_table({})
    frame["yi"] = frame["yi"].map(repr)
    frame.loc[2, "yi"] = "missing?"
    expected = single_message(lambda: kb.rma(frame[frame["id"] == "a"]))
    assert expected == "column 'yi' must be numeric, but row 2 holds text ('missing?')"
    assert status_of(kb.batch(frame, by="id", workers=0)).loc["a", "message"] == expected


@pytest.mark.requires_r
def test_several_problems_are_joined_in_the_same_order():
    frame = effects_table({"yi": [0.1, np.inf, 0.2, 0.3], "vi": [0.02, 0.01, -0.5, 0.03]})
    expected = single_message(lambda: kb.rma(frame[frame["id"] == "a"]))
    assert expected == (
        "column 'yi' must be finite, but row 1 is infinite; "
        "column 'vi' holds variances, which must be >= 0, but row 2 is not (-0.5)"
    )
    assert status_of(kb.batch(frame, by="id", workers=0)).loc["a", "message"] == expected


def test_non_numeric_type_on_both_roads():
    frame = effects_table({}).assign(yi=lambda f: f["yi"] > 0.3)
    expected = single_message(lambda: kb.rma(frame[frame["id"] == "a"]))
    assert expected == "column 'yi' must be numeric, not bool"
    status = status_of(kb.batch(frame, by="id", workers=0))
    assert (status["message"] == expected).all()


# --- escalc's rules, in the batch too ----------------------------------------------------------


def counts_table(**bad: list) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "id": ["a"] * 3 + ["b"] * 3,
            "ai": [4, 6, 3, 5, 2, 8],
            "bi": [30, 40, 35, 25, 31, 28],
            "ci": [9, 8, 12, 10, 7, 11],
            "di": [25, 33, 30, 22, 29, 26],
            "xi": [4, 6, 3, 5, 2, 8],
            "mi": [26, 34, 32, 20, 29, 20],
            "r": [0.2, 0.4, 0.3, 0.5, 0.1, 0.3],
            "n": [40, 50, 60, 45, 55, 65],
            "m": [1.5, -2.0, 0.3, 1.1, 0.2, -0.4],
            "sd": [1.0, 2.0, 1.5, 1.2, 0.8, 1.1],
        }
    )
    for column, values in bad.items():
        frame[column] = list(values) + list(frame[column].iloc[3:])
    return frame


ESCALC_CASES = {
    "negative counts": (
        "OR",
        {"ai": "ai", "bi": "bi", "ci": "ci", "di": "di"},
        {"ci": [9, -1, -2]},
        "column 'ci' must be >= 0, but rows 1, 2 are not",
    ),
    "correlation outside [-1, 1]": (
        "ZCOR",
        {"ri": "r", "ni": "n"},
        {"r": [1.5, 0.2, -1.01]},
        "column 'r' must be between -1 and 1, but rows 0, 2 are not",
    ),
    "mi counts non-events for PR": (
        "PR",
        {"xi": "xi", "mi": "mi"},
        {"mi": [26, -3, 32]},
        "column 'mi' must be >= 0, but row 1 is not",
    ),
    "negative sample size": (
        "MN",
        {"mi": "m", "sdi": "sd", "ni": "n"},
        {"n": [40, -5, 60]},
        "column 'n' must be >= 0, but row 1 is not",
    ),
    "infinite count": (
        "RR",
        {"ai": "ai", "bi": "bi", "ci": "ci", "di": "di"},
        {"bi": [30, np.inf, 35]},
        "column 'bi' must be finite, but row 1 is infinite",
    ),
}


@pytest.mark.requires_r
@pytest.mark.parametrize("case", ESCALC_CASES, ids=list(ESCALC_CASES))
def test_escalc_and_batch_give_the_same_message(case):
    measure, columns, bad, message = ESCALC_CASES[case]
    frame = counts_table(**bad)
    expected = single_message(lambda: kb.escalc(measure, frame[frame["id"] == "a"], **columns))
    assert expected == message
    status = status_of(kb.batch(frame, by="id", measure=measure, workers=0, **columns))
    assert status.loc["a", "status"] == "error" and status.loc["a", "message"] == expected
    assert status.loc["b", "status"] == "ok"


@pytest.mark.requires_r
def test_mi_is_a_mean_for_mn_on_both_roads():
    """metafor's `mi` is a mean (any sign) for MN: neither road refuses a negative one."""
    frame = counts_table()
    assert (frame["m"] < 0).any()
    kb.escalc("MN", frame, mi="m", sdi="sd", ni="n")
    status = status_of(kb.batch(frame, by="id", measure="MN", mi="m", sdi="sd", ni="n", workers=0))
    assert (status["status"] == "ok").all()


# --- CSV files: cells, not types ---------------------------------------------------------------


@pytest.mark.requires_r
def test_csv_cells_are_read_alike_on_both_roads(tmp_path):
    """A CSV has no types: on both roads its numeric cells are numbers, 'NA' and blank cells
    are missing, and only the other cells are text, named with their input rows."""
    frame = effects_table({"yi": [0.1, "abc", "NA", 0.3]})
    path = tmp_path / "effects.csv"
    frame.to_csv(path, index=False)
    single = tmp_path / "first.csv"
    frame[frame["id"] == "a"].to_csv(single, index=False)
    expected = single_message(lambda: kb.rma(single))
    assert expected == "column 'yi' must be numeric, but row 1 holds text ('abc')"
    status = status_of(kb.batch(path, by="id", workers=0))
    assert status.loc["a", "message"] == expected and status.loc["b", "status"] == "ok"


@pytest.mark.requires_r
def test_csv_null_tokens_and_blank_cells_are_missing_on_both_roads(tmp_path):
    frame = effects_table({"yi": [0.1, "NA", 0.2, 0.3]})
    path = tmp_path / "effects.csv"
    frame.to_csv(path, index=False)
    text = path.read_text().splitlines()
    text[3] = text[3].replace(text[3].split(",")[1], "  ", 1)  # row 2: a blank (spaces) yi cell
    path.write_text("\n".join(text) + "\n")
    with pytest.warns(MissingValuesWarning, match=r"2 of 9 rows have missing values in yi \(rows 1, 2\)"):
        single = kb.rma(path)
    assert single.glance()["k"].iloc[0] == 7
    status = status_of(kb.batch(path, by="id", workers=0))
    assert status.loc["a", "status"] == "warning"
    assert status.loc["a", "message"] == "2 rows with missing values in yi, vi left out (rows 1, 2)"


def test_file_suffix_rules_are_io_s_on_both_roads(tmp_path):
    path = tmp_path / "effects.xlsx"
    path.write_text("id,yi,vi\n")
    expected = single_message(lambda: kb.rma(path))
    assert expected.startswith(f"{path}: unknown file type '.xlsx'; use one of ")
    assert single_message(lambda: kb.batch(path, by="id", workers=0)) == expected
    absent = tmp_path / "absent.parquet"
    assert single_message(lambda: kb.batch(absent, by="id", workers=0)) == f"{absent}: no such file"


# --- rows keep their input numbers --------------------------------------------------------------


def test_rows_named_are_input_rows_after_missing_values():
    """A bad value after a missing row is named by its input row, not its place among the kept."""
    frame = pd.DataFrame({"yi": [np.nan, 0.1, 0.2, 0.3, 0.4], "vi": [0.1, 0.1, 0.1, 0.1, -0.2]})
    assert single_message(lambda: kb.rma(frame)) == (
        "column 'vi' holds variances, which must be >= 0, but row 4 is not (-0.2)"
    )
    counts = pd.DataFrame({"a": [np.nan, 1, 2, -3], "b": [5, 6, 7, 8], "c": [1, 2, 3, 4], "d": [9, 9, 9, 9]})
    assert single_message(lambda: kb.escalc("OR", counts, ai="a", bi="b", ci="c", di="d")) == (
        "column 'a' must be >= 0, but row 3 is not"
    )


R_LABELS = """
suppressPackageStartupMessages(library(metafor))
dat <- data.frame(yi = c(NA, NA, .1, .2, .3, .4, .5), vi = .1)
res <- suppressWarnings(rma(yi, vi, data = dat))
cat(names(weights(res)), sep = "\\n")
"""


@pytest.mark.requires_r
def test_studies_left_out_keep_their_row_numbers_as_labels():
    """Without slab, metafor labels studies by their row of the data, so rows 1-2 left out for
    missing values leave 3..7 (names(weights(res)), leave1out's rows, forest's 'Study 3'...)."""
    expected = subprocess.run(["Rscript", "-e", R_LABELS], capture_output=True, text=True, check=True, timeout=120)
    labels = expected.stdout.split()
    assert labels == ["3", "4", "5", "6", "7"]
    data = pd.DataFrame({"yi": [np.nan, np.nan, 0.1, 0.2, 0.3, 0.4, 0.5], "vi": 0.1})
    with pytest.warns(MissingValuesWarning):
        result = kb.rma(data)
    assert result.augment()["study"].tolist() == labels
    assert kb.leave1out(result)["study"].tolist() == labels
    complete = kb.rma(data.dropna().reset_index(drop=True))
    assert complete.augment()["study"].tolist() == ["1", "2", "3", "4", "5"]
    assert "slab" not in complete.provenance.r_call  # nothing left out: metafor's default labels


# --- the checks themselves, on many analyses at once ---------------------------------------------


def test_checks_are_vectorised_over_thousands_of_analyses():
    """20,000 analyses of 5 rows, 3 of them bad: one pass, and exactly those 3 are stopped."""
    n, size = 20_000, 5
    rows = np.arange(n * size)
    yi = np.linspace(-1, 1, n * size)
    vi = np.full(n * size, 0.02)
    vi[[7, 50_001, 99_999]] = [-1.0, 0.0, -2.0]
    groups = validate.Groups(np.full(n, size), rows)
    values, problems = validate.check_columns(
        groups, [("yi", pa.array(yi), validate.FINITE), ("vi", pa.array(vi), validate.VARIANCES)]
    )
    assert sorted(problems.found) == [1, 10_000, 19_999]
    assert problems.message(10_000) == "column 'vi' holds variances, which must be > 0, but row 50001 is not (0)"
    np.testing.assert_array_equal(values["vi"], vi)


def test_text_cells_parse_as_pyarrow_reads_csv():
    cells = pa.array(["0.5", " 1e3 ", "inf", "NA", "", "   ", "1,5", "0x10", None, "-.25"])
    parsed = validate.parse_numbers(cells, text_cells=True)
    np.testing.assert_array_equal(
        parsed.values, [0.5, 1000.0, np.inf, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, -0.25]
    )
    assert np.flatnonzero(parsed.text).tolist() == [6, 7]
    assert not parsed.stored.any()
    typed = validate.parse_numbers(cells)
    assert np.flatnonzero(typed.stored).tolist() == [0, 1, 2, 9]
    assert np.flatnonzero(typed.text).tolist() == [3, 4, 5, 6, 7]
