"""ketabridge.batch: many meta-analyses from one long table, chunk by chunk, nothing lost."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..errors import InputError, VerificationError
from ..io import TableLike
from ..results import ketabridge_version
from .checks import check_chunk
from .fast import CHUNK as FAST_CHUNK
from .fast import run_fast
from .progress import Progress
from .result import BatchResult
from .settings import BatchSettings, batch_settings, chunk_size_for
from .source import Source
from .store import BatchStore
from .tables import failed_tables
from .verify import check_fraction, verify_run



def batch(
    data: TableLike, by: str, *, yi: str = "yi", vi: str | None = "vi", sei: str | None = None,
    measure: str | None = None, method: str = "REML", test: str = "z", level: float = 95.0,
    trimfill: bool = False, regtest: bool = False, ranktest: bool = False, workers: int = 1,
    scheduler=None, chunk_size: int | None = None, fallback=None, out=None, resume: bool = False,
    csv: bool = False, progress: bool | None = None, trimfill_estimator: str = "L0",
    trimfill_side: str | None = None, regtest_model: str = "rma", engine: str = "metafor",
    verify: float | str = 0.01, verify_seed: int = 0, **escalc_columns: str,
) -> BatchResult:
    """Fit one random-effects model (metafor's ``rma.uni``) per group of a long table.

    ``data`` has one row per study; ``by`` names the column of analysis ids (integers or text),
    and each id's rows form one analysis. Columns as in ``rma`` (``yi``, ``vi`` or ``sei``), or
    ``measure`` with escalc's columns (``ai=``, ``n1i=``, ...) to compute them first. The extras
    run metafor's ``trimfill`` (``trimfill_estimator`` L0, R0 or Q0; ``trimfill_side`` "left",
    "right" or None to let metafor choose), ``regtest`` (``regtest_model`` "rma" or "lm",
    predictor "sei") and ``ranktest`` on each fitted model. Unlike R, a failing analysis never
    stops the batch: it becomes an ``error`` row of ``.status``.

    ``engine="fast"`` computes the models with numpy, replaying metafor 3.8's own algorithms
    (methods EE, FE, DL, HE, SJ, PM, ML, REML; tests z and knha; trim-and-fill L0/R0; regtest
    rma/lm; ranktest); anything else runs on metafor, analysis by analysis, and ``.status``'s
    ``engine`` column says which engine computed each row. metafor then judges the run: a seeded
    sample (``verify``: the fraction, default 1 %, at least 20; or "all") plus every analysis at a
    boundary is rerun on metafor and compared; the verdict and worst discrepancy go into
    ``.provenance["verification"]``, and a disagreement raises ``VerificationError``.

    ``workers`` processes each embed R once (0 runs in this process); ``scheduler`` (an address or
    a ``distributed.Client``) runs the chunks on a Dask cluster instead. ``fallback=True`` refits
    non-converged models with smaller steps and more iterations, then with DL (or give a list of
    ``{"method": ..., "control": {...}}`` steps). ``out`` writes ``glance.parquet``,
    ``tidy.parquet``, ``status.parquet`` and ``provenance.json`` there (plus CSV with
    ``csv=True``), chunk by chunk; ``resume=True`` continues a run killed half way.
    """
    started, clock = _now(), time.perf_counter()
    settings = batch_settings(
        by, yi=yi, vi=vi, sei=sei, measure=measure, method=method, test=test, level=level,
        trimfill=trimfill, regtest=regtest, ranktest=ranktest, fallback=fallback, escalc_columns=escalc_columns,
        trimfill_estimator=trimfill_estimator, trimfill_side=trimfill_side, regtest_model=regtest_model, engine=engine,
    )
    verify = check_fraction(verify)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InputError(f"workers must be a whole number >= 0, not {workers!r}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise InputError(f"chunk_size must be a whole number >= 1, not {chunk_size!r}")
    if (resume or csv) and out is None:
        raise InputError("resume and csv need an output directory (out=)")
    source = Source(data, by, list(settings.columns.values()))
    fast_skipped = _fast_not_covered(settings)
    fast = settings.engine == "fast" and not fast_skipped
    fast_rules = _fast_rules() if settings.engine == "fast" else None
    size = chunk_size or (FAST_CHUNK if fast else chunk_size_for(len(source.ids), workers))
    fingerprint = {"input": source.describe(), "options": settings.describe()}
    store = BatchStore(Path(out), fingerprint, resume) if out is not None else None
    done = store.done_ids() if store is not None and resume else set()

    collected: dict[str, list[pd.DataFrame]] = {"glance": [], "tidy": [], "status": []}
    versions: dict = store.versions() if store is not None else {}
    timing = {"fit_seconds": 0.0, "chunks": 0, "fast_seconds": 0.0}
    bar = Progress(len(source.ids) - len(done), progress)

    def keep(tables: dict[str, pd.DataFrame]) -> None:
        if store is not None:
            store.write_chunk(tables)
        else:
            for kind, table in tables.items():
                collected[kind].append(table)
        bar.advance(len(tables["status"]))

    def on_result(payload: dict, result: dict) -> None:
        if store is not None and result["versions"] != versions:
            store.record_versions(result["versions"])
        versions.update(result["versions"])
        timing["fit_seconds"] += result["fit_seconds"]
        timing["chunks"] += 1
        keep(result["tables"])

    def on_failure(payload: dict, why: str) -> None:
        notes = [f"{note}; {why}" if note else why for note in payload["notes"]]
        keep(failed_tables(payload["ids"], notes, payload["settings"], payload["by"]))

    fast_failures: list[str] = []  # fast chunks that raised: rerun whole on metafor, and said here

    def keep_fast(tables: dict[str, pd.DataFrame], seconds: float) -> None:
        timing["fast_seconds"] += seconds
        keep(tables)

    def payloads() -> Iterator[dict]:
        for chunk in source.chunks(size, skip=done):
            checked = check_chunk(chunk, settings)
            if checked.failed_ids:  # stopped before R: their status rows are final now
                keep(failed_tables(checked.failed_ids, checked.failed_messages, settings.to_r(), by))
            if checked.ids:
                yield checked.payload(settings, by)

    def run_metafor(work: Iterator[dict], on_result, on_failure) -> None:
        if scheduler is not None:
            from .cluster import run_dask

            run_dask(work, scheduler, on_result, on_failure)
        elif workers == 0:
            from .pool import run_inline

            run_inline(work, on_result, on_failure)
        else:
            from .pool import run_pool

            run_pool(work, workers, on_result, on_failure)

    try:
        work = payloads()
        if fast:  # numpy first; what it hands on, in R-sized chunks, goes to metafor as usual
            work = run_fast(work, by, keep_fast, chunk_size or chunk_size_for(len(source.ids), workers), fast_failures,
                            fast_rules.metafor_version)
        run_metafor(work, on_result, on_failure)
    finally:
        bar.close()

    tables = {kind: (store.read(kind) if store is not None else _concat(frames)) for kind, frames in collected.items()}
    tables = {kind: _in_input_order(table, source.ids) for kind, table in tables.items()}
    _check_every_id_once(tables["status"], source.ids)
    provenance = {
        "ketabridge_version": ketabridge_version(), **versions,
        "options": settings.describe(), "input": source.describe(), "analyses": len(source.ids),
        "status_counts": tables["status"]["status"].value_counts().to_dict(),
        "resumed_analyses": len(done), "workers": workers, "scheduler": None if scheduler is None else str(scheduler),
        "chunk_size": size, "chunks_run": timing["chunks"], "started": started, "finished": _now(),
        "wall_seconds": time.perf_counter() - clock, "r_fit_seconds": timing["fit_seconds"],
        "engine": settings.engine,
        "engine_counts": tables["status"]["engine"].value_counts().to_dict() if len(tables["status"]) else {},
    }
    if settings.engine == "fast":
        provenance.update(_fast_versions(), fast_replays=fast_rules.describe(), fast_seconds=timing["fast_seconds"],
                          fast_not_covered=fast_skipped, fast_chunk_failures=fast_failures)
        started_verifying = time.perf_counter()
        provenance["verification"] = verify_run(
            source, settings, tables, verify, verify_seed, workers, run_metafor, versions,
        )
        provenance.update(versions, verify_seconds=time.perf_counter() - started_verifying,
                          wall_seconds=time.perf_counter() - clock, finished=_now())
    if store is not None:
        store.finish(tables, provenance, csv)
    result = BatchResult(glance=tables["glance"], tidy=tables["tidy"], status=tables["status"], provenance=provenance)
    verdict = provenance.get("verification", {})
    if verdict.get("verdict") == "disagree":
        first = verdict["disagreements"][0]
        raise VerificationError(
            f"the fast engine disagrees with metafor on {verdict['disagreeing_analyses']} of {verdict['checked']} "
            f"verified analyses (first: analysis {first['analysis_id']!r}, {first['column']}: fast {first['fast']!r}, "
            f"metafor {first['metafor']!r}); every disagreement is listed in the provenance"
            + (f" ({Path(out) / 'provenance.json'})" if out is not None else ""), result,
        )
    return result


def _fast_not_covered(settings: BatchSettings) -> str:
    if settings.engine != "fast":
        return ""
    from .._fast.chunk import not_covered

    return not_covered(settings.to_r())


def _fast_rules():
    """The metafor release the fast path replays: the one this machine's R has, which also
    computes what the fast path hands on and verifies the run."""
    from .._fast.rules import Rules
    from .._r.compat import installed_metafor_version

    return Rules(installed_metafor_version())


def _fast_versions() -> dict:
    import numpy
    import scipy

    return {"numpy_version": numpy.__version__, "scipy_version": scipy.__version__}


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [frame for frame in frames if len(frame)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"analysis_id": []})


def _in_input_order(table: pd.DataFrame, ids: list) -> pd.DataFrame:
    if table.empty:
        return table
    position = {value: rank for rank, value in enumerate(ids)}
    order = table["analysis_id"].map(position).to_numpy()
    return table.iloc[pd.Series(order).argsort(kind="stable").to_numpy()].reset_index(drop=True)


def _check_every_id_once(status: pd.DataFrame, ids: list) -> None:
    found = status["analysis_id"].tolist() if len(status) else []
    if len(found) != len(ids) or set(found) != set(ids):
        raise RuntimeError(f"batch bookkeeping error: {len(ids)} analyses in, {len(found)} status rows out")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
