"""`ketabridge crosscheck`: exit codes, a user's long-format file, and the files it writes.

The reproducer is checked by running it with a separate Rscript (plain metafor) and comparing with
the discrepancy table's metafor value: an independent computation of the same number.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from click.testing import CliRunner

from ketabridge.cli import main


def write_engine_module(folder, name, factor):
    """A DerSimonian-Laird engine (closed form, DerSimonian & Laird 1986) with tau2 scaled by factor."""
    (folder / f"{name}.py").write_text(
        textwrap.dedent(f"""
        import numpy as np
        from ketabridge import declare_engine

        @declare_engine(methods=("DL",), quantities=("estimate", "tau2"))
        def engine(yi, vi, *, method, test, level):
            w = 1 / vi
            q = np.sum(w * (yi - np.sum(w * yi) / np.sum(w)) ** 2)
            tau2 = {factor} * max(0.0, (q - (len(yi) - 1)) / (np.sum(w) - np.sum(w ** 2) / np.sum(w)))
            weights = 1 / (vi + tau2)
            return {{"estimate": np.sum(weights * yi) / np.sum(weights), "tau2": tau2}}
    """)
    )


def run(args, monkeypatch, folder):
    monkeypatch.syspath_prepend(str(folder))
    return CliRunner().invoke(main, ["crosscheck", *args])


@pytest.mark.requires_r
def test_exit_code_is_0_for_a_correct_engine_and_1_for_a_planted_error(tmp_path, monkeypatch):
    write_engine_module(tmp_path, "good_engine", 1.0)
    write_engine_module(tmp_path, "bad_engine", 1.01)
    good = run(["--engine", "good_engine:engine", "--suite", "edge"], monkeypatch, tmp_path)
    assert good.exit_code == 0, good.output
    assert "16 agree, 0 differ-by-definition, 0 disagree" in good.stderr
    bad = run(["--engine", "bad_engine:engine", "--suite", "reference"], monkeypatch, tmp_path)
    assert bad.exit_code == 1
    assert " disagree" in bad.stderr and "0 disagree" not in bad.stderr


@pytest.mark.requires_r
def test_user_file_by_column_and_outputs_with_a_reproducer_that_runs(tmp_path, monkeypatch, bcg_effects, installed):
    write_engine_module(tmp_path, "bad_engine2", 1.01)
    long = bcg_effects.assign(allocation=bcg_effects["alloc"])[["allocation", "yi", "vi"]]
    long.to_csv(tmp_path / "mine.csv", index=False)
    out = tmp_path / "out"
    result = run(
        [
            "--engine",
            "bad_engine2:engine",
            "--suite",
            str(tmp_path / "mine.csv"),
            "--by",
            "allocation",
            "--out",
            str(out),
        ],
        monkeypatch,
        tmp_path,
    )
    assert result.exit_code == 1, result.output
    table = pd.read_parquet(out / "discrepancies.parquet")
    assert set(table["dataset"]) == {"random", "alternate", "systematic"}
    assert pd.read_csv(out / "summary.csv")["compared"].sum() == len(table)
    page = (out / "report.html").read_text()
    assert (
        f"engine vs metafor {installed['metafor_version']}: {(table['verdict'] == 'disagree').sum()} disagreements</h1>"
        in page
    )
    row = table[(table["verdict"] == "disagree") & (table["quantity"] == "tau2")].iloc[0]
    folder = out / "reproducers" / f"{row['dataset']}__DL__z"
    r_tau2 = subprocess.run(
        ["Rscript", "-e", 'invisible(capture.output(source("reproduce.R"))); cat(sprintf("%.15g", res$tau2))'],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert abs(float(r_tau2) - row["metafor_value"]) <= 1e-12 * max(1.0, row["metafor_value"])


def test_bad_file_names_the_column_and_rows(tmp_path, monkeypatch):
    pd.DataFrame({"dataset": ["a", "a", "b"], "yi": [0.1, 0.2, 0.3], "vi": [0.1, -1.0, 0.2]}).to_csv(
        tmp_path / "bad.csv", index=False
    )
    result = run(["--engine", "statsmodels", "--suite", str(tmp_path / "bad.csv")], monkeypatch, tmp_path)
    assert result.exit_code == 1
    assert "column 'vi' must hold finite and > 0; rows [1] do not (0-based)" in result.output


def test_help_runs_without_importing_statsmodels_or_r():
    code = "from ketabridge.cli import main; import sys; assert 'statsmodels' not in sys.modules and 'rpy2' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
