"""The treatment groups of Morris (2008), Table 1 (tests/reference/morris2008.json): pre and post
means and SDs, shared by the pre/post tests."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

MORRIS = json.loads((Path(__file__).parent / "reference" / "morris2008.json").read_text())
TREATMENT = pd.DataFrame(MORRIS["data"]).iloc[:5].reset_index(drop=True)
MC_COLUMNS = dict(m1i="m_post", m2i="m_pre", sd1i="sd_post", sd2i="sd_pre", ni="ni")
GRID = (0.0, 0.3, 0.5, 0.7, 0.9)  # assumed pre-post correlations
