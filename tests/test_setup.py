"""make setup installs only what is missing, and says in one line what to do where it cannot."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from lane import REPO

SCRIPT = REPO / "scripts" / "setup-r.sh"


@pytest.mark.requires_r
def test_r_present_means_nothing_to_do():
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout == "" and done.stderr == ""


def test_without_r_or_apt_get_it_says_what_to_install_in_one_line(tmp_path):
    # A PATH holding only what the script itself needs: no R, no apt-get.
    for tool in ("bash", "id"):
        os.symlink(shutil.which(tool), tmp_path / tool)
    done = subprocess.run(
        [str(tmp_path / "bash"), str(SCRIPT)], capture_output=True, text=True, env={"PATH": str(tmp_path)}, timeout=60
    )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "conda install -c conda-forge r-metafor" in lines[0] and 'install.packages(c("metafor"' in lines[0]
    assert "Traceback" not in done.stderr


def test_second_setup_has_nothing_to_rebuild():
    """After make setup, the venv target is up to date (make -q exits 0), so a rerun installs nothing."""
    done = subprocess.run(["make", "-q", "venv"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
