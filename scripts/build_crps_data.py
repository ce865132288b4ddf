"""Build data/crps_ketamine/crps_ketamine.{csv,parquet} from the public-sources table beside it.

The analysis-ready table keeps every source value, its source and its status, and adds only
what can be read off the sources without guessing: numbers as numbers (text such as
"8-9 (range of means)" stays text in `reported_text`), a plain `disp_type`, the kind of
outcome, whether the event definition is Zhao's (>= 30 % relief), and which time point of a
study counts in each of Zhao's windows. Run it again after editing the sources:

    python scripts/build_crps_data.py
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

FOLDER = Path(__file__).resolve().parent.parent / "data" / "crps_ketamine"
SOURCES = FOLDER / "crps_ketamine_public_sources.csv"
NUMBERS = ["baseline_mean", "baseline_disp", "post_mean", "post_disp", "change_mean", "change_disp", "events", "total"]
WINDOWS = ("immediate", "followup_1_3m")  # Zhao's two windows; "later" is outside both

# The first time point of each study in a window is the one that counts (rows are in time order
# within a study in the sources); later ones in the same window would count the same patients twice.
COLUMNS = [
    "row_id",
    "label",
    "study",
    "year",
    "citation",
    "source_id",
    "source_urls",
    "design",
    "zhao2018_inclusion",
    "n",
    "infusion_days",
    "timepoint",
    "timepoint_class",
    "in_zhao_window",
    "first_in_window",
    "outcome",
    "outcome_kind",
    "baseline_mean",
    "baseline_disp",
    "post_mean",
    "post_disp",
    "change_mean",
    "change_disp",
    "disp_type",
    "events",
    "total",
    "event_definition",
    "zhao_event_definition",
    "reported_text",
    "value_status",
    "derivation",
    "confidence",
]


def outcome_kind(row: pd.Series) -> str:
    if pd.notna(row["events"]) and pd.notna(row["total"]):
        return "responders"
    if pd.notna(row["change_mean"]):
        return "pain_change"
    if pd.notna(row["post_mean"]):
        return "pain_score"
    return "no_numbers"


def zhao_definition(definition: str) -> str:
    """'yes' only where the source's responder definition is Zhao's own (>= 30 % relief)."""
    says_30 = re.search(r">=\s*30\s*%", definition) is not None
    return "yes" if says_30 and "not a" not in definition else "no"


def disp_type(row: pd.Series) -> str:
    """SD, SE or unknown: the sources' own words, or the derivation note where it says so."""
    stated = str(row["disp_type"]).lower()
    note = str(row["derivation"]).lower()
    if "standard error" in note:
        return "SE"
    if stated.startswith("unknown"):
        return "unknown"
    if stated in ("sd", "se"):
        return stated.upper()
    return ""


def build(sources: pd.DataFrame) -> pd.DataFrame:
    table = sources.rename(columns={"pmid_or_doi": "source_id", "n_ketamine": "n"}).copy()
    text = {name: table[name].astype("string") for name in NUMBERS}
    for name in NUMBERS:
        table[name] = pd.to_numeric(table[name], errors="coerce")
    # Values that are not plain numbers are kept word for word, never turned into a number.
    table["reported_text"] = [
        "; ".join(f"{name}: {text[name][i]}" for name in NUMBERS if pd.notna(text[name][i]) and pd.isna(table[name][i]))
        for i in range(len(table))
    ]
    table["n"] = pd.to_numeric(table["n"], errors="coerce")
    table["year"] = table["year"].astype(int)
    table["label"] = table["study"] + " " + table["year"].astype(str)  # how forest plots name a study
    table["outcome_kind"] = table.apply(outcome_kind, axis=1)
    table["disp_type"] = table.apply(disp_type, axis=1)
    table["in_zhao_window"] = table["timepoint_class"].isin(WINDOWS)
    has_numbers = table["outcome_kind"] != "no_numbers"
    order = table[has_numbers].groupby(["study", "year", "outcome_kind", "timepoint_class"], sort=False).cumcount()
    table["first_in_window"] = False
    table.loc[order.index, "first_in_window"] = (order == 0).to_numpy()
    table["zhao_event_definition"] = np.where(
        table["outcome_kind"] == "responders", table["event_definition"].fillna("").map(zhao_definition), ""
    )
    for name in ("events", "total", "n"):
        table[name] = table[name].astype("Int64")
    return table[COLUMNS]


def main() -> None:
    table = build(pd.read_csv(SOURCES, dtype=str, keep_default_na=False, na_values=[""]))
    table.to_csv(FOLDER / "crps_ketamine.csv", index=False)
    table.to_parquet(FOLDER / "crps_ketamine.parquet", index=False)
    print(f"wrote {len(table)} rows to {FOLDER / 'crps_ketamine.csv'} and .parquet")


if __name__ == "__main__":
    main()
