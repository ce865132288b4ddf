"""Shared fixtures: the repository root and the bundled BCG data set."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
BCG_CSV = REPO / "data" / "bcg" / "bcg.csv"


@pytest.fixture
def bcg() -> pd.DataFrame:
    """Colditz et al. (1994) BCG trials, as bundled in data/bcg (see its README)."""
    return pd.read_csv(BCG_CSV)


@pytest.fixture
def bcg_effects(bcg) -> pd.DataFrame:
    """The BCG trials with log risk ratios (metafor's documented example)."""
    import ketabridge

    return ketabridge.escalc("RR", bcg, ai="tpos", bi="tneg", ci="cpos", di="cneg")
