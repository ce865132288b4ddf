"""Weighted least squares of many analyses at once, and the traces metafor's estimators need.

Every array holds one analysis per row: y, w and x are (G, n). The design is an intercept, or an
intercept and one moderator column x (Egger's test, trim-and-fill's side), so p is 1 or 2. metafor
forms the k x k matrix P = W - W X (X'WX)^-1 X'W; the same quantities come here from p x p moment
sums, which is what makes thousands of analyses cost about as much as one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def design(x: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """X as (G, n, p): a column of ones, then x if given."""
    ones = np.ones(shape)
    return ones[..., None] if x is None else np.stack([ones, x], axis=-1)


@dataclass(frozen=True)
class Wls:
    beta: np.ndarray  # (G, p)
    inverse: np.ndarray  # (X'WX)^-1, (G, p, p)
    residual: np.ndarray  # y - X beta, (G, n)
    rss: np.ndarray  # sum w * residual^2 = y'Py, (G,)


def wls(y: np.ndarray, w: np.ndarray, X: np.ndarray) -> Wls:
    """beta = (X'WX)^-1 X'W y per row."""
    if X.shape[2] == 1:  # intercept only: the weighted mean (plain sums are several times faster)
        total = w.sum(axis=1)
        mean = (w * y).sum(axis=1) / total
        residual = y - mean[:, None]
        return Wls(
            beta=mean[:, None],
            inverse=(1.0 / total)[:, None, None],
            residual=residual,
            rss=np.sum(w * residual * residual, axis=1),
        )
    inverse = _inverse_2x2(np.einsum("gi,gia,gib->gab", w, X, X))
    beta = np.einsum("gab,gb->ga", inverse, np.einsum("gi,gia,gi->ga", w, X, y))
    residual = y - np.einsum("gia,ga->gi", X, beta)
    return Wls(beta=beta, inverse=inverse, residual=residual, rss=np.einsum("gi,gi->g", w, residual * residual))


def leverage(X: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """x_i' (X'WX)^-1 x_i per study, (G, n): P's diagonal is w_i - w_i^2 times this."""
    if X.shape[2] == 1:
        return np.broadcast_to(inverse[:, 0], X.shape[:2])
    return np.einsum("gia,gab,gib->gi", X, inverse, X)


def trace_p(w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """tr(P) for P = W - W X (X'WX)^-1 X'W, from the leverage h."""
    return np.sum(w - w * w * h, axis=1)


def trace_pp(w: np.ndarray, h: np.ndarray, X: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """tr(PP) = sum(P*P): sum w^2 - 2 sum w^3 h + tr((A^-1 B)^2), B = X'W^2X."""
    w2 = w * w
    if X.shape[2] == 1:
        ab = inverse[:, 0, 0] * w2.sum(axis=1)
        return np.sum(w2 - 2.0 * w2 * w * h, axis=1) + ab * ab
    ab = np.einsum("gab,gbc->gac", inverse, np.einsum("gi,gia,gib->gab", w2, X, X))
    return np.sum(w2 - 2.0 * w2 * w * h, axis=1) + np.einsum("gab,gba->g", ab, ab)


def _inverse_2x2(a: np.ndarray) -> np.ndarray:
    """Inverses of (G, 2, 2) matrices; NaN for a singular one instead of failing the whole stack
    (that analysis is then metafor's: its results are not finite)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        determinant = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
        inverse = np.stack([np.stack([a[:, 1, 1], -a[:, 0, 1]], -1), np.stack([-a[:, 1, 0], a[:, 0, 0]], -1)], -2)
        return inverse / determinant[:, None, None]
