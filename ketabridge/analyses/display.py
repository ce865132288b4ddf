"""How results show themselves in Jupyter: the pooled line in words, the glance table, the provenance folded.

Each result class's ``_repr_html_`` calls one function here; nothing is computed that the
result does not already hold (the natural-scale figures are the closed-form back-transforms of
metafor's transf.* functions, applied only to the numbers shown).
"""

from __future__ import annotations

import html
import math

import pandas as pd

from ketabridge.formatting import label, number_text

STYLE = (
    "<style>.kb-result{font-family:system-ui,sans-serif;max-width:100%}"
    ".kb-result .kb-scroll{overflow-x:auto;max-width:100%}"
    ".kb-result table{font-size:0.85em}.kb-result details{margin-top:0.4em}"
    ".kb-result pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:0.85em}</style>"
)
# metafor's transf.exp.int, transf.ilogit, transf.ztor and transf.iarcsin (ipft.hm needs ni: not shown)
NATURAL = {
    "exp": math.exp,
    "ilogit": lambda x: 1 / (1 + math.exp(-x)),
    "ztor": math.tanh,
    "iarcsin": lambda x: math.sin(min(max(x, 0.0), math.pi / 2)) ** 2,
}
MODEL_WORDS = {"EE": "Equal-effects", "FE": "Fixed-effects"}
TABLE_ROWS = 10  # rows of a long table shown inline


def meta_result_sentence(result) -> str:
    """The pooled line of a MetaResult in words: estimate, CI, p, heterogeneity and the PI."""
    from ketabridge.analyses.transforms import natural_transform

    g = result.glance().iloc[0]
    level = f"{g['level']:g} %"
    model = MODEL_WORDS.get(g["method"], "Random-effects")
    measure = g["measure"] if isinstance(g["measure"], str) and g["measure"] else "generic"
    what = "trim-and-fill " if result.kind == "trimfill" else ""
    words = [
        f"{model} {what}model ({g['method']}, {measure}, k = {g['k']}): pooled estimate {_n(g['estimate'])} "
        f"({level} CI {_n(g['conf_low'])} to {_n(g['conf_high'])}), p {_p(g['p_value'])}."
    ]
    transform = NATURAL.get(natural_transform(result.spec.measure) or "")
    if transform is not None:
        shown = [_n(transform(float(g[c]))) for c in ("estimate", "conf_low", "conf_high")]
        words.append(f"Natural scale: {shown[0]} [{shown[1]}, {shown[2]}].")
    words.append(
        f"Heterogeneity: τ² = {_n(g['tau2'])}, I² = {g['i2']:.1f} %, Q({g['q_df']}) = {_n(g['q'])}, p {_p(g['q_pvalue'])}."
    )
    if pd.notna(g["pi_low"]):
        words.append(f"{level} prediction interval {_n(g['pi_low'])} to {_n(g['pi_high'])}.")
    if result.kind == "trimfill":
        words.append(f"{g['k0']} studies filled on the {g['side']} side ({g['estimator']}).")
    return " ".join(words)


def meta_result_html(result) -> str:
    tables = [("Model and heterogeneity", result.glance())]
    tidy = result.tidy()
    if len(tidy) > 1:  # moderators: the coefficients say more than the glance row
        tables.append(("Coefficients", tidy))
    return page(f"MetaResult ({result.kind})", meta_result_sentence(result), tables, result.provenance)


def subgroup_html(result) -> str:
    between = result.between().iloc[0]
    sentence = (
        f"{len(result.fits)} subgroups by {result.column!r}; test of subgroup differences "
        f"Q = {_n(between['q_between'])} (df = {int(between['df'])}), p {_p(between['p_value'])}."
    )
    glance = result.glance()[["subgroup", "k", "estimate", "conf_low", "conf_high", "p_value", "tau2", "i2"]]
    return page("SubgroupResult", sentence, [("Each subgroup", glance)], result.provenance)


def bias_test_sentence(result) -> str:
    g = result.glance().iloc[0]
    if result.kind == "regtest":
        return (
            f"Egger's regression test ({g['model']}, predictor {g['predictor']}): statistic {_n(g['statistic'])}, "
            f"p {_p(g['p_value'])}; limit estimate {_n(g['limit_estimate'])} "
            f"[{_n(g['limit_conf_low'])}, {_n(g['limit_conf_high'])}]."
        )
    if result.kind == "ranktest":
        return f"Begg's rank correlation test: Kendall's τ = {_n(g['kendall_tau'])}, p {_p(g['p_value'])}."
    return f"Fail-safe N ({g['type']}): {_n(g['fail_safe_n'])}" + (
        f", p {_p(g['p_value'])}." if pd.notna(g["p_value"]) else "."
    )


def bias_test_html(result) -> str:
    return page(f"BiasTestResult ({result.kind})", bias_test_sentence(result), [], result.provenance)


def proportions_sentence(result) -> str:
    table = result.tidy()
    shown = "; ".join(
        f"{row.measure} {row.method} {_n(row.estimate)} [{_n(row.conf_low)}, {_n(row.conf_high)}]"
        for row in table.itertuples()
    )
    return f"Proportions pooled {len(table)} ways (k = {table['k'].iloc[0]}), back-transformed: {shown}."


def proportions_html(result) -> str:
    return page(
        "ProportionsResult", proportions_sentence(result), [("Each approach", result.tidy())], result.provenance
    )


def batch_html(result) -> str:
    status = result.status()
    counts = status["status"].value_counts()
    sentence = f"{len(status)} analyses: " + ", ".join(
        f"{int(counts.get(s, 0))} {s}" for s in ("ok", "warning", "error")
    )
    engines = status["engine"].value_counts()
    if len(engines):
        sentence += " (engine: " + ", ".join(f"{name} {count}" for name, count in engines.items()) + ")."
    return page("BatchResult", sentence, [("Glance", result.glance())], result.provenance)


def crosscheck_html(result) -> str:
    counts = result.discrepancies()["verdict"].value_counts()
    engine = result.provenance.details.get("engine", "the engine")
    sentence = f"{engine} against metafor: " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
    sentence += ". Nothing disagrees." if result.ok else "."
    return page("CrosscheckResult", sentence, [("Summary", result.summary())], result.provenance)


def page(kind: str, sentence: str, tables: list[tuple[str, pd.DataFrame]], provenance) -> str:
    """A result's HTML: its kind and sentence, its tables (long ones cut), its provenance folded."""
    parts = [STYLE, '<div class="kb-result">', f"<p><strong>{_text(kind)}</strong>: {_text(sentence)}</p>"]
    for caption, table in tables:
        more = f" (first {TABLE_ROWS} of {len(table)} rows)" if len(table) > TABLE_ROWS else ""
        shown = table.head(TABLE_ROWS)
        headers = [f'<th title="{_text(c)}">{_text(label(c))}</th>' for c in shown.columns]
        rows = [
            "<tr>" + "".join(_cell(c, v) for c, v in zip(shown.columns, r)) + "</tr>"
            for r in shown.itertuples(index=False)
        ]
        parts.append(
            f'<div class="kb-scroll"><table><caption style="text-align:left">{_text(caption)}{more}</caption>'
            f"<thead><tr>{''.join(headers)}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        )
    parts.append(_provenance(provenance))
    parts.append("</div>")
    return "".join(parts)


def _provenance(provenance) -> str:
    versions = (
        f"ketabridge {provenance.ketabridge_version}, R {provenance.r_version}, metafor {provenance.metafor_version}, "
        f"rpy2 {provenance.rpy2_version}"
        + "".join(f", {name} {version}" for name, version in provenance.r_packages)
        + f"; created {provenance.created}"
    )
    body = [f"<p>{_text(versions)}</p>"]
    if provenance.r_call:
        body.append(f"<pre>{_text(provenance.r_call)}</pre>")
    if provenance.r_warnings:
        body.append("<ul>" + "".join(f"<li>{_text(w)}</li>" for w in provenance.r_warnings) + "</ul>")
    return f"<details><summary>Provenance</summary>{''.join(body)}</details>"


def _cell(column: str, value) -> str:
    if isinstance(value, float):
        return f'<td style="text-align:right" title="{value!r}">{_text(number_text(column, value))}</td>'
    shown = "" if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)) else value
    return f"<td>{_text(shown)}</td>"


def _n(value) -> str:
    return number_text("estimate", float(value))


def _p(value) -> str:
    shown = number_text("p_value", float(value))
    return shown if shown.startswith(("<", "–")) else f"= {shown}"


def _text(value) -> str:
    return html.escape(str(value))
