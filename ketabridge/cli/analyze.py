"""`ketabridge analyze`: one meta-analysis of one table."""

from __future__ import annotations

from pathlib import Path

import click

from ..options import (
    ESCALC_COLUMNS, ESCALC_TO, ESCALC_VTYPES, MEASURES, METHODS, NA_ACTIONS, REGTEST_MODELS,
    REGTEST_PREDICTORS, TESTS, TRIMFILL_ESTIMATORS, TRIMFILL_SIDES,
)
from ._common import clean_errors, escalc_options

FORMATS = ("table", "json", "csv")


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yi", default="yi", show_default=True, metavar="COL", help="effect size column")
@click.option("--vi", default="vi", show_default=True, metavar="COL", help="sampling variance column")
@click.option("--sei", metavar="COL", help="standard error column (instead of --vi)")
@click.option("--slab", metavar="COL", help="study label column")
@click.option("--mods", multiple=True, metavar="COL", help="moderator column (repeatable)")
@click.option("--measure", type=click.Choice(MEASURES), help="compute yi/vi with escalc first")
@escalc_options
@click.option("--add", type=float, help="escalc: continuity correction")
@click.option("--to", type=click.Choice(ESCALC_TO), help="escalc: where to add it")
@click.option("--vtype", type=click.Choice(ESCALC_VTYPES), help="escalc: variance type")
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
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write to this file, not stdout")
def analyze(input_path: Path, **options) -> None:
    """Fit a random-effects model (metafor's rma) to INPUT (CSV, Parquet, Feather or Arrow IPC)."""
    from .. import api, render

    escalc_columns = {name: options.pop(name) for name in ESCALC_COLUMNS if options.get(name)}
    measure = options.pop("measure")
    with clean_errors():
        data = str(input_path)
        if measure:
            data = api.escalc(
                measure, data, add=options["add"], to=options["to"], vtype=options["vtype"],
                na_action=options["na_action"], **escalc_columns,
            )
        elif escalc_columns:
            raise click.UsageError(f"--{next(iter(escalc_columns))} needs --measure")
        result = api.rma(
            data, options["yi"], options["vi"], sei=options["sei"], slab=options["slab"],
            mods=list(options["mods"]) or None, method=options["method"], test=options["test"],
            level=options["level"], na_action=options["na_action"],
        )
        extras = {}
        if options["trimfill"]:
            extras["trimfill"] = api.trimfill(result, options["trimfill_side"], options["trimfill_estimator"])
        if options["regtest"]:
            extras["regtest"] = api.regtest(result, options["regtest_model"], options["regtest_predictor"])
        if options["ranktest"]:
            extras["ranktest"] = api.ranktest(result)
    text = {"table": render.as_text, "json": render.as_json, "csv": render.as_csv}[options["output_format"]](
        result, extras
    )
    if options["out"]:
        options["out"].write_text(text, encoding="utf-8")
        click.echo(f"wrote {options['out']}", err=True)
    else:
        click.echo(text, nl=False)
