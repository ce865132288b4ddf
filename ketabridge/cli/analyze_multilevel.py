"""`ketabridge analyze --random TERM` / `--cluster COL --robust`: a multilevel model (metafor's
rma.mv) and/or cluster-robust inference, fitted, drawn and written like the plain model."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd

# trim-and-fill and the funnel-asymmetry tests are rma.uni's; metafor has none for rma.mv
NOT_WITH_MULTILEVEL = ("trimfill", "regtest", "ranktest", "funnel_contours")


def run_multilevel(data, options: dict) -> None:
    """Fit, make robust if asked, draw the plots and write the output; errors stay KetabridgeErrors."""
    from ketabridge.analyses import models
    from ketabridge.analyses.multilevel import rma_mv
    from ketabridge.analyses.robust import robust

    given = [name for name in NOT_WITH_MULTILEVEL if options.get(name)]
    if given and options["random"]:
        raise click.UsageError(
            f"--{given[0].replace('_', '-')} is not available with --random (metafor has it for rma only)"
        )
    if options["robust"] and not options["cluster"]:
        raise click.UsageError("--robust needs --cluster COL (the column of clusters, e.g. studies)")
    if options["random"]:
        result = rma_mv(
            data,
            options["yi"],
            options["vi"],
            random=list(options["random"]),
            struct=options["struct"],
            mods=_mods(options["mods"]),
            method=options["method"],
            test=options["test"],
            level=options["level"],
            slab=options["slab"],
        )
    else:
        result = models.rma(
            data,
            options["yi"],
            options["vi"],
            sei=options["sei"],
            slab=options["slab"],
            mods=_mods(options["mods"]),
            method=options["method"],
            test=options["test"],
            level=options["level"],
            na_action=options["na_action"],
        )
    shown = robust(result, options["cluster"]) if options["robust"] else result
    written = _plots(result, options)
    text = {"table": as_text, "json": as_json, "csv": as_csv}[options["output_format"]](shown)
    if options["out"]:
        options["out"].write_text(text, encoding="utf-8")
        written.append(options["out"])
    else:
        click.echo(text, nl=False)
    for path in written:
        click.echo(f"wrote {path}", err=True)


def _mods(mods):
    mods = list(mods or ())
    if len(mods) == 1:
        return mods[0]  # one formula (or one column)
    return mods or None


def _plots(result, options) -> list[Path]:
    from ketabridge.analyses import plots

    sizes = {name: options[f"plot_{name}"] for name in ("width", "height") if options[f"plot_{name}"] is not None}
    written = []
    if options["forest_path"]:
        written.append(plots.forest(result, options["forest_path"], dpi=options["dpi"], **sizes))
    if options["funnel_path"]:
        written.append(plots.funnel(result, options["funnel_path"], dpi=options["dpi"], **sizes))
    return written


def as_json(result) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str)


def as_csv(result) -> str:
    return result.glance().to_csv(index=False)


def as_text(result) -> str:
    g = result.glance().iloc[0]
    lines = [
        f"{result.kind} model ({g['measure']}), {g['method']}, k = {g['k']}, test = {g['test']}, "
        f"level = {g['level']:g}%, coefficients' variance: {g['vcov_type']}"
        + (f" ({g['n_clusters']} clusters)" if pd.notna(g["n_clusters"]) else ""),
        "",
        result.tidy().to_string(index=False, float_format=_fmt),
    ]
    if hasattr(result, "components"):
        lines += ["", "variance components:", result.components().to_string(index=False, float_format=_fmt)]
        if pd.notna(g["i2"]):
            lines.append(f"multilevel I2 (total) = {g['i2']:.2f}%")
    else:
        lines.append(f"tau2 = {_fmt(g['tau2'])}, I2 = {g['i2']:.2f}%")
    lines.append(f"Q({g['q_df']}) = {_fmt(g['q'])}, p {_p(g['q_pvalue'])}")
    if pd.notna(g["pi_low"]):
        lines.append(f"prediction interval: [{_fmt(g['pi_low'])}, {_fmt(g['pi_high'])}]")
    p = result.provenance
    lines += [
        "",
        f"R call: {p.r_call}",
        f"ketabridge {p.ketabridge_version}, R {p.r_version}, metafor {p.metafor_version}, rpy2 {p.rpy2_version}",
    ]
    return "\n".join(lines) + "\n"


def _fmt(value: float) -> str:
    return "NA" if pd.isna(value) else f"{value:.4f}"


def _p(value: float) -> str:
    return "= NA" if pd.isna(value) else ("< .0001" if value < 1e-4 else f"= {value:.4f}")
