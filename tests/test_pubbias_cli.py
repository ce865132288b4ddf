"""`ketabridge analyze --selmodel/--pet-peese/--tes` and the plan keys for the same."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from lane import BCG_CSV

from ketabridge.cli import main
from ketabridge.plans.plan_file import PlanError, load_plan

BCG_RR = ["--measure", "RR", "--ai", "tpos", "--bi", "tneg", "--ci", "cpos", "--di", "cneg"]


@pytest.mark.requires_r
def test_analyze_adds_the_publication_bias_models():
    arguments = [str(BCG_CSV), *BCG_RR, "--method", "ML", "--selmodel", "stepfun", "--selmodel-steps", "0.025"]
    result = CliRunner().invoke(
        main, ["analyze", *arguments, "--selmodel-alternative", "less", "--pet-peese", "--tes", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["selmodel"]["glance"]["type"] == "stepfun"
    assert [row["term"] for row in document["selmodel"]["weights"]] == ["delta.1", "delta.2"]
    assert document["pet_peese"]["glance"]["chosen"] in ("PET", "PEESE")
    assert document["tes"]["glance"]["k"] == 13
    text = CliRunner().invoke(main, ["analyze", *arguments, "--selmodel-alternative", "less"])
    assert "selection model (stepfun, alternative less): adjusted estimate" in text.output


@pytest.mark.requires_r  # the CLI reads the data (escalc, in R) before it checks the selmodel options
def test_selmodel_steps_need_a_type():
    result = CliRunner().invoke(main, ["analyze", str(BCG_CSV), *BCG_RR, "--selmodel-steps", "0.05"])
    assert result.exit_code == 2 and "--selmodel-steps needs --selmodel TYPE" in result.output


PLAN = """
data = "bcg.csv"
[[analysis]]
name = "bcg"
effect = {{ measure = "RR", ai = "tpos", bi = "tneg", ci = "cpos", di = "cneg" }}
method = "ML"
extras = [{extras}]
{selmodel}
"""


def _plan(tmp_path, extras: str, selmodel: str = ""):
    shutil.copy(BCG_CSV, tmp_path / "bcg.csv")
    path = tmp_path / "plan.toml"
    path.write_text(PLAN.format(extras=extras, selmodel=selmodel))
    return path


def test_plan_selmodel_settings(tmp_path):
    default = load_plan(_plan(tmp_path, '"selmodel"')).analyses[0]
    assert default.selmodel == {"type": "stepfun", "steps": [0.025, 1.0], "alternative": "greater"}
    chosen = load_plan(_plan(tmp_path, '"selmodel"', '[analysis.selmodel]\ntype = "halfnorm"\nalternative = "less"'))
    assert chosen.analyses[0].selmodel == {"type": "halfnorm", "steps": None, "alternative": "less"}
    with pytest.raises(PlanError, match="selmodel: is only used with extras"):
        load_plan(_plan(tmp_path, '"regtest"', '[analysis.selmodel]\ntype = "beta"'))
    with pytest.raises(PlanError, match="'cubic' is not allowed"):
        load_plan(_plan(tmp_path, '"selmodel"', '[analysis.selmodel]\ntype = "cubic"'))
    with pytest.raises(PlanError, match="unknown key"):
        load_plan(_plan(tmp_path, '"selmodel"', "[analysis.selmodel]\ncutoffs = [0.05]"))


@pytest.mark.requires_r
def test_plan_runs_the_publication_bias_extras(tmp_path):
    plan = _plan(
        tmp_path, '"selmodel", "pet_peese", "tes"', '[analysis.selmodel]\nsteps = [0.025]\nalternative = "less"'
    )
    result = CliRunner().invoke(main, ["run", str(plan), "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    for kind in ("selmodel", "selmodel_weights", "pet_peese", "tes"):
        assert (tmp_path / "out" / f"{kind}.csv").stat().st_size > 0
    assert "Selection model" in (tmp_path / "out" / "report.html").read_text()


@pytest.mark.requires_r
def test_analyze_adds_a_seeded_permutation_test():
    import ketabridge

    arguments = ["analyze", str(BCG_CSV), *BCG_RR, "--mods", "ablat", "--permutest", "50", "--permutest-seed", "7"]
    result = CliRunner().invoke(main, [*arguments, "--format", "json"])
    assert result.exit_code == 0, result.output
    glance = json.loads(result.stdout)["permutest"]["glance"]
    assert (glance["iterations"], glance["exact"], glance["seed"]) == (50, False, 7)
    # the same seed through the Python API gives the same permutation p-value
    effects = ketabridge.escalc("RR", str(BCG_CSV), ai="tpos", bi="tneg", ci="cpos", di="cneg")
    again = ketabridge.permutest(ketabridge.rma(effects, mods=["ablat"]), iter=50, seed=7).glance().iloc[0]
    assert glance["qm_pvalue"] == again["qm_pvalue"]
    text = CliRunner().invoke(main, arguments)
    assert "permutation test (50 random permutations, seed 7): QM(1) = " in text.output


@pytest.mark.requires_r  # the CLI reads the data (escalc, in R) before it checks the permutest options
def test_permutest_seed_needs_permutest():
    result = CliRunner().invoke(main, ["analyze", str(BCG_CSV), *BCG_RR, "--permutest-seed", "3"])
    assert result.exit_code == 2 and "--permutest-seed needs --permutest ITER" in result.output


def test_plan_permutest_settings(tmp_path):
    default = load_plan(_plan(tmp_path, '"permutest"')).analyses[0]
    assert default.permutest == {"iter": 1000, "seed": None, "exact": None}
    chosen = load_plan(_plan(tmp_path, '"permutest"', "[analysis.permutest]\niter = 200\nseed = 42"))
    assert chosen.analyses[0].permutest == {"iter": 200, "seed": 42, "exact": None}
    with pytest.raises(PlanError, match="permutest: is only used with extras"):
        load_plan(_plan(tmp_path, '"regtest"', "[analysis.permutest]\niter = 10"))
    with pytest.raises(PlanError, match="must be a number"):
        load_plan(_plan(tmp_path, '"permutest"', '[analysis.permutest]\nseed = "x"'))
    with pytest.raises(PlanError, match="unknown key"):
        load_plan(_plan(tmp_path, '"permutest"', "[analysis.permutest]\nreps = 10"))


@pytest.mark.requires_r
def test_plan_runs_the_permutation_test(tmp_path):
    plan = _plan(tmp_path, '"permutest"', "[analysis.permutest]\niter = 20\nseed = 3")
    result = CliRunner().invoke(main, ["run", str(plan), "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    glance = (tmp_path / "out" / "permutest.csv").read_text()
    assert "iterations" in glance and ",20,False,3," in glance
    assert (tmp_path / "out" / "permutest_tidy.csv").stat().st_size > 0
    assert "Permutation test" in (tmp_path / "out" / "report.html").read_text()
