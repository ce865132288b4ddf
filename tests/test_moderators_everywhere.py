"""Moderator formulas wherever mods= is taken: batch (each analysis fitted with the same model,
per-analysis status where it cannot be), the engine="fast" route (to metafor), plans and the
CLI. Each is compared with rma() on the same rows, whose formula numbers test_formulas.py checks
against metafor run directly."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from lane import REPO

import ketabridge
from ketabridge import InputError
from ketabridge.cli import main
from ketabridge.plans.plan_file import PlanError, load_plan
from ketabridge.plans.runner import run_plan

BCG_CSV = REPO / "data" / "bcg" / "bcg.csv"
FORMULA = "~ ablat + factor(alloc)"


@pytest.fixture(scope="module")
def effects() -> pd.DataFrame:
    return ketabridge.escalc("RR", BCG_CSV, ai="tpos", bi="tneg", ci="cpos", di="cneg")


@pytest.fixture(scope="module")
def long(effects) -> pd.DataFrame:
    # analysis "c" has one allocation only, so factor(alloc) cannot be fitted there
    return pd.concat(
        [effects.assign(group="a"), effects.iloc[::-1].assign(group="b"), effects.iloc[:6].assign(group="c")],
        ignore_index=True,
    ).assign(alloc=lambda frame: frame["alloc"].where(frame["group"] != "c", "random"))


@pytest.fixture(scope="module")
def batch_run(long):
    return ketabridge.batch(long, "group", mods=FORMULA, workers=0)


@pytest.mark.requires_r
def test_batch_fits_every_analysis_with_the_formula(long, batch_run):
    status = batch_run.status().set_index("analysis_id")
    assert status.loc[["a", "b"], "status"].tolist() == ["ok", "ok"]
    assert status.loc["c", "status"] == "error"
    assert "contrasts can be applied only to factors with 2 or more levels" in status.loc["c", "message"]
    assert "mods = ~ ablat + factor(alloc)" in status.loc["a", "r_call"]
    tidy = batch_run.tidy()
    for group in ("a", "b"):
        expected = ketabridge.rma(long[long["group"] == group], mods=FORMULA).tidy()
        got = tidy[tidy["analysis_id"] == group].drop(columns="analysis_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-10)
    assert batch_run.provenance.details["options"]["mods"] == FORMULA


@pytest.mark.requires_r
def test_batch_fast_engine_routes_moderators_to_metafor(long, batch_run):
    fast = ketabridge.batch(long, "group", mods=FORMULA, engine="fast", workers=0)
    assert (fast.status()["engine"] == "metafor").all()
    pd.testing.assert_frame_equal(fast.tidy(), batch_run.tidy())
    columns = ketabridge.batch(long[long["group"] != "c"], "group", mods=["ablat"], workers=0).tidy()
    assert columns["term"].tolist() == ["intrcpt", "ablat"] * 2


@pytest.mark.requires_r  # the fixture's effect sizes come from escalc (R); the refusals themselves need none
def test_batch_mods_bad_input_before_r(long):
    with pytest.raises(InputError, match=r"calls system\(\), which is not allowed"):
        ketabridge.batch(long, "group", mods="~ system('ls')")
    with pytest.raises(InputError, match="latitude"):
        ketabridge.batch(long, "group", mods="~ latitude")
    with pytest.raises(InputError, match="cannot be a moderator"):
        ketabridge.batch(long, "group", mods="~ yi")


PLAN = """
title = "bcg"
data = "bcg.csv"
[[analysis]]
name = "latitude"
mods = "{mods}"
[analysis.effect]
measure = "RR"
ai = "tpos"
bi = "tneg"
ci = "cpos"
di = "cneg"
"""


@pytest.mark.requires_r
def test_plan_analysis_takes_a_formula(tmp_path, effects):
    (tmp_path / "bcg.csv").write_bytes(BCG_CSV.read_bytes())
    (tmp_path / "plan.toml").write_text(PLAN.format(mods=FORMULA))
    run = run_plan(load_plan(tmp_path / "plan.toml"))
    (analysis,) = run.runs
    expected = ketabridge.rma(effects, mods=FORMULA).tidy()
    pd.testing.assert_frame_equal(analysis.tables["tidy"], expected, check_exact=False, rtol=1e-10)
    (tmp_path / "plan.toml").write_text(PLAN.format(mods="~ ablat + latitude"))
    with pytest.raises(PlanError, match=r"analysis latitude.mods: mods formula names 'latitude'"):
        run_plan(load_plan(tmp_path / "plan.toml"))


@pytest.mark.requires_r
def test_cli_analyze_takes_a_formula(effects):
    runner = CliRunner()
    args = ["analyze", str(BCG_CSV), "--measure", "RR", "--ai", "tpos", "--bi", "tneg", "--ci", "cpos", "--di", "cneg"]
    result = runner.invoke(main, [*args, "--mods", FORMULA, "--format", "json"], prog_name="ketabridge")
    assert result.exit_code == 0, result.output
    tidy = json.loads(result.stdout)["tidy"]
    expected = ketabridge.rma(effects, mods=FORMULA).tidy()
    assert [row["term"] for row in tidy] == expected["term"].tolist()
    assert [row["estimate"] for row in tidy] == pytest.approx(expected["estimate"].tolist(), rel=1e-10)
    both = runner.invoke(main, [*args, "--mods", FORMULA, "--mods", "year"], prog_name="ketabridge")
    assert both.exit_code == 2 and "one formula or repeated column names" in both.output


@pytest.mark.requires_r
def test_cli_batch_takes_a_formula(tmp_path, long):
    path = tmp_path / "long.csv"
    long.to_csv(path, index=False)
    result = CliRunner().invoke(
        main,
        ["batch", str(path), "--by", "group", "--mods", FORMULA, "--out", str(tmp_path / "out")],
        prog_name="ketabridge",
    )
    assert result.exit_code == 0, result.output
    assert "3 analyses: 2 ok, 0 warning, 1 error" in result.output
    tidy = pd.read_parquet(tmp_path / "out" / "tidy.parquet")
    expected = ketabridge.rma(long[long["group"] == "a"], mods=FORMULA).tidy()
    assert tidy[tidy["analysis_id"] == "a"]["term"].tolist() == expected["term"].tolist()
