"""Run an analysis plan: every analysis through the same API users call, collected as tidy tables.

Nothing here computes a statistic: effect sizes, models, extras, proportions and plots all
come from metafor through ketabridge's API. This module selects rows, says what it did in
notes, and keeps one table per kind with an `analysis` column.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ketabridge.analyses import models
from ketabridge.analyses.results import PROVENANCE_ATTR, MetaResult
from ketabridge.analyses.transforms import natural_transform
from ketabridge.errors import InputError, KetabridgeError
from ketabridge.io import to_arrow
from ketabridge.options import PREPOST_MEASURES
from ketabridge.plans.plan_file import Analysis, Dispersion, Effect, Plan, PlanError

# Below this many studies, funnel-asymmetry tests and trim-and-fill cannot tell asymmetry from
# chance (Sterne et al. 2011, BMJ 343:d4002, recommend at least 10).
MIN_K_FOR_BIAS_TESTS = 10
BIAS_EXTRAS = ("trimfill", "regtest", "ranktest")


@dataclass
class AnalysisRun:
    """What one analysis produced: its main model, tables by kind, plot files and notes."""

    analysis: Analysis
    result: MetaResult | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    plots: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    r_calls: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PlanRun:
    plan: Plan
    data: pd.DataFrame  # the plan's data with the SD columns derived from the dispersion rule
    runs: tuple[AnalysisRun, ...]

    def table(self, kind: str) -> pd.DataFrame:
        """All analyses' tables of one kind, stacked, with an `analysis` column first."""
        frames = [
            run.tables[kind].assign(analysis=run.analysis.name)[["analysis", *run.tables[kind].columns]]
            for run in self.runs
            if kind in run.tables
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"analysis": []})

    def kinds(self) -> list[str]:
        return list(dict.fromkeys(kind for run in self.runs for kind in run.tables))


def run_plan(plan: Plan, plot_dir: Path | None = None, progress: Callable[[str], None] = lambda _: None) -> PlanRun:
    """Run every analysis of `plan`; plots go to `plot_dir` (none when it is None)."""
    data = load_data(plan)
    check_columns(plan, data)
    runs = []
    for number, analysis in enumerate(plan.analyses, start=1):
        progress(f"[{number}/{len(plan.analyses)}] {analysis.name}: {analysis.title}")
        runs.append(run_analysis(analysis, data, plan, plot_dir))
    return PlanRun(plan=plan, data=data, runs=tuple(runs))


def load_data(plan: Plan) -> pd.DataFrame:
    data = to_arrow(plan.data).to_pandas()
    if plan.dispersion is not None:
        data = derive_sds(data, plan.dispersion, plan.path.name)
    return data


def check_columns(plan: Plan, data: pd.DataFrame) -> None:
    """Every column the plan names exists, so a typo stops the plan before anything runs."""
    for analysis in plan.analyses:
        named = {
            "where": list(analysis.where),
            "slab": [analysis.slab] if analysis.slab else [],
            "proportions": list((analysis.proportions or {}).values()),
        }
        for i, effect in enumerate(analysis.effects):
            named[f"effect[{i}]"] = [
                *effect.where,
                *effect.columns.values(),
                *(column for column in (effect.yi, effect.vi, effect.sei) if column),
            ]
        named["mods"] = moderator_columns(analysis, list(data.columns), plan.path.name)
        for key, columns in named.items():
            absent = [column for column in columns if column not in data.columns]
            if absent:
                raise PlanError(
                    f"{plan.path.name}: analysis {analysis.name}.{key}: no column {absent[0]!r} in the data; "
                    f"columns: {', '.join(map(str, data.columns))}"
                )


def derive_sds(data: pd.DataFrame, rule: Dispersion, plan_name: str) -> pd.DataFrame:
    """`<x>_disp` -> `<x>_sd`: kept for SDs, times sqrt(n) for SEs, per the rule where unknown."""
    for column in (*rule.columns, rule.type_column, rule.n_column):
        if column not in data.columns:
            raise PlanError(f"{plan_name}: dispersion: no column {column!r} in the data")
    data = data.copy()
    stated = data[rule.type_column].fillna("").astype(str).str.upper()
    known = stated.isin(["SD", "SE"]).to_numpy()
    kinds = np.where(known, stated, rule.unknown_as)  # "unknown", "" or anything else: the plan's reading
    sqrt_n = np.sqrt(pd.to_numeric(data[rule.n_column], errors="coerce").astype(float))
    for column in rule.columns:
        dispersion = pd.to_numeric(data[column], errors="coerce").astype(float)
        data[column.removesuffix("_disp") + "_sd"] = np.where(kinds == "SE", dispersion * sqrt_n, dispersion)
    data["sd_assumption"] = np.where(known, "", f"unknown taken as {rule.unknown_as}")
    return data


def select_rows(data: pd.DataFrame, where: dict, plan_name: str, at: str) -> pd.DataFrame:
    keep = np.ones(len(data), dtype=bool)
    for column, wanted in where.items():
        if column not in data.columns:
            raise PlanError(
                f"{plan_name}: {at}.where: no column {column!r} in the data; columns: {', '.join(data.columns)}"
            )
        keep &= data[column].isin(wanted if isinstance(wanted, list) else [wanted]).to_numpy()
    return data[keep]


def run_analysis(analysis: Analysis, data: pd.DataFrame, plan: Plan, plot_dir: Path | None) -> AnalysisRun:
    run = AnalysisRun(analysis)
    rows = select_rows(data, analysis.where, plan.path.name, f"analysis {analysis.name}")
    if analysis.proportions is not None:
        _attempt(run, "proportions side by side", lambda: _proportions(run, rows))
    if analysis.model != "rma":
        _attempt(run, f"the {analysis.model} model", lambda: _count_model(run, rows))
    elif analysis.effects:
        effects = _attempt(
            run, "effect sizes", lambda: effect_sizes(analysis, rows, analysis.ri, run.notes, run.r_calls)
        )
        if effects is not None:
            run.result = _attempt(run, "the model", lambda: fit(analysis, effects))
    if run.result is not None:
        _add_model_tables(run, rows, plot_dir)
    if analysis.compare is not None and plan.published is not None:
        run.tables["comparison"] = compare_with_published(run, plan.published)
    run.tables["notes"] = pd.DataFrame({"note": run.notes}, dtype="string")
    return run


def effect_sizes(
    analysis: Analysis,
    rows: pd.DataFrame,
    ri: float | None,
    notes: list[str] | None = None,
    r_calls: list[str] | None = None,
) -> pd.DataFrame:
    """yi, vi (and ni) for the analysis' rows, one effect definition after another; rows left
    out for missing numbers go to `notes`, and escalc's calls to `r_calls`."""
    frames = []
    for effect in analysis.effects:
        chosen = select_rows(rows, effect.where, "plan", f"analysis {analysis.name} effect")
        needed = list(effect.columns.values()) or [effect.yi, effect.vi or effect.sei]
        missing = chosen[needed].isna().any(axis=1)
        if missing.any() and notes is not None:
            for label, row in zip(_labels(chosen[missing], analysis.slab), chosen[missing].itertuples()):
                absent = [column for column in needed if pd.isna(getattr(row, column))]
                notes.append(f"{label} left out: no {', '.join(absent)}")
        chosen = chosen[~missing]
        if chosen.empty:
            continue
        frames.append(_one_effect(effect, chosen, ri))
        if r_calls is not None and PROVENANCE_ATTR in frames[-1].attrs:
            r_calls.append(frames[-1].attrs[PROVENANCE_ATTR]["r_call"])
    if not frames:
        raise KetabridgeError("no study has the numbers this analysis needs")
    return pd.concat(frames, ignore_index=True)


def _one_effect(effect: Effect, rows: pd.DataFrame, ri: float | None) -> pd.DataFrame:
    if effect.measure is None:
        out = rows.assign(yi=rows[effect.yi].astype(float))
        vi = rows[effect.vi].astype(float) if effect.vi else rows[effect.sei].astype(float) ** 2
        return out.assign(vi=vi, ni=np.nan, measure="GEN")
    extra = {"ri": ri} if effect.measure in PREPOST_MEASURES and ri is not None else {}
    computed = models.escalc(effect.measure, rows.reset_index(drop=True), **effect.columns, **extra)
    return computed.assign(measure=effect.measure)


def moderator_columns(analysis: Analysis, columns: list[str], plan_name: str | None = None) -> list[str]:
    """The data columns an analysis' mods use (a formula's, checked here; or the listed ones)."""
    from ketabridge.analyses.formulas import is_formula, parse_formula

    if analysis.mods is None:
        return []
    if not is_formula(analysis.mods):
        return [analysis.mods] if isinstance(analysis.mods, str) else list(analysis.mods)
    try:
        return list(parse_formula(analysis.mods, columns).columns)
    except InputError as error:
        if plan_name is None:
            raise
        raise PlanError(f"{plan_name}: analysis {analysis.name}.mods: {error}") from None


def fit(analysis: Analysis, effects: pd.DataFrame) -> MetaResult:
    if analysis.random or analysis.robust:  # rma.mv and/or robust(): plans/multilevel.py
        from ketabridge.plans.multilevel import fit_multilevel

        return fit_multilevel(analysis, effects)
    measures = effects["measure"].unique()
    measure = measures[0] if len(measures) == 1 and measures[0] != "GEN" else None
    ni = "ni" if effects["ni"].notna().all() else None
    mods = [column for column in moderator_columns(analysis, list(effects.columns)) if column not in ("yi", "vi", "ni")]
    table = effects[["yi", "vi"] + (["ni"] if ni else []) + ([analysis.slab] if analysis.slab else []) + mods]
    return models.rma(
        table,
        "yi",
        "vi",
        ni=ni,
        slab=analysis.slab,
        mods=list(analysis.mods) if isinstance(analysis.mods, tuple) else analysis.mods,
        method=analysis.method,
        test=analysis.test,
        level=analysis.level,
        measure=measure,
    )


def _add_model_tables(run: AnalysisRun, rows: pd.DataFrame, plot_dir: Path | None) -> None:
    from ketabridge.analyses import sensitivity

    analysis, result = run.analysis, run.result
    run.r_calls.append(result.provenance.r_call)
    run.tables["glance"] = result.glance()
    run.tables["tidy"] = result.tidy()
    run.tables["studies"] = result.augment()
    run.tables["summary"] = plan_summary_row(analysis, result, run.r_calls)
    k = int(result.glance()["k"].iloc[0])
    asked = [extra for extra in analysis.extras if extra in BIAS_EXTRAS]
    if asked and k < MIN_K_FOR_BIAS_TESTS:
        run.notes.append(
            f"k = {k}: with fewer than {MIN_K_FOR_BIAS_TESTS} studies, {', '.join(asked)} cannot tell "
            "funnel asymmetry from chance (Sterne et al. 2011, BMJ 343:d4002); shown for completeness only"
        )
    extras = {
        "trimfill": lambda: models.trimfill(result),
        "regtest": lambda: models.regtest(result),
        "ranktest": lambda: models.ranktest(result),
        "leave1out": lambda: sensitivity.leave1out(result, transf="natural"),
        "influence": lambda: sensitivity.influence(result),
        **_publication_bias_extras(analysis, result),
    }
    filled = None
    for extra in analysis.extras:
        value = _attempt(run, extra, extras[extra])
        if value is None:
            continue
        if extra in ("trimfill", "regtest", "ranktest", "selmodel", "pet_peese", "tes"):
            run.r_calls.append(value.provenance.r_call)
            run.tables[extra] = value.glance()
            filled = value if extra == "trimfill" else filled
            if extra == "selmodel":
                run.tables["selmodel_weights"] = value.weights()
        elif extra == "permutest":
            run.r_calls.append(value.provenance.r_call)
            run.tables["permutest"] = value.glance()
            run.tables["permutest_tidy"] = value.tidy()
        else:
            run.r_calls.append(value.attrs[PROVENANCE_ATTR]["r_call"])
            run.tables[extra] = value
    if analysis.ri_grid:
        _attempt(run, "ri sensitivity grid", lambda: _ri_grid(run, rows))
    if plot_dir is not None:
        _plots(run, filled, plot_dir)


def _publication_bias_extras(analysis: Analysis, result: MetaResult) -> dict:
    """The plan's selmodel (its [analysis.selmodel] settings), PET-PEESE, tes and permutest, run on demand."""
    from ketabridge.analyses import selection, small_study

    settings = analysis.selmodel or {}
    return {
        "selmodel": lambda: selection.selmodel(
            result, settings["type"], steps=settings["steps"], alternative=settings["alternative"]
        ),
        "pet_peese": lambda: small_study.pet_peese(result),
        "tes": lambda: small_study.tes(result),
        "permutest": lambda: _permutest(analysis, result),
    }


def _permutest(analysis: Analysis, result: MetaResult):
    """The plan's permutation test, with its [analysis.permutest] settings."""
    from ketabridge.analyses.permutation import permutest

    return permutest(result, **(analysis.permutest or {}))


def plan_summary_row(analysis: Analysis, result: MetaResult, r_calls: list[str]) -> pd.DataFrame:
    """The pooled estimate with CI and PI on the natural scale, and heterogeneity."""
    from ketabridge.analyses.intervals import predict

    if result.kind != "rma":  # rma.mv or robust(): plans/multilevel.py
        from ketabridge.plans.multilevel import multilevel_summary_row

        return multilevel_summary_row(analysis, result)

    glance = result.glance().iloc[0]
    transform = natural_transform(result.spec.measure)
    prediction = predict(result, transf="natural")
    r_calls.append(prediction.attrs[PROVENANCE_ATTR]["r_call"])
    predicted = prediction.iloc[0]
    return pd.DataFrame(
        [
            {
                "title": analysis.title,
                "k": int(glance["k"]),
                "measure": result.spec.measure,
                "method": glance["method"],
                "scale": transform or "model",
                "estimate": predicted["estimate"],
                "conf_low": predicted["conf_low"],
                "conf_high": predicted["conf_high"],
                "pi_low": predicted["pi_low"],
                "pi_high": predicted["pi_high"],
                "i2": glance["i2"],
                "tau2": glance["tau2"],
                "q": glance["q"],
                "q_pvalue": glance["q_pvalue"],
            }
        ]
    )


def _ri_grid(run: AnalysisRun, rows: pd.DataFrame) -> None:
    # Not prepost.correlation_grid: a plan's analysis may pool several effect definitions (MC rows
    # beside reported changes), and only the ones whose measure uses ri change with it.
    grid = []
    for ri in run.analysis.ri_grid:
        result = fit(run.analysis, effect_sizes(run.analysis, rows, ri, r_calls=run.r_calls))
        run.r_calls.append(result.provenance.r_call)
        grid.append(result.glance().assign(ri=ri))
    table = pd.concat(grid, ignore_index=True)
    run.tables["correlation_grid"] = table[["ri", *[c for c in table.columns if c != "ri"]]]


def _proportions(run: AnalysisRun, rows: pd.DataFrame) -> None:
    from ketabridge.analyses.proportions import pool_proportions

    columns = run.analysis.proportions
    pooled = pool_proportions(
        rows.reset_index(drop=True),
        columns["events"],
        columns["totals"],
        slab=run.analysis.slab,
        level=run.analysis.level,
    )
    run.r_calls.append(pooled.provenance.r_call)
    run.tables["proportions"] = pooled.tidy()


def _count_model(run: AnalysisRun, rows: pd.DataFrame) -> None:
    """model = "mh" | "peto" | "glmm": the count model of the effect's columns, as three tables."""
    from ketabridge.analyses.glmm import rma_glmm
    from ketabridge.analyses.rare import rma_mh, rma_peto

    analysis = run.analysis
    effect = analysis.effects[0]
    chosen = select_rows(rows, effect.where, "plan", f"analysis {analysis.name} effect").reset_index(drop=True)
    common = {"slab": analysis.slab, "level": analysis.level, **effect.columns}
    if analysis.model == "mh":
        result = rma_mh(chosen, effect.measure, **common)
    elif analysis.model == "peto":
        result = rma_peto(chosen, **common)
    else:
        method = "ML" if analysis.method == "REML" else analysis.method  # rma's default is not a GLMM's
        result = rma_glmm(chosen, effect.measure, model=analysis.glmm_model, method=method, **common)
    run.r_calls.append(result.provenance.r_call)
    run.tables["count_glance"] = result.glance()
    run.tables["count_tidy"] = result.tidy()
    run.tables["count_studies"] = result.augment()
    g = result.glance().iloc[0]
    natural = g["estimate_natural"] != g["estimate"]
    run.tables["summary"] = pd.DataFrame(  # the summary row every analysis has, on the natural scale
        [
            {
                "title": analysis.title, "k": int(g["k"]), "measure": g["measure"], "method": g["model"],
                "scale": (natural_transform(effect.measure) or "model") if natural else "model",
                **{name: g[f"{name}_natural"] for name in ("estimate", "conf_low", "conf_high", "pi_low", "pi_high")},
                "i2": g["i2"], "tau2": g["tau2"], "q": g["q"], "q_pvalue": g["q_pvalue"],
            }
        ]
    )  # fmt: skip


def _plots(run: AnalysisRun, filled: MetaResult | None, plot_dir: Path) -> None:
    from ketabridge.analyses.plots import forest, funnel

    plot_dir.mkdir(parents=True, exist_ok=True)
    drawers = {
        "forest": lambda path: forest(run.result, path),
        "funnel": lambda path: funnel(filled or run.result, path),
    }
    for kind in run.analysis.plots:
        for suffix in ("png", "svg"):
            path = plot_dir / f"{run.analysis.name}_{kind}.{suffix}"
            if _attempt(run, f"the {kind} plot", lambda: drawers[kind](path)) is not None:
                run.plots[f"{kind}_{suffix}"] = path


def compare_with_published(run: AnalysisRun, published_path: Path) -> pd.DataFrame:
    """Each pooled figure of this analysis beside the published one, with the difference."""
    published = pd.read_csv(published_path)
    wanted = run.analysis.compare
    match = published[
        (published["quantity"] == wanted.get("quantity")) & (published["timepoint"] == wanted.get("timepoint"))
    ]
    if match.empty:
        raise PlanError(f"no published figure for {wanted} in {published_path.name}")
    target = match.iloc[0]
    ours = _our_figures(run)
    return pd.DataFrame(
        [
            {
                "quantity": target["quantity"],
                "timepoint": target["timepoint"],
                "approach": approach,
                "k": k,
                "estimate": estimate,
                "conf_low": low,
                "conf_high": high,
                "published_k": target["k"],
                "published_estimate": target["estimate"],
                "published_conf_low": target["conf_low"],
                "published_conf_high": target["conf_high"],
                "difference": estimate - target["estimate"],
            }
            for approach, k, estimate, low, high in ours
        ]
    )


def _our_figures(run: AnalysisRun) -> list[tuple]:
    figures = []
    if "proportions" in run.tables:
        for row in run.tables["proportions"].itertuples():
            figures.append((f"{row.measure} {row.method}", row.k, row.estimate, row.conf_low, row.conf_high))
    elif "summary" in run.tables:
        row = run.tables["summary"].iloc[0]
        figures.append(
            (f"{row['measure']} {row['method']}", row["k"], row["estimate"], row["conf_low"], row["conf_high"])
        )
    return figures


def _attempt(run: AnalysisRun, what: str, action: Callable):
    """Run one step; a failure becomes a note (with metafor's message) and the plan goes on."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = action()
        except KetabridgeError as error:
            run.notes.append(f"{what} not available: {_line(str(error))}")
            value = None
    run.notes.extend(f"{what}: {_line(str(warning.message))}" for warning in caught)
    return value


def _labels(rows: pd.DataFrame, slab: str | None) -> list[str]:
    if slab is None:
        return [f"row {index}" for index in rows.index]
    return [str(label) for label in rows[slab]]


def _line(text: str) -> str:
    return " ".join(text.split())
