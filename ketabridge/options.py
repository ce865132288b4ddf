"""metafor's vocabularies, each name with the release that brought it, so a bad name fails in
Python with a clear message, and a name the running metafor does not know yet is refused before
R sees it.

The lists are the argument checks of escalc, rma.uni, trimfill.rma.uni and regtest in metafor
3.8-1 to 5.2-1 (their code, and NEWS.md where it says). tests/test_vocabulary.py reads the same
checks from the running metafor, in every lane, and asserts that these lists cut to its release
(accepted()) are exactly what it accepts, so they cannot drift.
"""

from __future__ import annotations

from typing import Literal, get_args

Method = Literal[
    "EE",
    "FE",
    "CE",
    "DL",
    "DLIT",
    "HE",
    "HS",
    "HSk",
    "SJ",
    "SJIT",
    "ML",
    "REML",
    "EB",
    "PM",
    "MP",
    "PMM",
    "GENQ",
    "GENQM",
    "CO",
    "VC",
]
Test = Literal["z", "t", "knha", "hksj", "adhoc"]
Measure = Literal[
    "RR",
    "OR",
    "PETO",
    "RD",
    "AS",
    "PHI",
    "YUQ",
    "YUY",
    "RTET",
    "PBIT",
    "OR2D",
    "OR2DN",
    "OR2DL",
    "MPRD",
    "MPRR",
    "MPOR",
    "MPORC",
    "MPPETO",
    "MPORM",
    "IRR",
    "IRD",
    "IRSD",
    "MD",
    "SMD",
    "SMDH",
    "SMD1",
    "SMD1H",
    "ROM",
    "CVR",
    "VR",
    "RPB",
    "RBIS",
    "D2OR",
    "D2ORN",
    "D2ORL",
    "COR",
    "UCOR",
    "ZCOR",
    "PCOR",
    "ZPCOR",
    "SPCOR",
    "PR",
    "PLN",
    "PLO",
    "PAS",
    "PFT",
    "IR",
    "IRLN",
    "IRS",
    "IRFT",
    "MN",
    "MNLN",
    "CVLN",
    "SDLN",
    "SMN",
    "MC",
    "SMCC",
    "SMCR",
    "SMCRH",
    "ROMC",
    "CVRC",
    "VRC",
    "ARAW",
    "AHW",
    "ABT",
    "REH",
    # later releases (RELEASE_OF below)
    "ZPHI",
    "ZTET",
    "ZPB",
    "ZBIS",
    "ZSPCOR",
    "R2",
    "ZR2",
    "SMCRP",
    "SMCRPH",
    "HR",
    "HD",
    "PRZ",
    "CLES",
    "CLESN",
    "AUC",
    "AUCN",
    "CLESCN",
    "AUCCN",
    "R2F",
    "ZR2F",
    "POMPMD",
    "POMPMN",
    "POMPMC",
]
TrimfillEstimator = Literal["L0", "R0", "Q0"]
TrimfillSide = Literal["left", "right"]
RegtestModel = Literal["rma", "lm"]
RegtestPredictor = Literal["sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"]
NaAction = Literal["omit", "fail"]
FsnType = Literal["Rosenthal", "Orwin", "Rosenberg", "REM", "General"]  # REM: 3.8-4.2; General: 4.4 on

METHODS: tuple[str, ...] = get_args(Method)
TESTS: tuple[str, ...] = get_args(Test)
MEASURES: tuple[str, ...] = get_args(Measure)
TRIMFILL_ESTIMATORS: tuple[str, ...] = get_args(TrimfillEstimator)
TRIMFILL_SIDES: tuple[str, ...] = get_args(TrimfillSide)
REGTEST_MODELS: tuple[str, ...] = get_args(RegtestModel)
REGTEST_PREDICTORS: tuple[str, ...] = get_args(RegtestPredictor)
NA_ACTIONS: tuple[str, ...] = get_args(NaAction)
FSN_TYPES: tuple[str, ...] = get_args(FsnType)

# The equal-effects model under its three names (CE, FE and EE are one model in metafor): no tau^2.
EQUAL_EFFECTS_METHODS = ("EE", "FE", "CE")

# Estimators that need more than yi and vi: GENQ/GENQM take user weights.
METHODS_NEEDING_WEIGHTS = ("GENQ", "GENQM")

# escalc's per-study inputs (column names in the data) and its scalar options.
ESCALC_COLUMNS = (
    "ai", "bi", "ci", "di", "n1i", "n2i", "x1i", "x2i", "t1i", "t2i", "m1i", "m2i", "sd1i", "sd2i", "xi", "mi",
    "ri", "ti", "sdi", "r2i", "ni",
)  # fmt: skip
# Inputs that are counts or sizes (must be >= 0) and correlations (must lie in [-1, 1]).
ESCALC_NONNEGATIVE = (
    "ai", "bi", "ci", "di", "n1i", "n2i", "x1i", "x2i", "t1i", "t2i", "sd1i", "sd2i", "xi", "ti", "sdi", "ni",
)  # fmt: skip
# `mi` is a count of non-events for the proportion measures but a mean (any sign) for MN, MC...
ESCALC_MI_IS_COUNT = ("PR", "PLN", "PLO", "PAS", "PFT")
ESCALC_CORRELATIONS = ("ri",)
# `ti` is person-time (>= 0) for the rate measures but a t statistic (any sign) for the partial
# and semi-partial correlations (metafor's escalc: PCOR, ZPCOR, SPCOR, ZSPCOR).
ESCALC_TI_IS_STATISTIC = ("PCOR", "ZPCOR", "SPCOR", "ZSPCOR")
# Pre/post measures whose ri is the pre-post correlation (metafor 3.8-1 escalc), so one assumed
# value for every study may replace the ri column.
PREPOST_MEASURES = ("MC", "SMCC", "SMCR", "SMCRH", "ROMC", "CVRC", "VRC")
ESCALC_VTYPES = ("LS", "LS2", "UB", "HO", "ST", "CS", "AV", "AVHO", "AV2", "LS3", "H0", "H0a", "H0b", "MAX")
ESCALC_TO = ("all", "only0", "if0all", "none")

# Publication-bias models (issue 15): selmodel's types, sides, precision measures and control
# settings (selmodel.rma.uni.r of 3.8-1, plus the 4.0 types in RELEASE_OF); tes's tests.
SELMODEL_TYPES = (
    "stepfun", "beta", "halfnorm", "negexp", "logistic", "power", "negexppow", "halfnorm2", "negexp2",
    "logistic2", "power2", "trunc", "truncest",
)  # fmt: skip
SELMODEL_ALTERNATIVES = ("greater", "less", "two.sided")
SELMODEL_PRECISIONS = ("sei", "vi", "ninv", "sqrtninv")
SELMODEL_CONTROL_KEYS = (
    "optimizer", "optmethod", "delta.init", "beta.init", "tau2.init", "delta.min", "delta.max", "tau2.max",
    "pval.min", "hesspack",
)  # fmt: skip
TES_TESTS = ("chi2", "binom", "exact")
# fsn's type "REM" (3.8-1's undocumented random-effects fail-safe N) is gone from 4.4 on, where
# "General" replaced it: the last release that has it.
FSN_REM_UNTIL = (4, 2)

# ketabridge's own vocabulary, not metafor's: the batch engines (here, so `ketabridge batch --help`
# lists them without importing the batch engine).
ENGINES = ("metafor", "fast")

# rma.uni control= settings that ketabridge passes on (names as in metafor).
CONTROL_KEYS = ("tau2.init", "tau2.min", "tau2.max", "threshold", "tol", "maxiter", "stepadj", "REMLf", "evtol")


def _since(release: tuple[int, int], *names: str) -> dict[str, tuple[int, int]]:
    return dict.fromkeys(names, release)


# The metafor release that first accepts a name; a name not listed is accepted from 3.8-1 on.
RELEASE_OF: dict[str, dict[str, tuple[int, int]]] = {
    "method": _since((5, 0), "CO", "VC"),  # aliases of HE (rma.uni.r, 5.0-1)
    "test": _since((4, 6), "hksj"),  # an alias of knha (rma.uni.r, 4.6-0)
    "measure": {
        **_since((4, 0), "ZPHI", "ZTET", "ZPB", "ZBIS", "ZSPCOR"),
        **_since((4, 4), "R2", "ZR2"),
        **_since((4, 6), "SMCRP", "SMCRPH", "HR", "HD"),
        **_since((4, 8), "PRZ", "CLES", "CLESN", "AUC", "AUCN", "CLESCN", "AUCCN", "R2F", "ZR2F"),
        **_since((5, 2), "POMPMD", "POMPMN", "POMPMC"),
    },
    "vtype": {**_since((4, 4), "AV2"), **_since((4, 8), "LS3", "H0", "H0a", "H0b", "MAX")},
    "selmodel_type": _since((4, 0), "trunc", "truncest"),  # selmodel.rma.uni.r, NEWS 4.0-0
    "fsn_type": _since((4, 4), "General"),  # fsn.r, NEWS 4.4-0 (which dropped 3.8's "REM")
}
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "method": METHODS,
    "test": TESTS,
    "measure": MEASURES,
    "vtype": ESCALC_VTYPES,
    "trimfill_estimator": TRIMFILL_ESTIMATORS,
    "trimfill_side": TRIMFILL_SIDES,
    "regtest_model": REGTEST_MODELS,
    "regtest_predictor": REGTEST_PREDICTORS,
}


def accepted(kind: str, metafor_release: tuple[int, ...] | None = None) -> tuple[str, ...]:
    """The names of vocabulary `kind` that a metafor release (default: this machine's) accepts."""
    if metafor_release is None:
        from ketabridge.bridge.compat import version_tuple
        from ketabridge.bridge.session import installed_metafor_version

        metafor_release = version_tuple(installed_metafor_version())
    since = RELEASE_OF.get(kind, {})
    return tuple(name for name in VOCABULARIES[kind] if since.get(name, (3, 8)) <= tuple(metafor_release[:2]))


def check_release(value: str, kind: str) -> str:
    """Raise InputError if the metafor this machine's R has does not know `value` yet."""
    since = RELEASE_OF.get(kind, {}).get(value)
    if since is not None:
        require_metafor(since, f"{kind} {value!r}")
    return value


def require_metafor(since: tuple[int, int], what: str) -> None:
    """Raise InputError naming `what` if this machine's metafor is older than release `since`."""
    from ketabridge.bridge.compat import version_tuple
    from ketabridge.bridge.session import installed_metafor_version
    from ketabridge.errors import InputError

    running = installed_metafor_version()
    if version_tuple(running)[:2] < since:
        raise InputError(f"{what} needs metafor >= {since[0]}.{since[1]}; this R has metafor {running}")


def check_choice(value: object, allowed: tuple[str, ...], what: str) -> str:
    """Return value if it is one of allowed, else raise InputError listing them."""
    from ketabridge.errors import InputError

    if not isinstance(value, str) or value not in allowed:
        raise InputError(f"unknown {what} {value!r}; choose one of: {', '.join(allowed)}")
    return value


# rma.mv (ketabridge.rma_mv): the estimators, tests and dfs= of metafor 3.8-1 to 5.2-1, and the
# var-cov structures of an `~ inner | outer` term that ketabridge offers (metafor 3.8-1's list
# without the spatial SPEXP/SPGAU/SPLIN/SPRAT/SPSPH and GEN/GDIAG, which take several inner
# variables: rma.mv.r's check "Unknown 'struct' specified.").
MvMethod = Literal["REML", "ML"]
MvTest = Literal["z", "t"]
MvDfs = Literal["residual", "contain"]
Struct = Literal["CS", "HCS", "UN", "ID", "DIAG", "AR", "HAR", "CAR"]
MV_METHODS: tuple[str, ...] = get_args(MvMethod)
MV_TESTS: tuple[str, ...] = get_args(MvTest)
MV_DFS: tuple[str, ...] = get_args(MvDfs)
STRUCTS: tuple[str, ...] = get_args(Struct)
# rma.mv control= settings passed on (metafor's names; optimizer and optmethod are names, the rest numbers).
MV_CONTROL_KEYS = (
    "optimizer", "optmethod", "sigma2.init", "tau2.init", "rho.init", "gamma2.init", "phi.init", "iter.max",
    "eval.max", "rel.tol", "REMLf", "evtol", "nearpd", "cholesky",
)  # fmt: skip
MV_OPTIMIZERS = ("nlminb", "optim", "nlm", "uobyqa", "newuoa", "bobyqa", "nloptr", "hjk", "nmk", "ucminf")
# aggregate.escalc's structures (3.8-1; "CS+CAR" since 3.8-1's predecessor 3.4).
AGGREGATE_STRUCTS = ("ID", "CS", "CAR", "CS+CAR")
