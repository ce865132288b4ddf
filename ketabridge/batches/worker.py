"""Run one chunk in the current process: one call into R for all its analyses.

R starts on the first chunk a process runs and stays up for the next ones (the session is cached
per process), whether the process is a local pool worker, a Dask worker, or the caller itself.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from ketabridge.batches.tables import chunk_tables, failed_tables
from ketabridge.errors import NOT_CONVERGED, MetaforError

# Test-only: kill this worker (SIGKILL) when it starts chunk KILL_CHUNK; with KILL_ONCE set to a
# file path, only the first time (the file records that it happened).
KILL_CHUNK = "KETABRIDGE_TEST_KILL_CHUNK"
KILL_ONCE = "KETABRIDGE_TEST_KILL_ONCE"


def run_chunk(payload: dict) -> dict:
    """The chunk's glance, tidy and status frames, the R versions, and R's time in the loop."""
    from ketabridge.bridge.call import call_entry
    from ketabridge.bridge.session import r_session

    _test_kill_hook(payload["index"])
    if payload.get("kind") == "count":  # a chunk of rma_mh/rma_peto fits (batches/count_chunk.py)
        from ketabridge.batches.count_chunk import run_count_chunk

        return run_count_chunk(payload)
    session = r_session()
    try:
        reply = call_entry("kb_batch", payload["data"], payload["sizes"], payload["settings"], NOT_CONVERGED.pattern)
        tables = chunk_tables(payload["ids"], reply.value, payload["settings"], payload["by"], payload["notes"])
        fit_seconds = float(reply.value["seconds"][0])
    except MetaforError as error:  # the chunk as a whole failed (e.g. escalc cannot compute the measure)
        message = f"{error.r_message}" if error.r_message else str(error)
        notes = [f"{note}; {message}" if note else message for note in payload["notes"]]
        tables = failed_tables(payload["ids"], notes, payload["settings"], payload["by"])
        fit_seconds = 0.0
    return {"tables": tables, "versions": session.versions(), "fit_seconds": fit_seconds}


def _test_kill_hook(index: int) -> None:
    if os.environ.get(KILL_CHUNK) != str(index):
        return
    marker = os.environ.get(KILL_ONCE)
    if marker:
        if Path(marker).exists():
            return
        Path(marker).write_text(str(os.getpid()))
    os.kill(os.getpid(), signal.SIGKILL)
