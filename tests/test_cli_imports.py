"""`ketabridge --help`, `--version` and shell completion load no analysis stack.

Each case runs the click group in a fresh interpreter and reads which modules it imported: the
modules a command loads are the same on every machine, where its timing is not. Commands import
the API (pandas, numpy, pyarrow, scipy, rpy2) when they run, never to parse or describe options.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = (
    "pandas", "numpy", "pyarrow", "scipy", "rpy2", "ketabridge.analyses.models", "ketabridge.batches",
    "ketabridge.analyses.plots",
)  # fmt: skip

# Runs the group as the console script does, then prints the modules loaded as the last stderr line.
RUN_GROUP = """
import json, sys
from ketabridge.cli import main
try:
    main.main(args=sys.argv[1:], prog_name="ketabridge")
except SystemExit as stop:
    code = stop.code
else:
    code = 0
sys.stderr.write("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""


def _modules_loaded(args: list[str], env: dict[str, str] | None = None) -> tuple[str, int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", RUN_GROUP, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return done.stdout, report["code"], report["modules"]


def _heavy(modules: list[str]) -> list[str]:
    return sorted(name for name in modules if name.startswith(tuple(f"{heavy}." for heavy in HEAVY)) or name in HEAVY)


@pytest.mark.parametrize(
    "args, shown",
    [
        (["--help"], "Usage: ketabridge [OPTIONS] COMMAND"),
        (["-h"], "Usage: ketabridge [OPTIONS] COMMAND"),
        (["--version"], "ketabridge, version "),
        (["analyze", "--help"], "Usage: ketabridge analyze [OPTIONS] INPUT"),
        (["batch", "--help"], "--engine [metafor|fast]"),
        (["crosscheck", "--help"], "Usage: ketabridge crosscheck [OPTIONS]"),
        (["run", "--help"], "Usage: ketabridge run [OPTIONS] [PLAN]"),
        (["doctor", "--help"], "Usage: ketabridge doctor [OPTIONS]"),
    ],
)
def test_help_and_version_import_no_analysis_stack(args, shown):
    stdout, code, modules = _modules_loaded(args)
    assert code == 0 and shown in stdout, stdout
    assert _heavy(modules) == []


@pytest.mark.parametrize(
    "words, offered",
    [
        ("ketabridge ", "analyze"),
        ("ketabridge batch --", "--engine"),
        ("ketabridge analyze data.csv --forest plot.png --", "--funnel"),
    ],
)
def test_shell_completion_imports_no_analysis_stack(words, offered):
    """Completion parses the command line, options' callbacks included (click's resilient parsing)."""
    complete = {
        "_KETABRIDGE_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    stdout, code, modules = _modules_loaded([], complete)
    assert code == 0 and f"plain,{offered}" in stdout.split(), stdout  # bash_complete: "type,value" lines
    assert _heavy(modules) == []


def test_import_ketabridge_loads_the_api_on_first_use():
    code = (
        "import json, sys, ketabridge\n"
        "before = sorted(sys.modules)\n"
        "names = {name: getattr(ketabridge, name).__module__ for name in ketabridge.__all__}\n"
        "print(json.dumps({'before': before, 'names': names, 'listed': sorted(set(ketabridge.__all__) - set(dir(ketabridge)))}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert _heavy(report["before"]) == []
    assert (
        report["names"]["rma"] == "ketabridge.analyses.models"
        and report["names"]["batch"] == "ketabridge.batches.engine"
    )
    assert report["names"]["InputError"] == "ketabridge.errors"
    assert report["listed"] == []
