"""Which rpy2 loads into which R, decided before rpy2 is imported (importing it loads R).

rpy2 3.6 calls R_getVar, which R has only from 4.5 on, so it cannot load into older R; R 4.6
hid C functions that rinterface < 3.6.7 used (rpy2's NEWS, 3.6.7). rpy2 3.5.x loads into R
4.0 to 4.6 (checked in this project's lanes), and is what Debian pairs with R 4.5.
"""

from __future__ import annotations

import re
import subprocess
from importlib import metadata
from pathlib import Path

from ketabridge.errors import RNotAvailableError

RPY2_FOR_OLD_R = "rpy2>=3.5.13,<3.6"  # what `make setup` installs below R 4.6
RPY2_FOR_NEW_R = "rpy2>=3.6.9"  # ... and from R 4.6 on


def version_tuple(version: str) -> tuple[int, ...]:
    """'4.2.2' -> (4, 2, 2); '3.8-1' -> (3, 8, 1); '3.6.9.dev0' -> (3, 6, 9)."""
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def rpy2_versions() -> dict[str, str]:
    """Installed rpy2 distributions: rpy2 3.6 is split into rpy2-rinterface and rpy2-robjects
    (and has no rpy2.__version__); in 3.5 one distribution, rpy2, holds both."""
    found = {}
    for name in ("rpy2", "rpy2-rinterface", "rpy2-robjects"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    for part in ("rpy2-rinterface", "rpy2-robjects"):
        if part not in found and "rpy2" in found:
            found[part] = found["rpy2"]
    return found


def r_version_at(r_home: str) -> str:
    """The version of the R at r_home, from `R --version` (without loading R into Python)."""
    try:
        printed = subprocess.run(
            [str(Path(r_home, "bin", "R")), "--version"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise RNotAvailableError(f"`{r_home}/bin/R --version` failed ({error})") from error
    match = re.search(r"R version (\d+\.\d+\.\d+)", printed)
    if match is None:
        raise RNotAvailableError(f"cannot read R's version from `{r_home}/bin/R --version`: {printed[:200]!r}")
    return match.group(1)


def rpy2_problem(rinterface: str | None, r_version: str) -> str | None:
    """Why this rpy2-rinterface cannot load into this R, with the rpy2 to install; None if it can."""
    fitting = RPY2_FOR_NEW_R if version_tuple(r_version) >= (4, 6) else RPY2_FOR_OLD_R
    install = f"install the rpy2 that fits: pip install '{fitting}'"
    if rinterface is None:
        return f"rpy2 is not installed; {install}"
    have, r = version_tuple(rinterface), version_tuple(r_version)
    if have < (3, 5, 13):
        return f"rpy2 {rinterface} is too old for ketabridge (R {r_version} found); {install}"
    if have >= (3, 6) and r < (4, 5):
        return f"rpy2-rinterface {rinterface} needs R >= 4.5, and R {r_version} was found; {install}"
    if (3, 6) <= have < (3, 6, 7) and r >= (4, 6):
        return f"rpy2-rinterface {rinterface} cannot load into R {r_version} (R 4.6 needs >= 3.6.7); {install}"
    return None
