"""nbval over the three notebooks at their default parameters (the smoke profile of a twin).

Each notebook is copied into a temporary folder and run there, so that its default
``out_dir="results"`` writes into that folder and a finished run left in the checkout cannot
make the test pass without training."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dvnlib.data import data_root

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.skipif(not (data_root() / "FashionMNIST" / "raw").exists(),
                    reason="Fashion-MNIST is not installed: bash scripts/get_fashion_mnist.sh")
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_at_defaults(notebook, tmp_path):
    copy = tmp_path / notebook.name
    shutil.copy(notebook, copy)
    env = {**os.environ, "DVN_DATA": str(data_root().resolve()), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval-lax", "--nbval-current-env",
                           "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(copy)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    metrics = tmp_path / "results"
    assert list(metrics.rglob("metrics.csv")), "the notebook wrote no metrics.csv"


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
