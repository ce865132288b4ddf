"""Back-transformations: metafor's transf.* functions by name, and each measure's natural scale.

Only these names cross into R, where kb_transform() maps them to functions (an allow-list,
never R code). Sources: metafor 3.8-1 ?transf and the measures' definitions in ?escalc.
"""

from __future__ import annotations

from typing import Literal, get_args

Transform = Literal["exp", "ilogit", "ipft.hm", "iarcsin", "ztor"]
TRANSFORMS: tuple[str, ...] = get_args(Transform)

# ipft.hm (inverse Freeman-Tukey, harmonic-mean version) needs the studies' sample sizes.
TRANSFORMS_NEEDING_NI = ("ipft.hm",)

# The transform that puts each measure back on the scale people read: proportions, ratios,
# correlations. Measures missing here are already on their natural scale (PR, RD, MD, ...).
NATURAL_SCALE: dict[str, str] = {
    "RR": "exp",
    "OR": "exp",
    "PETO": "exp",
    "ROM": "exp",
    "IRR": "exp",
    "MPRR": "exp",
    "MPOR": "exp",
    "MPORC": "exp",
    "MPPETO": "exp",
    "D2OR": "exp",
    "D2ORN": "exp",
    "D2ORL": "exp",
    "PLN": "exp",
    "IRLN": "exp",
    "ROMC": "exp",
    "PLO": "ilogit",
    "PAS": "iarcsin",
    "PFT": "ipft.hm",
    "ZCOR": "ztor",
    "ZPCOR": "ztor",
}

# Measures whose natural scale is a proportion, so a back-transformed interval must lie in [0, 1].
PROPORTION_MEASURES = ("PR", "PLN", "PLO", "PAS", "PFT")


def natural_transform(measure: str | None) -> str | None:
    """The transform to the natural scale of `measure`, or None when it is already there."""
    return NATURAL_SCALE.get(measure or "")
