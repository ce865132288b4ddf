"""rma_mv's fixed variance components (metafor's sigma2=, tau2=, rho=, gamma2=, phi=).

Expected values are independent computations: a model with a component fixed at 0 is the model
fitted without that random term (a separate rma_mv call: the same marginal model, so the same
estimates, likelihood and AIC); a model with every component fixed is generalized least squares,
computed here with numpy. Documented values (metadat's ?dat.assink2016 LRTs of sigma2=c(0,NA)
and c(NA,0)) are in tests/reference/multilevel/metadat_assink2016_doc.json.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import ketabridge
from ketabridge import InputError

pytestmark = pytest.mark.requires_r

THREE_LEVEL = "~ 1 | district/school"  # school is unique within district: the second level is the row
RTOL = 1e-5  # two optimizer runs of the same likelihood (metafor stops at rel.tol 1e-8 of the deviance)


@pytest.fixture(scope="module")
def fits(schools_by_era) -> dict:
    return {
        "three": ketabridge.rma_mv(schools_by_era, random=THREE_LEVEL),
        "no_district": ketabridge.rma_mv(schools_by_era, random=THREE_LEVEL, sigma2=[0, None]),
        "rows_only": ketabridge.rma_mv(schools_by_era, random="~ 1 | study"),  # study: one per row
        "no_school": ketabridge.rma_mv(schools_by_era, random=THREE_LEVEL, sigma2=np.array([np.nan, 0])),
        "districts_only": ketabridge.rma_mv(schools_by_era, random="~ 1 | district"),
        "cs_rho0": ketabridge.rma_mv(schools_by_era, random="~ era | district", rho=0, tau2=pd.NA),
        "id": ketabridge.rma_mv(schools_by_era, random="~ era | district", struct="ID"),
        "two_terms_gamma0": ketabridge.rma_mv(
            schools_by_era, random=["~ era | district", "~ factor(school) | district"], struct=["CS", "ID"], gamma2=0
        ),
        "cs": ketabridge.rma_mv(schools_by_era, random="~ era | district"),
    }


def _same_fit(first, second) -> None:
    a, b = first.glance().iloc[0], second.glance().iloc[0]
    for column in ("estimate", "std_error", "conf_low", "conf_high", "loglik", "aic", "bic", "q"):
        assert a[column] == pytest.approx(b[column], rel=RTOL, abs=1e-8), column


def _component(result, term: str) -> pd.Series:
    return result.components().set_index("term").loc[term]


@pytest.mark.parametrize(
    "fixed, reference, kept, dropped",
    [("no_district", "rows_only", "sigma2.2", "sigma2.1"), ("no_school", "districts_only", "sigma2.1", "sigma2.2")],
)
def test_a_level_fixed_at_zero_is_the_model_without_it(fits, fixed, reference, kept, dropped):
    _same_fit(fits[fixed], fits[reference])
    assert _component(fits[fixed], kept)["estimate"] == pytest.approx(
        _component(fits[reference], "sigma2.1")["estimate"], rel=RTOL
    )
    assert _component(fits[fixed], dropped)["fixed"] and _component(fits[fixed], dropped)["estimate"] == 0
    assert not _component(fits[fixed], kept)["fixed"]
    assert not fits["three"].components()["fixed"].any()


def test_the_call_shows_the_fixed_values_as_metafor_writes_them(fits):
    assert "sigma2 = c(0, NA)" in fits["no_district"].provenance.r_call
    assert "sigma2 = c(NA, 0)" in fits["no_school"].provenance.r_call


def test_lrt_counts_only_estimated_components(fits):
    """anova's df is metafor's parms (fixed components left out); the LRT is twice the difference
    of the log-likelihoods of the full model and of the model fitted without the term."""
    table = ketabridge.anova(fits["no_district"], fits["three"]).set_index("model")
    assert table.loc["full", "df"] == 3 and table.loc["reduced", "df"] == 2
    expected = 2 * (fits["three"].glance()["loglik"].iloc[0] - fits["rows_only"].glance()["loglik"].iloc[0])
    assert table.loc["reduced", "lrt"] == pytest.approx(expected, rel=RTOL)
    with pytest.raises(InputError, match="both have 2 parameters"):
        ketabridge.anova(fits["no_district"], fits["no_school"])


def test_rho_fixed_at_zero_is_the_id_structure(fits):
    _same_fit(fits["cs_rho0"], fits["id"])
    assert _component(fits["cs_rho0"], "rho")["fixed"] and _component(fits["cs_rho0"], "rho")["estimate"] == 0
    assert not _component(fits["cs_rho0"], "tau2.1")["fixed"]
    assert _component(fits["cs_rho0"], "tau2.1")["estimate"] == pytest.approx(
        _component(fits["id"], "tau2.1")["estimate"], rel=RTOL
    )


def test_gamma2_fixed_at_zero_drops_the_second_term(fits):
    _same_fit(fits["two_terms_gamma0"], fits["cs"])
    assert _component(fits["two_terms_gamma0"], "gamma2.1")["fixed"]
    for term in ("tau2.1", "rho"):
        assert _component(fits["two_terms_gamma0"], term)["estimate"] == pytest.approx(
            _component(fits["cs"], term)["estimate"], rel=RTOL, abs=1e-8
        )


def test_every_component_fixed_is_generalized_least_squares(schools_by_era):
    """beta = (X'M^-1 X)^-1 X'M^-1 y with M = diag(vi) + s1 Z Z' + s2 I (numpy), and metafor's
    restricted log-likelihood (with its REMLf constant 1/2 log|X'X|)."""
    s1, s2 = 0.05, 0.03
    result = ketabridge.rma_mv(schools_by_era, random=THREE_LEVEL, sigma2=[s1, s2])
    y, vi = schools_by_era["yi"].to_numpy(), schools_by_era["vi"].to_numpy()
    district = schools_by_era["district"].to_numpy()
    M = np.diag(vi) + s1 * (district[:, None] == district[None, :]) + s2 * np.eye(len(y))
    Minv = np.linalg.inv(M)
    X = np.ones((len(y), 1))
    information = X.T @ Minv @ X
    beta = np.linalg.solve(information, X.T @ Minv @ y)
    residual = y - X @ beta
    k, p = X.shape
    loglik = (
        -0.5 * (k - p) * np.log(2 * np.pi)
        + 0.5 * np.linalg.slogdet(X.T @ X)[1]
        - 0.5 * np.linalg.slogdet(M)[1]
        - 0.5 * np.linalg.slogdet(information)[1]
        - 0.5 * residual @ Minv @ residual
    )
    glance = result.glance().iloc[0]
    assert glance["estimate"] == pytest.approx(beta[0], rel=1e-10)
    assert glance["std_error"] == pytest.approx(np.sqrt(1 / information[0, 0]), rel=1e-10)
    assert glance["loglik"] == pytest.approx(loglik, rel=1e-10)
    assert result.components()["fixed"].all()
    assert list(result.components()["estimate"]) == [s1, s2]


def test_robust_and_pickle_keep_the_fixed_components(fits):
    fixed = ketabridge.robust(fits["no_district"], "district", clubsandwich=False).tidy().iloc[0]
    reference = ketabridge.robust(fits["rows_only"], "district", clubsandwich=False).tidy().iloc[0]
    assert fixed["std_error"] == pytest.approx(reference["std_error"], rel=RTOL)
    copy = pickle.loads(pickle.dumps(fits["no_district"]))
    assert not copy.spec.fixed["sigma2"].flags.writeable
    np.testing.assert_array_equal(copy.spec.fixed["sigma2"], [0, np.nan])


# ----------------------------------------------------------------------------- bad input, before R


@pytest.mark.parametrize(
    "change, message",
    [
        ({"sigma2": [0, None, None]}, "sigma2= has 3 values but the model has 2"),
        ({"sigma2": -0.1}, r"sigma2= fixes variances: every value must be >= 0"),
        ({"sigma2": [True, None]}, "sigma2= takes numbers"),
        ({"sigma2": "0"}, "sigma2= takes numbers"),
        ({"sigma2": "c(0, system('ls'))"}, "sigma2= takes numbers"),
        ({"sigma2": [float("inf"), None]}, "sigma2= value 0 is infinite"),
        ({"sigma2": []}, "sigma2= is empty"),
        ({"tau2": 0.1}, r"tau2= fixes variances of a first '~ inner \| outer' term \(tau2\), and random= has none"),
        ({"random": "~ era | district", "sigma2": 0}, "sigma2= fixes .* and random= has none"),
        ({"random": "~ era | district", "rho": 1.5}, r"rho= fixes correlations: every value must be in \[-1, 1\]"),
        ({"random": "~ era | district", "struct": "ID", "rho": 0.5}, "rho= cannot be fixed with struct='ID'"),
        ({"random": "~ year | district", "struct": "CAR", "rho": -0.2}, r"must be in \[0, 1\]"),
        ({"random": "~ era | district", "struct": "UN", "rho": [0.1, 0.2]}, "rho= has 2 values but the model has 1"),
        ({"random": "~ factor(era) | district", "struct": "HCS", "tau2": [0.1, 0.2, 0.3]}, "has 3 values .* has 2"),
        ({"random": "~ era | district", "phi": 0.5}, "phi= fixes .* second"),
        ({"random": ["~ era | district", "~ factor(school) | district"], "gamma2": -1}, "gamma2= fixes variances"),
    ],
)
def test_bad_fixed_values_are_refused_before_r(schools_by_era, change, message, monkeypatch):
    from ketabridge.analyses import multilevel

    monkeypatch.setattr(multilevel, "call_entry", lambda *a, **k: pytest.fail("R was called"))
    arguments = {"random": THREE_LEVEL, **change}
    with pytest.raises(InputError, match=message):
        ketabridge.rma_mv(schools_by_era, **arguments)
