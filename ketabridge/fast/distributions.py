"""The tail areas and quantiles metafor takes from R, computed with scipy.special.

Each name says which R call it stands for; all work elementwise on arrays.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def qnorm_upper(alpha: float) -> float:
    """qnorm(alpha, lower.tail=FALSE)."""
    return float(-special.ndtri(alpha))


def qt_upper(alpha: float, df: np.ndarray) -> np.ndarray:
    """qt(alpha, df, lower.tail=FALSE); NaN where df <= 0 (metafor then gives NA)."""
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(df > 0, special.stdtrit(np.where(df > 0, df, 1.0), 1.0 - alpha), np.nan)


def pnorm_two_sided(z: np.ndarray) -> np.ndarray:
    """2 * pnorm(abs(z), lower.tail=FALSE)."""
    return 2.0 * special.ndtr(-np.abs(z))


def pt_two_sided(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """2 * pt(abs(t), df, lower.tail=FALSE); NaN where df <= 0."""
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(df > 0, 2.0 * special.stdtr(np.where(df > 0, df, 1.0), -np.abs(t)), np.nan)


def pchisq_upper(q: np.ndarray, df: np.ndarray) -> np.ndarray:
    """pchisq(q, df, lower.tail=FALSE)."""
    return special.chdtrc(df, q)


def pf_upper(f: np.ndarray, df1: np.ndarray, df2: np.ndarray) -> np.ndarray:
    """pf(f, df1, df2, lower.tail=FALSE); NaN where df2 <= 0."""
    df2 = np.asarray(df2, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(df2 > 0, special.fdtrc(df1, np.where(df2 > 0, df2, 1.0), f), np.nan)
