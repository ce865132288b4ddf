"""A plot held in memory: Jupyter shows it inline (SVG), and ``save(path)`` writes it to a file."""

from __future__ import annotations

import re
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

# R's svg device (cairo) names its glyphs and clip paths glyph0-1, clip1...: the same ids in every
# plot, so two plots inlined in one notebook page would borrow each other's glyphs. Each figure's
# ids get a prefix of their own.
_ID_USES = re.compile(r'(\bid="|href="#|url\(#)([^")]+)')


class Figure:
    """A forest or funnel plot drawn by metafor, returned by ``forest(result)`` and
    ``funnel(result)`` when no path is given.

    Jupyter displays it inline as SVG (``_repr_svg_``); ``save(path)`` draws the same plot into
    a file (PNG, SVG or PDF by suffix) with the options it was drawn with; ``svg`` is the text.
    """

    def __init__(self, draw: Callable[[Path], Path], kind: str):
        self._draw = draw
        self.kind = kind
        with tempfile.TemporaryDirectory(prefix="ketabridge-plot-") as folder:
            path = draw(Path(folder) / f"{kind}.svg")
            svg = path.read_text(encoding="utf-8")
        prefix = f"kb{secrets.token_hex(3)}-"
        self.svg = _ID_USES.sub(lambda match: match.group(1) + prefix + match.group(2), svg)

    def save(self, path: str | Path) -> Path:
        """Draw the plot into ``path`` (``.png``, ``.svg`` or ``.pdf``); returns the absolute path.

        Parameters
        ----------
        path : str or pathlib.Path
            The file to write, in an existing folder; its suffix picks the R device.

        Returns
        -------
        pathlib.Path
            The absolute path of the file written.
        """
        return self._draw(Path(path))

    def _repr_svg_(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        return f"<Figure {self.kind} plot: .save(path) writes it; Jupyter shows it inline>"
