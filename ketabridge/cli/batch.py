"""`ketabridge batch`: one meta-analysis per group of a long table, written to a directory."""

from __future__ import annotations

from pathlib import Path

import click

from ketabridge.cli._common import clean_errors, escalc_options, moderators
from ketabridge.options import (
    ENGINES,
    ESCALC_COLUMNS,
    MEASURES,
    METHODS,
    REGTEST_MODELS,
    STRUCTS,
    TESTS,
    TRIMFILL_ESTIMATORS,
    TRIMFILL_SIDES,
)


def _verify_option(ctx, param, value: str):
    """'all', a count (a whole number: 300) or a fraction (with a point: 0.01); 0 is checked
    against --skip-verification-unsafe by batch() itself."""
    if ctx.resilient_parsing:  # shell completion: the default runs through here
        return value
    if value == "all":
        return value
    try:
        number = int(value) if value.strip().lstrip("+").isdigit() else float(value)
    except ValueError:
        number = None
    if number is None or number < 0 or (isinstance(number, float) and not 0 < number <= 1):
        raise click.BadParameter(
            f"{value!r} is neither a count (a whole number), a fraction in (0, 1] nor 'all'"
        ) from None
    return number


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--by", required=True, metavar="COL", help="column of analysis ids (one analysis per id)")
@click.option("--yi", default="yi", show_default=True, metavar="COL", help="effect size column")
@click.option("--vi", default="vi", show_default=True, metavar="COL", help="sampling variance column")
@click.option("--sei", metavar="COL", help="standard error column (instead of --vi)")
@click.option("--measure", type=click.Choice(MEASURES), help="compute yi/vi with escalc first (or label them)")
@escalc_options
@click.option(
    "--mods",
    multiple=True,
    metavar="FORMULA|COL",
    help="moderators of every analysis: a formula ('~ factor(alloc) + ablat') or a column (repeatable)",
)
@click.option(
    "--random",
    multiple=True,
    metavar="TERM",
    help="fit each analysis with rma.mv and this random term, e.g. '~ 1 | study/es_id' (repeatable)",
)
@click.option(
    "--struct", multiple=True, type=click.Choice(STRUCTS), help="var-cov structure of an '~ inner | outer' term"
)
@click.option("--method", type=click.Choice(METHODS), default="REML", show_default=True)
@click.option("--test", type=click.Choice(TESTS), default="z", show_default=True)
@click.option("--level", type=float, default=95.0, show_default=True, help="confidence level, percent")
@click.option("--trimfill", is_flag=True, help="add trim-and-fill to each analysis")
@click.option("--trimfill-estimator", type=click.Choice(TRIMFILL_ESTIMATORS), default="L0", show_default=True)
@click.option("--trimfill-side", type=click.Choice(TRIMFILL_SIDES), help="side to fill [default: chosen by metafor]")
@click.option("--regtest", is_flag=True, help="add Egger's regression test (predictor sei) to each analysis")
@click.option("--regtest-model", type=click.Choice(REGTEST_MODELS), default="rma", show_default=True)
@click.option("--ranktest", is_flag=True, help="add Begg's rank correlation test to each analysis")
@click.option(
    "--fallback",
    is_flag=True,
    help="refit non-converged models with stepadj=0.5, maxiter=1000, then DL; recorded in status",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="metafor",
    show_default=True,
    help="fast: numpy replaying metafor's algorithms, checked against metafor on every run",
)
@click.option(
    "--verify",
    default="300",
    show_default=True,
    callback=_verify_option,
    metavar="COUNT|FRACTION|all",
    help="with --engine fast: analyses rerun on metafor, a stratified sample with a per-class bound "
    "(a count), or a share of them plus every non-interior one (a fraction: 0.01)",
)
@click.option(
    "--skip-verification-unsafe",
    is_flag=True,
    help="with --verify 0: do not check the fast engine against metafor at all (provenance says UNVERIFIED)",
)
@click.option("--verify-seed", type=int, default=0, show_default=True, help="seed of the verification sample")
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="worker processes, each with its own R (with --engine fast: also numpy's; 0: run in this process)",
)
@click.option("--scheduler", metavar="ADDRESS", help="run on this Dask scheduler (tcp://host:8786) instead")
@click.option("--chunk-size", type=click.IntRange(min=1), help="analyses per chunk [default: up to 250]")
@click.option("--resume", is_flag=True, help="continue a batch in --out, skipping the analyses already done")
@click.option("--csv", is_flag=True, help="also write glance.csv, tidy.csv and status.csv")
@click.option("--progress/--no-progress", default=None, help="progress bar [default: on a terminal only]")
@click.option("--quiet", is_flag=True, help="no progress bar (as --no-progress)")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="output directory")
@click.option(
    "--model",
    type=click.Choice(("rma", "mh", "peto")),
    default="rma",
    show_default=True,
    help="mh: Mantel-Haenszel (rma.mh), peto: Peto's odds ratio (rma.peto) per group, from the count columns",
)
def batch(input_path: Path, **options) -> None:
    """Fit one random-effects model (metafor's rma) per --by group of INPUT (CSV, Parquet, Feather, Arrow IPC).

    With --random (repeatable), each group is fitted with rma.mv and those random terms.
    Writes glance.parquet, tidy.parquet, status.parquet and provenance.json to --out. With
    --engine fast, a disagreement with metafor on the verified analyses exits with status 1
    (the files are written, and provenance.json lists every disagreement).
    """
    from ketabridge.batches import batch as run_batch

    if options.pop("quiet"):
        options["progress"] = False
    given = {name: options.pop(name) for name in ESCALC_COLUMNS}
    escalc_columns = {name: column for name, column in given.items() if column}
    model = options.pop("model")
    random, struct = list(options.pop("random")), list(options.pop("struct"))
    if model != "rma":
        if options.pop("mods"):
            raise click.UsageError(f"--mods is for --model rma, not {model!r}")
        if random or struct:
            raise click.UsageError(f"--random and --struct are for --model rma, not {model!r}")
        _count_batch(input_path, model, escalc_columns, options)
        return
    options["mods"] = moderators(options["mods"])
    if random or struct:  # rma.mv per analysis (omitted otherwise, so batch()'s defaults apply)
        options["random"] = random or None
        options["struct"] = (struct[0] if len(struct) == 1 else struct) or None
    with clean_errors():
        result = run_batch(
            str(input_path), fallback=True if options.pop("fallback") else None, **options, **escalc_columns
        )
    run = result.provenance.details
    counts = run["status_counts"]  # not result.status(): a batch under --out keeps its tables on disk
    click.echo(
        f"{run['analyses']} analyses: {counts.get('ok', 0)} ok, {counts.get('warning', 0)} warning, "
        f"{counts.get('error', 0)} error; wrote {options['out']}",
        err=True,
    )
    verification = run.get("verification")
    if verification:
        engines = ", ".join(f"{count} {name or 'none (input checks)'}" for name, count in run["engine_counts"].items())
        worst = verification.get("worst", {})
        classes = "; ".join(
            f"{name} {row['checked']}/{row['total']}"
            + (f" (<= {100 * row['upper_bound_95']:.2g} %)" if row["upper_bound_95"] is not None else "")
            for name, row in verification.get("classes", {}).items()
            if row["total"]
        )
        click.echo(
            f"engines: {engines}; verified against metafor: {verification['checked']} analyses "
            f"({verification.get('sample', 0)} of the whole batch, {verification.get('stratified', 0)} by class: "
            f"{classes or 'none'}; 95 % upper bounds on the disagreement rate"
            + (
                f"; {verification['also_checked']} more run ahead and compared"
                if verification.get("also_checked")
                else ""
            )
            + f"), {verification['verdict']}"
            + (
                f", worst {worst['column']} at {worst['share_of_tolerance']:.2g} of its tolerance"
                if worst.get("column")
                else ""
            ),
            err=True,
        )


def _count_batch(input_path: Path, model: str, columns: dict, options: dict) -> None:
    """--model mh|peto: one count model per group (ketabridge.batches.count_batch), each with its status."""
    from ketabridge.batches.count_batch import count_batch

    unsupported = [name for name in ("trimfill", "regtest", "ranktest", "scheduler") if options[name]]
    if unsupported or options["engine"] != "metafor":
        shown = ", ".join(f"--{name}" for name in unsupported) or "--engine fast"
        raise click.UsageError(f"--model {model} runs rma.{model}; {shown} is for --model rma")
    with clean_errors():
        result = count_batch(
            str(input_path),
            options["by"],
            model,
            columns,
            measure=options["measure"] or "OR",
            level=options["level"],
            out=options["out"],
            csv=options["csv"],
            workers=options["workers"],
            chunk_size=options["chunk_size"],
            resume=options["resume"],
        )
    counts = result.status()["status"].value_counts()
    click.echo(
        f"{len(result.status())} analyses: {counts.get('ok', 0)} ok, {counts.get('warning', 0)} warning, "
        f"{counts.get('error', 0)} error; wrote {options['out']}",
        err=True,
    )
