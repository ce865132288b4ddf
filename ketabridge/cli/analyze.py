"""`ketabridge analyze`: one meta-analysis of one table."""

from __future__ import annotations

from pathlib import Path

import click

from ketabridge.cli._common import clean_errors, escalc_options, moderators
from ketabridge.options import (
    ESCALC_COLUMNS,
    ESCALC_TO,
    ESCALC_VTYPES,
    MEASURES,
    METHODS,
    NA_ACTIONS,
    REGTEST_MODELS,
    REGTEST_PREDICTORS,
    SELMODEL_ALTERNATIVES,
    SELMODEL_TYPES,
    STRUCTS,
    TESTS,
    TRIMFILL_ESTIMATORS,
    TRIMFILL_SIDES,
)

FORMATS = ("table", "json", "csv")


def _image_path(context, parameter, path: Path | None) -> Path | None:
    """Reject an unknown image suffix before any analysis runs."""
    if path is None or context.resilient_parsing:  # shell completion checks nothing
        return path
    from ketabridge.analyses.plots import DEVICES  # imported here: plots loads pandas, which --help must not

    if path.suffix.lower() not in DEVICES:
        raise click.BadParameter(f"{str(path)!r} must end in {', '.join(DEVICES)}")
    return path


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yi", default="yi", show_default=True, metavar="COL", help="effect size column")
@click.option("--vi", default="vi", show_default=True, metavar="COL", help="sampling variance column")
@click.option("--sei", metavar="COL", help="standard error column (instead of --vi)")
@click.option("--slab", metavar="COL", help="study label column")
@click.option(
    "--mods",
    multiple=True,
    metavar="FORMULA|COL",
    help="moderators: a formula ('~ factor(alloc) + ablat') or a column (repeatable)",
)
@click.option("--measure", type=click.Choice(MEASURES), help="compute yi/vi with escalc first")
@escalc_options
@click.option("--add", type=float, help="escalc: continuity correction")
@click.option("--to", type=click.Choice(ESCALC_TO), help="escalc: where to add it")
@click.option("--vtype", type=click.Choice(ESCALC_VTYPES), help="escalc: variance type")
@click.option(
    "--assumed-ri",
    type=click.FloatRange(-1, 1),
    metavar="R",
    help="escalc: one assumed pre-post correlation for every study (instead of --ri)",
)
@click.option("--method", type=click.Choice(METHODS), default="REML", show_default=True)
@click.option("--test", type=click.Choice(TESTS), default="z", show_default=True)
@click.option("--level", type=float, default=95.0, show_default=True, help="confidence level, percent")
@click.option("--na-action", type=click.Choice(NA_ACTIONS), default="omit", show_default=True)
@click.option("--trimfill", is_flag=True, help="add trim-and-fill")
@click.option("--trimfill-side", type=click.Choice(TRIMFILL_SIDES))
@click.option("--trimfill-estimator", type=click.Choice(TRIMFILL_ESTIMATORS), default="L0", show_default=True)
@click.option("--regtest", is_flag=True, help="add Egger's regression test")
@click.option("--regtest-model", type=click.Choice(REGTEST_MODELS), default="rma", show_default=True)
@click.option("--regtest-predictor", type=click.Choice(REGTEST_PREDICTORS), default="sei", show_default=True)
@click.option("--ranktest", is_flag=True, help="add Begg's rank correlation test")
@click.option(
    "--selmodel", "selmodel_type", type=click.Choice(SELMODEL_TYPES), help="add a selection model (metafor's selmodel)"
)
@click.option(
    "--selmodel-steps", type=float, multiple=True, metavar="P", help="selection model: p-value cut point (repeatable)"
)
@click.option("--selmodel-alternative", type=click.Choice(SELMODEL_ALTERNATIVES), default="greater", show_default=True)
@click.option("--pet-peese", is_flag=True, help="add PET-PEESE (regtest limit estimates and the conditional rule)")
@click.option("--tes", "excess", is_flag=True, help="add the test of excess significance")
@click.option(
    "--permutest",
    type=click.IntRange(1),
    metavar="ITER",
    help="add permutation tests with ITER permutations (metafor's permutest; exact when ITER allows)",
)
@click.option(
    "--permutest-seed",
    type=click.IntRange(0, 2**31 - 1),
    metavar="SEED",
    help="R's seed for --permutest (default: one is drawn and shown)",
)
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write to this file, not stdout")
@click.option(
    "--forest",
    "forest_path",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_image_path,
    help="draw a forest plot (.png, .svg or .pdf)",
)
@click.option(
    "--funnel",
    "funnel_path",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_image_path,
    help="draw a funnel plot (.png, .svg or .pdf); with --trimfill it shows the filled studies",
)
@click.option("--funnel-contours", is_flag=True, help="contour-enhanced funnel (90/95/99%% regions)")
@click.option("--plot-width", type=float, metavar="INCHES", help="plot width (default: forest 8, funnel 6)")
@click.option("--plot-height", type=float, metavar="INCHES", help="plot height (default: fits the plot)")
@click.option("--dpi", type=int, default=150, show_default=True, help="PNG resolution")
@click.option(
    "--model",
    "model_kind",
    type=click.Choice(("rma", "mh", "peto", "glmm")),
    default="rma",
    show_default=True,
    help="mh: Mantel-Haenszel (rma.mh), peto: Peto (rma.peto), glmm: rma.glmm, from the count columns",
)
@click.option(
    "--glmm-model", type=click.Choice(("UM.FS", "UM.RS", "CM.EL", "CM.AL")), default="UM.FS", show_default=True
)
# multilevel models and cluster-robust inference (cli/analyze_multilevel.py)
@click.option(
    "--random", multiple=True, metavar="TERM", help="rma.mv random term, e.g. '~ 1 | study/es_id' (repeatable)"
)
@click.option("--struct", type=click.Choice(STRUCTS), help="var-cov structure of an '~ inner | outer' term")
@click.option("--cluster", metavar="COL", help="cluster column for --robust")
@click.option("--robust", is_flag=True, help="cluster-robust tests and CIs (CR2, clubSandwich)")
def analyze(input_path: Path, **options) -> None:
    """Fit a random-effects model (metafor's rma) to INPUT (CSV, Parquet, Feather or Arrow IPC)."""
    from ketabridge.analyses import models
    from ketabridge.plans import render

    escalc_columns = {name: options.pop(name) for name in ESCALC_COLUMNS if options.get(name)}
    measure = options.pop("measure")
    if options["model_kind"] != "rma":
        _analyze_counts(input_path, measure, escalc_columns, options)
        return
    if options["assumed_ri"] is not None:
        if "ri" in escalc_columns:
            raise click.UsageError("give either --ri (a column) or --assumed-ri (one value), not both")
        escalc_columns["ri"] = options["assumed_ri"]
    with clean_errors():
        data = str(input_path)
        if measure:
            data = models.escalc(
                measure,
                data,
                add=options["add"],
                to=options["to"],
                vtype=options["vtype"],
                na_action=options["na_action"],
                **escalc_columns,
            )
        elif escalc_columns:
            given = next(iter(escalc_columns))
            assumed = given == "ri" and options["assumed_ri"] is not None
            raise click.UsageError(f"--{'assumed-ri' if assumed else given} needs --measure")
        if options["random"] or options["robust"]:  # rma.mv and/or robust(): their own road
            from ketabridge.cli.analyze_multilevel import run_multilevel

            return run_multilevel(data, options)
        result = models.rma(
            data,
            options["yi"],
            options["vi"],
            sei=options["sei"],
            slab=options["slab"],
            mods=moderators(options["mods"]),
            method=options["method"],
            test=options["test"],
            level=options["level"],
            na_action=options["na_action"],
        )
        extras = {}
        if options["trimfill"]:
            extras["trimfill"] = models.trimfill(result, options["trimfill_side"], options["trimfill_estimator"])
        if options["regtest"]:
            extras["regtest"] = models.regtest(result, options["regtest_model"], options["regtest_predictor"])
        if options["ranktest"]:
            extras["ranktest"] = models.ranktest(result)
        extras.update(_publication_bias_extras(result, options))
        written = _draw_plots(result, extras.get("trimfill"), options)
    text = {"table": render.as_text, "json": render.as_json, "csv": render.as_csv}[options["output_format"]](
        result, extras
    )
    if options["out"]:
        options["out"].write_text(text, encoding="utf-8")
        written.append(options["out"])
    else:
        click.echo(text, nl=False)
    for path in written:
        click.echo(f"wrote {path}", err=True)


def _publication_bias_extras(result, options) -> dict:
    """selmodel, PET-PEESE and the test of excess significance, as asked."""
    from ketabridge.analyses import selection, small_study

    extras = {}
    if options["selmodel_type"]:
        extras["selmodel"] = selection.selmodel(
            result,
            options["selmodel_type"],
            steps=list(options["selmodel_steps"]) or None,
            alternative=options["selmodel_alternative"],
        )
    elif options["selmodel_steps"]:
        raise click.UsageError("--selmodel-steps needs --selmodel TYPE")
    if options["pet_peese"]:
        extras["pet_peese"] = small_study.pet_peese(result)
    if options["excess"]:
        extras["tes"] = small_study.tes(result)
    if options["permutest"]:
        from ketabridge.analyses.permutation import permutest

        extras["permutest"] = permutest(result, iter=options["permutest"], seed=options["permutest_seed"])
    elif options["permutest_seed"] is not None:
        raise click.UsageError("--permutest-seed needs --permutest ITER")
    return extras


def _draw_plots(result, filled, options) -> list[Path]:
    """The forest plot of the model; the funnel of its trim-and-fill version when there is one."""
    from ketabridge.analyses import plots

    sizes = {name: options[f"plot_{name}"] for name in ("width", "height") if options[f"plot_{name}"] is not None}
    written = []
    if options["forest_path"]:
        written.append(plots.forest(result, options["forest_path"], dpi=options["dpi"], **sizes))
    if options["funnel_path"]:
        written.append(
            plots.funnel(
                filled or result,
                options["funnel_path"],
                dpi=options["dpi"],
                contours=options["funnel_contours"],
                **sizes,
            )
        )
    return written


def _analyze_counts(input_path: Path, measure: str | None, columns: dict, options: dict) -> None:
    """--model mh|peto|glmm: the count model (ketabridge.rma_mh, rma_peto, rma_glmm) of the count columns."""
    from ketabridge.analyses.glmm import rma_glmm
    from ketabridge.analyses.rare import rma_mh, rma_peto
    from ketabridge.plans import render_counts

    kind = options["model_kind"]
    extras = [name for name in ("trimfill", "regtest", "ranktest", "permutest") if options[name]]
    extras += [f"{name}_path" for name in ("forest", "funnel") if options[f"{name}_path"]]
    if extras:
        shown = ", ".join(f"--{name.removesuffix('_path')}" for name in extras)
        raise click.UsageError(f"{shown} is for --model rma, not --model {kind}")
    common = {"level": options["level"], "slab": options["slab"], "na_action": options["na_action"]}
    with clean_errors():
        if kind == "mh":
            result = rma_mh(str(input_path), measure or "OR", add=options["add"], to=options["to"], **common, **columns)
        elif kind == "peto":
            result = rma_peto(str(input_path), add=options["add"], to=options["to"], **common, **columns)
        else:
            if not measure:
                raise click.UsageError("--model glmm needs --measure (OR, RR, RD, IRR, PLO, PR, PLN or IRLN)")
            method = "ML" if options["method"] == "REML" else options["method"]  # rma's default is not a GLMM's
            result = rma_glmm(
                str(input_path),
                measure,
                model=options["glmm_model"],
                method=method,
                test=options["test"],
                mods=list(options["mods"]) or None,
                **common,
                **columns,
            )
    text = {"table": render_counts.as_text, "json": render_counts.as_json, "csv": render_counts.as_csv}[
        options["output_format"]
    ](result)
    if options["out"]:
        options["out"].write_text(text, encoding="utf-8")
        click.echo(f"wrote {options['out']}", err=True)
    else:
        click.echo(text, nl=False)
