"""One batch chunk on the fast path: kb_batch's reply (ketabridge/r/kb_batch.R), computed with numpy.

The reply has kb_batch's layout, so ketabridge.batches builds the same tables from it; analyses the
fast path does not reproduce come back flagged, and the batch runs them on metafor instead.
"""

from __future__ import annotations

import time

import numpy as np

from ketabridge.errors import NOT_CONVERGED
from ketabridge.fast.egger_rma import egger_rma
from ketabridge.fast.model import rma
from ketabridge.fast.steps import Outcome
from ketabridge.fast.trimfill import glance_of, trimfill

# what the fast path replays (options.py holds metafor's full vocabularies)
FAST_METHODS = ("EE", "FE", "DL", "HE", "SJ", "PM", "ML", "REML")
FAST_TESTS = ("z", "knha")
FAST_TRIMFILL_ESTIMATORS = ("L0", "R0")


def not_covered(settings: dict) -> str:
    """Why no analysis of a batch with these settings can take the fast path ("" if they can)."""
    checks = [
        (settings.get("escalc"), "effect sizes are computed by metafor's escalc"),
        (settings.get("moderators"), "moderators (mods=) are fitted by metafor only"),
        (
            settings["method"] not in FAST_METHODS,
            f"method {settings['method']} is not one of {', '.join(FAST_METHODS)}",
        ),
        (settings["test"] not in FAST_TESTS, f"test {settings['test']} is not one of {', '.join(FAST_TESTS)}"),
        (
            settings.get("trimfill") and settings["trimfill_estimator"] not in FAST_TRIMFILL_ESTIMATORS,
            f"trim-and-fill estimator {settings['trimfill_estimator']} is not L0 or R0",
        ),
    ]
    return "; ".join(reason for failing, reason in checks if failing)


def fast_reply(sizes: np.ndarray, data: dict[str, np.ndarray], settings: dict) -> tuple[dict, np.ndarray]:
    """(kb_batch's reply for every analysis of the chunk, mask of analyses to rerun on metafor)."""
    started = time.perf_counter()
    yi = np.asarray(data["yi"], dtype=float)
    vi = np.asarray(data["vi"], dtype=float) if "vi" in data else np.asarray(data["sei"], dtype=float) ** 2
    count = len(sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    parts = [_bucket(yi, vi, starts, sizes, size, settings) for size in np.unique(sizes)]
    ok = np.zeros(count, dtype=bool)
    needs_metafor = np.zeros(count, dtype=bool)
    messages = np.full(count, "", dtype=object)
    columns: dict[str, dict[str, np.ndarray]] = {}
    for positions, part in parts:
        ok[positions], needs_metafor[positions], messages[positions] = (
            part["ok"],
            part["needs_metafor"],
            part["message"],
        )
        for table, values in part["columns"].items():
            target = columns.setdefault(table, {})
            for name, column in values.items():
                if name not in target:
                    target[name] = (
                        np.full(count, None, dtype=object) if column.dtype == object else np.full(count, np.nan)
                    )
                target[name][positions] = column
    tidy_rows = np.flatnonzero(ok)
    glance = columns["glance"]
    reply = {
        "ok": ok,
        "message": list(messages),
        "fallback": [""] * count,
        "r_call": [""] * count,
        "call_template": [model_call(data, settings)],
        "glance": glance,
        "tidy": {
            "analysis": tidy_rows + 1,
            "term": ["intrcpt"] * len(tidy_rows),
            "component": ["location"] * len(tidy_rows),
            **{
                name: glance[name][tidy_rows]
                for name in ("estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high")
            },
        },
        **{name: columns.get(name) for name in ("trimfill", "regtest", "ranktest")},
        "seconds": [time.perf_counter() - started],
    }
    return reply, needs_metafor


def _bucket(yi, vi, starts, sizes, size, settings) -> tuple[np.ndarray, dict]:
    """Every analysis with `size` studies, as dense (G, size) arrays."""
    positions = np.flatnonzero(sizes == size)
    index = starts[positions, None] + np.arange(size)[None, :]
    Y, V = yi[index], vi[index]
    count = len(positions)
    fit = rma(Y, V, settings["method"], settings["test"], settings["level"])
    outcome = fit.outcome
    ok = ~outcome.failed
    needs_metafor = outcome.needs_metafor.copy()
    if settings.get("fallback"):  # a fit that did not converge takes the fallback policy: metafor's job
        needs_metafor |= np.array(
            [bool(NOT_CONVERGED.search(" ".join([e, *w]))) for e, w in zip(outcome.errors, outcome.warnings)]
        )
    glance = glance_of(fit)
    glance.update(
        {
            "measure": np.full(count, settings["measure"], dtype=object),
            "method": np.full(count, settings["method"], dtype=object),
            "converged": np.array([not NOT_CONVERGED.search(" ".join(w)) for w in outcome.warnings], dtype=object),
        }
    )
    glance = {name: _blank(values, ~ok) for name, values in glance.items()}
    extras: dict[str, dict] = {}
    notes = [list(w) for w in outcome.warnings]
    rows = np.flatnonzero(ok)
    sub = {name: values[rows] for name, values in glance.items()}

    def run_extra(name: str, step_outcome: Outcome, columns: dict) -> None:
        failed = step_outcome.failed
        for position, row in enumerate(rows):
            notes[row].extend(f"{name}: {text}" for text in step_outcome.warnings[position])
            if failed[position]:
                notes[row].append(f"{name} failed: {step_outcome.errors[position]}")
        needs_metafor[rows] |= step_outcome.needs_metafor
        full = {}
        for column, values in columns.items():
            values = _blank(np.asarray(values), failed)
            full[column] = np.full(count, None, dtype=object) if values.dtype == object else np.full(count, np.nan)
            full[column][rows] = values
        extras[name] = full

    if settings.get("trimfill") and len(rows):
        filled = trimfill(
            Y[rows], V[rows], settings["method"], sub, settings["trimfill_estimator"], settings.get("trimfill_side")
        )
        run_extra(
            "trimfill",
            filled.outcome,
            {
                **filled.filled,
                "converged": np.full(len(rows), True, dtype=object),
                "k0": filled.k0.astype(float),
                "k0_se": filled.k0_se,
                "side": filled.side,
                "estimator": np.full(len(rows), settings["trimfill_estimator"], dtype=object),
            },
        )
    if settings.get("regtest") and len(rows):
        model = settings.get("regtest_model", "rma")
        if model == "rma":
            test = egger_rma(Y[rows], V[rows], settings["method"], settings["test"], settings["level"])
            step = test.outcome
        else:
            from ketabridge.fast.egger_lm import egger_lm

            test = egger_lm(Y[rows], V[rows], settings["level"])
            step = test.outcome
        run_extra(
            "regtest",
            step,
            {
                "model": np.full(len(rows), model, dtype=object),
                "predictor": np.full(len(rows), "sei", dtype=object),
                **{
                    name: getattr(test, name)
                    for name in ("statistic", "df", "p_value", "limit_estimate", "limit_conf_low", "limit_conf_high")
                },
            },
        )
    if settings.get("ranktest") and len(rows):
        from ketabridge.fast.ranktest import ranktest

        test = ranktest(Y[rows], V[rows])
        run_extra("ranktest", test.outcome, {"kendall_tau": test.kendall_tau, "p_value": test.p_value})

    message = np.array(
        ["; ".join(([outcome.errors[g]] if not ok[g] else []) + notes[g]) for g in range(count)], dtype=object
    )
    return positions, {
        "ok": ok,
        "needs_metafor": needs_metafor,
        "message": message,
        "columns": {"glance": glance, **extras},
    }


def _blank(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """NA in `rows` (R returns no values for a failed fit or extra)."""
    if values.dtype == object:
        values = values.copy()
        values[rows] = None
        return values
    return np.where(rows, np.nan, values.astype(float))


def model_call(data: dict, settings: dict) -> str:
    """kb_model_call's text for the chunk's model (display only, as R shows it)."""
    variance = "sei" if "sei" in data else "vi"
    return (
        f'rma.uni(yi = yi, {variance} = {variance}, data = dat, measure = "{settings["measure"]}", '
        f'method = "{settings["method"]}", test = "{settings["test"]}", level = {settings["level"]:.15g})'
    )
