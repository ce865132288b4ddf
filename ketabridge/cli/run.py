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
@click.option("--quiet", is_flag=True, help="no progress bar or lines")
def run(plan_path: Path | None, out_dir: Path, quiet: bool) -> None:
    """Run an analysis plan (TOML); with no PLAN, the bundled CRPS ketamine case study."""
    from ketabridge.plans.outputs import summary_text, write_plan_outputs
    from ketabridge.plans.plan_file import bundled_plan_path, load_plan
    from ketabridge.plans.runner import run_plan
    from ketabridge.progress_bar import progress_bar, wanted

    # On a terminal (or in a notebook) a tqdm bar; elsewhere (logs, CI) one line per analysis.
    bar_wanted = not quiet and wanted(None)

    def progress(line: str) -> None:
        if bar_wanted:
            if line.startswith("["):  # "[n/N] name: title", as analysis n starts
                bar.update(int(line[1:].split("/")[0]) - 1 - bar.n)
                bar.set_postfix_str(line.split("] ", 1)[1].split(":", 1)[0])
        elif not quiet:
            click.echo(line, err=True)

    with clean_errors():
        plan = load_plan(plan_path or bundled_plan_path())
        bar = progress_bar(len(plan.analyses), bar_wanted, "plan", "analyses")
        progress(f"plan {plan.path} ({len(plan.analyses)} analyses)")
        try:
            result = run_plan(plan, plot_dir=out_dir / "plots", progress=progress)
            bar.update(len(plan.analyses) - bar.n)
        finally:
            bar.close()
        written = write_plan_outputs(result, out_dir)
    click.echo(summary_text(result), nl=False)
    click.echo(
        f"wrote {len(written)} files and {sum(len(r.plots) for r in result.runs)} plots to {out_dir}; "
        f"open {out_dir / 'report.html'}",
        err=True,
    )
