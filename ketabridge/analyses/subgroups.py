"""Subgroup analysis: one model per level of a column, and the test of subgroup differences."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from ketabridge import schema
from ketabridge.analyses import validate
from ketabridge.analyses.intervals import natural_scale
from ketabridge.analyses.results import AugmentCall, Provenance, SubgroupResult, meta_result
from ketabridge.analyses.spec import ModelSpec, row_labels
from ketabridge.bridge.call import call_entry
from ketabridge.errors import InputError


def fit_subgroups(table: pa.Table, spec: ModelSpec, column: str) -> SubgroupResult:
    """Fit ``spec``'s model in each subgroup of ``column`` and test the subgroup differences.

    Each subgroup gets its own model (and its own tau^2). The test of subgroup differences is
    the one metafor's documentation gives for independent subgroups ("Comparing Estimates of
    Independent Meta-Analyses or Subgroups", metafor-project.org/doku.php/tips:comp_two_independent_estimates):
    an equal-effects model ``rma(estimate, sei=std_error, method="EE")`` on the G subgroup
    estimates and their standard errors, whose Q statistic is the Wald-type test of equal
    estimates, Q_between = sum_g (b_g - b_EE)^2 / se_g^2, chi-square with G - 1 df.
    """
    keys = _subgroup_keys(table, column)
    groups = np.empty(len(spec.source_rows), dtype=object)
    groups[:] = [keys[row] for row in spec.source_rows]
    levels = list(dict.fromkeys(groups))  # order of first appearance, each of the column's type
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
    reply = call_entry(
        "kb_subgroups",
        {str(i): part.to_r() for i, part in enumerate(specs.values())},
        column,
        {str(i): _shown_in_r(level) for i, level in enumerate(levels)},
    )
    provenance = Provenance.from_reply(reply)
    fits = {}
    for (level, part), value in zip(specs.items(), reply.value["levels"].values()):
        level_reply = dataclasses.replace(
            reply, value=value, call=value["call"][0], warnings=tuple(value["warnings"] or ())
        )
        fits[level] = meta_result(
            "rma",
            part,
            level_reply,
            dataclasses.replace(provenance, r_call=level_reply.call),
            AugmentCall(part, *natural_scale(part)),
            source=table,
        )
    between = schema.frame(reply.value["between"], schema.SUBGROUP_TEST)
    return SubgroupResult(column=column, fits=fits, between_table=between, provenance=provenance)


def _subgroup_keys(table: pa.Table, column: str) -> list:
    """The column's values as Python values of its own type (text, int, float, bool...), so
    ``fits`` is keyed by what the data holds; a missing (or NaN) value raises InputError."""
    validate.require_columns(table, [column])
    values = table.column(column)
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    missing = values.is_null(nan_is_null=True).to_numpy(zero_copy_only=False)
    if missing.any():
        raise InputError(f"column {column!r} has no label in {validate.rows_text(np.flatnonzero(missing))}")
    return values.to_pylist()


def _shown_in_r(level: object) -> object:
    """How a level shows in the subgroup's R call (`subset = col == <level>`): text quoted, a
    number as R prints a double (1, not 1L), TRUE/FALSE; anything else as its text."""
    if isinstance(level, (bool, str, float)):
        return level
    if isinstance(level, int):
        return float(level)
    return str(level)


def _subset(spec: ModelSpec, mask: np.ndarray) -> ModelSpec:
    """The same model restricted to the studies in mask (arrays stay read-only). Without a
    slab, each study keeps its row number as its label, as with metafor's subset=."""

    def part(array):
        if array is None:
            return None
        kept = np.array(array)[mask]
        kept.flags.writeable = False
        return kept

    labels = spec.slab if spec.slab is not None else row_labels(spec.source_rows)
    return dataclasses.replace(
        spec,
        yi=part(spec.yi),
        vi=part(spec.vi),
        sei=part(spec.sei),
        weights=part(spec.weights),
        ni=part(spec.ni),
        slab=tuple(np.array(labels, dtype=object)[mask]),
        mods={name: part(values) for name, values in spec.mods.items()},
        source_rows=part(spec.source_rows),
    )
