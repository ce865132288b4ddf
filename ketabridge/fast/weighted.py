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
    # X = [1, x] (design() builds every X): the moment sums written out, several times faster
    # than the general einsum contractions on (G, n, 2) arrays
    x = X[..., 1]
    wx = w * x
    inverse = _inverse_2x2(_moments(w, wx, x))
    b0, b1 = (w * y).sum(axis=1), (wx * y).sum(axis=1)
    beta = np.stack([inverse[:, 0, 0] * b0 + inverse[:, 0, 1] * b1, inverse[:, 1, 0] * b0 + inverse[:, 1, 1] * b1], -1)
    residual = y - beta[:, 0, None] - beta[:, 1, None] * x
    return Wls(beta=beta, inverse=inverse, residual=residual, rss=np.sum(w * residual * residual, axis=1))


def _moments(w: np.ndarray, wx: np.ndarray, x: np.ndarray) -> np.ndarray:
    """X'WX for X = [1, x], (G, 2, 2)."""
    s0, s1, s2 = w.sum(axis=1), wx.sum(axis=1), (wx * x).sum(axis=1)
    return np.stack([np.stack([s0, s1], -1), np.stack([s1, s2], -1)], -2)


def leverage(X: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """x_i' (X'WX)^-1 x_i per study, (G, n): P's diagonal is w_i - w_i^2 times this."""
    if X.shape[2] == 1:
        return np.broadcast_to(inverse[:, 0], X.shape[:2])
    x = X[..., 1]
    return (
        inverse[:, 0, 0, None] + (inverse[:, 0, 1, None] + inverse[:, 1, 0, None]) * x + inverse[:, 1, 1, None] * x * x
    )


def trace_p(w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """tr(P) for P = W - W X (X'WX)^-1 X'W, from the leverage h."""
    return np.sum(w - w * w * h, axis=1)


def trace_pp(w: np.ndarray, h: np.ndarray, X: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """tr(PP) = sum(P*P): sum w^2 - 2 sum w^3 h + tr((A^-1 B)^2), B = X'W^2X."""
    w2 = w * w
    if X.shape[2] == 1:
        ab = inverse[:, 0, 0] * w2.sum(axis=1)
        return np.sum(w2 - 2.0 * w2 * w * h, axis=1) + ab * ab
    x = X[..., 1]
    ab = inverse @ _moments(w2, w2 * x, x)
    return np.sum(w2 - 2.0 * w2 * w * h, axis=1) + (
        ab[:, 0, 0] ** 2 + ab[:, 0, 1] * ab[:, 1, 0] + ab[:, 1, 0] * ab[:, 0, 1] + ab[:, 1, 1] ** 2
    )


def _inverse_2x2(a: np.ndarray) -> np.ndarray:
    """Inverses of (G, 2, 2) matrices; NaN for a singular one instead of failing the whole stack
    (that analysis is then metafor's: its results are not finite)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        determinant = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
        inverse = np.stack([np.stack([a[:, 1, 1], -a[:, 0, 1]], -1), np.stack([-a[:, 1, 0], a[:, 0, 0]], -1)], -2)
        return inverse / determinant[:, None, None]
