"""One assumed pre-post correlation in escalc, and correlation_grid over several of them.

Data: the treatment groups of Morris (2008), Table 1 (tests/reference/morris2008.json).
Expected values are independent computations: MC with DerSimonian-Laird from first principles
(numpy; escalc's MC formulas from ?escalc, DL from DerSimonian & Laird 1986), and SMCR with
REML from metafor called directly in a separate Rscript process (nothing from ketabridge).
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from morris import GRID, MC_COLUMNS, TREATMENT
from scipy import stats

import ketabridge
from ketabridge import schema


def dersimonian_laird(yi: np.ndarray, vi: np.ndarray) -> dict[str, float]:
    w = 1 / vi
    fixed = np.sum(w * yi) / np.sum(w)
    q = float(np.sum(w * (yi - fixed) ** 2))
    k = len(yi)
    c = np.sum(w) - np.sum(w**2) / np.sum(w)
    tau2 = max(0.0, (q - (k - 1)) / c)
    w_random = 1 / (vi + tau2)
    estimate = np.sum(w_random * yi) / np.sum(w_random)
    se = np.sqrt(1 / np.sum(w_random))
    typical_vi = (k - 1) * np.sum(w) / (np.sum(w) ** 2 - np.sum(w**2))  # Higgins & Thompson (2002)
    z = stats.norm.ppf(0.975)
    return dict(
        estimate=estimate,
        std_error=se,
        conf_low=estimate - z * se,
        conf_high=estimate + z * se,
        tau2=tau2,
        q=q,
        i2=100 * tau2 / (tau2 + typical_vi),
    )


@pytest.fixture(scope="module")
def mc_grid():
    return ketabridge.correlation_grid(TREATMENT, "MC", GRID, method="DL", **MC_COLUMNS)


@pytest.mark.requires_r
def test_grid_has_one_glance_row_per_correlation(mc_grid):
    assert list(mc_grid.columns) == list(schema.CORRELATION_GRID)
    assert mc_grid["ri"].tolist() == list(GRID)
    assert (mc_grid["k"] == 5).all() and (mc_grid["method"] == "DL").all() and (mc_grid["measure"] == "MC").all()


@pytest.mark.requires_r
@pytest.mark.parametrize("row", range(len(GRID)))
def test_mean_change_grid_matches_first_principles(mc_grid, row):
    r = GRID[row]
    data = TREATMENT
    yi = (data["m_post"] - data["m_pre"]).to_numpy(float)
    vi = (
        (data["sd_post"] ** 2 + data["sd_pre"] ** 2 - 2 * r * data["sd_post"] * data["sd_pre"]) / data["ni"]
    ).to_numpy(float)
    expected = dersimonian_laird(yi, vi)
    actual = mc_grid.iloc[row]
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value, rel=1e-10, abs=1e-12), name


@pytest.mark.requires_r
def test_smcr_reml_grid_matches_metafor_in_a_separate_rscript():
    grid = ketabridge.correlation_grid(TREATMENT, "SMCR", GRID, m1i="m_post", m2i="m_pre", sd1i="sd_pre", ni="ni")
    values = ", ".join(
        f"c({', '.join(map(repr, TREATMENT[column].astype(float)))})" for column in ("m_post", "m_pre", "sd_pre", "ni")
    )
    script = f"""
    suppressPackageStartupMessages(library(metafor))
    columns <- list({values})
    for (r in c({", ".join(map(repr, GRID))})) {{
      d <- escalc("SMCR", m1i = columns[[1]], m2i = columns[[2]], sd1i = columns[[3]], ni = columns[[4]],
                  ri = rep(r, 5))
      res <- rma(yi, vi, data = d, method = "REML")
      cat(sprintf("%a", c(res$beta, res$se, res$tau2, res$QE, res$ci.lb, res$ci.ub)), "\\n")
    }}
    """
    lines = (
        subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True, timeout=120)
        .stdout.strip()
        .splitlines()
    )
    expected = np.array([[float.fromhex(value) for value in line.split()] for line in lines])
    actual = grid[["estimate", "std_error", "tau2", "q", "conf_low", "conf_high"]].to_numpy(float)
    np.testing.assert_allclose(actual, expected, rtol=1e-8, atol=1e-12)


@pytest.mark.requires_r
def test_assumed_correlation_is_in_the_provenance(mc_grid):
    effects = ketabridge.escalc("MC", TREATMENT, ri=0.5, **MC_COLUMNS)
    assert 'measure = "MC", ri = 0.5' in effects.attrs["ketabridge_provenance"]["r_call"]
    assert effects.attrs["ketabridge_assumed_ri"] == 0.5
    rows = mc_grid.attrs["ketabridge_provenance"]
    assert [row["ri"] for row in rows] == list(GRID)
    assert "ri = 0.7" in rows[3]["escalc"]["r_call"] and rows[3]["rma"]["r_call"].startswith("rma.uni(")


@pytest.mark.requires_r
def test_assumed_correlation_equals_a_column_of_it():
    # metafor's own result for a column of 0.5s (R recycles nothing here: every row has ri)
    with_column = ketabridge.escalc("SMCC", TREATMENT.assign(r=0.5), ri="r", **MC_COLUMNS)
    assumed = ketabridge.escalc("SMCC", TREATMENT, ri=0.5, **MC_COLUMNS)
    np.testing.assert_array_equal(assumed[["yi", "vi"]].to_numpy(), with_column[["yi", "vi"]].to_numpy())


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: ketabridge.escalc(
                "MD", TREATMENT, m1i="m_post", m2i="m_pre", sd1i="sd_post", sd2i="sd_pre", n1i="ni", n2i="ni", ri=0.5
            ),
            "needs a pre/post measure",
        ),
        (lambda: ketabridge.escalc("MC", TREATMENT, ri=1.2, **MC_COLUMNS), "between -1 and 1, not 1.2"),
        (lambda: ketabridge.escalc("MC", TREATMENT, ri=float("nan"), **MC_COLUMNS), "between -1 and 1, not nan"),
        (
            lambda: ketabridge.escalc(
                "MC", TREATMENT, ri=0.5, m1i=3, m2i="m_pre", sd1i="sd_post", sd2i="sd_pre", ni="ni"
            ),
            r"only ri may be a number\): m1i=3",
        ),
        (lambda: ketabridge.correlation_grid(TREATMENT, "SMD", **MC_COLUMNS), "unknown measure 'SMD'"),
        (lambda: ketabridge.correlation_grid(TREATMENT, "MC", "r", **MC_COLUMNS), "ri must be one or more"),
        (lambda: ketabridge.correlation_grid(TREATMENT, "MC", (0.5, 2), **MC_COLUMNS), "not 2"),
    ],
)
@pytest.mark.requires_r
def test_bad_correlations_raise_input_error(call, message):
    with pytest.raises(ketabridge.InputError, match=message):
        call()


@pytest.mark.requires_r
def test_ri_1_with_equal_sds_gives_zero_variances_and_metafors_ols_fit():
    # sd_post = sd_pre and ri = 1 make every MC variance 0, which metafor's rma.uni accepts: REML
    # then reproduces ordinary least squares (checked here by numpy: the mean change and its SE)
    data = TREATMENT.assign(sd_post=TREATMENT["sd_pre"])
    row = ketabridge.correlation_grid(data, "MC", (0.5, 1.0), **MC_COLUMNS).set_index("ri").loc[1.0]
    changes = (data[MC_COLUMNS["m1i"]] - data[MC_COLUMNS["m2i"]]).to_numpy(float)
    assert row["estimate"] == pytest.approx(changes.mean(), rel=1e-6)
    assert row["std_error"] == pytest.approx(changes.std(ddof=1) / np.sqrt(len(changes)), rel=1e-6)


def test_cli_assumed_ri_without_measure_names_the_option_given(tmp_path):
    from click.testing import CliRunner

    from ketabridge.cli import main

    table = tmp_path / "prepost.csv"
    TREATMENT.to_csv(table, index=False)
    result = CliRunner().invoke(main, ["analyze", str(table), "--assumed-ri", "0.5"])
    assert result.exit_code == 2
    assert "--assumed-ri needs --measure" in result.output
