"""nbval over the notebooks at their default parameters: the three families' (the smoke profile
of a twin) and the own-tasks page's (a smoke run of seconds).

Each notebook is copied into a temporary folder and run there, so that its default
``out_dir="results"`` writes into that folder and a finished run left in the checkout cannot
make the test pass without training. The book shows the own-tasks notebook as an executed copy
(``book/own_tasks.ipynb``, which the book does not execute: it needs torch); that the copy is the
notebook's code, run without an error or a warning, is checked here too."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dvnlib.data import data_root
from dvnlib.scenarios import FAMILIES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [ROOT / "notebooks" / f"{family}.ipynb" for family in FAMILIES]
OWN_TASKS = ROOT / "notebooks" / "own_tasks.ipynb"
OWN_TASKS_PAGE = ROOT / "book" / "own_tasks.ipynb"

needs_fashion_mnist = pytest.mark.skipif(not (data_root() / "FashionMNIST" / "raw").exists(),
                                         reason="Fashion-MNIST is not installed: bash scripts/get_fashion_mnist.sh")


def run_at_defaults(notebook: Path, folder: Path) -> None:
    copy = folder / notebook.name
    shutil.copy(notebook, copy)
    env = {**os.environ, "DVN_DATA": str(data_root().resolve()), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval-lax", "--nbval-current-env",
                           "-p", "no:cacheprovider", "--rootdir", str(folder), str(copy)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


@needs_fashion_mnist
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_at_defaults(notebook, tmp_path):
    run_at_defaults(notebook, tmp_path)
    metrics = tmp_path / "results"
    assert list(metrics.rglob("metrics.csv")), "the notebook wrote no metrics.csv"


@needs_fashion_mnist
def test_own_tasks_notebook_runs_at_smoke_size(tmp_path):
    run_at_defaults(OWN_TASKS, tmp_path)


def test_the_own_tasks_page_is_the_notebook_executed():
    """The book's page is ``notebooks/own_tasks.ipynb`` run by papermill (its command is in the
    notebook): the same cells but the injected parameters, every code cell run, and no error or
    stderr output (the book is built with warnings as errors, and does not run this page)."""
    import nbformat
    nb, page = (nbformat.read(p, as_version=4) for p in (OWN_TASKS, OWN_TASKS_PAGE))
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and all(f"{n} =" in tagged[0].source for n in ("size", "test_size", "epochs", "budget"))
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{OWN_TASKS} has outputs stored"
    cells = [c for c in page.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    assert [(c.cell_type, c.source) for c in cells] == [(c.cell_type, c.source) for c in nb.cells], (
        f"{OWN_TASKS_PAGE} is not the notebook's code: rerun the papermill command in {OWN_TASKS.name}")
    for c in page.cells:
        if c.cell_type == "code":
            assert c.execution_count is not None, c.source[:80]
            for o in c.outputs:
                assert o.output_type != "error" and o.get("name") != "stderr", (c.source[:80], o)


def test_notebooks_hold_one_parameters_cell():
    import nbformat
    for nb_path in NOTEBOOKS:
        nb = nbformat.read(nb_path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, nb_path
        src = tagged[0].source
        for name in ("scenario", "profile", "methods", "seeds", "data_root", "out_dir", "device", "workers"):
            assert f"{name} =" in src, (nb_path, name)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{nb_path} has outputs stored"
