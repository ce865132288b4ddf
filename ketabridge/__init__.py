"""ketabridge: metafor-validated meta-analysis for Python.

Nothing here starts R: R starts on the first analysis. The API's names are imported on first
use (PEP 562), so ``import ketabridge``, and with it ``ketabridge --help``, loads no pandas,
numpy or pyarrow.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from ketabridge.errors import (
    ConvergenceError,
    InputError,
    KetabridgeError,
    MetaforError,
    MetaforWarning,
    MissingValuesWarning,
    RNotAvailableError,
    VerificationError,
)

__all__ = [
    "escalc", "rma", "trimfill", "regtest", "ranktest", "batch", "BatchResult", "crosscheck",
    "CrosscheckResult", "Engine", "declare_engine", "Dataset", "Tolerance", "forest", "funnel",
    "correlation_grid", "pool_proportions", "ProportionsResult", "ProportionWarning", "predict", "confint",
    "leave1out", "influence", "cumul", "fsn", "SubgroupResult", "MetaResult", "BiasTestResult", "Provenance",
    "provenance_of", "KetabridgeError", "InputError", "MetaforError", "ConvergenceError", "RNotAvailableError",
    "VerificationError", "MetaforWarning", "MissingValuesWarning",
    # count models for rare events (issue 15)
    "rma_mh", "rma_peto", "rma_glmm", "CountModelResult", "ZeroCellWarning",
    "rma_mv", "MultilevelResult", "vcalc", "aggregate", "robust",
    # publication-bias models (issue 15)
    "selmodel", "plot_selmodel", "SelectionResult", "pet_peese", "tes", "permutest", "PermutationResult",
    "Figure",
]  # fmt: skip
# model comparison and inference (issue 14)
__all__ += ["anova", "fitstats", "vcov", "blup", "ranef", "profile", "regplot"]

# Each lazy public name -> the module that defines it (the imports under TYPE_CHECKING below).
_HOMES = {
    **dict.fromkeys(("escalc", "ranktest", "regtest", "rma", "trimfill"), "analyses.models"),
    **dict.fromkeys(("BatchResult", "batch"), "batches"),
    **dict.fromkeys(
        ("CrosscheckResult", "Dataset", "Engine", "Tolerance", "crosscheck", "declare_engine"), "crosschecks"
    ),
    **dict.fromkeys(
        ("BiasTestResult", "MetaResult", "Provenance", "SubgroupResult", "provenance_of"), "analyses.results"
    ),
    **dict.fromkeys(("confint", "predict"), "analyses.intervals"),
    **dict.fromkeys(("cumul", "fsn", "influence", "leave1out"), "analyses.sensitivity"),
    **dict.fromkeys(("forest", "funnel"), "analyses.plots"),
    "Figure": "analyses.figure",
    "correlation_grid": "analyses.prepost",
    **dict.fromkeys(("MultilevelResult", "rma_mv"), "analyses.multilevel"),
    **dict.fromkeys(("aggregate", "vcalc"), "analyses.dependence"),
    "robust": "analyses.robust",
    **dict.fromkeys(("ProportionsResult", "ProportionWarning", "pool_proportions"), "analyses.proportions"),
    **dict.fromkeys(("rma_mh", "rma_peto"), "analyses.rare"),
    "rma_glmm": "analyses.glmm",
    "CountModelResult": "analyses.count_result",
    "ZeroCellWarning": "analyses.counts",
    # model comparison and inference (issue 14)
    **dict.fromkeys(("anova", "fitstats", "vcov"), "analyses.comparison"),
    **dict.fromkeys(("blup", "profile", "ranef"), "analyses.random_effects"),
    "regplot": "analyses.regplot",
    **dict.fromkeys(("SelectionResult", "plot_selmodel", "selmodel"), "analyses.selection"),
    **dict.fromkeys(("pet_peese", "tes"), "analyses.small_study"),
    **dict.fromkeys(("PermutationResult", "permutest"), "analyses.permutation"),
}


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # the same names, as type checkers and readers expect them
    from ketabridge.analyses.comparison import anova, fitstats, vcov
    from ketabridge.analyses.count_result import CountModelResult
    from ketabridge.analyses.counts import ZeroCellWarning
    from ketabridge.analyses.dependence import aggregate, vcalc
    from ketabridge.analyses.figure import Figure
    from ketabridge.analyses.glmm import rma_glmm
    from ketabridge.analyses.intervals import confint, predict
    from ketabridge.analyses.models import escalc, ranktest, regtest, rma, trimfill
    from ketabridge.analyses.multilevel import MultilevelResult, rma_mv
    from ketabridge.analyses.permutation import PermutationResult, permutest
    from ketabridge.analyses.plots import forest, funnel
    from ketabridge.analyses.prepost import correlation_grid
    from ketabridge.analyses.proportions import ProportionsResult, ProportionWarning, pool_proportions
    from ketabridge.analyses.random_effects import blup, profile, ranef
    from ketabridge.analyses.rare import rma_mh, rma_peto
    from ketabridge.analyses.regplot import regplot
    from ketabridge.analyses.results import BiasTestResult, MetaResult, Provenance, SubgroupResult, provenance_of
    from ketabridge.analyses.robust import robust
    from ketabridge.analyses.selection import SelectionResult, plot_selmodel, selmodel
    from ketabridge.analyses.sensitivity import cumul, fsn, influence, leave1out
    from ketabridge.analyses.small_study import pet_peese, tes
    from ketabridge.batches import BatchResult, batch
    from ketabridge.crosschecks import CrosscheckResult, Dataset, Engine, Tolerance, crosscheck, declare_engine
