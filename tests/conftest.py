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


@pytest.fixture(scope="module")
def mixed():
    """300 DL analyses: 240 heterogeneous (k = 8, true tau^2 = 0.5: the interior), 30 with k = 3,
    30 with k = 8 and true tau^2 = 0, most of which estimate tau^2 at 0. Each small class is a
    tenth of the batch: a uniform sample of 40 would miss it with probability 0.9^40 = 1.5 %."""
    rng = np.random.default_rng(17)
    frames = []
    for i in range(300):
        k, tau2 = (3, 0.5) if i % 10 == 3 else (8, 0.0) if i % 10 == 7 else (8, 0.5)
        vi = 10 ** rng.uniform(-2, -1, size=k)
        frames.append(pd.DataFrame({"id": f"m{i:03d}", "vi": vi, "yi": rng.normal(0.3, np.sqrt(vi + tau2))}))
    return pd.concat(frames, ignore_index=True)
