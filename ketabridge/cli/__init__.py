"""The `ketabridge` command: a thin click shell over the API, one module per command.

Nothing here starts R until a command runs, and each command imports the API (pandas, numpy,
pyarrow) only when it runs, so --help, --version and shell completion stay fast
(tests/test_cli_imports.py checks which modules they load).
"""

from __future__ import annotations

import click

from ketabridge.cli.analyze import analyze
from ketabridge.cli.batch import batch
from ketabridge.cli.crosscheck import crosscheck
from ketabridge.cli.doctor import doctor
from ketabridge.cli.run import run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ketabridge")
def main() -> None:
    """metafor-validated meta-analysis: R's metafor from Python, with tidy results."""


for command in (analyze, doctor, run, batch, crosscheck):
    main.add_command(command)
