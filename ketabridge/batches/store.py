"""The output directory: chunk parts written as they finish, final tables at the end.

Every file is written under a temporary name and renamed into place (atomic on one file
system). A chunk's status part is written last, so it marks the chunk as done: a part without
its status file (the run was killed in between) is ignored and its analyses run again.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pandas as pd

from ketabridge.errors import InputError

KINDS = ("glance", "tidy", "status")
SETTINGS_FILE = "batch.json"


class BatchStore:
    def __init__(self, out: Path, fingerprint: dict, resume: bool):
        self.out = Path(out)
        self.parts = self.out / "parts"
        recorded = self.out / SETTINGS_FILE
        if recorded.exists():
            if not resume:
                raise InputError(
                    f"{self.out} already holds a batch; pass resume=True (--resume) to continue it, "
                    "or choose another output directory"
                )
            before = json.loads(recorded.read_text(encoding="utf-8"))
            if before != fingerprint:
                changed = sorted(key for key in {**before, **fingerprint} if before.get(key) != fingerprint.get(key))
                raise InputError(
                    f"{self.out} holds a batch run with other options ({', '.join(changed)}); "
                    "resume it with the same options, or choose another output directory"
                )
        self.parts.mkdir(parents=True, exist_ok=True)
        write_atomic(recorded, json.dumps(fingerprint, indent=2, sort_keys=True).encode())

    def done_ids(self) -> set:
        return set(self.read("status")["analysis_id"].tolist()) if self._stems() else set()

    def write_chunk(self, tables: dict[str, pd.DataFrame]) -> None:
        stem = uuid.uuid4().hex
        for kind in KINDS:  # status last: it marks the chunk as complete
            write_atomic(self.parts / f"{stem}.{kind}.parquet", _parquet_bytes(tables[kind]))

    def record_versions(self, versions: dict) -> None:
        """The R side's versions, kept so that a resumed run that runs no chunk still reports them."""
        write_atomic(self.parts / "versions.json", json.dumps(versions).encode())

    def versions(self) -> dict:
        path = self.parts / "versions.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def read(self, kind: str) -> pd.DataFrame:
        frames = [pd.read_parquet(self.parts / f"{stem}.{kind}.parquet") for stem in self._stems()]
        frames = [frame for frame in frames if len(frame)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def finish(self, tables: dict[str, pd.DataFrame], provenance: dict, csv: bool) -> None:
        for kind, table in tables.items():
            write_atomic(self.out / f"{kind}.parquet", _parquet_bytes(table))
            if csv:
                write_atomic(self.out / f"{kind}.csv", table.to_csv(index=False).encode())
        write_atomic(self.out / "provenance.json", json.dumps(provenance, indent=2, default=str).encode())

    def _stems(self) -> list[str]:
        return sorted(path.name[: -len(".status.parquet")] for path in self.parts.glob("*.status.parquet"))


def write_atomic(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _parquet_bytes(table: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()
