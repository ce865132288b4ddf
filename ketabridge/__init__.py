"""ketabridge: metafor-validated meta-analysis for Python.

Nothing here starts R: R starts on the first analysis.
"""

from .api import escalc, ranktest, regtest, rma, trimfill
from ._batch import BatchResult, batch
from ._crosscheck import CrosscheckResult, Dataset, Engine, Tolerance, crosscheck, declare_engine
from .errors import (
    ConvergenceError, InputError, KetabridgeError, MetaforError, MetaforWarning, MissingValuesWarning,
    RNotAvailableError, VerificationError,
)
from .results import BiasTestResult, MetaResult, Provenance
from .intervals import confint, predict
from .sensitivity import cumul, fsn, influence, leave1out
from .results import SubgroupResult
from .plots import forest, funnel
from .prepost import correlation_grid
from .proportions import ProportionsResult, ProportionWarning, pool_proportions

__all__ = [
    "escalc", "rma", "trimfill", "regtest", "ranktest",
    "batch", "BatchResult",
    "crosscheck", "CrosscheckResult", "Engine", "declare_engine", "Dataset", "Tolerance",
    "forest", "funnel",
    "correlation_grid", "pool_proportions", "ProportionsResult", "ProportionWarning",
    "predict", "confint", "leave1out", "influence", "cumul", "fsn", "SubgroupResult",
    "MetaResult", "BiasTestResult", "Provenance",
    "KetabridgeError", "InputError", "MetaforError", "ConvergenceError", "RNotAvailableError", "VerificationError",
    "MetaforWarning", "MissingValuesWarning",
]
