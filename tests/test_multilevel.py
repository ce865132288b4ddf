"""rma_mv, vcalc, aggregate and robust: behaviour, independent checks, bad input, plots, CLI, plans.

Expected numbers come from numpy computations of the published formulas (metafor's FAQ on the
multilevel I^2; GLS aggregation; the CR1 small-sample factor), never from ketabridge's own
output. Published values are in test_multilevel_reference.py.
"""

from __future__ import annotations

import pickle
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from lane import REPO

import ketabridge
from ketabridge import InputError, RNotAvailableError
from ketabridge.analyses import robust as robust_module
from ketabridge.cli import main

pytestmark = pytest.mark.requires_r

DATA = REPO / "data" / "konstantopoulos2011" / "konstantopoulos2011.csv"
THREE_LEVEL = "~ 1 | district/school"


@pytest.fixture(scope="module")
def schools() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.fixture(scope="module")
def fitted(schools):
    return ketabridge.rma_mv(schools, random=THREE_LEVEL)


@pytest.fixture(scope="module")
def robust_fits(fitted):
    return {
        "CR2": ketabridge.robust(fitted, "district"),
        "CR1": ketabridge.robust(fitted, "district", clubsandwich=False),
        "CR0": ketabridge.robust(fitted, "district", clubsandwich=False, adjust=False),
    }


# ----------------------------------------------------------------------------- rma_mv


def test_multilevel_i2_is_the_faq_formula(fitted, schools):
    """metafor's FAQ: W = diag(1/vi), P = W - W X (X'WX)^-1 X'W, typical = (k - p) / tr(P)."""
    vi = schools["vi"].to_numpy()
    W = np.diag(1 / vi)
    X = np.ones((len(vi), 1))
    P = W - W @ X @ np.linalg.inv(X.T @ W @ X) @ X.T @ W
    typical = (len(vi) - 1) / np.trace(P)
    components = fitted.components().set_index("term")
    sigma2 = components["estimate"].to_numpy()
    expected = 100 * sigma2 / (sigma2.sum() + typical)
    np.testing.assert_allclose(components["i2"].to_numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(fitted.glance()["i2"].iloc[0], expected.sum(), rtol=1e-10)
    assert fitted.glance()["sigma2_total"].iloc[0] == pytest.approx(sigma2.sum(), rel=1e-12)


def test_prediction_interval_adds_every_sigma2(fitted):
    """metafor's predict for rma.mv: estimate ± z * sqrt(se^2 + sum(sigma2)) (z test)."""
    glance = fitted.glance().iloc[0]
    half = 1.959963984540054 * np.sqrt(glance["std_error"] ** 2 + glance["sigma2_total"])
    assert glance["pi_low"] == pytest.approx(glance["estimate"] - half, rel=1e-9)
    assert glance["pi_high"] == pytest.approx(glance["estimate"] + half, rel=1e-9)


def test_components_table(fitted):
    components = fitted.components()
    assert list(components["term"]) == ["sigma2.1", "sigma2.2"]
    assert list(components["factor"]) == ["district", "district/school"]
    np.testing.assert_allclose(components["sqrt"] ** 2, components["estimate"], rtol=1e-12)
    assert not components["fixed"].any()


def test_augment_hat_values_sum_to_the_number_of_coefficients(fitted, schools):
    studies = fitted.augment()
    assert len(studies) == len(schools)
    assert studies["hat"].sum() == pytest.approx(1.0, rel=1e-8)  # trace of the hat matrix = p
    assert studies["weight"].sum() == pytest.approx(100.0, rel=1e-8)  # percent
    np.testing.assert_allclose(studies["residual"], studies["yi"] - studies["fitted"], atol=1e-12)


def test_provenance_shows_the_rma_mv_call(fitted):
    call = fitted.provenance.r_call
    assert call.startswith("rma.mv(") and "random = ~ 1 | district/school" in call


def test_result_pickles_frozen(fitted):
    again = pickle.loads(pickle.dumps(fitted))
    for table in ("glance", "tidy", "components", "augment"):
        pd.testing.assert_frame_equal(getattr(again, table)(), getattr(fitted, table)())
    assert again.provenance == fitted.provenance
    with pytest.raises(AttributeError):
        fitted.kind = "other"
    assert not again.spec.yi.flags.writeable


def test_dense_matrix_equals_the_variance_column(schools, fitted):
    """V as a diagonal numpy matrix and as a pandas frame fit the same model as the column."""
    dense = np.diag(schools["vi"].to_numpy())
    for V in (dense, pd.DataFrame(dense)):
        again = ketabridge.rma_mv(schools, V=V, random=THREE_LEVEL)
        pd.testing.assert_frame_equal(again.tidy(), fitted.tidy(), rtol=1e-6)


def test_formula_moderators_and_t_tests_with_contain_dfs(schools):
    result = ketabridge.rma_mv(schools, random=THREE_LEVEL, mods="~ I(year - 1980)", test="t", dfs="contain")
    tidy = result.tidy()
    assert list(tidy["term"]) == ["intrcpt", "I(year - 1980)"]
    assert tidy["df"].notna().all() and result.glance()["test"].iloc[0] == "t"


# ----------------------------------------------------------------------------- vcalc / aggregate


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "study": ["a", "a", "a", "b", "b", "c"],
            "es": [1, 2, 3, 1, 2, 1],
            "yi": [0.2, 0.4, 0.1, -0.1, 0.3, 0.5],
            "vi": [0.04, 0.09, 0.05, 0.02, 0.03, 0.06],
        }
    )


def test_vcalc_is_rho_times_the_standard_errors_within_clusters(small):
    V = ketabridge.vcalc(small, cluster="study", obs="es", rho=0.6)
    sd = np.sqrt(small["vi"].to_numpy())
    same = small["study"].to_numpy()[:, None] == small["study"].to_numpy()[None, :]
    expected = np.where(same, 0.6 * np.outer(sd, sd), 0.0)
    np.fill_diagonal(expected, small["vi"])
    np.testing.assert_allclose(V.to_numpy(), expected, rtol=1e-12, atol=1e-15)
    assert V.attrs["ketabridge_assumed_rho"] == 0.6
    assert "rho = 0.6" in ketabridge.provenance_of(V).r_call
    # obs as text labels: the same matrix (metafor < 4.0 read obs as indices; ketabridge passes codes)
    labelled = small.assign(es=small["es"].map({1: "pre", 2: "post", 3: "follow-up"}))
    again = ketabridge.vcalc(labelled, cluster="study", obs="es", rho=0.6)
    np.testing.assert_allclose(again.to_numpy(), expected, rtol=1e-12, atol=1e-15)


def test_aggregate_is_the_gls_mean_per_cluster(small):
    """Within a cluster with V_ij = rho sd_i sd_j: vi = 1 / (1'V^-1 1), yi = vi * 1'V^-1 y."""
    out = ketabridge.aggregate(small, cluster="study", rho=0.6).set_index("study")
    for study, rows in small.groupby("study"):
        sd = np.sqrt(rows["vi"].to_numpy())
        V = 0.6 * np.outer(sd, sd)
        np.fill_diagonal(V, rows["vi"])
        inverse = np.linalg.inv(V)
        vi = 1 / inverse.sum()
        assert out.loc[study, "vi"] == pytest.approx(vi, rel=1e-10)
        assert out.loc[study, "yi"] == pytest.approx(vi * (inverse @ rows["yi"].to_numpy()).sum(), rel=1e-10)
    assert out.attrs["ketabridge_assumed_rho"] == 0.6
    assert "rho = 0.6" in ketabridge.provenance_of(out).r_call


def test_vcalc_output_goes_to_rma_mv_and_i2_uses_its_inverse(small):
    """With correlated sampling errors the FAQ's W is V^-1 (metafor's FAQ, multivariate case)."""
    V = ketabridge.vcalc(small, cluster="study", obs="es", rho=0.6)
    result = ketabridge.rma_mv(small, V=V, random="~ 1 | study/es")
    assert result.glance()["k"].iloc[0] == 6 and "V = V" in result.provenance.r_call
    W = np.linalg.inv(V.to_numpy())
    X = np.ones((6, 1))
    P = W - W @ X @ np.linalg.inv(X.T @ W @ X) @ X.T @ W
    typical = (6 - 1) / np.trace(P)
    sigma2 = result.components()["estimate"].to_numpy()
    np.testing.assert_allclose(result.components()["i2"], 100 * sigma2 / (sigma2.sum() + typical), rtol=1e-9)


# ----------------------------------------------------------------------------- robust


def test_robust_results_say_their_vcov_type(robust_fits, fitted):
    for name, result in robust_fits.items():
        assert result.kind == "robust"
        assert set(result.tidy()["vcov_type"]) == {name}
        assert result.glance()["vcov_type"].iloc[0] == name and result.glance()["n_clusters"].iloc[0] == 11
        pd.testing.assert_frame_equal(result.components(), fitted.components())
    assert fitted.glance()["vcov_type"].iloc[0] == "model" and pd.isna(fitted.glance()["n_clusters"].iloc[0])


def test_cr1_is_cr0_with_the_small_sample_factor(robust_fits):
    """metafor's adjust: the meat times m / (m - p), so the SE grows by sqrt(11 / 10)."""
    ratio = robust_fits["CR1"].tidy()["std_error"] / robust_fits["CR0"].tidy()["std_error"]
    np.testing.assert_allclose(ratio, np.sqrt(11 / 10), rtol=1e-10)


def test_robust_of_an_rma_result(bcg_effects):
    result = ketabridge.robust(ketabridge.rma(bcg_effects), "trial")
    assert result.kind == "robust" and result.glance()["vcov_type"].iloc[0] == "CR2"
    # CR2 is clubSandwich's computation: its version is in the provenance, as Rscript reports it
    code = 'cat(as.character(packageVersion("clubSandwich")))'
    version = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True).stdout
    assert dict(result.provenance.r_packages) == {"clubSandwich": version}
    assert "tau2" in result.glance() and result.tidy()["df"].notna().all()


def test_robust_takes_cluster_values(fitted, schools, robust_fits):
    by_values = ketabridge.robust(fitted, schools["district"].to_numpy())
    pd.testing.assert_frame_equal(by_values.tidy(), robust_fits["CR2"].tidy())


def test_robust_without_clubsandwich_raises_rnotavailable(fitted, monkeypatch):
    """R is asked for the package by name; a package R does not have takes the same road as a
    missing clubSandwich (the real one is installed here)."""
    monkeypatch.setattr(robust_module, "CLUBSANDWICH", "clubSandwichNotInstalled")
    with pytest.raises(RNotAvailableError, match="clubSandwichNotInstalled"):
        ketabridge.robust(fitted, "district")


# ----------------------------------------------------------------------------- bad input, before R


@pytest.mark.parametrize(
    "change, message",
    [
        ({"V": np.eye(3)}, "3 x 3 but the data has 56 rows"),
        ({"V": np.ones((56, 2))}, "square"),
        ({"random": "~ 1 | region/school"}, "'region', which is not a column"),
        ({"random": "~ 1 | district", "mods": "~ system('ls')"}, r"calls system\(\)"),
        ({"random": "~ get('x') | district"}, r"calls get\(\)"),
        ({"random": "~ 1 | district", "struct": "XYZ"}, "unknown struct 'XYZ'"),
        ({"random": "~ 1 | district", "struct": "UN"}, "inner | outer"),
        ({"random": "~ 1 + district"}, "exactly one '|'"),
        ({"random": []}, "needs random="),
        ({"random": THREE_LEVEL, "method": "DL"}, "unknown method 'DL'"),
        ({"random": THREE_LEVEL, "control": {"optimizer": "system"}}, "unknown optimizer"),
    ],
)
def test_bad_input_is_an_input_error(schools, change, message, monkeypatch):
    from ketabridge.analyses import multilevel

    monkeypatch.setattr(multilevel, "call_entry", lambda *a, **k: pytest.fail("R was called"))
    arguments = {"random": THREE_LEVEL, **change}
    with pytest.raises(InputError, match=message):
        ketabridge.rma_mv(schools, **arguments)


def test_v_not_symmetric_or_not_positive_semidefinite(schools):
    k = len(schools)
    asymmetric = np.diag(schools["vi"].to_numpy())
    asymmetric[0, 1] = 0.01
    with pytest.raises(InputError, match="not symmetric: see rows 0, 1"):
        ketabridge.rma_mv(schools, V=asymmetric, random=THREE_LEVEL)
    indefinite = np.diag(schools["vi"].to_numpy())
    indefinite[0, 1] = indefinite[1, 0] = 1.0  # |cov| far above sqrt(v0 v1)
    with pytest.raises(InputError, match="not positive semi-definite"):
        ketabridge.rma_mv(schools, V=indefinite, random=THREE_LEVEL)
    assert k == 56


def test_missing_cluster_values_name_the_rows(schools, fitted, small):
    holes = schools.astype({"district": "float"})
    holes.loc[[3, 7], "district"] = np.nan
    with pytest.raises(InputError, match=r"'district' has missing values in rows 3, 7"):
        ketabridge.rma_mv(holes, random=THREE_LEVEL)
    with pytest.raises(InputError, match=r"missing values in rows 2, 5"):
        ketabridge.robust(fitted, [1.0, 2.0, None, 1.0, 1.0, None] + [1.0] * 50)
    gaps = small.astype({"study": "object"})
    gaps.loc[4, "study"] = None
    with pytest.raises(InputError, match="row 4"):
        ketabridge.vcalc(gaps, cluster="study", obs="es", rho=0.5)
    with pytest.raises(InputError, match="row 4"):
        ketabridge.aggregate(gaps, cluster="study", rho=0.5)


def test_robust_takes_only_model_results(fitted, robust_fits):
    with pytest.raises(InputError, match="rma\\(\\) or rma_mv\\(\\)"):
        ketabridge.robust(robust_fits["CR2"], "district")
    with pytest.raises(InputError, match="has 3 values"):
        ketabridge.robust(fitted, [1, 2, 3])


def test_correlations_out_of_range(small):
    with pytest.raises(InputError, match="rho is a correlation"):
        ketabridge.vcalc(small, cluster="study", obs="es", rho=1.5)
    with pytest.raises(InputError, match="needs the assumed within-cluster correlation"):
        ketabridge.aggregate(small, cluster="study")


# ----------------------------------------------------------------------------- plots, CLI, plans


def test_forest_and_funnel_of_an_rma_mv_result(fitted, robust_fits, tmp_path):
    forest = ketabridge.forest(fitted, tmp_path / "forest.png")
    funnel = ketabridge.funnel(fitted, tmp_path / "funnel.svg")
    assert forest.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in funnel.read_bytes()[:400]
    with pytest.raises(InputError, match="robust"):
        ketabridge.forest(robust_fits["CR2"], tmp_path / "no.png")


def test_cli_random_and_robust(tmp_path):
    out = tmp_path / "fit.json"
    result = CliRunner().invoke(
        main,
        ["analyze", str(DATA), "--random", "~ 1 | district", "--random", "~ 1 | study", "--cluster", "district",
         "--robust", "--format", "json", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = pd.read_json(out, typ="series")
    assert document["glance"]["vcov_type"] == "CR2" and len(document["components"]) == 2
    assert "random = list(~ 1 | district, ~ 1 | study)" in document["provenance"]["r_call"]
    refused = CliRunner().invoke(main, ["analyze", str(DATA), "--random", "~ 1 | district", "--trimfill"])
    assert refused.exit_code != 0 and "--trimfill is not available with --random" in refused.output


def test_plan_with_random_struct_and_robust(tmp_path):
    from ketabridge.plans.plan_file import PlanError, load_plan
    from ketabridge.plans.runner import run_plan

    plan = tmp_path / "plan.toml"
    plan.write_text(
        f'title = "schools"\ndata = "{DATA}"\n\n[[analysis]]\nname = "three_level"\n'
        'effect = { yi = "yi", vi = "vi" }\nrandom = ["~ 1 | district/school"]\nrobust = "district"\n'
    )
    run = run_plan(load_plan(plan))
    summary = run.table("summary").iloc[0]
    tidy = run.table("tidy").iloc[0]
    assert summary["k"] == 56 and tidy["vcov_type"] == "CR2"
    plan.write_text(plan.read_text() + 'struct = "ABC"\n')
    with pytest.raises(PlanError, match="struct"):
        load_plan(plan)


def test_public_names():
    for name in ("rma_mv", "vcalc", "aggregate", "robust", "MultilevelResult"):
        assert name in ketabridge.__all__ and getattr(ketabridge, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ketabridge.MultilevelResult.__name__ == "MultilevelResult"


# ----------------------------------------------------------------------------- hostile random terms


@pytest.mark.parametrize(
    "term",
    [
        "~ 1 | `district`",
        "~ 1 | base::system('id')",
        "~ 1 | eval(district)",
        "~ 1 | (x <- district)",
        "~ 1 | district; system('id')",
        "~ 1 | environment()",
        "~ 1 | district$school",
    ],
)
def test_hostile_random_terms_are_refused_in_python(schools, term):
    with pytest.raises(InputError):
        ketabridge.rma_mv(schools, random=term)


def test_r_checks_random_terms_again(fitted):
    """The second lock: a random term that skipped the Python check is refused by R's kb_formula."""
    from ketabridge.bridge.call import call_entry
    from ketabridge.errors import MetaforError

    model = {**fitted.spec.to_r(), "random": ["~ 1 | system('id')"]}
    with pytest.raises(MetaforError, match="neither columns nor allowed functions: system"):
        call_entry("kb_rma_mv", model)


def test_two_inner_outer_terms_give_tau2_rho_gamma2_phi():
    rng = np.random.default_rng(1)
    rows = [
        {"study": f"s{s}", "outcome": o, "time": float(t), "yi": rng.normal(0.3, 0.3), "vi": 0.02}
        for s in range(8)
        for o in "ab"
        for t in (1, 2)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ketabridge.rma_mv(
            pd.DataFrame(rows), random=["~ outcome | study", "~ time | study"], struct=["HCS", "AR"]
        )
    components = result.components()
    assert list(components["term"]) == ["tau2.1", "tau2.2", "rho", "gamma2.1", "phi"]
    assert list(components["factor"][:2]) == ["a", "b"] and components["sqrt"].isna().tolist() == [
        False, False, True, False, True,
    ]  # fmt: skip
    assert 'struct = c("HCS", "AR")' in result.provenance.r_call
