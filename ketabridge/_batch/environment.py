"""The environment worker processes start with.

Once R runs in a process it prepends its library folders to LD_LIBRARY_PATH (R's ldpaths), and
a Python started with those can load the wrong shared libraries (seen: pyarrow's `_ssl` import
fails). So children get the value from before R started, captured when ketabridge is imported,
which never starts R.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

_BEFORE_R = {name: os.environ.get(name) for name in ("LD_LIBRARY_PATH",)}


def clean_environment() -> dict[str, str]:
    """os.environ as it was before R changed it, for child processes."""
    environment = dict(os.environ)
    for name, value in _BEFORE_R.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return environment


@contextmanager
def launch_environment():
    """Within this block, processes started (spawn, subprocess) inherit clean_environment()."""
    saved, clean = dict(os.environ), clean_environment()
    os.environ.clear()
    os.environ.update(clean)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
