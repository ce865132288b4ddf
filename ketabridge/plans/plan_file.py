"""Analysis plans: a small TOML file naming the data and the analyses to run on it.

Parsing checks every key and value against what ketabridge can do, and a mistake is reported
with the plan's file name, the key and the allowed values, before anything runs. The format is
documented in the README ("Analysis plans") and by the bundled plan
(`data/crps_ketamine/plan.toml`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ketabridge.errors import InputError
from ketabridge.options import ESCALC_COLUMNS, MEASURES, METHODS, MV_METHODS, MV_TESTS, PREPOST_MEASURES, STRUCTS, TESTS

EXTRAS = ("trimfill", "regtest", "ranktest", "leave1out", "influence", "selmodel", "pet_peese", "tes", "permutest")
PLOTS = ("forest", "funnel")
DISPERSION_TYPES = ("SD", "SE")

PLAN_KEYS = ("title", "description", "data", "published", "dispersion", "analysis")
DISPERSION_KEYS = ("columns", "type_column", "n_column", "unknown_as")
ANALYSIS_KEYS = (
    "name", "title", "note", "where", "slab", "effect", "method", "test", "level", "ri", "ri_grid",
    "proportions", "extras", "plots", "compare", "model", "glmm_model", "mods", "selmodel",
    "random", "struct", "robust",  # a multilevel model (rma_mv) and cluster-robust inference
    "permutest",  # [analysis.permutest]: iter, seed, exact of extras = ["permutest"]
)  # fmt: skip
# model: "rma" (escalc then rma.uni) or a count model of the effect's counts: rma_mh ("mh"),
# rma_peto ("peto"), rma_glmm ("glmm", of type glmm_model).
COUNT_MODELS = ("mh", "peto", "glmm")
GLMM_MODELS = ("UM.FS", "UM.RS", "CM.EL", "CM.AL")
# [analysis.selmodel]: the selection model that extras = ["selmodel"] fits (default: the
# three-parameter step function, steps = [0.025, 1], alternative = "greater").
SELMODEL_KEYS = ("type", "steps", "alternative")
SELMODEL_DEFAULT = {"type": "stepfun", "steps": [0.025, 1.0], "alternative": "greater"}
# [analysis.permutest]: the permutation test that extras = ["permutest"] runs (permutest's
# defaults: iter = 1000, a seed drawn and recorded in the output when none is given).
PERMUTEST_KEYS = ("iter", "seed", "exact")
EFFECT_KEYS = ("where", "measure", "yi", "vi", "sei", *ESCALC_COLUMNS)
PROPORTION_KEYS = ("events", "totals")
COMPARE_KEYS = ("quantity", "timepoint")
TYPE_NAMES = {str: "string", int: "number", float: "number", list: "list", bool: "boolean", dict: "table"}


class PlanError(InputError):
    """A plan that cannot run as written: names the file, the key and what is allowed."""


@dataclass(frozen=True)
class Dispersion:
    """How to turn printed dispersions into SDs: `<col>` becomes `<col minus _disp>_sd`."""

    columns: tuple[str, ...]
    type_column: str
    n_column: str
    unknown_as: str  # what a dispersion of unknown type is taken to be: "SD" or "SE"


@dataclass(frozen=True)
class Effect:
    """One way of computing yi/vi: an escalc measure and its columns, or yi with vi or sei."""

    where: dict = field(default_factory=dict)
    measure: str | None = None
    columns: dict = field(default_factory=dict)  # escalc argument -> column
    yi: str | None = None
    vi: str | None = None
    sei: str | None = None


@dataclass(frozen=True)
class Analysis:
    name: str
    title: str
    note: str
    where: dict
    slab: str | None
    effects: tuple[Effect, ...]
    method: str
    test: str
    level: float
    ri: float | None
    ri_grid: tuple[float, ...]
    proportions: dict | None  # {"events": column, "totals": column}
    extras: tuple[str, ...]
    plots: tuple[str, ...]
    compare: dict | None  # the row of the published figures to compare with
    model: str = "rma"  # or one of COUNT_MODELS
    glmm_model: str = "UM.FS"
    mods: str | tuple[str, ...] | None = None  # moderators: a formula, or columns (as rma's mods)
    random: tuple[str, ...] = ()  # rma.mv random terms; empty: rma
    struct: str | None = None
    robust: str | None = None  # the cluster column of robust() (CR2)
    selmodel: dict | None = None  # selmodel's type, steps, alternative (extras = ["selmodel"])
    permutest: dict | None = None  # permutest's iter, seed, exact (extras = ["permutest"])


@dataclass(frozen=True)
class Plan:
    path: Path
    title: str
    description: str
    data: Path
    published: Path | None
    dispersion: Dispersion | None
    analyses: tuple[Analysis, ...]


def bundled_plan_path() -> Path:
    """The CRPS case-study plan shipped with ketabridge (data/crps_ketamine in a checkout)."""
    from importlib import resources

    return Path(str(resources.files("ketabridge.casestudy") / "plan.toml"))


def load_plan(path: str | Path) -> Plan:
    """Read and check a plan; data paths are relative to the plan file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(f"{path}: no such plan file") from None
    except tomllib.TOMLDecodeError as error:
        raise PlanError(f"{path}: not valid TOML: {error}") from None
    check = _Checker(path.name)
    check.keys(raw, PLAN_KEYS, "")
    analyses = check.required(raw, "analysis", list, "")
    if not analyses:
        raise PlanError(f"{path.name}: the plan has no [[analysis]]")
    plan = Plan(
        path=path,
        title=check.optional(raw, "title", str, "", path.stem),
        description=check.optional(raw, "description", str, "", ""),
        data=_existing(path, check.required(raw, "data", str, ""), "data"),
        published=_existing(path, raw["published"], "published") if "published" in raw else None,
        dispersion=_dispersion(check, raw["dispersion"]) if "dispersion" in raw else None,
        analyses=tuple(_analysis(check, item, f"analysis[{i}].") for i, item in enumerate(analyses)),
    )
    names = [analysis.name for analysis in plan.analyses]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise PlanError(f"{path.name}: analysis names must differ; repeated: {', '.join(repeated)}")
    return plan


def _existing(plan_path: Path, value: str, key: str) -> Path:
    target = (plan_path.parent / value).resolve()
    if not target.is_file():
        raise PlanError(f"{plan_path.name}: {key}: file {value!r} not found next to the plan ({target})")
    return target


def _dispersion(check: _Checker, raw: dict) -> Dispersion:
    check.keys(raw, DISPERSION_KEYS, "dispersion.")
    columns = check.required(raw, "columns", list, "dispersion.")
    for column in columns:
        if not isinstance(column, str) or not column.endswith("_disp"):
            check.fail("dispersion.columns", f"{column!r} is not a column name ending in '_disp'")
    return Dispersion(
        columns=tuple(columns),
        type_column=check.required(raw, "type_column", str, "dispersion."),
        n_column=check.required(raw, "n_column", str, "dispersion."),
        unknown_as=check.choice(raw, "unknown_as", DISPERSION_TYPES, "dispersion.", "SE"),
    )


def _analysis(check: _Checker, raw: dict, at: str) -> Analysis:
    check.keys(raw, ANALYSIS_KEYS, at)
    name = check.required(raw, "name", str, at)
    if not name.replace("_", "").isalnum():
        check.fail(f"{at}name", f"{name!r} must be letters, digits and underscores (it names files)")
    effects = raw.get("effect", [])
    effects = [effects] if isinstance(effects, dict) else effects
    proportions = raw.get("proportions")
    if proportions is not None:
        check.keys(proportions, PROPORTION_KEYS, f"{at}proportions.")
        for key in PROPORTION_KEYS:
            check.required(proportions, key, str, f"{at}proportions.")
    if not effects and proportions is None:
        check.fail(f"{at}effect", "an analysis needs an effect (escalc measure or yi/vi columns) or proportions")
    ri = check.optional(raw, "ri", (int, float), at, None)
    ri_grid = tuple(check.optional(raw, "ri_grid", list, at, []))
    for value in ([ri] if ri is not None else []) + list(ri_grid):
        if not isinstance(value, (int, float)) or not -1 <= value <= 1:
            check.fail(f"{at}ri", f"{value!r} is not a correlation in [-1, 1]")
    parsed_effects = tuple(_effect(check, item, f"{at}effect[{i}].") for i, item in enumerate(effects))
    if (ri is not None or ri_grid) and not any(effect.measure in PREPOST_MEASURES for effect in parsed_effects):
        check.fail(f"{at}ri", f"needs an effect whose measure uses ri: {', '.join(PREPOST_MEASURES)}")
    for i, effect in enumerate(parsed_effects):
        if (ri is not None or ri_grid) and "ri" in effect.columns:
            check.fail(
                f"{at}effect[{i}].ri",
                "give the pre-post correlation either as a column here or as the analysis' ri/ri_grid, not both",
            )
    compare = raw.get("compare")
    if compare is not None:
        check.keys(compare, COMPARE_KEYS, f"{at}compare.")
    model = check.choice(raw, "model", ("rma", *COUNT_MODELS), at, "rma")
    if model != "rma":
        _check_count_model(check, raw, parsed_effects, model, at)
    mods = _mods(check, raw.get("mods"), f"{at}mods", proportions is not None)
    return Analysis(
        model=model,
        glmm_model=check.choice(raw, "glmm_model", GLMM_MODELS, at, "UM.FS"),
        name=name,
        title=check.optional(raw, "title", str, at, name),
        note=check.optional(raw, "note", str, at, ""),
        where=_where(check, raw.get("where", {}), f"{at}where"),
        slab=check.optional(raw, "slab", str, at, None),
        effects=parsed_effects,
        method=check.choice(raw, "method", METHODS, at, "REML"),
        test=check.choice(raw, "test", TESTS, at, "z"),
        level=float(check.optional(raw, "level", (int, float), at, 95.0)),
        ri=None if ri is None else float(ri),
        ri_grid=tuple(float(value) for value in ri_grid),
        proportions=proportions,
        extras=check.choices(raw, "extras", EXTRAS, at),
        plots=check.choices(raw, "plots", PLOTS, at),
        compare=compare,
        mods=mods,
        **_multilevel(check, raw, at),
        selmodel=_selmodel(check, raw, at),
        permutest=_permutest(check, raw, at),
    )


def _check_count_model(check: _Checker, raw: dict, effects: tuple[Effect, ...], model: str, at: str) -> None:
    """A count model takes one effect: a measure with its count columns; no rma extras."""
    if len(effects) != 1 or effects[0].measure is None:
        check.fail(f"{at}model", f"{model!r} needs exactly one effect with a measure and its count columns")
    for key in ("extras", "plots", "ri", "ri_grid", "proportions"):
        if raw.get(key):
            check.fail(f"{at}{key}", f"is for model 'rma', not {model!r}")


def _mods(check: _Checker, mods, at: str, proportions: bool) -> str | tuple[str, ...] | None:
    """An analysis' moderators: a formula string, or a list of columns (checked against the data when it is read)."""
    if mods is None:
        return None
    if proportions:
        check.fail(at, "moderators need an effect-size model, not proportions")
    if isinstance(mods, str):
        return mods
    if not isinstance(mods, list) or not mods or not all(isinstance(column, str) for column in mods):
        check.fail(at, f"{mods!r} must be a formula ('~ x1 + factor(x2)') or a list of column names")
    return tuple(mods)


def _multilevel(check: _Checker, raw: dict, at: str) -> dict:
    """The keys random, struct and robust; rma.mv has no trim-and-fill, bias tests or influence."""
    random = raw.get("random", [])
    random = [random] if isinstance(random, str) else random
    if not isinstance(random, list) or not all(isinstance(term, str) and "~" in term for term in random):
        check.fail(f"{at}random", "give one random term or a list of them, e.g. '~ 1 | study/es_id'")
    struct = check.optional(raw, "struct", str, at, None)
    if struct is not None and struct not in STRUCTS:
        check.fail(f"{at}struct", f"{struct!r} is not one of {', '.join(STRUCTS)}")
    if struct is not None and not random:
        check.fail(f"{at}struct", "struct needs a random term of the form '~ inner | outer'")
    if random:
        check.choice(raw, "method", MV_METHODS, at, "REML")
        check.choice(raw, "test", MV_TESTS, at, "z")
        if raw.get("extras"):
            check.fail(
                f"{at}extras", f"{raw['extras'][0]!r} is not available with random (ketabridge has it for rma only)"
            )
    return {"random": tuple(random), "struct": struct, "robust": check.optional(raw, "robust", str, at, None)}


def _selmodel(check: _Checker, raw: dict, at: str) -> dict | None:
    """The selection model of extras = ["selmodel"]: the [analysis.selmodel] table over the default."""
    from ketabridge.options import SELMODEL_ALTERNATIVES, SELMODEL_TYPES

    given = raw.get("selmodel")
    if given is not None:
        check.keys(given, SELMODEL_KEYS, f"{at}selmodel.")
        if "selmodel" not in raw.get("extras", []):
            check.fail(f"{at}selmodel", 'is only used with extras = ["selmodel"]')
    if "selmodel" not in raw.get("extras", []):
        return None
    given = given or {}
    chosen = check.choice(given, "type", SELMODEL_TYPES, f"{at}selmodel.", SELMODEL_DEFAULT["type"])
    steps = check.optional(given, "steps", list, f"{at}selmodel.", None)
    if steps is not None and not all(
        isinstance(value, (int, float)) and not isinstance(value, bool) for value in steps
    ):
        check.fail(f"{at}selmodel.steps", f"{steps!r} must be a list of p-values")
    if steps is None and "type" not in given:
        steps = SELMODEL_DEFAULT["steps"]
    return {
        "type": chosen,
        "steps": None if steps is None else [float(value) for value in steps],
        "alternative": check.choice(given, "alternative", SELMODEL_ALTERNATIVES, f"{at}selmodel.", "greater"),
    }


def _permutest(check: _Checker, raw: dict, at: str) -> dict | None:
    """The permutation test of extras = ["permutest"]: the [analysis.permutest] table (ranges are
    permutest's own checks, made when it runs)."""
    given = raw.get("permutest")
    if given is not None:
        check.keys(given, PERMUTEST_KEYS, f"{at}permutest.")
        if "permutest" not in raw.get("extras", []):
            check.fail(f"{at}permutest", 'is only used with extras = ["permutest"]')
    if "permutest" not in raw.get("extras", []):
        return None
    given = given or {}
    return {
        "iter": check.optional(given, "iter", int, f"{at}permutest.", 1000),
        "seed": check.optional(given, "seed", int, f"{at}permutest.", None),
        "exact": check.optional(given, "exact", bool, f"{at}permutest.", None),
    }


def _effect(check: _Checker, raw: dict, at: str) -> Effect:
    check.keys(raw, EFFECT_KEYS, at)
    columns = {key: raw[key] for key in ESCALC_COLUMNS if key in raw}
    for key, value in columns.items():
        if not isinstance(value, str):
            check.fail(f"{at}{key}", f"{value!r} must be a column name")
    if "measure" in raw:
        check.choice(raw, "measure", MEASURES, at, None)
        if not columns:
            check.fail(f"{at}measure", "an escalc measure needs its columns (e.g. xi, ni or m1i, m2i, sd1i, sd2i, ni)")
    elif "yi" not in raw or ("vi" not in raw and "sei" not in raw):
        check.fail(at.rstrip("."), "needs either measure with escalc columns, or yi with vi or sei")
    return Effect(
        where=_where(check, raw.get("where", {}), f"{at}where"),
        measure=raw.get("measure"),
        columns=columns,
        yi=raw.get("yi"),
        vi=raw.get("vi"),
        sei=raw.get("sei"),
    )


def _where(check: _Checker, raw: object, at: str) -> dict:
    """Row filters: column = value (equal) or column = [values] (one of)."""
    if not isinstance(raw, dict):
        check.fail(at, "must be a table of column = value")
    for column, value in raw.items():
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(item, (str, int, float, bool)) for item in values):
            check.fail(f"{at}.{column}", f"{value!r} must be a string, number or boolean, or a list of them")
    return dict(raw)


class _Checker:
    """Type and vocabulary checks that name the plan file and the key."""

    def __init__(self, file_name: str):
        self.file_name = file_name

    def fail(self, key: str, problem: str):
        raise PlanError(f"{self.file_name}: {key}: {problem}")

    def keys(self, raw: object, allowed: tuple[str, ...], at: str) -> None:
        if not isinstance(raw, dict):
            self.fail(at.rstrip(".") or "plan", "must be a table")
        unknown = sorted(set(raw) - set(allowed))
        if unknown:
            self.fail(f"{at}{unknown[0]}", f"unknown key; allowed keys here: {', '.join(allowed)}")

    def required(self, raw: dict, key: str, kind, at: str):
        if key not in raw:
            self.fail(f"{at}{key}", "missing (required)")
        return self.optional(raw, key, kind, at, None)

    def optional(self, raw: dict, key: str, kind, at: str, default):
        value = raw.get(key, default)
        if key in raw and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
            names = {TYPE_NAMES[k] for k in (kind if isinstance(kind, tuple) else (kind,))}
            self.fail(f"{at}{key}", f"{value!r} must be a {' or '.join(sorted(names))}")
        return value

    def choice(self, raw: dict, key: str, allowed: tuple[str, ...], at: str, default):
        value = raw.get(key, default)
        if key in raw and value not in allowed:
            self.fail(f"{at}{key}", f"{value!r} is not allowed; choose one of: {', '.join(allowed)}")
        return value

    def choices(self, raw: dict, key: str, allowed: tuple[str, ...], at: str) -> tuple[str, ...]:
        values = self.optional(raw, key, list, at, [])
        for value in values:
            if value not in allowed:
                self.fail(f"{at}{key}", f"{value!r} is not allowed; choose from: {', '.join(allowed)}")
        return tuple(values)
