"""`ketabridge doctor`: is everything ketabridge needs installed, and which versions are they?"""

from __future__ import annotations

import sys

import click


@click.command()
def doctor() -> None:
    """Check R, metafor and rpy2; print the versions, and one line per problem with its fix."""
    from ketabridge.analyses.results import ketabridge_version
    from ketabridge.bridge.compat import rpy2_versions
    from ketabridge.bridge.session import r_session
    from ketabridge.errors import RNotAvailableError

    click.echo(f"ketabridge       {ketabridge_version()}")
    click.echo(f"python           {sys.version.split()[0]}")
    click.echo(f"pandas           {_version_of('pandas')}")
    installed = rpy2_versions()
    for name in ("rpy2", "rpy2-rinterface", "rpy2-robjects"):
        click.echo(f"{name:<16} {installed.get(name, 'not installed')}")
    try:
        session = r_session()
    except RNotAvailableError as error:
        click.echo(f"problem: {error}")
        raise SystemExit(1) from None
    click.echo(f"R                {session.r_version} (R_HOME {session.r_home})")
    click.echo(f"metafor          {session.metafor_version}")
    click.echo("everything ketabridge needs is here")


def _version_of(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"
