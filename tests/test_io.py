"""Every input kind becomes the same Arrow table and gives the same analysis."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as parquet
import pytest

import ketabridge
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
    return {"dataframe": frame, "table": table, "record_batch": table.to_batches()[0], **paths,
            "path_as_str": str(paths["parquet"])}


def test_every_input_kind_gives_the_same_result(inputs):
    results = {name: ketabridge.rma(data, slab="author", mods=["ablat"]) for name, data in inputs.items()}
    expected = results["dataframe"]
    for name, result in results.items():
        # CSV prints 17 significant digits, so the round trip is exact for doubles.
        np.testing.assert_array_equal(result.tidy()["estimate"], expected.tidy()["estimate"], err_msg=name)
        assert result.augment()["study"].tolist() == expected.augment()["study"].tolist(), name


def test_dictionary_labels_and_integer_columns_are_accepted(bcg):
    table = pa.Table.from_pandas(bcg.assign(author=bcg["author"].astype("category")), preserve_index=False)
    assert pa.types.is_dictionary(table.schema.field("author").type)
    effects = ketabridge.escalc("RR", table, ai="tpos", bi="tneg", ci="cpos", di="cneg")
    result = ketabridge.rma(effects, slab="author")
    assert result.augment()["study"].tolist() == bcg["author"].tolist()


def test_to_arrow_rejects_other_objects():
    with pytest.raises(ketabridge.InputError, match="cannot read data of type list"):
        to_arrow([1, 2, 3])
