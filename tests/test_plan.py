"""Analysis plans: the bundled plan parses; each kind of mistake names the file, the key and the choices."""

from __future__ import annotations

import shutil

import pytest
from lane import REPO

from ketabridge.options import METHODS
from ketabridge.plans.plan_file import EXTRAS, PlanError, bundled_plan_path, load_plan

CRPS = REPO / "data" / "crps_ketamine"

GOOD = """
title = "t"
data = "data.csv"
[[analysis]]
name = "first"
method = "DL"
extras = ["leave1out"]
[analysis.effect]
measure = "PLO"
xi = "events"
ni = "total"
"""


@pytest.fixture
def plan_dir(tmp_path):
    (tmp_path / "data.csv").write_text("events,total\n1,10\n2,20\n")
    return tmp_path


def write(folder, text, name="my_plan.toml"):
    path = folder / name
    path.write_text(text)
    return path


def test_bundled_plan_is_the_case_study():
    plan = load_plan(bundled_plan_path())
    assert bundled_plan_path() == CRPS / "plan.toml"
    assert [a.name for a in plan.analyses] == ["pain_change_immediate", "relief_immediate", "relief_followup_1_3m"]
    assert plan.data == CRPS / "crps_ketamine.parquet" and plan.published == CRPS / "zhao2018_reported.csv"
    assert plan.dispersion.unknown_as == "SE"
    pain = plan.analyses[0]
    assert [e.measure for e in pain.effects] == ["MC", "MN"] and pain.ri == 0.5 and 0.9 in pain.ri_grid


def test_a_small_good_plan(plan_dir):
    plan = load_plan(write(plan_dir, GOOD))
    (analysis,) = plan.analyses
    assert (analysis.method, analysis.test, analysis.level) == ("DL", "z", 95.0)
    assert analysis.effects[0].columns == {"xi": "events", "ni": "total"}
    assert analysis.extras == ("leave1out",) and analysis.plots == ()


@pytest.mark.parametrize(
    "change, key, allowed",
    [
        (('method = "DL"', 'method = "RMEL"'), "analysis[0].method", ", ".join(METHODS)),
        (('extras = ["leave1out"]', 'extras = ["funnel"]'), "analysis[0].extras", ", ".join(EXTRAS)),
        (('title = "t"', 'titel = "t"'), "titel", "allowed keys here: title, description"),
        (('name = "first"', 'name = "first"\ncolour = "red"'), "analysis[0].colour", "allowed keys here: name, title"),
        (('measure = "PLO"', 'measure = "PLOT"'), "analysis[0].effect[0].measure", "choose one of: RR, OR"),
        (('xi = "events"', "xi = 3"), "analysis[0].effect[0].xi", "must be a column name"),
        (('method = "DL"', 'method = "DL"\nri = 1.5'), "analysis[0].ri", "not a correlation in [-1, 1]"),
        (('method = "DL"', 'method = "DL"\nri = 0.5'), "analysis[0].ri", "needs an effect whose measure uses ri: MC"),
        (('method = "DL"', 'method = "DL"\nlevel = "high"'), "analysis[0].level", "must be a number"),
        (('name = "first"', 'name = "first one"'), "analysis[0].name", "letters, digits and underscores"),
        (('data = "data.csv"', 'data = "nowhere.csv"'), "data", "not found next to the plan"),
        (
            ('method = "DL"', 'method = "DL"\nwhere = { design = {} }'),
            "analysis[0].where.design",
            "string, number or boolean",
        ),
        (
            ('measure = "PLO"\nxi = "events"\nni = "total"', 'yi = "events"'),
            "analysis[0].effect[0]",
            "yi with vi or sei",
        ),
    ],
)
def test_bad_plans_name_the_file_the_key_and_the_choices(plan_dir, change, key, allowed):
    old, new = change
    assert old in GOOD
    with pytest.raises(PlanError) as error:
        load_plan(write(plan_dir, GOOD.replace(old, new)))
    message = str(error.value)
    assert message.startswith(f"my_plan.toml: {key}:"), message
    assert allowed in message


def test_no_analysis_and_repeated_names(plan_dir):
    with pytest.raises(PlanError, match=r"analysis: missing \(required\)"):
        load_plan(write(plan_dir, 'data = "data.csv"\n'))
    with pytest.raises(PlanError, match="repeated: first"):
        load_plan(write(plan_dir, GOOD + GOOD[GOOD.index("[[analysis]]") :]))


def test_not_toml_and_no_file(plan_dir):
    with pytest.raises(PlanError, match="my_plan.toml: not valid TOML"):
        load_plan(write(plan_dir, "title = \n"))
    with pytest.raises(PlanError, match="no such plan file"):
        load_plan(plan_dir / "absent.toml")


def test_paths_are_relative_to_the_plan(tmp_path):
    copy = tmp_path / "elsewhere"
    shutil.copytree(CRPS, copy, ignore=shutil.ignore_patterns("__*"))
    plan = load_plan(copy / "plan.toml")
    assert plan.data == copy / "crps_ketamine.parquet"


def test_ri_as_column_and_as_assumption_is_refused(plan_dir):
    text = GOOD.replace(
        'measure = "PLO"\nxi = "events"\nni = "total"',
        'measure = "MC"\nm1i = "a"\nm2i = "b"\nsd1i = "c"\nsd2i = "d"\nni = "n"\nri = "r"',
    )
    with pytest.raises(
        PlanError, match=r"analysis\[0\].effect\[0\].ri: give the pre-post correlation either as a column"
    ):
        load_plan(write(plan_dir, text.replace('method = "DL"', 'method = "DL"\nri = 0.5')))
