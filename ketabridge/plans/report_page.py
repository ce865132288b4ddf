"""report.html: one self-contained page a person can open (styles inline, plots embedded).

It reads like a results section: a summary in sentences first, the comparison with the
published figures as a figure, then each analysis' details. Every number in a table cell
carries its full value in `data-value` (on the cell, or on each bound of an interval cell), so
tests (and readers with developer tools) can check the page against the Parquet results digit
for digit. Headers are words; the files' code names are in each header's tooltip and in the
legend at the end.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd

from ketabridge.analyses.transforms import PROPORTION_MEASURES
from ketabridge.formatting import INTERVALS, cell, interval_cell, label, level_text, number_text, text
from ketabridge.plans.report_figure import comparison_svg
from ketabridge.plans.runner import AnalysisRun, PlanRun

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 68rem; margin: 2rem auto; padding: 0 1rem; color: #222;
  line-height: 1.45; }
h1 { font-size: 1.6rem; line-height: 1.25; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccc; }
h3 { margin-top: 1.5rem; } code { font-size: 0.85em; color: #555; }
.table-scroll { max-width: 100%; overflow-x: auto; margin: 0.5rem 0 1rem; }
table { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: right; vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; text-align: center; cursor: help; }
td { white-space: nowrap; } th { min-width: 3.2rem; }
td.text { text-align: left; } td.wide { white-space: normal; min-width: 16rem; }
.caveat { background: #fff6e0; border-left: 4px solid #e0a800; padding: 0.5rem 1rem; }
.sentence { margin: 0.6rem 0; } .sentence .name { font-weight: 600; }
nav.toc { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 0.4rem 1.2rem; }
nav.toc ol { margin: 0.3rem 0; padding-left: 1.2rem; } nav.toc li { margin: 0.15rem 0; }
.notes li { margin: 0.2rem 0; }
figure { display: inline-block; margin: 0.5rem 1rem 0.5rem 0; max-width: 100%; vertical-align: top; }
figure.wide { display: block; margin: 0.5rem 0 1.5rem; }
img { max-width: min(100%, 31rem); height: auto; border: 1px solid #eee; }
svg.comparison { width: 100%; max-width: 48rem; height: auto; font-size: 13px; font-family: system-ui, sans-serif; }
svg.comparison .head { font-weight: 600; fill: #444; }
figcaption { font-size: 0.9rem; color: #444; }
pre { background: #f6f6f6; padding: 0.8rem; white-space: pre-wrap; overflow-wrap: anywhere; }
dl.codes { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 1rem; font-size: 0.9rem; }
dl.codes dt { font-family: monospace; } dl.codes dd { margin: 0; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; }
  nav.toc { display: none; }
  /* paper does not scroll: wide tables fill the width and their cells wrap instead */
  .table-scroll { overflow: visible; }
  table { font-size: 6.5pt; width: 100%; }
  th, td { padding: 0.1rem 0.2rem; min-width: 0; white-space: normal; overflow-wrap: anywhere; }
  td.wide { min-width: 0; }
  h2, h3 { break-after: avoid; } figure, tr, .sentence, svg { break-inside: avoid; }
  section.analysis { break-before: page; }
  a { color: inherit; text-decoration: none; }
  img { max-width: 48%; }
}
"""

# Tables shown for each analysis, in this order, with their headings.
SECTIONS = (
    ("summary", "Pooled estimate (natural scale)"),
    ("glance", "Model and heterogeneity (model scale)"),
    ("proportions", "Proportions pooled four ways (back-transformed)"),
    ("comparison", "Comparison with the published figures"),
    ("correlation_grid", "Sensitivity to the assumed pre-post correlation"),
    ("trimfill", "Trim-and-fill"),
    ("regtest", "Egger's regression test"),
    ("ranktest", "Begg's rank correlation test"),
    ("selmodel", "Selection model"),
    ("selmodel_weights", "Selection model: estimated selection weights"),
    ("pet_peese", "PET-PEESE"),
    ("tes", "Test of excess significance"),
    ("permutest", "Permutation test"),
    ("permutest_tidy", "Permutation test: coefficients"),
    ("leave1out", "Leave-one-out"),
    ("influence", "Influence diagnostics"),
    ("studies", "Studies"),
)


def render_report(run: PlanRun, provenance: dict, out_dir: Path) -> str:
    plan = run.plan
    used: dict[str, str] = {}  # code name -> header, for the legend
    comparison = run.table("comparison")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{text(plan.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{text(plan.title)}</h1>",
    ]
    if plan.description:
        parts.append(f'<p class="caveat">{text(" ".join(plan.description.split()))}</p>')
    parts.append(_contents(run, len(comparison) > 0))
    parts.append('<section id="summary"><h2>Summary</h2>')
    parts.extend(_sentence(analysis_run) for analysis_run in run.runs)
    parts.append(table_html(run.table("summary"), "summary", None, used, _common_level(run)))
    parts.append("</section>")
    if len(comparison):
        parts.append('<section id="published"><h2>Against the published figures</h2>')
        for analysis_run in run.runs:
            if "comparison" in analysis_run.tables and len(analysis_run.tables["comparison"]):
                parts.append(_comparison_figure(analysis_run))
        parts.append(table_html(comparison, "comparison", None, used, _common_level(run)))
        parts.append("</section>")
    for analysis_run in run.runs:
        parts.extend(_analysis_html(analysis_run, out_dir, used))
    parts.append('<section id="plan"><h2>The plan</h2>')
    parts.append(f"<p>{text(str(plan.path))}</p><pre>{text(plan.path.read_text(encoding='utf-8'))}</pre></section>")
    parts.append('<section id="provenance"><h2>Provenance</h2>')
    parts.append(_provenance_html(provenance))
    parts.append("</section>")
    parts.append(_legend(used))
    parts.append("</body></html>")
    return "\n".join(parts)


def _contents(run: PlanRun, has_comparison: bool) -> str:
    entries = [("summary", "Summary")]
    if has_comparison:
        entries.append(("published", "Against the published figures"))
    entries += [(r.analysis.name, r.analysis.title) for r in run.runs]
    entries += [("plan", "The plan"), ("provenance", "Provenance"), ("columns", "Column names in the files")]
    items = "".join(f'<li><a href="#{anchor}">{text(title)}</a></li>' for anchor, title in entries)
    return f'<nav class="toc" aria-label="Contents"><strong>Contents</strong><ol>{items}</ol></nav>'


def _is_proportion(run: AnalysisRun) -> bool:
    measure = run.result.spec.measure if run.result is not None else None
    return measure in PROPORTION_MEASURES or run.analysis.proportions is not None


def _sentence(run: AnalysisRun) -> str:
    """One analysis in words: the pooled estimate with CI on the natural scale, k, heterogeneity, PI."""
    analysis = run.analysis
    head = f'<span class="name"><a href="#{analysis.name}">{text(analysis.title)}</a></span> (<code>{analysis.name}</code>)'
    summary = run.tables.get("summary")
    if summary is None or summary.empty:
        why = run.notes[0] if run.notes else "no model was fitted"
        return f'<p class="sentence" data-analysis="{analysis.name}">{head}: no pooled estimate ({text(why)}).</p>'
    row = summary.iloc[0]
    percent = _is_proportion(run)
    level = level_text(analysis.level)

    def shown(column: str) -> str:
        return number_text("estimate", float(row[column]), percent)

    what = "pooled share" if percent else "pooled estimate"
    scale = "" if row["scale"] == "model" else f", back-transformed with {row['scale']}"
    words = [
        f"{head}: {what} {shown('estimate')} ({level} CI {shown('conf_low')} to {shown('conf_high')}) "
        f"from {int(row['k'])} studies ({text(row['measure'])}, {text(row['method'])}{text(scale)}).",
        f"Heterogeneity: I² = {row['i2']:.0f} %, τ² = {number_text('tau2', float(row['tau2']))}, "
        f"Q p-value {_p_words(row['q_pvalue'])}.",
    ]
    if pd.notna(row["pi_low"]):
        words.append(f"{level} prediction interval {shown('pi_low')} to {shown('pi_high')}.")
    comparison = run.tables.get("comparison")
    if comparison is not None and len(comparison):
        published = comparison.iloc[0]
        words.append(
            f"Published: {number_text('estimate', float(published['published_estimate']), percent)} "
            f"(95 % CI {number_text('estimate', float(published['published_conf_low']), percent)} to "
            f"{number_text('estimate', float(published['published_conf_high']), percent)})."
        )
    return f'<p class="sentence" data-analysis="{analysis.name}">{" ".join(words)}</p>'


def _p_words(value: float) -> str:
    shown = number_text("p_value", float(value))
    return shown if shown.startswith("<") else f"= {shown}"


def _comparison_figure(run: AnalysisRun) -> str:
    percent = _is_proportion(run)
    svg = comparison_svg(run.tables["comparison"], run.analysis.name, percent)
    return (
        f'<figure class="wide" data-figure="comparison" data-analysis="{run.analysis.name}">{svg}'
        f"<figcaption>{text(run.analysis.title)}: each pooling approach's estimate and CI (squares) beside the "
        "published estimate and its CI (diamond; dashed line and shaded band).</figcaption></figure>"
    )


def _common_level(run: PlanRun) -> float | None:
    levels = {r.analysis.level for r in run.runs}
    return levels.pop() if len(levels) == 1 else None


def _analysis_html(run: AnalysisRun, out_dir: Path, used: dict[str, str]) -> list[str]:
    analysis = run.analysis
    parts = [
        f'<section class="analysis" id="{analysis.name}"><h2>{text(analysis.title)}</h2>',
        f"<p><code>{analysis.name}</code></p>",
    ]
    if analysis.note:
        parts.append(f"<p>{text(' '.join(analysis.note.split()))}</p>")
    for kind, heading in SECTIONS:
        if kind in run.tables and len(run.tables[kind]):
            parts.append(f"<h3>{heading}</h3>")
            parts.append(table_html(run.tables[kind], kind, analysis.name, used, analysis.level))
    if run.notes:
        parts.append('<h3>Notes</h3><ul class="notes">')
        parts.extend(f"<li>{text(note)}</li>" for note in run.notes)
        parts.append("</ul>")
    figures = [(name, path) for name, path in run.plots.items() if path.suffix == ".png"]
    if figures:
        parts.append("<h3>Plots</h3>")
        for name, path in figures:
            encoded = base64.b64encode(path.read_bytes()).decode("ascii")
            svg = path.with_suffix(".svg")
            link = f' (<a href="{_relative(svg, out_dir)}">SVG</a>)' if svg.exists() else ""
            parts.append(
                f'<figure><img src="data:image/png;base64,{encoded}" alt="{text(analysis.title)}: {name}">'
                f"<figcaption>{text(name.split('_')[0])} plot{link}</figcaption></figure>"
            )
    parts.append("</section>")
    return parts


def table_html(
    frame: pd.DataFrame, kind: str, analysis: str | None, used: dict[str, str] | None = None, level: float | None = None
) -> str:
    """A table in its own scroll box: worded headers (code names in the tooltip), formatted
    values, intervals as [low, high]; every exact value in data-value."""
    shown = [column for column in frame.columns if column != "analysis" or analysis is None]
    columns = _grouped(shown)
    percent = kind == "comparison" and _looks_like_shares(frame)
    attributes = f' data-table="{kind}"' + (f' data-analysis="{analysis}"' if analysis else "")
    headers = []
    for group in columns:
        if len(group) == 2:
            header = INTERVALS[group[0]][1].format(level=level_text(level) or "").strip()
            header = header[0].upper() + header[1:]
        else:
            header = label(group[0])
        codes = ", ".join(group)
        if used is not None:
            used.setdefault(codes, header)
        headers.append(f'<th scope="col" title="{text(codes)}" data-code="{text(codes)}">{text(header)}</th>')
    rows = [f'<div class="table-scroll"><table{attributes}>', "<thead><tr>" + "".join(headers) + "</tr></thead><tbody>"]
    for record in frame[shown].to_dict("records"):
        cells = []
        for group in columns:
            if len(group) == 2:
                cells.append(interval_cell(*group, record[group[0]], record[group[1]], _percent(group[0], percent)))
            else:
                cells.append(cell(group[0], record[group[0]], _percent(group[0], percent)))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    rows.append("</tbody></table></div>")
    return "\n".join(rows)


def _grouped(columns: list[str]) -> list[tuple[str, ...]]:
    """Columns in order, each interval's low and high bound joined into one."""
    highs = {high for low, (high, _) in INTERVALS.items() if low in columns and high in columns}
    groups: list[tuple[str, ...]] = []
    for column in columns:
        if column in INTERVALS and INTERVALS[column][0] in highs:
            groups.append((column, INTERVALS[column][0]))
        elif column not in highs:
            groups.append((column,))
    return groups


def _looks_like_shares(frame: pd.DataFrame) -> bool:
    return "quantity" in frame.columns and frame["quantity"].astype(str).str.contains("rate|share|proportion").all()


def _percent(column: str, shares: bool) -> bool:
    return shares and column in ("estimate", "conf_low", "published_estimate", "published_conf_low", "difference")


def _legend(used: dict[str, str]) -> str:
    items = "".join(f"<dt>{text(code)}</dt><dd>{text(header)}</dd>" for code, header in used.items())
    return (
        '<section id="columns"><h2>Column names in the files</h2>'
        "<p>The tables above use words; the CSV and Parquet files beside this page use these column names.</p>"
        f'<dl class="codes">{items}</dl></section>'
    )


def _provenance_html(provenance: dict) -> str:
    versions = (
        f"ketabridge {provenance['ketabridge_version']}, R {provenance['r_version']}, "
        f"metafor {provenance['metafor_version']}, rpy2 {provenance['rpy2_version']} "
        f"(rpy2-rinterface {provenance.get('rpy2_rinterface_version', '?')})"
    )
    parts = [f"<p>{text(versions)}; created {text(provenance['created'])}</p>", "<ul>"]
    for name in ("plan", "data", "published"):
        if provenance.get(name):
            parts.append(
                f"<li>{name}: {text(provenance[name]['path'])} (sha256 {provenance[name]['sha256'][:16]}…)</li>"
            )
    parts.append("</ul><h3>R calls</h3>")
    for analysis, calls in provenance["r_calls"].items():
        parts.append(f"<p><code>{text(analysis)}</code></p><pre>{text(chr(10).join(calls))}</pre>")
    return "\n".join(parts)


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_uri()
