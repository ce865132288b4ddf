"""The batch benchmark's data generator (bench/bench_batch.py), shared by the batch tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulated(groups: int, k: int, seed: int = 20181112) -> pd.DataFrame:
    """The benchmark's generator (bench/bench_batch.py): true effects around 0.3, tau2 = 0.04."""
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.2, size=(groups, k))
    true = rng.normal(0.3, 0.2, size=(groups, 1))
    yi = rng.normal(true, np.sqrt(vi + 0.04))
    return pd.DataFrame({"id": np.repeat(np.arange(groups), k), "yi": yi.ravel(), "vi": vi.ravel()})
