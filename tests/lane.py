"""What this lane has, for tests that need it at import time (parametrized grids)."""

from __future__ import annotations

from pathlib import Path

from ketabridge.errors import RNotAvailableError
from ketabridge.options import accepted

REPO = Path(__file__).resolve().parent.parent
BCG_CSV = REPO / "data" / "bcg" / "bcg.csv"


def running_vocabulary(kind: str) -> tuple[str, ...]:
    """The names this lane's metafor accepts (test_vocabulary.py checks them against metafor).
    Without R the grids are collected on metafor 3.8's lists: their tests need R and are
    deselected by `make test-fast`."""
    try:
        return accepted(kind)
    except RNotAvailableError:
        return accepted(kind, (3, 8))
