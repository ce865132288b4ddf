"""What one ketabridge.rma call costs over metafor's own loop, measured in one run.

Generates N data sets (k studies each, fixed seed), fits each with REML (a) in a plain R
loop in a separate Rscript process, timed inside R, and (b) with ketabridge.rma, one call per
data set, and prints per-analysis times, their ratio, and the largest difference in estimates.

    .venv/bin/python bench/bench_bridge.py [N] [k]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import ketabridge

R_LOOP = r"""
args <- commandArgs(TRUE)
suppressMessages(library(metafor))
d <- read.csv(args[1])
groups <- split(d, d$id)
# REML does not converge on a few data sets: record NA, as ketabridge records its ConvergenceError.
fit <- function(g) tryCatch(coef(rma(g$yi, g$vi, method = "REML"))[[1]], error = function(e) NA_real_)
invisible(fit(groups[[1]]))  # warm-up: load metafor's code before timing
seconds <- system.time(estimates <- vapply(groups, fit, numeric(1)))[["elapsed"]]
write.csv(data.frame(id = as.integer(names(groups)), estimate = estimates), args[2], row.names = FALSE)
cat(seconds, "\n")
"""


def data_sets(n: int, k: int, seed: int = 20181112) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.2, size=(n, k))
    true = rng.normal(0.3, 0.2, size=(n, 1))
    yi = rng.normal(true, np.sqrt(vi + 0.04))
    return pd.DataFrame({"id": np.repeat(np.arange(n), k), "yi": yi.ravel(), "vi": vi.ravel()})


def fit(group: pd.DataFrame) -> float:
    try:
        return ketabridge.rma(group).glance()["estimate"].iloc[0]
    except ketabridge.ConvergenceError:
        return np.nan


def main(n: int = 500, k: int = 15) -> None:
    long = data_sets(n, k)
    with tempfile.TemporaryDirectory() as folder:
        data_path, out_path, script = (Path(folder, name) for name in ("in.csv", "out.csv", "loop.R"))
        long.to_csv(data_path, index=False, float_format="%.17g")
        script.write_text(R_LOOP)
        r_seconds = float(
            subprocess.run(
                ["Rscript", str(script), str(data_path), str(out_path)], capture_output=True, text=True, check=True
            ).stdout
        )
        r_estimates = pd.read_csv(out_path)["estimate"].to_numpy()

    groups = [group for _, group in long.groupby("id")]
    ketabridge.rma(groups[0])  # start R before timing, as the R side's warm-up does
    start = time.perf_counter()
    bridge_estimates = np.array([fit(group) for group in groups])
    bridge_seconds = time.perf_counter() - start

    print(f"{n} analyses, k = {k}, REML")
    print(f"plain R loop (Rscript):   {1000 * r_seconds / n:7.2f} ms per analysis")
    print(
        f"ketabridge.rma, one call: {1000 * bridge_seconds / n:7.2f} ms per analysis "
        "(validation, R call, tidy frames; augment() is computed on first use)"
    )
    print(f"ratio bridge / R loop:    {bridge_seconds / r_seconds:7.2f}x")
    same_failures = np.array_equal(np.isnan(bridge_estimates), np.isnan(r_estimates))
    print(
        f"non-converged: {int(np.isnan(r_estimates).sum())} in R, {int(np.isnan(bridge_estimates).sum())} "
        f"in ketabridge ({'the same data sets' if same_failures else 'DIFFERENT data sets'})"
    )
    print(f"largest |difference| in estimates: {np.nanmax(np.abs(bridge_estimates - r_estimates)):.3g}")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:]))
