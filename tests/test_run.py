"""`ketabridge run` on the bundled CRPS plan: every file, the numbers, and the report in a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from xml.etree import ElementTree

import pandas as pd
import pytest
from click.testing import CliRunner
from lane import REPO
from PIL import Image

from ketabridge.cli import main

CRPS = REPO / "data" / "crps_ketamine"
ANALYSES = ["pain_change_immediate", "relief_immediate", "relief_followup_1_3m"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    result = CliRunner().invoke(main, ["run", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result


@pytest.fixture(scope="module")
def independent():
    """Plain metafor on hand-picked rows of the public-sources file (tests/rscript/crps_independent.R)."""
    script = REPO / "tests" / "rscript" / "crps_independent.R"
    lines = subprocess.run(
        ["Rscript", str(script), str(CRPS / "crps_ketamine_public_sources.csv")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {name: float(value) for name, value in (line.split(",") for line in lines)}


@pytest.mark.requires_r
def test_summary_has_one_line_per_analysis_and_progress_is_shown(run_dir):
    _, result = run_dir
    summary = result.stdout.splitlines()
    assert summary[0].split()[:3] == ["analysis", "k", "estimate"]
    assert [line.split()[0] for line in summary[1:]] == ANALYSES
    assert "[1/3] pain_change_immediate" in result.stderr and "report.html" in result.stderr


@pytest.mark.requires_r
def test_pooled_numbers_equal_an_independent_metafor_run(run_dir, independent):
    out, _ = run_dir
    summary = pd.read_parquet(out / "summary.parquet").set_index("analysis")
    for name in ("relief_immediate", "pain_change_immediate"):
        for column in ("estimate", "conf_low", "conf_high", "tau2"):
            assert summary.loc[name, column] == pytest.approx(independent[f"{name}_{column}"], rel=1e-10), (
                name,
                column,
            )
    assert summary.loc["relief_followup_1_3m", "estimate"] == pytest.approx(
        independent["relief_followup_1_3m_estimate"], rel=1e-10
    )
    assert summary.loc["relief_immediate", "k"] == 3 and summary.loc["pain_change_immediate", "k"] == 2


@pytest.mark.requires_r
def test_comparison_sets_our_figures_beside_zhaos(run_dir):
    out, _ = run_dir
    comparison = pd.read_parquet(out / "comparison.parquet")
    published = pd.read_csv(CRPS / "zhao2018_reported.csv")  # Zhao et al. 2018, abstract
    immediate = comparison[comparison["analysis"] == "relief_immediate"]
    assert set(immediate["approach"]) == {"PR DL", "PLO REML", "PFT REML", "PAS REML", "PLO GLMM"}
    expected = published.set_index("timepoint").loc["immediate"]
    assert (immediate["published_estimate"] == expected["estimate"]).all()
    assert (immediate["difference"] == immediate["estimate"] - expected["estimate"]).all()


@pytest.mark.requires_r
def test_every_output_file_exists_and_parses(run_dir, installed):
    out, _ = run_dir
    for kind in ("summary", "glance", "studies", "proportions", "comparison", "correlation_grid", "leave1out", "notes"):
        parquet = pd.read_parquet(out / f"{kind}.parquet")
        csv = pd.read_csv(out / f"{kind}.csv")
        assert len(parquet) == len(csv) > 0 and parquet.columns[0] == "analysis", kind
    results = json.loads((out / "results.json").read_text())
    assert [a["name"] for a in results["analyses"]] == ANALYSES
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["metafor_version"] == installed["metafor_version"] and len(provenance["plan"]["sha256"]) == 64
    assert any(call.startswith("rma.uni(") for call in provenance["r_calls"]["relief_immediate"])
    for name in ANALYSES:
        for kind in ("forest", "funnel"):
            with Image.open(out / "plots" / f"{name}_{kind}.png") as image:
                image.load()
                assert image.width > 300 and image.height > 300
                assert sum(1 for count in image.convert("L").histogram() if count) > 2  # not blank
            assert ElementTree.parse(out / "plots" / f"{name}_{kind}.svg").getroot().tag.endswith("svg")


@pytest.mark.requires_r
def test_notes_say_what_was_left_out_and_why(run_dir):
    out, _ = run_dir
    notes = pd.read_parquet(out / "notes.parquet")
    pain = " ".join(notes.loc[notes["analysis"] == "pain_change_immediate", "note"])
    assert "Sigtermans 2009 left out: no baseline_mean" in pain  # 2009: after-treatment score only
    assert "fewer than 10 studies" in pain


class _Tables(HTMLParser):
    """Collects data-value of every number in a table, by (table kind, analysis, column)."""

    def __init__(self):
        super().__init__()
        self.values: dict[tuple, list[str]] = {}
        self.table = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.table = (attrs.get("data-table"), attrs.get("data-analysis"))
        elif tag in ("td", "span") and "data-value" in attrs:  # an interval cell has one span per bound
            self.values.setdefault((*self.table, attrs["data-column"]), []).append(attrs["data-value"])


@pytest.mark.requires_r
def test_report_numbers_equal_the_parquet_results(run_dir):
    out, _ = run_dir
    parser = _Tables()
    parser.feed((out / "report.html").read_text())
    checked = 0
    for (kind, analysis, column), shown in parser.values.items():
        table = pd.read_parquet(out / f"{kind}.parquet")
        if analysis is not None:
            table = table[table["analysis"] == analysis]
        stored = [float(value) for value in table[column]]
        assert [float(value) for value in shown] == pytest.approx(stored, rel=0, abs=0, nan_ok=True), (
            kind,
            analysis,
            column,
        )
        checked += len(shown)
    assert checked > 100


@pytest.mark.requires_r
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make setup installs it as root)")
def test_report_renders_in_headless_chromium_with_its_images(run_dir, tmp_path):
    out, _ = run_dir
    page = tmp_path / "report.html"
    checker = (
        '<script>window.addEventListener("load", () => document.body.setAttribute("data-images", '
        "JSON.stringify([...document.images].map(i => i.complete && i.naturalWidth > 0))));</script>"
    )
    page.write_text((out / "report.html").read_text().replace("</body>", checker + "</body>"))
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "<h1>IV ketamine for complex regional pain syndrome" in dom
    loaded = json.loads(dom.split('data-images="')[1].split('"')[0].replace("&quot;", '"'))
    assert len(loaded) == 2 * len(ANALYSES) and all(loaded)


def copy_of_bundled_plan(tmp_path, old: str, new: str):
    folder = tmp_path / "crps"
    shutil.copytree(CRPS, folder, ignore=shutil.ignore_patterns("__*"))
    text = (folder / "plan.toml").read_text()
    assert old in text
    (folder / "plan.toml").write_text(text.replace(old, new))
    return folder / "plan.toml"


@pytest.mark.requires_r
def test_the_dispersion_assumption_is_the_plans_to_change(tmp_path):
    """With "±" read as an SD, Sigtermans 2010's MC variance is (sd1² + sd2² - 2·ri·sd1·sd2)/n of the printed values."""
    from ketabridge.plans.plan_file import load_plan
    from ketabridge.plans.runner import run_plan

    plan = load_plan(copy_of_bundled_plan(tmp_path, 'unknown_as = "SE"', 'unknown_as = "SD"'))
    run = run_plan(plan)
    studies = run.runs[0].tables["studies"].set_index("study")
    assert studies.loc["Sigtermans 2010", "vi"] == pytest.approx(
        (0.3**2 + 0.2**2 - 2 * 0.5 * 0.3 * 0.2) / 10, rel=1e-12
    )
    assert studies.loc["Patil 2012", "vi"] == pytest.approx(0.51**2, rel=1e-12)  # a stated SE stays an SE
    assert set(run.data.loc[run.data["row_id"] == "S10-0", "sd_assumption"]) == {"unknown taken as SD"}


def test_a_filter_on_a_missing_column_names_plan_and_column(tmp_path):
    from ketabridge.plans.plan_file import PlanError, load_plan
    from ketabridge.plans.runner import run_plan

    plan = load_plan(copy_of_bundled_plan(tmp_path, "first_in_window = true }", "first_in_windw = true }"))
    with pytest.raises(PlanError, match="plan.toml: analysis pain_change_immediate.where: no column 'first_in_windw'"):
        run_plan(plan)


def test_a_misspelled_effect_column_stops_the_plan_before_it_runs(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(copy_of_bundled_plan(tmp_path, 'sd1i = "post_sd"', 'sd1i = "post_sdx"')),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ],
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: plan.toml: analysis pain_change_immediate.effect[0]: no column 'post_sdx'")
    assert not (tmp_path / "out").exists()


def test_a_dispersion_type_other_than_sd_or_se_follows_the_plans_rule():
    from ketabridge.plans.plan_file import Dispersion
    from ketabridge.plans.runner import derive_sds

    data = pd.DataFrame({"x_disp": [1.0, 1.0, 1.0, 1.0], "kind": ["SD", "SE", "unknown", "IQR"], "n": [4, 4, 4, 4]})
    derived = derive_sds(data, Dispersion(("x_disp",), "kind", "n", "SE"), "p.toml")
    assert list(derived["x_sd"]) == [1.0, 2.0, 2.0, 2.0]  # SE -> SD is x * sqrt(n)
    assert list(derived["sd_assumption"]) == ["", "", "unknown taken as SE", "unknown taken as SE"]


@pytest.mark.requires_r
def test_report_says_which_r_and_metafor_made_it(run_dir, installed):
    out, _ = run_dir
    page = (out / "report.html").read_text()
    assert f"R {installed['r_version']}, metafor {installed['metafor_version']}, rpy2 " in page
