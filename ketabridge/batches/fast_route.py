"""The fast engine's part of a batch: each chunk computed with numpy (ketabridge.fast), and the
analyses it does not reproduce handed on, as a smaller payload, to the metafor engine."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import numpy as np
import pandas as pd

from ketabridge.batches.tables import chunk_tables

CHUNK = 5000  # analyses per fast chunk: numpy's per-call overhead is spread over this many


def run_fast(
    payloads: Iterator[dict],
    by: str,
    keep: Callable[[dict, float, dict], None],
    metafor_chunk: int,
    failures: list[str],
    metafor_version: str,
    workers: int = 1,
) -> Iterator[dict]:
    """keep(tables, seconds, payload) for every chunk the fast path computed; yields the payloads of
    the others (same layout, at most metafor_chunk analyses each) for the metafor engine. A chunk
    the fast path raises on goes to metafor whole, and the error is added to failures. The fast
    path replays metafor_version, the metafor that computes and verifies the rest. With workers
    >= 1 the chunks are computed on that many processes (numpy only, no R), a few at a time, while
    this process reads, checks and writes; with 0, here."""
    handed: list[dict] = []  # the vi = 0 analyses, for metafor

    def without_zero_variance() -> Iterator[dict]:
        for payload in payloads:
            zero = _zero_variance(payload)
            if zero.any():  # vi = 0 (ordinary least squares under REML): metafor's own handling, not replayed
                handed.extend(_pieces(payload, zero, metafor_chunk))
                if zero.all():
                    continue
                payload = subset_payload(payload, ~zero)
            yield payload

    for payload, outcome in _computed(without_zero_variance(), metafor_version, workers):
        yield from handed
        handed.clear()
        if isinstance(outcome, str):  # a fast-path bug must not cost the batch: metafor computes it
            failures.append(f"chunk {payload['index']}: {outcome}")
            yield from _pieces(payload, np.ones(len(payload["ids"]), dtype=bool), metafor_chunk)
            continue
        reply, routed = outcome
        tables = chunk_tables(payload["ids"], reply, payload["settings"], by, payload["notes"], engine="fast")
        if routed.any():
            handed_on = {payload["ids"][i] for i in np.flatnonzero(routed)}
            tables = {kind: _without(table, handed_on) for kind, table in tables.items()}
            yield from _pieces(payload, routed, metafor_chunk)
        keep(tables, float(reply["seconds"][0]), payload)
    yield from handed


def _zero_variance(payload: dict) -> np.ndarray:
    """Mask of the payload's analyses with a zero sampling variance (the checks allow vi >= 0)."""
    if "vi" not in payload["data"] or not len(payload["ids"]):
        return np.zeros(len(payload["ids"]), dtype=bool)
    starts = np.concatenate([[0], np.cumsum(payload["sizes"])[:-1]]).astype(np.int64)
    return np.add.reduceat(payload["data"]["vi"] == 0, starts) > 0


def compute(payload: dict, metafor_version: str):
    """(reply, routed) of one chunk on the fast path, or the error's text (also in a pool process)."""
    from ketabridge.fast.chunk import fast_reply
    from ketabridge.fast.rules import following

    try:
        with following(metafor_version):
            return fast_reply(payload["sizes"], payload["data"], payload["settings"])
    except Exception as error:
        return f"{type(error).__name__}: {error}"


def _computed(payloads: Iterator[dict], metafor_version: str, workers: int) -> Iterator[tuple[dict, object]]:
    """(payload, compute's outcome) per chunk: here (workers 0), or on `workers` spawned processes,
    at most two chunks per process in flight (so memory stays a few chunks), in the order they
    finish."""
    if workers < 1:
        for payload in payloads:
            yield payload, compute(payload, metafor_version)
        return
    context = multiprocessing.get_context("spawn")  # no fork: the parent may hold an embedded R
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        running: dict = {}
        source = iter(payloads)
        while True:
            while len(running) < 2 * workers:
                payload = next(source, None)
                if payload is None:
                    break
                running[pool.submit(compute, _lean(payload), metafor_version)] = payload
            if not running:
                return
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield running.pop(future), future.result()


def _lean(payload: dict) -> dict:
    """What compute needs of a payload (its ids and notes stay here)."""
    return {"sizes": payload["sizes"], "data": payload["data"], "settings": payload["settings"]}


def _pieces(payload: dict, chosen: np.ndarray, size: int) -> Iterator[dict]:
    """The chosen analyses as payloads of at most `size` analyses (R chunks stay small)."""
    positions = np.flatnonzero(chosen)
    for number, start in enumerate(range(0, len(positions), size)):
        part = np.zeros(len(chosen), dtype=bool)
        part[positions[start : start + size]] = True
        yield {**subset_payload(payload, part), "index": f"{payload['index']}.{number}"}


def subset_payload(payload: dict, chosen: np.ndarray) -> dict:
    """The payload of the chosen analyses only (a bool mask over payload["ids"])."""
    rows = np.repeat(chosen, payload["sizes"])
    return {
        **payload,
        "ids": [analysis for analysis, keep in zip(payload["ids"], chosen) if keep],
        "sizes": payload["sizes"][chosen],
        "data": {role: values[rows] for role, values in payload["data"].items()},
        "notes": [note for note, keep in zip(payload["notes"], chosen) if keep],
    }


def _without(table: pd.DataFrame, ids: set) -> pd.DataFrame:
    return table[~table["analysis_id"].isin(ids)].reset_index(drop=True)
