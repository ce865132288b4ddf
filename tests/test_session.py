"""The embedded R session: one per process, a private environment, version floors."""

from __future__ import annotations

import pandas as pd
import pytest

import ketabridge
from ketabridge.bridge.call import call_entry
from ketabridge.bridge.session import (
    ENTRY_FILE_PREFIX,
    HELPER_FILE_PREFIX,
    METAFOR_FLOOR,
    R_FLOOR,
    _check_floor,
    entry_points,
    r_session,
    r_source_files,
)


@pytest.mark.requires_r
def test_session_starts_once(bcg_effects):
    ketabridge.rma(bcg_effects)
    assert r_session() is r_session()


@pytest.mark.requires_r
def test_entry_points_live_in_a_private_environment_not_the_global_one():
    import rpy2.rinterface as ri

    session = r_session()
    assert session.entry("kb_rma") is not None
    exists = ri.baseenv.find("exists")
    assert not exists(ri.StrSexpVector(["kb_rma"]), envir=ri.globalenv, inherits=False)[0]


# Each R file as R's parser reads it: the functions it defines at top level (or the deparsed
# expression, for a top-level expression that is not `name <- function(...)`) and every name its
# code uses (comments are not code).
R_FILE_CONTENTS = """function(path) {
  exprs <- parse(path, keep.source = FALSE)
  defines <- vapply(exprs, function(e) {
    is_definition <- is.call(e) && identical(e[[1L]], as.name("<-")) && is.name(e[[2L]]) &&
      is.call(e[[3L]]) && identical(e[[3L]][[1L]], as.name("function"))
    if (is_definition) as.character(e[[2L]]) else paste("not a definition:", deparse(e)[1L])
  }, character(1))
  list(defines = defines, uses = unique(all.names(exprs)))
}"""


@pytest.fixture(scope="module")
def r_files() -> dict[str, dict[str, list[str]]]:
    import rpy2.rinterface as ri

    from ketabridge.bridge.marshal import to_python

    r_session()
    read = ri.baseenv.find("eval")(ri.parse(R_FILE_CONTENTS))
    files = {}
    for path in r_source_files():
        contents = to_python(read(ri.StrSexpVector([str(path)])))
        files[path.name] = {part: list(contents[part] or ()) for part in ("defines", "uses")}
    return files


@pytest.mark.requires_r
def test_r_files_are_entry_points_or_helpers_and_only_define_functions(r_files):
    """Sourced in sorted order into one environment: order cannot matter when no file runs code."""
    for name, contents in r_files.items():
        assert name.startswith((ENTRY_FILE_PREFIX, HELPER_FILE_PREFIX)), name
        assert not [what for what in contents["defines"] if what.startswith("not a definition")], name
    defined = [function for contents in r_files.values() for function in contents["defines"]]
    assert sorted(function for function in set(defined) if defined.count(function) > 1) == []


@pytest.mark.requires_r
def test_every_kb_file_defines_exactly_the_entry_point_of_its_name(r_files):
    declared = entry_points()
    assert declared == {name.removesuffix(".R") for name in r_files if name.startswith(ENTRY_FILE_PREFIX)}
    assert {"kb_rma", "kb_escalc", "kb_trimfill", "kb_regtest", "kb_ranktest", "kb_augment", "kb_batch"} <= declared
    for name, contents in r_files.items():
        own = {name.removesuffix(".R")} if name.startswith(ENTRY_FILE_PREFIX) else set()
        assert declared & set(contents["defines"]) == own, name  # helper files: none


@pytest.mark.requires_r
def test_helpers_in_an_entry_point_file_are_its_own(r_files):
    """A helper two entry points share lives in a helpers_*.R file, not in one of theirs."""
    for name, contents in r_files.items():
        if not name.startswith(ENTRY_FILE_PREFIX):
            continue
        for helper in set(contents["defines"]) - entry_points():
            users = sorted(other for other, theirs in r_files.items() if other != name and helper in theirs["uses"])
            assert users == [], f"{helper} of {name} is used by {users}: move it to a helpers_*.R file"


@pytest.mark.requires_r
def test_every_entry_point_is_an_r_function_in_the_session():
    import rpy2.rinterface as ri

    session = r_session()
    is_function = ri.baseenv.find("is.function")
    assert all(is_function(session.entry(name))[0] for name in entry_points())


@pytest.mark.parametrize("name", ["kb_guard", "kb_transf_args", "kb_versions", "system", "kb_nothing"])
def test_call_entry_calls_only_declared_entry_points(name):
    with pytest.raises(
        ValueError,
        match=rf"^'{name}' is not an R entry point; the entry points are the "
        r"ketabridge/r/kb_<name>\.R files' kb_<name>: kb_aggregate, kb_augment, kb_batch, ",
    ):
        call_entry(name)


@pytest.mark.parametrize(
    "what, version, floor",
    [("R", "3.6.3", R_FLOOR), ("metafor", "3.4-0", METAFOR_FLOOR), ("metafor", "2.0.0", METAFOR_FLOOR)],
)
def test_versions_below_the_floor_are_refused_with_the_floor_named(what, version, floor):
    with pytest.raises(
        ketabridge.RNotAvailableError, match=rf"{what} {version} is too old; ketabridge needs {what} >= "
    ):
        _check_floor(what, version, floor)


@pytest.mark.parametrize("version", ["4.2.2", "4.0.0", "5.1"])
def test_versions_at_or_above_the_floor_pass(version):
    _check_floor("R", version, R_FLOOR)


@pytest.mark.requires_r
def test_installed_versions_pass_their_floors():
    session = r_session()
    _check_floor("R", session.r_version, R_FLOOR)
    _check_floor("metafor", session.metafor_version, METAFOR_FLOOR)


@pytest.mark.requires_r
def test_threads_share_the_one_r_session_safely(bcg_effects):
    """R is single-threaded; concurrent analyses from Python threads must queue, not crash."""
    from concurrent.futures import ThreadPoolExecutor

    expected = ketabridge.rma(bcg_effects, method="DL").glance()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: ketabridge.rma(bcg_effects, method="DL"), range(16)))
    for result in results:
        assert result.glance().equals(expected)
        assert len(result.augment()) == len(bcg_effects)


@pytest.mark.requires_r
def test_children_do_not_inherit_r_library_path():
    """R's start-up sets LD_LIBRARY_PATH; a Python child with it imports the wrong libpython into _ssl."""
    import subprocess
    import sys

    ketabridge.rma(pd.DataFrame({"yi": [0.1, 0.3, 0.2], "vi": [0.01, 0.02, 0.015]}))  # R is running
    child = subprocess.run(
        [sys.executable, "-c", "import os, ssl; print(os.environ.get('LD_LIBRARY_PATH'))"],
        capture_output=True,
        text=True,
    )
    assert child.returncode == 0, child.stderr
    assert "/usr/lib/R/lib" not in child.stdout


# Which rpy2 loads into which R: rpy2's NEWS (3.6.7: "R >= 4.5.0 is required", R 4.6 hid C
# functions rinterface < 3.6.7 used) and this project's lanes (3.5.17 loads into R 4.2, 4.5, 4.6).
@pytest.mark.parametrize(
    "rinterface, r_version, problem",
    [
        ("3.5.17", "4.2.2", None),
        ("3.5.17", "4.5.0", None),
        ("3.5.17", "4.6.2", None),
        ("3.6.7", "4.6.2", None),
        ("3.6.7", "4.5.0", None),
        (
            "3.6.7",
            "4.2.2",
            "rpy2-rinterface 3.6.7 needs R >= 4.5, and R 4.2.2 was found; install the rpy2 that fits: "
            "pip install 'rpy2>=3.5.13,<3.6'",
        ),
        (
            "3.6.5",
            "4.6.2",
            "rpy2-rinterface 3.6.5 cannot load into R 4.6.2 (R 4.6 needs >= 3.6.7); install the rpy2 "
            "that fits: pip install 'rpy2>=3.6.9'",
        ),
        ("3.5.1", "4.2.2", "rpy2 3.5.1 is too old for ketabridge"),
        (None, "4.6.2", "rpy2 is not installed; install the rpy2 that fits: pip install 'rpy2>=3.6.9'"),
    ],
)
def test_rpy2_and_r_pairs(rinterface, r_version, problem):
    from ketabridge.bridge.compat import rpy2_problem

    found = rpy2_problem(rinterface, r_version)
    assert found == problem if problem is None else found.startswith(problem), found


@pytest.mark.requires_r
def test_the_installed_rpy2_fits_the_installed_r(installed):
    """`make setup` chose the rpy2 for this lane's R; the session reports both halves' versions."""
    from ketabridge.bridge.compat import rpy2_problem, rpy2_versions

    assert rpy2_problem(rpy2_versions()["rpy2-rinterface"], installed["r_version"]) is None
    session = r_session()
    assert session.r_version == installed["r_version"]
    assert session.rpy2_rinterface_version == rpy2_versions()["rpy2-rinterface"]
