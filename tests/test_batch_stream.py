"""The final tables of a batch under out= are streamed from its chunk parts, never assembled whole.

BatchStore.merge writes glance, tidy and status a window of analyses at a time (one Parquet row
group each), in input order, reading only the parts a window touches. Expected values: the order
and content of the merged tables are recomputed here with pandas (concatenate every part, sort by
input position: the obvious whole-table way, an independent computation); the memory test runs
the merge in fresh processes and compares their peak RSS at 10 and at 100 parts, which would grow
by the whole table (+340 MiB here, against +38 MiB streamed) if the merge held every part at once.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from simulated import simulated

import ketabridge
from ketabridge.batches import store as store_module
from ketabridge.batches.store import BatchStore

FINGERPRINT = {"input": "test", "options": {}}


def _parts(out: Path, count: int, rows: int, columns: int, seed: int = 0, store=None, in_order=False) -> list[int]:
    """count parts of rows analyses each, written out of input order (as routed chunks and two
    fast processes finish; or in order), ids not sorted; tidy has two rows per analysis. Returns
    the input ids."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(10 * count * rows)[: count * rows].tolist()  # input order: this list
    if store is None:
        store = BatchStore(out, FINGERPRINT, resume=False)
    else:
        store.stream(ids, csv=False)  # a fresh run's store writes the final tables as parts come
    order = np.arange(count) if in_order else rng.permutation(count)
    for number in order:
        chunk = ids[number * rows : (number + 1) * rows]
        mixed = rng.permutation(len(chunk))
        chunk = [chunk[i] for i in mixed]  # rows of a part need not be in input order either
        values = {f"x{j}": np.full(len(chunk), float(j)) for j in range(columns)}  # compressed on disk, not in memory
        store.write_chunk(
            {
                "glance": pd.DataFrame({"analysis_id": chunk, **values}),
                "tidy": pd.DataFrame(
                    {"analysis_id": np.repeat(chunk, 2), "term": ["intrcpt", "x"] * len(chunk), "estimate": 1.0}
                ),
                "status": pd.DataFrame(
                    {
                        "analysis_id": chunk,
                        "status": pd.array(rng.choice(["ok", "warning"], len(chunk)), dtype="string"),
                        "engine": pd.array(["fast"] * len(chunk), dtype="string"),
                    }
                ),
            }
        )
    return ids


def _whole(out: Path, kind: str, ids: list) -> pd.DataFrame:
    """The table the obvious way: every part concatenated, sorted by input position (stable)."""
    frames = [pd.read_parquet(path) for path in sorted((out / "parts").glob(f"*.{kind}.parquet"))]
    table = pd.concat(frames, ignore_index=True)
    position = {value: rank for rank, value in enumerate(ids)}
    order = np.argsort(table["analysis_id"].map(position).to_numpy(), kind="stable")
    return table.iloc[order].reset_index(drop=True)


def test_merge_writes_input_order_one_row_group_per_window(tmp_path):
    ids = _parts(tmp_path, count=9, rows=13, columns=3)
    merged = BatchStore(tmp_path, FINGERPRINT, resume=True).merge(ids, csv=True, window=10)
    for kind in ("glance", "tidy", "status"):
        written = pd.read_parquet(tmp_path / f"{kind}.parquet")
        pd.testing.assert_frame_equal(written, _whole(tmp_path, kind, ids))
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / f"{kind}.csv"), written, check_dtype=False)
    groups = pq.ParquetFile(tmp_path / "status.parquet").metadata.num_row_groups
    assert groups == math.ceil(len(ids) / 10)  # 117 analyses in windows of 10: 12 row groups
    tidy_groups = pq.ParquetFile(tmp_path / "tidy.parquet").metadata
    assert [tidy_groups.row_group(i).num_rows for i in range(groups)] == [20] * 11 + [14]
    status = pd.read_parquet(tmp_path / "status.parquet")
    assert merged["status_counts"] == status["status"].value_counts().to_dict()
    assert merged["engine_counts"] == {"fast": len(ids)}


def test_merge_refuses_a_missing_or_repeated_analysis(tmp_path):
    ids = _parts(tmp_path, count=3, rows=5, columns=1)
    store = BatchStore(tmp_path, FINGERPRINT, resume=True)
    with pytest.raises(RuntimeError, match="16 analyses in, 15 status rows out \\(1 missing, 0 repeated\\)"):
        store.merge([*ids, -1], csv=False)  # -1 has no status row
    with pytest.raises(RuntimeError, match="not in the input"):
        store.merge(ids[1:], csv=False)  # a part holds an analysis the input does not
    assert not (tmp_path / "status.parquet").exists()


_MEASURE = """
import resource, sys
from pathlib import Path
from ketabridge.batches.store import BatchStore
ids = [int(x) for x in Path(sys.argv[2]).read_text().split()]
BatchStore(Path(sys.argv[1]), {"input": "test", "options": {}}, resume=True).merge(ids, csv=False, window=5000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
"""


def _peak_merge_kib(out: Path, ids: list) -> int:
    listing = out / "ids.txt"
    listing.write_text(" ".join(map(str, ids)))
    run = subprocess.run([sys.executable, "-c", _MEASURE, str(out), str(listing)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return int(run.stdout.split()[-1])


def test_merge_memory_does_not_grow_with_the_number_of_parts(tmp_path):
    # 40 float columns x 5,000 rows = 1.6 MB per part: 100 parts are 160 MB whole, 10 parts 16 MB
    small = _peak_merge_kib(tmp_path / "small", _parts(tmp_path / "small", count=10, rows=5000, columns=40))
    large = _peak_merge_kib(tmp_path / "large", _parts(tmp_path / "large", count=100, rows=5000, columns=40))
    # measured: +38 MiB windowed (the ids and their index), +340 MiB when one window holds every part
    assert large - small < 100 * 1024, f"peak RSS {small} KiB at 10 parts, {large} KiB at 100 parts"


@pytest.mark.requires_r
def test_a_fast_batch_under_out_streams_its_files_and_reads_them_on_demand(tmp_path, monkeypatch):
    data = simulated(40, 5, seed=11)
    reference = ketabridge.batch(data, by="id", engine="fast", trimfill=True, verify=8, workers=0)
    monkeypatch.setattr(store_module, "MERGE_WINDOW", 7)
    result = ketabridge.batch(
        data, by="id", engine="fast", trimfill=True, verify=8, workers=0, out=tmp_path, chunk_size=9
    )
    assert isinstance(result._glance, Path)  # not held in memory: read from glance.parquet when asked
    assert pq.ParquetFile(tmp_path / "glance.parquet").metadata.num_row_groups == math.ceil(40 / 7)
    for kind in ("glance", "tidy", "status"):
        pd.testing.assert_frame_equal(getattr(result, kind)(), getattr(reference, kind)())
    details = json.loads((tmp_path / "provenance.json").read_text())
    assert details["verification"]["verdict"] == "agree"
    assert details["status_counts"] == reference.status()["status"].value_counts().to_dict()
    assert repr(result) == repr(reference)


@pytest.mark.parametrize("in_order", [True, False])
def test_a_fresh_run_writes_the_final_tables_while_the_parts_come(tmp_path, monkeypatch, in_order):
    """The stream (a window written once all its analyses are done) gives the merge's tables."""
    monkeypatch.setattr(store_module, "MERGE_WINDOW", 7)
    store = BatchStore(tmp_path, FINGERPRINT, resume=False)
    ids = _parts(tmp_path, count=10, rows=5, columns=3, store=store, in_order=in_order)
    assert not store.streaming.broken and store.streaming.start == len(ids)  # every window written already
    merged = store.merge(ids, csv=False)
    assert pq.ParquetFile(tmp_path / "glance.parquet").metadata.num_row_groups == math.ceil(50 / 7)
    for kind in ("glance", "tidy", "status"):
        pd.testing.assert_frame_equal(pd.read_parquet(merged["paths"][kind]), _whole(tmp_path, kind, ids))
    assert sum(merged["status_counts"].values()) == 50 and merged["engine_counts"] == {"fast": 50}


def test_the_stream_gives_up_on_a_straggler_and_the_merge_reads_the_parts(tmp_path, monkeypatch):
    """Parts out of order with room for one window only: the stream stops, the end merge writes."""
    monkeypatch.setattr(store_module, "MERGE_WINDOW", 7)
    monkeypatch.setattr(store_module, "HELD_WINDOWS", 1)
    store = BatchStore(tmp_path, FINGERPRINT, resume=False)
    ids = _parts(tmp_path, count=10, rows=5, columns=3, store=store, in_order=False, seed=3)
    assert store.streaming.broken
    merged = store.merge(ids, csv=False)
    assert not list(tmp_path.glob(".*.tmp"))  # the stream's unfinished files are gone
    for kind in ("glance", "tidy", "status"):
        pd.testing.assert_frame_equal(pd.read_parquet(merged["paths"][kind]), _whole(tmp_path, kind, ids))


def test_the_stream_gives_up_when_a_later_part_types_a_column_the_first_left_empty(tmp_path, monkeypatch):
    """A column all missing in the first window (Arrow's null type) and numbers later: the end
    merge unifies the types, as it does for parts read back."""
    monkeypatch.setattr(store_module, "MERGE_WINDOW", 2)
    store = BatchStore(tmp_path, FINGERPRINT, resume=False)
    ids = [10, 11, 12, 13]
    store.stream(ids, csv=False)
    for chunk, z in (([10, 11], [None, None]), ([12, 13], [0.5, 1.5])):
        frame = pd.DataFrame({"analysis_id": chunk, "z": z})
        status = pd.DataFrame({"analysis_id": chunk, "status": ["ok", "ok"], "engine": ["fast", "fast"]})
        store.write_chunk({"glance": frame, "tidy": frame, "status": status})
    assert store.streaming.broken
    merged = store.merge(ids, csv=False)
    glance = pd.read_parquet(merged["paths"]["glance"])
    assert glance["analysis_id"].tolist() == ids and glance["z"].tolist()[2:] == [0.5, 1.5]
    assert glance["z"].isna().tolist() == [True, True, False, False]


def test_a_killed_runs_unfinished_final_tables_are_removed_on_resume(tmp_path):
    """The stream writes under temporary names; a run killed before its end leaves them, and the
    resumed run (which merges from the parts) removes them, leaving the parts."""
    store = BatchStore(tmp_path, FINGERPRINT, resume=False)
    ids = _parts(tmp_path, count=2, rows=3, columns=2, store=store, in_order=True)
    assert ids and list(tmp_path.glob(".*.tmp"))  # the window is still open: its files are temporary
    BatchStore(tmp_path, FINGERPRINT, resume=True)
    assert not list(tmp_path.glob(".*.tmp")) and len(list((tmp_path / "parts").glob("*.status.parquet"))) == 2
