"""What a notebook shows: each result's concise repr and HTML view, and plots as inline SVG Figures."""

from __future__ import annotations

import json
import re
from html import unescape
from xml.etree import ElementTree

import pandas as pd
import pytest
from lane import REPO

import ketabridge

pytestmark = pytest.mark.requires_r
REFERENCE = json.loads((REPO / "tests" / "reference" / "bcg_colditz1994.json").read_text())
# metafor's documented output for the BCG REML model (rma.uni and predict.rma help pages)
DOCUMENTED = {
    (e["column"], e.get("transform")): (e["value"], e["decimals"])
    for e in REFERENCE["analyses"][0]["expect"]
    if e["table"] == "glance"
}
NUMBER = r"[−-]?\d+(?:\.\d+)?"


@pytest.fixture(scope="module")
def result():
    effects = ketabridge.escalc(
        "RR", pd.read_csv(REPO / "data" / "bcg" / "bcg.csv"), ai="tpos", bi="tneg", ci="cpos", di="cneg"
    )
    return ketabridge.rma(effects, slab="author")


def numbers(text: str, pattern: str) -> list[float]:
    match = re.search(pattern.replace("#", f"({NUMBER})"), text)
    assert match, (pattern, text)
    return [float(value.replace("−", "-")) for value in match.groups()]


def shown_as_documented(shown: list[float], keys: list[tuple]) -> None:
    """Our 3 significant digits agree with metafor's printed digits to the coarser of the two."""
    for value, key in zip(shown, keys):
        documented, decimals = DOCUMENTED[key]
        assert value == pytest.approx(documented, abs=0.5 * 10**-decimals + 0.005 * abs(documented) + 1e-12), key


def test_the_pooled_line_reads_as_metafor_printed_it(result):
    html = result._repr_html_()
    sentence = re.search(r"<p><strong>MetaResult \(rma\)</strong>: (.*?)</p>", html).group(1)
    shown_as_documented(
        numbers(sentence, r"k = #\): pooled estimate # \(95 % CI # to #\)"),
        [("k", None), ("estimate", None), ("conf_low", None), ("conf_high", None)],
    )
    shown_as_documented(
        numbers(sentence, r"Natural scale: # \[#, #\]"),
        [("estimate", "exp"), ("conf_low", "exp"), ("conf_high", "exp")],
    )
    shown_as_documented(
        numbers(sentence, r"τ² = #, I² = # %, Q\(#\) = #"), [("tau2", None), ("i2", None), ("q_df", None), ("q", None)]
    )
    shown_as_documented(numbers(sentence, r"prediction interval # to #"), [("pi_low", None), ("pi_high", None)])
    assert "p &lt; 0.001" in sentence  # z = -3.97: p = 7e-5 (rma.uni help page)


def test_the_html_view_has_the_glance_table_and_folded_provenance(result):
    html = result._repr_html_()
    assert '<th title="tau2_se">SE of τ²</th>' in html and '<th title="q_pvalue">Q p-value</th>' in html
    assert "<details><summary>Provenance</summary>" in html and f"metafor {result.provenance.metafor_version}" in html
    assert "rma.uni(" in html.split("<details>")[1]  # the R call, inside the fold
    assert re.fullmatch(r"<MetaResult rma REML k=13 estimate=\S+ \[\S+, \S+\] tau2=\S+ I2=\S+%>", repr(result))


def test_every_result_kind_shows_itself(result, tmp_path, bcg):
    bias = ketabridge.ranktest(result)
    assert repr(bias).startswith("<BiasTestResult ranktest: Begg's rank correlation test: Kendall's τ = ")
    effects = ketabridge.escalc("RR", bcg, ai="tpos", bi="tneg", ci="cpos", di="cneg")
    views = {
        "BiasTestResult (regtest)": ketabridge.regtest(result),
        "SubgroupResult": ketabridge.rma(effects, subgroup="alloc"),
        "ProportionsResult": ketabridge.pool_proportions(
            pd.DataFrame({"x": [3, 6, 10, 1], "n": [11, 17, 21, 6]}), "x", "n"
        ),
        "BatchResult": ketabridge.batch(effects, by="alloc", workers=0, progress=False),
    }
    for kind, shown in views.items():
        html = shown._repr_html_()
        assert html.count("<details><summary>Provenance</summary>") == 1, kind
        assert f"<strong>{kind}</strong>: " in html, kind
        assert "_" not in "".join(re.findall(r"<th[^>]*>([^<]*)</th>", html)), kind  # worded headers
        assert len(repr(shown)) < 300 and "\n" not in repr(shown), kind
    assert "3 subgroups by 'alloc'" in unescape(views["SubgroupResult"]._repr_html_())
    assert "3 analyses: 3 ok, 0 warning, 0 error" in views["BatchResult"]._repr_html_()


def test_a_plot_without_a_path_is_an_inline_svg_figure(result, tmp_path):
    figure = ketabridge.forest(result)
    assert isinstance(figure, ketabridge.Figure)
    root = ElementTree.fromstring(figure._repr_svg_().split("?>", 1)[-1])
    assert root.tag.endswith("svg")
    texts = figure.svg
    other = ketabridge.funnel(result)
    # two plots inlined in one page must not share glyph or clip ids
    ids = lambda svg: set(re.findall(r'\bid="([^"]+)"', svg))  # noqa: E731
    assert ids(texts) and not ids(texts) & ids(other.svg)
    for suffix in ("png", "svg", "pdf"):
        path = figure.save(tmp_path / f"forest.{suffix}")
        assert path == (tmp_path / f"forest.{suffix}").absolute() and path.stat().st_size > 1000
    assert (tmp_path / "forest.pdf").read_bytes().startswith(b"%PDF")
