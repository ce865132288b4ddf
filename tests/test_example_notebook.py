"""examples/walkthrough.ipynb runs, every cell, in a real Jupyter kernel (nbclient + ipykernel)."""

from __future__ import annotations

import os
import shutil

import pytest
from lane import REPO

nbformat = pytest.importorskip("nbformat", reason="the docs extra (make setup installs it)")
nbclient = pytest.importorskip("nbclient", reason="the docs extra (make setup installs it)")
pytest.importorskip("ipykernel", reason="the docs extra (make setup installs it)")

NOTEBOOK = REPO / "examples" / "walkthrough.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook run from a copy of examples/ beside a copy of data/, so it writes nothing into the repo."""
    root = tmp_path_factory.mktemp("notebook")
    shutil.copytree(REPO / "data", root / "data")
    shutil.copytree(REPO / "examples", root / "examples")
    notebook = nbformat.read(root / "examples" / NOTEBOOK.name, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",  # ipykernel's own spec: the Python running the tests
        resources={"metadata": {"path": str(root / "examples")}},
    )
    client.execute()  # a cell that raises fails here (CellExecutionError), naming the cell
    nbformat.write(notebook, root / "walkthrough.executed.ipynb")
    if os.environ.get("KETABRIDGE_NOTEBOOK_OUT"):
        shutil.copy(root / "walkthrough.executed.ipynb", os.environ["KETABRIDGE_NOTEBOOK_OUT"])
    return notebook


def outputs(cell) -> dict:
    shown = {}
    for output in cell.get("outputs", []):
        shown.update(output.get("data", {}))
        if output["output_type"] == "error":
            shown["error"] = output
    return shown


@pytest.mark.requires_r
def test_every_cell_ran_without_error(executed):
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    assert not [cell.source for cell in code if "error" in outputs(cell)]


@pytest.mark.requires_r
def test_results_and_plots_show_themselves(executed):
    shown = [outputs(cell) for cell in executed.cells if cell.cell_type == "code"]
    html = [out["text/html"] for out in shown if "text/html" in out]
    assert any("<strong>MetaResult (rma)</strong>: Random-effects model (REML, RR, k = 13)" in page for page in html)
    assert any("<strong>BatchResult</strong>: 3 analyses: " in page for page in html)
    assert any("<strong>ProportionsResult</strong>" in page for page in html)
    assert any("<strong>BiasTestResult (regtest)</strong>" in page for page in html)
    svgs = [out["image/svg+xml"] for out in shown if "image/svg+xml" in out]
    assert len(svgs) == 2 and all("<svg" in svg for svg in svgs)  # forest and funnel, inline
    # the batch's progress bar is tqdm.auto's notebook widget, not text on stderr
    assert any("application/vnd.jupyter.widget-view+json" in out for out in shown)
