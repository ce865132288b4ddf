"""The batch engine against a plain metafor loop, measured in one run; prints ratios.

Generates the data with a fixed seed (k studies per analysis, REML) and measures:
  1. fit phase, 1 worker vs a plain R loop (Rscript, metafor only) over the same analyses;
     the batch's fit phase is the time kb_batch spends in its R loop, summed over chunks
  2. wall time, 2 workers vs 1 worker, at --scaling analyses
  3. peak memory (RSS of the batch process plus its workers, sampled from /proc) at --memory
     analyses, read from a Parquet file and written to an output directory
  4. the largest difference between the batch's and the plain loop's numbers

    .venv/bin/python bench/bench_batch.py --analyses 1000 --scaling 10000 --memory 100000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_bridge import data_sets  # the same seeded generator as the bridge benchmark

import ketabridge

COMPARED = ["estimate", "std_error", "tau2", "q", "pi_low", "pi_high"]

# A plain metafor loop: rma.uni and predict per analysis, timed inside R after a warm-up; the
# best of `repeats` runs, as the batch side is (this shared machine's noise is about 5 %).
R_LOOP = r"""
args <- commandArgs(TRUE)
suppressMessages(library(metafor))
d <- read.csv(args[1])
groups <- split(d, d$id)
one <- function(g) tryCatch({
  fit <- rma.uni(g$yi, g$vi, method = "REML"); p <- predict(fit)
  c(fit$beta[1], fit$se, fit$tau2, fit$QE, p$pi.lb, p$pi.ub)
}, error = function(e) rep(NA_real_, 6))
invisible(one(groups[[1]]))
repeats <- as.integer(args[3])
seconds <- min(replicate(repeats, system.time(vapply(groups, one, numeric(6)))[["elapsed"]]))
values <- vapply(groups, one, numeric(6))
out <- data.frame(id = as.integer(names(groups)), t(values))
names(out) <- c("id", "estimate", "std_error", "tau2", "q", "pi_low", "pi_high")
write.csv(out, args[2], row.names = FALSE)
cat(seconds, "\n")
"""

# Runs one batch in a child process, so its peak memory can be measured from outside.
MEMORY_RUN = """
import sys, ketabridge
if __name__ == "__main__":
    ketabridge.batch(sys.argv[1], by="id", workers=int(sys.argv[3]), out=sys.argv[2], progress=False)
"""


def plain_r_loop(data: pd.DataFrame, folder: Path, repeats: int) -> tuple[float, pd.DataFrame]:
    data_path, out_path, script = folder / "loop.csv", folder / "loop_out.csv", folder / "loop.R"
    data.to_csv(data_path, index=False, float_format="%.17g")
    script.write_text(R_LOOP)
    seconds = float(
        subprocess.run(
            ["Rscript", str(script), str(data_path), str(out_path), str(repeats)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    return seconds, pd.read_csv(out_path)


def timed_batch(data: pd.DataFrame, workers: int) -> tuple[float, ketabridge.BatchResult]:
    start = time.perf_counter()
    result = ketabridge.batch(data, by="id", workers=workers, progress=False)
    return time.perf_counter() - start, result


def peak_rss(command: list[str]) -> float:
    """Highest summed RSS (bytes) of the process and all its descendants, sampled every 50 ms."""
    process = subprocess.Popen(command)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    process.wait()
    done.set()
    sampler.join()
    if process.returncode:
        raise RuntimeError(f"{command} failed with exit code {process.returncode}")
    return peak


def _tree_rss(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--analyses", type=int, default=1000, help="analyses for the fit-phase comparison")
    parser.add_argument("--k", type=int, default=15, help="studies per analysis")
    parser.add_argument("--scaling", type=int, default=10_000, help="analyses for 2 workers vs 1")
    parser.add_argument("--memory", type=int, default=100_000, help="analyses for the peak-memory run")
    parser.add_argument("--repeats", type=int, default=3, help="fit-phase runs per side; the best counts")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        data = data_sets(options.analyses, options.k)
        r_seconds, r_values = plain_r_loop(data, folder, options.repeats)
        runs = [timed_batch(data, workers=1)[1] for _ in range(options.repeats)]
        one = runs[0]
        fit_seconds = min(run.provenance.details["r_fit_seconds"] for run in runs)
        print(f"{options.analyses} analyses, k = {options.k}, REML; fit phases are the best of {options.repeats} runs")
        print(f"plain R loop (Rscript, rma.uni + predict): {1000 * r_seconds / options.analyses:7.2f} ms per analysis")
        print(
            f"batch, 1 worker, fit phase (R loop):       {1000 * fit_seconds / options.analyses:7.2f} ms per analysis"
        )
        print(f"ratio batch fit phase / plain R loop:      {fit_seconds / r_seconds:7.3f}x  (target <= 1.05)")
        got = one.glance().set_index("analysis_id")[COMPARED].astype(float)
        expected = r_values.set_index("id")[COMPARED]
        same_failures = np.array_equal(got.isna().to_numpy(), expected.isna().to_numpy())
        with np.errstate(invalid="ignore"):  # the failed analyses are NaN on both sides
            difference = np.nanmax(np.abs(got.to_numpy() - expected.to_numpy()), axis=0)
        print(
            f"largest |difference| vs plain R loop ({', '.join(COMPARED)}): {' '.join(f'{d:.2g}' for d in difference)}; "
            f"failed analyses {'the same' if same_failures else 'DIFFERENT'} ({int(got['estimate'].isna().sum())})"
        )

        scaling = data_sets(options.scaling, options.k, seed=1)
        one_seconds, _ = timed_batch(scaling, workers=1)
        two_seconds, _ = timed_batch(scaling, workers=2)
        print(
            f"{options.scaling} analyses: 1 worker {one_seconds:.2f} s, 2 workers {two_seconds:.2f} s, "
            f"speed-up {one_seconds / two_seconds:.2f}x  (target >= 1.8)"
        )

        big = folder / "big.parquet"
        data_sets(options.memory, options.k, seed=2).to_parquet(big, row_group_size=65_536)
        script = folder / "memory_run.py"
        script.write_text(MEMORY_RUN)
        start = time.perf_counter()
        peak = peak_rss([sys.executable, str(script), str(big), str(folder / "big_out"), "2"])
        print(
            f"{options.memory} analyses from Parquet to an output directory, 2 workers: "
            f"{time.perf_counter() - start:.1f} s, peak RSS (parent + workers) {peak / 2**20:.0f} MiB  (target < 1024)"
        )


if __name__ == "__main__":
    main()
