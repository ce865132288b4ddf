"""Run chunks on a Dask distributed cluster. Imported only when a scheduler is given.

Each Dask worker process starts R on the first chunk it runs and keeps it (the R session is
cached per process), so R starts once per worker, not once per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ketabridge.errors import InputError, RNotAvailableError

IN_FLIGHT_PER_WORKER = 2  # chunks queued per worker thread: enough to keep it busy, bounded memory


def run_dask(payloads: Iterator[dict], scheduler, on_result: Callable, on_failure: Callable) -> None:
    """scheduler: an address ("tcp://host:8786") or a distributed.Client."""
    try:
        from distributed import Client, as_completed
    except ImportError as error:
        raise InputError("a Dask scheduler needs dask.distributed: pip install 'ketabridge[dask]'") from error
    from ketabridge.batches.worker import run_chunk

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler, set_as_default=False)
    try:
        slots = max(1, sum(client.nthreads().values())) * IN_FLIGHT_PER_WORKER
        source = iter(payloads)
        submitted = {}  # future -> its payload
        for payload in source:
            submitted[client.submit(run_chunk, payload, pure=False)] = payload
            if len(submitted) >= slots:
                break
        if not submitted:
            return
        queue = as_completed(list(submitted), loop=client.loop)
        for future in queue:
            payload = submitted.pop(future)
            try:
                result = future.result()
            except RNotAvailableError:
                raise
            except Exception as error:  # a task error or a worker lost too often (KilledWorker)
                on_failure(payload, f"the Dask task for this chunk failed: {type(error).__name__}: {error}")
            else:
                on_result(payload, result)
            following = next(source, None)
            if following is not None:
                added = client.submit(run_chunk, following, pure=False)
                submitted[added] = following
                queue.add(added)
    finally:
        if client is not scheduler:
            client.close()
