"""Batch runs on a Dask distributed cluster equal the local run (tests/test_batch.py checks
the local run against a plain metafor loop in Rscript)."""

from __future__ import annotations

import pandas as pd
import pytest
from simulated import simulated

import ketabridge

pytestmark = pytest.mark.requires_r

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    local = distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=40
    )
    yield local
    local.close()


def test_dask_cluster_equals_local_run(cluster):
    data = simulated(40, 8, seed=11)
    local = ketabridge.batch(data, by="id", workers=0, trimfill=True)
    remote = ketabridge.batch(data, by="id", scheduler=cluster.scheduler_address, chunk_size=4, trimfill=True)
    for kind in ("glance", "tidy", "status"):
        pd.testing.assert_frame_equal(getattr(remote, kind)(), getattr(local, kind)())
    assert remote.provenance.details["scheduler"] == cluster.scheduler_address
    assert remote.provenance.details["chunks_run"] == 10
    # each Dask worker process started R once and kept it
    with distributed.Client(cluster.scheduler_address) as client:
        started = client.run(
            lambda: __import__("ketabridge.bridge.session", fromlist=["_start"])._start.cache_info().currsize
        )
    assert sorted(started.values()) == [1, 1]
