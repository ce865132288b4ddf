"""R starts lazily: importing ketabridge and `ketabridge --help` work on a machine without R."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lane import BCG_CSV

BIN = Path(sys.executable).parent


def _without_r(args: list[str]) -> subprocess.CompletedProcess:
    """Run a command with R hidden: no R on PATH (only the venv's bin) and no R_HOME."""
    env = {key: value for key, value in os.environ.items() if key not in ("R_HOME", "PATH")}
    env["PATH"] = str(BIN)
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


def test_import_does_not_load_rpy2_or_r():
    code = "import sys, ketabridge; assert 'rpy2' not in sys.modules, sorted(m for m in sys.modules if 'rpy2' in m); print('ok')"
    done = _without_r([sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_help_works_without_r():
    for args in (["--help"], ["analyze", "--help"], ["--version"]):
        done = _without_r([str(BIN / "ketabridge"), *args])
        assert done.returncode == 0, done.stderr
    assert "Usage: ketabridge" in _without_r([str(BIN / "ketabridge"), "--help"]).stdout


def test_analysis_without_r_raises_r_not_available_with_hint():
    code = (
        "import ketabridge\n"
        "try:\n"
        f"    ketabridge.rma(ketabridge.escalc('RR', {str(BCG_CSV)!r}, ai='tpos', bi='tneg', ci='cpos', di='cneg'))\n"
        "except ketabridge.RNotAvailableError as error:\n"
        "    print(error)\n"
    )
    done = _without_r([sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr
    assert "R is not installed" in done.stdout
    assert "r-cran-metafor" in done.stdout and "conda-forge r-metafor" in done.stdout


def test_cli_without_r_fails_with_one_error_line():
    done = _without_r([str(BIN / "ketabridge"), "analyze", str(BCG_CSV), "--yi", "tpos", "--vi", "tneg"])
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("Error: R is not installed")


def test_doctor_without_r_says_how_to_fix_and_exits_1():
    done = _without_r([str(BIN / "ketabridge"), "doctor"])
    assert done.returncode == 1
    problems = [line for line in done.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1 and "install.packages" in problems[0]


def test_call_entry_refuses_an_undeclared_name_before_looking_for_r():
    """The entry points are read from the ketabridge/r/kb_<name>.R file names, so the check needs no R."""
    code = (
        "from ketabridge.bridge.call import call_entry\n"
        "try:\n"
        "    call_entry('kb_guard')\n"
        "except ValueError as error:\n"
        "    print(error)\n"
    )
    done = _without_r([sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "'kb_guard' is not an R entry point; the entry points are the ketabridge/r/kb_<name>.R files' "
        "kb_<name>: kb_aggregate, kb_augment, kb_batch, "
    )


def test_r_home_pointing_nowhere_is_reported_not_crashed():
    env = dict(os.environ, R_HOME="/nonexistent/R")
    code = "import ketabridge\ntry:\n    ketabridge.bridge.session.r_session()\nexcept ketabridge.RNotAvailableError as e:\n    print(e)"
    done = subprocess.run(
        [sys.executable, "-c", "import ketabridge.bridge.session\n" + code], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "R_HOME is set to '/nonexistent/R'" in done.stdout


def _mismatched_rinterface(r_version: str) -> str:
    """An rpy2-rinterface release that cannot load into this R (see ketabridge.bridge.compat)."""
    from ketabridge.bridge.compat import version_tuple

    r = version_tuple(r_version)
    return "3.6.7" if r < (4, 5) else ("3.6.5" if r >= (4, 6) else "3.5.1")


@pytest.mark.requires_r
def test_an_rpy2_that_cannot_load_into_this_r_is_named_before_it_is_imported(tmp_path, installed):
    """A distribution record placed first on sys.path stands in for a mismatched rpy2 install:
    ketabridge must refuse it by its version, without importing rpy2, and doctor must say so."""
    fake = _mismatched_rinterface(installed["r_version"])
    record = tmp_path / f"rpy2_rinterface-{fake}.dist-info"
    record.mkdir()
    (record / "METADATA").write_text(f"Metadata-Version: 2.1\nName: rpy2-rinterface\nVersion: {fake}\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    code = (
        "import sys, ketabridge, ketabridge.bridge.session\n"
        "try:\n"
        "    ketabridge.bridge.session.r_session()\n"
        "except ketabridge.RNotAvailableError as error:\n"
        "    print(error)\n"
        "print('rpy2 imported' if 'rpy2.rinterface' in sys.modules else 'rpy2 not imported')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "rpy2 not imported"
    assert fake in done.stdout and f"R {installed['r_version']}" in done.stdout
    assert "install the rpy2 that fits: pip install 'rpy2" in done.stdout
    doctor = subprocess.run([str(BIN / "ketabridge"), "doctor"], capture_output=True, text=True, env=env, timeout=120)
    assert doctor.returncode == 1
    assert f"rpy2-rinterface  {fake}" in doctor.stdout and "problem: " in doctor.stdout
