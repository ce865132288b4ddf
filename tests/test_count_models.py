"""rma_mh, rma_peto, rma_glmm, rma's escalc shortcut and pool_proportions' GLMM row.

Expected values: metafor's documented examples (?rma.mh, ?rma.peto, ?rma.glmm) and Stijnen,
Hamza & Ozdemir (2010), one JSON per source in tests/reference/counts/; agreement with metafor
run directly in a separate Rscript process (tests/rscript/direct_counts.R) on random 2x2 tables
and person-time with many zero cells; ordinary least squares by numpy for rma(yi, 0); the
partial-correlation formulas of ?escalc by numpy for negative t statistics.
"""

from __future__ import annotations

import functools
import json
import math
import pickle
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from property_direct import HYPOTHESIS, RTOL, run_rscript

import ketabridge
from ketabridge import schema
from ketabridge.analyses.glmm import glmm_packages, require_r_packages

REFERENCE = Path(__file__).parent / "reference" / "counts"
SOURCES = sorted(REFERENCE.glob("*.json"))
DIRECT_COUNTS = Path(__file__).parent / "rscript" / "direct_counts.R"
TRANSFORMS = {"exp": math.exp, "ilogit": lambda x: 1 / (1 + math.exp(-x)), "sqrt": math.sqrt}


def _cases():
    for path in SOURCES:
        source = json.loads(path.read_text())
        for analysis in source["analyses"]:
            yield pytest.param(source, analysis, id=f"{source['id']}: {analysis['name']}")


def _data(source: dict, analysis: dict) -> pd.DataFrame:
    data = pd.DataFrame(source[analysis.get("data", "data")])
    for column, factor in analysis.get("scale", {}).items():
        data[column] = data[column] * factor
    return data


@pytest.mark.requires_r
@pytest.mark.filterwarnings("ignore::UserWarning")  # metafor's "experimental measure", drop00's missing yi
@pytest.mark.parametrize("source, analysis", list(_cases()))
def test_documented_and_published_values(source, analysis):
    documented = analysis.get("documented_with", {})
    if "lme4" in documented and _lme4_major() != documented["lme4"]:
        pytest.skip(f"printed with lme4 {documented['lme4']}.x, this R has lme4 {_lme4_version()}: {documented['why']}")
    function = getattr(ketabridge, analysis["call"])
    glance = function(_data(source, analysis), **analysis["args"]).glance().iloc[0]
    failures = []
    for check in analysis["expect"]:
        actual = TRANSFORMS.get(check.get("transform"), float)(float(glance[check["column"]]))
        allowed = 0.5 * 10 ** -check["decimals"]  # half a unit in the last printed decimal (see the JSON)
        if not abs(actual - check["value"]) <= allowed * (1 + 1e-9):
            failures.append(f"{check['column']} ({check.get('transform', '')}): {actual!r} vs {check['value']}")
    assert not failures, f"{source['citation']} ({source['where']}), {analysis['r_call']}:\n" + "\n".join(failures)


@functools.cache
def _lme4_version() -> str:
    code = 'cat(as.character(packageVersion("lme4")))'
    return subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True, timeout=60).stdout


def _lme4_major() -> str:
    return _lme4_version().split(".")[0]


def test_every_count_source_is_cited_and_covers_each_function():
    called = set()
    for path in SOURCES:
        source = json.loads(path.read_text())
        for key in ("citation", "where", "metafor_version_checked", "tolerance", "data", "analyses"):
            assert source.get(key), f"{path.name} lacks {key}"
        called |= {analysis["call"] for analysis in source["analyses"]}
    assert called == {"rma_mh", "rma_peto", "rma_glmm", "rma"}
    models = {
        analysis["args"].get("model", "UM.FS")
        for path in SOURCES
        for analysis in json.loads(path.read_text())["analyses"]
        if analysis["call"] == "rma_glmm"
    }
    assert models == {"UM.FS", "UM.RS", "CM.EL", "CM.AL"}


# --- result shape, provenance, pickling ------------------------------------------------------

BCG = pd.DataFrame(json.loads((REFERENCE / "metafor_rma_mh_bcg.json").read_text())["data"])
TABLES = dict(ai="tpos", bi="tneg", ci="cpos", di="cneg")
BCG_ABLAT = [44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33]  # metadat's dat.bcg$ablat


@pytest.fixture(scope="module")
def mh():
    return ketabridge.rma_mh(BCG, "OR", **TABLES, slab="study")


@pytest.mark.requires_r
def test_result_has_the_fixed_schemas_and_provenance(mh):
    assert dict(mh.glance().dtypes.astype(str)) == schema.COUNT_GLANCE
    assert dict(mh.tidy().dtypes.astype(str)) == schema.TIDY
    assert dict(mh.augment().dtypes.astype(str)) == schema.COUNT_AUGMENT
    assert list(mh.augment()["study"]) == list(BCG["study"])
    assert mh.provenance.r_call.startswith("rma.mh(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat")
    assert mh.provenance.metafor_version
    # weights in percent, as metafor's weights.rma.mh: they sum to 100
    assert mh.augment()["weight"].sum() == pytest.approx(100)
    again = pickle.loads(pickle.dumps(mh))
    pd.testing.assert_frame_equal(again.glance(), mh.glance())
    with pytest.raises(AttributeError):
        mh.kind = "x"


# --- zero cells --------------------------------------------------------------------------------

SMALL = pd.DataFrame(
    {
        "study": ["A", "B", "C", "D"],
        "ai": [4, 6, 3, 10],
        "bi": [96, 94, 97, 90],
        "ci": [8, 9, 7, 12],
        "di": [92, 91, 93, 88],
    }
)
COUNTS = dict(ai="ai", bi="bi", ci="ci", di="di")


def _with(**columns) -> pd.DataFrame:
    return SMALL.assign(**{name: values for name, values in columns.items()})


@pytest.mark.requires_r
@pytest.mark.parametrize("measure", ["OR", "RR", "RD"])
def test_a_double_zero_study_is_named_never_dropped_silently(measure):
    data = _with(ai=[0, 6, 3, 10], ci=[0, 9, 7, 12])
    with pytest.warns(ketabridge.ZeroCellWarning, match=r"1 study has no events .* \('A'; row 0\)"):
        result = ketabridge.rma_mh(data, measure, **COUNTS, slab="study")
    studies = result.augment().set_index("study")
    assert studies.loc["A", "zero_cells"] == "double" and np.isnan(studies.loc["A", "yi"])
    # OR and RR give the table no Mantel-Haenszel weight; the risk difference keeps it
    assert studies.loc["A", "used"] == (measure == "RD")
    assert result.glance().loc[0, "k_yi"] == 3 and result.glance().loc[0, "k"] == 4


@pytest.mark.requires_r
def test_the_glmm_names_the_double_zero_study_it_leaves_out():
    data = _with(ai=[0, 6, 3, 10], ci=[0, 9, 7, 12])
    with pytest.warns(ketabridge.ZeroCellWarning, match="'A'; row 0.*leaves them out of the model fit"):
        result = ketabridge.rma_glmm(data, "OR", **COUNTS, slab="study", method="EE")
    assert result.glance().loc[0, "k"] == 3
    assert not result.augment().set_index("study").loc["A", "used"]


@pytest.mark.requires_r
def test_one_arm_zero_studies_stay_in_every_fit():
    data = _with(ai=[0, 6, 3, 10])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ketabridge.ZeroCellWarning)  # nothing dropped: nothing to name
        for result in (ketabridge.rma_mh(data, "OR", **COUNTS), ketabridge.rma_peto(data, **COUNTS)):
            studies = result.augment()
            assert studies["used"].all() and studies.loc[0, "zero_cells"] == "single"


@pytest.mark.requires_r
@pytest.mark.parametrize("measure", ["OR", "RR"])
def test_no_event_in_one_arm_of_every_study_is_a_clear_error(measure):
    # metafor's rma.mh returns NA here (an odds or risk ratio of 0); ketabridge says why
    with pytest.raises(ketabridge.InputError, match=r"column 'ai' is 0 in every row \(rows 0, 1, 2, 3\)"):
        ketabridge.rma_mh(_with(ai=[0, 0, 0, 0]), measure, **COUNTS)


@pytest.mark.requires_r
def test_no_event_in_one_arm_peto_gives_metafors_result_and_the_glmm_its_error():
    data = _with(ai=[0, 0, 0, 0])
    peto = ketabridge.rma_peto(data, **COUNTS).glance().loc[0]
    assert np.isfinite(peto["estimate"]) and peto["estimate"] < 0  # checked against Rscript in the property test
    with pytest.raises(ketabridge.MetaforError, match="Cannot fit ML model"):
        ketabridge.rma_glmm(data, "OR", **COUNTS)


@pytest.mark.requires_r
@pytest.mark.parametrize("call", ["rma_mh", "rma_peto", "rma_glmm"])
def test_no_event_at_all_is_refused(call):
    args = ("OR",) if call != "rma_peto" else ()
    with pytest.raises(ketabridge.InputError, match="no study has an event"):
        getattr(ketabridge, call)(_with(ai=[0, 0, 0, 0], ci=[0, 0, 0, 0]), *args, **COUNTS)


@pytest.mark.requires_r
def test_bad_counts_are_refused_before_r():
    with pytest.raises(ketabridge.InputError, match=r"column 'ai' must be >= 0, but row 2 is not"):
        ketabridge.rma_mh(_with(ai=[4, 6, -3, 10]), **COUNTS)
    with pytest.raises(ketabridge.InputError, match="give the count columns as one of: ai, bi, ci, di | ai, ci, n1i"):
        ketabridge.rma_mh(SMALL, ai="ai", bi="bi", ci="ci")
    with pytest.raises(ketabridge.InputError, match="column 'ai' is larger than 'n1' in row 1"):
        ketabridge.rma_peto(SMALL.assign(n1=[100, 5, 100, 100], n2=100), ai="ai", ci="ci", n1i="n1", n2i="n2")
    with pytest.raises(ketabridge.InputError, match="add takes one value or two"):
        ketabridge.rma_mh(SMALL, **COUNTS, add=[0.5, 0, 1])
    with pytest.raises(ketabridge.InputError, match="unknown model 'UM'"):
        ketabridge.rma_glmm(SMALL, "OR", **COUNTS, model="UM")


# --- R packages the GLMMs need ----------------------------------------------------------------


def test_glmm_packages_follow_metaforrs_own_checks():
    assert glmm_packages("OR", "UM.FS", "ML") == ("lme4",)
    assert glmm_packages("OR", "UM.FS", "EE") == ()
    assert glmm_packages("OR", "UM.RS", "EE") == ("lme4",)
    assert glmm_packages("OR", "CM.EL", "ML") == ("lme4", "numDeriv", "BiasedUrn")
    assert glmm_packages("IRR", "CM.EL", "ML") == ("lme4",)
    assert glmm_packages("PLO", "UM.FS", "ML") == ("lme4",)


@pytest.mark.requires_r
def test_a_missing_r_package_is_named():
    require_r_packages(("lme4", "BiasedUrn", "numDeriv"), "rma.glmm")  # installed by make setup
    with pytest.raises(ketabridge.RNotAvailableError, match="needs the R package 'kbNoSuchPackage'") as caught:
        require_r_packages(("lme4", "kbNoSuchPackage"), "rma.glmm")
    assert "lme4" not in str(caught.value).split("needs")[1].split(",")[0]


# --- rma's escalc shortcut, negative t statistics, vi = 0 -------------------------------------


@pytest.mark.requires_r
def test_rma_with_counts_but_no_measure_is_refused():
    with pytest.raises(ketabridge.InputError, match="no measure"):
        ketabridge.rma(SMALL, **COUNTS)


@pytest.mark.requires_r
def test_rma_with_counts_shows_both_steps_in_its_provenance():
    result = ketabridge.rma(BCG, measure="RR", **TABLES)
    call = result.provenance.r_call
    assert call.startswith("dat <- escalc(") and "\nrma.uni(yi = yi, vi = vi" in call
    by_hand = ketabridge.rma(ketabridge.escalc("RR", BCG, **TABLES))
    pd.testing.assert_frame_equal(result.glance(), by_hand.glance())


ALOE = pd.DataFrame(  # metadat's dat.aloe2013, rows 1-5 (row 4 has t = -0.77)
    {"n": [218, 232, 156, 382, 259], "tval": [4.61, 6.19, 4.07, -0.77, 1.16], "preds": [4, 7, 6, 19, 15]}
)


PARTIAL = ("PCOR", "ZPCOR", "SPCOR")


@pytest.fixture(scope="module")
def partial_by_metafor() -> dict[str, np.ndarray]:
    """metafor's escalc run directly in a separate Rscript: (yi, vi) per measure. Its formulas
    changed in 4.0 and 4.4, so the expectation is the lane's own metafor, not a formula here."""
    fits = "; ".join(
        f"e <- escalc(measure='{m}', ti=tval, ni=n, mi=preds, {'r2i=r2, ' if m == 'SPCOR' else ''}data=d); "
        "cat(sprintf('%a', c(e$yi, e$vi)), '\\n')"
        for m in PARTIAL
    )
    code = (
        "suppressMessages(library(metafor)); d <- data.frame(n=c(218,232,156,382,259), "
        f"tval=c(4.61,6.19,4.07,-0.77,1.16), preds=c(4,7,6,19,15), r2=c(0.240,0.455,0.500,0.327,0.117)); {fits}"
    )
    printed = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True, timeout=120).stdout
    lines = printed.strip().splitlines()
    return {m: np.array([float.fromhex(v) for v in line.split()]).reshape(2, -1) for m, line in zip(PARTIAL, lines)}


@pytest.mark.requires_r
@pytest.mark.parametrize("measure", PARTIAL)
def test_partial_correlations_take_negative_t_statistics(measure, partial_by_metafor):
    data = ALOE.assign(r2=[0.240, 0.455, 0.500, 0.327, 0.117])
    columns = dict(ti="tval", ni="n", mi="preds", **({"r2i": "r2"} if measure == "SPCOR" else {}))
    effects = ketabridge.escalc(measure, data, **columns)
    expected = partial_by_metafor[measure]
    np.testing.assert_allclose(effects["yi"], expected[0], rtol=RTOL)
    np.testing.assert_allclose(effects["vi"], expected[1], rtol=RTOL)
    assert effects.loc[3, "yi"] < 0


@pytest.mark.requires_r
@pytest.mark.filterwarnings("ignore::ketabridge.MetaforWarning")  # metafor warns about vi = 0
def test_rma_with_zero_variances_is_ordinary_least_squares():
    rng = np.random.default_rng(15)
    data = pd.DataFrame({"yi": rng.normal(0.3, 0.2, 9), "x": rng.normal(size=9)}).assign(vi=0.0)
    result = ketabridge.rma(data, mods=["x"], test="t").tidy()
    X = np.column_stack([np.ones(9), data["x"]])  # numpy's least squares, independent of metafor
    beta, residual, *_ = np.linalg.lstsq(X, data["yi"], rcond=None)
    se = np.sqrt(np.diag(residual[0] / (9 - 2) * np.linalg.inv(X.T @ X)))
    np.testing.assert_allclose(result["estimate"], beta, rtol=1e-6)
    np.testing.assert_allclose(result["std_error"], se, rtol=1e-6)
    with pytest.raises(ketabridge.InputError, match=r"must be >= 0, but row 1 is not \(-0.1\)"):
        ketabridge.rma(data.assign(vi=[0.0, -0.1] + [0.0] * 7))


# --- pool_proportions' GLMM row -----------------------------------------------------------------


@pytest.mark.requires_r
@pytest.mark.filterwarnings("ignore::ketabridge.ProportionWarning")
def test_pool_proportions_glmm_row_is_stijnen_table_ii():
    source = json.loads((REFERENCE / "stijnen2010.json").read_text())
    table = ketabridge.pool_proportions(pd.DataFrame(source["data"]), "ci", "n2i").tidy()
    glmm = table[table["method"] == "GLMM"].iloc[0]
    # Stijnen et al. (2010), Table II p. 3050, binomial-normal model, control group
    assert (glmm["measure"], glmm["transform"], glmm["corrected"]) == ("PLO", "ilogit", 0)
    for column, value in (("model_estimate", -3.4964), ("model_std_error", 0.2570), ("tau2", 0.8124)):
        assert abs(glmm[column] - value) <= 0.5e-4
    for column, value in (("estimate", 0.0294), ("conf_low", 0.0180), ("conf_high", 0.0478)):
        assert abs(glmm[column] - value) <= 0.5e-4
    assert len(ketabridge.pool_proportions(pd.DataFrame(source["data"]), "ci", "n2i", glmm=False).tidy()) == 4


# --- property: metafor run directly, on random counts with many zeros -------------------------

CALLS = {
    "MH-OR": ("rma_mh", "OR"),
    "MH-RR": ("rma_mh", "RR"),
    "MH-RD": ("rma_mh", "RD"),
    "MH-IRR": ("rma_mh", "IRR"),
    "MH-IRD": ("rma_mh", "IRD"),
    "PETO": ("rma_peto", None),
}


@st.composite
def count_tables(draw):
    k = draw(st.integers(2, 7))
    risk1, risk2 = draw(st.sampled_from([0.0, 0.02, 0.1, 0.3])), draw(st.sampled_from([0.0, 0.02, 0.1, 0.3]))
    n1 = draw(st.lists(st.integers(5, 60), min_size=k, max_size=k))
    n2 = draw(st.lists(st.integers(5, 60), min_size=k, max_size=k))
    ai = [draw(st.integers(0, max(0, round(n * risk1 * 2)))) for n in n1]
    ci = [draw(st.integers(0, max(0, round(n * risk2 * 2)))) for n in n2]
    ai, ci = [min(a, n) for a, n in zip(ai, n1)], [min(c, n) for c, n in zip(ci, n2)]
    return pd.DataFrame(
        {"ai": ai, "bi": np.subtract(n1, ai), "ci": ci, "di": np.subtract(n2, ci), "x1i": ai, "x2i": ci}
    ).assign(t1i=n1, t2i=n2)


@pytest.mark.requires_r
@settings(max_examples=2, **HYPOTHESIS)
@given(tables=st.lists(count_tables(), min_size=6, max_size=6))
def test_count_models_match_metafor_run_directly(tables):
    """Each ketabridge fit equals metafor's in a separate Rscript, or is a clear error where
    metafor gives no estimate (NA) or stops; never a crash, never a silent NaN."""
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder, "in.csv"), Path(folder, "out.csv")
        pd.concat([table.assign(id=i) for i, table in enumerate(tables)]).to_csv(source, index=False)
        run_rscript(DIRECT_COUNTS, source, out)
        direct = pd.read_csv(out, keep_default_na=False)
    for row in direct.itertuples():
        function, measure = CALLS[row.call]
        data = tables[row.id]
        args = (measure,) if measure else ()
        columns = dict(x1i="x1i", x2i="x2i", t1i="t1i", t2i="t2i") if row.call in ("MH-IRR", "MH-IRD") else COUNTS
        expected = {name: float.fromhex(getattr(row, name)) if getattr(row, name) != "NA" else math.nan
                    for name in ("estimate", "se", "ci_lb", "ci_ub", "q", "cmh", "tarone")}  # fmt: skip
        where = f"{row.call} on {data.to_dict(orient='list')}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                glance = getattr(ketabridge, function)(data, *args, **columns).glance().iloc[0]
        except (ketabridge.InputError, ketabridge.MetaforError) as error:
            # a clear error only where metafor gives no usable estimate (NA, or a zero standard error)
            assert not row.ok or not np.isfinite(expected["estimate"]) or expected["se"] == 0, f"{where}: {error}"
            continue
        assert row.ok, f"{where}: metafor stopped ({row.error}) but ketabridge gave a result"
        pairs = {"estimate": "estimate", "std_error": "se", "conf_low": "ci_lb", "conf_high": "ci_ub", "q": "q",
                 "cmh": "cmh", "tarone": "tarone"}  # fmt: skip
        for ours, theirs in pairs.items():
            a, b = float(glance[ours]), expected[theirs]
            assert (np.isnan(a) and np.isnan(b)) or abs(a - b) <= RTOL * max(1.0, abs(b)), f"{where}: {ours} {a} vs {b}"


@pytest.mark.requires_r
def test_drop00_for_the_pooling_leaves_the_double_zero_study_out_and_says_so():
    data = _with(ai=[0, 6, 3, 10], ci=[0, 9, 7, 12])
    with pytest.warns(ketabridge.ZeroCellWarning, match="leaves them out of the Mantel-Haenszel computation"):
        result = ketabridge.rma_mh(data, "RD", **COUNTS, drop00=[True, True], slab="study")
    assert result.glance().loc[0, "k"] == 3  # metafor's k after drop00 = c(TRUE, TRUE)
    assert not result.augment().set_index("study").loc["A", "used"]


@pytest.mark.requires_r
@pytest.mark.filterwarnings("ignore:Not possible to fit RE/ME model='UM.RS' with nAGQ > 1")  # metafor's own, as in R
@pytest.mark.parametrize("model, mods", [("CM.AL", ["ablat"]), ("UM.RS", []), ("CM.AL", []), ("UM.FS", [])])
def test_glmm_matches_metafor_run_directly(model, mods):
    """Whatever lme4 this R has (the documented values hold for lme4 1.x only), ketabridge gives
    the numbers metafor gives."""
    result = ketabridge.rma_glmm(BCG.assign(ablat=BCG_ABLAT), "OR", **TABLES, model=model, mods=mods)
    # the same call in a separate Rscript process (plain metafor, dat.bcg)
    formula = "~ablat" if mods else "~1"
    code = (
        "suppressMessages(library(metafor)); r <- rma.glmm(measure='OR', ai=tpos, bi=tneg, ci=cpos, di=cneg, "
        f"mods={formula}, data=dat.bcg, model='{model}'); "
        "cat(sprintf('%a', c(r$beta, r$se, r$tau2, r$QE.Wld, r$QE.LRT)))"
    )
    printed = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True, timeout=120).stdout
    expected = [float.fromhex(value) for value in printed.split()]
    tidy, glance = result.tidy(), result.glance().iloc[0]
    assert list(tidy["term"]) == ["intrcpt", *mods]
    ours = [*tidy["estimate"], *tidy["std_error"], glance["tau2"], glance["q"], glance["q_lrt"]]
    np.testing.assert_allclose(ours, expected, rtol=1e-6)  # lme4's optimizer, run twice: same to 1e-6


@pytest.mark.requires_r
@pytest.mark.filterwarnings("ignore::ketabridge.MetaforWarning")
def test_batch_fast_engine_hands_zero_variance_analyses_to_metafor():
    rng = np.random.default_rng(7)
    data = pd.DataFrame(
        {"id": ["zero"] * 6 + ["plain"] * 6, "yi": rng.normal(0.3, 0.2, 12), "vi": [0.0] * 6 + [0.02] * 6}
    )
    result = ketabridge.batch(data, by="id", workers=0, engine="fast", progress=False)
    status = result.status().set_index("analysis_id")
    assert status.loc["zero", "engine"] == "metafor" and status.loc["zero", "status"] != "error"
    assert status.loc["plain", "engine"] == "fast"
    zero = data[data["id"] == "zero"]["yi"]  # vi = 0 under REML: the mean and its OLS standard error
    glance = result.glance().set_index("analysis_id").loc["zero"]
    assert glance["estimate"] == pytest.approx(zero.mean(), rel=1e-6)
    assert glance["std_error"] == pytest.approx(zero.std(ddof=1) / np.sqrt(6), rel=1e-6)


@pytest.mark.requires_r
def test_glmm_provenance_names_the_lme4_it_fitted_with():
    # lme4 2.x gives other UM.RS numbers than lme4 1.x (see documented_with in the reference JSONs)
    result = ketabridge.rma_glmm(BCG, "OR", **TABLES, model="UM.FS")
    assert dict(result.provenance.r_packages) == {"lme4": _lme4_version()}  # as Rscript reports it
    assert result.to_dict()["provenance"]["r_packages"] == {"lme4": _lme4_version()}
    assert ketabridge.rma_mh(BCG, "OR", **TABLES).provenance.r_packages == ()  # metafor alone
