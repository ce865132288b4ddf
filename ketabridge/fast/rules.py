"""The fast engine follows the metafor that judges the run, where metafor changed on purpose.

Compared release by release (NEWS.md and the R code of 3.8-1, 4.0-0, 4.2-0, 4.4-0, 4.6-0, 4.8-0,
5.0-1 and the 5.1 development version, each run on the same test batteries): the numbers of
rma.uni, trimfill and regtest that the engine replays are bitwise the same in all of them. What
differs, and is followed here:

- the warning for test="knha" under an equal-effects model: "Knapp & Hartung" (3.8), "Knapp and
  Hartung" (from 4.0), with the method quoted (from 5.0), none (5.2-1: its rma.uni has no such
  warning left, read from the installed code; NEWS does not say);
- ranktest (5.0: "ranktest() now also provides a p-value when the number of estimates is large"):
  cor.test's warnings are suppressed, and where the exact p-value is NA (k >= 171, where R's gamma
  overflows) the normal approximation of cor.test(exact = FALSE) is given instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from ketabridge.bridge.compat import version_tuple

REPLAYS = (
    "rma.uni (EE, FE, DL, HE, SJ, PM, ML, REML; tests z, knha), trimfill (L0, R0), "
    "regtest (models rma, lm; predictor sei), ranktest"
)


@dataclass(frozen=True)
class Rules:
    """The behaviours of one metafor release that the fast engine replays."""

    metafor_version: str

    @property
    def release(self) -> tuple[int, ...]:
        return version_tuple(self.metafor_version)

    def knha_equal_effects(self, method: str) -> str | None:
        """rma.uni's warning for test="knha" with method EE, FE or CE, word for word (None: none)."""
        if self.release >= (5, 2):
            return None
        if self.release < (4, 0):
            return f"Knapp & Hartung method is not meant to be used in the context of {method} models."
        if self.release < (5, 0):
            return f"Knapp and Hartung method is not meant to be used in the context of {method} models."
        return f"Knapp and Hartung method is not meant to be used in the context of '{method}' models."

    @property
    def ranktest_is_quiet(self) -> bool:
        """metafor >= 5.0 wraps cor.test in suppressWarnings and falls back to exact = FALSE."""
        return self.release >= (5, 0)

    def describe(self) -> str:
        return f"metafor {self.metafor_version}: {REPLAYS}"


_following: ContextVar[Rules | None] = ContextVar("fast_rules", default=None)


def current() -> Rules:
    """The rules in force: those set by following(), else those of the metafor installed here."""
    rules = _following.get()
    if rules is None:
        from ketabridge.bridge.session import installed_metafor_version

        rules = Rules(installed_metafor_version())
    return rules


@contextmanager
def following(metafor_version: str) -> Iterator[Rules]:
    """Replay the given metafor release inside the block."""
    token = _following.set(Rules(metafor_version))
    try:
        yield _following.get()
    finally:
        _following.reset(token)
