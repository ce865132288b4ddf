"""Issue 7's agreement target: the fast engine equals the metafor engine on the cross-check suites.

On the cross-check ``random`` suite (100 seeded data sets) and the ``edge`` suite (incl. the data
set where metafor 3.8's REML does not converge), for every fast method x test with trim-and-fill,
Egger's regtest and Begg's ranktest on, ``batch(engine="fast")`` must give metafor's numbers: the
expected values are ``batch(engine="metafor")``, i.e. metafor 3.8-1 run through the bridge.
Compared with tests/fast_compare.py (its own rules, not verify.compare): 1e-12 relative for closed
forms, 1e-10 for PM/ML/REML, identical status, message and set of failed analyses.

``pytest -s`` prints the worst relative difference per glance column.
"""

from __future__ import annotations

import itertools

import pytest
from fast_compare import Comparison, assert_engines_agree, compare_engines

import ketabridge
from ketabridge.crosschecks.suites import edge_suite, random_suite, to_long

METHODS = ("EE", "FE", "DL", "HE", "SJ", "PM", "ML", "REML")
TESTS = ("z", "knha")
EXTRAS = dict(trimfill=True, regtest=True, ranktest=True)
pytestmark = [
    pytest.mark.requires_r,
    pytest.mark.filterwarnings("ignore::ketabridge.MetaforWarning"),
    pytest.mark.filterwarnings("ignore::ketabridge.MissingValuesWarning"),
]


@pytest.fixture(scope="module")
def suites():
    return to_long(random_suite(100, 1) + edge_suite())


@pytest.fixture(scope="module")
def worst():
    collected = Comparison()
    yield collected
    print("\nfast vs metafor, worst relative difference per glance column (random n=100 seed 1 + edge):")
    print(collected.report())


def _run(data, method, test, engine, **options):
    return ketabridge.batch(
        data,
        "dataset",
        yi="yi",
        vi="vi",
        method=method,
        test=test,
        engine=engine,
        workers=0,
        progress=False,
        **EXTRAS,
        **options,
    )


@pytest.mark.parametrize("method,test", list(itertools.product(METHODS, TESTS)))
def test_fast_equals_metafor_on_suites(suites, worst, method, test):
    metafor = _run(suites, method, test, "metafor")
    fast = _run(suites, method, test, "fast", verify=0.01, verify_seed=0)
    found = assert_engines_agree(fast, metafor, suites, "dataset", method)
    worst.merge(found, f"{method}/{test} ")
    assert set(fast.status()["engine"]) <= {"fast", "metafor"}
    assert (fast.status()["engine"] == "fast").mean() > 0.9  # the fast path really computed the suite
    assert fast.provenance.details["verification"]["verdict"] == "agree"
    if method == "REML":  # the edge suite's non-converging REML fails on both engines, the same way
        row = fast.status().set_index("analysis_id").loc["edge_reml_not_converging"]
        assert row["status"] == "error" and "converge" in row["message"], row.to_dict()


def test_verify_all_agrees_on_the_random_suite(suites):
    """Every analysis of the suite rerun on metafor by the engine's own verification (EXACT
    tolerances), Egger's statistic included: a closed form held to 1e-12 (+1e-12 absolute)."""
    metafor = _run(suites, "EE", "z", "metafor")
    fast = _run(suites, "EE", "z", "fast", verify="all")
    assert fast.provenance.details["verification"]["verdict"] == "agree"
    found = compare_engines(fast, metafor, suites, "dataset", "EE")
    assert not found.problems, found.problems


@pytest.mark.parametrize("suite", ["reference", "edge"])
def test_crosscheck_harness_holds_fast_to_exact_tolerances(suite):
    """The fast engine as a built-in cross-check engine: metafor's values from the harness's own
    batch run; every quantity within tolerances.EXACT (with its absolute floors)."""
    result = ketabridge.crosscheck("fast", suite=suite, tolerances="exact")
    assert result.ok, result.disagreements().head(10).to_string()
    assert result.provenance.details["tolerances"]["closed_form"]["rtol"] == 1e-12
