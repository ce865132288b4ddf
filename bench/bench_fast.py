"""The fast engine against the metafor engine and PyMARE, measured in one run; prints ratios.

Generates the data with a fixed seed (k studies per analysis) and measures:
  1. REML + trim-and-fill + Egger (regtest, model rma): wall time of batch(engine="metafor") vs
     batch(engine="fast") with its verification, at the same number of workers, for two
     verification fractions; whether the two engines' glance tables agree
  2. REML alone: the fast core (ketabridge.fast.model.rma on the dense (G, k) arrays) vs PyMARE's
     vectorised REML (one fit over all data sets as the columns of (k, G) arrays), and how closely
     each agrees with metafor's tau^2 and estimate
  3. a summary: target, measured, met or missed

    .venv/bin/python bench/bench_fast.py --analyses 10000 --k 15 --workers 1 --repeats 3

The metafor engine needs minutes at 10,000 analyses; --metafor-analyses N times it on a seeded
subset of N analyses instead and scales that to all analyses (said so in the output).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from bench_bridge import data_sets  # the same seeded generator as the other benchmarks
from pymare.estimators import VarianceBasedLikelihoodEstimator

import ketabridge
from ketabridge.batches.verify import compare  # the verification's own judge: the house tolerances
from ketabridge.fast.model import rma as fast_rma

FRACTIONS = (300, 0.01)  # the default verification budget (a count), and the old rule (1 % + every non-interior)
SUBSET_SEED = 7
SHOWN = 5  # metafor's failures listed one by one


def batch(data: pd.DataFrame, workers: int, **engine) -> tuple[float, ketabridge.BatchResult]:
    start = time.perf_counter()
    result = ketabridge.batch(
        data,
        "id",
        yi="yi",
        vi="vi",
        method="REML",
        trimfill=True,
        regtest=True,
        workers=workers,
        progress=False,
        **engine,
    )
    return time.perf_counter() - start, result


def best(runs: list[tuple[float, ketabridge.BatchResult]]) -> tuple[float, ketabridge.BatchResult]:
    return min(runs, key=lambda run: run[0])


def relative_difference(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """|got - expected| / max(|got|, |expected|): 0 where both are equal (0 = 0, NaN = NaN, inf = inf)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(got - expected) / np.maximum(np.abs(got), np.abs(expected))
    same = (got == expected) | (np.isnan(got) & np.isnan(expected))
    return np.where(same, 0.0, np.where(np.isnan(rel), np.inf, rel))


def glance_agreement(fast: ketabridge.BatchResult, metafor: ketabridge.BatchResult) -> dict:
    """Largest relative difference over the numeric glance columns, on metafor's analyses, and the
    verification's verdict on them (every column, status and message, with the house tolerances)."""
    ids = metafor.status()["analysis_id"]
    mine = fast.glance().set_index("analysis_id").loc[ids]
    theirs = metafor.glance().set_index("analysis_id").loc[ids]
    numeric = [
        name
        for name in theirs.columns
        if pd.api.types.is_numeric_dtype(theirs[name]) or pd.api.types.is_bool_dtype(theirs[name])
    ]
    worst, column, absolute = 0.0, "", 0.0
    for name in numeric:
        a, b = mine[name].astype("float64").to_numpy(), theirs[name].astype("float64").to_numpy()
        rel = relative_difference(a, b)
        if rel.size and rel.max() > worst:
            at = int(np.argmax(rel))
            worst, column, absolute = float(rel[at]), name, float(abs(a[at] - b[at]))
    tables = lambda result: {"glance": result.glance(), "status": result.status()}  # noqa: E731
    judged = compare(tables(fast), tables(metafor), "REML")
    status = lambda result: result.status().set_index("analysis_id").loc[ids]  # noqa: E731
    failed = lambda result: set(status(result).query("status == 'error'").index)  # noqa: E731
    return {
        "worst": worst,
        "column": column,
        "absolute": absolute,
        "columns": len(numeric),
        "verdict": judged["verdict"],
        "share": judged["worst"]["share_of_tolerance"],
        "same_failed": failed(fast) == failed(metafor),
        "failed": len(failed(metafor)),
        "same_status": status(fast)["status"].equals(status(metafor)["status"]),
    }


def headline(data: pd.DataFrame, analyses: int, subset: int, workers: int, repeats: int) -> dict:
    print(
        f"== 1. {analyses} analyses, k = {data.groupby('id').size().iloc[0]}, REML + trim-and-fill + Egger "
        f"(regtest rma); workers = {workers} for both engines"
    )
    if subset < analyses:
        chosen = np.sort(np.random.default_rng(SUBSET_SEED).choice(analyses, subset, replace=False))
        metafor_data = data[data["id"].isin(chosen)]
    else:
        metafor_data = data
    metafor_seconds, metafor = batch(metafor_data, workers, engine="metafor")
    per_analysis = metafor_seconds / subset
    if subset < analyses:
        # Scale without inflating metafor: the fixed part (starting R, the pool) counts once, and
        # each further analysis costs only its share of the R fit loop.
        fit_share = metafor.provenance.details["r_fit_seconds"] / max(workers, 1)
        marginal = fit_share / subset
        metafor_total = metafor_seconds - fit_share + analyses * marginal
        print(
            f"metafor engine timed on a seeded subset of {subset} analyses (seed {SUBSET_SEED}), run once: "
            f"{metafor_seconds:.1f} s wall, {1000 * per_analysis:.2f} ms per analysis; "
            f"R fit loop {1000 * marginal:.2f} ms per analysis"
        )
        print(
            f"  scaled to {analyses}: fixed part once + {analyses} x the R fit loop's share = {metafor_total:.1f} s "
            f"(linear scaling would say {per_analysis * analyses:.1f} s)"
        )
    else:
        metafor_total = metafor_seconds
        print(f"metafor engine, run once: {metafor_seconds:.1f} s wall, {1000 * per_analysis:.2f} ms per analysis")

    runs = {}
    for fraction in FRACTIONS:
        seconds, result = best([batch(data, workers, engine="fast", verify=fraction) for _ in range(repeats)])
        runs[fraction] = (seconds, result)
        provenance = result.provenance.details
        verification = provenance["verification"]
        print(
            f"fast engine, verify = {fraction:g}, best of {repeats}: {seconds:.2f} s wall "
            f"(fast compute {provenance['fast_seconds']:.2f} s, verification {provenance['verify_seconds']:.2f} s); "
            f"verified {verification['checked']} = whole-batch sample {verification['sample']} + by class "
            f"{verification['stratified']}, verdict {verification['verdict']}"
        )
        print(
            f"  ratio metafor / fast: {metafor_total / seconds:.1f}x; ceiling at equal parallelism "
            f"(analyses / verified): {analyses / verification['checked']:.1f}x"
        )
    boundary = runs[FRACTIONS[0]][1]
    tau2_zero = int((boundary.glance()["tau2"] == 0).sum())
    print(
        f"tau2 = 0 in {tau2_zero} of {analyses} ({100 * tau2_zero / analyses:.1f} %), errors "
        f"{int((boundary.status()['status'] == 'error').sum())}: a count budget samples each class, "
        f"a fraction reruns every one of them"
    )
    seconds, fast = runs[FRACTIONS[0]]
    agreement = glance_agreement(fast, metafor)
    print(
        f"fast vs metafor glance on the {len(metafor.status())} analyses metafor ran: largest relative difference "
        f"{agreement['worst']:.2g} ({agreement['column'] or 'none'}, absolute {agreement['absolute']:.2g}; over "
        f"{agreement['columns']} numeric columns); failed analyses {'the same' if agreement['same_failed'] else 'DIFFERENT'} "
        f"({agreement['failed']}); status column {'identical' if agreement['same_status'] else 'DIFFERENT'}"
    )
    print(
        f"  judged as the verification judges (house tolerances, every column, status and message): "
        f"{agreement['verdict']}, worst {agreement['share']:.2g} of its tolerance"
    )
    return {
        "metafor": metafor,
        "metafor_total": metafor_total,
        "fast_seconds": seconds,
        "fast": fast,
        "ratio": metafor_total / seconds,
        "agreement": agreement,
    }


def timed(function, repeats: int):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return min(times), value


def pymare_reml(Y: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PyMARE's vectorised REML: the G data sets are the columns of one (k, G) fit. Its default
    Knapp-Hartung correction only rescales the standard errors; "wald" matches metafor's test z."""
    estimator = VarianceBasedLikelihoodEstimator(method="REML", small_sample_correction="wald")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(Y.T, V.T, np.ones((Y.shape[1], 1)))
    return estimator.params_["tau2"][0], estimator.params_["fe_params"][0]


def versus_pymare(data: pd.DataFrame, metafor: ketabridge.BatchResult, repeats: int) -> dict:
    ids = np.unique(data["id"].to_numpy())
    k = len(data) // len(ids)
    Y, V = data["yi"].to_numpy().reshape(len(ids), k), data["vi"].to_numpy().reshape(len(ids), k)
    print(
        f"\n== 2. REML only, {len(ids)} analyses, k = {k}: PyMARE's vectorised REML vs the fast core; best of {repeats}"
    )
    pymare_seconds, (pymare_tau2, pymare_beta) = timed(lambda: pymare_reml(Y, V), repeats)
    fast_seconds, fit = timed(lambda: fast_rma(Y, V, "REML"), repeats)
    ratio = fast_seconds / pymare_seconds
    print(f"PyMARE (VarianceBasedLikelihoodEstimator, REML): {1e6 * pymare_seconds / len(ids):7.2f} us per analysis")
    print(f"fast core (_fast.model.rma, REML):               {1e6 * fast_seconds / len(ids):7.2f} us per analysis")
    print(f"ratio fast / PyMARE: {ratio:.2f}  (target <= 2)")

    glance = metafor.glance().set_index("analysis_id")
    rows = np.searchsorted(ids, glance.index.to_numpy())
    reml_failed = glance["tau2"].isna().to_numpy()  # not status "error": that could be an extra failing
    converged = ~reml_failed & ~fit.outcome.failed[rows] & np.isfinite(pymare_tau2[rows])
    # tau2 is compared as it is: where metafor's is 0 and the other's is not (or the reverse), that
    # analysis's relative difference is 1, the honest size of that disagreement
    worst, by_quantity = {}, {}
    for name, tau2, beta in (("PyMARE", pymare_tau2, pymare_beta), ("fast", fit.tau2, fit.beta[:, 0])):
        for values, column in ((tau2, "tau2"), (beta, "estimate")):
            rel = relative_difference(values[rows][converged], glance[column].to_numpy()[converged])
            by_quantity[name, column] = (rel.max(initial=0), np.median(rel) if rel.size else 0.0)
        worst[name] = max(by_quantity[name, "tau2"][0], by_quantity[name, "estimate"][0])
        zero = glance["tau2"].to_numpy()[converged] == 0
        off = int(np.sum(zero != (tau2[rows][converged] == 0)))
        print(
            f"{name:6s} vs metafor on the {int(converged.sum())} analyses all three fit: relative difference in "
            f"estimate max {by_quantity[name, 'estimate'][0]:.2g} (median {by_quantity[name, 'estimate'][1]:.2g}), "
            f"tau2 max {by_quantity[name, 'tau2'][0]:.2g} (median {by_quantity[name, 'tau2'][1]:.2g}); "
            f"tau2 = 0 on one side only: {off}"
        )
    closer = worst["PyMARE"] / worst["fast"] if worst["fast"] > 0 else np.inf
    print(
        f"largest relative difference from metafor: PyMARE {worst['PyMARE']:.2g}, fast {worst['fast']:.2g}; "
        f"fast agrees {closer:.3g}x more closely  (target >= 1000)"
    )
    failed = np.flatnonzero(reml_failed)
    fast_same = all(fit.outcome.failed[rows[i]] for i in failed)
    print(
        f"metafor's REML fails on {len(failed)} of them; there the fast core "
        f"{'fails on every one' if fast_same else 'does NOT fail on all'}, PyMARE returns estimates on "
        f"{int(np.isfinite(pymare_tau2[rows[failed]]).sum())}; the first {min(SHOWN, len(failed))}:"
    )
    messages = metafor.status().set_index("analysis_id")["message"]
    for i in failed[:SHOWN]:
        row = rows[i]
        print(
            f"  analysis {ids[row]}: metafor error {messages.loc[ids[row]]!r}; fast "
            f"{fit.outcome.errors[row] or f'tau2 {fit.tau2[row]:.6g}'!r}; "
            f"PyMARE tau2 {pymare_tau2[row]:.6g}, estimate {pymare_beta[row]:.6g}"
        )
    return {
        "ratio": ratio,
        "closer": closer,
        "worst": worst,
        "failed": len(failed),
        "fast_same": fast_same,
        "pymare_returned": int(np.isfinite(pymare_tau2[rows[failed]]).sum()),
    }


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--analyses", type=int, default=10_000, help="analyses (data sets)")
    parser.add_argument("--k", type=int, default=15, help="studies per analysis")
    parser.add_argument("--workers", type=int, default=1, help="worker processes, the same for both engines")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each fast measurement; the best counts")
    parser.add_argument(
        "--metafor-analyses",
        type=int,
        default=None,
        help="time the metafor engine on a seeded subset of this many analyses (default: all)",
    )
    options = parser.parse_args()
    subset = min(options.metafor_analyses or options.analyses, options.analyses)

    data = data_sets(options.analyses, options.k)
    one = headline(data, options.analyses, subset, options.workers, options.repeats)
    two = versus_pymare(data, one["metafor"], options.repeats)

    agreement = one["agreement"]
    scaled = f", metafor scaled from {subset}" if subset < options.analyses else ""
    print("\n== summary")
    print(
        f"speed-up, {options.analyses} analyses, k = {options.k}, REML + trim-and-fill + Egger, verification 300, "
        f"{options.workers} worker(s){scaled}: target >= 100x, measured {one['ratio']:.1f}x "
        f"({one['metafor_total']:.1f} s vs {one['fast_seconds']:.2f} s), {verdict(one['ratio'] >= 100)}"
    )
    print(
        f"fast engine vs metafor engine, every glance column, status and message on {len(one['metafor'].status())} "
        f"analyses: target within the house tolerances (1e-10 relative, 1e-12 closed forms, plus their atol), "
        f"measured worst {agreement['share']:.2g} of its tolerance (largest plain relative difference "
        f"{agreement['worst']:.2g}, absolute {agreement['absolute']:.2g}), same failed analyses "
        f"{agreement['same_failed']}, {verdict(agreement['verdict'] == 'agree' and agreement['same_failed'])}"
    )
    print(f"REML time, fast core / PyMARE: target <= 2, measured {two['ratio']:.2f}, {verdict(two['ratio'] <= 2)}")
    print(
        f"agreement with metafor, PyMARE's difference / fast's: target >= 1000x, measured {two['closer']:.3g}x "
        f"(PyMARE {two['worst']['PyMARE']:.2g}, fast {two['worst']['fast']:.2g}), {verdict(two['closer'] >= 1000)}"
    )
    print(
        f"where metafor's REML fails ({two['failed']}): target the fast core fails too, measured "
        f"{'fails on all' if two['fast_same'] else 'does not'} (PyMARE returns estimates on {two['pymare_returned']}), "
        f"{verdict(two['fast_same'])}"
    )


if __name__ == "__main__":
    main()
