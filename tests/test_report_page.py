"""report.html as a reader sees it: sentences first, the comparison figure, worded headers, and
in headless chromium at 1280 and 800 px no element wider than the page and every image loaded.

Screenshots at both widths are written under pytest's temporary folder (their paths are printed);
set KETABRIDGE_REPORT_SHOTS=<folder> to keep copies there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd
import pytest
from click.testing import CliRunner
from lane import REPO
from PIL import Image

from ketabridge.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTHS = (1280, 800)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make setup installs it)")

# Injected into a copy of the page: after load, every element whose right edge passes the
# viewport and is not inside a box that scrolls or clips it, the document's own scroll width,
# and whether each image decoded.
CHECK = """<script>
window.addEventListener("load", () => {
  const width = document.documentElement.clientWidth;
  const clipped = (element) => {
    for (let box = element.parentElement; box; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowX;
      if (overflow !== "visible" && box.getBoundingClientRect().right <= width + 0.5) return true;
    }
    return false;
  };
  const wide = [...document.body.querySelectorAll("*")]
    .filter((e) => e.getBoundingClientRect().right > width + 0.5 && !clipped(e))
    .map((e) => e.tagName + (e.id ? "#" + e.id : "") + " " + Math.round(e.getBoundingClientRect().right));
  document.body.setAttribute("data-check", JSON.stringify({
    width, scroll_width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight,
    wide, images: [...document.images].map((i) => i.complete && i.naturalWidth > 0),
    svgs: document.querySelectorAll("svg.comparison").length,
    scroll_boxes: document.querySelectorAll(".table-scroll").length,
  }));
});
</script>"""


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    result = CliRunner().invoke(main, ["run", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def chromium(*arguments: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
    return subprocess.run([CHROMIUM, *flags, *arguments], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def browser_checks(out, tmp_path_factory):
    """The page measured at each width, then a screenshot of the whole page at that width."""
    folder = tmp_path_factory.mktemp("report-shots")
    page = folder / "report.html"
    page.write_text((out / "report.html").read_text().replace("</body>", CHECK + "</body>"))
    checks = {}
    for width in WIDTHS:
        dom = chromium(f"--window-size={width},900", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()).stdout
        check = json.loads(dom.split('data-check="')[1].split('"')[0].replace("&quot;", '"'))
        shot = folder / f"report-{width}.png"
        chromium(f"--window-size={width},{check['height']}", f"--screenshot={shot}", (out / "report.html").as_uri())
        checks[width] = {**check, "shot": shot}
        print(f"screenshot at {width} px: {shot}")
        if os.environ.get("KETABRIDGE_REPORT_SHOTS"):
            keep = Path(os.environ["KETABRIDGE_REPORT_SHOTS"])
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, keep / shot.name)
    return checks


@pytest.mark.requires_r
@needs_chromium
@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_is_wider_than_the_page(browser_checks, width):
    check = browser_checks[width]
    assert check["width"] == width
    assert check["wide"] == [], f"elements past the right edge at {width} px"
    assert check["scroll_width"] <= width  # the page itself never scrolls sideways
    assert check["scroll_boxes"] > 10  # wide tables scroll in their own box instead


@pytest.mark.requires_r
@needs_chromium
def test_the_print_stylesheet_fits_wide_tables_on_paper(out, tmp_path):
    """The print rules applied on screen (@media print read as @media all) at A4's printable width
    (210 mm less 2 x 10 mm margins at 96 px per inch: 718 px): nothing passes the edge, with no
    scroll box to hide it in."""
    page = tmp_path / "print.html"
    html = (out / "report.html").read_text()
    assert html.count("@media print") == 1
    page.write_text(html.replace("@media print", "@media all").replace("</body>", CHECK + "</body>"))
    dom = chromium("--window-size=718,900", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()).stdout
    check = json.loads(dom.split('data-check="')[1].split('"')[0].replace("&quot;", '"'))
    assert check["wide"] == [] and check["scroll_width"] <= 718


@pytest.mark.requires_r
@needs_chromium
@pytest.mark.parametrize("width", WIDTHS)
def test_every_image_loaded_and_the_comparison_figures_are_drawn(browser_checks, width):
    check = browser_checks[width]
    assert len(check["images"]) == 6 and all(check["images"])  # forest and funnel of three analyses
    assert check["svgs"] == 2  # relief_immediate and relief_followup_1_3m have published counterparts


@pytest.mark.requires_r
@needs_chromium
@pytest.mark.parametrize("width", WIDTHS)
def test_screenshots_show_the_whole_page_at_each_width(browser_checks, width):
    check = browser_checks[width]
    with Image.open(check["shot"]) as shot:
        shot.load()
        assert shot.width == width and shot.height == check["height"] > 3000
        assert sum(1 for count in shot.convert("L").histogram() if count) > 20  # text and plots, not a blank page


class _Page(HTMLParser):
    """Sentences, header texts with their code names, the TOC's targets and the section ids."""

    def __init__(self):
        super().__init__()
        self.headers: dict[str, str] = {}
        self.sentences: dict[str, str] = {}
        self.toc: list[str] = []
        self.ids: set[str] = set()
        self.marks: list[dict] = []
        self._figure: str | None = None
        self._open: tuple | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "th":
            self._open = ("th", attrs["data-code"], "")
        elif tag == "p" and attrs.get("class") == "sentence":
            self._open = ("p", attrs["data-analysis"], "")
        elif tag == "a" and attrs.get("href", "").startswith("#") and self._open is None:
            self.toc.append(attrs["href"][1:])
        elif tag == "svg":
            self._figure = attrs["data-analysis"]
        elif tag == "g" and "data-approach" in attrs:
            self.marks.append({**attrs, "figure": self._figure})

    def handle_data(self, data):
        if self._open is not None:
            self._open = (*self._open[:2], self._open[2] + data)

    def handle_endtag(self, tag):
        if self._open is not None and tag == {"th": "th", "p": "p"}[self._open[0]]:
            kind, key, content = self._open
            (self.headers if kind == "th" else self.sentences)[key] = content
            self._open = None


@pytest.fixture(scope="module")
def page(out) -> _Page:
    parsed = _Page()
    parsed.feed((out / "report.html").read_text())
    return parsed


@pytest.mark.requires_r
def test_the_summary_says_each_pooled_estimate_in_words(out, page):
    summary = pd.read_parquet(out / "summary.parquet").set_index("analysis")
    assert list(page.sentences) == list(summary.index)
    relief = page.sentences["relief_immediate"]
    row = summary.loc["relief_immediate"]
    # the shares in percent, from summary.parquet, and Zhao 2018's 69 % [53, 84] (abstract, PMID 29404715)
    shares = [f"{100 * row[c]:.0f} %" for c in ("estimate", "conf_low", "conf_high", "pi_low", "pi_high")]
    assert f"pooled share {shares[0]} (95 % CI {shares[1]} to {shares[2]}) from 3 studies" in relief
    assert f"95 % prediction interval {shares[3]} to {shares[4]}" in relief
    assert f"I² = {row['i2']:.0f} %" in relief and "Published: 69 % (95 % CI 53 % to 84 %)" in relief
    pain = page.sentences["pain_change_immediate"]
    assert f"pooled estimate {summary.loc['pain_change_immediate', 'estimate']:.3g}".replace("-", "\u2212") in pain


@pytest.mark.requires_r
def test_headers_are_words_with_the_code_name_at_hand(page):
    assert page.headers["conf_low, conf_high"] == "95 % CI"
    assert (
        page.headers["q_pvalue"] == "Q p-value" and page.headers["i2"] == "I²" and page.headers["tau2_se"] == "SE of τ²"
    )
    assert not any("_" in header for header in page.headers.values())  # no snake_case left on show
    assert "columns" in page.ids  # the legend of code names


@pytest.mark.requires_r
def test_the_table_of_contents_reaches_every_section(page):
    assert page.toc[:2] == ["summary", "published"]
    assert set(page.toc) <= page.ids and {"pain_change_immediate", "relief_immediate", "provenance"} <= set(page.toc)


@pytest.mark.requires_r
def test_the_comparison_figure_draws_the_comparison_table(out, page):
    comparison = pd.read_parquet(out / "comparison.parquet")
    published = pd.read_csv(REPO / "data" / "crps_ketamine" / "zhao2018_reported.csv")  # Zhao 2018, abstract
    expected = published.set_index("timepoint")
    assert [m["figure"] for m in page.marks if "published" in m["class"]] == list(comparison["analysis"].unique())
    for name, rows in comparison.groupby("analysis", sort=False):
        marks = [m for m in page.marks if m["figure"] == name]
        ours = [m for m in marks if "ours" in m["class"]]
        assert [m["data-approach"] for m in ours] == list(rows["approach"])
        for column in ("estimate", "conf_low", "conf_high"):
            assert [float(m[f"data-{column.replace('_', '-')}"]) for m in ours] == list(rows[column])
        theirs = next(m for m in marks if "published" in m["class"])
        row = expected.loc[rows["timepoint"].iloc[0]]
        for column in ("estimate", "conf_low", "conf_high"):
            assert float(theirs[f"data-{column.replace('_', '-')}"]) == row[column], (name, column)


def test_numbers_are_formatted_by_kind():
    from ketabridge.formatting import number_text

    assert number_text("q_pvalue", 2.65e-20) == "< 0.001" and number_text("p_value", 0.0804) == "0.080"
    assert number_text("i2", 59.8586) == "59.9 %" and number_text("estimate", 0.616224, percent=True) == "62 %"
    assert (
        number_text("estimate", 0.0, percent=True) == "0 %" and number_text("estimate", 0.0064, percent=True) == "0.6 %"
    )
    assert number_text("tau2", 3.1e-20) == "3.1 × 10⁻²⁰" and number_text("estimate", -6.432107) == "\u22126.43"


@pytest.mark.requires_r
def test_the_svg_is_well_formed(out):
    html = (out / "report.html").read_text()
    svg = html[html.index('<svg class="comparison"') : html.index("</svg>") + 6]
    assert ElementTree.fromstring(svg).tag.endswith("svg")
