"""`ketabridge doctor`: is everything ketabridge needs installed?"""

from __future__ import annotations

import sys

import click


@click.command()
def doctor() -> None:
    """Check R, metafor and rpy2; print one line per problem with its fix."""
    from .._r.session import r_session, rpy2_version
    from ..errors import RNotAvailableError
    from ..results import ketabridge_version

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
