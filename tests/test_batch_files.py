"""Batch runs on files: streaming reads, outputs on disk, resume after SIGKILL, dead workers, CLI.

The reference for every run here is an uninterrupted in-memory run of the same data, whose
numbers tests/test_batch.py checks against a plain metafor loop in Rscript.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from simulated import simulated

import ketabridge
from ketabridge.batches import source
from ketabridge.cli import main

KETABRIDGE = Path(sys.executable).with_name("ketabridge")


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return simulated(60, 6, seed=7)


@pytest.fixture(scope="module")
def reference(data):
    return ketabridge.batch(data, by="id", workers=0)


def assert_same(result, reference) -> None:
    for kind in ("glance", "tidy", "status"):
        pd.testing.assert_frame_equal(getattr(result, kind)(), getattr(reference, kind)(), check_dtype=False)


@pytest.mark.requires_r
def test_parquet_row_groups_split_analyses_across_batch_boundaries(data, reference, tmp_path, monkeypatch):
    """Batches of 7 rows cut every 6-row analysis somewhere; the carried-over rows join the next batch."""
    path = tmp_path / "long.parquet"
    pq.write_table(pa.Table.from_pandas(data), path, row_group_size=11)
    monkeypatch.setattr(source, "BATCH_ROWS", 7)
    assert_same(ketabridge.batch(path, by="id", workers=0, chunk_size=4), reference)


@pytest.mark.requires_r
def test_interleaved_ids_are_grouped(data, reference, tmp_path):
    # even rows first, then odd rows: every id's rows are split in two runs far apart
    shuffled = data.iloc[list(range(0, len(data), 2)) + list(range(1, len(data), 2))]
    path = tmp_path / "interleaved.feather"
    shuffled.reset_index(drop=True).to_feather(path)
    result = ketabridge.batch(path, by="id", workers=0)
    assert result.status()["analysis_id"].tolist() == list(shuffled["id"].drop_duplicates())
    ordered = result.glance().set_index("analysis_id").sort_index()
    expected = reference.glance().set_index("analysis_id").sort_index()
    cols = ["k", "estimate", "std_error", "tau2", "q"]
    pd.testing.assert_frame_equal(ordered[cols], expected[cols], rtol=1e-12)


@pytest.mark.requires_r
def test_interleaved_csv_text_cell_after_the_first_block_is_a_status_row(data, reference, tmp_path, monkeypatch):
    """Interleaved ids read the CSV whole: data columns as text too, so a late bad cell fails one analysis."""
    shuffled = data.iloc[list(range(0, len(data), 2)) + list(range(1, len(data), 2))].reset_index(drop=True)
    shuffled = shuffled.astype({"yi": object})
    last = len(shuffled) - 1
    shuffled.loc[last, "yi"] = "oops"
    bad_id = shuffled.loc[last, "id"]
    path = tmp_path / "interleaved.csv"
    shuffled.to_csv(path, index=False, float_format="%.17g")
    monkeypatch.setattr(source, "CSV_BLOCK_BYTES", 1024)  # the bad cell is many blocks in
    result = ketabridge.batch(path, by="id", workers=0)
    status = result.status().set_index("analysis_id")
    assert status.loc[bad_id, "status"] == "error"
    assert status.loc[bad_id, "message"] == f"column 'yi' must be numeric, but row {last} holds text ('oops')"
    assert (status.drop(index=bad_id)["status"] != "error").all()
    ordered = result.glance().set_index("analysis_id").sort_index().drop(index=bad_id)
    expected = reference.glance().set_index("analysis_id").sort_index().drop(index=bad_id)
    cols = ["k", "estimate", "std_error", "tau2", "q"]
    pd.testing.assert_frame_equal(ordered[cols], expected[cols], rtol=1e-12)


def _status(result) -> pd.DataFrame:
    status = result.status
    return (status() if callable(status) else status).set_index("analysis_id")


def test_numbers_stored_as_text_in_a_parquet_file_fail_every_analysis_by_name(data, tmp_path):
    """A typed file's text column is refused as rma() refuses it: every analysis gets an error
    row naming its own input rows; none is dropped and none is run on numbers read from text."""
    path = tmp_path / "text.parquet"
    pq.write_table(pa.Table.from_pandas(data.assign(yi=data["yi"].map(repr)), preserve_index=False), path)
    status = _status(ketabridge.batch(path, by="id", workers=0))
    assert list(status.index) == list(data["id"].drop_duplicates())
    assert (status["status"] == "error").all()
    first = status.iloc[0]["message"]
    assert first.startswith("column 'yi' holds numbers stored as text in rows 0, 1, 2, 3, 4 and 1 more (")
    assert first.endswith("; convert it to a numeric type")


@pytest.mark.requires_r
def test_csv_null_tokens_are_missing_not_text(data, reference, tmp_path):
    """The batch reads a CSV's data columns as text; 'NA' and blank cells are then missing, as
    pyarrow's CSV reader (and so rma() on the same file) reads them, not text."""
    spoiled = data.astype({"yi": object})
    spoiled.loc[[1, 8], "yi"] = ["NA", ""]
    path = tmp_path / "gaps.csv"
    spoiled.to_csv(path, index=False, float_format="%.17g")
    status = _status(ketabridge.batch(path, by="id", workers=0))
    gapped = spoiled.loc[[1, 8], "id"].tolist()
    for analysis, row in zip(gapped, (1, 8)):
        assert status.loc[analysis, "status"] == "warning"
        assert status.loc[analysis, "message"] == f"1 rows with missing values in yi, vi left out (row {row})"
    assert (status.drop(index=gapped)["status"] == "ok").all()


@pytest.mark.requires_r
def test_outputs_on_disk_and_resume_never_duplicates(data, reference, tmp_path, installed):
    out = tmp_path / "out"
    first = ketabridge.batch(data[data["id"] < 30], by="id", workers=0, out=out, csv=True)
    assert {p.name for p in out.iterdir()} >= {
        "glance.parquet",
        "tidy.parquet",
        "status.parquet",
        "provenance.json",
        "glance.csv",
        "status.csv",
        "tidy.csv",
    }
    assert len(first.status()) == 30
    with pytest.raises(ketabridge.InputError, match="already holds a batch; pass resume=True"):
        ketabridge.batch(data, by="id", workers=0, out=out)
    with pytest.raises(ketabridge.InputError, match="other options \\(options\\)"):
        ketabridge.batch(data[data["id"] < 30], by="id", workers=0, out=out, resume=True, method="DL")
    again = ketabridge.batch(data[data["id"] < 30], by="id", workers=0, out=out, resume=True)
    assert again.provenance.details["resumed_analyses"] == 30 and again.provenance.details["chunks_run"] == 0
    assert_same(again, first)
    on_disk = pd.read_parquet(out / "status.parquet")
    assert on_disk["analysis_id"].is_unique and len(on_disk) == 30
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["options"]["method"] == "REML" and provenance["metafor_version"] == installed["metafor_version"]


@pytest.mark.requires_r
def test_run_killed_with_sigkill_then_resumed(tmp_path):
    """The whole CLI process group is killed after some chunks are on disk; --resume finishes it."""
    path, out = tmp_path / "long.parquet", tmp_path / "out"
    data = simulated(400, 15)  # about 2 s of R work in 80 chunks, so the kill lands half way
    data.to_parquet(path)
    reference = ketabridge.batch(data, by="id", workers=0)
    command = [
        str(KETABRIDGE),
        "batch",
        str(path),
        "--by",
        "id",
        "--out",
        str(out),
        "--workers",
        "1",
        "--chunk-size",
        "5",
    ]
    run = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = out / "parts"
    deadline = time.monotonic() + 120
    while len(list(parts.glob("*.status.parquet"))) < 3 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    written = len(list(parts.glob("*.status.parquet")))
    assert 3 <= written < 80, "the kill must land half way"
    assert not (out / "status.parquet").exists()
    done = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    status = pd.read_parquet(out / "status.parquet")
    assert status["analysis_id"].tolist() == list(range(400))  # every id once, in input order
    resumed = json.loads((out / "provenance.json").read_text())["resumed_analyses"]
    assert resumed >= 5 * written
    glance = pd.read_parquet(out / "glance.parquet")
    pd.testing.assert_frame_equal(glance, reference.glance(), check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "tidy.parquet"), reference.tidy(), check_dtype=False)


@pytest.mark.requires_r
def test_worker_killed_mid_chunk_is_retried_in_a_fresh_worker(data, reference, tmp_path, monkeypatch):
    monkeypatch.setenv("KETABRIDGE_TEST_KILL_CHUNK", "2")
    monkeypatch.setenv("KETABRIDGE_TEST_KILL_ONCE", str(tmp_path / "killed-once"))
    result = ketabridge.batch(data, by="id", workers=2, chunk_size=5)
    assert (tmp_path / "killed-once").exists()  # the hook did fire
    assert_same(result, reference)


@pytest.mark.requires_r
def test_worker_killed_twice_marks_its_chunk_and_the_batch_completes(data, reference, monkeypatch):
    monkeypatch.setenv("KETABRIDGE_TEST_KILL_CHUNK", "1")  # no KILL_ONCE: the retry dies too
    result = ketabridge.batch(data, by="id", workers=1, chunk_size=5)
    status = result.status().set_index("analysis_id")
    lost = list(range(5, 10))  # chunk 1
    assert (status.loc[lost, "status"] == "error").all()
    assert status.loc[5, "message"] == (
        "the worker process running this chunk died twice (exit code -9); its analyses were not run"
    )
    kept = [i for i in range(60) if i not in lost]
    pd.testing.assert_frame_equal(
        result.glance()[result.glance()["analysis_id"].isin(kept)].reset_index(drop=True),
        reference.glance()[reference.glance()["analysis_id"].isin(kept)].reset_index(drop=True),
    )


@pytest.mark.requires_r
def test_cli_writes_the_tables_and_reports_counts(data, reference, tmp_path):
    path, out = tmp_path / "long.csv", tmp_path / "out"
    data.to_csv(path, index=False, float_format="%.17g")
    result = CliRunner().invoke(main, ["batch", str(path), "--by", "id", "--out", str(out), "--workers", "0", "--csv"])
    assert result.exit_code == 0, result.output
    counts = reference.status()["status"].value_counts()
    assert result.output.strip().endswith(
        f"60 analyses: {counts.get('ok', 0)} ok, {counts.get('warning', 0)} warning, {counts.get('error', 0)} error; wrote {out}"
    )
    pd.testing.assert_frame_equal(pd.read_parquet(out / "glance.parquet"), reference.glance(), check_dtype=False)
    bad = CliRunner().invoke(main, ["batch", str(path), "--by", "nope", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 1
    assert bad.output.startswith("Error: column 'nope' not found; the data has: id, yi, vi")
