"""report.html: one self-contained page a person can open (styles inline, plots embedded).

Every number in a table cell carries its full value in `data-value`, so tests (and readers
with developer tools) can check the page against the Parquet results digit for digit.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
from pathlib import Path

import numpy as np
import pandas as pd

from ketabridge.plans.runner import AnalysisRun, PlanRun

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccc; } h3 { margin-top: 1.5rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: right; }
th { background: #f3f3f3; } td.text { text-align: left; }
.caveat { background: #fff6e0; border-left: 4px solid #e0a800; padding: 0.5rem 1rem; }
.notes li { margin: 0.2rem 0; } figure { display: inline-block; margin: 0.5rem 1rem 0.5rem 0; }
img { max-width: 34rem; border: 1px solid #eee; } pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; }
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
    ("leave1out", "Leave-one-out"),
    ("influence", "Influence diagnostics"),
    ("studies", "Studies"),
)


def render_report(run: PlanRun, provenance: dict, out_dir: Path) -> str:
    plan = run.plan
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_text(plan.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_text(plan.title)}</h1>",
    ]
    if plan.description:
        parts.append(f'<p class="caveat">{_text(" ".join(plan.description.split()))}</p>')
    parts.append("<h2>Summary</h2>")
    parts.append(table_html(run.table("summary"), "summary", None))
    comparison = run.table("comparison")
    if len(comparison):
        parts.append("<h2>Against the published figures</h2>")
        parts.append(table_html(comparison, "comparison", None))
    for analysis_run in run.runs:
        parts.extend(_analysis_html(analysis_run, out_dir))
    parts.append("<h2>The plan</h2>")
    parts.append(f"<p>{_text(str(plan.path))}</p><pre>{_text(plan.path.read_text(encoding='utf-8'))}</pre>")
    parts.append("<h2>Provenance</h2>")
    parts.append(_provenance_html(provenance))
    parts.append("</body></html>")
    return "\n".join(parts)


def _analysis_html(run: AnalysisRun, out_dir: Path) -> list[str]:
    analysis = run.analysis
    parts = [f'<h2 id="{analysis.name}">{_text(analysis.title)}</h2>', f"<p><code>{analysis.name}</code></p>"]
    if analysis.note:
        parts.append(f"<p>{_text(' '.join(analysis.note.split()))}</p>")
    for kind, heading in SECTIONS:
        if kind in run.tables and len(run.tables[kind]):
            parts.append(f"<h3>{heading}</h3>")
            parts.append(table_html(run.tables[kind], kind, analysis.name))
    if run.notes:
        parts.append('<h3>Notes</h3><ul class="notes">')
        parts.extend(f"<li>{_text(note)}</li>" for note in run.notes)
        parts.append("</ul>")
    figures = [(name, path) for name, path in run.plots.items() if path.suffix == ".png"]
    if figures:
        parts.append("<h3>Plots</h3>")
        for name, path in figures:
            encoded = base64.b64encode(path.read_bytes()).decode("ascii")
            svg = path.with_suffix(".svg")
            link = f' (<a href="{_relative(svg, out_dir)}">SVG</a>)' if svg.exists() else ""
            parts.append(
                f'<figure><img src="data:image/png;base64,{encoded}" alt="{_text(analysis.title)}: {name}">'
                f"<figcaption>{_text(name.split('_')[0])} plot{link}</figcaption></figure>"
            )
    return parts


def table_html(frame: pd.DataFrame, kind: str, analysis: str | None) -> str:
    """A table whose cells show rounded values and keep the exact ones in data-value."""
    shown = [column for column in frame.columns if column != "analysis" or analysis is None]
    attributes = f' data-table="{kind}"' + (f' data-analysis="{analysis}"' if analysis else "")
    rows = ["<table" + attributes + ">", "<tr>" + "".join(f"<th>{_text(c)}</th>" for c in shown) + "</tr>"]
    for record in frame[shown].itertuples(index=False):
        cells = []
        for column, value in zip(shown, record):
            cells.append(_cell(column, value))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _cell(column: str, value) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        if isinstance(value, numbers.Integral):
            exact = shown = str(int(value))
        else:
            exact = repr(float(value))
            shown = "" if math.isnan(value) else _format(float(value))
        return f'<td data-column="{column}" data-value="{exact}">{shown}</td>'
    missing = value is None or (pd.api.types.is_scalar(value) and pd.isna(value))
    return f'<td class="text" data-column="{column}">{"" if missing else _text(value)}</td>'


def _format(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e6 else f"{value:.4g}"


def _provenance_html(provenance: dict) -> str:
    versions = (
        f"ketabridge {provenance['ketabridge_version']}, R {provenance['r_version']}, "
        f"metafor {provenance['metafor_version']}, rpy2 {provenance['rpy2_version']} "
        f"(rpy2-rinterface {provenance.get('rpy2_rinterface_version', '?')})"
    )
    parts = [f"<p>{_text(versions)}; created {_text(provenance['created'])}</p>", "<ul>"]
    for name in ("plan", "data", "published"):
        if provenance.get(name):
            parts.append(
                f"<li>{name}: {_text(provenance[name]['path'])} (sha256 {provenance[name]['sha256'][:16]}…)</li>"
            )
    parts.append("</ul><h3>R calls</h3>")
    for analysis, calls in provenance["r_calls"].items():
        parts.append(f"<p><code>{_text(analysis)}</code></p><pre>{_text(chr(10).join(calls))}</pre>")
    return "\n".join(parts)


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_uri()


def _text(value) -> str:
    return html.escape(str(value))
