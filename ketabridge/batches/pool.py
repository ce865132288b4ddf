"""Run chunks on local worker processes, each with its own embedded R, surviving dead workers.

Workers are started with the "spawn" method, so none inherits an R from its parent (R cannot be
forked safely). Each worker runs one chunk at a time, so when one dies (killed, or R crashing)
the parent knows which chunk was lost: it is retried once in a fresh worker and otherwise
reported as failed, and the batch goes on.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from multiprocessing.connection import wait

from ketabridge.errors import RNotAvailableError

ATTEMPTS = 2  # a chunk whose worker dies is retried once


def run_inline(payloads: Iterator[dict], on_result: Callable, on_failure: Callable) -> None:
    """workers=0: every chunk in this process (no isolation: an R crash ends the caller)."""
    from ketabridge.batches.worker import run_chunk

    for payload in payloads:
        on_result(payload, run_chunk(payload))


def run_pool(payloads: Iterator[dict], workers: int, on_result: Callable, on_failure: Callable) -> None:
    """Run every payload on `workers` processes; on_result(payload, result) or on_failure(payload, why)."""
    context = multiprocessing.get_context("spawn")
    idle: list[_Worker] = []
    busy: dict[object, _Worker] = {}  # connection -> worker with a chunk
    retries: deque = deque()
    attempts: dict[int, int] = {}
    source = iter(payloads)
    try:
        while True:
            while len(busy) < workers:
                if retries:  # a lost chunk goes to a new process
                    payload = retries.popleft()
                    worker = _Worker(context)
                else:
                    payload = next(source, None)
                    if payload is None:
                        break
                    worker = idle.pop() if idle else _Worker(context)
                worker.start_chunk(payload)
                busy[worker.connection] = worker
            if not busy:
                return
            ready = wait([*busy, *(worker.process.sentinel for worker in busy.values())])
            for worker in [w for w in list(busy.values()) if w.connection in ready or w.process.sentinel in ready]:
                payload, outcome = worker.payload, worker.collect()
                del busy[worker.connection]
                if outcome is None:  # the process died with the chunk
                    worker.connection.close()
                    index = payload["index"]
                    attempts[index] = attempts.get(index, 1) + 1
                    if attempts[index] <= ATTEMPTS:
                        retries.append(payload)
                    else:
                        on_failure(
                            payload,
                            f"the worker process running this chunk died twice "
                            f"(exit code {worker.process.exitcode}); its analyses were not run",
                        )
                    continue
                idle.append(worker)
                kind, value = outcome
                if kind == "ok":
                    on_result(payload, value)
                elif kind == "unavailable":
                    raise RNotAvailableError(value)
                else:
                    on_failure(payload, f"ketabridge failed on this chunk: {value}")
    finally:
        for worker in [*idle, *busy.values()]:
            worker.stop()


class _Worker:
    def __init__(self, context):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.payload = None

    def start_chunk(self, payload: dict) -> None:
        self.payload = payload
        self.connection.send(payload)

    def collect(self):
        """("ok" | "error" | "unavailable", value), or None if the process died."""
        try:
            if self.connection.poll():
                return self.connection.recv()
        except (EOFError, OSError):
            pass
        self.process.join(timeout=5)
        return None

    def stop(self) -> None:
        try:
            self.connection.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def _serve(connection) -> None:
    """A worker's loop: chunks in, results out, until None."""
    from ketabridge.batches.worker import run_chunk

    while True:
        try:
            payload = connection.recv()
        except EOFError:
            return
        if payload is None:
            return
        try:
            connection.send(("ok", run_chunk(payload)))
        except RNotAvailableError as error:
            connection.send(("unavailable", error.problem))
        except Exception as error:  # reported for this chunk; the worker keeps serving
            connection.send(("error", f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=3)}"))
