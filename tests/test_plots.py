"""Forest and funnel plots: real files from metafor's forest()/funnel(), opened and checked.

Each image is opened as what its suffix says (Pillow for PNG, XML for SVG, the PDF header,
MediaBox and its decompressed page text for PDF) and checked for its size in pixels or points
and for ink. Numbers expected on the plots come from cited sources: the BCG pooled risk ratio
is metafor's documented REML fit of Colditz et al. (1994) (tests/reference/bcg_colditz1994.json:
estimate -0.7145, CI -1.0669 to -0.3622, so exp() prints 0.49 [0.34, 0.70]); the Freeman-Tukey
back-transformed mean is Miller (1978, p. 138: 0.3595, printed by forest as 0.36).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
import zlib
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import ketabridge

pytestmark = pytest.mark.requires_r

MILLER_1978 = pd.DataFrame({"study": ["1", "2", "3", "4"], "xi": [3, 6, 10, 1], "ni": [11, 17, 21, 6]})
GRAY55 = "0.549 0.549 0.549"  # R's gray55 in PDF colour operators: filled studies and contours
GRAY75 = "0.749 0.749 0.749"


@pytest.fixture(scope="module")
def bcg_result():
    from lane import BCG_CSV

    effects = ketabridge.escalc("RR", pd.read_csv(BCG_CSV), ai="tpos", bi="tneg", ci="cpos", di="cneg")
    return ketabridge.rma(effects, slab="author")


@pytest.fixture(scope="module")
def bcg_filled(bcg_result):
    return ketabridge.trimfill(bcg_result)


def ink_fraction(path: Path) -> float:
    """Share of pixels that are not white: 0 for a blank image."""
    grey = Image.open(path).convert("L")
    histogram = grey.histogram()
    return 1 - histogram[255] / sum(histogram)


def svg_points(root) -> tuple[float, float]:
    """The SVG's width and height in points: R's svg() device (cairo) writes points, with the
    unit ("504pt", cairo 1.16) or without it ("504", cairo 1.18)."""
    return tuple(float(root.get(side).removesuffix("pt")) for side in ("width", "height"))


def pdf_pages(path: Path) -> tuple[list[tuple[float, ...]], str]:
    """The MediaBoxes and the decompressed drawing operators of a PDF written by R's pdf()."""
    data = path.read_bytes()
    assert data.startswith(b"%PDF-1."), data[:10]
    boxes = [tuple(float(v) for v in box.split()) for box in re.findall(rb"/MediaBox \[([^\]]*)\]", data)]
    streams = []
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", data, flags=re.S):
        try:
            streams.append(zlib.decompress(raw).decode("latin-1"))
        except zlib.error:
            streams.append(raw.decode("latin-1"))
    return boxes, "\n".join(streams)


def strokes(operators: str) -> int:
    """How many paths a PDF page strokes (R's pdf() ends each drawn line with S)."""
    return len(re.findall(r"(?m)\bS$", operators))


def pdf_text(operators: str) -> str:
    """The text R drew, with kerning pieces of TJ arrays joined: '(F) 30 (erguson)' -> 'Ferguson'."""
    pieces = re.findall(r"\((.*?)(?<!\\)\) Tj|\[(.*?)\] TJ", operators)
    words = [single or "".join(re.findall(r"\((.*?)(?<!\\)\)", kerned)) for single, kerned in pieces]
    return "\n".join(word.replace("\\(", "(").replace("\\)", ")") for word in words)


def test_forest_png_has_the_requested_pixels_and_ink(bcg_result, tmp_path):
    written = ketabridge.forest(bcg_result, tmp_path / "forest.png", width=5, height=6, dpi=100)
    assert written == tmp_path / "forest.png"
    with Image.open(written) as image:
        assert image.format == "PNG"
        assert image.size == (500, 600)
    assert 0.01 < ink_fraction(written) < 0.5


def test_forest_svg_is_xml_of_the_requested_size(bcg_result, tmp_path):
    written = ketabridge.forest(bcg_result, tmp_path / "forest.svg", width=7, height=5.5)
    root = ElementTree.parse(written).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg_points(root) == (504, 396)  # 72 points per inch
    drawn = [e for e in root.iter("{http://www.w3.org/2000/svg}path") if len(e.get("d", "")) > 10]
    assert len(drawn) > 50  # glyphs, CI lines and squares: a blank page has none


def test_forest_pdf_shows_back_transformed_ratios_and_the_prediction_interval(bcg_result, tmp_path):
    boxes, operators = pdf_pages(ketabridge.forest(bcg_result, tmp_path / "forest.pdf", width=8, height=7))
    assert boxes == [(0, 0, 576, 504)]
    text = pdf_text(operators)
    assert "Aronson" in text and "Comstock & Webster" in text  # study labels from slab=
    assert "0.49 [0.34, 0.70]" in text  # Colditz (1994) pooled RR, metafor's documented REML fit
    assert "Risk Ratio (log scale)" in text
    # The prediction interval is drawn as extra strokes; their colour and style change between
    # metafor releases (4.8 added predstyle), so count the line segments R drew instead.
    _, no_prediction = pdf_pages(ketabridge.forest(bcg_result, tmp_path / "plain.pdf", addpred=False))
    assert strokes(operators) > strokes(no_prediction)
    _, model_scale = pdf_pages(ketabridge.forest(bcg_result, tmp_path / "log.pdf", back_transform=False))
    assert "-0.71 [-1.07, -0.36]" in pdf_text(model_scale)  # the same fit on the log scale


def test_forest_of_trimfill_draws_the_filled_study_in_grey(bcg_filled, tmp_path):
    _, operators = pdf_pages(ketabridge.forest(bcg_filled, tmp_path / "filled.pdf"))
    text = pdf_text(operators)
    assert "Filled 1" in text  # metafor's label for the one study L0 fills for BCG (k0 = 1)
    assert GRAY55 in operators


def test_forest_of_an_observed_model_has_no_grey_studies(bcg_result, tmp_path):
    _, operators = pdf_pages(ketabridge.forest(bcg_result, tmp_path / "observed.pdf"))
    assert GRAY55 not in operators and "Filled" not in pdf_text(operators)


def test_forest_of_freeman_tukey_is_on_the_proportion_scale(tmp_path):
    effects = ketabridge.escalc("PFT", MILLER_1978, xi="xi", ni="ni")
    result = ketabridge.rma(effects, method="EE", slab="study")
    _, operators = pdf_pages(ketabridge.forest(result, tmp_path / "miller.pdf"))
    text = pdf_text(operators)
    assert "0.36 [" in text  # Miller (1978, p. 138): weighted mean back-transformed, 0.3595
    assert "Proportion" in text


def test_funnel_png_and_contours(bcg_result, tmp_path):
    written = ketabridge.funnel(bcg_result, tmp_path / "funnel.png", width=4, height=3, dpi=120)
    with Image.open(written) as image:
        assert image.size == (480, 360)
    assert ink_fraction(written) > 0.05  # metafor's grey background and points

    _, plain = pdf_pages(ketabridge.funnel(bcg_result, tmp_path / "plain.pdf"))
    boxes, contoured = pdf_pages(ketabridge.funnel(bcg_result, tmp_path / "contours.pdf", contours=True))
    assert boxes == [(0, 0, 432, 360)]  # the default 6 x 5 inches
    assert GRAY55 in contoured and GRAY75 in contoured  # the 90-95% and 95-99% regions of ?funnel
    assert GRAY55 not in plain and GRAY75 not in plain
    assert pdf_text(contoured).count("<") == 4  # the legend's four p-value bands (drawn as plotmath)


def test_funnel_of_trimfill_draws(bcg_filled, tmp_path):
    written = ketabridge.funnel(bcg_filled, tmp_path / "filled.svg")
    assert svg_points(ElementTree.parse(written).getroot())[0] == 432


@pytest.mark.parametrize(
    "path, options, message",
    [
        ("plot.jpg", {}, "must end in .png, .svg, .pdf"),
        ("missing/plot.png", {}, "does not exist"),
        ("plot.png", {"width": 0}, "width is in inches"),
        ("plot.png", {"height": float("nan")}, "height is in inches"),
        ("plot.png", {"dpi": 5}, "dpi must be a whole number"),
        ("plot.png", {"dpi": 150.0}, "dpi must be a whole number"),
    ],
)
def test_bad_plot_options_raise_input_error(bcg_result, tmp_path, path, options, message):
    with pytest.raises(ketabridge.InputError, match=re.escape(message)):
        ketabridge.forest(bcg_result, tmp_path / path, **options)
    assert not (tmp_path / path).exists()


def test_plots_take_results_only(bcg_result, tmp_path):
    with pytest.raises(ketabridge.InputError, match="plots take the result of ketabridge.rma"):
        ketabridge.funnel(ketabridge.ranktest(bcg_result), tmp_path / "x.png")


def test_freeman_tukey_axis_needs_sample_sizes(tmp_path):
    effects = ketabridge.escalc("PFT", MILLER_1978, xi="xi", ni="ni").drop(columns="ni")
    result = ketabridge.rma(effects, measure="PFT")
    with pytest.raises(ketabridge.InputError, match="needs the studies' sample sizes"):
        ketabridge.forest(result, tmp_path / "x.png")
    assert ketabridge.forest(result, tmp_path / "x.png", back_transform=False).exists()


def test_a_plot_that_cannot_be_drawn_raises_and_closes_its_device(bcg_result, tmp_path):
    import rpy2.rinterface as ri

    with pytest.raises(ketabridge.MetaforError, match="figure margins too large: the page is too small"):
        ketabridge.forest(bcg_result, tmp_path / "tiny.png", width=1, height=1)
    assert not (tmp_path / "tiny.png").exists()
    graphics_devices = ri.baseenv.find("getNamespace")(ri.StrSexpVector(["grDevices"]))
    assert graphics_devices.find("dev.list")() is ri.NULL  # on.exit closed the device it opened
    assert ketabridge.forest(bcg_result, tmp_path / "after.png").exists()


def test_percent_in_the_file_name_is_kept(bcg_result, tmp_path):
    # R's devices read %d as a page number; the path must be taken literally
    assert ketabridge.funnel(bcg_result, tmp_path / "funnel 100%d.png").exists()


def test_plots_refuse_a_subgroup_result_before_reading_it(bcg_result, tmp_path):
    from lane import BCG_CSV

    effects = ketabridge.escalc("RR", pd.read_csv(BCG_CSV), ai="tpos", bi="tneg", ci="cpos", di="cneg")
    by_allocation = ketabridge.rma(effects, subgroup="alloc")
    with pytest.raises(ketabridge.InputError, match="plots take the result of .* not SubgroupResult"):
        ketabridge.forest(by_allocation, tmp_path / "x.png")  # the default height reads the glance table


def test_a_failed_plot_keeps_the_file_already_at_its_path(bcg_result, tmp_path):
    existing = tmp_path / "keep.png"
    existing.write_bytes(b"the user's own file")
    with pytest.raises(ketabridge.MetaforError, match="figure margins too large"):
        ketabridge.forest(bcg_result, existing, width=1, height=1)
    assert existing.read_bytes() == b"the user's own file"
    assert [path.name for path in tmp_path.iterdir()] == ["keep.png"]  # no half-drawn file left behind
    assert ketabridge.forest(bcg_result, existing) == existing.absolute()
    assert existing.read_bytes().startswith(b"\x89PNG")  # drawn over it when the plot succeeds
