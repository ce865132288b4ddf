"""The data sets to cross-check on: the bundled published examples, seeded random ones, hard cases,
or the user's own long-format file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ketabridge.errors import InputError
from ketabridge.io import read_table

SUITES = ("reference", "random", "edge")


@dataclass(frozen=True)
class Dataset:
    name: str
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    source: str = ""


def load_suite(
    suite, *, n: int = 200, seed: int = 1, by: str = "dataset", yi: str = "yi", vi: str = "vi"
) -> list[Dataset]:
    """A named suite, a path to a long-format table (one row per study, grouped by ``by``), or a
    list of Dataset."""
    if isinstance(suite, (list, tuple)):
        if not all(isinstance(item, Dataset) for item in suite):
            raise InputError("a suite given as a list must hold Dataset objects")
        return list(suite)
    if suite == "reference":
        return reference_suite()
    if suite == "random":
        return random_suite(n, seed)
    if suite == "edge":
        return edge_suite()
    if isinstance(suite, (str, Path)) and Path(suite).exists():
        return file_suite(Path(suite), by, yi, vi)
    raise InputError(f"unknown suite {suite!r}: choose {', '.join(SUITES)} or give an existing file")


def reference_suite() -> list[Dataset]:
    """Eight published examples from metadat (data/reference_sources.json gives each source)."""
    folder = resources.files(__package__) / "data"
    sources = json.loads((folder / "reference_sources.json").read_text())["datasets"]
    with resources.as_file(folder / "reference.csv") as path:
        table = pd.read_csv(path)
    return _from_long(table, "dataset", "yi", "vi", lambda name: sources.get(name, ""))


def file_suite(path: Path, by: str, yi: str, vi: str) -> list[Dataset]:
    table = read_table(path).to_pandas()
    for column in (by, yi, vi):
        if column not in table.columns:
            raise InputError(f"{path}: no column {column!r} (columns: {', '.join(map(str, table.columns))})")
    for column in (yi, vi):
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values) | ((values <= 0) if column == vi else False))
        if bad.size:
            rule = "finite and > 0" if column == vi else "finite numbers"
            raise InputError(f"{path}: column {column!r} must hold {rule}; rows {bad[:10].tolist()} do not (0-based)")
    return _from_long(table, by, yi, vi, lambda name: f"{path.name}, {by} = {name}")


def random_suite(n: int, seed: int) -> list[Dataset]:
    """n data sets: k from 2 to 40, true tau^2 from 0 to 2, sampling variances spread up to 1000-fold."""
    if not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a whole number >= 1, not {n!r}")
    rng = np.random.default_rng(seed)
    datasets = []
    for index in range(n):
        k = int(rng.integers(2, 41))
        tau2 = float(rng.choice([0.0, 0.01, 0.1, 0.5, 2.0]))
        vi = 10 ** rng.uniform(-2, rng.uniform(-1.9, 1), size=k)  # log-uniform, spread differs per set
        yi = rng.normal(rng.normal(0, 1), np.sqrt(vi + tau2))
        datasets.append(Dataset(f"random_{index:05d}", yi, vi, f"seed {seed}: k = {k}, true tau2 = {tau2:g}"))
    return datasets


def edge_suite() -> list[Dataset]:
    """Hand-made hard cases, each named for what makes it hard."""
    spread = np.array([0.1, 0.3, 0.2, 0.5, 0.4])
    cases = [
        ("k2", [0.1, 0.9], [0.04, 0.09], "k = 2: one residual degree of freedom"),
        ("k3", [0.2, 0.5, -0.3], [0.05, 0.02, 0.08], "k = 3"),
        (
            "tau2_boundary",
            [0.30, 0.31, 0.29, 0.30, 0.32],
            [0.04, 0.05, 0.03, 0.06, 0.05],
            "Q far below k - 1: tau2 truncated at 0",
        ),
        (
            "huge_heterogeneity",
            [-40.0, 25.0, 3.0, 60.0, -12.0, 8.0],
            [0.01, 0.02, 0.01, 0.03, 0.02, 0.01],
            "tau2 around 1000 with vi around 0.01",
        ),
        ("tiny_variances", spread, spread * 0 + 1e-8 * np.array([1, 2, 3, 4, 5]), "vi around 1e-8"),
        ("huge_variances", spread, 1e6 * np.array([1, 2, 3, 4, 5]), "vi around 1e6"),
        ("identical_effects", [0.5] * 6, [0.1, 0.2, 0.05, 0.3, 0.15, 0.25], "every yi the same: Q = 0"),
        (
            "reml_not_converging",
            [-1.11, 2.274, 5.376],
            [6.53, 0.2544, 4.961],
            "metafor 3.8-1's REML Fisher scoring does not converge (found by a seeded search)",
        ),
    ]
    return [Dataset(f"edge_{name}", np.asarray(yi, float), np.asarray(vi, float), why) for name, yi, vi, why in cases]


def _from_long(table: pd.DataFrame, by: str, yi: str, vi: str, describe) -> list[Dataset]:
    datasets = []
    for name, rows in table.groupby(by, sort=False):
        datasets.append(
            Dataset(str(name), rows[yi].to_numpy(dtype=float), rows[vi].to_numpy(dtype=float), describe(name))
        )
    return datasets


def to_long(datasets: list[Dataset]) -> pd.DataFrame:
    """One row per study: dataset, yi, vi (the layout ketabridge.batch reads)."""
    return pd.DataFrame(
        {
            "dataset": pd.array(np.repeat([d.name for d in datasets], [len(d.yi) for d in datasets]), dtype="string"),
            "yi": np.concatenate([d.yi for d in datasets]) if datasets else np.array([]),
            "vi": np.concatenate([d.vi for d in datasets]) if datasets else np.array([]),
        }
    )
