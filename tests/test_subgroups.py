"""Subgroups (rma(..., subgroup=)) and the omnibus moderator test QM in glance.

Expected values: the per-subgroup fits and the test of subgroup differences come from plain
metafor run in a separate Rscript process (the recipe of metafor's "Comparing Estimates of
Independent Meta-Analyses or Subgroups" page) and from numpy on those estimates; QM from the
?rma.uni example output (mods = ablat + year: QM(df = 2) = 12.2043, p = 0.0022).
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from lane import BCG_CSV
from scipy import stats

import ketabridge
from ketabridge import schema

DIRECT = """
suppressPackageStartupMessages(library(metafor))
dat <- read.csv(commandArgs(TRUE)[1])
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat)
out <- list()
for (level in unique(dat$alloc)) {
  fit <- rma(yi, vi, data = dat, subset = alloc == level, method = "REML")
  out[[level]] <- c(estimate = coef(fit)[[1]], se = fit$se, tau2 = fit$tau2, k = fit$k)
}
cat(sprintf('{%s}', paste(sprintf('"%s": [%s]', names(out), sapply(out, function(x) paste(sprintf("%.17g", x), collapse = ","))), collapse = ",")))
"""


@pytest.fixture(scope="module")
def direct_subgroups() -> dict:
    done = subprocess.run(
        ["Rscript", "-e", DIRECT, str(BCG_CSV)], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.requires_r
def test_subgroup_fits_and_difference_test(bcg_effects, direct_subgroups):
    grouped = ketabridge.rma(bcg_effects, subgroup="alloc", slab="author")
    assert isinstance(grouped, ketabridge.SubgroupResult)
    glance = grouped.glance().set_index("subgroup")
    assert list(glance.index) == list(direct_subgroups)  # order of first appearance
    for level, (estimate, se, tau2, k) in direct_subgroups.items():
        assert glance.loc[level, "estimate"] == pytest.approx(estimate, rel=1e-9)
        assert glance.loc[level, "std_error"] == pytest.approx(se, rel=1e-9)
        assert glance.loc[level, "tau2"] == pytest.approx(tau2, rel=1e-7, abs=1e-10)
        assert glance.loc[level, "k"] == k
    # Q_between from first principles: inverse-variance weighted spread of the subgroup estimates
    b, se = (np.array([row[i] for row in direct_subgroups.values()]) for i in (0, 1))
    w = 1 / se**2
    q = float(np.sum(w * (b - np.sum(w * b) / np.sum(w)) ** 2))
    between = grouped.between().iloc[0]
    assert between["q_between"] == pytest.approx(q, rel=1e-9)
    assert between["df"] == len(b) - 1
    assert between["p_value"] == pytest.approx(stats.chi2.sf(q, len(b) - 1), rel=1e-9)


@pytest.mark.requires_r
def test_subgroup_tables_and_follow_ups(bcg_effects):
    grouped = ketabridge.rma(bcg_effects, subgroup="alloc", slab="author")
    assert list(grouped.glance().columns) == list(schema.SUBGROUP_GLANCE)
    assert list(grouped.tidy().columns) == list(schema.SUBGROUP_TIDY)
    studies = grouped.augment()
    assert list(studies.columns) == list(schema.SUBGROUP_AUGMENT)
    assert sorted(studies["study"]) == sorted(bcg_effects["author"])
    assert list(grouped.between().columns) == list(schema.SUBGROUP_TEST)
    random = grouped.fits["random"]
    assert 'subset = alloc == "random"' in random.provenance.r_call
    assert len(ketabridge.leave1out(random)) == random.glance()["k"].iloc[0]


@pytest.mark.requires_r
def test_subgroup_errors_name_groups_and_rows(bcg_effects):
    alternate = list(bcg_effects.index[bcg_effects["alloc"] == "alternate"])
    lonely = bcg_effects.drop(index=alternate[1:]).reset_index(drop=True)
    row = int(lonely.index[lonely["alloc"] == "alternate"][0])
    with pytest.raises(ketabridge.InputError, match=f"'alternate' has one \\(row {row}\\)"):
        ketabridge.rma(lonely, subgroup="alloc")
    with pytest.raises(ketabridge.InputError, match="needs at least 2 groups"):
        ketabridge.rma(bcg_effects.assign(alloc="random"), subgroup="alloc")
    with pytest.raises(ketabridge.InputError, match="column 'alloc' has no label in row 3"):
        ketabridge.rma(bcg_effects.assign(alloc=bcg_effects["alloc"].where(bcg_effects.index != 3)), subgroup="alloc")


@pytest.mark.parametrize(
    "values, keys, shown",
    [
        (lambda year: (year >= 1960).astype(int), [0, 1], ["grp == 0", "grp == 1"]),
        (lambda year: (year >= 1960) * 2.5, [0.0, 2.5], ["grp == 0", "grp == 2.5"]),
        (lambda year: year >= 1960, [False, True], ["grp == FALSE", "grp == TRUE"]),
        (lambda year: np.where(year >= 1960, "late", "early"), ["early", "late"], ['grp == "early"', 'grp == "late"']),
    ],
    ids=["int", "float", "bool", "text"],
)
@pytest.mark.requires_r
def test_fits_are_keyed_by_the_column_s_own_values(bcg_effects, values, keys, shown):
    """An integer subgroup column gives int keys (not "0"/"1"); the R call shows each level as R
    would be typed (1, not 1L; TRUE; "text"); the tables' subgroup column is text, as its schema says."""
    grouped = ketabridge.rma(bcg_effects.assign(grp=values(bcg_effects["year"])), subgroup="grp")
    assert sorted(grouped.fits) == keys
    assert all(type(key) is type(keys[0]) for key in grouped.fits)
    for key, text in zip(keys, shown):
        assert grouped.fits[key].provenance.r_call.endswith(f"subset = {text})")
    assert sorted(grouped.glance()["subgroup"]) == sorted(str(key) for key in keys)


@pytest.mark.requires_r
def test_subgroup_studies_keep_their_row_numbers_without_slab(bcg_effects):
    """As metafor's rma(..., subset=) labels studies by their row of the data (1-based)."""
    grouped = ketabridge.rma(bcg_effects, subgroup="alloc")
    studies = grouped.augment()
    for level, fit in grouped.fits.items():
        rows = np.flatnonzero(bcg_effects["alloc"].to_numpy() == level)
        assert fit.augment()["study"].tolist() == [str(row + 1) for row in rows]
    assert sorted(studies["study"], key=int) == [str(row) for row in range(1, len(bcg_effects) + 1)]


@pytest.mark.requires_r
def test_subgroup_column_with_nan_is_missing_labels(bcg_effects):
    with pytest.raises(ketabridge.InputError, match="column 'grp' has no label in row 5"):
        ketabridge.rma(
            bcg_effects.assign(grp=np.where(bcg_effects.index == 5, np.nan, 1.0 * (bcg_effects["year"] > 1960))),
            subgroup="grp",
        )


@pytest.mark.requires_r
def test_moderators_give_the_omnibus_test_in_glance(bcg_effects):
    """?rma.uni example: rma(yi, vi, mods = ~ ablat + year) prints QM(df = 2) = 12.2043, p-val = 0.0022."""
    row = ketabridge.rma(bcg_effects, mods=["ablat", "year"]).glance().iloc[0]
    assert abs(row["qm"] - 12.2043) <= 0.5e-4
    assert row["qm_df"] == 2
    assert abs(row["qm_pvalue"] - 0.0022) <= 0.5e-4
    assert row["qm_pvalue"] == pytest.approx(stats.chi2.sf(row["qm"], 2), rel=1e-9)


@pytest.mark.requires_r
def test_subgroups_refuse_moderators(bcg_effects):
    # with mods, each subgroup's intercept is its effect at moderators = 0, so the test of
    # subgroup differences would compare intercepts, not subgroup effects
    with pytest.raises(ketabridge.InputError, match="subgroup= with mods= would compare the subgroups' intercepts"):
        ketabridge.rma(bcg_effects, mods=["ablat"], subgroup="alloc")


def test_rma_type_hints_resolve():
    import typing

    from ketabridge.analyses.results import MetaResult, SubgroupResult

    assert typing.get_type_hints(ketabridge.rma)["return"] == MetaResult | SubgroupResult
