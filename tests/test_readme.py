"""The README's examples run: every python block, and every `$ ketabridge ...` line."""

from __future__ import annotations

import re
import shlex
import shutil

import pytest
from click.testing import CliRunner
from lane import REPO

from ketabridge.cli import main

README = (REPO / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)
CLI_LINES = re.findall(r"^\$ ketabridge (.*)$", README, flags=re.M)


@pytest.fixture
def in_copy_of_repo_data(tmp_path, monkeypatch):
    """Run where the README's relative paths (data/...) resolve, without writing into the repo."""
    shutil.copytree(REPO / "data", tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_has_examples():
    assert PYTHON_BLOCKS and CLI_LINES


@pytest.mark.requires_r
@pytest.mark.parametrize("block", PYTHON_BLOCKS)
def test_python_example_runs(block, in_copy_of_repo_data, capsys):
    exec(compile(block, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip(), "each README example shows its result"


@pytest.mark.requires_r
@pytest.mark.parametrize("line", CLI_LINES)
def test_cli_example_runs(line, in_copy_of_repo_data):
    result = CliRunner().invoke(main, shlex.split(line))
    assert result.exit_code == 0, result.output
    if "--out" in line:
        assert (in_copy_of_repo_data / shlex.split(line)[shlex.split(line).index("--out") + 1]).stat().st_size > 0


def test_readme_commands_are_the_makefile_and_ci_commands():
    assert "make demo" in README and "make test" in README
    assert "make test" in (REPO / ".ci" / "run").read_text()
