"""The batch engine: many meta-analyses of one long table, each chunk's loop running inside R."""

from . import environment  # first: records the environment before any R starts
from .engine import batch
from .result import BatchResult

__all__ = ["batch", "BatchResult"]
