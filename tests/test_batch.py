"""ketabridge.batch in memory: results equal metafor run directly and ketabridge.rma per group.

Expected numbers come from two independent paths: (1) a plain metafor loop in its own Rscript
process (the script below; it does not load ketabridge's R files), and (2) ketabridge.rma called
once per group, which takes the bridge's single-analysis road (kb_rma) instead of kb_batch.
Both run the same metafor 3.8-1 on the same doubles, so agreement is to 1e-12 relative: only
the order of float operations could differ, and it does not.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest
from simulated import simulated

import ketabridge
from ketabridge.batches import tables

RTOL = 1e-12  # same R, same metafor, same inputs: differences would be bugs, not rounding

# A plain metafor loop: one rma() per group, then trimfill/regtest/ranktest on each fit.
R_LOOP = r"""
args <- commandArgs(TRUE)
suppressMessages(library(metafor))
d <- read.csv(args[1], colClasses = c(id = "character"))
num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else as.numeric(x[[1]])
one <- function(g) {
  fit <- tryCatch(rma(g$yi, g$vi, method = "REML"), error = function(e) conditionMessage(e))
  if (is.character(fit)) return(data.frame(id = g$id[1], error = fit))
  p <- predict(fit)
  # trim-and-fill and regtest refit the model, and that refit may not converge either
  notes <- character()
  failed <- function(name, fallback) function(e) {
    notes <<- c(notes, paste0(name, " failed: ", conditionMessage(e))); fallback
  }
  tf <- tryCatch(trimfill(fit), error = failed("trimfill", list(k0 = NA, beta = NA, side = NA)))
  rt <- tryCatch(regtest(fit), error = failed("regtest", list(zval = NA, pval = NA, est = NA)))
  rk <- ranktest(fit)
  data.frame(id = g$id[1], error = "", k = fit$k, estimate = num(fit$beta), std_error = num(fit$se),
             p_value = fit$pval, conf_low = fit$ci.lb, conf_high = fit$ci.ub, pi_low = p$pi.lb,
             pi_high = p$pi.ub, tau2 = fit$tau2, tau2_se = fit$se.tau2, i2 = fit$I2, h2 = fit$H2,
             q = fit$QE, q_pvalue = fit$QEp, trimfill_k0 = tf$k0, trimfill_estimate = num(tf$beta),
             trimfill_side = tf$side, regtest_statistic = rt$zval, regtest_p_value = rt$pval,
             regtest_limit_estimate = num(rt$est), ranktest_kendall_tau = num(rk$tau),
             ranktest_p_value = num(rk$pval), notes = paste(notes, collapse = "; "))
}
rows <- lapply(split(d, factor(d$id, levels = unique(d$id))), one)
columns <- unique(unlist(lapply(rows, names)))
out <- do.call(rbind, lapply(rows, function(r) { r[setdiff(columns, names(r))] <- NA; r[columns] }))
write.csv(out, args[2], row.names = FALSE)
"""

COMPARED = [
    "k", "estimate", "std_error", "p_value", "conf_low", "conf_high", "pi_low", "pi_high", "tau2", "tau2_se",
    "i2", "h2", "q", "q_pvalue", "trimfill_k0", "trimfill_estimate", "regtest_statistic", "regtest_p_value",
    "regtest_limit_estimate", "ranktest_kendall_tau", "ranktest_p_value",
]  # fmt: skip


def plain_r(data: pd.DataFrame, tmp_path) -> pd.DataFrame:
    data_path, out_path, script = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "loop.R"
    data.to_csv(data_path, index=False, float_format="%.17g")
    script.write_text(R_LOOP)
    subprocess.run(
        ["Rscript", str(script), str(data_path), str(out_path)], check=True, capture_output=True, timeout=300
    )
    return pd.read_csv(out_path, dtype={"id": str}, keep_default_na=False, na_values=["NA"])


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    # 24 groups of the benchmark's data set (k = 15) including 19, where REML does not converge
    return simulated(300, 15).query("6 <= id < 30").reset_index(drop=True)


@pytest.fixture(scope="module")
def with_extras(data):
    return ketabridge.batch(data, by="id", trimfill=True, regtest=True, ranktest=True, workers=2, chunk_size=5)


@pytest.mark.requires_r
def test_batch_equals_a_plain_metafor_loop(data, with_extras, tmp_path):
    expected = plain_r(data, tmp_path).set_index("id")
    glance = with_extras.glance().assign(key=with_extras.glance()["analysis_id"].astype(str)).set_index("key")
    status = with_extras.status().assign(key=with_extras.status()["analysis_id"].astype(str)).set_index("key")
    assert list(glance.index) == list(expected.index)  # one row per id, in input order
    fitted = expected["error"] == ""
    assert fitted.sum() == len(expected) - 1  # group 19 fails in plain metafor too
    for column in COMPARED:
        np.testing.assert_allclose(
            glance.loc[fitted, column].astype(float),
            expected.loc[fitted, column].astype(float),
            rtol=RTOL,
            atol=1e-14,
            err_msg=column,
        )
    filled = fitted & expected["trimfill_k0"].notna()
    assert (glance.loc[filled, "trimfill_side"] == expected.loc[filled, "trimfill_side"]).all()
    for key in expected.index[fitted & (expected["notes"] != "")]:  # an extra failed: the model stays
        assert status.loc[key, "status"] == "warning"
        assert status.loc[key, "message"] == " ".join(expected.loc[key, "notes"].split())
    failed = expected.index[~fitted]
    assert list(status.loc[failed, "status"]) == ["error"]
    assert status.loc[failed, "message"].iloc[0] == " ".join(expected.loc[failed, "error"].iloc[0].split())
    assert glance.loc[failed, ["estimate", "tau2", "trimfill_estimate"]].isna().all(axis=None)


@pytest.mark.requires_r
def test_batch_equals_ketabridge_rma_per_group(data, with_extras):
    """The single-analysis road (kb_rma, kb_trimfill, kb_regtest) gives the same tables."""
    for analysis in (6, 7, 25):
        group = data[data["id"] == analysis]
        single = ketabridge.rma(group)
        row = with_extras.glance()[with_extras.glance()["analysis_id"] == analysis].reset_index(drop=True)
        expected = single.glance()
        pd.testing.assert_frame_equal(row[list(expected.columns)], expected, check_dtype=False, rtol=RTOL)
        filled = ketabridge.trimfill(single).glance().add_prefix("trimfill_")
        pd.testing.assert_frame_equal(row[list(filled.columns)], filled, check_dtype=False, rtol=RTOL)
        egger = ketabridge.regtest(single).glance().add_prefix("regtest_")
        pd.testing.assert_frame_equal(row[list(egger.columns)], egger, check_dtype=False, rtol=RTOL)
        tidy = (
            with_extras.tidy()[with_extras.tidy()["analysis_id"] == analysis]
            .drop(columns="analysis_id")
            .reset_index(drop=True)
        )
        pd.testing.assert_frame_equal(tidy, single.tidy(), check_dtype=False, rtol=RTOL)


@pytest.mark.requires_r
def test_schema_status_and_provenance(data, with_extras, installed):
    expected_glance = ["analysis_id", *tables.glance_schema(["trimfill", "regtest", "ranktest"])]
    assert list(with_extras.glance().columns) == expected_glance
    assert list(with_extras.tidy().columns) == ["analysis_id", *ketabridge.schema.TIDY]
    assert list(with_extras.status().columns) == ["analysis_id", *ketabridge.schema.STATUS]
    assert with_extras.status()["analysis_id"].tolist() == list(range(6, 30))
    assert set(with_extras.status()["status"]) <= {"ok", "warning", "error"}
    calls = with_extras.status().set_index("analysis_id")["r_call"]
    assert (
        calls[6]
        == 'rma.uni(yi = yi, vi = vi, data = dat[dat[["id"]] == 6, ], measure = "GEN", method = "REML", test = "z", level = 95)'
    )
    provenance = with_extras.provenance.details
    assert provenance["metafor_version"] == installed["metafor_version"]
    assert provenance["r_version"] == installed["r_version"]
    assert provenance["analyses"] == 24 and provenance["chunks_run"] == 5
    assert provenance["options"]["trimfill"] is True


@pytest.mark.requires_r
def test_one_worker_in_process_equals_two_workers(data, with_extras):
    inline = ketabridge.batch(data, by="id", trimfill=True, regtest=True, ranktest=True, workers=0)
    for kind in ("glance", "tidy", "status"):
        pd.testing.assert_frame_equal(getattr(inline, kind)(), getattr(with_extras, kind)())


@pytest.mark.requires_r
def test_fallback_policy_refits_and_is_recorded(data, tmp_path):
    """Group 19: REML fails; the default policy's first step (stepadj 0.5, maxiter 1000) converges.

    Expected value: plain metafor with the same control, in Rscript.
    """
    group = data[data["id"] == 19]
    result = ketabridge.batch(group, by="id", fallback=True, workers=0)
    status = result.status().iloc[0]
    assert status["status"] == "warning"
    assert status["fallback"] in ("control(stepadj=0.5, maxiter=1000)", "method=DL")
    assert status["message"].startswith("first fit: Fisher scoring algorithm did not converge")
    control = (
        "control = list(stepadj = 0.5, maxiter = 1000)" if status["fallback"].startswith("control") else 'method = "DL"'
    )
    assert status["r_call"].startswith('rma.uni(yi = yi, vi = vi, data = dat[dat[["id"]] == 19, ], measure')
    script = tmp_path / "fallback.R"
    script.write_text(
        f"suppressMessages(library(metafor)); d <- read.csv('{tmp_path / 'g.csv'}');"
        f"cat(sprintf('%.17g', coef(rma(d$yi, d$vi, method = 'REML', {control}))))"
        if control.startswith("control")
        else f"suppressMessages(library(metafor)); d <- read.csv('{tmp_path / 'g.csv'}');"
        f"cat(sprintf('%.17g', coef(rma(d$yi, d$vi, {control}))))"
    )
    group.to_csv(tmp_path / "g.csv", index=False, float_format="%.17g")
    expected = float(subprocess.run(["Rscript", str(script)], capture_output=True, text=True, check=True).stdout)
    assert result.glance()["estimate"].iloc[0] == pytest.approx(expected, rel=RTOL)
    off = ketabridge.batch(group, by="id", workers=0)
    assert off.status()["status"].iloc[0] == "error" and off.status()["fallback"].iloc[0] == ""


@pytest.mark.requires_r
def test_injected_bad_groups_become_status_rows(tmp_path):
    """Text in a numeric column, vi <= 0, k = 1, a missing value and non-convergence: the batch goes on."""
    good = simulated(300, 15)
    rows = [
        *(f"ok,{y!r},{v!r}" for y, v in good[good["id"] == 2][["yi", "vi"]].itertuples(index=False)),
        "text,0.1,0.02",
        "text,abc,0.03",
        "text,0.2,0.02",
        "neg,0.1,0.02",
        "neg,0.3,-0.5",
        "neg,0.2,0.0",
        "single,0.1,0.02",
        "gap,0.1,0.02",
        "gap,,0.03",
        "gap,0.2,0.02",
        "gap,0.25,0.05",
        *(f"stuck,{y!r},{v!r}" for y, v in good[good["id"] == 19][["yi", "vi"]].itertuples(index=False)),
    ]
    path = tmp_path / "bad.csv"
    path.write_text("study,yi,vi\n" + "\n".join(rows) + "\n")
    result = ketabridge.batch(path, by="study", workers=0)
    status = result.status().set_index("analysis_id")
    assert list(status.index) == ["ok", "text", "neg", "single", "gap", "stuck"]
    assert status.loc["ok", "status"] == "ok"
    assert status.loc["text", "message"] == "column 'yi' must be numeric, but row 16 holds text ('abc')"
    assert status.loc["neg", "message"] == (
        "column 'vi' holds variances, which must be >= 0, but row 19 is not (-0.5)"  # vi = 0 is rma.uni's OLS
    )
    assert status.loc["single", "message"] == "a meta-analysis needs at least 2 studies with complete data; got 1"
    assert status.loc["gap", "status"] == "warning"
    assert status.loc["gap", "message"] == "1 rows with missing values in yi, vi left out (row 23)"
    assert status.loc["stuck", "message"].startswith("Fisher scoring algorithm did not converge")
    assert list(status["status"]) == ["ok", "error", "error", "error", "warning", "error"]
    assert status.loc[["text", "neg", "single"], "r_call"].eq("").all()  # never reached R
    glance = result.glance().set_index("analysis_id")
    assert glance.loc["gap", "k"] == 3
    assert glance.loc[["text", "neg", "single", "stuck"], "k"].isna().all()


@pytest.mark.requires_r
def test_escalc_columns_and_string_ids(bcg):
    """measure= with escalc's columns: the same as escalc() then rma() (metafor's BCG example)."""
    bcg = bcg.assign(era=np.where(bcg["year"] < 1960, "early", "late"))
    result = ketabridge.batch(bcg, by="era", measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", workers=0)
    for era in ("early", "late"):
        rows = bcg[bcg["era"] == era]
        expected = ketabridge.rma(ketabridge.escalc("RR", rows, ai="tpos", bi="tneg", ci="cpos", di="cneg")).glance()
        got = result.glance()[result.glance()["analysis_id"] == era].reset_index(drop=True)
        pd.testing.assert_frame_equal(got[list(expected.columns)], expected, check_dtype=False, rtol=RTOL)
    assert str(result.glance()["analysis_id"].dtype) == "string"


def test_bad_options_raise_before_anything_runs(data):
    with pytest.raises(ketabridge.InputError, match="unknown method 'RMEL'"):
        ketabridge.batch(data, by="id", method="RMEL")
    with pytest.raises(ketabridge.InputError, match="column 'nope' not found"):
        ketabridge.batch(data, by="nope")
    with pytest.raises(ketabridge.InputError, match="fallback method"):
        ketabridge.batch(data, by="id", fallback=[{"method": "bogus"}])
    with pytest.raises(ketabridge.InputError, match="resume and csv need an output directory"):
        ketabridge.batch(data, by="id", resume=True)
