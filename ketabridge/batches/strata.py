"""Which of a fast batch's analyses metafor reruns: a stratified sample with a stated bound.

The fast analyses fall into disjoint classes, each where a different part of metafor's algorithms
decides the numbers (the first that applies): a fit that failed or did not converge, an extra
(trim-and-fill, regtest, ranktest) that failed, k <= 3, tau^2 estimated at 0, and the interior.
A budget that is a count of analyses is shared among the classes present (water-filling: a class
smaller than its share is checked whole, what it leaves goes to the others), after a uniform
random share of the whole batch, drawn first, from every id (so its metafor runs can start
before numpy has finished). Within a class the checked analyses are a uniformly random subset
(the share of the whole that fell in the class, plus the rest of the class's members with the
smallest random keys), so zero disagreements among n checked bounds that class's disagreement
rate: the exact one-sided 95 % Clopper-Pearson bound 1 - 0.05^(1/n), about 3/n (the "rule of
three").

The keys are drawn per input position before the run, so the sample does not depend on when an
analysis was computed. That lets metafor start on a class's likely members while numpy is still
computing (ahead_thresholds): with the class sizes estimated from the analyses computed so far,
an analysis whose key falls below its class's threshold is sent ahead; the classes' sample, chosen
once the run is over, then mostly consists of analyses metafor has already run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ketabridge.errors import InputError
from ketabridge.options import EQUAL_EFFECTS_METHODS

# (name, what it holds), in the order an analysis is assigned: the first class that applies
CLASSES = (
    ("failed_or_not_converged", "the fit failed, did not converge, or gave no finite estimate"),
    ("failed_extra", "the model fitted but trim-and-fill, regtest or ranktest failed"),
    ("k_le_3", "k <= 3 studies (and not above)"),
    ("tau2_zero", "tau^2 estimated at 0 (and none of the above)"),
    ("interior", "none of the above"),
)
DEFAULT_BUDGET = 300  # analyses rerun on metafor: about 10 s at 33 ms each, whatever the batch size
WHOLE_SHARE = 0.25  # of a count budget: a uniform sample of the whole batch, drawn before the classes
MIN_SAMPLE = 20  # the uniform sample of a fraction is at least this many analyses
# analyses sent ahead per class: this many times the members its sample is expected to take, so
# that an estimate of the class's size that is off by up to this factor still sends every member
AHEAD_MARGIN = 2.0
CONFIDENCE = 0.95
# what classify reads of the batch's tables (only these columns are read whole)
CLASSIFY_COLUMNS = {
    "glance": ["analysis_id", "estimate", "converged", "k", "tau2"],
    "status": ["analysis_id", "engine", "status", "message"],
}


@dataclass(frozen=True)
class Budget:
    """How much a fast batch verifies: "all", a fraction (the old rule: that share of the batch
    at random plus every analysis outside the interior), a count (the stratified sample), or
    "skipped" (nothing, only when asked for explicitly)."""

    kind: str  # "all" | "fraction" | "count" | "skipped"
    value: float | int | None = None

    def describe(self):
        return self.kind if self.value is None else self.value

    def whole_size(self, ids: int) -> int:
        """The uniform sample of the whole batch (drawn from every id before the run)."""
        if self.kind == "fraction":
            return min(ids, max(MIN_SAMPLE, math.ceil(self.value * ids)))
        if self.kind == "count":
            return min(ids, math.ceil(WHOLE_SHARE * self.value))
        return 0


def check_budget(verify, skip_unsafe: bool = False) -> Budget:
    """verify: "all", a fraction in (0, 1] (a float), a count >= 1 (an int), or 0 with skip_unsafe."""
    if verify == "all":
        return Budget("all")
    if isinstance(verify, bool) or not isinstance(verify, (int, float, np.integer, np.floating)):
        raise InputError(f"verify must be a count of analyses, a fraction in (0, 1] or 'all', not {verify!r}")
    if verify == 0:
        if not skip_unsafe:
            raise InputError(
                "verify=0 skips metafor's check of the fast engine; pass skip_verification_unsafe=True "
                "(--skip-verification-unsafe) to run unverified, which the provenance records"
            )
        return Budget("skipped")
    if skip_unsafe:
        raise InputError("skip_verification_unsafe=True goes with verify=0 only")
    if isinstance(verify, (int, np.integer)):
        if verify < 0:
            raise InputError(f"verify must be a count >= 1, a fraction in (0, 1] or 'all', not {verify!r}")
        return Budget("count", int(verify))
    if not 0 < verify <= 1 or math.isnan(verify):
        raise InputError(f"verify must be a fraction in (0, 1] (or a count: a whole number), not {verify!r}")
    return Budget("fraction", float(verify))


def whole_sample(ids: list, budget: Budget, seed: int) -> list:
    """The uniform share of the whole batch, from every id (known before anything runs)."""
    size = budget.whole_size(len(ids))
    if not size:
        return []
    chosen = np.sort(np.random.default_rng(seed).choice(len(ids), size=size, replace=False))
    return [ids[i] for i in chosen]


def sample_keys(count: int, seed: int) -> np.ndarray:
    """One uniform random key per input position: a class's sample is its members with the smallest keys."""
    return np.random.default_rng([seed, 1]).random(count)


def ahead_thresholds(seen: dict[str, int], observed: int, pending: int, budget: Budget) -> dict[str, float]:
    """Per class, the key below which an analysis computed so far is sent to metafor before the run
    ends: every member for "all", every member outside the interior for a fraction; for a count,
    with each class's size estimated from `seen` (its members among the `observed` analyses so far,
    of `pending`), about AHEAD_MARGIN times the members its sample will take."""
    if budget.kind == "all":
        return {name: 1.0 for name, _ in CLASSES}
    if budget.kind == "fraction":
        return {name: 0.0 if name == "interior" else 1.0 for name, _ in CLASSES}
    if budget.kind != "count" or not observed:
        return {}
    sizes = {name: round(seen.get(name, 0) * pending / observed) for name, _ in CLASSES}
    allotted = allocate(sizes, budget.value)
    whole = budget.whole_size(pending) / pending  # the share of every class already in the whole's sample
    thresholds = {}
    for name, size in sizes.items():
        rest = size * (1 - whole)  # the members the class's own draw chooses from
        wanted = max(0.0, allotted[name] - size * whole)
        thresholds[name] = 1.0 if rest <= wanted else min(1.0, AHEAD_MARGIN * wanted / rest)
    return thresholds


def classify(glance: pd.DataFrame, status: pd.DataFrame, method: str) -> pd.Series:
    """The class name of every analysis the fast engine computed, indexed by analysis id."""
    fast = status["engine"].to_numpy() == "fast"
    ids = status["analysis_id"].to_numpy()[fast]
    if len(glance) == len(status) and np.array_equal(
        glance["analysis_id"].to_numpy(), status["analysis_id"].to_numpy()
    ):
        rows = glance[fast]  # both in input order (the batch's tables are): no lookup by id needed
    else:
        rows = glance.set_index("analysis_id").loc[ids]
    failed_status = status["status"].to_numpy()[fast] == "error"
    estimate = rows["estimate"].to_numpy(dtype=float)
    failed = failed_status | ~rows["converged"].fillna(False).to_numpy(dtype=bool) | ~np.isfinite(estimate)
    # a pandas string search: numpy's fixed-width text would take (longest message) x 4 bytes per row
    failed_extra = status["message"].fillna("").astype(str).str.contains("failed:", regex=False).to_numpy(bool)[fast]
    small = rows["k"].fillna(0).to_numpy() <= 3
    zero = rows["tau2"].to_numpy(dtype=float) == 0 if method not in EQUAL_EFFECTS_METHODS else np.zeros(len(ids), bool)
    names = np.select([failed, failed_extra, small, zero], [name for name, _ in CLASSES[:4]], CLASSES[4][0])
    return pd.Series(names, index=pd.Index(ids, name="analysis_id"), name="class")


def allocate(sizes: dict[str, int], budget: int) -> dict[str, int]:
    """Water-filling: each class its equal share of the budget, all of it when smaller, the rest
    shared again among the larger classes."""
    left, allotted = budget, {name: 0 for name in sizes}
    open_ = sorted((name for name in sizes if sizes[name]), key=lambda name: sizes[name])
    while open_ and left > 0:
        share = left // len(open_) or 1
        name = open_[0]
        if sizes[name] <= share:  # the smallest class fits whole
            allotted[name] = sizes[name]
            left -= sizes[name]
            open_.pop(0)
            continue
        for name in open_:  # every remaining class is larger than the share
            take = min(share, left)
            allotted[name] = take
            left -= take
        break
    return allotted


def stratified(classes: pd.Series, budget: Budget, already: set, keys: np.ndarray) -> list:
    """The analyses to verify besides `already` (the whole-batch share): every one for "all";
    for a fraction every analysis outside the interior; for a count each class topped up to its
    allotment with its members not yet chosen that have the smallest keys (one per analysis of
    classes, from sample_keys: a uniform random draw)."""
    done = classes.index.isin(list(already))
    if budget.kind == "all":
        return classes.index[~done].tolist()
    if budget.kind == "fraction":
        return classes.index[~done & (classes.to_numpy() != "interior")].tolist()
    if budget.kind != "count":
        return []
    sizes = classes.value_counts().to_dict()
    allotted = allocate({name: sizes.get(name, 0) for name, _ in CLASSES}, budget.value)
    picked = []
    for name, _ in CLASSES:
        member = classes.to_numpy() == name
        rest = np.flatnonzero(member & ~done)
        more = min(len(rest), max(0, allotted[name] - int((member & done).sum())))
        if more:
            smallest = np.sort(rest[np.argsort(keys[rest], kind="stable")[:more]])  # kept in input order
            picked.extend(classes.index[smallest].tolist())
    return picked


def upper_bound(disagreeing: int, checked: int, total: int) -> float | None:
    """One-sided 95 % upper bound on a class's disagreement rate from `checked` of its `total`
    analyses (exact when all were checked); None when none was."""
    if checked == 0:
        return None if total else 0.0
    if checked >= total:
        return disagreeing / total
    if disagreeing == 0:
        return 1 - (1 - CONFIDENCE) ** (1 / checked)  # Clopper-Pearson at 0; about 3 / checked
    from scipy.stats import beta

    return float(beta.ppf(CONFIDENCE, disagreeing + 1, checked - disagreeing))


def per_class(classes: pd.Series, checked: set, disagreeing: set) -> dict:
    """Provenance: per class, what it holds, checked / total, disagreements, the bound."""
    report = {}
    seen_mask, bad_mask = classes.index.isin(list(checked)), classes.index.isin(list(disagreeing))
    for name, meaning in CLASSES:
        member = classes.to_numpy() == name
        total, seen, bad = int(member.sum()), int((member & seen_mask).sum()), int((member & bad_mask).sum())
        bound = upper_bound(bad, seen, total)
        report[name] = {
            "meaning": meaning,
            "total": total,
            "checked": seen,
            "disagreeing": bad,
            "upper_bound_95": bound,
            "bound_kind": (
                "none present"
                if not total
                else "exact: all checked"
                if seen >= total
                else "Clopper-Pearson one-sided 95 % (zero disagreements: 1 - 0.05^(1/checked), ~3/checked)"
            ),
        }
    return report
