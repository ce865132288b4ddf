"""Model comparison and fit: metafor's ``anova`` (Wald tests of coefficients, likelihood-ratio
tests of nested models), ``fitstats`` and ``vcov``, for any result :mod:`fitted` knows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ketabridge import schema
from ketabridge.analyses.fitted import coefficient_indices, fitted_model, is_multilevel, term_names
from ketabridge.analyses.results import PROVENANCE_ATTR, MetaResult, Provenance, tidy_frame
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError
from ketabridge.options import EQUAL_EFFECTS_METHODS


def anova(result: MetaResult, other: MetaResult | None = None, *, btt=None) -> pd.DataFrame:
    """Wald test of a group of coefficients, or likelihood-ratio test of two nested models:
    metafor's ``anova.rma``.

    With one model, the Wald-type test that the coefficients ``btt`` are all zero (metafor's
    ``QM``; an F-test under ``test="knha"`` or ``"t"``). With two, the likelihood-ratio test of
    the model with fewer parameters (``reduced``) against the other (``full``), whichever order
    they come in, with AIC, BIC and AICc. As metafor requires, both must be fitted to the same
    effect sizes and variances; with ML, or with REML when both have the same fixed effects
    (REML likelihoods of different fixed effects are not comparable: refit with
    ``method="ML"``); a reduced equal-effects model (EE, FE, CE) tests tau^2 = 0. Other
    combinations raise InputError before R, where metafor would warn or stop.

    Parameters
    ----------
    result : MetaResult or MultilevelResult
        A fitted model (:func:`rma` or :func:`rma_mv`): metafor's ``object``.
    other : MetaResult or MultilevelResult, optional
        A second model of the same data and kind (two :func:`rma_mv` models need the same
        ``V``, and the same method): metafor's ``object2``. Not combinable with ``btt``.
    btt : int, str or list of them, optional
        The coefficients to test: metafor's ``btt``, as 1-based numbers (as metafor counts
        them, the intercept being 1) and/or term names as ``tidy()`` shows them. A name that is
        no term selects every term it starts (``"factor(alloc)"`` selects each level's dummy),
        which on metafor's examples is the set its string ``btt`` (a grep) selects. Default
        None: every coefficient except the intercept, as metafor.

    Returns
    -------
    pandas.DataFrame
        Wald test: one row ``coefficients`` (the 1-based numbers, comma-separated), ``terms``,
        ``qm``, ``qm_df``, ``qm_df_denominator`` (NaN under z tests), ``qm_pvalue``.
        Likelihood-ratio test: rows ``model`` = ``full``, ``reduced`` with ``df`` (number of
        parameters), ``loglik``, ``deviance``, ``aic``, ``bic``, ``aicc``, ``qe``, ``tau2``,
        and on the reduced row ``lrt``, ``p_value`` and ``r2`` (percent of tau^2 accounted
        for; NaN when the reduced model has no tau^2). ``tau2`` and ``r2`` are NaN for
        :func:`rma_mv` models, as in metafor. Provenance in
        ``attrs["ketabridge_provenance"]``.

    Raises
    ------
    InputError
        A result anova cannot take; ``btt`` naming a term that does not exist (the message
        lists the terms) or a number out of range; ``btt`` with ``other``; two models of
        different data, with as many parameters, or fitted with methods that cannot be
        compared (see above).
    MetaforError
        metafor's ``anova.rma`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    model = fitted_model(result, "anova")
    if other is None:
        indices = None if btt is None else coefficient_indices(result, btt, "btt")
        reply = call_entry("kb_anova", model, np.array(indices, dtype=np.int32) if indices else None)
        return tidy_frame(reply, schema.ANOVA_WALD)
    if btt is not None:
        raise InputError(
            "anova() takes either btt (a Wald test of one model) or a second model (a likelihood-ratio test), not both"
        )
    other_model = fitted_model(other, "anova")
    full, reduced = (
        _nested_order_mv(result, other)
        if is_multilevel(result) or is_multilevel(other)
        else _nested_order(result, other)
    )
    if full is other:
        model, other_model = other_model, model
    reply = call_entry("kb_anova", model, None, other_model)
    return tidy_frame(reply, schema.ANOVA_LRT)


def fitstats(result: MetaResult) -> pd.DataFrame:
    """Log-likelihood, deviance, AIC, BIC and AICc: metafor's ``fitstats``.

    The restricted (REML) values for a model fitted with REML, the ML values otherwise, as
    metafor gives them by default.

    Parameters
    ----------
    result : MetaResult or MultilevelResult
        A fitted model (:func:`rma` or :func:`rma_mv`): metafor's ``object``.

    Returns
    -------
    pandas.DataFrame
        One row: ``likelihood`` (``"ML"`` or ``"REML"``), ``loglik``, ``deviance``, ``aic``,
        ``bic``, ``aicc``. Provenance in ``attrs["ketabridge_provenance"]``.

    Raises
    ------
    InputError
        ``result`` is not a fitted model fitstats takes.
    MetaforError
        metafor's ``fitstats`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    reply = call_entry("kb_fitstats", fitted_model(result, "fitstats"))
    return tidy_frame(reply, schema.FITSTATS)


def vcov(result: MetaResult) -> pd.DataFrame:
    """Variance-covariance matrix of the model coefficients: metafor's ``vcov.rma``.

    Parameters
    ----------
    result : MetaResult or MultilevelResult
        A fitted model (:func:`rma` or :func:`rma_mv`): metafor's ``object``.

    Returns
    -------
    pandas.DataFrame
        A square float64 frame whose index and columns are the coefficient names, as in
        ``tidy()``. Provenance in ``attrs["ketabridge_provenance"]``.

    Raises
    ------
    InputError
        ``result`` is not a fitted model vcov takes.
    MetaforError
        metafor's ``vcov`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    reply = call_entry("kb_vcov", fitted_model(result, "vcov"))
    terms = list(reply.value["term"])
    values = np.asarray(reply.value["values"], dtype=np.float64).reshape(len(terms), len(terms), order="F")
    matrix = pd.DataFrame(values, index=pd.Index(terms, name="term"), columns=terms)
    matrix.attrs[PROVENANCE_ATTR] = Provenance.from_reply(reply).to_dict()
    return matrix


def parameter_count(result: MetaResult) -> int:
    """metafor's ``parms``: the coefficients, plus tau^2 when the method estimates it (for an
    rma_mv model, plus each variance and correlation component it estimates, not those fixed)."""
    if is_multilevel(result):
        return len(term_names(result)) + int((~result.components()["fixed"].astype(bool)).sum())
    return len(term_names(result)) + (result.spec.method not in EQUAL_EFFECTS_METHODS)


def _by_parameters(first, second, *, same_data: bool, variances: str, fewer: str) -> tuple:
    """(full, reduced) of two models of the same data, by metafor's parameter count."""
    if not same_data:
        raise InputError(
            f"anova() compares models fitted to the same data: the two models' effect sizes or {variances}"
        )
    counts = parameter_count(first), parameter_count(second)
    if counts[0] == counts[1]:
        raise InputError(
            f"anova() compares nested models, but both have {counts[0]} parameters; a likelihood-ratio "
            f"test needs one model with fewer ({fewer})"
        )
    return (first, second) if counts[0] > counts[1] else (second, first)


def _nested_order_mv(first, second) -> tuple:
    """(full, reduced) of two rma_mv models, after the checks anova.rma makes for rma.mv."""
    if not (is_multilevel(first) and is_multilevel(second)):
        raise InputError(
            "anova() compares an rma_mv model with another rma_mv model (metafor requires the same class); "
            "fit the reduced model with rma_mv too, e.g. with fewer random terms (random='~ 1 | es_id')"
        )
    a, b = first.spec, second.spec
    full, reduced = _by_parameters(
        first,
        second,
        same_data=_same(a.yi, b.yi) and _same(a.V, b.V),
        variances="sampling variances/covariances (V) differ (were different rows left out, or another V used?)",
        fewer="fewer moderators, or fewer random terms",
    )
    if full.spec.method != reduced.spec.method:
        raise InputError(
            f"a likelihood-ratio test needs both models fitted with the same method; these are "
            f"{full.spec.method} and {reduced.spec.method}"
        )
    if full.spec.method == "REML" and term_names(full) != term_names(reduced):
        raise InputError(
            "REML likelihoods of models with different moderators are not comparable (metafor warns "
            "'REML comparisons not meaningful'); fit both models with method='ML' to compare their moderators"
        )
    return full, reduced


def _nested_order(first: MetaResult, second: MetaResult) -> tuple[MetaResult, MetaResult]:
    """(full, reduced) after the checks metafor makes (and those where it only warns)."""
    a, b = first.spec, second.spec
    full, reduced = _by_parameters(
        first,
        second,
        same_data=_same(a.yi, b.yi) and _same(a.vi, b.vi) and _same(a.sei, b.sei),
        variances="sampling variances differ (were different rows left out, or other columns used?)",
        fewer="e.g. fewer moderators, or an EE model against a random-effects one",
    )
    method_full, method_reduced = full.spec.method, reduced.spec.method
    equal_effects = method_reduced in EQUAL_EFFECTS_METHODS
    if method_full in EQUAL_EFFECTS_METHODS:
        if method_reduced != method_full:
            raise InputError(
                f"the full model is an equal-effects model ({method_full}) and the reduced one is not "
                f"({method_reduced}); fit both with the same method"
            )
        return full, reduced
    if method_full not in ("ML", "REML") or not (method_reduced == method_full or equal_effects):
        raise InputError(
            f"a likelihood-ratio test needs both models fitted with method='ML' (or both with 'REML' and the "
            f"same moderators; the reduced one may be EE/FE/CE); these are {method_full} and {method_reduced}"
        )
    if method_full == "REML" and not _same_fixed_effects(full, reduced):
        raise InputError(
            "REML likelihoods of models with different moderators are not comparable (metafor warns "
            "'REML comparisons not meaningful'); fit both models with method='ML' to compare their moderators"
        )
    return full, reduced


def _same_fixed_effects(full: MetaResult, reduced: MetaResult) -> bool:
    a, b = full.spec, reduced.spec
    return (
        term_names(full) == term_names(reduced)
        and (a.formula is None or b.formula is None or a.formula.replace(" ", "") == b.formula.replace(" ", ""))
        and a.mods.keys() == b.mods.keys()
        and all(_same(a.mods[name], b.mods[name]) for name in a.mods)
    )


def _same(first, second) -> bool:
    if first is None or second is None:
        return first is None and second is None
    return first.shape == second.shape and bool(np.array_equal(first, second))
