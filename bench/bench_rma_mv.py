"""What one ketabridge.rma_mv call costs over the same rma.mv call in plain Rscript, measured in one run.

A three-level data set (fixed seed): `studies` studies with several effect sizes each, 1,000
effect sizes in all. The model ~ 1 | study/es_id (REML) is fitted `repeats` times (a) in a
plain R loop in a separate Rscript process, timed inside R, and (b) with ketabridge.rma_mv, one
call per fit (validation, the R call, the tidy frames and the variance components; augment()
is computed on first use and not timed). Prints per-fit times, their ratio and the largest
difference in the estimates.

    .venv/bin/python bench/bench_rma_mv.py [repeats] [effect sizes] [sparse: 0 or 1]

sparse=1 passes metafor's sparse=TRUE to both (block-diagonal matrices as sparse ones: much
faster for a k this large); the default is rma.mv's default call, sparse=FALSE.
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
repeats <- as.integer(args[3])
sparse <- args[4] == "1"
fit <- function() rma.mv(yi, vi, random = ~ 1 | study/es_id, data = d, sparse = sparse)
invisible(fit())  # warm-up: load metafor's code before timing
seconds <- system.time(for (i in seq_len(repeats)) res <- fit())[["elapsed"]]
write.csv(data.frame(estimate = coef(res)[[1]], sigma2_1 = res$sigma2[1], sigma2_2 = res$sigma2[2]), args[2], row.names = FALSE)
cat(seconds / repeats, "\n")
"""


def three_level(effects: int, seed: int = 20261203) -> pd.DataFrame:
    """Studies of 1-9 effect sizes until `effects` are drawn; sigma2 0.05 (study) and 0.02 (within)."""
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < effects:
        sizes.append(int(rng.integers(1, 10)))
    sizes[-1] -= sum(sizes) - effects
    study = np.repeat(np.arange(len(sizes)), sizes)
    vi = rng.uniform(0.01, 0.1, size=effects)
    yi = 0.3 + rng.normal(0, np.sqrt(0.05), len(sizes))[study] + rng.normal(0, np.sqrt(0.02), effects)
    yi += rng.normal(0, np.sqrt(vi))
    es_id = np.concatenate([np.arange(1, size + 1) for size in sizes])
    return pd.DataFrame({"study": study, "es_id": es_id, "yi": yi, "vi": vi})


def main(repeats: int = 5, effects: int = 1000, sparse: int = 0) -> None:
    data = three_level(effects)
    with tempfile.TemporaryDirectory() as folder:
        data_path, out_path, script = (Path(folder, name) for name in ("in.csv", "out.csv", "loop.R"))
        data.to_csv(data_path, index=False, float_format="%.17g")
        script.write_text(R_LOOP)
        r_seconds = float(
            subprocess.run(
                ["Rscript", str(script), str(data_path), str(out_path), str(repeats), str(int(bool(sparse)))],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[0]
        )
        direct = pd.read_csv(out_path).iloc[0]
    ketabridge.rma_mv(data, random="~ 1 | study/es_id", sparse=bool(sparse))  # warm-up: start R, load metafor
    start = time.perf_counter()
    for _ in range(repeats):
        result = ketabridge.rma_mv(data, random="~ 1 | study/es_id", sparse=bool(sparse))
    bridge_seconds = (time.perf_counter() - start) / repeats
    sigma2 = result.components()["estimate"].to_numpy()
    difference = max(
        abs(result.glance()["estimate"].iloc[0] - direct["estimate"]),
        abs(sigma2[0] - direct["sigma2_1"]),
        abs(sigma2[1] - direct["sigma2_2"]),
    )
    print(
        f"three-level model, k = {effects} effect sizes in {data['study'].nunique()} studies, "
        f"sparse={bool(sparse)}, {repeats} fits each"
    )
    print(f"plain rma.mv (Rscript):      {1000 * r_seconds:8.1f} ms per fit")
    print(f"ketabridge.rma_mv, one call: {1000 * bridge_seconds:8.1f} ms per fit")
    print(f"ratio bridge / plain R:      {bridge_seconds / r_seconds:8.2f}x")
    print(f"largest |difference| in estimate and sigma2: {difference:.1g}")


if __name__ == "__main__":
    main(*(int(value) for value in sys.argv[1:4]))
