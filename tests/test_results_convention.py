"""Every result is read the same way, stays frozen and survives pickling.

The convention: tables are methods returning copies; ``.provenance`` is a ketabridge.Provenance
(a run keeps its record in ``details``); assigning an attribute raises; ``pickle`` round-trips a
result, so joblib, multiprocessing and Dask workers can return one. The old spellings
(``batch_result.glance`` read as a DataFrame, ``provenance["metafor_version"]``) keep working for
one release with a DeprecationWarning shown at the caller's line. The data frames of escalc,
predict, confint, leave1out, influence, cumul and correlation_grid give theirs through
``ketabridge.provenance_of``.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from lane import BCG_CSV

import ketabridge
from ketabridge import InputError, Provenance, provenance_of
from ketabridge.analyses.results import PROVENANCE_ATTR, AugmentCall, meta_result

pytestmark = pytest.mark.requires_r

# Each result type and its table methods.
TABLES = {
    "MetaResult": ("glance", "tidy", "augment"),
    "BiasTestResult": ("glance",),
    "SubgroupResult": ("glance", "tidy", "augment", "between"),
    "ProportionsResult": ("tidy",),
    "BatchResult": ("glance", "tidy", "status"),
    "CrosscheckResult": ("discrepancies", "summary", "reproducers", "disagreements"),
    "CountModelResult": ("glance", "tidy", "augment"),
    "MultilevelResult": ("glance", "tidy", "augment", "components"),
}


@ketabridge.declare_engine(name="dl_tau2_off", methods=("DL",), tests=("z",), quantities=("estimate", "tau2"))
def dl_tau2_off(yi, vi, *, method, test, level):
    """DerSimonian-Laird with tau^2 1 % too large, so the cross-check has disagreements to reproduce."""
    w = 1 / vi
    q = np.sum(w * (yi - np.sum(w * yi) / np.sum(w)) ** 2)
    tau2 = 1.01 * max(0.0, (q - (len(yi) - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    weights = 1 / (vi + tau2)
    return {"estimate": np.sum(weights * yi) / np.sum(weights), "tau2": tau2}


@pytest.fixture(scope="module")
def effects() -> pd.DataFrame:
    return ketabridge.escalc("RR", pd.read_csv(BCG_CSV), ai="tpos", bi="tneg", ci="cpos", di="cneg")


@pytest.fixture(scope="module")
def batch_out(tmp_path_factory):
    return tmp_path_factory.mktemp("batch")


@pytest.fixture(scope="module")
def results(effects, batch_out) -> dict:
    """One result of every public type (the MetaResult's augment() has not run yet)."""
    fitted = ketabridge.rma(effects, slab="author")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ketabridge.ProportionWarning)
        proportions = ketabridge.pool_proportions(
            pd.DataFrame({"xi": [3, 6, 10, 1], "ni": [11, 17, 21, 6]}), "xi", "ni"
        )
    return {
        "MetaResult": fitted,
        "BiasTestResult": ketabridge.regtest(fitted),
        "SubgroupResult": ketabridge.rma(effects, subgroup="alloc"),
        "ProportionsResult": proportions,
        "BatchResult": ketabridge.batch(effects, by="alloc", trimfill=True, workers=0, progress=False, out=batch_out),
        "CrosscheckResult": ketabridge.crosscheck(dl_tau2_off, "reference"),
        "CountModelResult": ketabridge.rma_mh(pd.read_csv(BCG_CSV), "OR", ai="tpos", bi="tneg", ci="cpos", di="cneg"),
        "MultilevelResult": ketabridge.robust(ketabridge.rma_mv(effects, random="~ 1 | alloc/trial"), "alloc"),
    }


def assert_same(result, again) -> None:
    assert type(again) is type(result)
    for method in TABLES[type(result).__name__]:
        pd.testing.assert_frame_equal(getattr(again, method)(), getattr(result, method)())
    assert again.provenance == result.provenance
    assert json.dumps(again.provenance.to_dict(), default=str) == json.dumps(result.provenance.to_dict(), default=str)
    assert repr(again) == repr(result)


# Pickling


@pytest.mark.parametrize("kind", list(TABLES))
def test_every_result_pickles_with_equal_tables_and_provenance(results, kind):
    result = results[kind]
    assert_same(result, pickle.loads(pickle.dumps(result)))


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_meta_result_pickles_before_and_after_augment(effects, protocol, monkeypatch):
    fresh = ketabridge.rma(effects, slab="author")
    unpickled = pickle.loads(pickle.dumps(fresh, protocol=protocol))  # augment() not computed yet
    computed = ketabridge.trimfill(fresh)
    expected = computed.augment()
    again = pickle.loads(pickle.dumps(computed, protocol=protocol))

    def no_r(self):
        raise AssertionError("a computed augment() travels with the result; R is not asked again")

    monkeypatch.setattr(AugmentCall, "values", no_r)
    pd.testing.assert_frame_equal(again.augment(), expected)
    assert_same(computed, again)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(unpickled.augment(), fresh.augment())  # computed on first use, after the trip
    assert_same(fresh, unpickled)
    # the model's arrays stay read-only (pickle brings numpy arrays back writeable)
    assert not any(
        array.flags.writeable for array in (unpickled.spec.yi, unpickled.spec.vi, unpickled.spec.source_rows)
    )


def test_subgroup_fits_pickle_with_their_own_augment(results):
    subgroups = results["SubgroupResult"]
    again = pickle.loads(pickle.dumps(subgroups))
    for level, fit in subgroups.fits.items():
        assert_same(fit, again.fits[level])


def test_a_closure_cannot_become_a_result_field(results):
    fitted = results["MetaResult"]
    reply = type("Reply", (), {"value": {}, "converged": True})()
    with pytest.raises(TypeError, match="AugmentCall"):
        meta_result("rma", fitted.spec, reply, fitted.provenance, lambda: fitted)


# Frozen


@pytest.mark.parametrize("kind", list(TABLES))
def test_results_are_frozen_and_hand_out_copies(results, kind):
    result = results[kind]
    assert isinstance(result.provenance, Provenance)
    for method in TABLES[kind]:
        table = getattr(result, method)()
        assert isinstance(table, pd.DataFrame)
        if len(table):
            before = getattr(result, method)()
            table.columns = [f"changed_{i}" for i in range(table.shape[1])]  # a copy: the result must not change
            table.iloc[0, 0] = table.iloc[-1, 0]
            pd.testing.assert_frame_equal(getattr(result, method)(), before)
    for name in [field.name for field in dataclasses.fields(result)] + ["new_attribute"]:
        with pytest.raises(AttributeError):
            setattr(result, name, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.provenance.r_call = "changed"


@pytest.mark.parametrize("kind", list(TABLES))
def test_only_the_old_spellings_hand_out_a_table_as_an_attribute(results, kind):
    result = results[kind]
    for name in (name for name in dir(result) if not name.startswith("_")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = getattr(result, name)
        if isinstance(value, pd.DataFrame):  # MetaResult.glance_table and the like: copies, and they say so
            assert [w for w in caught if issubclass(w.category, DeprecationWarning)], name


def test_the_new_spellings_do_not_warn(results):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for kind, methods in TABLES.items():
            result = results[kind]
            for method in methods:
                getattr(result, method)()
            result.provenance.to_dict()
            result.provenance.details.get("options")
            repr(result)
        assert results["CrosscheckResult"].ok is False
        assert list(results["SubgroupResult"].fits) == ["random", "alternate", "systematic"]


def test_subgroup_fits_cannot_be_replaced(results):
    subgroups = results["SubgroupResult"]
    fits = subgroups.fits
    fits["random"] = None
    assert isinstance(subgroups.fits["random"], ketabridge.MetaResult)


def test_run_details_are_read_only(results):
    details = results["BatchResult"].provenance.details
    with pytest.raises(TypeError):
        details["analyses"] = 0
    options = details["options"]
    options["method"] = "changed"  # a copy
    assert details["options"]["method"] == "REML"
    with pytest.raises(AttributeError):
        details._record = {}


# Provenance


def test_run_provenance_is_the_record_written_to_provenance_json(results, batch_out):
    batch = results["BatchResult"]
    # the engine wrote this file from its own dict: to_dict() gives it back byte for byte
    assert (batch_out / "provenance.json").read_text() == json.dumps(batch.provenance.to_dict(), indent=2, default=str)
    record = batch.provenance.to_dict()
    assert batch.provenance.metafor_version == record["metafor_version"] != ""
    assert batch.provenance.r_version == record["r_version"] and batch.provenance.r_call == ""
    assert batch.provenance.created == record["finished"]
    assert record["analyses"] == 3 and batch.provenance.details["analyses"] == 3
    assert Provenance.from_dict(record) == batch.provenance


def test_crosscheck_provenance_json_holds_its_record(results, tmp_path):
    crosscheck = results["CrosscheckResult"]
    crosscheck.write(tmp_path)
    assert json.loads((tmp_path / "provenance.json").read_text()) == json.loads(
        json.dumps(crosscheck.provenance.to_dict(), default=str)
    )
    assert crosscheck.provenance.details["engine"] == "dl_tau2_off"
    assert crosscheck.provenance.metafor_version == results["MetaResult"].provenance.metafor_version


def test_call_provenance_round_trips_through_its_dict(results):
    provenance = results["MetaResult"].provenance
    document = provenance.to_dict()
    assert list(document) == [
        "ketabridge_version",
        "r_version",
        "metafor_version",
        "rpy2_version",
        "r_call",
        "r_warnings",
        "rpy2_rinterface_version",
        "rpy2_robjects_version",
        "created",
        "r_packages",
    ]
    assert not provenance.details
    assert Provenance.from_dict(document) == provenance
    assert hash(Provenance.from_dict(document)) == hash(provenance)


def test_provenance_of_every_frame_and_result(effects, results):
    fitted = results["MetaResult"]
    frames = {
        "escalc": effects,
        "predict": ketabridge.predict(fitted),
        "confint": ketabridge.confint(fitted),
        "leave1out": ketabridge.leave1out(fitted),
        "influence": ketabridge.influence(fitted),
        "cumul": ketabridge.cumul(fitted, order=list(range(fitted.spec.k))),
    }
    for name, frame in frames.items():
        provenance = provenance_of(frame)
        assert isinstance(provenance, Provenance)
        assert provenance.r_call.startswith(f"{name}(") and provenance.r_call == frame.attrs[PROVENANCE_ATTR]["r_call"]
        assert (
            provenance.to_dict() == frame.attrs[PROVENANCE_ATTR]
        )  # .attrs keeps its dict, as the plan runner reads it
        assert provenance.metafor_version == fitted.provenance.metafor_version
    assert provenance_of(frames["predict"]["estimate"]).r_call.startswith("predict(")  # a column carries it too
    for kind, result in results.items():
        assert provenance_of(result) is result.provenance, kind


def test_provenance_of_a_correlation_grid_lists_its_rows():
    from morris import GRID, MC_COLUMNS, TREATMENT

    grid = ketabridge.correlation_grid(TREATMENT, "MC", GRID[:2], method="DL", **MC_COLUMNS)
    provenance = provenance_of(grid)
    rows = provenance.details["rows"]
    assert [row["ri"] for row in rows] == list(GRID[:2])
    assert rows == grid.attrs[PROVENANCE_ATTR]
    assert "ri = 0.3" in rows[1]["escalc"]["r_call"] and rows[1]["rma"]["r_call"].startswith("rma.uni(")
    assert provenance.metafor_version == rows[0]["rma"]["metafor_version"] != ""
    assert provenance_of(pickle.loads(pickle.dumps(grid))) == provenance


def test_provenance_of_says_when_pandas_dropped_it(effects):
    merged = effects.merge(pd.DataFrame({"trial": effects["trial"], "extra": 1}), on="trial")
    merged.attrs.clear()
    with pytest.raises(
        InputError, match="carries no ketabridge provenance.*provenance_of on the frame ketabridge returned"
    ):
        provenance_of(merged)
    with pytest.raises(InputError, match="not dict"):
        provenance_of({"metafor_version": "4.8"})


# The old spellings, for one release


def test_old_table_attributes_warn_and_still_read_the_table(results):
    batch, crosscheck = results["BatchResult"], results["CrosscheckResult"]
    expected = batch.glance()
    with pytest.warns(DeprecationWarning, match=r"BatchResult\.glance\(\)") as caught:
        estimates = batch.glance["estimate"]
    assert caught[0].filename == __file__  # shown at the user's line
    pd.testing.assert_series_equal(estimates, expected["estimate"])
    with pytest.warns(DeprecationWarning):
        assert len(batch.status) == len(batch.status())
    with pytest.warns(DeprecationWarning):
        pd.testing.assert_frame_equal(batch.tidy.set_index("analysis_id"), batch.tidy().set_index("analysis_id"))
    with pytest.warns(DeprecationWarning):
        assert "estimate" in batch.glance and list(batch.glance) == list(expected.columns)
    with pytest.warns(DeprecationWarning):
        assert np.asarray(batch.glance).shape == expected.shape
    with pytest.warns(DeprecationWarning):
        assert repr(batch.glance) == repr(expected)
    with pytest.warns(DeprecationWarning):
        pd.testing.assert_frame_equal(
            crosscheck.summary[["quantity", "agree"]], crosscheck.summary()[["quantity", "agree"]]
        )
    with pytest.warns(DeprecationWarning):
        assert set(crosscheck.disagreements["verdict"]) == {"disagree"}
    with pytest.warns(DeprecationWarning):
        assert len(crosscheck.reproducers) == len(crosscheck.reproducers()) > 0
    with pytest.raises(TypeError, match="frozen"):
        batch.glance["estimate"] = 0.0
    assert callable(batch.glance) and not isinstance(batch.glance, pd.DataFrame)


def test_old_table_fields_of_the_other_results_warn(results):
    fitted, subgroups, bias = results["MetaResult"], results["SubgroupResult"], results["BiasTestResult"]
    old_and_new = [
        ("glance_table", fitted, "glance"),
        ("tidy_table", fitted, "tidy"),
        ("augment_table", fitted, "augment"),
        ("glance_table", bias, "glance"),
        ("between_table", subgroups, "between"),
        ("table", results["ProportionsResult"], "tidy"),
    ]
    for old, result, new in old_and_new:
        with pytest.warns(
            DeprecationWarning, match=rf"{type(result).__name__}\.{old} is deprecated.*{new}\(\)"
        ) as caught:
            table = getattr(result, old)
        assert caught[0].filename == __file__
        pd.testing.assert_frame_equal(table, getattr(result, new)())


def test_dict_style_provenance_warns_and_still_reads(results):
    batch, fitted = results["BatchResult"], results["MetaResult"]
    with pytest.warns(DeprecationWarning, match=r"provenance\.metafor_version") as caught:
        assert batch.provenance["metafor_version"] == batch.provenance.metafor_version != ""
    assert caught[0].filename == __file__
    with pytest.warns(DeprecationWarning, match=r"provenance\.details\['analyses'\]"):
        assert batch.provenance["analyses"] == 3
    with pytest.warns(DeprecationWarning):
        assert batch.provenance.get("verification") is None
    with pytest.warns(DeprecationWarning):
        assert "options" in batch.provenance
    with pytest.warns(DeprecationWarning):
        assert dict(batch.provenance.items()) == batch.provenance.to_dict()
    with pytest.warns(DeprecationWarning):
        assert results["CrosscheckResult"].provenance["engine"] == "dl_tau2_off"
    with pytest.warns(DeprecationWarning):
        assert fitted.provenance["r_call"] == fitted.provenance.r_call
