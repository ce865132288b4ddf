"""`ketabridge analyze --forest/--funnel`: real image files from the command line, and clean errors."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest
from click.testing import CliRunner
from lane import BCG_CSV
from PIL import Image

from ketabridge.cli import main

BCG_RR = [
    "analyze",
    str(BCG_CSV),
    "--measure",
    "RR",
    "--ai",
    "tpos",
    "--bi",
    "tneg",
    "--ci",
    "cpos",
    "--di",
    "cneg",
    "--slab",
    "author",
    "--format",
    "csv",
]


def run(*arguments: str):
    return CliRunner().invoke(main, [*BCG_RR, *arguments])


@pytest.mark.requires_r
def test_forest_and_funnel_files_are_written(tmp_path):
    forest, funnel = tmp_path / "forest.png", tmp_path / "funnel.svg"
    result = run(
        "--forest", str(forest), "--funnel", str(funnel), "--plot-width", "5", "--plot-height", "4", "--dpi", "80"
    )
    assert result.exit_code == 0, result.output
    with Image.open(forest) as image:
        assert image.size == (400, 320)
        assert len(image.convert("L").getcolors(maxcolors=256)) > 2  # not a blank page
    # R's svg() device writes points, with the unit (cairo 1.16) or without it (cairo 1.18)
    assert ElementTree.parse(funnel).getroot().get("width").removesuffix("pt") == "360"
    assert f"wrote {forest}" in result.stderr and f"wrote {funnel}" in result.stderr
    assert result.stdout.startswith("k,measure,method")  # the analysis output is unchanged


@pytest.mark.requires_r
def test_funnel_of_trimfill_with_contours(tmp_path):
    funnel = tmp_path / "funnel.pdf"
    result = run("--trimfill", "--funnel", str(funnel), "--funnel-contours")
    assert result.exit_code == 0, result.output
    assert funnel.read_bytes().startswith(b"%PDF-")
    assert b"/MediaBox [0 0 432 360]" in funnel.read_bytes()  # funnel's default 6 x 5 inches


def test_unknown_image_suffix_is_a_usage_error_before_any_analysis(tmp_path):
    result = run("--forest", str(tmp_path / "forest.jpg"))
    assert result.exit_code == 2
    assert f"Invalid value for '--forest': '{tmp_path / 'forest.jpg'}' must end in .png, .svg, .pdf" in result.output


@pytest.mark.parametrize(
    "options, message",
    [
        (["--plot-width", "0"], "Error: width is in inches and must be a number in (0, 100], not 0.0"),
        (["--dpi", "1"], "Error: dpi must be a whole number from 10 to 2400, not 1"),
        (["--plot-width", "1", "--plot-height", "1"], "Error: metafor error: figure margins too large"),
    ],
)
@pytest.mark.requires_r
def test_plot_errors_end_in_one_line(tmp_path, options, message):
    result = run("--forest", str(tmp_path / "forest.png"), *options)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "forest.png").exists()
