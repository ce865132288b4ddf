"""The fitted model a follow-up analysis (anova, fitstats, vcov, blup, ranef, profile, regplot,
predict with newmods) refits in R, chosen by the result's kind.

Every follow-up sends R the model list of :func:`fitted_model`, which names its kind; the R side
(``kb_fitted`` in ``r/helpers_fitted.R``) refits it with the matching metafor function. A new
kind of result (e.g. rma_mv's) is added in both places and every follow-up then takes it.
"""

from __future__ import annotations

import numbers

from ketabridge.analyses.results import MetaResult
from ketabridge.errors import InputError

# result kind -> what the R side calls it (its fitter in kb_fitted). A result is taken when its
# kind is here and it has the validated `spec` whose to_r() is the R model list.
FITTED_KINDS = {"rma": "rma", "rma.mv": "rma_mv"}


def fitted_model(result: object, what: str) -> dict:
    """The R model list of ``result`` with its kind; InputError for a result ``what`` cannot take."""
    kind = getattr(result, "kind", None)
    if kind not in FITTED_KINDS or not hasattr(result, "spec"):
        shown = type(result).__name__ if kind is None else f"a {kind} result"
        raise InputError(f"{what}() takes the result of ketabridge.rma() or rma_mv(), not {shown}")
    return {**result.spec.to_r(), "kind": FITTED_KINDS[kind]}


def is_multilevel(result: object) -> bool:
    """Whether ``result`` is an rma_mv fit (the follow-ups whose output differs by model ask this)."""
    return getattr(result, "kind", None) == "rma.mv" and hasattr(result, "components")


def term_names(result: MetaResult) -> list[str]:
    """The model's coefficient names, as metafor gives them (intrcpt first when it has one)."""
    return [str(term) for term in result.tidy()["term"]]


def coefficient_indices(result: MetaResult, selection, what: str) -> list[int]:
    """1-based coefficient indices from term names and/or 1-based indices, as metafor's ``btt``.

    A name is a term (``"ablat"``) or, when no term has that exact name, the start of terms'
    names, selecting them all (``"factor(alloc)"`` gives each of its levels; metafor's string
    ``btt`` greps instead, which also matches inside names). Raises InputError listing the terms
    when one is unknown.
    """
    terms = term_names(result)
    chosen: list[int] = []
    single = isinstance(selection, (str, numbers.Integral))
    try:
        items = [selection] if single else list(selection)
    except TypeError:
        raise InputError(f"{what} takes term names or 1-based coefficient numbers, not {selection!r}") from None
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, numbers.Integral)):
            raise InputError(f"{what} takes term names or 1-based coefficient numbers, not {item!r}")
        if isinstance(item, numbers.Integral):
            item = int(item)
            if not 1 <= item <= len(terms):
                raise InputError(
                    f"{what} coefficient {item} does not exist: the model has {len(terms)} "
                    f"(1 to {len(terms)}: {', '.join(terms)})"
                )
            found = [item]
        elif item in terms:
            found = [terms.index(item) + 1]
        else:
            found = [position + 1 for position, term in enumerate(terms) if term.startswith(item)]
            if not found:
                raise InputError(
                    f"{what} names {item!r}, which is not a term of the model; its terms are: {', '.join(terms)}"
                )
        chosen.extend(index for index in found if index not in chosen)
    if not chosen:
        raise InputError(f"{what} selects no coefficient")
    return sorted(chosen)
