"""Model formulas for moderators: metafor's numbers and coefficient names, and no way to run other R code.

The expected numbers come from metafor itself, run directly in a separate Rscript process on its
own copy of the BCG trials (metadat's dat.bcg), with the same formula typed as an R user would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lane import REPO

import ketabridge
from ketabridge import InputError, MissingValuesWarning

FORMULA = "~ relevel(factor(alloc), ref = 'random') + ablat + I(ablat^2) + scale(year) + log(tpos + 1)"
# metafor run directly: the same model on dat.bcg, one "term<TAB>estimate<TAB>se" line per coefficient.
DIRECT = """
library(metafor)
dat <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
fit <- rma(yi, vi, mods = ~ relevel(factor(alloc), ref = 'random') + ablat + I(ablat^2) + scale(year) + log(tpos + 1),
           data = dat)
cat(sprintf("%s\\t%a\\t%a\\n", rownames(fit$beta), fit$beta, fit$se), sep = "")
"""


@pytest.fixture(scope="module")
def effects() -> pd.DataFrame:
    return ketabridge.escalc("RR", REPO / "data/bcg/bcg.csv", ai="tpos", bi="tneg", ci="cpos", di="cneg")


@pytest.mark.requires_r
def test_formula_matches_metafor_run_directly(effects):
    printed = subprocess.run(["Rscript", "-e", DIRECT], capture_output=True, text=True, check=True, timeout=120)
    rows = [line.split("\t") for line in printed.stdout.strip().splitlines()]
    expected = pd.DataFrame({"term": [r[0] for r in rows], "estimate": [float.fromhex(r[1]) for r in rows]})
    expected["std_error"] = [float.fromhex(r[2]) for r in rows]

    tidy = ketabridge.rma(effects, mods=FORMULA).tidy()

    assert tidy["term"].tolist() == expected["term"].tolist()  # metafor's own coefficient names
    np.testing.assert_allclose(tidy["estimate"], expected["estimate"], rtol=1e-10)
    np.testing.assert_allclose(tidy["std_error"], expected["std_error"], rtol=1e-10)


@pytest.mark.requires_r
def test_formula_shows_in_the_call_and_a_list_of_columns_still_works(effects):
    formula = ketabridge.rma(effects, mods="~ ablat")
    columns = ketabridge.rma(effects, mods=["ablat"])
    assert "mods = ~ ablat" in formula.provenance.r_call
    # the same model either way: metafor names the column's coefficient after it in both
    pd.testing.assert_frame_equal(formula.tidy(), columns.tidy())


@pytest.mark.requires_r
def test_removing_the_intercept_gives_one_coefficient_per_level(effects):
    tidy = ketabridge.rma(effects, mods="~ 0 + factor(alloc)").tidy()
    assert tidy["term"].tolist() == ["factor(alloc)alternate", "factor(alloc)random", "factor(alloc)systematic"]


@pytest.mark.requires_r
def test_category_columns_from_every_kind_of_input(effects, tmp_path):
    """Text from a DataFrame, text cells from a CSV, a Parquet dictionary column and True/False
    all enter the formula as categories; their missing values leave rows out, named."""
    expected = ketabridge.rma(effects, mods="~ factor(alloc)").tidy()
    csv = tmp_path / "effects.csv"
    effects.to_csv(csv, index=False)
    parquet = tmp_path / "effects.parquet"
    effects.assign(alloc=effects["alloc"].astype("category")).to_parquet(parquet)
    for source in (csv, parquet):
        pd.testing.assert_frame_equal(ketabridge.rma(source, mods="~ factor(alloc)").tidy(), expected)

    flagged = effects.assign(random=effects["alloc"] == "random")
    assert ketabridge.rma(flagged, mods="~ random").tidy()["term"].tolist() == ["intrcpt", "randomTRUE"]

    gaps = effects.assign(alloc=effects["alloc"].where(effects.index != 2, None))
    with pytest.warns(MissingValuesWarning, match=r"alloc.*row 2"):
        assert ketabridge.rma(gaps, mods="~ factor(alloc)").glance()["k"].item() == 12


# Each hostile formula, and why it must not reach R. All are refused in Python, before R
# starts (make test-fast runs these with R hidden).
HOSTILE = {
    "~ system('touch /tmp/kb-owned')": "calls system()",
    "~ ablat + base::system('id')": "::",
    "~ ablat + base:::system('id')": "::",
    "~ `system('id')`": "'`'",
    "~ ablat; system('id')": "';'",
    "~ ablat\nsystem('id')": "calls system()",
    "~ (x <- 1)": "'<'",
    "~ ablat -> x": "'>'",
    "~ ablat = 1": "may not assign",
    "~ eval(parse(text = 'system(1)'))": "calls eval()",
    "~ get('system')('id')": "calls get()",
    "~ do.call('system', list('id'))": "calls do.call()",
    "~ I(environment())": "calls environment()",
    "~ I(sys.function())": "calls sys.function()",
    "~ factor(alloc, levels = Sys.getenv('HOME'))": "calls Sys.getenv()",
    "~ ablat + .GlobalEnv": "not a column",
    "~ ablat + T": "not a column",
    "~ ablat[1]": "'['",
    "~ ablat$x": "'$'",
    "~ ablat@x": "'@'",
    "~ {ablat}": "'{'",
    "~ function(x) x": "calls function()",
    "~ ablat + NULL": "keyword 'NULL'",
    "~ ablat | alloc": "may not use '|'",
    "~ scale(ablat, FUN = system)": "argument 'FUN'",
    '~ relevel(factor(alloc), ref = "a\\" ; system(\'id\') ; \\"")': "'\"' at position 31",  # an escaped quote never opens a string
    "yi ~ ablat ~ alloc": "one-sided",
    "~ I('system(1)')": None,  # a quoted level inside a call is data: R gets a constant, not code
    "~ nonexistent_column": "not a column",
}


@pytest.mark.parametrize("formula", [f for f, reason in HOSTILE.items() if reason])
def test_hostile_formulas_are_refused_before_r(effects_without_r, formula):
    with pytest.raises(InputError, match="mods formula|mods must be") as refused:
        ketabridge.rma(effects_without_r, mods=formula)
    assert HOSTILE[formula] in str(refused.value)


@pytest.fixture
def effects_without_r() -> pd.DataFrame:
    """BCG-like columns, made without R so the refusals are seen to happen before R."""
    bcg = pd.read_csv(REPO / "data/bcg/bcg.csv")
    return bcg.assign(yi=np.log((bcg.tpos + 0.5) / (bcg.cpos + 0.5)), vi=1 / (bcg.tpos + 0.5) + 1 / (bcg.cpos + 0.5))


@pytest.mark.parametrize("column", ["system('id')", "a`b", "x; y", "x\ny", "ablat)+system(1", "if"])
def test_hostile_column_names_cannot_enter_a_formula(effects_without_r, column):
    """A column is named in a formula by a plain R name; no quoting exists to name another."""
    data = effects_without_r.assign(**{column: 1.0})
    with pytest.raises(InputError, match="mods formula"):
        ketabridge.rma(data, mods=f"~ {column}")


@pytest.mark.requires_r
def test_hostile_column_names_cross_as_data_in_a_list_of_moderators(effects):
    """Listed (not in a formula), any column name crosses as data and comes back as given."""
    column = "x`); system('touch /tmp/kb-owned'); (`"
    tidy = ketabridge.rma(effects.assign(**{column: effects["ablat"]}), mods=[column]).tidy()
    assert tidy["term"].tolist() == ["intrcpt", column]
    assert not Path("/tmp/kb-owned").exists()


@pytest.mark.requires_r
def test_r_checks_the_formula_again_and_evaluates_it_with_nothing_behind_it():
    """The second lock, in R itself: a name that is neither a column nor an allowed function is
    refused, and the formula's environment holds only the allowed functions, over emptyenv()."""
    script = f"""
    source("{REPO / "ketabridge/r/helpers_formula.R"}")
    refused <- tryCatch({{ kb_formula("~ x + system('id')", "x"); "evaluated" }}, error = function(e) conditionMessage(e))
    f <- kb_formula("~ x + log(z)", c("x", "z"))
    cat(refused, identical(parent.env(environment(f)), emptyenv()), exists("system", envir = environment(f)), sep = "\\n")
    """
    printed = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True, timeout=60)
    refused, empty_behind, system_reachable = printed.stdout.strip().splitlines()
    assert "system" in refused and empty_behind == "TRUE" and system_reachable == "FALSE"
