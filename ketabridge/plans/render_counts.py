"""Text, JSON and CSV of a count model (rma_mh, rma_peto, rma_glmm), as render.py does for rma."""

from __future__ import annotations

import json

import pandas as pd

from ketabridge.analyses.count_result import CountModelResult
from ketabridge.plans.render import _fmt, _p


def as_json(result: CountModelResult) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str)


def as_csv(result: CountModelResult) -> str:
    return result.glance().to_csv(index=False)


def as_text(result: CountModelResult) -> str:
    g = result.glance().iloc[0]
    lines = [
        f"{g['model']} model ({g['measure']}, method {g['method']}), k = {g['k']} of {g['k_all']}, "
        f"level = {g['level']:g}%",
        "",
        result.tidy().to_string(index=False, float_format=_fmt),
        "",
        f"natural scale: {_fmt(g['estimate_natural'])} [{_fmt(g['conf_low_natural'])}, {_fmt(g['conf_high_natural'])}]",
        f"heterogeneity: tau2 = {_fmt(g['tau2'])}, I2 = {_fmt(g['i2'])}%, Q({g['q_df']}) = {_fmt(g['q'])}, "
        f"p {_p(g['q_pvalue'])}",
    ]
    if pd.notna(g["q_lrt"]):
        lines.append(f"likelihood-ratio test for heterogeneity: {_fmt(g['q_lrt'])}, p {_p(g['q_lrt_pvalue'])}")
    if pd.notna(g["cmh"]):
        lines.append(f"Cochran-Mantel-Haenszel test: CMH = {_fmt(g['cmh'])}, p {_p(g['cmh_pvalue'])}")
    if pd.notna(g["tarone"]):
        lines.append(f"Tarone's test: X2({g['tarone_df']}) = {_fmt(g['tarone'])}, p {_p(g['tarone_pvalue'])}")
    zero = result.augment().query("zero_cells == 'double'")
    if len(zero):
        lines.append(
            f"double-zero studies: {', '.join(zero['study'])} (used in the fit: {', '.join(map(str, zero['used']))})"
        )
    p = result.provenance
    lines += ["", f"R call: {p.r_call}",
              f"ketabridge {p.ketabridge_version}, R {p.r_version}, metafor {p.metafor_version}, rpy2 {p.rpy2_version}"]  # fmt: skip
    return "\n".join(lines) + "\n"
