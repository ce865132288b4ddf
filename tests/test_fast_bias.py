"""The fast path's Begg rank test and Egger lm test equal metafor's, run through the bridge.

Expected values: Begg's test from ONE ``ketabridge.batch(..., ranktest=True)`` call per
hypothesis example (the batch runs metafor 3.8-1's ``ranktest(fit)`` on each analysis, see
ketabridge/r/kb_batch.R); Egger's lm test from ``ketabridge.regtest(ketabridge.rma(...), model="lm")``
(the batch only runs model "rma"). Warnings and errors are metafor's as the bridge reports them.

Tolerance (closed forms): |fast - metafor| <= 1e-12 * max(1, |metafor|), the house's combined
rule (tests/test_property_rscript.py): relative for large values, absolute near zero, where
Egger's CI bounds and limit estimate arise by cancellation and their relative error is rounding
noise. The rank test is held to pure relative agreement: it is a count-based computation that
follows R's arithmetic step by step. Each test records the worst pure relative difference.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import ketabridge
from ketabridge.bridge.compat import version_tuple
from ketabridge.fast.distributions import pnorm_two_sided, pt_two_sided
from ketabridge.fast.egger_lm import RANK_ERROR, egger_lm
from ketabridge.fast.ranktest import _standardised_effects, _tie_sizes, ranktest

RTOL = 1e-12
SIZES = (2, 3, 4, 15, 60)

HYPOTHESIS = dict(
    deadline=None,
    database=None,
    derandomize=True,  # seeded: the same examples on every run
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

pytestmark = pytest.mark.filterwarnings("ignore::ketabridge.MetaforWarning")

WORST: dict[str, float] = {}


def record_worst(name: str, fast: np.ndarray, reference: np.ndarray) -> float:
    """The largest pure relative difference (NaN on both sides counts as equal)."""
    fast, reference = np.asarray(fast, float), np.asarray(reference, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(fast - reference) / np.abs(reference)
    rel = np.where((fast == reference) | (np.isnan(fast) & np.isnan(reference)), 0.0, rel)
    worst = float(np.max(rel, initial=0.0))
    WORST[name] = max(WORST.get(name, 0.0), worst)
    return worst


def disagreements(fast: np.ndarray, reference: np.ndarray, relative_only: bool = False) -> np.ndarray:
    """Positions where the two differ beyond the tolerance, or where only one is NaN."""
    fast, reference = np.asarray(fast, float), np.asarray(reference, float)
    scale = np.abs(reference) if relative_only else np.maximum(1.0, np.abs(reference))
    nan_mismatch = np.isnan(fast) != np.isnan(reference)
    with np.errstate(invalid="ignore"):
        far = np.abs(fast - reference) > RTOL * scale
    return np.flatnonzero(nan_mismatch | (far & ~np.isnan(reference)))


# ----------------------------------------------------------------------------- data

Batch = dict[int, tuple[np.ndarray, np.ndarray]]  # size n -> (yi, vi), each (analyses, n)


def draw_batch(seed: int, sizes: tuple[int, ...], per_size: int, ties: str) -> Batch:
    """(yi, vi) arrays per size. ties: "none"; "vi" (vi on a coarse grid); "both" (also
    repeated studies, so yi* ties too)."""
    rng = np.random.default_rng(seed)
    data = {}
    for n in sizes:
        vi = rng.uniform(0.01, 0.5, (per_size, n)) * np.exp(rng.normal(0, 1, (per_size, 1)))
        if ties != "none":
            vi = np.round(rng.uniform(0.01, 0.5, (per_size, n)), 1) + 0.05
        yi = rng.normal(0, 0.3, (per_size, 1)) + rng.normal(0, 1, (per_size, n)) * np.sqrt(vi)
        yi += rng.normal(0, 1, (per_size, 1)) * np.sqrt(vi)  # some small-study effect
        if ties == "both" and n >= 3:
            yi[:, 1], vi[:, 1] = yi[:, 0], vi[:, 0]
        data[n] = (yi, vi)
    return data


def long_table(data: Batch) -> pd.DataFrame:
    frames = []
    for n, (yi, vi) in data.items():
        groups = yi.shape[0]
        ids = [f"n{n}_{g:03d}" for g in range(groups) for _ in range(n)]
        frames.append(pd.DataFrame({"id": ids, "yi": yi.ravel(), "vi": vi.ravel()}))
    return pd.concat(frames, ignore_index=True)


def metafor_ranktests(data: Batch) -> pd.DataFrame:
    """metafor's ranktest for every analysis, in one batch call, with its warnings per row."""
    result = ketabridge.batch(
        long_table(data), "id", yi="yi", vi="vi", method="EE", ranktest=True, workers=0, progress=False
    )
    table = result.glance().merge(result.status(), on="analysis_id").set_index("analysis_id")
    table["rank_warnings"] = [split_messages(m, "ranktest: ") for m in table["message"].fillna("")]
    messages = table["message"].fillna("")
    table["rank_errors"] = [" ".join(split_messages(m, "ranktest failed: ")) for m in messages]
    return table


def split_messages(message: str, prefix: str) -> tuple[str, ...]:
    return tuple(part[len(prefix) :] for part in message.split("; ") if part.startswith(prefix))


# ----------------------------------------------------------------------------- Begg's rank test


def compare_ranktest(data, reference: pd.DataFrame) -> int:
    """Assert fast == metafor for every analysis not handed back; return how many were handed back."""
    handed_back = 0
    for n, (yi, vi) in data.items():
        fast = ranktest(yi, vi)
        rows = reference.loc[[f"n{n}_{g:03d}" for g in range(yi.shape[0])]]
        keep = ~fast.needs_metafor
        handed_back += int((~keep).sum())
        for name, column in (("kendall_tau", "ranktest_kendall_tau"), ("p_value", "ranktest_p_value")):
            got, want = getattr(fast, name)[keep], rows[column].to_numpy(float)[keep]
            bad = disagreements(got, want, relative_only=True)
            assert not len(bad), f"n={n} {name}: fast {got[bad][:3]} metafor {want[bad][:3]}"
            record_worst(f"ranktest {name}", got, want)
        assert [w for w, k in zip(fast.warnings, keep) if k] == list(rows["rank_warnings"][keep])
        assert list(fast.errors[keep]) == list(rows["rank_errors"][keep])
    return handed_back


@pytest.mark.requires_r
@settings(max_examples=6, **HYPOTHESIS)
@given(seed=st.integers(0, 2**32 - 1), ties=st.sampled_from(["none", "vi", "both"]))
def test_ranktest_matches_metafor(seed, ties):
    data = draw_batch(seed, SIZES, per_size=12, ties=ties)
    assert compare_ranktest(data, metafor_ranktests(data)) == 0


@pytest.mark.requires_r
def test_ranktest_every_tie_pattern_and_degenerate_case(installed):
    """Each branch of cor.test in one batch: exact, ties (warning), constant vi (cor's NA).
    metafor 5.0 wraps cor.test in suppressWarnings (its ranktest.r), so from 5.0 on there are none."""
    data = draw_batch(11, (3, 4, 15), per_size=6, ties="vi")
    data.update(draw_batch(12, (5, 60), per_size=6, ties="none"))
    yi, vi = data[4]
    vi[0] = 0.2  # constant vi: cor() warns the standard deviation is zero
    yi[1], vi[1] = 0.1, [0.1, 0.1, 0.2, 0.2]  # yi* ties and vi ties
    reference = metafor_ranktests(data)
    compare_ranktest(data, reference)
    found = {w for row in reference["rank_warnings"] for w in row}
    quiet = version_tuple(installed["metafor_version"]) >= (5, 0)
    assert found == (set() if quiet else {"Cannot compute exact p-value with ties", "the standard deviation is zero"})


@pytest.mark.requires_r
def test_ranktest_exact_p_value_for_large_n():
    """R's permutation counts pass 2^53 from n = 19 and overflow gamma(n + 1) from n = 171
    (p then NaN or 0 in R; from metafor 5.0 the normal approximation where it is NaN, NEWS
    5.0-1): the fast path must round and overflow the same way."""
    data = draw_batch(21, (25, 49, 80, 170, 171), per_size=2, ties="none")
    assert compare_ranktest(data, metafor_ranktests(data)) == 0


@pytest.mark.requires_r
def test_ranktest_planted_error_is_caught():
    """The tied p-value without R's tie correction of var(S) must fail the comparison."""
    data = draw_batch(31, (15,), per_size=12, ties="vi")
    reference = metafor_ranktests(data)
    yi, vi = data[15]
    fast = ranktest(yi, vi)
    want = reference.loc[[f"n15_{g:03d}" for g in range(12)], "ranktest_p_value"].to_numpy(float)
    assert not len(disagreements(fast.p_value, want, relative_only=True))
    n = 15
    ties_x, ties_y = _tie_sizes(_standardised_effects(yi, vi)), _tie_sizes(vi)
    assert (ties_y > 0).any(axis=1).all()
    pairs = n * (n - 1) / 2
    untied = [pairs - np.sum(t * (t - 1), axis=1) / 2 for t in (ties_x, ties_y)]
    s = fast.kendall_tau * np.sqrt(untied[0] * untied[1])
    planted = pnorm_two_sided(s / np.sqrt(n * (n - 1) * (2 * n + 5) / 18))  # var(S) as if untied
    # every analysis is caught except where tau = 0 (p = 1 whatever the variance)
    caught = disagreements(planted, want, relative_only=True)
    assert len(caught) == np.count_nonzero(fast.kendall_tau) >= 10


# ----------------------------------------------------------------------------- Egger's lm test

EGGER_FIELDS = ("statistic", "df", "p_value", "limit_estimate", "limit_conf_low", "limit_conf_high")


def metafor_egger(yi: np.ndarray, vi: np.ndarray, level: float) -> dict:
    """regtest(rma(yi, vi, level), model="lm") through the bridge: glance, warnings, error."""
    frame = pd.DataFrame({"yi": yi, "vi": vi})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = ketabridge.rma(frame, yi="yi", vi="vi", method="EE", level=level)
        fit_warnings = len(caught)
        try:
            glance = ketabridge.regtest(fit, model="lm").glance().iloc[0]
        except ketabridge.MetaforError as error:
            return {"error": error.r_message, "warnings": ()}
    return {
        "error": "",
        "warnings": tuple(str(w.message) for w in caught[fit_warnings:]),
        **{name: float(glance[name]) for name in EGGER_FIELDS},
    }


def compare_egger(yi: np.ndarray, vi: np.ndarray, level: float, fast=None) -> None:
    fast = fast or egger_lm(yi, vi, level)
    for g in range(yi.shape[0]):
        if fast.needs_metafor[g]:
            continue
        want = metafor_egger(yi[g], vi[g], level)
        assert fast.errors[g] == want["error"]
        assert fast.warnings[g] == want["warnings"]
        if want["error"]:
            continue
        for name in EGGER_FIELDS:
            got = getattr(fast, name)[g : g + 1]
            message = f"row {g} {name}: fast {got[0]!r} metafor {want[name]!r}"
            assert not len(disagreements(got, [want[name]])), message
            record_worst(f"egger {name}", got, [want[name]])


@pytest.mark.requires_r
@settings(max_examples=6, **HYPOTHESIS)
@given(seed=st.integers(0, 2**32 - 1), level=st.sampled_from([95.0, 90.0, 99.0]))
def test_egger_lm_matches_metafor(seed, level):
    for yi, vi in draw_batch(seed, (3, 4, 15, 60), per_size=2, ties="none").values():
        compare_egger(yi, vi, level)


@pytest.mark.requires_r
def test_egger_lm_edge_cases():
    """k = 2 (df 0: NaN with two 'NaNs produced' warnings), constant and near-constant sei."""
    rng = np.random.default_rng(41)
    yi = rng.normal(0, 1, (5, 3))
    vi = rng.uniform(0.05, 0.5, (5, 3))
    vi[1] = 0.1  # constant: rank-deficient
    vi[2] = 0.1 * (1 + np.array([0, 1e-12, 2e-12]))  # below lm's tolerance: still rank-deficient
    vi[3] = 0.1 * (1 + np.array([0, 1e-5, 3e-5]))  # ill-conditioned: handed back to metafor
    fast = egger_lm(yi, vi, 95.0)
    assert list(fast.errors[1:3]) == [RANK_ERROR] * 2
    assert fast.needs_metafor.tolist() == [False, False, False, True, False]
    compare_egger(yi, vi, 95.0, fast)
    perfect = egger_lm(0.2 + 1.5 * np.sqrt(vi[4:]), vi[4:], 95.0)  # residuals are rounding noise
    assert perfect.needs_metafor.tolist() == [True]
    pair = egger_lm(yi[:, :2], vi[:, :2], 95.0)
    assert pair.warnings[0] == ("NaNs produced", "NaNs produced")
    compare_egger(yi[:, :2], vi[:, :2], 95.0, pair)


@pytest.mark.requires_r
def test_egger_lm_planted_error_is_caught():
    """df = k - 1 instead of metafor's k - 2 (a tempting slip) must fail the comparison."""
    yi, vi = draw_batch(51, (4,), per_size=1, ties="none")[4]
    fast = egger_lm(yi, vi, 95.0)
    compare_egger(yi, vi, 95.0, fast)
    want = metafor_egger(yi[0], vi[0], 95.0)
    planted = pt_two_sided(fast.statistic, fast.df + 1)
    assert len(disagreements(planted, [want["p_value"]])) == 1


def test_report_worst_differences():
    """Runs last in this file: prints the worst relative differences seen (pytest -s shows them)."""
    if not WORST:
        pytest.skip("run with the whole file: the other tests record the differences")
    for name, worst in sorted(WORST.items()):
        print(f"worst relative difference, {name}: {worst:.3g}")
    assert all(worst <= 1e-10 for worst in WORST.values())
