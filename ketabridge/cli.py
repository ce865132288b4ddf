"""The ketabridge command: a thin click shell over api.py. Nothing here starts R until a command runs."""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import click

from .errors import KetabridgeError
from .options import (
    ESCALC_COLUMNS, ESCALC_TO, ESCALC_VTYPES, MEASURES, METHODS, NA_ACTIONS, REGTEST_MODELS,
    REGTEST_PREDICTORS, TESTS, TRIMFILL_ESTIMATORS, TRIMFILL_SIDES,
)

FORMATS = ("table", "json", "csv")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ketabridge")
def main() -> None:
    """metafor-validated meta-analysis: R's metafor from Python, with tidy results."""


def _escalc_options(command):
    for argument in reversed(ESCALC_COLUMNS):
        command = click.option(f"--{argument}", metavar="COL", help=f"escalc column for {argument}")(command)
    return command


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yi", default="yi", show_default=True, metavar="COL", help="effect size column")
@click.option("--vi", default="vi", show_default=True, metavar="COL", help="sampling variance column")
@click.option("--sei", metavar="COL", help="standard error column (instead of --vi)")
@click.option("--slab", metavar="COL", help="study label column")
@click.option("--mods", multiple=True, metavar="COL", help="moderator column (repeatable)")
@click.option("--measure", type=click.Choice(MEASURES), help="compute yi/vi with escalc first")
@_escalc_options
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
    from . import api, render

    escalc_columns = {name: options.pop(name) for name in ESCALC_COLUMNS if options.get(name)}
    measure = options.pop("measure")
    with _clean_errors():
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


@main.command()
def doctor() -> None:
    """Check R, metafor and rpy2; print one line per problem with its fix."""
    from ._r.session import r_session, rpy2_version
    from .errors import RNotAvailableError
    from .results import ketabridge_version

    click.echo(f"ketabridge {ketabridge_version()}")
    click.echo(f"python     {sys.version.split()[0]}")
    click.echo(f"rpy2       {rpy2_version()}")
    try:
        session = r_session()
    except RNotAvailableError as error:
        click.echo(f"problem: {error}")
        raise SystemExit(1)
    click.echo(f"R          {session.r_version} (R_HOME {session.r_home})")
    click.echo(f"metafor    {session.metafor_version}")
    click.echo("everything ketabridge needs is here")


@contextmanager
def _clean_errors():
    """Show warnings as one line each on stderr, and errors as one 'Error:' line, never a traceback."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except KetabridgeError as error:
            raise click.ClickException(" ".join(str(error).split())) from None
        finally:
            for warning in caught:
                click.echo(f"Warning: {warning.message}", err=True)
