"""Count models from the command line and plans: analyze --model, batch --model, plan keys.

Expected numbers: metafor's documented ?rma.mh and ?rma.peto output for dat.bcg
(tests/reference/counts/metafor_rma_mh_bcg.json, metafor_rma_peto_bcg.json).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from lane import BCG_CSV

from ketabridge.cli import main
from ketabridge.plans.plan_file import PlanError, load_plan
from ketabridge.plans.runner import run_plan

COUNTS = ["--ai", "tpos", "--bi", "tneg", "--ci", "cpos", "--di", "cneg"]


@pytest.mark.requires_r
def test_analyze_model_mh_prints_metafors_documented_numbers():
    result = CliRunner().invoke(main, ["analyze", str(BCG_CSV), "--model", "mh", "--measure", "OR", *COUNTS])
    assert result.exit_code == 0, result.output
    # ?rma.mh: 0.6229 [0.5748, 0.6750]; CMH = 135.6889; Tarone's X^2 = 171.7567, df = 12
    assert "natural scale: 0.6229 [0.5748, 0.6750]" in result.output
    assert "Cochran-Mantel-Haenszel test: CMH = 135.6889" in result.output
    assert "Tarone's test: X2(12) = 171.7567" in result.output


@pytest.mark.requires_r
def test_analyze_model_peto_as_json():
    result = CliRunner().invoke(main, ["analyze", str(BCG_CSV), "--model", "peto", *COUNTS, "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert round(document["glance"]["estimate"], 4) == -0.4744  # ?rma.peto
    assert document["provenance"]["r_call"].startswith("rma.peto(ai = tpos")


def test_analyze_count_models_refuse_rma_extras_and_glmm_needs_a_measure():
    result = CliRunner().invoke(main, ["analyze", str(BCG_CSV), "--model", "peto", *COUNTS, "--trimfill"])
    assert result.exit_code == 2 and "Error: --trimfill is for --model rma, not --model peto" in result.output
    result = CliRunner().invoke(main, ["analyze", str(BCG_CSV), "--model", "glmm", *COUNTS])
    assert result.exit_code == 2 and "--model glmm needs --measure" in result.output


@pytest.mark.requires_r
def test_batch_model_mh_gives_each_analysis_its_status(tmp_path):
    bcg = pd.read_csv(BCG_CSV)
    zero_arm = pd.DataFrame({"alloc": "zero", "tpos": [0, 0], "tneg": [50, 60], "cpos": [3, 2], "cneg": [47, 58]})
    data = pd.concat([bcg, zero_arm], ignore_index=True)
    data.loc[len(data) - 3, "tpos"] = -1  # a bad count in the last systematic-allocation row
    data.to_csv(tmp_path / "long.csv", index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "batch",
            str(tmp_path / "long.csv"),
            "--by",
            "alloc",
            "--model",
            "mh",
            "--measure",
            "OR",
            *COUNTS,
            "--out",
            str(out),
        ],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    status = pd.read_parquet(out / "status.parquet").set_index("analysis_id")
    assert list(status.index) == ["random", "alternate", "systematic", "zero"]
    assert status.loc["random", "status"] == "ok" and status.loc["alternate", "status"] == "ok"
    assert status.loc["systematic", "message"].startswith("column 'tpos' must be >= 0, but row 3 is not")
    assert "which is input rows 9, 10, 11, 12" in status.loc["systematic", "message"]
    assert status.loc["zero", "message"].startswith("column 'tpos' is 0 in every row (rows 0, 1)")
    glance = pd.read_parquet(out / "glance.parquet").set_index("analysis_id")
    assert glance.loc["random", "k"] == (bcg["alloc"] == "random").sum()
    assert glance.loc[["systematic", "zero"], "estimate"].isna().all()
    assert json.loads((out / "provenance.json").read_text())["options"]["model"] == "mh"


PLAN = """
title = "BCG counts"
data = "bcg.csv"

[[analysis]]
name = "mh_or"
model = "mh"
slab = "author"
effect = {{ measure = "OR", ai = "tpos", bi = "tneg", ci = "cpos", di = "cneg" }}
{extra}
"""


@pytest.fixture
def plan_dir(tmp_path):
    (tmp_path / "bcg.csv").write_bytes(BCG_CSV.read_bytes())
    return tmp_path


@pytest.mark.requires_r
def test_plan_model_key_runs_the_count_model(plan_dir):
    (plan_dir / "plan.toml").write_text(PLAN.format(extra=""))
    run = run_plan(load_plan(plan_dir / "plan.toml"))
    glance = run.table("count_glance").iloc[0]
    assert (glance["model"], round(glance["estimate"], 4)) == ("MH", -0.4734)  # ?rma.mh
    summary = run.table("summary").iloc[0]
    assert (summary["scale"], round(summary["estimate"], 4)) == ("exp", 0.6229)
    assert list(run.table("count_studies")["study"][:2]) == ["Aronson", "Ferguson & Simes"]


@pytest.mark.parametrize(
    "extra, message",
    [
        ('extras = ["trimfill"]', "analysis[0].extras: is for model 'rma', not 'mh'"),
        ('glmm_model = "UM"', "analysis[0].glmm_model: 'UM' is not allowed; choose one of: UM.FS, UM.RS, CM.EL, CM.AL"),
    ],
)
def test_plan_count_model_keys_are_checked(plan_dir, extra, message):
    (plan_dir / "plan.toml").write_text(PLAN.format(extra=extra))
    with pytest.raises(PlanError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        load_plan(plan_dir / "plan.toml")
