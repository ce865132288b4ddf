"""Check each analysis's rows before R: a bad group becomes an error status row, never a stop.

The checks are ketabridge.analyses.validate's, the ones rma() and escalc() run, applied to every analysis
of a chunk at once: an analysis gets the message rma()/escalc() would raise on its rows alone,
naming the input column and the 0-based input rows. Rows with missing values are left out of
their analysis, as rma() does, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ketabridge.analyses import validate
from ketabridge.batches.settings import BatchSettings
from ketabridge.batches.source import Chunk

MIN_STUDIES = validate.MIN_STUDIES
MODERATOR_PREFIX = "mods:"  # a moderator column's role in the payload (kb_batch.R reads it)
RANDOM_PREFIX = "random:"  # a random term's column (rma.mv batches)


@dataclass(frozen=True)
class CheckedChunk:
    index: int
    ids: list  # analyses that go to R
    sizes: np.ndarray
    data: dict[str, np.ndarray]  # role -> float64 values of those analyses' kept rows
    notes: list[str]  # per analysis in ids: what was left out ("" for nothing)
    failed_ids: list  # analyses stopped here
    failed_messages: list[str]

    def payload(self, settings: BatchSettings, by: str) -> dict:
        """What a worker needs: plain, picklable values only."""
        return {
            "index": self.index,
            "ids": self.ids,
            "sizes": self.sizes,
            "data": self.data,
            "notes": self.notes,
            "settings": settings.to_r(),
            "by": by,
        }


def check_chunk(chunk: Chunk, settings: BatchSettings) -> CheckedChunk:
    groups = validate.Groups(chunk.sizes, chunk.rows)
    measure = settings.measure if settings.escalc else None  # escalc's rules depend on the measure
    labels = {name: _labels(chunk, name) for name in settings.mods if settings.formula and _is_labels(chunk, name)}
    numeric_mods = [name for name in settings.mods if name not in labels]
    values, problems = validate.check_columns(
        groups,
        [
            (column, chunk.columns[column], validate.value_rule(role, measure))
            for role, column in settings.columns.items()
        ]
        + [(name, chunk.columns[name], validate.FINITE) for name in numeric_mods],
        text_cells=chunk.text_cells,
    )
    values.update(labels)
    missing = validate.missing_rows(values.values(), len(groups.rows))
    grouping = _random_columns(chunk, settings, groups, problems)
    kept_sizes = chunk.sizes - np.bincount(groups.owner[missing], minlength=len(groups))
    validate.check_study_counts(problems, kept_sizes)

    good = ~problems.failed()
    keep_row = good[groups.owner] & ~missing
    return CheckedChunk(
        index=chunk.index,
        ids=[chunk.ids[g] for g in np.flatnonzero(good)],
        sizes=kept_sizes[good],
        data={role: values[column][keep_row] for role, column in settings.columns.items()}
        | {f"{MODERATOR_PREFIX}{name}": values[name][keep_row] for name in settings.mods}
        | {f"{RANDOM_PREFIX}{name}": column[keep_row] for name, column in grouping.items()},
        notes=_missing_notes(groups, missing, good, ", ".join([*settings.columns.values(), *settings.mods])),
        failed_ids=[chunk.ids[g] for g in sorted(problems.found)],
        failed_messages=[problems.message(g) for g in sorted(problems.found)],
    )


def _random_columns(chunk: Chunk, settings: BatchSettings, groups: validate.Groups, problems) -> dict:
    """The random terms' columns (labels, or numbers such as an AR term's times); a missing value
    stops its analysis, naming the rows, as rma_mv() raises (metafor would drop the row from one
    level and keep it in another)."""
    grouping = {}
    for name in settings.random_columns:
        if _is_labels(chunk, name):
            grouping[name] = _labels(chunk, name)
        else:
            numbers, found = validate.check_columns(
                groups, [(name, chunk.columns[name], validate.FINITE)], text_cells=chunk.text_cells
            )
            for analysis, messages in found.found.items():
                problems.found.setdefault(analysis, []).extend(messages)
            grouping[name] = numbers[name]
        problems.flag(
            validate.is_missing(grouping[name]),
            lambda rows, _, name=name: (
                f"random-effects column {name!r} has missing values in "
                f"{validate.rows_text(rows)}; every estimate needs its cluster"
            ),
        )
    return grouping


def _missing_notes(groups: validate.Groups, missing: np.ndarray, good: np.ndarray, names: str) -> list[str]:
    """Per analysis that goes to R: which rows were left out ("" for none)."""
    notes = np.full(len(groups), "", dtype=object)
    for analysis, part in groups.flagged(missing & good[groups.owner]):
        rows = groups.rows[part]
        notes[analysis] = f"{len(rows)} rows with missing values in {names} left out ({validate.rows_text(rows)})"
    return list(notes[good])


def _is_labels(chunk: Chunk, name: str) -> bool:
    """A formula's category column (text, categorical or True/False), as rma() decides it."""
    return validate.is_label_column(_one_column(chunk, name), name)


def _labels(chunk: Chunk, name: str):
    return validate.labels_with_missing(_one_column(chunk, name), name)


def _one_column(chunk: Chunk, name: str) -> pa.Table:
    table = pa.table({name: chunk.columns[name]})
    if name in chunk.text_cells:  # untyped cells (a CSV's): is_label_column reads them as such
        table = table.replace_schema_metadata({validate.TEXT_CELLS_KEY: name.encode()})
    return table
