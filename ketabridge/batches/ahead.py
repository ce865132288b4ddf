"""What a fast batch's verification gives metafor next, while numpy is still computing.

The background verification (batches.verify.Verifier) asks for work one payload at a time, as its
R worker comes free. First come rounds of ids, read from the source: the uniform share of the
whole batch, drawn before the run. Then the candidates each computed chunk offers (the analyses
likely to be in the classes' sample, see strata.ahead_thresholds), most likely first: so R never
runs an unlikely candidate while a likely one waits, and what it has not reached when the run
ends costs nothing. At the end (finish) only the candidates the sample took still run, plus a last
round of the sample's members that were never offered.
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Iterator

import numpy as np

ANALYSES_PER_PAYLOAD = 10  # candidates per R call: about half a second of metafor, so finish waits little


class AheadQueue:
    def __init__(self):
        self.condition = threading.Condition()
        self.rounds: deque[set] = deque()  # ids to read from the source
        self.candidates: list = []  # heap of (priority, order, id)
        self.parts: dict = {}  # id -> its one-analysis payload
        self.offered: set = set()
        self.ran: set = set()  # candidates handed to metafor
        self.ran_before_finish: set = set()  # of them, those handed over while numpy was still computing
        self.finished = False
        self.order = 0
        self.payloads = 0

    def put_ids(self, ids: set) -> None:
        with self.condition:
            self.rounds.append(set(ids))
            self.condition.notify()

    def offer(self, payload: dict, priorities: np.ndarray) -> None:
        """A computed chunk's candidates: payload holds them only, priorities (one per analysis,
        lower runs sooner) order them among every chunk's."""
        parts = list(_one_per_analysis(payload))
        with self.condition:
            if self.finished:
                return
            for part, priority in zip(parts, priorities):
                analysis = part["ids"][0]
                self.offered.add(analysis)
                self.parts[analysis] = part
                heapq.heappush(self.candidates, (float(priority), self.order, analysis))
                self.order += 1
            self.condition.notify()

    def finish(self, wanted: set) -> None:
        """The run is over: of the candidates not yet run only the wanted ones run, then the wanted
        ones never offered (read from the source); then the work ends."""
        with self.condition:
            self.ran_before_finish = set(self.ran)
            self.candidates = [entry for entry in self.candidates if entry[2] in wanted]
            heapq.heapify(self.candidates)
            missing = set(wanted) - self.offered
            if missing:
                self.rounds.append(missing)
            self.finished = True
            self.condition.notify()

    def abandon(self) -> None:
        """Stop handing out work (the run failed)."""
        with self.condition:
            self.rounds.clear()
            self.candidates.clear()
            self.finished = True
            self.condition.notify()

    def work(self) -> Iterator[set | dict]:
        """The background's work, blocking until there is some: a set of ids (read them from the
        source) or a payload (the candidates joined)."""
        while True:
            with self.condition:
                while not (self.rounds or self.candidates or self.finished):
                    self.condition.wait()
                if self.rounds:
                    item = self.rounds.popleft()
                elif self.candidates:
                    taken = [heapq.heappop(self.candidates)[2] for _ in range(ANALYSES_PER_PAYLOAD) if self.candidates]
                    self.ran.update(taken)
                    self.payloads += 1
                    item = _joined([self.parts.pop(analysis) for analysis in taken], f"ahead{self.payloads}")
                else:
                    return
            yield item


def _one_per_analysis(payload: dict) -> Iterator[dict]:
    """A payload split into one payload per analysis (they are held apart until R takes them)."""
    ends = np.cumsum(payload["sizes"])
    starts = ends - payload["sizes"]
    for position, (start, end) in enumerate(zip(starts, ends)):
        yield {
            **payload,
            "ids": payload["ids"][position : position + 1],
            "sizes": payload["sizes"][position : position + 1],
            "data": {role: values[start:end] for role, values in payload["data"].items()},
            "notes": payload["notes"][position : position + 1],
        }


def _joined(parts: list[dict], index: str) -> dict:
    """One-analysis payloads (of one batch: same settings) as one payload."""
    first = parts[0]
    return {
        **first,
        "index": index,
        "ids": [part["ids"][0] for part in parts],
        "sizes": np.concatenate([part["sizes"] for part in parts]),
        "data": {role: np.concatenate([part["data"][role] for part in parts]) for role in first["data"]},
        "notes": [part["notes"][0] for part in parts],
    }
