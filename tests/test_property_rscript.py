"""Property tests: ketabridge equals metafor run directly in a separate Rscript process.

For random valid inputs drawn by hypothesis, every number ketabridge returns is compared with
the number metafor gives when called directly, from its documented API, by the independent
scripts in tests/rscript/ (``direct_metafor.R``, ``direct_escalc.R``). Those scripts never
source ketabridge's ketabridge/r/*.R files; they run in their own ``Rscript`` process. The expected
numbers are therefore the ones the Rscript run writes, not values computed by ketabridge.

Numbers cross between Python and R as C99 hex floats (``float.hex`` / ``sprintf("%a")``), so
both sides see bit-identical inputs and the comparison is not blurred by decimal rounding.

Rscript costs about a second to start, so each hypothesis example draws a whole batch of data
sets, runs Rscript once on all of them, and compares every (data set, setting) pair. The
shrink phase is off: a shrink step would restart Rscript many times; a failure message
prints the data set (as hex floats) instead, which is enough to reproduce it.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from property_direct import (
    DIRECT_ESCALC,
    GRID,
    HYPOTHESIS,
    METHODS,
    TESTS_COMPARED,
    Mismatches,
    Setting,
    batches,
    compare_batch,
    guarded,
    hex_float,
    parse_flag,
    parse_number,
    quietly,
    run_rscript,
    same_failure,
)

import ketabridge

pytestmark = [
    pytest.mark.requires_r,
    pytest.mark.filterwarnings("ignore::ketabridge.MetaforWarning"),
    pytest.mark.filterwarnings("ignore::ketabridge.MissingValuesWarning"),
]


@settings(max_examples=3, **HYPOTHESIS)
@given(data=batches(extra=1))
def test_rma_grid_matches_direct_metafor(data):
    """glance and tidy of every METHODS x TESTS pair equal metafor's, failures included.

    Expected numbers and failures come from tests/rscript/direct_metafor.R in its own Rscript
    process. GENQ/GENQM run with weights = 1/vi.
    """
    summary = quietly(compare_batch)(data, GRID)
    # The batch really reaches the tau2 = 0 boundary (the identical-yi data set) and large
    # heterogeneity (the large data set: Higgins' I2 = (Q - df) / Q > 50%, see datasets()).
    reml = [row for row in summary.values() if row["method"] == "REML" and row["ok"]]
    assert any(row["tau2"] == 0 for row in reml)
    common = [row for row in summary.values() if row["method"] == "EE" and row["ok"] and row["q"] > 0]
    assert any((row["q"] - (row["k"] - 1)) / row["q"] > 0.5 for row in common)


@settings(max_examples=2, **HYPOTHESIS)
@given(data=batches(extra=0, max_k=12))
def test_moderator_model_matches_direct_metafor(data):
    """With one moderator (mods = ~ x), tidy's rows by term (intrcpt, x) equal metafor's.

    Expected numbers come from tests/rscript/direct_metafor.R in its own Rscript process.
    With k <= 2 metafor stops (more parameters than studies), and ketabridge must too.
    """
    quietly(compare_batch)(data, [Setting(s.method, s.test, mods=True) for s in GRID])


@settings(max_examples=3, **HYPOTHESIS)
@given(data=batches(extra=0, max_k=12), test=st.sampled_from(TESTS_COMPARED))
def test_augment_matches_direct_metafor(data, test):
    """augment's weight, hat, cooks_distance, std_residual (and fitted, residual) equal
    metafor's weights(), hatvalues(), cooks.distance(), rstandard()$z for every method.

    Expected numbers come from tests/rscript/direct_metafor.R in its own Rscript process.
    """
    quietly(compare_batch)(data, [Setting(method, test, augment=True) for method in METHODS])


@settings(max_examples=2, **HYPOTHESIS)
@given(data=batches(extra=0, max_k=15), test=st.sampled_from(TESTS_COMPARED))
def test_bias_analyses_match_direct_metafor(data, test):
    """trimfill (glance and augment), regtest (model "rma" and "lm", predictor "sei") and
    ranktest equal metafor's for every method, failures included.

    Expected numbers come from tests/rscript/direct_metafor.R in its own Rscript process.
    """
    grid = [Setting(method, test, trimfill=True, regtest=True, ranktest=True) for method in METHODS]
    quietly(compare_batch)(data, grid)


# ----------------------------------------------------------------------------- escalc

ESCALC_FAMILIES = {
    "two_by_two": (("RR", "OR", "RD", "PETO"), ("ai", "bi", "ci", "di")),
    "proportion": (("PR", "PLO", "PFT", "PAS"), ("xi", "ni")),
    "two_groups": (("MD", "SMD"), ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")),
    "change": (("MC", "SMCC"), ("m1i", "m2i", "sd1i", "sd2i", "ni", "ri")),
    "change_raw_sd": (("SMCR",), ("m1i", "m2i", "sd1i", "ni", "ri")),
}
ESCALC_MEASURES = tuple((measure, columns) for measures, columns in ESCALC_FAMILIES.values() for measure in measures)


@st.composite
def escalc_rows(draw, family: str) -> pd.DataFrame:
    k = draw(st.integers(1, 12))
    count = st.integers(0, 200)
    rows = []
    for _ in range(k):
        if family == "two_by_two":
            rows.append({c: draw(count) for c in ("ai", "bi", "ci", "di")})
        elif family == "proportion":
            ni = draw(st.integers(1, 500))
            rows.append({"xi": draw(st.integers(0, ni)), "ni": ni})
        else:
            mean, sd = st.floats(-50, 50), st.floats(0.1, 30)
            row = {"m1i": draw(mean), "m2i": draw(mean), "sd1i": draw(sd)}
            if family == "two_groups":
                row.update(sd2i=draw(sd), n1i=draw(st.integers(2, 300)), n2i=draw(st.integers(2, 300)))
            else:
                row.update(ni=draw(st.integers(2, 300)), ri=draw(st.floats(-0.9, 0.95)))
                if family == "change":
                    row["sd2i"] = draw(sd)
            rows.append(row)
    return pd.DataFrame(rows)  # counts stay int64, as read from a CSV


def escalc_batches():
    family_of = {m: f for f, (measures, _) in ESCALC_FAMILIES.items() for m in measures}
    return st.tuples(*(escalc_rows(family_of[measure]) for measure, _ in ESCALC_MEASURES)).map(list)


def run_direct_escalc(tables: list[pd.DataFrame]) -> pd.DataFrame:
    with tempfile.TemporaryDirectory(prefix="kb-escalc-") as folder:
        folder = Path(folder)
        parts = []
        for (measure, _), table in zip(ESCALC_MEASURES, tables):
            part = table.map(hex_float) if hasattr(table, "map") else table.applymap(hex_float)
            parts.append(part.assign(id=measure, measure=measure))
        pd.concat(parts, ignore_index=True).fillna("NA").to_csv(folder / "in.csv", index=False)
        run_rscript(DIRECT_ESCALC, folder / "in.csv", folder / "out.csv")
        out = pd.read_csv(folder / "out.csv", dtype=str, keep_default_na=False)
    out["ok"] = out["ok"].map(parse_flag)
    for name in ("yi", "vi", "ni"):
        out[name] = out[name].map(parse_number)
    return out


@settings(max_examples=5, **HYPOTHESIS)
@given(tables=escalc_batches())
def test_escalc_matches_direct_escalc(tables):
    """yi, vi and ni of escalc for random valid 2x2 tables (RR, OR, RD, PETO), proportions
    (PR, PLO, PFT, PAS), two-group means (MD, SMD) and pre/post means with ri (MC, SMCC, SMCR)
    equal metafor's escalc run in tests/rscript/direct_escalc.R in its own Rscript process.
    """
    direct = run_direct_escalc(tables)
    bad = Mismatches()
    for (measure, columns), table in zip(ESCALC_MEASURES, tables):
        expected = direct[direct["id"] == measure].reset_index(drop=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            effects, error = guarded(lambda: ketabridge.escalc(measure, table, **{c: c for c in columns}))
        if not expected["ok"].iloc[0]:
            same_failure(bad, measure, expected["error"].iloc[0], error)
            continue
        if error is not None:
            bad.add(measure, f"metafor ran but ketabridge raised {type(error).__name__}: {error}")
            continue
        for row in range(len(table)):
            for name in ("yi", "vi", "ni"):
                bad.number(f"{measure} row {row}", name, effects[name].iloc[row], expected[name].iloc[row])
    assert bad.compared > 0, "nothing was compared"
    if bad.items:
        shown = "\n  ".join(bad.items[:30])
        tables_text = "\n".join(f"{m}:\n{t.to_string()}" for (m, _), t in zip(ESCALC_MEASURES, tables))
        raise AssertionError(f"{len(bad.items)} mismatches with direct escalc:\n  {shown}\n{tables_text}")
