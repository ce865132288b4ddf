"""The bundled CRPS data: rebuilt from its public sources, nothing invented, every value sourced."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
from lane import REPO

FOLDER = REPO / "data" / "crps_ketamine"
NUMBERS = ["baseline_mean", "baseline_disp", "post_mean", "post_disp", "change_mean", "change_disp", "events", "total"]


@pytest.fixture(scope="module")
def build_module():
    spec = importlib.util.spec_from_file_location("build_crps_data", REPO / "scripts" / "build_crps_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sources():
    return pd.read_csv(FOLDER / "crps_ketamine_public_sources.csv", dtype=str, keep_default_na=False, na_values=[""])


def test_shipped_tables_equal_a_rebuild(build_module, sources):
    rebuilt = build_module.build(sources)
    pd.testing.assert_frame_equal(pd.read_parquet(FOLDER / "crps_ketamine.parquet"), rebuilt, check_dtype=False)
    from_csv = pd.read_csv(FOLDER / "crps_ketamine.csv", keep_default_na=False, na_values=[""])
    assert list(from_csv.columns) == list(rebuilt.columns) and len(from_csv) == len(rebuilt)


def test_no_number_is_invented(sources):
    """Each number is the source's own; a source cell that is not a number gives no number."""
    table = pd.read_parquet(FOLDER / "crps_ketamine.parquet")
    for column in NUMBERS:
        given = pd.to_numeric(sources[column], errors="coerce")
        assert table[column].astype(float).isna().equals(given.isna()), column
        assert (table[column].astype(float).dropna() == given.dropna()).all(), column
    assert "8-9 (range of means)" in table.set_index("row_id").loc["G10-5", "reported_text"]


def test_every_row_keeps_its_source_and_status():
    table = pd.read_parquet(FOLDER / "crps_ketamine.parquet")
    assert table["source_id"].notna().all() and table["source_urls"].str.startswith("http").all()
    assert set(table["value_status"]) == {"reported", "derived", "missing"}
    derived = table[table["value_status"] == "derived"]
    assert derived["derivation"].notna().all()


def test_no_public_count_uses_zhaos_definition():
    """The sources' own event definitions: complete relief, remission, modelled response, none >= 30 %."""
    table = pd.read_parquet(FOLDER / "crps_ketamine.parquet")
    responders = table[table["outcome_kind"] == "responders"]
    assert len(responders) == 8 and set(responders["zhao_event_definition"]) == {"no"}


def test_one_time_point_per_study_and_window():
    table = pd.read_parquet(FOLDER / "crps_ketamine.parquet")
    first = table[table["first_in_window"] & table["in_zhao_window"]]
    assert not first.duplicated(["study", "year", "outcome_kind", "timepoint_class"]).any()
    assert set(table.loc[~table["first_in_window"] & (table["outcome_kind"] != "no_numbers"), "row_id"]) == {
        "K08b-3",
        "S10-5h",
    }
