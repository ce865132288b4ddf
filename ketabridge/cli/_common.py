"""What every command shares: errors as one line, warnings as one line each."""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import click

from ketabridge.errors import KetabridgeError
from ketabridge.options import ESCALC_COLUMNS


def escalc_options(command):
    """Add one ``--ai``, ``--n1i``, ... option per metafor escalc argument."""
    for argument in reversed(ESCALC_COLUMNS):
        command = click.option(f"--{argument}", metavar="COL", help=f"escalc column for {argument}")(command)
    return command


@contextmanager
def clean_errors():
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


def moderators(given: tuple[str, ...]) -> str | list[str] | None:
    """--mods: one formula (it has a '~'), or moderator columns, repeated."""
    formulas = [value for value in given if "~" in value]
    if formulas and len(given) > 1:
        raise click.UsageError("--mods takes one formula or repeated column names, not both (write one formula)")
    return formulas[0] if formulas else list(given) or None
