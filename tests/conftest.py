"""Shared fixtures: the repository root, the bundled BCG and Konstantopoulos (2011) data sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lane import BCG_CSV, REPO


@pytest.fixture
def bcg() -> pd.DataFrame:
    """Colditz et al. (1994) BCG trials, as bundled in data/bcg (see its README)."""
    return pd.read_csv(BCG_CSV)


@pytest.fixture
def bcg_effects(bcg) -> pd.DataFrame:
    """The BCG trials with log risk ratios (metafor's documented example)."""
    import ketabridge

    return ketabridge.escalc("RR", bcg, ai="tpos", bi="tneg", ci="cpos", di="cneg")


@pytest.fixture(scope="module")
def schools_by_era() -> pd.DataFrame:
    """Konstantopoulos (2011) schools within districts (data/konstantopoulos2011), with a
    two-level factor ``era`` (year before 1985: early) for '~ era | district' terms."""
    frame = pd.read_csv(REPO / "data" / "konstantopoulos2011" / "konstantopoulos2011.csv")
    frame["era"] = np.where(frame["year"] < 1985, "early", "late")
    return frame


@pytest.fixture(scope="session")
def installed() -> dict:
    """R's and metafor's versions asked of a separate Rscript process, not of the bridge, so a
    test can check what the bridge reports against what this lane has installed."""
    import subprocess

    printed = subprocess.run(
        [
            "Rscript",
            "-e",
            "cat(paste(R.version$major, R.version$minor, sep='.'), as.character(packageVersion('metafor')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {"r_version": printed[0], "metafor_version": printed[1]}
