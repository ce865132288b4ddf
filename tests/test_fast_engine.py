"""batch(engine="fast") against batch(engine="metafor"): random ragged batches, routing, verification,
provenance.

Every expected number comes from the metafor engine (metafor 3.8-1 through the bridge), compared
with tests/fast_compare.py. Hypothesis draws the batches (seeded, derandomized, few examples: each
example runs metafor twice, once as the expected side and once as the fast engine's verifier).
"""

from __future__ import annotations

import json
import math
import warnings
from itertools import cycle, product

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from fast_compare import assert_engines_agree
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import ketabridge
import ketabridge.batches.verify as batch_verify
import ketabridge.fast.chunk as fast_chunk
import ketabridge.fast.tau2 as fast_tau2
from ketabridge.cli import main
from ketabridge.crosschecks.suites import edge_suite, random_suite, to_long
from ketabridge.errors import VerificationError

HYPOTHESIS = dict(
    deadline=None,
    database=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
METHODS = ("EE", "FE", "DL", "HE", "SJ", "PM", "ML", "REML")
TESTS = ("z", "knha")
# Every extra's every variant, dealt round-robin over the 16 method x test cases so each appears
# at least twice: trimfill (estimator, side), regtest model.
TRIMFILL = list(product(("L0", "R0"), (None, "left", "right")))
GRID = [
    (method, test, tf, model)
    for (method, test), tf, model in zip(product(METHODS, TESTS), cycle(TRIMFILL), cycle(("rma", "lm", "lm")))
]

pytestmark = [
    pytest.mark.requires_r,
    pytest.mark.filterwarnings("ignore::ketabridge.MetaforWarning"),
    pytest.mark.filterwarnings("ignore::ketabridge.MissingValuesWarning"),
]


@st.composite
def ragged_batches(draw, extreme: bool = False):
    """6-10 analyses, k from 2 to 30, true tau^2 0 to 3; some with tied vi, and (extreme=True) some
    with a vi ratio > 1e7 (metafor then warns that the ratio of largest to smallest sampling
    variance is extreme, and the fast engine leaves those analyses to metafor)."""
    rows = []
    for index in range(draw(st.integers(6, 10))):
        k = draw(st.sampled_from([2, 3, 4, 5, 8, 12, 20, 30]))
        tau2 = draw(st.sampled_from([0.0, 0.0, 0.05, 0.5, 3.0]))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        vi = 10 ** rng.uniform(-2, 0.5, size=k)
        kind = draw(st.sampled_from(["plain", "plain", "tied"] + ["extreme"] * extreme))
        if kind == "tied":
            vi[: max(2, k // 2)] = vi[0]
        elif kind == "extreme" and k >= 3:
            vi[0] = vi.min() * 10 ** rng.uniform(7.2, 9)
        yi = rng.normal(rng.normal(0, 1), np.sqrt(vi + tau2))
        rows.append(pd.DataFrame({"id": f"a{index:02d}_{kind}_k{k}", "yi": yi, "vi": vi}))
    return pd.concat(rows, ignore_index=True)


def _batch(data, engine, by="id", **options):
    return ketabridge.batch(data, by, workers=0, progress=False, engine=engine, **options)


def _fast_strict(data, **options):
    """The fast batch with every numpy RuntimeWarning an error: none may escape the engine."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return _batch(data, "fast", **options)


@pytest.mark.parametrize("method,test,trimfill,regtest_model", GRID)
@settings(max_examples=2, **HYPOTHESIS)
@given(data=ragged_batches(extreme=True))
def test_fast_equals_metafor_on_ragged_batches(data, method, test, trimfill, regtest_model):
    estimator, side = trimfill
    options = dict(
        method=method,
        test=test,
        trimfill=True,
        trimfill_estimator=estimator,
        trimfill_side=side,
        regtest=True,
        regtest_model=regtest_model,
        ranktest=True,
    )
    metafor = _batch(data, "metafor", **options)
    fast = _fast_strict(data, **options)
    assert_engines_agree(fast, metafor, data, "id", method)
    assert fast.provenance.details["verification"]["checked"] == (fast.status()["engine"] == "fast").sum()


# EE with a vi ratio of 1.1e8: Q = 73.24650230659044 fast, 73.24650230670568
# metafor (1.6e-12 relative); I^2 and DL's tau^2 inherit it (up to ~1e-9 relative in other draws).
EXTREME = pd.DataFrame(
    {
        "id": "extreme",
        "yi": [
            float.fromhex(x)
            for x in (
                "0x1.c4d8f35826980p+9",
                "-0x1.e8f1df4fcd5f9p+0",
                "0x1.2d4a2b24beb92p-2",
                "0x1.45b2817e0bfa7p+0",
                "-0x1.88bc3eca9f308p-1",
                "0x1.6f46b36fc9887p-1",
                "0x1.ae6e80a5c31f1p+0",
                "0x1.7e4ea5e9344dfp-3",
                "-0x1.a1b0cd977b7edp-2",
                "0x1.80021dabc44a0p-1",
                "0x1.29d3eb9bd036ep+0",
                "0x1.98fadb491541ap+0",
            )
        ],
        "vi": [
            float.fromhex(x)
            for x in (
                "0x1.5a576a49f7f53p+20",
                "0x1.73e7a1506077bp-3",
                "0x1.f297e55df6467p-2",
                "0x1.19a172b8d8396p-2",
                "0x1.c64e10e3eb801p-4",
                "0x1.2d6b110a5799ep-4",
                "0x1.0f3d66d1d5eecp-2",
                "0x1.99ce21d17bf69p-7",
                "0x1.bfc3f624b9842p-4",
                "0x1.417623150ef59p-5",
                "0x1.c67d5fbdc8b8ap-1",
                "0x1.3be3ec7d74644p-3",
            )
        ],
    }
)


@pytest.mark.parametrize("method", ["EE", "DL"])
def test_extreme_vi_ratio_goes_to_metafor(method):
    """metafor warns that such results may be unstable: they rest on its order of operations
    (its P-matrix Q cancels differently), so the fast engine hands them to metafor."""
    metafor = _batch(EXTREME, "metafor", method=method)
    fast = _fast_strict(EXTREME, method=method)
    assert fast.status()["engine"].tolist() == ["metafor"]
    assert_engines_agree(fast, metafor, EXTREME, "id", method)


@pytest.mark.parametrize("method", ["EE", "DL"])
def test_k2_tied_vi_trimfill(method):
    """The side fit's moderator sqrt(vi) is constant, metafor drops it
    and trimfill fails with R's `if (NA < 0)` message; the batch goes on."""
    data = pd.DataFrame(
        {
            "id": "tied",
            "yi": [float.fromhex("0x1.2ff3e61b45938p+1"), float.fromhex("0x1.2e251ab47aee1p+1")],
            "vi": [float.fromhex("0x1.75778f6ce9554p-2")] * 2,
        }
    )
    metafor = _batch(data, "metafor", method=method, trimfill=True)
    fast = _fast_strict(data, method=method, trimfill=True)
    assert fast.status()["engine"].tolist() == ["fast"]
    assert "trimfill failed: missing value where TRUE/FALSE needed" in fast.status()["message"][0]
    assert_engines_agree(fast, metafor, data, "id", method)


# ------------------------------------------------------------------------------------ routing


def _counts():
    rng = np.random.default_rng(3)
    n = rng.integers(20, 80, size=(12, 2))
    events = rng.binomial(n, [0.2, 0.3])
    return pd.DataFrame(
        {
            "id": np.repeat(["s1", "s2", "s3"], 4),
            "ai": events[:, 0],
            "bi": n[:, 0] - events[:, 0],
            "ci": events[:, 1],
            "di": n[:, 1] - events[:, 1],
        }
    )


@pytest.mark.parametrize(
    "options,why",
    [
        (dict(method="EB"), "method EB"),
        (dict(method="DL", test="t"), "test t"),
        (dict(method="REML", trimfill=True, trimfill_estimator="Q0"), "estimator Q0"),
    ],
)
def test_uncovered_settings_run_on_metafor(options, why):
    data = to_long(random_suite(6, 5))
    metafor = _batch(data, "metafor", by="dataset", **options)
    fast = _batch(data, "fast", by="dataset", **options)
    assert why in fast.provenance.details["fast_not_covered"]
    assert set(fast.status()["engine"]) == {"metafor"}
    assert_engines_agree(fast, metafor, data, "dataset", options["method"])


def test_escalc_measures_run_on_metafor():
    data = _counts()
    options = dict(measure="OR", ai="ai", bi="bi", ci="ci", di="di", yi="yi", vi="vi", method="DL")
    fast = _batch(data, "fast", **options)
    metafor = _batch(data, "metafor", **options)
    assert "escalc" in fast.provenance.details["fast_not_covered"]
    assert set(fast.status()["engine"]) == {"metafor"}
    pd.testing.assert_frame_equal(fast.glance(), metafor.glance())
    pd.testing.assert_frame_equal(fast.status().drop(columns="engine"), metafor.status().drop(columns="engine"))


def test_fallback_hands_non_converging_fit_to_metafor():
    data = to_long(edge_suite())
    metafor = _batch(data, "metafor", by="dataset", method="REML", fallback=True)
    fast = _batch(data, "fast", by="dataset", method="REML", fallback=True)
    row = fast.status().set_index("analysis_id").loc["edge_reml_not_converging"]
    assert row["engine"] == "metafor" and row["fallback"] and row["status"] != "error", row.to_dict()
    assert (fast.status()["engine"] == "fast").sum() == len(fast.status()) - 1
    assert_engines_agree(fast, metafor, data, "dataset", "REML")


# ------------------------------------------------------------------------------- verification


@pytest.fixture(scope="module")
def heterogeneous():
    """60 DL analyses with true tau^2 = 0.5: tau^2 > 0 almost everywhere, k >= 4."""
    rng = np.random.default_rng(11)
    frames = [
        pd.DataFrame(
            {
                "id": f"h{i:02d}",
                "vi": (vi := 10 ** rng.uniform(-2, -1, size=8)),
                "yi": rng.normal(0.3, np.sqrt(vi + 0.5)),
            }
        )
        for i in range(60)
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("fraction", [0.01, 0.5])
def test_sample_size_and_seed(heterogeneous, fraction):
    """A fraction keeps its old meaning: that share at random (at least 20) plus every analysis
    outside the interior class; the same seed draws the same sample."""
    runs = [
        _batch(heterogeneous, "fast", method="DL", verify=fraction, verify_seed=seed).provenance.details["verification"]
        for seed in (1, 1, 2)
    ]
    first, again, other = runs
    expected = max(20, math.ceil(fraction * 60))
    assert first["sample"] == expected and first["verdict"] == again["verdict"] == other["verdict"] == "agree"
    assert first["checked"] == first["sample"] + first["stratified"]
    for name, row in first["classes"].items():  # every analysis outside the interior is checked
        assert name == "interior" or row["checked"] == row["total"], (name, row)
    assert first["classes"] == again["classes"] and first["checked_ids"] == again["checked_ids"]
    assert first["checked_ids"] != other["checked_ids"]
    # the tau^2 = 0 analyses (a boundary under DL) are all verified whatever the sample
    tau0 = _batch(heterogeneous, "metafor", method="DL").glance().query("tau2 == 0 and k > 3")
    assert first["classes"]["tau2_zero"]["total"] == len(tau0)


def test_verify_all_checks_every_fast_analysis(heterogeneous):
    result = _batch(heterogeneous, "fast", method="DL", verify="all")
    assert (
        result.provenance.details["verification"]["checked"] == 60 == result.provenance.details["engine_counts"]["fast"]
    )


def _planted_tau2(monkeypatch, factor=1 + 1e-8):
    real = fast_chunk.rma

    def planted(*args, **kwargs):
        fit = real(*args, **kwargs)
        fit.tau2 = fit.tau2 * factor
        return fit

    monkeypatch.setattr(fast_chunk, "rma", planted)


def test_planted_tau2_error_is_caught(heterogeneous, monkeypatch):
    _planted_tau2(monkeypatch)
    with pytest.raises(VerificationError, match="disagrees with metafor") as caught:
        _batch(heterogeneous, "fast", method="DL")
    verdict = caught.value.result.provenance.details["verification"]
    assert verdict["verdict"] == "disagree" and verdict["disagreeing_analyses"] >= 20
    assert {row["column"] for row in verdict["disagreements"]} == {"tau2"}


def _plant_in(monkeypatch, where):
    """An error of 1e-8 relative in the estimate of the analyses where(glance) selects only."""
    real = fast_chunk.glance_of

    def planted(fit):
        glance = real(fit)
        glance["estimate"] = np.where(where(glance), glance["estimate"] * (1 + 1e-8), glance["estimate"])
        return glance

    monkeypatch.setattr(fast_chunk, "glance_of", planted)


@pytest.mark.parametrize(
    "planted_class,where",
    [
        ("tau2_zero", lambda glance: (glance["tau2"] == 0) & (glance["k"] > 3)),
        ("k_le_3", lambda glance: glance["k"] <= 3),
    ],
)
def test_an_error_planted_in_one_class_only_is_caught_by_a_count_budget(mixed, monkeypatch, planted_class, where):
    _plant_in(monkeypatch, where)
    with pytest.raises(VerificationError, match="disagrees with metafor") as caught:
        _batch(mixed, "fast", method="DL", verify=40)
    verdict = caught.value.result.provenance.details["verification"]
    glance = caught.value.result.glance().set_index("analysis_id")
    assert verdict["checked"] <= 40 < len(glance)  # a sample, not every member of every class
    members = glance.query("tau2 == 0 and k > 3" if planted_class == "tau2_zero" else "k <= 3").index
    assert 10 <= len(members) <= 30
    assert {row["analysis_id"] for row in verdict["disagreements"]} <= set(members)
    assert {row["column"] for row in verdict["disagreements"]} == {"estimate"}
    bad = {name for name, row in verdict["classes"].items() if row["disagreeing"]}
    assert bad == {planted_class} and verdict["classes"][planted_class]["checked"] >= 10


def test_a_count_budget_reports_every_class_with_its_bound(mixed):
    verdict = _batch(mixed, "fast", method="DL", verify=40).provenance.details["verification"]
    classes = verdict["classes"]
    assert verdict["verdict"] == "agree" and verdict["budget"] == 40 and verdict["checked"] <= 40
    assert sum(row["total"] for row in classes.values()) == 300
    assert sum(row["checked"] for row in classes.values()) == verdict["checked"]
    for row in classes.values():
        if 0 < row["checked"] < row["total"]:  # zero disagreements in n: 1 - 0.05^(1/n) (Clopper-Pearson)
            assert row["upper_bound_95"] == pytest.approx(1 - 0.05 ** (1 / row["checked"]))
        elif row["total"]:
            assert row["checked"] == row["total"] and row["upper_bound_95"] == 0
    # 40 over interior, k <= 3 and tau^2 = 0: at least 13 each (a quarter drawn from the whole first)
    assert min(classes[name]["checked"] for name in ("interior", "k_le_3", "tau2_zero")) >= 13


def test_verify_zero_needs_the_unsafe_flag_and_says_so(mixed):
    with pytest.raises(ketabridge.InputError, match="skip_verification_unsafe"):
        _batch(mixed, "fast", method="DL", verify=0)
    with pytest.warns(UserWarning, match="verification skipped"):
        result = _batch(mixed, "fast", method="DL", verify=0, skip_verification_unsafe=True)
    details = result.provenance.details
    assert details["UNVERIFIED"] is True and details["verification"]["verdict"].startswith("UNVERIFIED")
    assert details["verification"]["checked"] == 0


def test_planted_reml_threshold_is_caught(heterogeneous, monkeypatch):
    monkeypatch.setattr(fast_tau2, "THRESHOLD", 1e-3)  # metafor's control$threshold is 1e-5
    with pytest.raises(VerificationError, match="disagrees with metafor") as caught:
        _batch(heterogeneous, "fast", method="REML")
    assert caught.value.result.provenance.details["verification"]["disagreeing_analyses"] >= 1


def test_cli_exits_1_on_planted_error_and_writes_provenance(heterogeneous, monkeypatch, tmp_path):
    _planted_tau2(monkeypatch)
    source = tmp_path / "in.csv"
    heterogeneous.to_csv(source, index=False)
    out = tmp_path / "out"
    run = CliRunner().invoke(
        main,
        ["batch", str(source), "--by", "id", "--method", "DL", "--engine", "fast", "--workers", "0", "--out", str(out)],
    )
    assert run.exit_code == 1, run.output
    assert "Error:" in run.output and "disagrees with metafor" in run.output
    verdict = json.loads((out / "provenance.json").read_text())["verification"]
    assert verdict["verdict"] == "disagree" and verdict["disagreements"][0]["column"] == "tau2"


# --------------------------------------------------------------------------------- provenance


def test_provenance_and_resume(heterogeneous, tmp_path, installed):
    import numpy
    import scipy

    result = _batch(heterogeneous, "fast", method="REML", out=tmp_path, trimfill=True)
    prov = result.provenance.details
    assert prov["engine"] == "fast" and prov["engine_counts"] == {"fast": 60}
    assert prov["numpy_version"] == numpy.__version__ and prov["scipy_version"] == scipy.__version__
    assert prov["r_version"] == installed["r_version"] and prov["metafor_version"] == installed["metafor_version"]
    assert prov["verification"]["verdict"] == "agree" and "share_of_tolerance" in prov["verification"]["worst"]
    assert json.loads((tmp_path / "provenance.json").read_text())["verification"]["verdict"] == "agree"
    resumed = _batch(heterogeneous, "fast", method="REML", out=tmp_path, trimfill=True, resume=True)
    for table in (resumed.status(), resumed.glance(), pd.read_parquet(tmp_path / "status.parquet")):
        assert table["analysis_id"].is_unique and len(table) == 60
    pd.testing.assert_frame_equal(resumed.glance(), result.glance())


def test_no_runtime_warning_escapes_on_edge_suite():
    data = to_long(edge_suite() + random_suite(10, 2))
    for method, test in (("REML", "knha"), ("DL", "z"), ("PM", "knha"), ("EE", "knha")):
        # verify="all": no warning escapes, and every analysis still agrees with metafor
        fast = _fast_strict(
            data, by="dataset", method=method, test=test, trimfill=True, regtest=True, ranktest=True, verify="all"
        )
        assert fast.provenance.details["verification"]["verdict"] == "agree"


def test_knha_on_identical_effects_without_extras():
    """knha with all yi equal has vb = 0; metafor's chol(vb) fails and QM is NA."""
    data = to_long([d for d in edge_suite() if d.name == "edge_identical_effects"])
    for method in ("EE", "REML"):
        fast = _fast_strict(data, by="dataset", method=method, test="knha", verify="all")
        assert fast.glance()["qm"].isna().all()
        assert_engines_agree(
            fast, _batch(data, "metafor", by="dataset", method=method, test="knha"), data, "dataset", method
        )


def test_overflow_and_underflow_go_to_metafor():
    """sei**2 underflowing to 0, or yi near 1e160, are not replayed: metafor decides."""
    data = pd.DataFrame(
        {
            "id": ["tiny"] * 3 + ["huge"] * 3,
            "yi": [0.1, 0.2, 0.3, 1e160, -1e160, 3e159],
            "sei": [1e-200, 0.1, 0.2, 0.1, 0.2, 0.3],
        }
    )
    for method in ("DL", "REML"):
        fast = _batch(data, "fast", yi="yi", vi=None, sei="sei", method=method, trimfill=True, regtest=True)
        assert fast.status()["engine"].tolist() == ["metafor", "metafor"]
        metafor = _batch(data, "metafor", yi="yi", vi=None, sei="sei", method=method, trimfill=True, regtest=True)
        pd.testing.assert_frame_equal(fast.status().drop(columns="engine"), metafor.status().drop(columns="engine"))


def test_huge_tau2_where_rounding_decides_convergence_goes_to_metafor():
    """yi ~ 1e6 gives REML tau^2 ~ 7e11, where metafor's absolute
    threshold 1e-5 is below one ulp of tau^2. metafor's steps reach exactly 0 and it converges;
    numpy's alternate by an ulp and never stop. Neither is wrong, so metafor decides."""
    data = pd.DataFrame({"id": "big", "yi": [1e6, 2e6, 1.5e6, 3e6], "vi": [1.0, 2.0, 3.0, 4.0]})
    for method in ("ML", "REML"):
        fast = _batch(data, "fast", method=method, trimfill=True, regtest=True, verify="all")
        metafor = _batch(data, "metafor", method=method, trimfill=True, regtest=True)
        assert fast.status()["engine"].tolist() == ["metafor"]
        assert fast.status()["status"].tolist() == metafor.status()["status"].tolist()


def test_far_tail_p_value_is_held_to_its_statistics_tolerance():
    """SJ's Egger z = 32.48 agrees with metafor to 4e-13 relative,
    yet its p-value (1.8e-231) differs by 4.3e-10 relative, as the tail's z^2 conditioning predicts
    (d log p / d log z ~ z^2). Verification allows that, and still catches a statistic that is off."""
    data = pd.DataFrame({"id": "outlier", "yi": [0.1, 0.12, 0.11, 0.09, 5.0], "vi": [0.01] * 4 + [0.02]})
    fast = _batch(data, "fast", method="SJ", regtest=True, verify="all")
    metafor = _batch(data, "metafor", method="SJ", regtest=True)
    assert fast.provenance.details["verification"]["verdict"] == "agree"
    assert "z^2" in fast.provenance.details["verification"]["growing_tolerances"]["p_values"]  # said where it is used
    z = metafor.glance()["regtest_statistic"][0]
    relative = abs(fast.glance()["regtest_p_value"][0] / metafor.glance()["regtest_p_value"][0] - 1)
    assert z > 30 and relative < 1e-12 * z * z  # independent of the rule: the conditioning bound
    shifted = {kind: table.copy() for kind, table in (("glance", fast.glance()), ("status", fast.status()))}
    shifted["glance"]["regtest_p_value"] *= 1 + 1e-12 * z * z * 3  # three times what the statistic allows
    found = batch_verify.compare(shifted, {"glance": metafor.glance(), "status": metafor.status()}, "SJ")
    assert found["verdict"] == "disagree" and found["disagreements"][0]["column"] == "regtest_p_value"


@pytest.mark.parametrize("estimator", ["L0", "R0"])
def test_trimfill_tie_made_by_the_estimates_last_bits_goes_to_metafor(estimator):
    """Rounded data (-84.25 ... -84.29, equal vi). numpy's mean
    is exactly -84.265, so -84.26 and -84.27 lie at equal distances and tie; R's estimate is an ulp
    off, the tie breaks the other way and metafor fills no study where the tie would fill one."""
    data = pd.DataFrame(
        {"id": "rounded", "yi": [-84.25, -84.28, -84.26, -84.26, -84.26, -84.27, -84.29, -84.25], "vi": [0.001] * 8}
    )
    options = dict(method="HE", trimfill=True, trimfill_estimator=estimator, trimfill_side="left")
    fast = _batch(data, "fast", verify="all", **options)
    assert fast.status()["engine"].tolist() == ["metafor"]
    assert fast.glance()["trimfill_k0"].tolist() == _batch(data, "metafor", **options).glance()["trimfill_k0"].tolist()


def test_trimfill_equal_values_still_tie_on_the_fast_engine():
    """Equal yi are equal distances from any estimate, in R and in numpy: they stay on the fast path."""
    data = pd.DataFrame(
        {"id": "ties", "yi": [0.1, 0.1, 0.1, 0.4, 0.55, 0.9, 1.3], "vi": [0.02, 0.03, 0.05, 0.04, 0.06, 0.1, 0.2]}
    )
    for estimator in ("L0", "R0"):
        fast = _batch(data, "fast", method="REML", trimfill=True, trimfill_estimator=estimator, verify="all")
        assert fast.status()["engine"].tolist() == ["fast"]
        assert fast.provenance.details["verification"]["verdict"] == "agree"


def test_residual_based_statistic_is_held_to_a_tolerance_growing_with_t():
    """Egger's lm test at k = 3 with two equal yi fits
    almost perfectly (t = -131); its SE comes from residuals ~1/|t| of the data's size, and the two
    engines' t differ by 1.1e-12 relative. Verification allows rtol * (1 + |t|) for such statistics."""
    data = pd.DataFrame(
        {
            "id": "k3",
            "yi": [0.8131693141816695, 0.8131693141816695, 0.7130941232977244],
            "vi": [0.0010016280667096374, 0.000986236205654766, 0.013866825154812999],
        }
    )
    options = dict(method="DL", test="knha", regtest=True, regtest_model="lm")
    fast = _batch(data, "fast", verify="all", **options)
    metafor = _batch(data, "metafor", **options)
    assert fast.provenance.details["verification"]["verdict"] == "agree"
    t = metafor.glance()["regtest_statistic"][0]
    assert abs(t) > 100 and abs(fast.glance()["regtest_statistic"][0] / t - 1) < 1e-12 * (1 + abs(t))
    shifted = {"glance": fast.glance().copy(), "status": fast.status()}
    shifted["glance"]["regtest_statistic"] *= 1 + 3e-12 * (1 + abs(t))  # three times the allowance
    found = batch_verify.compare(shifted, {"glance": metafor.glance(), "status": metafor.status()}, "DL")
    assert found["verdict"] == "disagree" and found["disagreements"][0]["column"] == "regtest_statistic"


# Effects near 325 with sei from 0.12 to 3.1 (|yi| / sei up
# to 2,700). Egger's slope is near 0 (z = 0.30) and is formed from products of yi / sei, so the two
# engines' z differ by 1.1e-11: 19 eps x 2,700, rounding of the data's size, not of the slope's.
LARGE_EFFECTS = pd.DataFrame(
    {
        "id": "large",
        "yi": [
            float.fromhex(x)
            for x in (
                "0x1.458a76b814d24p+8",
                "0x1.4c8d4282a5769p+8",
                "0x1.458ea9d4f4226p+8",
                "0x1.45640fa96c124p+8",
                "0x1.45b0e7640925bp+8",
                "0x1.411ff0d2df8fep+8",
            )
        ],
        "vi": [
            float.fromhex(x)
            for x in (
                "0x1.957dc765d0f5ep-6",
                "0x1.3a85b01ac3153p+3",
                "0x1.d23ea5f3985d2p-7",
                "0x1.77150f41975cbp-4",
                "0x1.93144864b2b4dp-1",
                "0x1.ff2d56b1bf19ep+2",
            )
        ],
    }
)


def test_egger_statistic_is_held_to_rounding_of_the_datas_size():
    options = dict(method="EE", regtest=True)
    fast = _batch(LARGE_EFFECTS, "fast", verify="all", **options)
    metafor = _batch(LARGE_EFFECTS, "metafor", **options)
    assert fast.provenance.details["verification"]["verdict"] == "agree"
    scale = (LARGE_EFFECTS["yi"].abs() / np.sqrt(LARGE_EFFECTS["vi"])).max()  # independent of data_scale
    difference = abs(fast.glance()["regtest_statistic"][0] - metafor.glance()["regtest_statistic"][0])
    assert 1e-12 < difference < 64 * np.finfo(float).eps * scale
    assert (
        batch_verify.data_scales(
            np.array([6]), {"yi": LARGE_EFFECTS["yi"].to_numpy(), "vi": LARGE_EFFECTS["vi"].to_numpy()}
        )[0][0]
        == scale
    )
    shifted = {"glance": fast.glance().copy(), "status": fast.status()}
    shifted["glance"]["regtest_statistic"] += 3 * 64 * np.finfo(float).eps * scale  # three times the allowance
    found = batch_verify.compare(
        shifted, {"glance": metafor.glance(), "status": metafor.status()}, "EE", {"large": (scale, 1.0)}
    )
    assert found["verdict"] == "disagree" and found["disagreements"][0]["column"] == "regtest_statistic"


def test_tau2_se_is_held_to_the_squared_weight_ratio():
    """sei input, k = 2, an outlier, vi ratio 481. DL's tau^2 SE differs
    by 3.4e-12 relative: metafor's trace of PP cancels as the squared weight ratio (eps x 481^2 =
    5e-11 bounds it), the closed form's 1e-12 does not."""
    data = pd.DataFrame(
        {
            "id": "k2",
            "yi": [float.fromhex("0x1.58a5f2286414bp+3"), float.fromhex("0x1.24e8b1b4a1418p-2")],
            "sei": [float.fromhex("0x1.069540439ac6dp-3"), float.fromhex("0x1.6828cf2b17c6fp+1")],
        }
    )
    options = dict(yi="yi", vi=None, sei="sei", method="DL")
    fast = _batch(data, "fast", verify="all", **options)
    metafor = _batch(data, "metafor", **options)
    assert fast.provenance.details["verification"]["verdict"] == "agree"
    ratio = (data["sei"].max() / data["sei"].min()) ** 2
    relative = abs(fast.glance()["tau2_se"][0] / metafor.glance()["tau2_se"][0] - 1)
    assert 1e-12 < relative < np.finfo(float).eps * ratio**2


# Effects near 11,912 +- 2.5 with sei 0.2 to 5 (|yi| / sei up
# to 61,000). Trim-and-fill mirrors the filled studies about an estimate that numpy and R round ~1e-12
# apart, and the refit's Q and I^2 differ by up to 3.6e-11 relative.
MIRRORED = pd.DataFrame(
    {
        "id": "mirrored",
        "yi": [
            float.fromhex(x)
            for x in (
                "0x1.743f0c6bde7fcp+13",
                "0x1.743ac795690bfp+13",
                "0x1.743e672498545p+13",
                "0x1.7447e063590c4p+13",
                "0x1.744e3813caec3p+13",
                "0x1.740d6b74f2016p+13",
                "0x1.74397c3e3fba3p+13",
                "0x1.744dc480aa71ep+13",
                "0x1.743049b1a5a4fp+13",
                "0x1.7439ebe784cd6p+13",
                "0x1.743703942357ep+13",
                "0x1.743bfb59e2ab7p+13",
                "0x1.743d5b4142975p+13",
                "0x1.74690a9b29b60p+13",
                "0x1.7455665de0aebp+13",
            )
        ],
        "vi": [
            float.fromhex(x)
            for x in (
                "0x1.e1575193b5bf6p-3",
                "0x1.1bd21ce61d235p-3",
                "0x1.455eea04be8b9p+1",
                "0x1.898c37f9eb58ap+1",
                "0x1.0d795fee44970p+4",
                "0x1.c7647710a8955p+4",
                "0x1.91e99bcfcaef3p-4",
                "0x1.0f4866fc59446p+2",
                "0x1.7d09d7793fd7fp-1",
                "0x1.394265cd50605p-5",
                "0x1.03078af47a517p-2",
                "0x1.e30a93fb7a896p-2",
                "0x1.3eaeb6ee48d47p-2",
                "0x1.6c86a64ba26a1p+4",
                "0x1.16121fe5bc1acp+2",
            )
        ],
    }
)


def test_trimfill_refit_is_held_to_rounding_of_the_datas_size():
    fast = _batch(MIRRORED, "fast", method="EE", trimfill=True, verify="all")
    metafor = _batch(MIRRORED, "metafor", method="EE", trimfill=True)
    assert fast.provenance.details["verification"]["verdict"] == "agree"
    assert fast.glance()["trimfill_k0"][0] > 0  # studies were filled in
    largest_z = (MIRRORED["yi"].abs() / np.sqrt(MIRRORED["vi"])).max()
    relative = abs(fast.glance()["trimfill_i2"][0] / metafor.glance()["trimfill_i2"][0] - 1)
    assert 1e-12 < relative < 1e-12 + 64 * np.finfo(float).eps * largest_z


def test_effects_far_from_their_spread_go_to_metafor():
    """An effect of 1155 (vi 5e5) beside two near 2 (vi 0.47 and 2.1): every Fisher-scoring
    iterate, numpy's and R's, carries the effects' rounding, and ML's tau^2 = 8.2e-6 ends 1.25e-12
    from metafor's, past the iterative class's absolute tolerance (1e-13). The fast engine must
    hand it to metafor, so there is nothing of the fast path left to verify."""
    data = pd.DataFrame({
        "id": ["far"] * 3,
        "yi": [1154.9089034162837, 1.8719288917184671, 2.1536012421439894],
        "vi": [499880.17947468488, 2.1192166314920793, 0.46668428371423293],
    })  # fmt: skip
    result = _fast_strict(data, method="ML", trimfill=True, regtest=True, verify="all")
    assert result.status()["engine"].tolist() == ["metafor"]
    assert result.provenance.details["verification"]["verdict"] == "nothing to verify"  # all on metafor


def test_two_workers_compute_the_fast_chunks_in_parallel_with_the_same_results(mixed):
    """--workers 2: the numpy chunks on two processes, the verification on two R workers."""
    alone = _batch(mixed, "fast", method="DL", verify=20, chunk_size=50)
    both = ketabridge.batch(
        mixed, "id", workers=2, progress=False, engine="fast", method="DL", verify=20, chunk_size=50
    )
    pd.testing.assert_frame_equal(alone.glance(), both.glance())
    verdict = both.provenance.details["verification"]
    assert verdict["verdict"] == "agree" and verdict["overlapped"] is True
