"""Write a plan run to a folder: tables as Parquet and CSV, results.json, provenance.json, report.html."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ketabridge.analyses.results import ketabridge_version, records
from ketabridge.plans.report_page import render_report
from ketabridge.plans.runner import PlanRun


def write_plan_outputs(run: PlanRun, out_dir: Path) -> dict[str, Path]:
    """Every file of a run; returns them by name. Plots were drawn into out_dir/plots by the run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for kind in run.kinds():
        table = run.table(kind)
        for suffix in ("parquet", "csv"):
            path = out_dir / f"{kind}.{suffix}"
            table.to_parquet(path, index=False) if suffix == "parquet" else table.to_csv(path, index=False)
            written[path.name] = path
    provenance = run_provenance(run)
    files = {
        "provenance.json": json.dumps(provenance, indent=2),
        "results.json": json.dumps(results_document(run, provenance, out_dir), indent=2, allow_nan=False),
        "report.html": render_report(run, provenance, out_dir),
    }
    for name, text in files.items():
        (out_dir / name).write_text(text, encoding="utf-8")
        written[name] = out_dir / name
    return written


def results_document(run: PlanRun, provenance: dict, out_dir: Path) -> dict:
    return {
        "plan": {"title": run.plan.title, "path": str(run.plan.path)},
        "analyses": [
            {
                "name": analysis_run.analysis.name,
                "title": analysis_run.analysis.title,
                "notes": analysis_run.notes,
                "plots": {name: path.relative_to(out_dir).as_posix() for name, path in analysis_run.plots.items()},
                "tables": {kind: records(table) for kind, table in analysis_run.tables.items()},
            }
            for analysis_run in run.runs
        ],
        "provenance": provenance,
    }


def run_provenance(run: PlanRun) -> dict:
    """Versions, the files' checksums and every R call, so the run can be repeated and checked."""
    from ketabridge.bridge.session import r_session

    session = r_session()
    plan = run.plan
    return {
        "ketabridge_version": ketabridge_version(),
        **session.versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "plan": _file(plan.path),
        "data": _file(plan.data),
        "published": _file(plan.published) if plan.published else None,
        "r_calls": {analysis_run.analysis.name: analysis_run.r_calls for analysis_run in run.runs},
    }


def _file(path: Path) -> dict:
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def summary_text(run: PlanRun) -> str:
    """One line per analysis: k, pooled estimate with CI on the natural scale, I², τ², PI."""
    summary = run.table("summary")
    if summary.empty:
        return "no analysis produced a pooled estimate\n"
    lines = [f"{'analysis':<26} {'k':>3}  {'estimate [95% CI]':<28} {'I2':>6} {'tau2':>9}  {'PI':<22}"]
    for row in summary.itertuples():
        lines.append(
            f"{row.analysis:<26} {row.k:>3}  {_interval(row.estimate, row.conf_low, row.conf_high):<28} "
            f"{row.i2:>5.1f}% {row.tau2:>9.4g}  {_interval(None, row.pi_low, row.pi_high):<22}"
        )
    return "\n".join(lines) + "\n"


def _interval(estimate, low, high) -> str:
    bounds = "[–]" if pd.isna(low) else f"[{low:.3g}, {high:.3g}]"
    return bounds if estimate is None else f"{estimate:.3g} {bounds}"
