"""The batch engine: many meta-analyses of one long table, each chunk's loop running inside R."""

from ketabridge.batches.batch_result import BatchResult
from ketabridge.batches.engine import batch

__all__ = ["batch", "BatchResult"]
