"""The `ketabridge` command through click's CliRunner: every command, format and error path.

Numbers are checked against the Python API on the same data (an independent path into R), and
the BCG REML estimate against Viechtbauer (2010), J Stat Softw 36(3): -0.7145.
"""

from __future__ import annotations

import io
import json
import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import ketabridge as kb
from ketabridge.cli import main
from ketabridge.schema import GLANCE, RANKTEST_GLANCE, REGTEST_GLANCE, TRIMFILL_GLANCE

BCG_CSV = Path(__file__).resolve().parent.parent / "data" / "bcg" / "bcg.csv"
RR_ARGS = ["--measure", "RR", "--ai", "tpos", "--bi", "tneg", "--ci", "cpos", "--di", "cneg"]
RR_COLUMNS = dict(ai="tpos", bi="tneg", ci="cpos", di="cneg")
EXTRAS = ["--trimfill", "--regtest", "--ranktest"]


# --- fixtures and helpers (kept here: tests/conftest.py belongs to someone else) -------------


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: object):
    return runner.invoke(main, [str(arg) for arg in args], prog_name="ketabridge", catch_exceptions=True)


def ok(result) -> None:
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert "Traceback" not in result.output


def assert_clean_error(result, exit_code: int = 1) -> str:
    """Non-zero exit, no uncaught exception, output ending in one 'Error: ' line; return that line."""
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an escaped exception
    assert "Traceback" not in result.output
    lines = result.output.rstrip("\n").split("\n")
    assert lines[-1].startswith("Error: "), result.output
    assert sum(line.startswith("Error: ") for line in lines) == 1
    return lines[-1]


@pytest.fixture(scope="module")
def bcg_api():
    """The Python API on the same CSV: the independent path the CLI is compared with."""
    data = kb.escalc("RR", str(BCG_CSV), **RR_COLUMNS)
    result = kb.rma(data, slab="author")
    return {
        "result": result,
        "trimfill": kb.trimfill(result),
        "regtest": kb.regtest(result),
        "ranktest": kb.ranktest(result),
        "effects": data,
    }


@pytest.fixture(scope="module")
def effects_csv(tmp_path_factory, bcg_api) -> Path:
    """Precomputed effects under non-default column names, with a standard error column."""
    path = tmp_path_factory.mktemp("cli") / "effects.csv"
    data = bcg_api["effects"]
    frame = pd.DataFrame(
        {
            "study": data["author"],
            "effect": data["yi"],
            "variance": data["vi"],
            "se": data["vi"] ** 0.5,
            "ablat": data["ablat"],
            "year": data["year"],
        }
    )
    frame.to_csv(path, index=False)
    return path


def approx_records(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected)
    for key, value in expected.items():
        if isinstance(value, float):
            assert actual[key] == pytest.approx(value, rel=1e-12, abs=1e-15, nan_ok=True), key
        else:
            assert actual[key] == value, key


def api_record(table: pd.DataFrame, row: int = 0) -> dict:
    return json.loads(table.to_json(orient="records", double_precision=15))[row]


# --- help and doctor -------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_main_help(runner, flag):
    result = run(runner, flag)
    ok(result)
    assert "Usage:" in result.output
    assert "analyze" in result.output and "doctor" in result.output


def test_version(runner):
    result = run(runner, "--version")
    ok(result)
    assert metadata.version("ketabridge") in result.output


def test_analyze_help(runner):
    result = run(runner, "analyze", "--help")
    ok(result)
    for option in [
        "--yi",
        "--vi",
        "--sei",
        "--slab",
        "--mods",
        "--measure",
        "--ai",
        "--method",
        "--test",
        "--level",
        "--na-action",
        "--trimfill",
        "--regtest",
        "--ranktest",
        "--format",
        "--out",
    ]:
        assert option in result.output, option
    assert "table|json|csv" in result.output


def test_batch_help_lists_the_engines_and_checks_verify_when_it_runs(runner, tmp_path):
    result = run(runner, "batch", "--help")
    ok(result)
    assert "--engine [metafor|fast]" in result.output and "--verify COUNT|FRACTION|all" in result.output
    assert "--skip-verification-unsafe" in result.output
    result = run(runner, "batch", BCG_CSV, "--by", "trial", "--out", tmp_path / "out", "--verify", "1.5")
    assert result.exit_code == 2
    assert (
        "Invalid value for '--verify': '1.5' is neither a count (a whole number), a fraction in (0, 1] nor 'all'"
        in result.output
    )
    assert not (tmp_path / "out").exists()


def _r_says(expression: str) -> str:
    return subprocess.run(
        ["Rscript", "-e", f"cat({expression})"], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()


@pytest.mark.requires_r
def test_doctor(runner):
    result = run(runner, "doctor")
    ok(result)
    r_version = _r_says('R.version$major, R.version$minor, sep = "."')  # asked of R directly
    metafor_version = _r_says('as.character(packageVersion("metafor"))')
    lines = result.output.splitlines()
    assert any(line.split()[:2] == ["R", r_version] for line in lines), result.output
    assert any(line.split() == ["metafor", metafor_version] for line in lines), result.output
    assert lines[-1] == "everything ketabridge needs is here"


# --- analyze: the three formats --------------------------------------------------------------


@pytest.mark.requires_r
def test_table_format(runner, bcg_api):
    result = run(runner, "analyze", BCG_CSV, *RR_ARGS, "--slab", "author", *EXTRAS)
    ok(result)
    glance = bcg_api["result"].glance().iloc[0]
    estimate = f"{glance['estimate']:.4f}"
    assert estimate == "-0.7145"  # Viechtbauer (2010)
    intercept = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["intrcpt"])
    assert intercept.split()[1] == estimate
    assert f"tau2 = {glance['tau2']:.4f}" in result.stdout
    assert f"I2 = {glance['i2']:.2f}%" in result.stdout
    assert f"k0 = {bcg_api['trimfill'].glance()['k0'].iloc[0]}" in result.stdout
    assert f"Kendall's tau = {bcg_api['ranktest'].glance()['kendall_tau'].iloc[0]:.4f}" in result.stdout
    assert f"R call: {bcg_api['result'].provenance.r_call}" in result.stdout


@pytest.mark.requires_r
def test_json_format(runner, bcg_api):
    result = run(runner, "analyze", BCG_CSV, *RR_ARGS, "--slab", "author", "--format", "json", *EXTRAS)
    ok(result)
    document = json.loads(result.stdout)
    assert set(document) == {"tidy", "glance", "augment", "provenance", "trimfill", "regtest", "ranktest"}
    api = bcg_api["result"]
    approx_records(document["glance"], api_record(api.glance()))
    assert len(document["tidy"]) == 1
    approx_records(document["tidy"][0], api_record(api.tidy()))
    assert [row["study"] for row in document["augment"]] == api.augment()["study"].tolist()
    assert len(document["augment"]) == 13
    for row in range(13):
        approx_records(document["augment"][row], api_record(api.augment(), row))
    assert document["provenance"]["r_call"] == api.provenance.r_call
    approx_records(document["trimfill"]["glance"], api_record(bcg_api["trimfill"].glance()))
    approx_records(document["regtest"]["glance"], api_record(bcg_api["regtest"].glance()))
    approx_records(document["ranktest"]["glance"], api_record(bcg_api["ranktest"].glance()))
    assert sum(row["filled"] for row in document["trimfill"]["augment"]) == document["trimfill"]["glance"]["k0"]


@pytest.mark.requires_r
def test_json_without_extras(runner):
    result = run(runner, "analyze", BCG_CSV, *RR_ARGS, "--format", "json")
    ok(result)
    assert set(json.loads(result.stdout)) == {"tidy", "glance", "augment", "provenance"}


@pytest.mark.requires_r
def test_csv_format(runner, bcg_api):
    result = run(runner, "analyze", BCG_CSV, *RR_ARGS, "--slab", "author", "--format", "csv", *EXTRAS)
    ok(result)
    row = pd.read_csv(io.StringIO(result.stdout))
    assert len(row) == 1
    expected_columns = (
        list(GLANCE)
        + [f"trimfill_{c}" for c in TRIMFILL_GLANCE]
        + [f"regtest_{c}" for c in REGTEST_GLANCE]
        + [f"ranktest_{c}" for c in RANKTEST_GLANCE]
    )
    assert list(row.columns) == expected_columns
    glance = bcg_api["result"].glance().iloc[0]
    for column in ["estimate", "std_error", "conf_low", "conf_high", "tau2", "i2", "q", "p_value"]:
        assert row[column].iloc[0] == pytest.approx(glance[column], rel=1e-12), column
    assert row["k"].iloc[0] == glance["k"] == 13
    assert row["trimfill_k0"].iloc[0] == bcg_api["trimfill"].glance()["k0"].iloc[0]
    assert row["regtest_p_value"].iloc[0] == pytest.approx(bcg_api["regtest"].glance()["p_value"].iloc[0], rel=1e-12)
    assert row["ranktest_kendall_tau"].iloc[0] == pytest.approx(
        bcg_api["ranktest"].glance()["kendall_tau"].iloc[0], rel=1e-12
    )


@pytest.mark.requires_r
@pytest.mark.parametrize("output_format", ["table", "json", "csv"])
def test_out_writes_the_file(runner, tmp_path, output_format):
    path = tmp_path / f"result.{output_format}"
    result = run(runner, "analyze", BCG_CSV, *RR_ARGS, "--format", output_format, "--out", path)
    ok(result)
    assert result.stdout == ""
    assert result.stderr.strip() == f"wrote {path}"
    text = path.read_text(encoding="utf-8")
    if output_format == "csv":  # the only format without a timestamp: byte-equal to stdout
        assert text == run(runner, "analyze", BCG_CSV, *RR_ARGS, "--format", "csv").stdout
    elif output_format == "json":
        assert json.loads(text)["glance"]["k"] == 13
    else:
        assert "-0.7145" in text


# --- analyze: inputs and options -------------------------------------------------------------


@pytest.mark.requires_r
@pytest.mark.parametrize("suffix", [".parquet", ".feather", ".arrow"])
def test_arrow_file_inputs(runner, tmp_path, bcg_api, suffix):
    from pyarrow import csv, feather, parquet

    table = csv.read_csv(BCG_CSV)
    path = tmp_path / f"bcg{suffix}"
    if suffix == ".parquet":
        parquet.write_table(table, path)
    else:
        feather.write_feather(table, path)
    result = run(runner, "analyze", path, *RR_ARGS, "--slab", "author", "--format", "json")
    ok(result)
    document = json.loads(result.stdout)
    approx_records(document["glance"], api_record(bcg_api["result"].glance()))
    assert [row["study"] for row in document["augment"]] == bcg_api["result"].augment()["study"].tolist()


@pytest.mark.requires_r
def test_precomputed_yi_vi(runner, effects_csv):
    result = run(runner, "analyze", effects_csv, "--yi", "effect", "--vi", "variance", "--format", "json")
    ok(result)
    glance = json.loads(result.stdout)["glance"]
    approx_records(glance, api_record(kb.rma(effects_csv, "effect", "variance").glance()))
    assert glance["measure"] == "GEN" and glance["k"] == 13
    assert round(glance["estimate"], 4) == -0.7145


@pytest.mark.requires_r
def test_sei(runner, effects_csv):
    result = run(runner, "analyze", effects_csv, "--yi", "effect", "--sei", "se", "--format", "json")
    ok(result)
    glance = json.loads(result.stdout)["glance"]
    approx_records(glance, api_record(kb.rma(effects_csv, "effect", sei="se").glance()))
    assert "sei = sei" in json.loads(result.stdout)["provenance"]["r_call"]


@pytest.mark.requires_r
def test_mods_repeated(runner, effects_csv):
    result = run(
        runner,
        "analyze",
        effects_csv,
        "--yi",
        "effect",
        "--vi",
        "variance",
        "--mods",
        "ablat",
        "--mods",
        "year",
        "--format",
        "json",
    )
    ok(result)
    document = json.loads(result.stdout)
    api = kb.rma(effects_csv, "effect", "variance", mods=["ablat", "year"])
    assert [row["term"] for row in document["tidy"]] == ["intrcpt", "ablat", "year"]
    for row, expected in zip(document["tidy"], json.loads(api.tidy().to_json(orient="records", double_precision=15))):
        approx_records(row, expected)
    assert document["glance"]["qm_df"] == 2


@pytest.mark.parametrize(
    "method, test, level", [("DL", "knha", 90.0), ("EE", "t", 99.0), ("PM", "z", 80.0), ("REML", "z", 95.0)]
)
@pytest.mark.requires_r
def test_method_test_level(runner, effects_csv, method, test, level):
    result = run(
        runner,
        "analyze",
        effects_csv,
        "--yi",
        "effect",
        "--vi",
        "variance",
        "--method",
        method,
        "--test",
        test,
        "--level",
        level,
        "--format",
        "json",
    )
    ok(result)
    glance = json.loads(result.stdout)["glance"]
    assert (glance["method"], glance["test"], glance["level"]) == (method, test, level)
    api = kb.rma(effects_csv, "effect", "variance", method=method, test=test, level=level)
    approx_records(glance, api_record(api.glance()))


@pytest.mark.requires_r
def test_warning_lines(runner, tmp_path, effects_csv):
    frame = pd.read_csv(effects_csv)
    frame.loc[3, "effect"] = None
    path = tmp_path / "gap.csv"
    frame.to_csv(path, index=False)
    assert ",," in path.read_text()  # an empty cell
    result = run(runner, "analyze", path, "--yi", "effect", "--vi", "variance", "--format", "json")
    ok(result)
    warning_lines = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert warning_lines == ["Warning: 1 of 13 rows have missing values in effect (row 3); left out of the analysis"]
    assert json.loads(result.stdout)["glance"]["k"] == 12


@pytest.mark.requires_r
def test_metafor_warning_line(runner, tmp_path):
    path = tmp_path / "ratio.csv"
    pd.DataFrame({"yi": [0.1, 0.5, 0.9], "vi": [1e-9, 1e3, 1e9]}).to_csv(path, index=False)
    result = run(runner, "analyze", path, "--format", "csv")
    ok(result)
    assert (
        "Warning: Ratio of largest to smallest sampling variance extremely large. "
        "May not be able to obtain stable results." in result.stderr.splitlines()
    )


# --- analyze: errors -------------------------------------------------------------------------


@pytest.mark.requires_r
def test_missing_column(runner, effects_csv):
    result = run(runner, "analyze", effects_csv, "--yi", "nope", "--vi", "variance")
    line = assert_clean_error(result)
    columns = pd.read_csv(effects_csv).columns
    assert line == f"Error: column 'nope' not found; the data has: {', '.join(columns)}"


@pytest.mark.requires_r
def test_text_in_numeric_column(runner, tmp_path, effects_csv):
    frame = pd.read_csv(effects_csv).astype({"variance": object})
    frame.loc[2, "variance"] = "oops"
    frame.loc[5, "variance"] = "n/a?"
    path = tmp_path / "text.csv"
    frame.to_csv(path, index=False)
    line = assert_clean_error(run(runner, "analyze", path, "--yi", "effect", "--vi", "variance"))
    assert line == "Error: column 'variance' must be numeric, but rows 2, 5 hold text ('oops', 'n/a?')"


def test_unknown_method_is_a_usage_error(runner):
    result = run(runner, "analyze", BCG_CSV, *RR_ARGS, "--method", "XX")
    line = assert_clean_error(result, exit_code=2)
    assert line.startswith("Error: Invalid value for '--method': 'XX' is not one of 'EE'")
    assert "Usage: ketabridge analyze" in result.output


def test_escalc_column_without_measure(runner):
    result = run(runner, "analyze", BCG_CSV, "--ai", "tpos", "--bi", "tneg")
    line = assert_clean_error(result, exit_code=2)
    assert line == "Error: --ai needs --measure"


def test_nonexistent_input(runner, tmp_path):
    path = tmp_path / "absent.csv"
    line = assert_clean_error(run(runner, "analyze", path))
    assert line == f"Error: {path}: no such file"


def test_unsupported_suffix(runner, tmp_path):
    path = tmp_path / "bcg.xlsx"
    path.write_bytes(BCG_CSV.read_bytes())
    line = assert_clean_error(run(runner, "analyze", path, *RR_ARGS))
    assert (
        line
        == f"Error: {path}: unknown file type '.xlsx'; use one of .arrow, .arrows, .csv, .feather, .ipc, .parquet, .pq"
    )


@pytest.mark.requires_r
def test_regtest_predictor_without_sizes(runner, effects_csv):
    result = run(
        runner,
        "analyze",
        effects_csv,
        "--yi",
        "effect",
        "--vi",
        "variance",
        "--regtest",
        "--regtest-predictor",
        "sqrtninv",
    )
    line = assert_clean_error(result)
    assert line == "Error: predictor 'sqrtninv' needs sample sizes: pass ni='<column>' to rma"


@pytest.mark.requires_r
def test_trimfill_with_mods(runner, effects_csv):
    result = run(runner, "analyze", effects_csv, "--yi", "effect", "--vi", "variance", "--mods", "ablat", "--trimfill")
    assert assert_clean_error(result) == "Error: trim-and-fill needs a model without moderators"


@pytest.mark.requires_r
def test_metafor_error(runner, tmp_path):
    path = tmp_path / "three.csv"
    pd.DataFrame(
        {"yi": [0.1, 0.5, 0.9], "vi": [0.01, 0.02, 0.03], "a": [1.0, 2, 3], "b": [2.0, 1, 5], "c": [3.0, 3, 1]}
    ).to_csv(path, index=False)
    result = run(runner, "analyze", path, "--mods", "a", "--mods", "b", "--mods", "c")
    line = assert_clean_error(result)
    assert line.startswith(
        "Error: metafor error: Number of parameters to be estimated is larger than the number of observations."
    )
    assert "[in rma.uni(yi = yi, vi = vi, mods = cbind(a, b, c)" in line
    assert "Warning: Redundant predictors dropped from the model." in result.stderr


@pytest.mark.requires_r
def test_multiline_metafor_error_is_one_line(runner):
    result = run(runner, "analyze", BCG_CSV, "--measure", "RR", "--ai", "tpos")
    line = assert_clean_error(result)
    assert line.startswith("Error: metafor error: Cannot compute outcomes.")
    assert '[in escalc(ai = ai, data = dat, measure = "RR")]' in line
