"""R's uniroot() replayed for many root-finding problems at once.

metafor's Paule-Mandel estimator stops uniroot() at tol = .Machine$double.eps^0.25, so its tau^2 is
only accurate to about 1e-4; agreeing with metafor to 1e-10 therefore means taking the very same
steps. `zeroin` repeats, row by row with masks, every branch and floating-point operation of
R_zeroin2 (R 4.2.2, src/library/stats/src/zeroin.c: Brent's method as in NETLIB's c/brent.shar),
in the same order, and uniroot()'s handling of its result.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

EPSILON = np.finfo(float).eps  # C's DBL_EPSILON
DBL_MAX = np.finfo(float).max


def uniroot_error(lower: np.ndarray, upper: np.ndarray, f_lower: np.ndarray, f_upper: np.ndarray) -> np.ndarray:
    """uniroot()'s checks before it calls zeroin (extendInt="no"): R's error message per row, "" if fine."""
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    f_lower, f_upper = np.asarray(f_lower, dtype=float), np.asarray(f_upper, dtype=float)
    errors = np.full(lower.shape, "", dtype=object)
    with np.errstate(invalid="ignore"):
        opposite = np.sign(f_lower) * np.sign(f_upper) <= 0  # isTRUE(): NaN is not TRUE
    # uniroot tests these in this order and stops at the first that fails
    checks = (
        (~(lower < upper), "lower < upper  is not fulfilled"),
        (np.isnan(f_lower), "f.lower = f(lower) is NA"),
        (np.isnan(f_upper), "f.upper = f(upper) is NA"),
        (~opposite, "f() values at end points not of opposite sign"),
    )
    for failed, message in reversed(checks):
        errors[failed] = message
    return errors


def not_converged_warning(maxiter: int) -> str:
    """uniroot()'s warning when zeroin used up maxiter (ngettext on maxiter, as R 4.2.2 does)."""
    return f"_NOT_ converged in {maxiter} iteration" + ("" if maxiter == 1 else "s")


def _finite_like_fcn2(values: np.ndarray) -> np.ndarray:
    """optimize.c's fcn2: -Inf becomes -DBL_MAX, NaN and +Inf become DBL_MAX (R warns; callers avoid this)."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, np.where(values == -np.inf, -DBL_MAX, DBL_MAX))


def zeroin(
    f: Callable[[np.ndarray], np.ndarray],
    lower: np.ndarray,
    upper: np.ndarray,
    f_lower: np.ndarray,
    f_upper: np.ndarray,
    tol: float,
    maxiter: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uniroot(f, c(lower, upper), f.lower=, f.upper=, tol=, maxiter=) for G problems: (root, iter, converged).

    All arrays are (G,). f maps a (G,) array of x to (G,) values; finished rows are evaluated
    too but never updated. Brackets must pass `uniroot_error` (the caller handles rows that do
    not). As in uniroot, a row that used up maxiter keeps its last iterate as the root, reports
    iter = maxiter and converged = False (uniroot then warns `not_converged_warning(maxiter)`).
    """
    a = np.array(lower, dtype=float)
    b = np.array(upper, dtype=float)
    fa = np.array(f_lower, dtype=float)
    fb = np.array(f_upper, dtype=float)
    c, fc = a.copy(), fa.copy()
    iterations = np.full(a.shape, -1, dtype=int)
    root = np.full(a.shape, np.nan)

    # a root at an endpoint ends the search before the loop, with 0 iterations
    at_a = fa == 0.0
    at_b = ~at_a & (fb == 0.0)
    root[at_a], root[at_b] = a[at_a], b[at_b]
    iterations[at_a | at_b] = 0
    active = ~(at_a | at_b)

    # C: maxit = Maxit + 1; while (maxit--): maxiter + 1 passes, the pass number is the
    # number of evaluations made so far, which is what R reports as iter on convergence
    for evaluations in range(maxiter + 1):
        if not active.any():
            break
        prev_step = b - a  # taken before the swap, as in C

        swap = active & (np.abs(fc) < np.abs(fb))  # make b the best approximation
        old_b, old_fb = b.copy(), fb.copy()
        a = np.where(swap, old_b, a)
        b = np.where(swap, c, b)
        c = np.where(swap, old_b, c)
        fa = np.where(swap, old_fb, fa)
        fb = np.where(swap, fc, fb)
        fc = np.where(swap, old_fb, fc)

        tol_act = 2 * EPSILON * np.abs(b) + tol / 2
        new_step = (c - b) / 2

        done = active & ((np.abs(new_step) <= tol_act) | (fb == 0.0))
        root[done] = b[done]
        iterations[done] = evaluations
        active &= ~done
        if not active.any():
            break

        new_step = np.where(active, _interpolated_step(a, b, c, fa, fb, fc, prev_step, tol_act, new_step), new_step)
        too_small = np.abs(new_step) < tol_act  # a step never smaller than the tolerance
        new_step = np.where(too_small, np.where(new_step > 0, tol_act, -tol_act), new_step)

        a = np.where(active, b, a)
        fa = np.where(active, fb, fa)
        b = np.where(active, b + new_step, b)
        with np.errstate(all="ignore"):
            fb = np.where(active, _finite_like_fcn2(f(b)), fb)
        same_sign = active & (((fb > 0) & (fc > 0)) | ((fb < 0) & (fc < 0)))
        c = np.where(same_sign, a, c)  # keep c on the other side of the root from b
        fc = np.where(same_sign, fa, fc)

    failed = active  # used up maxiter + 1 evaluations: R_zeroin2 returns b with Maxit = -1
    root[failed] = b[failed]
    iterations[failed] = maxiter  # uniroot: iter <- maxiter after its warning
    return root, iterations, ~failed


def _interpolated_step(a, b, c, fa, fb, fc, prev_step, tol_act, bisection):
    """Brent's secant / inverse quadratic step where it is allowed and accepted, else the bisection step."""
    with np.errstate(all="ignore"):  # rows that may not interpolate compute junk that is discarded
        allowed = (np.abs(prev_step) >= tol_act) & (np.abs(fa) > np.abs(fb))
        cb = c - b
        two_points = a == c
        # linear interpolation: only two distinct points
        t1_lin = fb / fa
        p_lin = cb * t1_lin
        q_lin = 1.0 - t1_lin
        # inverse quadratic interpolation
        q0 = fa / fc
        t1 = fb / fc
        t2 = fb / fa
        p_quad = t2 * (cb * q0 * (q0 - t1) - (b - a) * (t1 - 1.0))
        q_quad = (q0 - 1.0) * (t1 - 1.0) * (t2 - 1.0)
        p = np.where(two_points, p_lin, p_quad)
        q = np.where(two_points, q_lin, q_quad)
        # p was computed with the opposite sign: make p positive, give q the minus
        positive = p > 0.0
        q = np.where(positive, -q, q)
        p = np.where(positive, p, -p)
        accepted = allowed & (p < (0.75 * cb * q - np.abs(tol_act * q) / 2)) & (p < np.abs(prev_step * q / 2))
        return np.where(accepted, p / q, bisection)
