"""Subgroup analysis: one model per level of a column, and the test of subgroup differences."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from . import schema, validate
from ._r.call import call_entry
from .errors import InputError
from .intervals import natural_scale
from .results import MetaResult, Provenance, SubgroupResult, meta_result
from .spec import ModelSpec


def fit_subgroups(table: pa.Table, spec: ModelSpec, column: str) -> SubgroupResult:
    """Fit ``spec``'s model in each subgroup of ``column`` and test the subgroup differences.

    Each subgroup gets its own model (and its own tau^2). The test of subgroup differences is
    the one metafor's documentation gives for independent subgroups ("Comparing Estimates of
    Independent Meta-Analyses or Subgroups", metafor-project.org/doku.php/tips:comp_two_independent_estimates):
    an equal-effects model ``rma(estimate, sei=std_error, method="EE")`` on the G subgroup
    estimates and their standard errors, whose Q statistic is the Wald-type test of equal
    estimates, Q_between = sum_g (b_g - b_EE)^2 / se_g^2, chi-square with G - 1 df.
    """
    labels = validate.label_column(table, column)
    groups = np.array([labels[row] for row in spec.source_rows], dtype=object)
    levels = list(dict.fromkeys(groups))  # order of first appearance
    if len(levels) < 2:
        raise InputError(f"subgroup column {column!r} needs at least 2 groups; the studies all have {levels[0]!r}")
    specs = {level: _subset(spec, groups == level) for level in levels}
    small = [level for level, part in specs.items() if part.k < 2]
    if small:
        rows = [int(row) for level in small for row in specs[level].source_rows]
        raise InputError(
            f"subgroup column {column!r}: each subgroup needs at least 2 studies, but "
            f"{', '.join(repr(level) for level in small)} {'has' if len(small) == 1 else 'have'} one "
            f"({validate.rows_text(rows)})"
        )
    # level names cross as list names; positions keep them apart from R's name mangling
    reply = call_entry("kb_subgroups", {str(i): part.to_r() for i, part in enumerate(specs.values())}, column, levels)
    provenance = Provenance.from_reply(reply)
    fits = {}
    for (level, part), value in zip(specs.items(), reply.value["levels"].values()):
        level_reply = dataclasses.replace(reply, value=value, call=value["call"][0], warnings=tuple(value["warnings"] or ()))
        fits[level] = meta_result(
            "rma", part, level_reply, dataclasses.replace(provenance, r_call=level_reply.call),
            lambda part=part: call_entry("kb_augment", part.to_r(), None, None, *natural_scale(part)).value,
            source=table,
        )
    between = schema.frame(reply.value["between"], schema.SUBGROUP_TEST)
    return SubgroupResult(column=column, fits=fits, between_table=between, provenance=provenance)


def _subset(spec: ModelSpec, mask: np.ndarray) -> ModelSpec:
    """The same model restricted to the studies in mask (arrays stay read-only)."""

    def part(array):
        if array is None:
            return None
        kept = np.array(array)[mask]
        kept.flags.writeable = False
        return kept

    return dataclasses.replace(
        spec, yi=part(spec.yi), vi=part(spec.vi), sei=part(spec.sei), weights=part(spec.weights),
        ni=part(spec.ni), slab=None if spec.slab is None else tuple(np.array(spec.slab, dtype=object)[mask]),
        mods={name: part(values) for name, values in spec.mods.items()}, source_rows=part(spec.source_rows),
    )
