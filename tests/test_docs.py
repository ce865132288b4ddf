"""The documentation site builds with warnings as errors, documents every public name and every
command, and a broken reference fails it (so the build in `make docs` and here can fail)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from lane import REPO

import ketabridge

pytest.importorskip("sphinx", reason="the docs extra (make setup installs it)")
pytest.importorskip("numpydoc", reason="the docs extra (make setup installs it)")
pytest.importorskip("sphinx_click", reason="the docs extra (make setup installs it)")
pytest.importorskip("myst_parser", reason="the docs extra (make setup installs it)")


def build(source, out) -> subprocess.CompletedProcess:
    """What `make docs` runs."""
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q", str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    built = build(REPO / "docs", out)
    assert built.returncode == 0, built.stderr
    return out


def test_every_public_name_has_its_reference(site):
    documented = set(re.findall(r'id="ketabridge\.(\w+)"', (site / "api.html").read_text()))
    assert set(ketabridge.__all__) <= documented, set(ketabridge.__all__) - documented


def test_every_command_and_option_is_in_the_cli_reference(site):
    from ketabridge.cli import main

    page = (site / "cli.html").read_text()
    for name, command in main.commands.items():
        assert f'id="ketabridge-{name}"' in page, name
        for option in command.params:
            for flag in option.opts:
                if flag.startswith("--"):
                    assert flag in page, (name, flag)


def test_the_readme_sections_are_the_pages(site):
    pages = {
        "getting-started": "make demo",
        "case-study": "Zhao",
        "python": "In a notebook",
        "batch": "The fast engine",
        "crosscheck": "crosscheck",
        "versions": "metafor",
    }
    for page, words in pages.items():
        assert words in (site / f"{page}.html").read_text(), page


def test_a_broken_reference_fails_the_build(tmp_path):
    """The site's own configuration, on one page that names a function ketabridge does not have."""
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "docs" / "conf.py", tmp_path / "docs" / "conf.py")
    (tmp_path / "docs" / "index.md").write_text("# ketabridge\n\nSee {func}`ketabridge.no_such_function`.\n")
    built = build(tmp_path / "docs", tmp_path / "out")
    assert built.returncode != 0 and "no_such_function" in built.stderr
