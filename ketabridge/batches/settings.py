"""The validated options of a batch: which columns play which role, and what runs on each group."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ketabridge.analyses.spec import checked_control, percent_level
from ketabridge.errors import InputError
from ketabridge.options import (
    ENGINES,
    ESCALC_COLUMNS,
    MEASURES,
    METHODS,
    METHODS_NEEDING_WEIGHTS,
    REGTEST_MODELS,
    TESTS,
    TRIMFILL_ESTIMATORS,
    TRIMFILL_SIDES,
    check_choice,
    check_release,
)

# Off by default. When asked for: smaller Fisher-scoring steps and more iterations, then DL,
# which is not iterative and so always gives an estimate.
DEFAULT_FALLBACK = ({"control": {"stepadj": 0.5, "maxiter": 1000}}, {"method": "DL"})
MAX_CHUNK = 250  # analyses per R chunk: about a second of R work, so a lost chunk costs little


def chunk_size_for(analyses: int, workers: int) -> int:
    """At least four chunks per worker, so the last chunks finish close together."""
    return max(1, min(MAX_CHUNK, math.ceil(analyses / (4 * max(workers, 1)))))


@dataclass(frozen=True)
class FallbackStep:
    label: str
    change: dict  # what replaces the model's method and/or control in the refit


@dataclass(frozen=True)
class BatchSettings:
    by: str
    columns: dict[str, str]  # role in the model (yi, vi, sei or escalc's argument) -> input column
    measure: str | None
    method: str = "REML"
    test: str = "z"
    level: float = 95.0
    trimfill: bool = False
    regtest: bool = False
    ranktest: bool = False
    fallback: tuple[FallbackStep, ...] = field(default_factory=tuple)
    trimfill_estimator: str = "L0"
    trimfill_side: str | None = None  # None: metafor chooses the side
    regtest_model: str = "rma"
    engine: str = "metafor"
    mods: tuple[str, ...] = ()  # moderator columns, every analysis fitted with the same model
    formula: str | None = None  # mods as a checked formula (None: the columns enter as a matrix)
    # rma.mv's random terms (checked formula texts; empty: rma.uni), the columns they use, and struct
    random: tuple[str, ...] = ()
    random_columns: tuple[str, ...] = ()
    struct: tuple[str, ...] | None = None

    @property
    def escalc(self) -> bool:
        return self.measure is not None and "yi" not in self.columns

    @property
    def variance_role(self) -> str | None:
        return "sei" if "sei" in self.columns else "vi" if "vi" in self.columns else None

    def to_r(self) -> dict:
        """The `settings` list ketabridge/r/kb_batch.R takes."""
        return {
            "measure": self.measure or "GEN",
            "escalc": self.escalc,
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "trimfill": self.trimfill,
            "trimfill_estimator": self.trimfill_estimator,
            "trimfill_side": self.trimfill_side,
            "regtest": self.regtest,
            "regtest_model": self.regtest_model,
            "ranktest": self.ranktest,
            "moderators": bool(self.mods),
            "formula": self.formula,
            "random": list(self.random) or None,
            "struct": list(self.struct) if self.struct else None,
            # a named list in R, which marshal builds from a dict
            "fallback": {str(i): {"label": step.label, "change": step.change} for i, step in enumerate(self.fallback)}
            or None,
        }

    def describe(self) -> dict:
        """The options as plain JSON, for provenance and for checking that --resume continues the same batch."""
        return {
            "by": self.by,
            "columns": self.columns,
            "measure": self.measure,
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "trimfill": self.trimfill,
            "regtest": self.regtest,
            "ranktest": self.ranktest,
            "fallback": [step.label for step in self.fallback],
            "trimfill_estimator": self.trimfill_estimator,
            "trimfill_side": self.trimfill_side,
            "regtest_model": self.regtest_model,
            "engine": self.engine,
            # only with moderators, so the fingerprint of a batch without them is unchanged
            **({"mods": self.formula or list(self.mods)} if self.mods else {}),
            **({"random": list(self.random), "struct": list(self.struct or ())} if self.random else {}),
        }


def batch_settings(
    by: str,
    *,
    yi: str,
    vi: str | None,
    sei: str | None,
    measure: str | None,
    method: str,
    test: str,
    level: float,
    trimfill: bool,
    regtest: bool,
    ranktest: bool,
    fallback,
    escalc_columns: Mapping[str, str],
    trimfill_estimator: str = "L0",
    trimfill_side: str | None = None,
    regtest_model: str = "rma",
    engine: str = "metafor",
    mods: Sequence[str] | str | None = None,
    random: str | Sequence[str] | None = None,
    struct: str | Sequence[str] | None = None,
) -> BatchSettings:
    """Check every option name against metafor's vocabularies; raise InputError on the first bad one."""
    if random is not None or struct is not None:
        _check_multilevel(random, method, test, trimfill, regtest, ranktest, fallback, engine)
    check_release(check_choice(method, METHODS, "method"), "method")
    check_release(check_choice(test, TESTS, "test"), "test")
    check_choice(trimfill_estimator, TRIMFILL_ESTIMATORS, "trimfill_estimator")
    if trimfill_side is not None:
        check_choice(trimfill_side, TRIMFILL_SIDES, "trimfill_side")
    check_choice(regtest_model, REGTEST_MODELS, "regtest_model")
    check_choice(engine, ENGINES, "engine")
    if method in METHODS_NEEDING_WEIGHTS:
        raise InputError(f"method {method!r} needs study weights, which batch runs do not take")
    if not isinstance(by, str):
        raise InputError(f"by must be a column name, not {by!r}")
    if measure is not None:
        check_release(check_choice(measure, MEASURES + ("GEN",), "measure"), "measure")
    unknown = sorted(set(escalc_columns) - set(ESCALC_COLUMNS))
    if unknown:
        raise InputError(f"unknown argument {', '.join(unknown)}; escalc's columns are: {', '.join(ESCALC_COLUMNS)}")
    if escalc_columns:
        if measure is None:
            raise InputError(f"escalc column {next(iter(escalc_columns))}= needs measure=")
        columns = dict(escalc_columns)
    else:
        columns = {"yi": yi, "sei": sei} if sei else {"yi": yi, "vi": vi}
        if columns.get("vi") is None and not sei:
            raise InputError("give the sampling variances (vi=) or standard errors (sei=)")
    if by in columns.values():
        raise InputError(f"column {by!r} cannot be both the analysis id (by=) and a data column")
    moderators, formula = batch_moderators(mods)
    taken = [name for name in moderators if name == by or name in columns.values()]
    if taken:
        raise InputError(f"column {taken[0]!r} cannot be a moderator and also the analysis id or an effect-size column")
    terms, random_columns, structs = ((), (), None)
    if random is not None:
        from ketabridge.analyses.multilevel_spec import random_effects

        terms, random_columns, structs = random_effects(random, struct, _EveryName())
        taken = [name for name in random_columns if name == by or name in columns.values()]
        if taken:
            raise InputError(
                f"column {taken[0]!r} cannot be in a random term and also the analysis id or an effect-size column"
            )
    return BatchSettings(
        by=by,
        columns=columns,
        measure=measure,
        method=method,
        test=test,
        level=percent_level(level),
        trimfill=bool(trimfill),
        regtest=bool(regtest),
        ranktest=bool(ranktest),
        fallback=fallback_steps(fallback),
        trimfill_estimator=trimfill_estimator,
        trimfill_side=trimfill_side,
        regtest_model=regtest_model,
        engine=engine,
        mods=moderators,
        formula=formula,
        random=terms,
        random_columns=random_columns,
        struct=structs,
    )


def _check_multilevel(random, method, test, trimfill, regtest, ranktest, fallback, engine) -> None:
    """What a batch of rma.mv models (random=) cannot take, named before any analysis runs."""
    from ketabridge.options import MV_METHODS, MV_TESTS

    if random is None:
        raise InputError("struct= needs random= (a term of the form '~ inner | outer')")
    if engine == "fast":
        raise InputError(
            "the fast engine replays rma.uni only; a batch with random= (rma.mv) runs with engine='metafor'"
        )
    if method not in MV_METHODS or test not in MV_TESTS:
        raise InputError(
            f"with random= each analysis is fitted with rma.mv, which takes method {' or '.join(MV_METHODS)} "
            f"and test {' or '.join(MV_TESTS)}, not method={method!r}, test={test!r}"
        )
    extras = [name for name, asked in (("trimfill", trimfill), ("regtest", regtest), ("ranktest", ranktest)) if asked]
    if extras:
        raise InputError(f"{', '.join(extras)} work on rma.uni models only, not with random= (rma.mv)")
    if fallback not in (None, False):
        raise InputError("fallback refits with rma.uni's estimators; it is not available with random= (rma.mv)")


class _EveryName:
    """Stands for a table's columns before it is read: the formula's names are checked against the
    allow-list here, and as columns when the source opens (a missing one raises there)."""

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self):
        return iter(())


def batch_moderators(mods: Sequence[str] | str | None) -> tuple[tuple[str, ...], str | None]:
    """(the moderator columns, the formula text or None) of a batch's mods=."""
    from ketabridge.analyses.formulas import is_formula, parse_formula

    if mods is None:
        return (), None
    if is_formula(mods):
        formula = parse_formula(mods, _EveryName())
        if not formula.columns:
            raise InputError(
                f"mods formula {formula.text!r} names no column; leave mods out for the intercept-only model"
            )
        return formula.columns, formula.text
    names = [mods] if isinstance(mods, str) else list(mods) if isinstance(mods, Sequence) else None
    if not names or not all(isinstance(name, str) for name in names):
        raise InputError(f"mods must be a formula ('~ x1 + factor(x2)') or a list of column names, not {mods!r}")
    return tuple(dict.fromkeys(names)), None


def fallback_steps(policy) -> tuple[FallbackStep, ...]:
    """None/False: off. True or "default": DEFAULT_FALLBACK. Or a list of {"method": ..., "control": {...}}."""
    if policy is None or policy is False:
        return ()
    if policy is True or policy == "default":
        policy = DEFAULT_FALLBACK
    if isinstance(policy, (str, Mapping)) or not isinstance(policy, Sequence) or not policy:
        raise InputError(
            "fallback must be None, True (the default policy), or a list of steps such as "
            "[{'control': {'stepadj': 0.5, 'maxiter': 1000}}, {'method': 'DL'}]"
        )
    steps = []
    for step in policy:
        if not isinstance(step, Mapping) or not step or set(step) - {"method", "control"}:
            raise InputError(f"a fallback step is a dict with 'method' and/or 'control', not {step!r}")
        change = {}
        if "method" in step:
            change["method"] = check_choice(
                step["method"], tuple(m for m in METHODS if m not in METHODS_NEEDING_WEIGHTS), "fallback method"
            )
        if "control" in step:
            change["control"] = checked_control(step["control"])
        steps.append(FallbackStep(label=_label(change), change=change))
    return tuple(steps)


def _label(change: dict) -> str:
    parts = [f"method={change['method']}"] if "method" in change else []
    if "control" in change:
        parts.append("control(" + ", ".join(f"{key}={value}" for key, value in change["control"].items()) + ")")
    return " ".join(parts)
