"""The fast Paule-Mandel estimator against R itself: uniroot() and metafor 3.8-1's rma.uni(method="PM").

Expected values come from two independent sources and no number is written down here:
- R 4.2.2's stats::uniroot(), run in its own Rscript process on the same functions and brackets
  (inputs cross as C99 hex floats, so both sides see bit-identical numbers): the replayed zeroin
  must give the very same root, bit for bit, the same iteration count and the same warning.
- metafor through the bridge: ketabridge.batch(..., method="PM") for intercept-only models (glance
  column tau2; status and message for failures) and ketabridge.rma(..., mods=...) for the model
  with one moderator that regtest(model="rma") and trimfill's side choice fit.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import ketabridge
from ketabridge.fast import paule_mandel as pm_module
from ketabridge.fast.paule_mandel import paule_mandel
from ketabridge.fast.zeroin import not_converged_warning, uniroot_error, zeroin

# The fast engine's bar for iterative estimators. metafor's uniroot stops at tol ~ 1.2e-4, so only the
# same steps can meet it; what is left is Q's round-off (numpy's sums vs R's matrix products),
# which moves the root by ~1e-15 relative, ~1e-12 where tau2 is as small as one tolerance step.
RTOL = 1e-10

HYPOTHESIS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

pytestmark = [pytest.mark.filterwarnings("ignore::ketabridge.MetaforWarning")]


def worst_relative(fast: np.ndarray, metafor: np.ndarray) -> float:
    """max |fast - metafor| / |metafor| over rows; NaN (failed) rows must coincide; 0 must be exactly 0."""
    fast, metafor = np.asarray(fast, dtype=float), np.asarray(metafor, dtype=float)
    assert np.array_equal(np.isnan(fast), np.isnan(metafor)), "failed analyses differ"
    ok = ~np.isnan(metafor)
    gap = np.abs(fast[ok] - metafor[ok])
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(gap == 0, 0.0, gap / np.abs(metafor[ok]))
    return float(relative.max(initial=0.0))


# ----------------------------------------------------------------------------- zeroin vs uniroot

UNIROOT_R = r"""
args <- commandArgs(TRUE)
d <- read.csv(args[1], colClasses = "character")
lines <- vapply(seq_len(nrow(d)), function(i) {
  r <- as.numeric(d$r[i]); s <- as.numeric(d$s[i])
  f <- switch(as.integer(d$family[i]) + 1L,
              function(x) (x - r) * (s + x * x),
              function(x) x * x * x - r,
              function(x) 1 / (x + s) - r)
  warned <- ""; failed <- ""
  res <- withCallingHandlers(
    tryCatch(uniroot(f, c(as.numeric(d$lower[i]), as.numeric(d$upper[i])),
                     tol = as.numeric(d$tol[i]), maxiter = as.integer(d$maxiter[i])),
             error = function(e) { failed <<- conditionMessage(e); NULL }),
    warning = function(w) { warned <<- conditionMessage(w); invokeRestart("muffleWarning") })
  if (is.null(res)) return(paste("NA", "NA", warned, failed, sep = "|"))
  paste(sprintf("%a", res$root), res$iter, warned, failed, sep = "|")
}, character(1))
writeLines(lines, args[2])
"""


def _functions(family, r, s):
    """The three test functions, with the same floating-point operations as UNIROOT_R's."""

    def f(x):
        with np.errstate(all="ignore"):
            return np.where(family == 0, (x - r) * (s + x * x), np.where(family == 1, x * x * x - r, 1 / (x + s) - r))

    return f


def _uniroot_problems(seed: int, count: int) -> pd.DataFrame:
    """Smooth functions with known roots x0: (x - x0)(s + x^2), x^3 - x0^3, 1/(x + s) - 1/(x0 + s)."""
    rng = np.random.default_rng(seed)
    family = rng.integers(0, 3, count)
    x0 = rng.uniform(0.5, 5, count)
    s = rng.uniform(0.1, 2, count)
    r = np.select([family == 0, family == 1], [x0, x0 * x0 * x0], 1 / (x0 + s))
    lower = x0 - rng.uniform(0.01, 0.49, count) * np.where(family == 2, x0, 10 * rng.uniform(0, 1, count) + 0.1)
    upper = x0 + 10 ** rng.uniform(-2, 1.5, count)
    lower[:4] = np.where(family[:4] == 0, x0[:4], lower[:4])  # f(lower) == 0: a root at the endpoint
    # some brackets that miss the root: uniroot must refuse them
    miss = rng.uniform(0, 1, count) < 0.05
    lower[miss], upper[miss] = x0[miss] + 1, x0[miss] + 2
    tol = 10 ** rng.uniform(-12, -1, count)
    maxiter = rng.choice([1, 2, 3, 5, 1000], count, p=[0.1, 0.1, 0.1, 0.1, 0.6])
    return pd.DataFrame(
        {"family": family, "r": r, "s": s, "lower": lower, "upper": upper, "tol": tol, "maxiter": maxiter}
    )


def _run_uniroot(problems: pd.DataFrame) -> pd.DataFrame:
    with tempfile.TemporaryDirectory(prefix="kb-uniroot-") as folder:
        folder = Path(folder)
        script = folder / "uniroot.R"
        script.write_text(UNIROOT_R)
        hexed = problems.copy()
        for column in ("r", "s", "lower", "upper", "tol"):
            hexed[column] = [float(v).hex() for v in problems[column]]
        hexed.to_csv(folder / "in.csv", index=False)
        done = subprocess.run(
            ["Rscript", str(script), str(folder / "in.csv"), str(folder / "out.txt")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        lines = (folder / "out.txt").read_text().splitlines()
    fields = [line.split("|") for line in lines]
    return pd.DataFrame(
        {
            "root": [np.nan if f[0] == "NA" else float.fromhex(f[0]) for f in fields],
            "iter": [-1 if f[1] == "NA" else int(f[1]) for f in fields],
            "warning": [f[2] for f in fields],
            "error": [f[3] for f in fields],
        }
    )


@pytest.mark.requires_r
def test_zeroin_takes_uniroots_steps():
    problems = _uniroot_problems(seed=20240607, count=240)
    expected = _run_uniroot(problems)
    family, r, s = (problems[c].to_numpy() for c in ("family", "r", "s"))
    lower, upper = problems["lower"].to_numpy(), problems["upper"].to_numpy()
    f = _functions(family, r, s)
    f_lower, f_upper = f(lower), f(upper)

    errors = uniroot_error(lower, upper, f_lower, f_upper)
    assert errors.tolist() == expected["error"].tolist()
    assert (errors != "").sum() >= 3, "the seed should include brackets that miss the root"

    valid = errors == ""
    for maxiter in np.unique(problems["maxiter"][valid]):  # zeroin takes one maxiter per call
        rows = np.flatnonzero(valid & (problems["maxiter"].to_numpy() == maxiter))
        for tol in np.unique(problems["tol"].to_numpy()[rows]):  # and one tol
            at = rows[problems["tol"].to_numpy()[rows] == tol]
            g = _functions(family[at], r[at], s[at])
            root, iterations, converged = zeroin(g, lower[at], upper[at], f_lower[at], f_upper[at], tol, int(maxiter))
            want = expected.iloc[at]
            assert root.tolist() == want["root"].tolist(), f"roots differ at rows {at}"
            assert iterations.tolist() == want["iter"].tolist()
            warning = np.where(converged, "", not_converged_warning(int(maxiter)))
            assert warning.tolist() == want["warning"].tolist()
    assert (expected["warning"] != "").sum() >= 10, "the seed should include runs that hit maxiter"
    assert (expected["iter"] == 0).sum() >= 1, "the seed should include a root at an endpoint"


def test_zeroin_leaves_finished_rows_alone():
    """Rows that finish early are evaluated with the others but keep their root."""
    r = np.array([1.0, 2.0, 3.0])
    f = _functions(np.zeros(3, dtype=int), r, np.ones(3))
    lower, upper = np.array([1.0, 0.0, 0.0]), np.array([5.0, 5.0, 50.0])  # row 0: root at lower
    root, iterations, converged = zeroin(f, lower, upper, f(lower), f(upper), 1e-10, 1000)
    assert root[0] == 1.0 and iterations[0] == 0
    assert converged.all() and iterations[2] > iterations[1] > 0
    assert np.allclose(root, r, atol=1e-9)


# ----------------------------------------------------------------------------- PM vs metafor

SCENARIOS = ("homogeneous", "moderate", "large", "huge", "outlier")


def make_dataset(n: int, scenario: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """yi, vi of one analysis. vi spans 3 orders of magnitude (below metafor's ratio warning).

    homogeneous: scatter well inside the sampling error (tau2 = 0 mostly); moderate / large:
    tau2 1e-2..1 and 1..1e3; huge: yi in the millions (tau2.max adapts, 10 mad^2); outlier:
    homogeneous studies and one far away, so that Q(tau2.max) > k - 1 ("tau2.max too low").
    """
    rng = np.random.default_rng(seed)
    vi = 10 ** rng.uniform(-2, 1, n)
    mu = rng.uniform(-2, 2)
    z = rng.standard_normal(n)
    if scenario == "homogeneous":
        yi = mu + 0.3 * z * np.sqrt(vi)
    elif scenario in ("moderate", "large"):
        tau2 = 10 ** (rng.uniform(-2, 0) if scenario == "moderate" else rng.uniform(0, 3))
        yi = mu + z * np.sqrt(vi + tau2)
    elif scenario == "huge":
        yi = mu * 1e6 + 10 ** rng.uniform(3, 6) * z
    else:
        yi = mu + 0.1 * z * np.sqrt(vi)
        yi[rng.integers(n)] = rng.choice([-1, 1]) * 10 ** rng.uniform(2, 6)
    return yi, vi


def metafor_batch(datasets: list[tuple[np.ndarray, np.ndarray]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """metafor's PM fits through the bridge: glance and status, indexed by position."""
    long = pd.DataFrame(
        {
            "id": np.repeat(np.arange(len(datasets)), [len(y) for y, _ in datasets]),
            "yi": np.concatenate([y for y, _ in datasets]),
            "vi": np.concatenate([v for _, v in datasets]),
        }
    )
    result = ketabridge.batch(long, "id", method="PM", workers=0, progress=False)
    glance = result.glance().set_index("analysis_id").reindex(range(len(datasets)))
    status = result.status().set_index("analysis_id").reindex(range(len(datasets)))
    return glance, status


def fast_pm(datasets: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, list]:
    """paule_mandel on the datasets bucketed by k (the fast path's dense layout), back in input order."""
    out = {
        "tau2": [np.nan] * len(datasets),
        "status": [""] * len(datasets),
        "message": [""] * len(datasets),
        "needs_metafor": [False] * len(datasets),
    }
    sizes = np.array([len(y) for y, _ in datasets])
    for k in np.unique(sizes):
        rows = np.flatnonzero(sizes == k)
        fit = paule_mandel(np.array([datasets[i][0] for i in rows]), np.array([datasets[i][1] for i in rows]))
        for j, i in enumerate(rows):
            out["tau2"][i] = fit.tau2[j]
            out["status"][i] = "error" if fit.errors[j] else ("warning" if fit.warnings[j] else "ok")
            out["message"][i] = "; ".join(([fit.errors[j]] if fit.errors[j] else []) + list(fit.warnings[j]))
            out["needs_metafor"][i] = bool(fit.needs_metafor[j])
    return out


def compare_with_metafor(datasets) -> float:
    """Assert identical failures and messages; return the worst relative tau2 difference."""
    glance, status = metafor_batch(datasets)
    fast = fast_pm(datasets)
    assert not any(fast["needs_metafor"])
    assert fast["status"] == status["status"].tolist()
    assert fast["message"] == status["message"].fillna("").tolist()
    return worst_relative(np.array(fast["tau2"]), glance["tau2"].to_numpy(dtype=float))


@st.composite
def pm_batches(draw):
    sets = draw(
        st.lists(
            st.tuples(st.integers(2, 30), st.sampled_from(SCENARIOS), st.integers(0, 2**32 - 1)),
            min_size=25,
            max_size=40,
        )
    )
    return [make_dataset(*spec) for spec in sets]


@pytest.mark.requires_r
@settings(max_examples=20, **HYPOTHESIS)
@given(pm_batches())
def test_pm_matches_metafor_on_random_batches(datasets):
    assert compare_with_metafor(datasets) <= RTOL


@pytest.fixture(scope="module")
def fixed_collection():
    """Every scenario at several k, seeded: the planted-error test needs searches that matter."""
    datasets = [
        make_dataset(n, scenario, seed)
        for seed, (n, scenario) in enumerate((n, s) for n in (2, 3, 5, 12, 30) for s in SCENARIOS for _ in range(3))
    ]
    glance, status = metafor_batch(datasets)
    return datasets, glance, status


@pytest.mark.requires_r
def test_fixed_collection_covers_every_outcome(fixed_collection):
    datasets, glance, status = fixed_collection
    tau2 = glance["tau2"].to_numpy(dtype=float)
    assert (tau2 == 0).sum() >= 3 and (tau2 > 0).sum() >= 20
    assert (status["status"] == "error").sum() >= 3  # tau2.max too low
    fast = fast_pm(datasets)
    assert fast["message"] == status["message"].fillna("").tolist()
    assert worst_relative(np.array(fast["tau2"]), tau2) <= RTOL


@pytest.mark.requires_r
def test_planted_error_is_caught(fixed_collection, monkeypatch):
    """A uniroot tolerance 10x too loose still lands within 1e-4 of the root: the comparison must see it."""
    datasets, glance, _ = fixed_collection
    monkeypatch.setattr(pm_module, "TOL", pm_module.TOL * 10)
    assert worst_relative(np.array(fast_pm(datasets)["tau2"]), glance["tau2"].to_numpy(dtype=float)) > RTOL


# ----------------------------------------------------------------------------- with a moderator


def metafor_pm_with_moderator(yi: np.ndarray, vi: np.ndarray, x: np.ndarray) -> tuple[float, str]:
    """rma.uni(yi, vi, mods = ~ x, method = "PM") through the bridge: (tau2, error message)."""
    frame = pd.DataFrame({"yi": yi, "vi": vi, "x": x})
    try:
        return float(ketabridge.rma(frame, method="PM", mods=["x"]).glance()["tau2"].iloc[0]), ""
    except ketabridge.MetaforError as error:
        return np.nan, error.r_message


@pytest.mark.requires_r
@pytest.mark.parametrize("moderator", ["sqrt_vi", "random"])
def test_pm_with_moderator_matches_metafor(moderator):
    """x = sqrt(vi) is trimfill's side model and regtest's "sei" predictor; random x a general one."""
    rng = np.random.default_rng(7 if moderator == "sqrt_vi" else 8)
    for n, scenario in [
        (3, "moderate"),
        (4, "large"),
        (6, "homogeneous"),
        (9, "large"),
        (15, "moderate"),
        (25, "huge"),
        (12, "outlier"),
        (20, "large"),
        (30, "outlier"),
    ]:
        yi, vi = make_dataset(n, scenario, int(rng.integers(2**32)))
        x = np.sqrt(vi) if moderator == "sqrt_vi" else rng.uniform(-1, 1, n)
        yi = yi + rng.uniform(-1, 1) * x  # a moderator effect to estimate
        expected, message = metafor_pm_with_moderator(yi, vi, x)
        fit = paule_mandel(yi[None, :], vi[None, :], x[None, :])
        assert not fit.needs_metafor[0]
        assert fit.errors[0] == message, (n, scenario)
        assert worst_relative(fit.tau2, [expected]) <= RTOL, (n, scenario, fit.tau2[0], expected)


@pytest.mark.requires_r
def test_moderator_needs_three_studies():
    """k = 2 with intercept + x: metafor stops before estimating anything."""
    yi, vi = np.array([0.1, 0.9]), np.array([0.2, 0.05])
    _, message = metafor_pm_with_moderator(yi, vi, np.sqrt(vi))
    fit = paule_mandel(yi[None, :], vi[None, :], np.sqrt(vi)[None, :])
    assert fit.errors[0] == message != ""
    assert np.isnan(fit.tau2[0])


def test_constant_moderator_is_left_to_metafor():
    """metafor drops a constant x as redundant (with a warning) and fits intercept-only: not replayed."""
    yi = np.array([[0.1, 0.9, 0.4, 0.3], [0.1, 2.9, -1.4, 0.3]])
    vi = np.array([[0.1, 0.1, 0.1, 0.1], [0.1, 0.2, 0.3, 0.4]])
    mixed = paule_mandel(yi, vi, np.sqrt(vi))
    alone = paule_mandel(yi[1:], vi[1:], np.sqrt(vi[1:]))
    assert mixed.needs_metafor.tolist() == [True, False]
    assert np.isnan(mixed.tau2[0]) and mixed.tau2[1] == alone.tau2[0] > 0  # the odd row disturbs no other
    assert not paule_mandel(yi, vi).needs_metafor.any()
