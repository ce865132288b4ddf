"""Intervals and back-transforms of a fitted model: predict, confint, and the natural scale."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import schema
from ._r.call import call_entry
from .errors import InputError
from .options import check_choice
from .results import tidy_frame
from .spec import ModelSpec, percent_level
from .transforms import TRANSFORMS, TRANSFORMS_NEEDING_NI, natural_transform

if TYPE_CHECKING:
    from .results import MetaResult

NATURAL = "natural"  # transf= value meaning "the measure's own back-transform"

# Options of later metafor versions (or of other functions) that metafor 3.8-1's predict.rma
# would swallow through `...` without effect; named here to say so in the error.
IGNORED_BY_METAFOR_38 = ("predtype", "pi.type", "pi_type", "adjust", "prob", "newscale", "addz")


def predict(result: MetaResult, level: float | None = None, transf: str | None = None, **targs) -> pd.DataFrame:
    """Pooled effect with confidence and prediction intervals: metafor's ``predict.rma``.

    One row (``estimate, std_error, conf_low, conf_high, pi_low, pi_high``) for a model without
    moderators; with moderators, one row per study (its fitted value), as metafor does without
    ``newmods`` (not supported here). ``level`` defaults to the model's. ``transf`` is one of
    ``exp, ilogit, ipft.hm, iarcsin, ztor`` (metafor's ``transf.*`` functions, by name), or
    ``"natural"`` for the back-transform of the measure ``escalc`` recorded (``exp`` for RR, OR,
    ROM..., ``ilogit`` for PLO, ``ipft.hm`` for PFT; none for PR, MD...); ``None`` keeps the model
    scale, as metafor does. ``ipft.hm`` takes ``ni`` from the model (or ``ni=`` here). Prediction
    intervals are metafor's: normal quantiles, or t(k - p) under ``test="knha"`` or ``"t"``; after a
    back-transform ``std_error`` is NaN. Unlike metafor 3.8-1, which silently ignores options it
    does not know (e.g. ``predtype``), any other keyword raises InputError.
    """
    result = _fitted(result, "predict")
    transform, sizes = resolve_transform(result.spec, transf, targs, "predict")
    reply = call_entry("kb_predict", result.spec.to_r(), _level(result, level), transform, sizes)
    return tidy_frame(reply, schema.PREDICT)


def confint(result: MetaResult, level: float | None = None) -> pd.DataFrame:
    """tau^2, tau, I^2 (percent) and H^2 with Q-profile confidence intervals: metafor's
    ``confint.rma.uni`` (its ``random=TRUE`` part; the coefficients' intervals are in ``tidy()``).

    Rows ``term`` = ``tau2, tau, i2, h2``; with moderators they describe the residual
    heterogeneity. Needs a model with a heterogeneity parameter (not EE, FE or CE).
    """
    result = _fitted(result, "confint")
    if result.spec.method in ("EE", "FE", "CE"):
        raise InputError(f"confint needs a random-effects model; method {result.spec.method!r} has no tau^2")
    reply = call_entry("kb_confint", result.spec.to_r(), _level(result, level))
    return tidy_frame(reply, schema.CONFINT)


def resolve_transform(
    spec: ModelSpec, transf: str | None, targs: dict, what: str
) -> tuple[str | None, np.ndarray | None]:
    """The allow-listed transform name for R, and the sample sizes ipft.hm needs (else None)."""
    _check_targs(targs, what)
    if transf is None:
        return None, None
    check_choice(transf, TRANSFORMS + (NATURAL,), "transf")
    name = natural_transform(spec.measure) if transf == NATURAL else transf
    if name not in TRANSFORMS_NEEDING_NI:
        if "ni" in targs:
            raise InputError(f"ni= is only used by transf='ipft.hm', not {name!r}")
        return name, None
    sizes = targs.get("ni", spec.ni)
    if sizes is None:
        raise InputError(
            "transf 'ipft.hm' (inverse Freeman-Tukey) needs the studies' sample sizes: fit rma with "
            "ni='<column>' (escalc adds one), or pass ni= here"
        )
    return name, _sizes(sizes)


def natural_study_columns(table: dict, spec: ModelSpec) -> dict:
    """augment()'s columns plus yi and its interval on the measure's natural scale (metafor's
    ``summary.escalc`` with the measure's transform)."""
    name = natural_transform(spec.measure)
    sizes = _sizes(spec.ni) if name in TRANSFORMS_NEEDING_NI and spec.ni is not None else None
    if name in TRANSFORMS_NEEDING_NI and sizes is None:
        name = None  # PFT without sample sizes: no inverse exists, keep the model scale
    reply = call_entry(
        "kb_augment_natural", np.asarray(table["yi"], dtype=float), np.asarray(table["vi"], dtype=float),
        spec.level, name, sizes,
    )
    return {**table, **reply.value}


def _check_targs(targs: dict, what: str) -> None:
    unknown = sorted(set(targs) - {"ni"})
    if not unknown:
        return
    later = [name for name in unknown if name in IGNORED_BY_METAFOR_38]
    note = f" ({', '.join(later)}: not in metafor 3.8-1)" if later else ""
    raise InputError(
        f"{what}() has no option {', '.join(repr(name) for name in unknown)}{note}; metafor 3.8-1 would "
        f"silently ignore it, so ketabridge refuses. Options: level, transf, and ni (for transf='ipft.hm')"
    )


def _sizes(values) -> np.ndarray:
    sizes = np.asarray(values, dtype=float)
    bad = np.flatnonzero(~(sizes > 0))
    if bad.size:
        raise InputError(f"sample sizes ni must be > 0, but rows {', '.join(map(str, bad[:5]))} are not")
    return sizes


def _level(result: MetaResult, level: float | None) -> float:
    return result.spec.level if level is None else percent_level(level)


def _fitted(result: object, what: str) -> MetaResult:
    """A plain rma() result; trim-and-fill and subgroup results refit differently, so refuse them."""
    from .results import MetaResult  # results imports this module lazily, so import here

    if not isinstance(result, MetaResult) or result.kind != "rma":
        raise InputError(f"{what} takes the result of ketabridge.rma(), not {type(result).__name__}")
    return result
