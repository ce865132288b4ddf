"""Turn a result and its extra analyses into text, JSON or a one-row CSV summary."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pandas as pd

from ketabridge.analyses.results import BiasTestResult, MetaResult

Extras = Mapping[str, "MetaResult | BiasTestResult"]


def as_json(result: MetaResult, extras: Extras) -> str:
    """One object: tidy, glance, augment, provenance, and a key per extra analysis."""
    document = result.to_dict()
    document.update({name: extra.to_dict() for name, extra in extras.items()})
    return json.dumps(document, indent=2, ensure_ascii=False)


def glance_with_extras(result: MetaResult, extras: Extras) -> pd.DataFrame:
    """The glance row with each extra's glance columns added under its name as prefix."""
    parts = [result.glance()] + [extra.glance().add_prefix(f"{name}_") for name, extra in extras.items()]
    return pd.concat(parts, axis=1)


def as_csv(result: MetaResult, extras: Extras) -> str:
    return glance_with_extras(result, extras).to_csv(index=False)


def as_text(result: MetaResult, extras: Extras) -> str:
    g = result.glance().iloc[0]
    lines = [
        f"{g['method']} model ({g['measure']}), k = {g['k']}, test = {g['test']}, level = {g['level']:g}%",
        "",
        result.tidy().to_string(index=False, float_format=_fmt),
        "",
        f"heterogeneity: tau2 = {_fmt(g['tau2'])} (SE {_fmt(g['tau2_se'])}), tau = {_fmt(g['tau'])}, "
        f"I2 = {g['i2']:.2f}%, H2 = {_fmt(g['h2'])}",
        f"Q({g['q_df']}) = {_fmt(g['q'])}, p {_p(g['q_pvalue'])}",
    ]
    if pd.notna(g["pi_low"]):
        lines.append(f"prediction interval: [{_fmt(g['pi_low'])}, {_fmt(g['pi_high'])}]")
    for name, extra in extras.items():
        lines += ["", _extra_text(name, extra)]
    lines += ["", f"R call: {result.provenance.r_call}", _versions(result)]
    return "\n".join(lines) + "\n"


def _extra_text(name: str, extra: MetaResult | BiasTestResult) -> str:
    g = extra.glance().iloc[0]
    if name == "trimfill":
        return (
            f"trim-and-fill ({g['estimator']}, side {g['side']}): k0 = {g['k0']} (SE {_fmt(g['k0_se'])}); "
            f"filled estimate {_fmt(g['estimate'])} [{_fmt(g['conf_low'])}, {_fmt(g['conf_high'])}], k = {g['k']}"
        )
    if name == "regtest":
        return (
            f"Egger's regression test ({g['model']}, predictor {g['predictor']}): "
            f"statistic = {_fmt(g['statistic'])}, p {_p(g['p_value'])}; limit estimate "
            f"{_fmt(g['limit_estimate'])} [{_fmt(g['limit_conf_low'])}, {_fmt(g['limit_conf_high'])}]"
        )
    if name in ("selmodel", "pet_peese", "tes"):
        return _publication_bias_text(name, g)
    if name == "permutest":
        kind = "exact" if g["exact"] else f"{g['iterations']} random permutations"
        pvalues = ", ".join(f"{row.term} p {_p(row.p_value)}" for row in extra.tidy().itertuples())
        return f"permutation test ({kind}, seed {g['seed']}): QM({g['qm_df']}) = {_fmt(g['qm'])}, p {_p(g['qm_pvalue'])}; {pvalues}"
    return f"rank correlation test: Kendall's tau = {_fmt(g['kendall_tau'])}, p {_p(g['p_value'])}"


def _publication_bias_text(name: str, g: pd.Series) -> str:
    if name == "selmodel":
        return (
            f"selection model ({g['type']}, alternative {g['alternative']}): adjusted estimate "
            f"{_fmt(g['estimate'])} [{_fmt(g['conf_low'])}, {_fmt(g['conf_high'])}]; "
            f"LRT of selection({g['lrt_df']}) = {_fmt(g['lrt'])}, p {_p(g['lrt_pvalue'])}"
        )
    if name == "pet_peese":
        return (
            f"PET-PEESE ({g['model']}): PET {_fmt(g['pet_estimate'])} (p {_p(g['pet_p_value'])}), "
            f"PEESE {_fmt(g['peese_estimate'])}; {g['chosen']} used: {_fmt(g['estimate'])} "
            f"[{_fmt(g['conf_low'])}, {_fmt(g['conf_high'])}]"
        )
    return (
        f"test of excess significance ({g['test']}): {g['observed']} significant, {_fmt(g['expected'])} expected, "
        f"p {_p(g['p_value'])}"
    )


def _versions(result: MetaResult) -> str:
    p = result.provenance
    return f"ketabridge {p.ketabridge_version}, R {p.r_version}, metafor {p.metafor_version}, rpy2 {p.rpy2_version}"


def _fmt(value: float) -> str:
    return "NA" if pd.isna(value) else f"{value:.4f}"


def _p(value: float) -> str:
    return "= NA" if pd.isna(value) else ("< .0001" if value < 1e-4 else f"= {value:.4f}")
