"""Cross-checking native meta-analysis implementations against metafor, quantity by quantity."""

from ketabridge.agreement.tolerances import DEFAULTS as DEFAULT_TOLERANCES
from ketabridge.agreement.tolerances import Tolerance
from ketabridge.crosschecks.crosscheck_result import CrosscheckResult
from ketabridge.crosschecks.harness import crosscheck
from ketabridge.crosschecks.protocol import DEFINITIONS, QUANTITIES, Engine, declare_engine
from ketabridge.crosschecks.suites import Dataset

__all__ = [
    "crosscheck", "CrosscheckResult", "Engine", "declare_engine", "Dataset", "Tolerance", "QUANTITIES",
    "DEFINITIONS", "DEFAULT_TOLERANCES",
]  # fmt: skip
