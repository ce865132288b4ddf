"""The other R packages a fit computes with (lme4, clubSandwich...): whether this R has them, and
their versions for the result's provenance."""

from __future__ import annotations

from collections.abc import Sequence

from ketabridge.bridge.call import call_entry
from ketabridge.errors import RNotAvailableError


def r_package_versions(packages: Sequence[str]) -> dict[str, str]:
    """name -> installed version ("" where this R cannot load it), for each of ``packages``."""
    if not packages:
        return {}
    reply = call_entry("kb_packages", list(packages))
    return {
        name: version if installed else ""
        for name, installed, version in zip(reply.value["package"], reply.value["installed"], reply.value["version"])
    }


def require_r_packages(packages: Sequence[str], why: str) -> dict[str, str]:
    """The version of each R package of ``packages`` (name -> version, for the provenance);
    RNotAvailableError naming those this R cannot load."""
    versions = r_package_versions(packages)
    missing = [name for name, version in versions.items() if not version]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        debian = " ".join(f"r-cran-{name.lower()}" for name in missing)
        raise RNotAvailableError(
            f"{why} needs the R package{'s' if len(missing) > 1 else ''} {names}, not installed in this R "
            f"(apt-get install {debian}, or in R: install.packages(c({', '.join(repr(n) for n in missing)})))"
        )
    return versions
