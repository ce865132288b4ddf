"""Permutation tests of a fitted model's coefficients: metafor's ``permutest.rma.uni``, seeded."""

from __future__ import annotations

import numbers
import secrets
from dataclasses import dataclass, field

import pandas as pd

from ketabridge import schema
from ketabridge.analyses.intervals import plain_model_result
from ketabridge.analyses.results import MetaResult, Provenance, records
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError

MAX_SEED = 2**31 - 1  # R's set.seed takes a 32-bit integer
MAX_ITER = 10**7


@dataclass(frozen=True, eq=False)
class PermutationResult:
    """A permutation test of an rma() model (see :func:`permutest`): ``glance()`` (the omnibus
    test, iterations, exact or not, the seed), ``tidy()`` (the coefficients with permutation
    p-values) and ``provenance`` (whose R call starts with the ``set.seed`` used)."""

    _glance: pd.DataFrame = field(repr=False)
    _tidy: pd.DataFrame = field(repr=False)
    provenance: Provenance = field(repr=False)

    def glance(self) -> pd.DataFrame:
        """One row: the omnibus test of the moderators with its permutation p-value."""
        return self._glance.copy()

    def tidy(self) -> pd.DataFrame:
        """One row per coefficient; ``p_value`` is the permutation p-value."""
        return self._tidy.copy()

    def to_dict(self) -> dict:
        return {
            "glance": records(self._glance)[0],
            "tidy": records(self._tidy),
            "provenance": self.provenance.to_dict(),
        }

    def __repr__(self) -> str:
        row = self._glance.iloc[0]
        kind = "exact" if row["exact"] else f"{row['iterations']} random"
        return f"<PermutationResult {kind} permutations, seed={row['seed']}, QM p={row['qm_pvalue']:.4g}>"


def permutest(
    result: MetaResult, *, iter: int = 1000, seed: int | None = None, exact: bool | None = None
) -> PermutationResult:
    """Permutation tests for an rma() model: metafor's ``permutest.rma.uni``.

    The studies' effects (intercept-only models: their signs) are permuted ``iter`` times and
    each coefficient's test statistic compared with its permutation distribution. metafor runs
    the exact test (all distinct permutations) when it needs no more than ``iter`` of them, or
    when ``exact=True``. R's random numbers are seeded with ``seed`` (``set.seed``, passed as
    data), so the same seed gives the same p-values; the seed is in the glance and the
    provenance's R call.

    Parameters
    ----------
    result : MetaResult
        The result of :func:`rma`: metafor's ``x``.
    iter : int, default 1000
        The number of random permutations, 1 to 10^7: metafor's ``iter``.
    seed : int, optional
        R's random seed, 0 to 2^31 - 1. Default None: one is drawn in Python (``secrets``) and
        recorded, so the run can still be repeated.
    exact : bool, optional
        True forces the exact test (all permutations; slow for large k): metafor's ``exact``.
        Default None: metafor's default (exact only when that needs no more than ``iter``).

    Returns
    -------
    PermutationResult
        ``glance()`` one row: ``iterations`` (permutations used), ``exact``, ``seed``, ``qm,
        qm_df, qm_pvalue`` (the omnibus test and its permutation p-value); ``tidy()`` one row
        per coefficient (the :func:`rma` tidy columns, ``p_value`` the permutation p-value);
        and ``provenance``.

    Raises
    ------
    InputError
        ``result`` is not a plain :func:`rma` result; ``iter``, ``seed`` or ``exact`` is not
        of the kind or in the range above.
    MetaforError
        metafor's ``permutest`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    result = plain_model_result(result, "permutest")
    if not _whole(iter) or not 1 <= iter <= MAX_ITER:
        raise InputError(f"iter must be a whole number from 1 to {MAX_ITER}, not {iter!r}")
    if seed is None:
        seed = secrets.randbelow(MAX_SEED + 1)
    elif not _whole(seed) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"seed must be a whole number from 0 to {MAX_SEED}, not {seed!r}")
    if exact is not None and not isinstance(exact, bool):
        raise InputError(f"exact must be True, False or None, not {exact!r}")
    reply = call_entry("kb_permutest", result.spec.to_r(), int(iter), int(seed), exact)
    return PermutationResult(
        _glance=schema.frame(reply.value["glance"], schema.PERMUTEST_GLANCE),
        _tidy=schema.frame(reply.value["tidy"], schema.PERMUTEST_TIDY),
        provenance=Provenance.from_reply(reply),
    )


def _whole(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
