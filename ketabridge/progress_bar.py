"""Progress bars for long work (batches, their verification, cross-checks, plan runs): tqdm.auto,
so a notebook gets its widget and a terminal its text bar; quiet elsewhere (logs, CI, pipes)."""

from __future__ import annotations

import sys


def wanted(enabled: bool | None, stream=None) -> bool:
    """True/False as asked; None: on a terminal, or in a Jupyter kernel (whose stderr is no terminal)."""
    if enabled is not None:
        return bool(enabled)
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)()) or _in_jupyter()


def progress_bar(total: int, enabled: bool | None, what: str, unit: str = "analysis", stream=None):
    """A tqdm bar of `total` steps (disabled, and silent, unless `wanted`)."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=what,
        unit=unit,
        disable=not wanted(enabled, stream),
        file=stream or sys.stderr,
        leave=True,
        dynamic_ncols=True,
        smoothing=0.1,
    )


def _in_jupyter() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython() if hasattr(shell, "get_ipython") else None
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"
