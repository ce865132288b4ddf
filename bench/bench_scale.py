"""The fast engine at simulation scale, whole process, measured in one run; prints ratios.

For each batch size N (k = 15 studies per analysis, the seeded generator of bench_bridge.py):
writes the long table to Parquet, then runs, each as its own process (the CLI, as a user would):

  * the metafor engine on a seeded sample of --metafor-analyses analyses (1,000-2,000) of the same
    data, scaled to N as an ESTIMATE: the run's fixed part (start, R start, reading, writing) once,
    plus N x its R fit loop's time per analysis (provenance r_fit_seconds);
  * the fast engine on all N, default verification (a count: 300 analyses rerun on metafor),
    writing its outputs chunk by chunk to --out, with the peak RSS of its process tree sampled
    every 0.2 s (the sum over the processes, R workers included) and of its main process.

It prints, per N: both wall times, the end-to-end ratio, the fast computation alone against
metafor's fit loop (fast_seconds vs N x the fit time per analysis), the peak RSS, and the
verification's per-class bounds. Targets (issue 17): 10,000 >= 20x, 100,000 >= 100x,
1,000,000 >= 300x under 2 GiB, the fast computation alone >= 300x.

    .venv/bin/python bench/bench_scale.py --sizes 10000 100000 1000000 --workers 1
    make bench-scale     # the same
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20181112
SUBSET_SEED = 7
TARGETS = {10_000: 20, 100_000: 100, 1_000_000: 300}
FAST_ALONE_TARGET = 300
RSS_LIMIT = 2 * 1024**3
GENERATE_BLOCK = 50_000  # analyses generated and written per Parquet row group batch


def write_data(path: Path, n: int, k: int) -> None:
    """bench_bridge.data_sets's model (vi ~ U(0.01, 0.2), true effects N(0.3, 0.2^2), tau^2 0.04),
    generated block by block so the benchmark itself stays small at 1,000,000 analyses."""
    rng = np.random.default_rng(SEED)
    with pq.ParquetWriter(path, pa.schema([("id", pa.int64()), ("yi", pa.float64()), ("vi", pa.float64())])) as out:
        for start in range(0, n, GENERATE_BLOCK):
            size = min(GENERATE_BLOCK, n - start)
            vi = rng.uniform(0.01, 0.2, size=(size, k))
            true = rng.normal(0.3, 0.2, size=(size, 1))
            yi = rng.normal(true, np.sqrt(vi + 0.04))
            ids = np.repeat(np.arange(start, start + size), k)
            out.write_table(pa.table({"id": ids, "yi": yi.ravel(), "vi": vi.ravel()}))


def subset(path: Path, target: Path, n: int, size: int) -> None:
    chosen = np.sort(np.random.default_rng(SUBSET_SEED).choice(n, size, replace=False))
    table = pq.read_table(path, filters=[("id", "in", chosen.tolist())])
    pq.write_table(table, target)


class Watch:
    """Peak RSS of a process tree (sum) and of its root, sampled every 0.2 s."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.tree = self.main = self.kernel_peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                main = self.root.memory_info().rss
                total = main + sum(_rss(child) for child in self.root.children(recursive=True))
            except psutil.Error:
                break
            self.main, self.tree = max(self.main, main), max(self.tree, total)
            self.stop.wait(0.2)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def _rss(process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0


def cli(data: Path, out: Path, engine: str, workers: int, extra: list[str]) -> tuple[float, dict, Watch]:
    command = [
        str(Path(sys.executable).parent / "ketabridge"),
        "batch",
        str(data),
        "--by",
        "id",
        "--method",
        "REML",
        "--trimfill",
        "--regtest",
        "--engine",
        engine,
        "--workers",
        str(workers),
        "--no-progress",
        "--out",
        str(out),
        *extra,
    ]
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        watch = Watch(process.pid)
        # wait4: the kernel's own peak RSS of the process (the largest of it and the children it
        # waited for), exact where the 0.2 s sampling of the tree may miss a short peak
        _, code, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(code)
        seconds = time.perf_counter() - start
        watch.close()
        watch.kernel_peak = usage.ru_maxrss * 1024  # KiB on Linux
        if process.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{engine} run failed ({process.returncode}):\n{err.read().decode()}")
    return seconds, json.loads((out / "provenance.json").read_text()), watch


def one_size(folder: Path, n: int, k: int, workers: int, sample: int) -> dict:
    data = folder / f"data_{n}.parquet"
    write_data(data, n, k)
    small = folder / f"sample_{n}.parquet"
    size = min(sample, n)
    subset(data, small, n, size)
    metafor_wall, metafor, _ = cli(small, folder / f"metafor_{n}", "metafor", workers, [])
    fit_share = metafor["r_fit_seconds"] / max(workers, 1)
    per_analysis = fit_share / size
    metafor_total = metafor_wall - fit_share + n * per_analysis
    fast_wall, fast, watch = cli(data, folder / f"fast_{n}", "fast", workers, [])
    fast_alone = (n * per_analysis) / fast["fast_seconds"]
    verification = fast["verification"]
    ratio = metafor_total / fast_wall
    print(f"\n== {n:,} analyses, k = {k}, REML + trim-and-fill + Egger, {workers} worker(s) for both engines")
    print(
        f"metafor engine: {size:,} analyses (seeded sample) in {metafor_wall:.1f} s wall, R fit loop "
        f"{1000 * per_analysis:.1f} ms per analysis; ESTIMATE for {n:,}: fixed {metafor_wall - fit_share:.1f} s + "
        f"{n:,} x {1000 * per_analysis:.1f} ms = {metafor_total:,.0f} s"
    )
    print(
        f"fast engine, whole process (CLI from Parquet, outputs written): {fast_wall:.1f} s wall; fast computation "
        f"{fast['fast_seconds']:.1f} s, verification after the run {fast['verify_seconds']:.1f} s "
        f"({verification['checked']} analyses in the sample, {verification['sample_run_while_computing']} of them "
        f"given to metafor while numpy ran; {verification['also_checked']} more run ahead and compared), "
        f"verdict {verification['verdict']}"
    )
    print(
        f"peak RSS: process tree {watch.tree / 1024**3:.2f} GiB (sum over the processes, sampled every 0.2 s), "
        f"main process {watch.main / 1024**3:.2f} GiB sampled, {watch.kernel_peak / 1024**3:.2f} GiB by the kernel "
        f"(wait4 ru_maxrss) (limit 2 GiB at 1,000,000); load average {_load()}"
    )
    for name, row in verification["classes"].items():
        if row["total"]:
            bound = row["upper_bound_95"]
            print(
                f"  class {name:24s} checked {row['checked']:4d} of {row['total']:8,d}, 95 % upper bound on "
                f"its disagreement rate {100 * bound:.2g} %"
            )
    shown = ("verdict", "budget", "seed", "checked", "sample", "stratified", "overlapped", "sent_ahead")
    shown += ("sample_run_while_computing", "also_checked", "disagreeing_analyses", "worst", "classes")
    print("provenance.json, verification (excerpt):")
    print(json.dumps({key: verification[key] for key in shown if key in verification}, indent=1))
    target = TARGETS.get(n)
    print(
        f"ratio metafor (estimate) / fast, end to end: {ratio:.1f}x"
        + (f" (target >= {target}x: {'met' if ratio >= target else 'MISSED'})" if target else "")
    )
    print(
        f"ratio metafor fit loop / fast computation alone: {fast_alone:.0f}x (target >= {FAST_ALONE_TARGET}x: "
        f"{'met' if fast_alone >= FAST_ALONE_TARGET else 'MISSED'})"
    )
    if n >= 1_000_000:
        peak = max(watch.tree, watch.kernel_peak)
        print(
            f"peak RSS under 2 GiB (process tree, or the kernel's peak if higher): {'met' if peak < RSS_LIMIT else 'MISSED'}"
        )
    return {"n": n, "ratio": ratio, "fast_alone": fast_alone, "rss": watch.tree, "fast_wall": fast_wall}


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--k", type=int, default=15)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--metafor-analyses", type=int, default=1000, help="the metafor engine's timed sample")
    options = parser.parse_args()
    print(
        f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores", flush=True
    )
    with tempfile.TemporaryDirectory() as folder:
        for n in options.sizes:
            one_size(Path(folder), n, options.k, options.workers, options.metafor_analyses)
            print(f"load average now: {', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    main()
