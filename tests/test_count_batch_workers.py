"""Count batches (rma_mh / rma_peto per group) on worker processes and resumed from --out, as the
ordinary batch runs: the same tables as in this process (whose numbers test_count_cli.py and
tests/reference/counts check against metafor's ?rma.mh), a dead worker's chunk retried, and a
run killed half way continued without refitting what was done."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from lane import BCG_CSV

import ketabridge
from ketabridge.batches.count_batch import count_batch
from ketabridge.batches.worker import KILL_CHUNK, KILL_ONCE
from ketabridge.cli import main

pytestmark = pytest.mark.requires_r
COLUMNS = {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}


@pytest.fixture(scope="module")
def long_table() -> pd.DataFrame:
    """dat.bcg by allocation, plus a group with no events in one arm and a bad count: four analyses,
    two of them errors."""
    bcg = pd.read_csv(BCG_CSV)
    zero_arm = pd.DataFrame({"alloc": "zero", "tpos": [0, 0], "tneg": [50, 60], "cpos": [3, 2], "cneg": [47, 58]})
    data = pd.concat([bcg, zero_arm], ignore_index=True)
    data.loc[len(data) - 3, "tpos"] = -1
    return data


@pytest.fixture(scope="module")
def inline(long_table):
    return count_batch(long_table, "alloc", "mh", COLUMNS, workers=0)


def _same(one, other) -> None:
    pd.testing.assert_frame_equal(one.glance(), other.glance(), check_dtype=False)
    pd.testing.assert_frame_equal(one.tidy(), other.tidy(), check_dtype=False)
    columns = ["analysis_id", "status", "message", "r_call"]
    pd.testing.assert_frame_equal(one.status()[columns], other.status()[columns])


def test_workers_give_the_tables_of_this_process_and_survive_a_dead_worker(long_table, inline, tmp_path, monkeypatch):
    assert inline.status()["status"].tolist() == ["ok", "ok", "error", "error"]
    # the worker running chunk 1 is killed once: the pool retries that chunk in a fresh process
    monkeypatch.setenv(KILL_CHUNK, "1")
    monkeypatch.setenv(KILL_ONCE, str(tmp_path / "killed"))
    pooled = count_batch(long_table, "alloc", "mh", COLUMNS, workers=2, chunk_size=1)
    assert (tmp_path / "killed").exists()
    _same(pooled, inline)
    assert pooled.provenance.details["workers"] == 2


def test_a_killed_run_resumes_where_it_stopped(long_table, inline, tmp_path):
    out = tmp_path / "out"
    count_batch(long_table, "alloc", "mh", COLUMNS, out=out, chunk_size=1)
    # a run killed after its first two chunks: the other chunks' parts are gone
    statuses = sorted((out / "parts").glob("*.status.parquet"))
    lost = [path for path in statuses if pd.read_parquet(path)["analysis_id"].iloc[0] in ("systematic", "zero")]
    for path in lost:
        path.unlink()
    with pytest.raises(ketabridge.InputError, match="already holds a batch; pass resume=True"):
        count_batch(long_table, "alloc", "mh", COLUMNS, out=out)
    with pytest.raises(ketabridge.InputError, match=r"other options \(options\)"):
        count_batch(long_table, "alloc", "mh", {**COLUMNS, "ai": "cpos"}, out=out, resume=True)
    resumed = count_batch(long_table, "alloc", "mh", COLUMNS, out=out, resume=True, chunk_size=1)
    assert resumed.provenance.details["resumed_analyses"] == 2
    _same(resumed, inline)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "glance.parquet"), resumed.glance(), check_dtype=False)


def test_cli_batch_model_peto_takes_workers_and_resume(long_table, tmp_path):
    path = tmp_path / "long.csv"
    long_table.to_csv(path, index=False)
    out = tmp_path / "out"
    arguments = [
        "batch",
        str(path),
        "--by",
        "alloc",
        "--model",
        "peto",
        *sum((["--" + k, v] for k, v in COLUMNS.items()), []),
    ]
    first = CliRunner().invoke(main, [*arguments, "--out", str(out), "--workers", "0", "--chunk-size", "2"])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, [*arguments, "--out", str(out), "--workers", "0", "--chunk-size", "2", "--resume"])
    assert again.exit_code == 0, again.output
    record = json.loads((out / "provenance.json").read_text())
    assert record["resumed_analyses"] == 4 and record["options"]["measure"] == "PETO"
    expected = count_batch(long_table, "alloc", "peto", COLUMNS, workers=0)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "glance.parquet"), expected.glance(), check_dtype=False)
    refused = CliRunner().invoke(main, [*arguments, "--out", str(tmp_path / "x"), "--scheduler", "tcp://nowhere:1"])
    assert refused.exit_code == 2 and "--scheduler is for --model rma" in refused.output
