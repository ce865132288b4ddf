"""The embedded R session: one per process, a private environment, version floors."""

from __future__ import annotations

import pandas as pd
import pytest

import ketabridge
from ketabridge._r.session import METAFOR_FLOOR, R_FLOOR, _check_floor, r_session, r_source_files


def test_session_starts_once(bcg_effects):
    ketabridge.rma(bcg_effects)
    assert r_session() is r_session()


def test_entry_points_live_in_a_private_environment_not_the_global_one():
    import rpy2.rinterface as ri

    session = r_session()
    assert session.entry("kb_rma") is not None
    exists = ri.baseenv.find("exists")
    assert not exists(ri.StrSexpVector(["kb_rma"]), envir=ri.globalenv, inherits=False)[0]


def test_every_r_file_defines_its_entry_point():
    names = {path.stem for path in r_source_files()}
    assert {"kb_common", "kb_rma", "kb_escalc", "kb_trimfill", "kb_regtest", "kb_ranktest", "kb_augment"} <= names


@pytest.mark.parametrize(
    "what, version, floor",
    [("R", "3.6.3", R_FLOOR), ("metafor", "3.4-0", METAFOR_FLOOR), ("metafor", "2.0.0", METAFOR_FLOOR)],
)
def test_versions_below_the_floor_are_refused_with_the_floor_named(what, version, floor):
    with pytest.raises(ketabridge.RNotAvailableError, match=rf"{what} {version} is too old; ketabridge needs {what} >= "):
        _check_floor(what, version, floor)


@pytest.mark.parametrize("version", ["4.2.2", "4.0.0", "5.1"])
def test_versions_at_or_above_the_floor_pass(version):
    _check_floor("R", version, R_FLOOR)


def test_installed_versions_pass_their_floors():
    session = r_session()
    _check_floor("R", session.r_version, R_FLOOR)
    _check_floor("metafor", session.metafor_version, METAFOR_FLOOR)


def test_threads_share_the_one_r_session_safely(bcg_effects):
    """R is single-threaded; concurrent analyses from Python threads must queue, not crash."""
    from concurrent.futures import ThreadPoolExecutor

    expected = ketabridge.rma(bcg_effects, method="DL").glance()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: ketabridge.rma(bcg_effects, method="DL"), range(16)))
    for result in results:
        assert result.glance().equals(expected)
        assert len(result.augment()) == len(bcg_effects)


def test_children_do_not_inherit_r_library_path():
    """R's start-up sets LD_LIBRARY_PATH; a Python child with it imports the wrong libpython into _ssl."""
    import subprocess
    import sys

    ketabridge.rma(pd.DataFrame({"yi": [0.1, 0.3, 0.2], "vi": [0.01, 0.02, 0.015]}))  # R is running
    child = subprocess.run([sys.executable, "-c", "import os, ssl; print(os.environ.get('LD_LIBRARY_PATH'))"],
                           capture_output=True, text=True)
    assert child.returncode == 0, child.stderr
    assert "/usr/lib/R/lib" not in child.stdout


# Which rpy2 loads into which R: rpy2's NEWS (3.6.7: "R >= 4.5.0 is required", R 4.6 hid C
# functions rinterface < 3.6.7 used) and this project's lanes (3.5.17 loads into R 4.2, 4.5, 4.6).
@pytest.mark.parametrize("rinterface, r_version, problem", [
    ("3.5.17", "4.2.2", None),
    ("3.5.17", "4.5.0", None),
    ("3.5.17", "4.6.2", None),
    ("3.6.7", "4.6.2", None),
    ("3.6.7", "4.5.0", None),
    ("3.6.7", "4.2.2", "rpy2-rinterface 3.6.7 needs R >= 4.5, and R 4.2.2 was found; install the rpy2 that fits: "
                       "pip install 'rpy2>=3.5.13,<3.6'"),
    ("3.6.5", "4.6.2", "rpy2-rinterface 3.6.5 cannot load into R 4.6.2 (R 4.6 needs >= 3.6.7); install the rpy2 "
                       "that fits: pip install 'rpy2>=3.6.9'"),
    ("3.5.1", "4.2.2", "rpy2 3.5.1 is too old for ketabridge"),
    (None, "4.6.2", "rpy2 is not installed; install the rpy2 that fits: pip install 'rpy2>=3.6.9'"),
])
def test_rpy2_and_r_pairs(rinterface, r_version, problem):
    from ketabridge._r.compat import rpy2_problem

    found = rpy2_problem(rinterface, r_version)
    assert found == problem if problem is None else found.startswith(problem), found


def test_the_installed_rpy2_fits_the_installed_r(installed):
    """`make setup` chose the rpy2 for this lane's R; the session reports both halves' versions."""
    from ketabridge._r.compat import rpy2_problem, rpy2_versions

    assert rpy2_problem(rpy2_versions()["rpy2-rinterface"], installed["r_version"]) is None
    session = r_session()
    assert session.r_version == installed["r_version"]
    assert session.rpy2_rinterface_version == rpy2_versions()["rpy2-rinterface"]
