"""What the property tests share: hypothesis data sets, metafor run directly in a separate
Rscript process (tests/rscript/), and the comparison of its numbers with ketabridge's.

See test_property_rscript.py for why numbers cross as hex floats and why each example runs
Rscript once for a whole batch of data sets.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from lane import running_vocabulary

import ketabridge
from ketabridge.options import METHODS_NEEDING_WEIGHTS

RSCRIPT = Path(__file__).parent / "rscript"
DIRECT_METAFOR = RSCRIPT / "direct_metafor.R"
DIRECT_ESCALC = RSCRIPT / "direct_escalc.R"

# The methods and tests compared: every one this lane's metafor accepts ("adhoc" from 3.8-1,
# "hksj" from 4.6, "CO"/"VC" from 5.0), each compared like the others.
METHODS: tuple[str, ...] = running_vocabulary("method")  # this lane's metafor's (checked by test_vocabulary.py)
TESTS_COMPARED: tuple[str, ...] = running_vocabulary("test")

# Every (method, test) pair test_rma_grid_matches_direct_metafor runs. GENQ/GENQM get
# weights = 1/vi (metafor's `weights=`), every other method none. test_schema_contract.py
# checks this equals the whole METHODS x TESTS grid, so coverage cannot shrink quietly.
PROPERTY_GRID: frozenset[tuple[str, str]] = frozenset(product(METHODS, TESTS_COMPARED))

# Relative agreement asked of every number. Both sides run the same metafor on bit-identical
# inputs, so they should agree far better than this; the bound leaves room only for harmless
# floating-point differences. The check is combined, |a - b| <= 1e-8 * max(1, |b|): relative
# for large values and absolute (1e-8) near zero, because many quantities sit at or near 0
# (tau2 at its boundary, I2 = 0, p-values that underflow, residuals of a perfect fit), where a
# purely relative bound would demand agreement of round-off noise.
RTOL = 1e-8

HYPOTHESIS = dict(
    deadline=None,
    database=None,  # no .hypothesis/ directory in the checkout
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


# ----------------------------------------------------------------------------- data sets


@dataclass(frozen=True)
class Dataset:
    yi: tuple[float, ...]
    vi: tuple[float, ...]
    x: tuple[float, ...]
    scenario: str

    @property
    def k(self) -> int:
        return len(self.yi)

    def frame(self) -> pd.DataFrame:
        vi = np.array(self.vi)
        return pd.DataFrame({"yi": np.array(self.yi), "vi": vi, "wi": 1 / vi, "x": np.array(self.x)})

    def describe(self) -> str:
        return (
            f"{self.scenario} k={self.k} yi={[v.hex() for v in self.yi]} "
            f"vi={[v.hex() for v in self.vi]} x={[v.hex() for v in self.x]}"
        )


SCENARIOS = ("identical", "homogeneous", "moderate", "large")


@st.composite
def datasets(draw, min_k: int = 2, max_k: int = 30, scenario: str | None = None) -> Dataset:
    """One data set: k studies, vi spread over 2-3 orders of magnitude, yi within about +-8.

    identical: every yi equal (Q = 0, tau2 = 0 exactly); homogeneous: yi scatter well inside
    the sampling error (tau2 mostly at its 0 boundary); moderate and large: between-study
    spread tau = 0.3 and 2 on top of the sampling error.

    large is built so that its heterogeneity is guaranteed, not just likely: k >= 3, the two
    most precise studies (vi <= 0.01) sit on opposite sides of mu, at least 1.5 apart, so
    Cochran's Q >= 1.5**2 / (2 * 0.01) = 112 > 2 * (k - 1), i.e. (Q - df) / Q > 0.5.
    """
    scenario = scenario or draw(st.sampled_from(SCENARIOS))
    k = draw(st.integers(max(min_k, 3) if scenario == "large" else min_k, max_k))
    low = draw(st.floats(-3, -2 if scenario == "large" else -1))  # log10 of the smallest variance
    span = draw(st.floats(2, 3))  # orders of magnitude from smallest to largest variance
    fractions = draw(st.lists(st.floats(0, 1), min_size=k, max_size=k))
    fractions[0], fractions[-1] = 0.0, 1.0  # the full span is always present
    if scenario == "large":
        fractions[1] = 0.0
    vi = 10 ** (low + span * np.array(fractions))
    mu = draw(st.floats(-2, 2))
    z = np.array(draw(st.lists(st.floats(-2.5, 2.5), min_size=k, max_size=k)))
    u = np.array(draw(st.lists(st.floats(0.5, 2), min_size=k, max_size=k)))
    u *= np.where(np.arange(k) % 2 == 0, 1.0, -1.0)  # spread that cannot shrink to nothing
    if scenario == "identical":
        yi = np.full(k, mu)
    elif scenario == "homogeneous":
        yi = mu + 0.3 * z * np.sqrt(vi)
    else:
        tau = 0.3 if scenario == "moderate" else 2.0
        yi = mu + z * np.sqrt(vi) + tau * u
    x = np.array(draw(st.lists(st.floats(-1, 1), min_size=k, max_size=k)))
    if scenario in ("homogeneous", "moderate"):  # a moderator effect (kept off the guarantees)
        yi = yi + draw(st.floats(-1, 1)) * x
    return Dataset(tuple(map(float, yi)), tuple(map(float, vi)), tuple(map(float, x)), scenario)


def batches(extra: int, max_k: int = 30):
    """A batch with every scenario, a very small k (2-4), and `extra` free data sets."""
    parts = [datasets(max_k=max_k, scenario=s) for s in SCENARIOS]
    parts.append(datasets(max_k=4))
    parts.extend(datasets(max_k=max_k) for _ in range(extra))
    return st.tuples(*parts).map(list)


# ----------------------------------------------------------------------------- direct runs


@dataclass(frozen=True)
class Setting:
    method: str
    test: str
    mods: bool = False
    augment: bool = False
    trimfill: bool = False
    regtest: bool = False
    ranktest: bool = False

    @property
    def weights(self) -> bool:
        return self.method in METHODS_NEEDING_WEIGHTS  # GENQ/GENQM: weights = 1/vi


def hex_float(value: float) -> str:
    return float(value).hex()


def parse_number(text: str) -> float:
    text = text.strip()
    return math.nan if text in ("", "NA") else float.fromhex(text)


def parse_flag(text: str) -> bool | None:
    return {"TRUE": True, "FALSE": False}.get(text.strip())


def run_rscript(script: Path, *paths: Path) -> None:
    done = subprocess.run(["Rscript", str(script), *map(str, paths)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise AssertionError(f"{script.name} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def run_direct(data: list[Dataset], grid: list[Setting]) -> tuple[dict, dict]:
    """Run direct_metafor.R once on every data set x setting.

    Returns ({(id, setting_no): row dict}, {(id, setting_no, table): DataFrame of long rows}).
    """
    with tempfile.TemporaryDirectory(prefix="kb-direct-") as folder:
        folder = Path(folder)
        rows = [
            {"id": f"d{i}", "yi": hex_float(y), "vi": hex_float(v), "x": hex_float(x), "wi": hex_float(1 / v)}
            for i, d in enumerate(data)
            for y, v, x in zip(d.yi, d.vi, d.x)
        ]
        pd.DataFrame(rows).to_csv(folder / "in.csv", index=False)
        pd.DataFrame(
            [
                {
                    "method": s.method,
                    "test": s.test,
                    "weights": s.weights,
                    "mods": s.mods,
                    "augment": s.augment,
                    "trimfill": s.trimfill,
                    "regtest": s.regtest,
                    "ranktest": s.ranktest,
                }
                for s in grid
            ]
        ).to_csv(folder / "settings.csv", index=False)
        run_rscript(DIRECT_METAFOR, folder / "in.csv", folder / "settings.csv", folder / "out.csv", folder / "long.csv")
        out = pd.read_csv(folder / "out.csv", dtype=str, keep_default_na=False)
        long = pd.read_csv(folder / "long.csv", dtype=str, keep_default_na=False)
    summary = {}
    for record in out.to_dict("records"):
        parsed = {}
        for name, text in record.items():
            if name in (
                "id",
                "method",
                "test",
                "error",
                "tf_error",
                "tf_side",
                "reg_rma_error",
                "reg_lm_error",
                "rank_error",
            ):
                parsed[name] = text
            elif name == "setting":
                parsed[name] = int(text)
            elif name in ("ok", "weights", "mods", "tf_ok", "reg_rma_ok", "reg_lm_ok", "rank_ok"):
                parsed[name] = parse_flag(text)
            else:
                parsed[name] = parse_number(text)
        summary[(parsed["id"], parsed["setting"])] = parsed
    tables = {}
    if len(long):
        long["setting"] = long["setting"].astype(int)
        long["row"] = long["row"].astype(int)
        long["value"] = long["value"].map(parse_number)
        for key, part in long.groupby(["id", "setting", "table"]):
            tables[key] = part.pivot(index=["row", "term"], columns="name", values="value").reset_index()
    return summary, tables


# ----------------------------------------------------------------------------- comparing


def close(actual: float, expected: float) -> bool:
    """Combined relative/absolute agreement (see RTOL); NaN only matches NaN."""
    actual, expected = float(actual), float(expected)
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    if math.isinf(expected) or math.isinf(actual):
        return actual == expected
    return abs(actual - expected) <= RTOL * max(1.0, abs(expected))


def plain(message: str) -> str:
    return " ".join(message.split())


class Mismatches:
    """Collects every disagreement of a batch, so one failure report shows them all."""

    def __init__(self):
        self.items: list[str] = []
        self.compared = 0  # numbers compared, so an empty comparison cannot pass unnoticed

    def add(self, where: str, text: str) -> None:
        self.items.append(f"{where}: {text}")

    def number(self, where: str, name: str, actual: float, expected: float) -> None:
        self.compared += 1
        if not close(actual, expected):
            self.add(where, f"{name} ketabridge={float(actual)!r} metafor={float(expected)!r}")

    def check(self, data: list[Dataset]) -> None:
        if self.items:
            shown = "\n  ".join(self.items[:30])
            sets = "\n  ".join(f"d{i}: {d.describe()}" for i, d in enumerate(data))
            raise AssertionError(f"{len(self.items)} mismatches with direct metafor:\n  {shown}\ndata sets:\n  {sets}")


def kb_rma(dataset: Dataset, setting: Setting) -> ketabridge.MetaResult:
    return ketabridge.rma(
        dataset.frame(),
        method=setting.method,
        test=setting.test,
        weights="wi" if setting.weights else None,
        mods=["x"] if setting.mods else None,
    )


def guarded(call):
    """(value, None) or (None, error) for an analysis; only ketabridge's own errors are caught."""
    try:
        return call(), None
    except ketabridge.KetabridgeError as error:
        return None, error


def same_failure(bad: Mismatches, where: str, direct_error: str, error: Exception | None) -> None:
    """metafor failed directly: ketabridge must raise MetaforError with R's message."""
    if error is None:
        bad.add(where, f"metafor failed ({direct_error!r}) but ketabridge returned a result")
    elif not isinstance(error, ketabridge.MetaforError):
        bad.add(where, f"metafor failed ({direct_error!r}) but ketabridge raised {type(error).__name__}: {error}")
    elif plain(error.r_message) != plain(direct_error):
        bad.add(where, f"error message ketabridge={error.r_message!r} metafor={direct_error!r}")


GLANCE_COMPARED = (
    "k", "estimate", "std_error", "statistic", "df", "p_value", "conf_low", "conf_high", "pi_low", "pi_high",
    "tau2", "tau2_se", "i2", "h2", "q", "q_pvalue", "qm", "qm_pvalue",
)  # fmt: skip
TIDY_COMPARED = ("estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high")
AUGMENT_COMPARED = ("weight", "hat", "std_residual", "cooks_distance", "fitted", "residual")


def compare_batch(data: list[Dataset], grid: list[Setting]) -> dict:
    """Fit every data set x setting both ways and compare everything the settings ask for."""
    summary, tables = run_direct(data, grid)
    bad = Mismatches()
    for i, dataset in enumerate(data):
        for number, setting in enumerate(grid, start=1):
            direct = summary[(f"d{i}", number)]
            where = f"d{i} {setting.method}/{setting.test}{' mods' if setting.mods else ''}"
            result, error = guarded(lambda: kb_rma(dataset, setting))
            if not direct["ok"]:
                same_failure(bad, where, direct["error"], error)
                continue
            if error is not None:
                bad.add(where, f"metafor fitted but ketabridge raised {type(error).__name__}: {error}")
                continue
            compare_fit(bad, where, result, direct, tables[(f"d{i}", number, "tidy")])
            if setting.augment:
                compare_augment(bad, where, dataset, result.augment(), tables.get((f"d{i}", number, "augment")))
            if setting.trimfill:
                compare_trimfill(bad, where, result, direct, tables.get((f"d{i}", number, "trimfill_augment")))
            if setting.regtest:
                for model in ("rma", "lm"):
                    compare_regtest(bad, f"{where} regtest({model})", result, model, direct)
            if setting.ranktest:
                compare_ranktest(bad, where, result, direct)
    bad.check(data)
    assert bad.compared > 0, "nothing was compared"
    return summary


def compare_fit(bad: Mismatches, where: str, result, direct: dict, tidy_direct: pd.DataFrame) -> None:
    glance = result.glance().iloc[0]
    for name in GLANCE_COMPARED:
        bad.number(where, name, glance[name], direct[name])
    tidy = result.tidy()
    if list(tidy["term"]) != list(tidy_direct["term"]):
        bad.add(where, f"terms ketabridge={list(tidy['term'])} metafor={list(tidy_direct['term'])}")
        return
    for (_, mine), (_, theirs) in zip(tidy.iterrows(), tidy_direct.iterrows()):
        for name in TIDY_COMPARED:
            bad.number(where, f"tidy[{mine['term']}].{name}", mine[name], theirs[name])


def compare_augment(bad: Mismatches, where: str, dataset: Dataset, augment: pd.DataFrame, direct) -> None:
    if direct is None or len(augment) != len(direct) or len(augment) != dataset.k:
        bad.add(where, f"augment has {len(augment)} rows, metafor {None if direct is None else len(direct)}")
        return
    for row in range(dataset.k):
        bad.number(where, f"augment[{row}].yi", augment["yi"].iloc[row], dataset.yi[row])
        bad.number(where, f"augment[{row}].vi", augment["vi"].iloc[row], dataset.vi[row])
        for name in AUGMENT_COMPARED:
            bad.number(where, f"augment[{row}].{name}", augment[name].iloc[row], direct[name].iloc[row])


def compare_trimfill(bad: Mismatches, where: str, result, direct: dict, direct_augment) -> None:
    where = f"{where} trimfill"
    filled, error = guarded(lambda: ketabridge.trimfill(result))
    if not direct["tf_ok"]:
        same_failure(bad, where, direct["tf_error"], error)
        return
    if error is not None:
        bad.add(where, f"metafor ran but ketabridge raised {type(error).__name__}: {error}")
        return
    glance = filled.glance().iloc[0]
    if glance["side"] != direct["tf_side"]:
        bad.add(where, f"side ketabridge={glance['side']!r} metafor={direct['tf_side']!r}")
    for mine, theirs in (
        ("k0", "tf_k0"),
        ("k", "tf_k"),
        ("estimate", "tf_estimate"),
        ("std_error", "tf_std_error"),
        ("conf_low", "tf_conf_low"),
        ("conf_high", "tf_conf_high"),
        ("tau2", "tf_tau2"),
        ("p_value", "tf_p_value"),
    ):
        bad.number(where, mine, glance[mine], direct[theirs])
    augment, error = guarded(filled.augment)
    if error is not None or direct_augment is None or len(augment) != len(direct_augment):
        bad.add(
            where,
            f"augment: ketabridge error={error!r}, metafor rows="
            f"{None if direct_augment is None else len(direct_augment)}",
        )
        return
    for row in range(len(augment)):
        bad.number(
            where, f"augment[{row}].filled", float(augment["filled"].iloc[row]), direct_augment["filled"].iloc[row]
        )
        for name in ("yi", "vi", "weight", "hat"):
            bad.number(where, f"augment[{row}].{name}", augment[name].iloc[row], direct_augment[name].iloc[row])


def compare_regtest(bad: Mismatches, where: str, result, model: str, direct: dict) -> None:
    prefix = f"reg_{model}_"
    test, error = guarded(lambda: ketabridge.regtest(result, model=model, predictor="sei"))
    if not direct[prefix + "ok"]:
        same_failure(bad, where, direct[prefix + "error"], error)
        return
    if error is not None:
        bad.add(where, f"metafor ran but ketabridge raised {type(error).__name__}: {error}")
        return
    glance = test.glance().iloc[0]
    for name in ("statistic", "df", "p_value", "limit_estimate", "limit_conf_low", "limit_conf_high"):
        bad.number(where, name, glance[name], direct[prefix + name])


def compare_ranktest(bad: Mismatches, where: str, result, direct: dict) -> None:
    where = f"{where} ranktest"
    test, error = guarded(lambda: ketabridge.ranktest(result))
    if not direct["rank_ok"]:
        same_failure(bad, where, direct["rank_error"], error)
        return
    if error is not None:
        bad.add(where, f"metafor ran but ketabridge raised {type(error).__name__}: {error}")
        return
    glance = test.glance().iloc[0]
    bad.number(where, "kendall_tau", glance["kendall_tau"], direct["rank_tau"])
    bad.number(where, "p_value", glance["p_value"], direct["rank_p_value"])


def quietly(function):
    def run(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return function(*args, **kwargs)

    return run


# ----------------------------------------------------------------------------- the tests

GRID = [Setting(method, test) for method, test in sorted(PROPERTY_GRID, key=lambda mt: (METHODS.index(mt[0]), mt[1]))]
