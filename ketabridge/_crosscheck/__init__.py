"""Cross-checking native meta-analysis implementations against metafor, quantity by quantity."""

from .protocol import DEFINITIONS, QUANTITIES, Engine, declare_engine
from .result import CrosscheckResult
from .run import crosscheck
from .suites import Dataset
from .tolerances import DEFAULTS as DEFAULT_TOLERANCES, Tolerance

__all__ = [
    "crosscheck", "CrosscheckResult", "Engine", "declare_engine", "Dataset", "Tolerance",
    "QUANTITIES", "DEFINITIONS", "DEFAULT_TOLERANCES",
]
