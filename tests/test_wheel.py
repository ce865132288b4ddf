"""The wheel carries the R files: build it, install it in a fresh venv outside the repo, run an analysis."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from lane import BCG_CSV, REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: the test extras bring setuptools and wheel, so no download is needed.
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("ketabridge-*.whl")
    return built


def test_wheel_contains_the_r_files(wheel):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(Path(name).name for name in names if name.startswith("ketabridge/r/") and name.endswith(".R"))
    assert shipped == sorted(path.name for path in (REPO / "ketabridge" / "r").glob("*.R"))


@pytest.mark.requires_r
def test_installed_wheel_runs_an_analysis_outside_the_repo(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies come from the test venv (no network in tests); ketabridge from the wheel only.
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)], check=True)
    code = (
        "import ketabridge, pathlib\n"
        f"es = ketabridge.escalc('RR', {str(BCG_CSV)!r}, ai='tpos', bi='tneg', ci='cpos', di='cneg')\n"
        "print(ketabridge.__file__)\n"
        "print(ketabridge.rma(es).glance()['estimate'].iloc[0])\n"
    )
    done = subprocess.run([str(python), "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    location, estimate = done.stdout.split()
    assert Path(location).is_relative_to(venv)
    # Viechtbauer (2010, J Stat Softw 36(3)), random-effects model for the BCG data: REML estimate -0.7145.
    assert abs(float(estimate) - -0.7145) <= 0.00005
    cli = subprocess.run(
        [
            str(venv / "bin" / "ketabridge"),
            "analyze",
            str(BCG_CSV),
            "--measure",
            "RR",
            "--ai",
            "tpos",
            "--bi",
            "tneg",
            "--ci",
            "cpos",
            "--di",
            "cneg",
            "--format",
            "csv",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr
    # The CRPS case study ships inside the wheel, so `ketabridge run` works without the repo.
    run = subprocess.run(
        [str(venv / "bin" / "ketabridge"), "run", "--quiet", "--out", "crps"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "relief_immediate" in run.stdout and (tmp_path / "crps" / "report.html").stat().st_size > 10_000
    assert "site-packages/ketabridge/casestudy/plan.toml" in (tmp_path / "crps" / "provenance.json").read_text()
