"""A plan's multilevel analyses (keys random, struct) and cluster-robust ones (robust)."""

from __future__ import annotations

import pandas as pd

from ketabridge.analyses.transforms import natural_transform
from ketabridge.plans.plan_file import Analysis


def fit_multilevel(analysis: Analysis, effects: pd.DataFrame):
    """rma_mv with the plan's random terms (or rma without), then robust() by the plan's cluster column."""
    from ketabridge.analyses import models
    from ketabridge.analyses.multilevel import rma_mv
    from ketabridge.analyses.robust import robust

    measures = effects["measure"].unique()
    measure = measures[0] if len(measures) == 1 and measures[0] != "GEN" else None
    table = effects.reset_index(drop=True)
    if measure is not None:
        table.attrs["ketabridge_measure"] = measure
    if analysis.random:
        result = rma_mv(
            table,
            random=list(analysis.random),
            struct=analysis.struct,
            method=analysis.method,
            test=analysis.test,
            level=analysis.level,
            slab=analysis.slab,
        )
    else:
        result = models.rma(
            table, method=analysis.method, test=analysis.test, level=analysis.level, slab=analysis.slab, measure=measure
        )
    return robust(result, analysis.robust) if analysis.robust else result


def multilevel_summary_row(analysis: Analysis, result) -> pd.DataFrame:
    """The summary row from the glance, on the model's scale (no predict() for these results)."""
    glance = result.glance().iloc[0]
    return pd.DataFrame(
        [
            {
                "title": analysis.title,
                "k": int(glance["k"]),
                "measure": result.spec.measure,
                "method": glance["method"],
                "scale": "model" if natural_transform(result.spec.measure) is None else "model (not back-transformed)",
                **{name: glance[name] for name in ("estimate", "conf_low", "conf_high", "pi_low", "pi_high", "i2")},
                "tau2": glance["tau2"] if "tau2" in glance else glance["sigma2_total"],
                "q": glance["q"],
                "q_pvalue": glance["q_pvalue"],
            }
        ]
    )
