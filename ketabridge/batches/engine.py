"""ketabridge.batch: many meta-analyses from one long table, chunk by chunk, nothing lost.

A batch runs in four steps: prepare (check the options, scan the ids, choose the engine's route:
a frozen _Plan), run (every chunk through the fast path and/or metafor, into a _Collector that
owns the tables, versions and timings), verify (metafor reruns a sample of a fast run) and
assemble (the provenance, the files and the BatchResult).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ketabridge.analyses.results import ketabridge_version
from ketabridge.batches.batch_result import BatchResult
from ketabridge.batches.checks import check_chunk
from ketabridge.batches.fast_route import CHUNK as FAST_CHUNK
from ketabridge.batches.fast_route import run_fast
from ketabridge.batches.final_tables import FinalTables
from ketabridge.batches.progress import Progress
from ketabridge.batches.settings import BatchSettings, batch_settings, chunk_size_for
from ketabridge.batches.source import Source
from ketabridge.batches.store import BatchStore
from ketabridge.batches.strata import Budget, check_budget
from ketabridge.batches.tables import failed_tables
from ketabridge.batches.verify import Verifier, skipped
from ketabridge.errors import InputError, VerificationError
from ketabridge.io import TableLike

if TYPE_CHECKING:
    from ketabridge.fast.rules import Rules

KINDS = ("glance", "tidy", "status")


def batch(
    data: TableLike,
    by: str,
    *,
    yi: str = "yi",
    vi: str | None = "vi",
    sei: str | None = None,
    measure: str | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    trimfill: bool = False,
    regtest: bool = False,
    ranktest: bool = False,
    workers: int = 1,
    scheduler=None,
    chunk_size: int | None = None,
    fallback=None,
    out=None,
    resume: bool = False,
    csv: bool = False,
    progress: bool | None = None,
    trimfill_estimator: str = "L0",
    trimfill_side: str | None = None,
    regtest_model: str = "rma",
    engine: str = "metafor",
    verify: int | float | str = 300,
    verify_seed: int = 0,
    mods: Sequence[str] | str | None = None,
    skip_verification_unsafe: bool = False,
    random: str | Sequence[str] | None = None,
    struct: str | Sequence[str] | None = None,
    **escalc_columns: str,
) -> BatchResult:
    """Fit one random-effects model (metafor's ``rma.uni``) per group of a long table.

    ``data`` has one row per study; ``by`` names the column of analysis ids (integers or text),
    and each id's rows form one analysis. Columns as in ``rma`` (``yi``, ``vi`` or ``sei``), or
    ``measure`` with escalc's columns (``ai=``, ``n1i=``, ...) to compute them first. The extras
    run metafor's ``trimfill`` (``trimfill_estimator`` L0, R0 or Q0; ``trimfill_side`` "left",
    "right" or None to let metafor choose), ``regtest`` (``regtest_model`` "rma" or "lm",
    predictor "sei") and ``ranktest`` on each fitted model. Unlike R, a failing analysis never
    stops the batch: it becomes an ``error`` row of ``status()``.

    ``engine="fast"`` computes the models with numpy, replaying metafor 3.8's own algorithms
    (methods EE, FE, DL, HE, SJ, PM, ML, REML; tests z and knha; trim-and-fill L0/R0; regtest
    rma/lm; ranktest); anything else runs on metafor, analysis by analysis, and ``status()``'s
    ``engine`` column says which engine computed each row. metafor then judges the run: a seeded
    stratified sample of ``verify`` analyses (a count, default 300: a uniform quarter of it drawn
    from the whole batch, the rest shared among the classes failed/not converged, failed extra,
    k <= 3, tau^2 = 0 and interior, a small class checked whole, each class's share its members
    with the smallest seeded keys) is rerun on metafor and compared; with ``workers`` >= 1 metafor
    runs the whole batch's share and each computed chunk's likely class members while numpy
    computes, and what it ran beyond the sample is compared too (``also_checked``). The verdict,
    the worst discrepancy and, per class, checked / total and a 95 % upper bound on the
    disagreement rate go into ``.provenance.details["verification"]``, and a disagreement raises
    ``VerificationError``.

    ``workers`` processes each embed R once (0 runs in this process); with ``engine="fast"``,
    numpy computes on that many processes too, while this process reads, checks and writes (0:
    here). ``scheduler`` (an address or
    a ``distributed.Client``) runs the chunks on a Dask cluster instead. ``fallback=True`` refits
    non-converged models with smaller steps and more iterations, then with DL (or give a list of
    ``{"method": ..., "control": {...}}`` steps). ``out`` writes ``glance.parquet``,
    ``tidy.parquet``, ``status.parquet`` and ``provenance.json`` there (plus CSV with
    ``csv=True``), chunk by chunk; ``resume=True`` continues a run killed half way.

    Parameters
    ----------
    data : pandas.DataFrame, pyarrow.Table, pyarrow.RecordBatch, str or os.PathLike
        The long table, one row per study: in memory, or the path of a CSV, Parquet, Feather or
        Arrow IPC file (read in record batches). rma.uni's ``data``, per analysis.
    by : str
        Column of analysis ids (integers or text, none missing).
    yi : str, default "yi"
        Column of effect sizes: rma.uni's ``yi``. Unused with escalc columns.
    vi : str or None, default "vi"
        Column of sampling variances: rma.uni's ``vi``. Ignored when ``sei`` is given.
    sei : str, optional
        Column of standard errors, used instead of ``vi``: rma.uni's ``sei``.
    measure : str, optional
        The measure: escalc's ``measure`` when escalc columns are given (required then), else
        rma.uni's ``measure``. Default None: ``"GEN"``.
    method : str, default "REML"
        rma.uni's ``method`` (not GENQ/GENQM, which need weights).
    test : {"z", "t", "knha", "hksj", "adhoc"}, default "z"
        rma.uni's ``test``.
    level : float, default 95.0
        Confidence level in percent (below 1: a proportion): rma.uni's ``level``.
    trimfill : bool, default False
        Also run metafor's ``trimfill`` on each model (glance columns ``trimfill_*``).
    regtest : bool, default False
        Also run metafor's ``regtest`` with predictor ``"sei"`` (glance columns ``regtest_*``).
    ranktest : bool, default False
        Also run metafor's ``ranktest`` (glance columns ``ranktest_*``).
    workers : int, default 1
        Worker processes, each embedding R once (and with ``engine="fast"``, as many numpy
        processes); 0 runs in this process.
    scheduler : str or distributed.Client, optional
        A Dask scheduler address or client: run the chunks on that cluster instead of
        ``workers`` (needs ``ketabridge[dask]``). Default None.
    chunk_size : int, optional
        Analyses per chunk. Default None: enough for four chunks per worker, at most 250 (5000
        for the fast engine).
    fallback : bool, str or list of dict, optional
        Refits of analyses whose estimator did not converge: True or ``"default"`` for
        ``control={"stepadj": 0.5, "maxiter": 1000}`` then ``method="DL"``, or a list of
        ``{"method": ..., "control": {...}}`` steps (rma.uni's ``method`` and ``control``).
        Default None: no refits.
    out : str or os.PathLike, optional
        Output directory for ``glance.parquet``, ``tidy.parquet``, ``status.parquet`` and
        ``provenance.json``: each chunk's part is written as it finishes, and the final tables are
        streamed from the parts a window of analyses at a time, so memory does not grow with the
        batch; the returned BatchResult reads its tables from these files. Default None: nothing
        written, the tables are kept in memory.
    resume : bool, default False
        Continue the run in ``out`` with the same options (needs ``out``).
    csv : bool, default False
        Also write each table as CSV (needs ``out``).
    progress : bool, optional
        Show a progress bar on stderr. Default None: when stderr is a terminal.
    trimfill_estimator : {"L0", "R0", "Q0"}, default "L0"
        trimfill's ``estimator``.
    trimfill_side : {"left", "right"}, optional
        trimfill's ``side``. Default None: metafor estimates it.
    regtest_model : {"rma", "lm"}, default "rma"
        regtest's ``model``.
    engine : {"metafor", "fast"}, default "metafor"
        Who computes the models: metafor in R, or numpy replaying metafor's algorithms.
    verify : int, float or "all", default 300
        With ``engine="fast"``: a count (int >= 1), the stratified sample's size, which stays
        flat as the batch grows; a fraction (float in (0, 1]): that share at random, at least 20,
        plus every analysis outside the interior class; or ``"all"``. 0 only with
        ``skip_verification_unsafe=True``. Unused with ``engine="metafor"``.
    verify_seed : int, default 0
        Seed of the verified sample.
    mods : str or list of str, optional
        Moderators, as :func:`rma`'s ``mods``: a formula (``"~ factor(alloc) + ablat"``) or
        numeric columns; every analysis is fitted with the same model, and one where it cannot
        be (e.g. a factor with one level in that analysis) gets an ``error`` status row.
        ``engine="fast"`` fits no moderators: such a batch runs on metafor (``status()``'s
        ``engine`` says so). Default None.
    skip_verification_unsafe : bool, default False
        With ``verify=0``: run the fast engine unchecked. The provenance says so
        (``"UNVERIFIED": True``) and a warning is issued.
    random : str or list of str, optional
        Random terms, as :func:`rma_mv`'s ``random`` (``"~ 1 | study/es_id"``, or a list): every
        analysis is then fitted with metafor's ``rma.mv`` with these terms (``V`` the sampling
        variances), ``method`` ML or REML and ``test`` z or t; an analysis with a missing value
        in a random term's column, or that rma.mv cannot fit, gets an ``error`` status row.
        ``glance()`` keeps its columns: the pooled estimate, PI, Q, QM and the multilevel I^2
        (``tau2``, ``tau2_se``, ``tau`` and ``h2`` NA); ``tidy()`` adds one row per variance or
        correlation component (``component = "random"``, ``term`` as :func:`rma_mv`'s
        ``components()`` names it, only ``estimate`` set). Not with ``engine="fast"`` (it
        replays rma.uni only), ``fallback``, ``trimfill``, ``regtest`` or ``ranktest``.
        Default None: rma.uni.
    struct : str or list of str, optional
        The var-cov structure of each ``~ inner | outer`` random term: :func:`rma_mv`'s
        ``struct``. Default None: metafor's ``"CS"``.
    **escalc_columns : str
        escalc's per-study arguments (``ai``, ``n1i``, ``m1i``, ``xi``, ...), each the name of a
        column: compute ``yi`` and ``vi`` with metafor's ``escalc`` per analysis first.

    Returns
    -------
    BatchResult
        ``glance()``: one row per analysis id, in input order: ``analysis_id``, the glance
        columns of :func:`rma` (NA where the analysis failed), then the extras' columns
        prefixed ``trimfill_``, ``regtest_``, ``ranktest_``. ``tidy()``: ``analysis_id`` and
        the coefficient columns of :func:`rma`'s ``tidy()`` for each fitted analysis.
        ``status()``: every id once with ``status`` (ok, warning, error), ``message``,
        ``r_call``, ``fallback`` and ``engine``. ``provenance``: a :class:`Provenance` whose
        ``details`` hold the run's record (versions, options, input, counts, timings, and
        ``"verification"`` for a fast run), as ``provenance.json`` has it.

    Raises
    ------
    InputError
        An unknown or invalid option; missing columns or bad analysis ids; ``resume`` or
        ``csv`` without ``out``; ``out`` holding another batch (or any batch without
        ``resume=True``). Bad data in one analysis does not raise: it becomes an error row.
    VerificationError
        With ``engine="fast"``: metafor disagrees on a verified analysis. The error's
        ``result`` holds the whole BatchResult, and the files are written.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    started, clock = _now(), time.perf_counter()
    settings = batch_settings(
        by,
        yi=yi,
        vi=vi,
        sei=sei,
        measure=measure,
        method=method,
        test=test,
        level=level,
        trimfill=trimfill,
        regtest=regtest,
        ranktest=ranktest,
        fallback=fallback,
        escalc_columns=escalc_columns,
        trimfill_estimator=trimfill_estimator,
        trimfill_side=trimfill_side,
        regtest_model=regtest_model,
        engine=engine,
        mods=mods,
        random=random,
        struct=struct,
    )
    plan = _prepare(
        data,
        settings,
        verify=check_budget(verify, skip_verification_unsafe),
        verify_seed=verify_seed,
        workers=workers,
        scheduler=scheduler,
        chunk_size=chunk_size,
        out=out,
        resume=resume,
        csv=csv,
    )
    collector = _Collector(plan, progress)
    verifier = collector.verifier = _verifier(plan, collector)
    try:
        _run(plan, collector)
    except BaseException:
        if verifier is not None:  # stop the background verification round before giving up
            verifier.close()
        if collector.store is not None:
            collector.store.abandon()
        raise
    tables = collector.final(plan.csv)  # under out=: the files, streamed from the chunk parts
    provenance = _run_provenance(plan, collector, tables, started, clock)
    if settings.engine == "fast":  # metafor judges every fast run (unless told, loudly, not to)
        provenance.update(
            _verify(plan, collector, verifier, tables), wall_seconds=time.perf_counter() - clock, finished=_now()
        )
    return _assemble(plan, collector, tables, provenance)


@dataclass(frozen=True)
class _Plan:
    """What a batch will do, settled before any analysis runs."""

    settings: BatchSettings
    source: Source
    verify: Budget  # how much of a fast run metafor reruns
    verify_seed: int
    workers: int
    scheduler: object  # None, an address or a distributed.Client
    chunk_size: int  # analyses per chunk read from the source
    metafor_chunk: int  # analyses per chunk the fast path hands on to metafor
    fast: bool  # numpy first (engine="fast" and it covers these settings)
    fast_not_covered: str  # why engine="fast" hands every analysis to metafor ("" if it does not)
    fast_rules: Rules | None  # the metafor release the fast path replays; None unless engine="fast"
    out: Path | None
    resume: bool
    csv: bool

    @property
    def fingerprint(self) -> dict:
        """What a resumed run must share with the run it continues."""
        return {"input": self.source.describe(), "options": self.settings.describe()}

    def run_metafor(self, work: Iterator[dict], on_result: Callable, on_failure: Callable) -> None:
        """Every payload on metafor: on a Dask cluster, in this process, or on worker processes."""
        if self.scheduler is not None:
            from ketabridge.batches.cluster import run_dask

            run_dask(work, self.scheduler, on_result, on_failure)
        elif self.workers == 0:
            from ketabridge.batches.pool import run_inline

            run_inline(work, on_result, on_failure)
        else:
            from ketabridge.batches.pool import run_pool

            run_pool(work, self.workers, on_result, on_failure)


def _prepare(
    data: TableLike,
    settings: BatchSettings,
    *,
    verify,
    verify_seed: int,
    workers,
    scheduler,
    chunk_size,
    out,
    resume: bool,
    csv: bool,
) -> _Plan:
    """Check the run's options, scan the source's ids and choose the route and chunk sizes."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InputError(f"workers must be a whole number >= 0, not {workers!r}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise InputError(f"chunk_size must be a whole number >= 1, not {chunk_size!r}")
    if (resume or csv) and out is None:
        raise InputError("resume and csv need an output directory (out=)")
    source = Source(
        data, settings.by, list(dict.fromkeys([*settings.columns.values(), *settings.mods, *settings.random_columns]))
    )
    fast_skipped = _fast_not_covered(settings)
    fast = settings.engine == "fast" and not fast_skipped
    metafor_chunk = chunk_size or chunk_size_for(len(source.ids), workers)
    return _Plan(
        settings=settings,
        source=source,
        verify=verify,
        verify_seed=verify_seed,
        workers=workers,
        scheduler=scheduler,
        chunk_size=(chunk_size or FAST_CHUNK) if fast else metafor_chunk,
        metafor_chunk=metafor_chunk,
        fast=fast,
        fast_not_covered=fast_skipped,
        fast_rules=_fast_rules() if settings.engine == "fast" else None,
        out=None if out is None else Path(out),
        resume=resume,
        csv=csv,
    )


class _Collector:
    """Where finished chunks go (the store under out=, else memory), with the R side's versions,
    the timings and the progress bar; its on_result/on_failure are the metafor runners' callbacks."""

    def __init__(self, plan: _Plan, progress: bool | None):
        self.store = BatchStore(plan.out, plan.fingerprint, plan.resume) if plan.out is not None else None
        if self.store is not None and not plan.resume:  # the final tables are written as the run goes
            self.store.stream(plan.source.ids, plan.csv)
        self.done = self.store.done_ids() if self.store is not None and plan.resume else set()
        self.source_ids = plan.source.ids
        self.frames: dict[str, list[pd.DataFrame]] = {kind: [] for kind in KINDS}
        self.versions: dict = self.store.versions() if self.store is not None else {}
        self.fit_seconds = 0.0  # inside R, summed over chunks
        self.chunks = 0  # chunks metafor ran
        self.fast_seconds = 0.0
        self.fast_failures: list[str] = []  # fast chunks that raised: rerun whole on metafor, and said here
        self.verifier: Verifier | None = None  # a fast run's verification, told of every fast chunk
        self.bar = Progress(len(plan.source.ids) - len(self.done), progress)

    def keep(self, tables: dict[str, pd.DataFrame]) -> None:
        if self.store is not None:
            self.store.write_chunk(tables)
        else:
            for kind, table in tables.items():
                self.frames[kind].append(table)
        self.bar.advance(len(tables["status"]))

    def keep_fast(self, tables: dict[str, pd.DataFrame], seconds: float, payload: dict) -> None:
        self.fast_seconds += seconds
        if self.verifier is not None:  # before writing: metafor starts on the chunk's sample members
            self.verifier.observe(payload, tables["glance"], tables["status"])
        self.keep(tables)

    def on_result(self, payload: dict, result: dict) -> None:
        if self.store is not None and result["versions"] != self.versions:
            self.store.record_versions(result["versions"])
        self.versions.update(result["versions"])
        self.fit_seconds += result["fit_seconds"]
        self.chunks += 1
        self.keep(result["tables"])

    def on_failure(self, payload: dict, why: str) -> None:
        notes = [f"{note}; {why}" if note else why for note in payload["notes"]]
        self.keep(failed_tables(payload["ids"], notes, payload["settings"], payload["by"]))

    def final(self, csv: bool) -> FinalTables:
        """Every kind's table, in input order, after checking that each id has one status row: in
        memory, or (under out=) written to the output directory a window at a time and read from
        there on demand, so that a batch's size does not set its memory."""
        if self.store is not None:
            merged = self.store.merge(self.source_ids, csv)
            return FinalTables(
                paths=merged["paths"], status_counts=merged["status_counts"], engine_counts=merged["engine_counts"]
            )
        tables = {kind: _in_input_order(_concat(self.frames[kind]), self.source_ids) for kind in KINDS}
        _check_every_id_once(tables["status"], self.source_ids)
        return FinalTables.in_memory(tables)


def _run(plan: _Plan, collector: _Collector) -> None:
    """Every pending analysis once: checked in Python, then numpy first when fast (what it hands
    on goes to metafor in R-sized chunks), then metafor."""
    try:
        work = _checked_payloads(plan, collector)
        if plan.fast:
            work = run_fast(
                work,
                plan.source.by,
                collector.keep_fast,
                plan.metafor_chunk,
                collector.fast_failures,
                plan.fast_rules.metafor_version,
                plan.workers if plan.scheduler is None else 0,
            )
        plan.run_metafor(work, collector.on_result, collector.on_failure)
    finally:
        collector.bar.close()


def _checked_payloads(plan: _Plan, collector: _Collector) -> Iterator[dict]:
    """The pending chunks' payloads; analyses the Python checks stop get their final rows now."""
    for chunk in plan.source.chunks(plan.chunk_size, skip=collector.done):
        checked = check_chunk(chunk, plan.settings)
        if checked.failed_ids:  # stopped before R: their status rows are final now
            collector.keep(
                failed_tables(checked.failed_ids, checked.failed_messages, plan.settings.to_r(), plan.source.by)
            )
        if checked.ids:
            yield checked.payload(plan.settings, plan.source.by)


def _run_provenance(plan: _Plan, collector: _Collector, tables: FinalTables, started: str, clock: float) -> dict:
    """What ran, how and how long; a fast run's verification is added to it afterwards."""
    provenance = {
        "ketabridge_version": ketabridge_version(),
        **collector.versions,
        "options": plan.settings.describe(),
        "input": plan.source.describe(),
        "analyses": len(plan.source.ids),
        "status_counts": tables.status_counts,
        "resumed_analyses": len(collector.done),
        "workers": plan.workers,
        "scheduler": None if plan.scheduler is None else str(plan.scheduler),
        "chunk_size": plan.chunk_size,
        "chunks_run": collector.chunks,
        "started": started,
        "finished": _now(),
        "wall_seconds": time.perf_counter() - clock,
        "r_fit_seconds": collector.fit_seconds,
        "engine": plan.settings.engine,
        "engine_counts": tables.engine_counts,
    }
    if plan.settings.engine == "fast":
        provenance.update(
            _fast_versions(),
            fast_replays=plan.fast_rules.describe(),
            fast_seconds=collector.fast_seconds,
            fast_not_covered=plan.fast_not_covered,
            fast_chunk_failures=collector.fast_failures,
        )
    return provenance


def _verifier(plan: _Plan, collector: _Collector) -> Verifier | None:
    """The verification of a fast run, its whole-batch share already running on metafor workers
    (when there are workers: R in a background process while numpy computes here)."""
    if plan.settings.engine != "fast" or plan.verify.kind == "skipped":
        return None
    verifier = Verifier(
        plan.source, plan.settings, plan.verify, plan.verify_seed, plan.workers, plan.run_metafor, collector.versions
    )
    verifier.progress = collector.bar.enabled  # its own bar, "verifying on metafor"
    pending = [analysis for analysis in plan.source.ids if analysis not in collector.done]
    verifier.start(pending, overlap=plan.fast and plan.workers >= 1 and plan.scheduler is None)
    return verifier


def _verify(plan: _Plan, collector: _Collector, verifier: Verifier | None, tables: FinalTables) -> dict:
    """metafor's verdict on a fast run, and the versions of the R that gave it."""
    if verifier is None:
        warnings.warn(
            "verification skipped (skip_verification_unsafe=True): no fast result was checked against metafor",
            UserWarning,
            stacklevel=3,
        )
        return {"verification": skipped(), "UNVERIFIED": True, "verify_seconds": 0.0}
    started_verifying = time.perf_counter()
    verification = verifier.finish(tables, observed_all=plan.fast and not collector.done)
    return {
        "verification": verification,
        **collector.versions,
        "verify_seconds": time.perf_counter() - started_verifying,
    }


def _assemble(plan: _Plan, collector: _Collector, tables: FinalTables, provenance: dict) -> BatchResult:
    """provenance.json under out= (the tables are there already), then the result (its tables read
    from those files on demand); a fast run metafor disagrees with raises, carrying the result."""
    if collector.store is not None:
        collector.store.finish(provenance)
    result = BatchResult(**tables.tables(), provenance=provenance)
    verdict = provenance.get("verification", {})
    if verdict.get("verdict") == "disagree":
        first = verdict["disagreements"][0]
        raise VerificationError(
            f"the fast engine disagrees with metafor on {verdict['disagreeing_analyses']} of "
            f"{verdict['checked'] + verdict.get('also_checked', 0)} "
            f"verified analyses (first: analysis {first['analysis_id']!r}, {first['column']}: fast {first['fast']!r}, "
            f"metafor {first['metafor']!r}); every disagreement is listed in the provenance"
            + (f" ({plan.out / 'provenance.json'})" if plan.out is not None else ""),
            result,
        )
    return result


def _fast_not_covered(settings: BatchSettings) -> str:
    if settings.engine != "fast":
        return ""
    from ketabridge.fast.chunk import not_covered

    return not_covered(settings.to_r())


def _fast_rules() -> Rules:
    """The metafor release the fast path replays: the one this machine's R has, which also
    computes what the fast path hands on and verifies the run."""
    from ketabridge.bridge.session import installed_metafor_version
    from ketabridge.fast.rules import Rules

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
