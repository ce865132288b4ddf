"""The batch engine: many meta-analyses of one long table, each chunk's loop running inside R."""

from .engine import batch
from .result import BatchResult

__all__ = ["batch", "BatchResult"]
