"""`ketabridge crosscheck`: an engine's numbers against metafor's; exit code 1 on any disagreement."""

from __future__ import annotations

from pathlib import Path

import click

from ketabridge.cli._common import clean_errors
from ketabridge.options import METHODS, TESTS


@click.command()
@click.option(
    "--engine",
    required=True,
    metavar="NAME|module:function",
    help="statsmodels, pymare, fast (ketabridge's own), or module:function of an engine following ketabridge.Engine",
)
@click.option(
    "--suite",
    default="reference",
    show_default=True,
    metavar="reference|random|edge|FILE",
    help="data sets to compare on; FILE is long format (one row per study)",
)
@click.option("--by", default="dataset", show_default=True, metavar="COL", help="data set column of --suite FILE")
@click.option("--yi", default="yi", show_default=True, metavar="COL", help="effect size column of --suite FILE")
@click.option("--vi", default="vi", show_default=True, metavar="COL", help="sampling variance column of --suite FILE")
@click.option(
    "--n", "n", type=click.IntRange(min=1), default=200, show_default=True, help="data sets of the random suite"
)
@click.option("--seed", type=int, default=1, show_default=True, help="seed of the random suite")
@click.option(
    "--method",
    "methods",
    multiple=True,
    type=click.Choice(METHODS),
    help="estimator(s) to compare (repeatable) [default: all the engine declares]",
)
@click.option(
    "--test",
    "tests",
    multiple=True,
    type=click.Choice(TESTS),
    help="test(s) to compare (repeatable) [default: all the engine declares]",
)
@click.option("--level", type=float, default=95.0, show_default=True, help="confidence level, percent")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="write discrepancies and summary (Parquet, CSV), report.html and reproducers/ here",
)
@click.option("--quiet", is_flag=True, help="no progress bar [default: a bar on a terminal only]")
def crosscheck(engine: str, suite: str, methods: tuple, tests: tuple, out: Path | None, quiet: bool, **options) -> None:
    """Compare an engine with metafor on a suite of data sets, quantity by quantity.

    Prints the summary per quantity; exits with code 1 when any value disagrees.
    """
    from ketabridge.crosschecks import crosscheck as run_crosscheck

    with clean_errors():
        result = run_crosscheck(
            engine, suite, methods=methods or None, tests=tests or None, progress=False if quiet else None, **options
        )
        if out is not None:
            result.write(out)
    click.echo(result.summary().to_string(index=False))
    counts = result.discrepancies()["verdict"].value_counts()
    line = ", ".join(
        f"{counts.get(name, 0)} {name}"
        for name in ("agree", "differ-by-definition", "disagree", "engine-failed", "metafor-failed")
    )
    run = result.provenance.details
    click.echo(
        f"{run['engine']} vs metafor on {run['datasets']} data sets: {line}"
        + (f"; wrote {out}" if out is not None else ""),
        err=True,
    )
    if not result.ok:
        raise SystemExit(1)
