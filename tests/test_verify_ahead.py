"""Verification that starts on metafor while numpy computes (batches.ahead, strata.ahead_thresholds).

The classes' sample is each class's members with the smallest seeded keys, so it is the same
whether or not metafor started early; the thresholds and the queue's order are checked against
their arithmetic written out here; the whole batch is checked against metafor through the bridge.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

import ketabridge
from ketabridge.batches import ahead as ahead_module
from ketabridge.batches import engine
from ketabridge.batches.ahead import AheadQueue
from ketabridge.batches.strata import AHEAD_MARGIN, Budget, ahead_thresholds, stratified


def test_thresholds_send_about_the_margin_times_what_each_class_will_take():
    seen, observed, pending = {"interior": 900, "tau2_zero": 100}, 1000, 100_000
    thresholds = ahead_thresholds(seen, observed, pending, Budget("count", 300))
    whole = 75 / 100_000  # a quarter of 300, drawn from every analysis before the run
    # estimated sizes 90,000 and 10,000: 150 each (water-filling), less what the whole's share holds
    for name, size in (("interior", 90_000), ("tau2_zero", 10_000)):
        wanted = 150 - size * whole
        assert thresholds[name] == pytest.approx(AHEAD_MARGIN * wanted / (size * (1 - whole)))
    assert thresholds["k_le_3"] == thresholds["failed_extra"] == 1.0  # none seen: any member is rare
    small = ahead_thresholds({"interior": 999, "k_le_3": 1}, 1000, 10_000, Budget("count", 300))
    assert small["k_le_3"] == 1.0  # about 10 members, fewer than its share: checked whole
    assert set(ahead_thresholds(seen, observed, pending, Budget("all")).values()) == {1.0}
    fraction = ahead_thresholds(seen, observed, pending, Budget("fraction", 0.01))
    assert fraction["interior"] == 0.0 and fraction["tau2_zero"] == 1.0


def test_a_class_sample_is_its_members_with_the_smallest_keys():
    classes = pd.Series(["interior"] * 6 + ["tau2_zero"] * 4, index=pd.Index(list("abcdefghij"), name="analysis_id"))
    keys = np.array([0.9, 0.1, 0.5, 0.3, 0.8, 0.2, 0.7, 0.05, 0.6, 0.4])
    picked = stratified(classes, Budget("count", 4), already={"b"}, keys=keys)
    # two per class; b (key 0.1) is already chosen, so interior takes f (0.2), tau2_zero h and j
    assert sorted(picked) == ["f", "h", "j"]


def _payload(ids: list[str]) -> dict:
    sizes = np.array([2] * len(ids))
    return {
        "index": "0",
        "ids": ids,
        "sizes": sizes,
        "data": {"yi": np.arange(2.0 * len(ids)), "vi": np.ones(2 * len(ids))},
        "notes": [""] * len(ids),
        "settings": {},
        "by": "id",
    }


def test_the_queue_runs_rounds_first_then_the_likeliest_candidates_and_at_the_end_only_the_wanted(monkeypatch):
    monkeypatch.setattr(ahead_module, "ANALYSES_PER_PAYLOAD", 2)
    queue = AheadQueue()
    queue.put_ids({"w1", "w2"})
    queue.offer(_payload(["a", "b", "c"]), np.array([0.9, 0.1, 0.5]))
    queue.offer(_payload(["d", "e"]), np.array([0.3, 0.95]))
    work = queue.work()
    assert next(work) == {"w1", "w2"}
    first = next(work)
    assert first["ids"] == ["b", "d"]  # priorities 0.1 and 0.3, across the two chunks
    assert first["data"]["yi"].tolist() == [2.0, 3.0, 0.0, 1.0] and first["sizes"].tolist() == [2, 2]
    queue.finish({"c", "e", "x"})  # a (0.9) is dropped; x was never offered: read from the source
    rest = list(work)
    assert rest[0] == {"x"} and rest[1]["ids"] == ["c", "e"] and len(rest) == 2
    assert queue.ran == {"b", "d", "c", "e"} and queue.ran_before_finish == {"b", "d"}


def test_an_abandoned_queue_ends_a_waiting_consumer():
    queue = AheadQueue()
    taken = []
    consumer = threading.Thread(target=lambda: taken.extend(queue.work()))
    consumer.start()
    queue.abandon()
    consumer.join(timeout=10)
    assert not consumer.is_alive() and taken == []


# --------------------------------------------------------------------------- with metafor


def _fast(data, workers, **options):
    return ketabridge.batch(
        data, "id", engine="fast", method="DL", verify=40, chunk_size=30, workers=workers, progress=False, **options
    )


@pytest.mark.requires_r
def test_the_sample_is_the_same_whether_metafor_starts_early_or_not(mixed):
    inline = _fast(mixed, 0).provenance.details["verification"]
    early = _fast(mixed, 1).provenance.details["verification"]
    assert inline["overlapped"] is False and early["overlapped"] is True
    assert early["checked_ids"] == inline["checked_ids"] and early["classes"] == inline["classes"]
    assert early["verdict"] == inline["verdict"] == "agree"
    assert inline["sent_ahead"] == inline["also_checked"] == 0
    # what metafor ran ahead and the sample did not take is compared too, outside the bounds
    assert early["also_checked"] <= early["sent_ahead"]


@pytest.mark.requires_r
@pytest.mark.parametrize("planted_class", ["tau2_zero", "k_le_3"])
def test_an_error_planted_where_metafor_runs_ahead_is_caught(mixed, monkeypatch, planted_class):
    """1e-8 relative in the estimate of one class's analyses only, planted in the fast tables as
    this process receives them (numpy computes on a worker process, which a plant in the engine
    would not reach), with the verification running on metafor while the chunks come."""
    real = engine._Collector.keep_fast

    def planted(self, tables, seconds, payload):
        glance = tables["glance"].copy()
        small = glance["k"].to_numpy() <= 3
        where = small if planted_class == "k_le_3" else (glance["tau2"].to_numpy() == 0) & ~small
        glance["estimate"] = np.where(where, glance["estimate"] * (1 + 1e-8), glance["estimate"])
        return real(self, {**tables, "glance": glance}, seconds, payload)

    monkeypatch.setattr(engine._Collector, "keep_fast", planted)
    with pytest.raises(ketabridge.VerificationError, match="disagrees with metafor") as caught:
        _fast(mixed, 1)
    verdict = caught.value.result.provenance.details["verification"]
    assert verdict["overlapped"] is True
    assert {name for name, row in verdict["classes"].items() if row["disagreeing"]} == {planted_class}
    assert {row["column"] for row in verdict["disagreements"]} == {"estimate"}
