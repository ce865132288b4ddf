"""ketabridge.crosscheck: an engine's numbers against metafor's, quantity by quantity."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import replace

from ketabridge import schema
from ketabridge.agreement.tolerances import pick, resolve, statistic_of, tail_rtol
from ketabridge.analyses.results import ketabridge_version
from ketabridge.analyses.spec import percent_level
from ketabridge.crosschecks import deprecated_names
from ketabridge.crosschecks.compare import convert, differences, verdict
from ketabridge.crosschecks.crosscheck_result import CrosscheckResult, reproducers, summarise
from ketabridge.crosschecks.engine_side import engine_values
from ketabridge.crosschecks.engines import engine_info
from ketabridge.crosschecks.metafor_side import metafor_values
from ketabridge.crosschecks.protocol import QUANTITIES, Engine
from ketabridge.crosschecks.suites import load_suite
from ketabridge.errors import InputError
from ketabridge.options import METHODS, TESTS, check_choice
from ketabridge.progress_bar import progress_bar


def crosscheck(
    engine: Engine | str,
    suite="reference",
    *,
    methods: Collection[str] | None = None,
    tests: Collection[str] | None = None,
    quantities: Collection[str] | None = None,
    tolerances: Mapping[str, object] | None = None,
    level: float = 95.0,
    n: int = 200,
    seed: int = 1,
    by: str = "dataset",
    yi: str = "yi",
    vi: str = "vi",
    workers: int | None = None,
    progress: bool | None = None,
) -> CrosscheckResult:
    """Compare an engine with metafor's ``rma.uni`` (plus ``predict``, ``trimfill`` and ``regtest``)
    on every data set of a suite, for each method and test.

    ``engine``: a callable following the protocol (``ketabridge.Engine``), a built-in name
    ("statsmodels", "pymare") or "module:function". ``suite``: "reference" (published examples),
    "random" (``n`` data sets from ``seed``), "edge" (hard cases), a long-format file (one row per
    study, grouped by column ``by``, effect sizes ``yi``, variances ``vi``) or a list of Dataset.
    ``methods``, ``tests`` and ``quantities`` default to what the engine declares (methods: REML,
    tests: z, quantities: all, when it declares none). ``tolerances`` overrides the defaults by class
    ("closed_form", "iterative", "p_values", "count") or quantity: (rtol, atol) or a Tolerance.
    Unlike metafor, the engine's quantities are compared after exact conversions (fraction to
    percent, H to H^2); definitions that cannot be converted give "differ-by-definition".

    Parameters
    ----------
    engine : Engine or str
        The implementation to check: a callable ``engine(yi, vi, *, method, test, level)``
        returning a mapping of quantities (see :func:`declare_engine`), a built-in name
        (``"statsmodels"``, ``"pymare"``, ``"fast"``) or ``"module:function"``.
    suite : str, os.PathLike or list of Dataset, default "reference"
        The data sets: ``"reference"``, ``"random"``, ``"edge"``, the path of a long-format
        CSV, Parquet, Feather or Arrow file, or a list of :class:`Dataset`.
    methods : collection of str, optional
        metafor ``method`` names to compare (``rma.uni``'s). Default None: what the engine
        declares, else ``("REML",)``.
    tests : collection of str, optional
        metafor ``test`` names to compare. Default None: what the engine declares (``("z",)``
        when it declares none).
    quantities : collection of str, optional
        Names from ``ketabridge.crosschecks.QUANTITIES`` (``estimate``, ``tau2``, ``i2``,
        ``trimfill_k0``, ``regtest_p_value``, ...). Default None: what the engine declares, else
        all of them (compared where the engine returns them).
    tolerances : mapping or "exact", optional
        Overrides of the default tolerances, keyed by class or quantity; each value a
        :class:`Tolerance`, an ``(rtol, atol)`` pair or a mapping with ``rtol``, ``atol``,
        ``reason``. ``"exact"`` uses the tolerances for an engine that replays metafor's own
        algorithm. Default None: the defaults, each with its reason.
    level : float, default 95.0
        Confidence level in percent for intervals: rma.uni's ``level``.
    n : int, default 200
        Number of data sets of the ``"random"`` suite.
    seed : int, default 1
        Seed of the ``"random"`` suite.
    by : str, default "dataset"
        For a file suite: the column naming each data set.
    yi : str, default "yi"
        For a file suite: the column of effect sizes.
    vi : str, default "vi"
        For a file suite: the column of sampling variances (finite and > 0).
    workers : int, optional
        Worker processes for metafor's side (run by :func:`batch`). Default None: 0 (this
        process) below 1000 data sets, else one per CPU.
    progress : bool, optional
        Show a progress bar (tqdm) of the data sets compared. Default None: on a terminal or
        in a notebook.

    Returns
    -------
    CrosscheckResult
        ``discrepancies()``: one row per data set x method x test x quantity (``dataset,
        method, test, quantity, metafor_value, engine_value, abs_diff, rel_diff, tolerance,
        verdict, note``; verdict ``agree``, ``differ-by-definition``, ``disagree``,
        ``engine-failed`` or ``metafor-failed``); ``summary()``: verdict counts and largest
        differences per method x test x quantity; ``reproducers()``: data (CSV text) and R
        code per disagreement; ``disagreements()``: the ``disagree`` rows; ``provenance``: a
        :class:`Provenance` whose ``details`` hold engine, suite, options, tolerances and
        versions. ``.ok`` is True when nothing disagrees; ``.write(out)`` writes the files.

    Raises
    ------
    InputError
        An engine that cannot be found, imported or called, or that declares unknown names;
        an unknown or unsupported method, test or quantity; an unknown suite or tolerance; a
        suite file without the columns or with bad values; an empty suite.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old (metafor's side needs them). The engine's own
        exceptions are not raised: they become ``engine-failed`` rows.
    """
    info = engine_info(engine)
    if quantities is not None:
        quantities = deprecated_names.renamed(
            (quantities,) if isinstance(quantities, str) else quantities, "crosscheck(quantities=)"
        )
    if isinstance(tolerances, Mapping):
        keys = deprecated_names.renamed(tolerances, "crosscheck(tolerances=)")
        tolerances = dict(zip(keys, tolerances.values()))
    chosen_methods = _chosen(methods, info.methods or ("REML",), info.methods, METHODS, "method", info.name)
    chosen_tests = _chosen(tests, info.tests, info.tests, TESTS, "test", info.name)
    chosen_quantities = _chosen(
        quantities, info.quantities or QUANTITIES, info.quantities, QUANTITIES, "quantity", info.name
    )
    level = percent_level(level)
    table = resolve(tolerances, QUANTITIES)
    datasets = load_suite(suite, n=n, seed=seed, by=by, yi=yi, vi=vi)
    if not datasets:
        raise InputError("the suite holds no data sets")

    rows, calls, batch_provenance, old_names = [], {}, {}, []
    bar = progress_bar(
        len(datasets) * len(chosen_methods) * len(chosen_tests), progress, f"crosscheck {info.name}", "data sets"
    )
    for method in chosen_methods:
        for test in chosen_tests:
            bar.set_postfix_str(f"{method}, {test}: metafor")
            metafor, batch_provenance = metafor_values(datasets, method, test, level, chosen_quantities, workers)
            bar.set_postfix_str(f"{method}, {test}: {info.name}")
            for dataset in datasets:
                bar.update()
                reference = metafor.loc[dataset.name]
                calls[(dataset.name, method, test)] = reference["r_call"]
                reply = engine_values(info, dataset, method, test, level, chosen_quantities)
                old_names += reply.old_names
                for quantity in chosen_quantities:
                    if quantity not in reply.values and not reply.failure and info.quantities is None:
                        continue  # an undeclared engine is compared on what it returns
                    rows.append(_row(dataset.name, method, test, quantity, reference, reply, table))
    bar.close()
    deprecated_names.warn(old_names, f"engine {info.name!r} returns")
    discrepancies = schema.frame({name: [row[name] for row in rows] for name in schema.CROSSCHECK}, schema.CROSSCHECK)
    provenance = {
        "ketabridge_version": ketabridge_version(),
        "engine": info.name,
        "engine_definitions": dict(info.definitions),
        "suite": suite if isinstance(suite, str) else ("datasets" if isinstance(suite, (list, tuple)) else str(suite)),
        "datasets": len(datasets),
        "n": n,
        "seed": seed,
        "level": level,
        "methods": list(chosen_methods),
        "tests": list(chosen_tests),
        "quantities": list(chosen_quantities),
        "tolerances": {name: vars(tolerance) for name, tolerance in table.items()},
        **{
            key: value
            for key, value in batch_provenance.items()
            if key.endswith("_version") and key != "ketabridge_version"
        },
    }
    return CrosscheckResult(
        discrepancies=discrepancies,
        summary=summarise(discrepancies),
        reproducers=reproducers(discrepancies, datasets, calls, level),
        provenance=provenance,
    )


def _row(name, method, test, quantity, reference, reply, table) -> dict:
    class_name, tolerance = pick(table, quantity, method)
    tail = statistic_of(quantity)
    if tail is not None and tail[0] in reference:  # a p-value far in the tail inherits its statistic's rounding
        tolerance = replace(
            tolerance, rtol=float(tail_rtol(table, quantity, method, tolerance.rtol, reference[tail[0]]))
        )
    metafor_value = float(reference[quantity])
    engine_value = reply.values.get(quantity, math.nan)
    engine_value, definition = convert(quantity, engine_value, reply.definitions)
    absolute, relative = differences(metafor_value, engine_value)
    if reference["failed"]:
        outcome, note = "metafor-failed", reference["message"] or "metafor gives no value"
    elif reply.failure:
        outcome, note = "engine-failed", reply.failure
    elif quantity in reply.unreadable:
        outcome, note = "engine-failed", f"not a number: {reply.unreadable[quantity]}"
    elif quantity not in reply.values:
        outcome, note = "engine-failed", "declared but not returned"
    else:
        outcome, note = verdict(quantity, metafor_value, engine_value, definition, tolerance)
    if outcome != "agree" and reply.warnings:
        note = "; ".join(filter(None, (note, f"engine warned: {reply.warnings}")))
    return {
        "dataset": name,
        "method": method,
        "test": test,
        "quantity": quantity,
        "metafor_value": metafor_value,
        "engine_value": engine_value,
        "abs_diff": absolute,
        "rel_diff": relative,
        "tolerance": class_name,
        "verdict": outcome,
        "note": note,
    }


def _chosen(asked, default, declared, allowed, what, engine_name) -> tuple[str, ...]:
    if asked is None:
        return tuple(default)
    asked = (asked,) if isinstance(asked, str) else tuple(asked)
    for name in asked:
        check_choice(name, tuple(allowed), what)
        if declared is not None and name not in declared:
            raise InputError(
                f"engine {engine_name!r} does not support {what} {name!r}; it declares: {', '.join(declared)}"
            )
    if not asked:
        raise InputError(f"choose at least one {what}")
    return asked
