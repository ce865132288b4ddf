"""A cross-check's files: Parquet and CSV tables, provenance, a readable HTML page, reproducers."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd

TABLES = ("discrepancies", "summary")


def write_findings(result, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLES:
        table = getattr(result, name)()
        table.to_parquet(out / f"{name}.parquet", index=False)
        table.to_csv(out / f"{name}.csv", index=False)
        written += [out / f"{name}.parquet", out / f"{name}.csv"]
    (out / "provenance.json").write_text(json.dumps(result.provenance.to_dict(), indent=2, default=str))
    (out / "report.html").write_text(html_report(result))
    written += [out / "provenance.json", out / "report.html"]
    for row in result.reproducers().itertuples(index=False):
        folder = out / "reproducers" / _file_name(f"{row.dataset}__{row.method}__{row.test}")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "data.csv").write_text(row.data_csv)
        (folder / "reproduce.R").write_text(row.r_call)
        written += [folder / "data.csv", folder / "reproduce.R"]
    return written


def html_report(result) -> str:
    """One self-contained page: what was run, the summary, every row that is not 'agree'."""
    p = result.provenance.to_dict()
    discrepancies = result.discrepancies()
    notable = discrepancies[discrepancies["verdict"] != "agree"]
    tolerances = pd.DataFrame([{"class": name, **values} for name, values in p["tolerances"].items()])
    verdict = "no disagreements" if result.ok else f"{len(result.disagreements())} disagreements"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>crosscheck: {_e(p['engine'])} vs metafor</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:90%}"
        "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>",
        f"<h1>{_e(p['engine'])} vs metafor {_e(p.get('metafor_version', '?'))}: {verdict}</h1>",
        f"<p>suite {_e(p['suite'])} ({p['datasets']} data sets), methods {_e(', '.join(p['methods']))}, "
        f"tests {_e(', '.join(p['tests']))}, level {p['level']}%; R {_e(p.get('r_version', '?'))}, "
        f"ketabridge {_e(p['ketabridge_version'])}.</p>",
        f"<p>engine definitions: {_e(json.dumps(p['engine_definitions']))}</p>",
        "<h2>Summary per quantity</h2>",
        result.summary().to_html(index=False, na_rep=""),
        f"<h2>Every comparison that is not 'agree' ({len(notable)})</h2>",
        notable.head(2000).to_html(index=False, na_rep=""),
        "<h2>Tolerances</h2>",
        tolerances.to_html(index=False),
        "<p>Reproducers: reproducers/&lt;dataset&gt;__&lt;method&gt;__&lt;test&gt;/ (data.csv, reproduce.R).</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _e(text) -> str:
    return html.escape(str(text))


def _file_name(text: str) -> str:
    # a data set's name comes from the user: keep it to safe characters
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:120]
