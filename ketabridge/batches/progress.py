"""The batch's progress bar (tqdm, see ketabridge.progress_bar): analyses done of the total, the
rate and the time left. Quiet when not a terminal nor a notebook, or with progress=False."""

from __future__ import annotations

from ketabridge.progress_bar import progress_bar


class Progress:
    def __init__(self, total: int, enabled: bool | None, stream=None, what: str = "batch"):
        self.bar = progress_bar(total, enabled, what, "analyses", stream)
        self.enabled = not self.bar.disable

    def advance(self, count: int) -> None:
        self.bar.update(count)

    def close(self) -> None:
        self.bar.close()
