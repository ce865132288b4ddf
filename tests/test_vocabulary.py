"""ketabridge's vocabularies follow the running metafor: in every lane, the names options.py
says this release accepts are exactly the names the release's own argument checks list
(read from its code by tests/rscript/vocabulary.R) and exactly those it accepts when called
(tests/rscript/probe_vocabulary.R, with made-up names that it must refuse)."""

from __future__ import annotations

import subprocess

import pytest
from lane import REPO

import ketabridge
from ketabridge.bridge.compat import version_tuple
from ketabridge.options import RELEASE_OF, VOCABULARIES, accepted

pytestmark = pytest.mark.requires_r

BOGUS = ("XX", "none_such")  # names no metafor accepts: the probe must refuse them


def _lists(printed: str) -> dict[str, set[str]]:
    rows = (line.split("\t") for line in printed.strip().splitlines())
    return {kind: set(filter(None, names.strip().split(","))) for kind, names in rows}


@pytest.fixture(scope="module")
def read_from_code() -> dict[str, set[str]]:
    script = REPO / "tests" / "rscript" / "vocabulary.R"
    return _lists(subprocess.run(["Rscript", str(script)], capture_output=True, text=True, check=True).stdout)


@pytest.fixture(scope="module")
def accepted_when_called() -> dict[str, set[str]]:
    script = REPO / "tests" / "rscript" / "probe_vocabulary.R"
    probed = [kind for kind in VOCABULARIES if kind != "vtype"]  # vtype: accepted per measure, not probed
    candidates = "".join(f"{kind}\t{','.join(VOCABULARIES[kind] + BOGUS)}\n" for kind in probed)
    done = subprocess.run(["Rscript", str(script)], input=candidates, capture_output=True, text=True, check=True)
    return _lists(done.stdout)


@pytest.mark.parametrize("kind", sorted(VOCABULARIES))
def test_each_list_is_what_the_running_metafor_accepts(kind, read_from_code, accepted_when_called, installed):
    release = version_tuple(installed["metafor_version"])
    ours = set(accepted(kind, release))
    assert ours == read_from_code[kind], (
        f"metafor {installed['metafor_version']} {kind}: only ours {sorted(ours - read_from_code[kind])}, "
        f"only metafor's {sorted(read_from_code[kind] - ours)}"
    )
    if kind in accepted_when_called:
        assert accepted_when_called[kind] == ours


def test_a_name_this_metafor_lacks_is_refused_in_python_and_one_it_has_is_fitted(bcg_effects, installed):
    """Names from later releases: refused with the release they need where this metafor is older;
    where it has them, metafor's aliases give the numbers of what they alias (CO and VC are HE)."""
    release = version_tuple(installed["metafor_version"])
    for name, since in RELEASE_OF["method"].items():
        if release[:2] < since:
            with pytest.raises(ketabridge.InputError, match=f"method '{name}' needs metafor >= {since[0]}.{since[1]}"):
                ketabridge.rma(bcg_effects, method=name)
        else:
            alias = ketabridge.rma(bcg_effects, method=name).glance()
            he = ketabridge.rma(bcg_effects, method="HE").glance()
            assert alias["tau2"].iloc[0] == he["tau2"].iloc[0]
