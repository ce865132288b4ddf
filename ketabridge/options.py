"""Vocabularies copied from metafor 3.8-1, so bad names fail in Python with a clear message.

Sources: the argument checks in metafor::escalc, rma.uni, trimfill.rma.uni and regtest (3.8-1).
"""

from __future__ import annotations

from typing import Literal, get_args

Method = Literal[
    "EE", "FE", "CE", "DL", "DLIT", "HE", "HS", "HSk", "SJ", "SJIT",
    "ML", "REML", "EB", "PM", "MP", "PMM", "GENQ", "GENQM",
]
Test = Literal["z", "t", "knha", "adhoc"]
Measure = Literal[
    "RR", "OR", "PETO", "RD", "AS", "PHI", "YUQ", "YUY", "RTET", "PBIT", "OR2D", "OR2DN",
    "OR2DL", "MPRD", "MPRR", "MPOR", "MPORC", "MPPETO", "MPORM", "IRR", "IRD", "IRSD", "MD",
    "SMD", "SMDH", "SMD1", "SMD1H", "ROM", "CVR", "VR", "RPB", "RBIS", "D2OR", "D2ORN",
    "D2ORL", "COR", "UCOR", "ZCOR", "PCOR", "ZPCOR", "SPCOR", "PR", "PLN", "PLO", "PAS",
    "PFT", "IR", "IRLN", "IRS", "IRFT", "MN", "MNLN", "CVLN", "SDLN", "SMN", "MC", "SMCC",
    "SMCR", "SMCRH", "ROMC", "CVRC", "VRC", "ARAW", "AHW", "ABT", "REH",
]
TrimfillEstimator = Literal["L0", "R0", "Q0"]
TrimfillSide = Literal["left", "right"]
RegtestModel = Literal["rma", "lm"]
RegtestPredictor = Literal["sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"]
NaAction = Literal["omit", "fail"]
FsnType = Literal["Rosenthal", "Orwin", "Rosenberg"]  # fsn's deterministic types (not REM)

METHODS: tuple[str, ...] = get_args(Method)
TESTS: tuple[str, ...] = get_args(Test)
MEASURES: tuple[str, ...] = get_args(Measure)
TRIMFILL_ESTIMATORS: tuple[str, ...] = get_args(TrimfillEstimator)
TRIMFILL_SIDES: tuple[str, ...] = get_args(TrimfillSide)
REGTEST_MODELS: tuple[str, ...] = get_args(RegtestModel)
REGTEST_PREDICTORS: tuple[str, ...] = get_args(RegtestPredictor)
NA_ACTIONS: tuple[str, ...] = get_args(NaAction)
FSN_TYPES: tuple[str, ...] = get_args(FsnType)

# Estimators that need more than yi and vi: GENQ/GENQM take user weights.
METHODS_NEEDING_WEIGHTS = ("GENQ", "GENQM")

# escalc's per-study inputs (column names in the data) and its scalar options.
ESCALC_COLUMNS = (
    "ai", "bi", "ci", "di", "n1i", "n2i", "x1i", "x2i", "t1i", "t2i", "m1i", "m2i",
    "sd1i", "sd2i", "xi", "mi", "ri", "ti", "sdi", "r2i", "ni",
)
# Inputs that are counts or sizes (must be >= 0) and correlations (must lie in [-1, 1]).
ESCALC_NONNEGATIVE = (
    "ai", "bi", "ci", "di", "n1i", "n2i", "x1i", "x2i", "t1i", "t2i",
    "sd1i", "sd2i", "xi", "ti", "sdi", "ni",
)
# `mi` is a count of non-events for the proportion measures but a mean (any sign) for MN, MC...
ESCALC_MI_IS_COUNT = ("PR", "PLN", "PLO", "PAS", "PFT")
ESCALC_CORRELATIONS = ("ri",)
# Pre/post measures whose ri is the pre-post correlation (metafor 3.8-1 escalc), so one assumed
# value for every study may replace the ri column.
PREPOST_MEASURES = ("MC", "SMCC", "SMCR", "SMCRH", "ROMC", "CVRC", "VRC")
ESCALC_VTYPES = ("LS", "LS2", "UB", "HO", "ST", "CS", "AV", "AV2", "AVHO")
ESCALC_TO = ("all", "only0", "if0all", "none")

# rma.uni control= settings that ketabridge passes on (names as in metafor).
CONTROL_KEYS = (
    "tau2.init", "tau2.min", "tau2.max", "threshold", "tol", "maxiter", "stepadj", "REMLf",
    "evtol",
)


def check_choice(value: object, allowed: tuple[str, ...], what: str) -> str:
    """Return value if it is one of allowed, else raise InputError listing them."""
    from .errors import InputError

    if not isinstance(value, str) or value not in allowed:
        raise InputError(f"unknown {what} {value!r}; choose one of: {', '.join(allowed)}")
    return value
