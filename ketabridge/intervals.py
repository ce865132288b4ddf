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
    if name not in TRANSFORMS_NEEDING_NI and "ni" in targs:
        raise InputError(f"ni= is only used by transf='ipft.hm', not {name!r}")
    sizes = transform_sizes(
        spec, name, targs.get("ni"), what="transf 'ipft.hm' (inverse Freeman-Tukey)",
        remedy="fit rma with ni='<column>' (escalc adds one), or pass ni= here",
    )
    return name, sizes


def natural_scale(spec: ModelSpec) -> tuple[str | None, np.ndarray | None]:
    """The transform (and sample sizes) that augment()'s natural-scale columns use: metafor's
    ``summary.escalc`` with the measure's transform. PFT without sample sizes has no inverse, so
    those columns stay on the model scale."""
    name = natural_transform(spec.measure)
    sizes = transform_sizes(spec, name)
    if name in TRANSFORMS_NEEDING_NI and sizes is None:
        return None, None
    return name, sizes


def transform_sizes(
    spec: ModelSpec, transform: str | None, given=None, *, what: str | None = None, remedy: str = ""
) -> np.ndarray | None:
    """The sample sizes `transform` needs (ipft.hm): `given`, else the model's ni; None when it needs none.

    When it needs them and has none, raise InputError("<what> needs the studies' sample sizes:
    <remedy>"), or return None when no `what` is given (the caller then keeps the model scale).
    """
    if transform not in TRANSFORMS_NEEDING_NI:
        return None
    sizes = spec.ni if given is None else given
    if sizes is None:
        if what is None:
            return None
        raise InputError(f"{what} needs the studies' sample sizes: {remedy}")
    return _sizes(sizes)


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
    if isinstance(values, str):
        raise InputError(f"ni must be the studies' sample sizes (numbers), not a column name ({values!r}); "
                         "fit rma with ni='<column>' to use a column")
    try:
        sizes = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"ni must be the studies' sample sizes (numbers), not {values!r}") from None
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
