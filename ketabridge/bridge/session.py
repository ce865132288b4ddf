"""The embedded R session: started lazily on the first analysis, once per process.

This package is the only place that imports rpy2, so `import ketabridge` never starts R.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from ketabridge.bridge.compat import r_version_at, rpy2_problem, rpy2_versions, version_tuple
from ketabridge.errors import RNotAvailableError

R_FLOOR = (4, 0)  # rpy2 3.5.x needs R >= 4.0
METAFOR_FLOOR = (3, 8)  # the oldest metafor whose vocabularies and behaviours ketabridge knows
# ketabridge/r/kb_<name>.R defines the entry point kb_<name> (and helpers only it uses); ketabridge/r/helpers_*.R
# define the helpers several entry points share, and no entry point.
ENTRY_FILE_PREFIX = "kb_"
HELPER_FILE_PREFIX = "helpers_"

_start_lock = threading.Lock()
# Captured at import, which always precedes R's start (this module starts R): rpy2 and R
# both change LD_LIBRARY_PATH while R starts, os.environ included.
_LD_LIBRARY_PATH_BEFORE_R = os.environ.get("LD_LIBRARY_PATH")
# R is single-threaded: every call into it, from any Python thread, holds this lock.
r_lock = threading.RLock()


@dataclass(frozen=True)
class RSession:
    env: object  # the private R environment holding the kb_* entry points and their helpers
    r_version: str
    r_home: str
    metafor_version: str
    rpy2_version: str
    rpy2_rinterface_version: str
    rpy2_robjects_version: str

    def versions(self) -> dict[str, str]:
        """The versions every result's provenance records."""
        return {
            "r_version": self.r_version,
            "metafor_version": self.metafor_version,
            "rpy2_version": self.rpy2_version,
            "rpy2_rinterface_version": self.rpy2_rinterface_version,
            "rpy2_robjects_version": self.rpy2_robjects_version,
        }

    def entry(self, name: str):
        return self.env.find(name)


def find_r_home() -> str:
    """R_HOME from the environment, or from `R RHOME`; RNotAvailableError if there is no R."""
    home = os.environ.get("R_HOME")
    if home:
        if not Path(home, "bin").is_dir():
            raise RNotAvailableError(f"R_HOME is set to {home!r}, which holds no R installation")
        return home
    r_binary = shutil.which("R")
    if r_binary is None:
        raise RNotAvailableError("R is not installed (no `R` on PATH and R_HOME is not set)")
    try:
        found = subprocess.run([r_binary, "RHOME"], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as error:
        raise RNotAvailableError(f"`R RHOME` failed ({error})") from error
    return found.stdout.strip()


def r_source_files() -> list[Path]:
    """The .R files shipped inside the package (ketabridge/r in a wheel, r/ in a checkout), sorted:
    one kb_<name>.R per entry point and the helpers_*.R files they share."""
    folder = resources.files("ketabridge.r")
    files = sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".R"))
    if not files:
        raise RNotAvailableError(f"ketabridge's R files are missing from {folder}; reinstall ketabridge")
    return files


@cache
def entry_points() -> frozenset[str]:
    """The R functions call_entry may call: kb_<name> of each ketabridge/r/kb_<name>.R file (the
    helpers_*.R files define helpers only), read from the file names without starting R."""
    return frozenset(path.stem for path in r_source_files() if path.name.startswith(ENTRY_FILE_PREFIX))


def rpy2_version() -> str:
    """The rpy2 release (rpy2-rinterface's where only the split packages are installed)."""
    found = rpy2_versions()
    return found.get("rpy2") or found.get("rpy2-rinterface") or "not installed"


@cache
def _start() -> RSession:
    r_home = find_r_home()
    r_version = r_version_at(r_home)
    _check_floor("R", r_version, R_FLOOR)
    installed = rpy2_versions()
    problem = rpy2_problem(installed.get("rpy2-rinterface"), r_version)
    if problem:  # before importing rpy2: a mismatched rpy2 fails to load, or crashes, on import
        raise RNotAvailableError(problem)
    os.environ.setdefault("R_HOME", r_home)
    try:
        import rpy2.rinterface as ri
        import rpy2.rinterface_lib.callbacks as callbacks

        # R's console output would reach the user's terminal as noise; errors come back as data.
        callbacks.consolewrite_print = lambda text: None
        callbacks.consolewrite_warnerror = lambda text: None
        # rpy2 3.6 removed initr_simple; its initr also checks R's environment variables.
        start_r = getattr(ri, "initr_simple", None) or ri.initr
        start_r()
        _restore_library_path()
    except Exception as error:  # rpy2 raises many kinds here (ImportError, OSError, RuntimeError)
        raise RNotAvailableError(
            f"rpy2 {rpy2_version()} cannot start R {r_version} at {r_home} ({type(error).__name__}: {error})"
        ) from error

    env = ri.baseenv.find("new.env")()
    sys_source = ri.baseenv.find("sys.source")
    for path in r_source_files():
        sys_source(ri.StrSexpVector([str(path)]), envir=env)
    env.find("kb_compile")(env)
    from ketabridge.bridge.marshal import scalar, to_python

    versions = {name: scalar(value) for name, value in to_python(env.find("kb_versions")()).items()}
    session = RSession(
        env=env,
        r_version=versions["r"],
        r_home=versions["r_home"],
        metafor_version=versions["metafor"] or "",
        rpy2_version=rpy2_version(),
        rpy2_rinterface_version=installed["rpy2-rinterface"],
        rpy2_robjects_version=installed.get("rpy2-robjects", "not installed"),
    )
    if not session.metafor_version:
        raise RNotAvailableError(f"the R package metafor is not installed in R {session.r_version} ({r_home})")
    _check_floor("metafor", session.metafor_version, METAFOR_FLOOR)
    return session


def _restore_library_path() -> None:
    """Undo R's change to LD_LIBRARY_PATH in the C environment that child processes inherit.

    R's start-up prepends its library folders. That changes nothing for this process (the loader
    read the variable at exec), but a Python child started with it loads the system's libpython
    into its _ssl module and fails ("undefined symbol: _PyModule_Add").
    """
    if _LD_LIBRARY_PATH_BEFORE_R is None:
        os.environ.pop("LD_LIBRARY_PATH", None)
        os.unsetenv("LD_LIBRARY_PATH")
    else:
        os.environ["LD_LIBRARY_PATH"] = _LD_LIBRARY_PATH_BEFORE_R


def started() -> bool:
    """Whether R already runs in this process (without starting it)."""
    return _start.cache_info().currsize > 0


def r_session() -> RSession:
    """The process's R session, started on first use; raises RNotAvailableError with a fix."""
    with _start_lock:
        return _start()


def _check_floor(what: str, version: str, floor: tuple[int, ...]) -> None:
    if version_tuple(version)[: len(floor)] < floor:
        raise RNotAvailableError(f"{what} {version} is too old; ketabridge needs {what} >= {'.'.join(map(str, floor))}")


def installed_metafor_version() -> str:
    """The metafor version of the R this process uses: the running session's if R has started
    here, else asked of a separate Rscript, so the fast engine need not start R in-process."""
    if started():
        return r_session().metafor_version
    return _metafor_version_by_rscript(find_r_home())


@cache
def _metafor_version_by_rscript(r_home: str) -> str:
    code = "cat(if (requireNamespace('metafor', quietly = TRUE)) format(packageVersion('metafor')) else '')"
    try:
        printed = subprocess.run(
            [str(Path(r_home, "bin", "Rscript")), "-e", code], capture_output=True, text=True, timeout=120, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        raise RNotAvailableError(f"cannot ask R at {r_home} for metafor's version ({error})") from error
    if not printed:
        raise RNotAvailableError(f"the R package metafor is not installed in the R at {r_home}")
    return printed
