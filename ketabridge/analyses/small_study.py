"""Small-study and excess-significance checks: PET-PEESE on top of metafor's ``regtest``, and
metafor's ``tes`` (test of excess significance)."""

from __future__ import annotations

import numbers

import numpy as np

from ketabridge import schema
from ketabridge.analyses.intervals import plain_model_result
from ketabridge.analyses.results import BiasTestResult, MetaResult, Provenance
from ketabridge.analyses.sensitivity import _effects
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError
from ketabridge.io import TableLike
from ketabridge.options import REGTEST_MODELS, SELMODEL_ALTERNATIVES, TES_TESTS, check_choice


def pet_peese(result: MetaResult, *, model: str = "lm", alpha: float = 0.05) -> BiasTestResult:
    """PET-PEESE (Stanley & Doucouliagos 2014): limit estimates of metafor's ``regtest`` and the
    conditional rule between them.

    PET is the limit estimate (the effect as the standard error goes to 0) of ``regtest`` with
    ``predictor="sei"``, PEESE the one with ``predictor="vi"``. With ``model="lm"`` (the default
    here, Stanley & Doucouliagos's weighted least squares) PET's test of its limit estimate is
    the precision-effect test, as metafor's ?regtest says. The conditional estimate is PEESE's
    when PET's two-sided test rejects H0: effect = 0 at ``alpha``, else PET's. The recipe in R::

        pet   <- regtest(res, model = "lm", predictor = "sei")
        peese <- regtest(res, model = "lm", predictor = "vi")
        p_pet <- summary(pet$fit)$coefficients[1, 4]   # the test of the limit estimate
        if (p_pet < 0.05) peese$est else pet$est

    Parameters
    ----------
    result : MetaResult
        The result of :func:`rma`; its moderators stay in both regressions, as in
        ``regtest``: metafor's ``x``.
    model : {"lm", "rma"}, default "lm"
        The regression: ``"lm"``, the weighted regression with a multiplicative dispersion term
        (Stanley & Doucouliagos's WLS), or ``"rma"``, metafor's meta-regression: ``regtest``'s
        ``model`` (whose own default is ``"rma"``).
    alpha : float, default 0.05
        Level of PET's two-sided test that chooses between PET and PEESE, in (0, 1).

    Returns
    -------
    BiasTestResult
        Kind ``"pet_peese"``; ``glance()`` one row: ``model, alpha``, ``pet_estimate,
        pet_conf_low, pet_conf_high, pet_statistic, pet_p_value`` (the limit estimate with sei
        as predictor and its test), the same five ``peese_*`` (with vi), ``chosen`` (``"PET"``
        or ``"PEESE"``) and the chosen ``estimate, conf_low, conf_high``; and ``provenance``.

    Raises
    ------
    InputError
        ``result`` is not a plain :func:`rma` result, ``model`` is unknown or ``alpha`` is
        outside (0, 1).
    MetaforError
        metafor's ``regtest`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    result = plain_model_result(result, "pet_peese")
    check_choice(model, REGTEST_MODELS, "model")
    _check_level(alpha, "alpha")
    reply = call_entry("kb_pet_peese", result.spec.to_r(), model, float(alpha))
    return BiasTestResult(
        kind="pet_peese",
        _glance=schema.frame(reply.value["glance"], schema.PET_PEESE_GLANCE),
        provenance=Provenance.from_reply(reply),
    )


def tes(
    data: TableLike | MetaResult,
    yi: str = "yi",
    vi: str | None = "vi",
    *,
    sei: str | None = None,
    h0: float = 0.0,
    alternative: str = "two.sided",
    alpha: float = 0.05,
    theta: float | None = None,
    tau2: float | None = None,
    test: str | None = None,
    tes_alternative: str = "greater",
    tes_alpha: float = 0.10,
    na_action: str = "omit",
) -> BiasTestResult:
    """Test of excess significance (Ioannidis & Trikalinos 2007): metafor's ``tes``.

    Compares the number of studies significant at ``alpha`` with the number expected from their
    power at the effect ``theta``. For a table, ``theta`` defaults to the equal-effects
    estimate; for an :func:`rma` result, to the model's estimate, with its tau^2 (metafor's
    behaviour for a model object).

    Parameters
    ----------
    data : pandas.DataFrame, pyarrow.Table, pyarrow.RecordBatch, str, os.PathLike or MetaResult
        A table (or the path of a CSV, Parquet, Feather or Arrow IPC file) with one row per
        study, or a plain :func:`rma` result: metafor's ``x`` and ``data``.
    yi : str, default "yi"
        Column of effect sizes: metafor's ``x``. Ignored for a MetaResult.
    vi : str or None, default "vi"
        Column of sampling variances: metafor's ``vi``. Ignored when ``sei`` is given, and for
        a MetaResult.
    sei : str, optional
        Column of standard errors, used instead of ``vi``: metafor's ``sei``.
    h0 : float, default 0.0
        The null value of the studies' own tests: metafor's ``H0``.
    alternative : {"two.sided", "greater", "less"}, default "two.sided"
        The side of the studies' own tests: metafor's ``alternative``.
    alpha : float, default 0.05
        The level at which a study counts as significant, in (0, 1): metafor's ``alpha``.
    theta : float, optional
        The effect at which the power is computed: metafor's ``theta``. Default None:
        metafor's (the pooled estimate).
    tau2 : float, optional
        Heterogeneity (>= 0) used in the power: metafor's ``tau2``. Default None: metafor's (0
        for a table, the model's for a MetaResult).
    test : {"chi2", "binom", "exact"}, optional
        The test of observed against expected: metafor's ``test``. Default None: metafor's
        (chi2, or exact for small k... as metafor decides).
    tes_alternative : {"greater", "two.sided", "less"}, default "greater"
        The side of the test of excess significance: metafor's ``tes.alternative``.
    tes_alpha : float, default 0.1
        Level used for the limit estimate ``theta_limit``, in (0, 1): metafor's ``tes.alpha``.
    na_action : {"omit", "fail"}, default "omit"
        Rows with a missing ``yi`` or variance: ``"omit"`` leaves them out with a
        MissingValuesWarning, ``"fail"`` raises InputError. No metafor argument.

    Returns
    -------
    BiasTestResult
        Kind ``"tes"``; ``glance()`` one row: ``k, observed, expected, ratio`` (observed /
        expected), ``test, statistic`` (X^2 of the chi2 test, else NaN), ``p_value, theta,
        tau2, theta_limit``; and ``provenance``.

    Raises
    ------
    InputError
        An unknown side or test; a level outside (0, 1); a negative ``tau2``; a column that is
        missing, not numeric or infinite; variances <= 0; a MetaResult not from :func:`rma`.
    MetaforError
        metafor's ``tes`` stopped with an error.
    RNotAvailableError
        R, metafor or rpy2 is missing or too old.
    """
    check_choice(alternative, SELMODEL_ALTERNATIVES, "alternative")
    check_choice(tes_alternative, SELMODEL_ALTERNATIVES, "tes_alternative")
    _check_level(alpha, "alpha")
    _check_level(tes_alpha, "tes_alpha")
    if test is not None:
        check_choice(test, TES_TESTS, "test")
    for name, value in (("h0", h0), ("theta", theta), ("tau2", tau2)):
        if value is not None and not (_real(value) and np.isfinite(value)):
            raise InputError(f"{name} must be a finite number, not {value!r}")
    if tau2 is not None and tau2 < 0:
        raise InputError(f"tau2 must be >= 0, not {tau2!r}")
    options = {
        "H0": float(h0),
        "alternative": alternative,
        "alpha": float(alpha),
        "theta": None if theta is None else float(theta),
        "tau2": None if tau2 is None else float(tau2),
        "test": test,
        "tes.alternative": tes_alternative,
        "tes.alpha": float(tes_alpha),
    }
    options = {name: value for name, value in options.items() if value is not None}
    if isinstance(data, MetaResult):
        reply = call_entry("kb_tes", plain_model_result(data, "tes").spec.to_r(), None, None, options)
    else:
        effects, variances = _effects(data, yi, vi, sei, na_action)
        reply = call_entry("kb_tes", None, effects, variances, options)
    return BiasTestResult(
        kind="tes",
        _glance=schema.frame(reply.value["glance"], schema.TES_GLANCE),
        provenance=Provenance.from_reply(reply),
    )


def _check_level(value: object, name: str) -> None:
    if not _real(value) or not 0 < value < 1:
        raise InputError(f"{name} must be a number between 0 and 1, not {value!r}")


def _real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
