"""Every input kind becomes the same Arrow table and gives the same analysis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as parquet
import pytest

import ketabridge
from ketabridge import io
from ketabridge.analyses import validate
from ketabridge.io import to_arrow


@pytest.fixture
def inputs(bcg_effects, tmp_path):
    """The same BCG effect sizes as DataFrame, Table, RecordBatch and every file format."""
    frame = bcg_effects[["author", "yi", "vi", "ablat"]]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    paths = {
        "csv": tmp_path / "bcg.csv",
        "parquet": tmp_path / "bcg.parquet",
        "feather": tmp_path / "bcg.feather",
        "arrow": tmp_path / "bcg.arrow",
        "arrows": tmp_path / "bcg.arrows",
    }
    frame.to_csv(paths["csv"], index=False)
    parquet.write_table(table, paths["parquet"])
    feather.write_feather(table, paths["feather"])
    with ipc.new_file(paths["arrow"], table.schema) as writer:
        writer.write_table(table)
    with ipc.new_stream(paths["arrows"], table.schema) as writer:
        writer.write_table(table)
    return {
        "dataframe": frame,
        "table": table,
        "record_batch": table.to_batches()[0],
        **paths,
        "path_as_str": str(paths["parquet"]),
    }


@pytest.mark.requires_r
def test_every_input_kind_gives_the_same_result(inputs):
    results = {name: ketabridge.rma(data, slab="author", mods=["ablat"]) for name, data in inputs.items()}
    expected = results["dataframe"]
    for name, result in results.items():
        # CSV prints 17 significant digits, so the round trip is exact for doubles.
        np.testing.assert_array_equal(result.tidy()["estimate"], expected.tidy()["estimate"], err_msg=name)
        assert result.augment()["study"].tolist() == expected.augment()["study"].tolist(), name


@pytest.mark.requires_r
def test_dictionary_labels_and_integer_columns_are_accepted(bcg):
    table = pa.Table.from_pandas(bcg.assign(author=bcg["author"].astype("category")), preserve_index=False)
    assert pa.types.is_dictionary(table.schema.field("author").type)
    effects = ketabridge.escalc("RR", table, ai="tpos", bi="tneg", ci="cpos", di="cneg")
    result = ketabridge.rma(effects, slab="author")
    assert result.augment()["study"].tolist() == bcg["author"].tolist()


def test_to_arrow_rejects_other_objects():
    with pytest.raises(ketabridge.InputError, match="cannot read data of type list"):
        to_arrow([1, 2, 3])


@pytest.mark.requires_r
def test_a_column_mixing_numbers_and_text_is_read_as_cells(bcg_effects):
    """An object column of numbers and text has no type: its numbers stay numbers (exactly) and
    only its text is named, as in a CSV; a column mixing other things still raises."""
    data = bcg_effects[["author", "yi", "vi"]].astype({"yi": object})
    data.loc[4, "yi"] = "oops"
    table = to_arrow(data)
    assert table.schema.field("yi").metadata == {b"ketabridge.text_cells": b"mixed"}
    with pytest.raises(ketabridge.InputError) as caught:
        ketabridge.rma(data)
    assert str(caught.value) == "column 'yi' must be numeric, but row 4 holds text ('oops')"
    numbers = validate.parse_numbers(table.column("yi"), text_cells=True).values
    np.testing.assert_array_equal(np.delete(numbers, 4), bcg_effects["yi"].drop(index=4))  # exactly
    with pytest.raises(ketabridge.InputError, match=r"column 'when' cannot be converted to a typed column"):
        to_arrow(data.assign(when=[object()] + ["x"] * (len(data) - 1)))


def test_mixed_cells_read_back_as_the_same_doubles():
    values = [0.1, 1 / 3, -2.5e-300, 1e308, 7, "text", None, float("nan")]
    table = to_arrow(pd.DataFrame({"x": pd.Series(values, dtype=object)}))
    parsed = validate.parse_numbers(table.column("x"), text_cells=True)
    np.testing.assert_array_equal(parsed.values[:5], [0.1, 1 / 3, -2.5e-300, 1e308, 7.0])
    assert np.flatnonzero(parsed.text).tolist() == [5]
    assert np.isnan(parsed.values[5:]).all()


def test_one_suffix_rule_for_every_reader(tmp_path):
    """file_kind is the only place a suffix chooses a reader: read_table, read_schema and
    read_batches (the batch's streaming reader) all refuse an unknown suffix the same way."""
    path = tmp_path / "data.tsv"
    path.write_text("a\tb\n1\t2\n")
    messages = set()
    for read in (
        io.read_table,
        io.read_schema,
        lambda p: list(io.read_batches(p, ["a"], batch_rows=10, csv_block_bytes=1 << 20)),
    ):
        with pytest.raises(ketabridge.InputError) as caught:
            read(path)
        messages.add(str(caught.value))
    assert messages == {f"{path}: unknown file type '.tsv'; use one of " + ", ".join(sorted(io._READERS))}


def test_a_csv_table_is_marked_as_cells(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("label,x\na,1\nb,2\n")
    table = io.read_table(path)
    assert validate.text_cell_columns(table.schema) == {"label", "x"}
    assert validate.text_cell_columns(pa.table({"x": ["1"]}).schema) == frozenset()
