"""The schema contract: every table has exactly the columns and dtypes of ketabridge.schema.

For every method x every test this lane's metafor accepts, on the bundled BCG trials (log risk ratios
from escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg)), with and without a moderator:
glance, tidy and augment (and the trim-and-fill, regtest and ranktest tables) have the schema's
column names, order and dtypes, glance has one row, and no column name depends on the
method or test. Numbers are checked elsewhere (test_property_rscript.py, against metafor run
directly in a separate Rscript process); here only the shape of the tables matters.

test="adhoc" is included: metafor's rma.uni accepts it (3.8-1 checks `test` against
c("z", "t", "knha", "adhoc")).
"""

from __future__ import annotations

import warnings
from itertools import product
from pathlib import Path

import pandas as pd
import pytest
from lane import running_vocabulary
from property_direct import GRID, PROPERTY_GRID, TESTS_COMPARED

import ketabridge
from ketabridge import schema
from ketabridge.bridge.compat import version_tuple
from ketabridge.options import METHODS_NEEDING_WEIGHTS

pytestmark = [pytest.mark.filterwarnings("ignore::ketabridge.MetaforWarning")]

BCG_CSV = Path(__file__).resolve().parent.parent / "data" / "bcg" / "bcg.csv"
# what this lane's metafor accepts (tests/test_vocabulary.py checks that against metafor itself)
METHODS, TESTS = running_vocabulary("method"), running_vocabulary("test")
COMBINATIONS = list(product(METHODS, TESTS))
# DLIT's default 100 iterations are not enough on the BCG data (metafor: "Iterative DL
# estimator did not converge"); more iterations let it converge, and the schema is the point.
CONTROL = {"DLIT": {"maxiter": 1000}}


@pytest.fixture(scope="module")
def bcg_model_data() -> pd.DataFrame:
    effects = ketabridge.escalc("RR", pd.read_csv(BCG_CSV), ai="tpos", bi="tneg", ci="cpos", di="cneg")
    effects["wi"] = 1 / effects["vi"]
    return effects


def fit(data: pd.DataFrame, method: str, test: str, mods=None) -> ketabridge.MetaResult:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ketabridge.rma(
                data,
                method=method,
                test=test,
                slab="author",
                mods=mods,
                control=CONTROL.get(method),
                weights="wi" if method in METHODS_NEEDING_WEIGHTS else None,
            )
    except ketabridge.MetaforError as error:
        if "CompQuadForm" in error.r_message:
            # An environment limit, not ketabridge's: metafor's GENQM needs the optional R
            # package CompQuadForm, and this R library does not have it.
            pytest.skip(f"{method} needs the R package CompQuadForm: {error.r_message}")
        raise


def assert_schema(table: pd.DataFrame, expected: dict, what: str) -> None:
    assert list(table.columns) == list(expected), f"{what}: columns differ from the schema"
    assert {name: str(dtype) for name, dtype in table.dtypes.items()} == expected, f"{what}: dtypes differ"


@pytest.mark.requires_r
@pytest.mark.parametrize("mods", [None, ["ablat"]], ids=["intercept", "mods"])
@pytest.mark.parametrize("method,test", COMBINATIONS, ids=[f"{m}-{t}" for m, t in COMBINATIONS])
def test_rma_tables_follow_schema(bcg_model_data, method, test, mods):
    result = fit(bcg_model_data, method, test, mods)
    glance, tidy, augment = result.glance(), result.tidy(), result.augment()
    assert_schema(glance, schema.GLANCE, "glance")
    assert_schema(tidy, schema.TIDY, "tidy")
    assert_schema(augment, schema.AUGMENT, "augment")
    assert len(glance) == 1
    # metafor 4.6 takes "hksj" as another name for "knha" and reports the fit as knha (rma.uni.r)
    assert glance["method"].iloc[0] == method and glance["test"].iloc[0] == {"hksj": "knha"}.get(test, test)
    assert list(tidy["term"]) == (["intrcpt"] if mods is None else ["intrcpt", "ablat"])
    assert len(augment) == len(bcg_model_data) == glance["k"].iloc[0]
    assert list(augment["study"]) == list(bcg_model_data["author"])


# Before metafor 4.6, trimfill refits the model without the original control= settings, so on
# the BCG data DLIT stops inside trimfill ("Iterative DL estimator did not converge") even with
# maxiter = 1000; metafor called directly does the same, and ketabridge must raise
# ConvergenceError. metafor 4.6 rewrote DLIT as the true iterated DerSimonian-Laird estimator
# (update (RSS - tr(PV)) / tr(P), which converges to Paule-Mandel; its rma.uni.r, not in NEWS),
# and from then on trimfill converges and the tables must follow the schema like any other.
TRIMFILL_FAILS_BEFORE_46 = {"DLIT"}


@pytest.mark.requires_r
@pytest.mark.parametrize("method,test", COMBINATIONS, ids=[f"{m}-{t}" for m, t in COMBINATIONS])
def test_trimfill_tables_follow_schema(bcg_model_data, method, test, installed):
    result = fit(bcg_model_data, method, test)
    old_dlit = version_tuple(installed["metafor_version"]) < (4, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method in TRIMFILL_FAILS_BEFORE_46 and old_dlit:
            with pytest.raises(ketabridge.ConvergenceError):
                ketabridge.trimfill(result)
            return
        filled = ketabridge.trimfill(result)
        glance, tidy, augment = filled.glance(), filled.tidy(), filled.augment()
    assert_schema(glance, schema.TRIMFILL_GLANCE, "trimfill glance")
    assert_schema(tidy, schema.TIDY, "trimfill tidy")
    assert_schema(augment, schema.TRIMFILL_AUGMENT, "trimfill augment")
    assert len(glance) == 1
    k0 = glance["k0"].iloc[0]
    assert len(augment) == len(bcg_model_data) + k0 == glance["k"].iloc[0]
    assert int(augment["filled"].sum()) == k0


@pytest.mark.requires_r
@pytest.mark.parametrize("method,test", COMBINATIONS, ids=[f"{m}-{t}" for m, t in COMBINATIONS])
def test_bias_test_tables_follow_schema(bcg_model_data, method, test):
    result = fit(bcg_model_data, method, test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables = {
            "regtest(rma)": (ketabridge.regtest(result, model="rma").glance(), schema.REGTEST_GLANCE),
            "regtest(lm)": (ketabridge.regtest(result, model="lm").glance(), schema.REGTEST_GLANCE),
            "ranktest": (ketabridge.ranktest(result).glance(), schema.RANKTEST_GLANCE),
        }
    for what, (table, expected) in tables.items():
        assert_schema(table, expected, what)
        assert len(table) == 1, what


@pytest.mark.requires_r
def test_column_names_never_change_with_method_test_or_mods(bcg_model_data):
    """One fit per method, cycling through the tests and moderators: one set of names."""
    seen = {"glance": set(), "tidy": set(), "augment": set()}
    for number, method in enumerate(METHODS):
        test = TESTS[number % len(TESTS)]
        mods = None if number % 2 else ["ablat"]
        try:
            result = fit(bcg_model_data, method, test, mods)
        except pytest.skip.Exception:
            continue
        seen["glance"].add(tuple(result.glance().columns))
        seen["tidy"].add(tuple(result.tidy().columns))
        seen["augment"].add(tuple(result.augment().columns))
    assert seen == {"glance": {tuple(schema.GLANCE)}, "tidy": {tuple(schema.TIDY)}, "augment": {tuple(schema.AUGMENT)}}


def test_grid_guard_property_tests_cover_every_method_and_test():
    """The property tests' (method, test) grid is the whole METHODS x TESTS grid.

    PyMARE's test_reference_covers_every_combination habit: adding a method or test to
    ketabridge.options without comparing it against direct metafor fails here, and so does
    dropping one from the property tests.
    """
    required = set(product(METHODS, ("z", "t", "knha")))
    exercised = {(setting.method, setting.test) for setting in GRID}
    assert exercised == set(PROPERTY_GRID)
    assert exercised >= required, f"missing: {sorted(required - exercised)}"
    assert exercised == set(product(METHODS, TESTS)), f"missing: {sorted(set(product(METHODS, TESTS)) - exercised)}"
    assert set(TESTS_COMPARED) == set(TESTS)
    assert {s.method for s in GRID if s.weights} == set(METHODS_NEEDING_WEIGHTS)
