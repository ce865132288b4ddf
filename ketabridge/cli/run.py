"""`ketabridge run [PLAN]`: every analysis of a plan, with files and a report."""

from __future__ import annotations

from pathlib import Path

import click

from ketabridge.cli._common import clean_errors


@click.command()
@click.argument("plan_path", metavar="[PLAN]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    default="ketabridge-out",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for tables, plots, results.json, provenance.json and report.html",
)
@click.option("--quiet", is_flag=True, help="no progress lines")
def run(plan_path: Path | None, out_dir: Path, quiet: bool) -> None:
    """Run an analysis plan (TOML); with no PLAN, the bundled CRPS ketamine case study."""
    from ketabridge.plans.outputs import summary_text, write_plan_outputs
    from ketabridge.plans.plan_file import bundled_plan_path, load_plan
    from ketabridge.plans.runner import run_plan

    def progress(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    with clean_errors():
        plan = load_plan(plan_path or bundled_plan_path())
        progress(f"plan {plan.path} ({len(plan.analyses)} analyses)")
        result = run_plan(plan, plot_dir=out_dir / "plots", progress=progress)
        written = write_plan_outputs(result, out_dir)
    click.echo(summary_text(result), nl=False)
    click.echo(
        f"wrote {len(written)} files and {sum(len(r.plots) for r in result.runs)} plots to {out_dir}; "
        f"open {out_dir / 'report.html'}",
        err=True,
    )
