"""Cross-checking native meta-analysis implementations against metafor, quantity by quantity."""

from .._agreement.tolerances import DEFAULTS as DEFAULT_TOLERANCES, Tolerance
from .protocol import DEFINITIONS, QUANTITIES, Engine, declare_engine
from .result import CrosscheckResult
from .run import crosscheck
from .suites import Dataset

__all__ = [
    "crosscheck", "CrosscheckResult", "Engine", "declare_engine", "Dataset", "Tolerance",
    "QUANTITIES", "DEFINITIONS", "DEFAULT_TOLERANCES",
]
