"""``download``: from ``dvnlib.run``, the command line and the notebooks to the dataset readers,
once, before any run starts; a bad value refused before anything is read. No network: the
readers are replaced by ones that record the flag."""
import ast
import json
from pathlib import Path

import papermill
import pytest

import dvnlib
from dvnlib import cli
from dvnlib import data as D
from dvnlib import request as Q
from dvnlib.scenarios import FAMILIES
from helpers import TINY

ROOT = Path(__file__).resolve().parent.parent
# the notebooks that run a scenario, one per family (the own-tasks notebook reads no registered dataset)
NOTEBOOKS = [ROOT / "notebooks" / f"{family}.ipynb" for family in FAMILIES]


@pytest.fixture
def reads(monkeypatch):
    """Every (dataset, split, download) the readers are asked for; each read fails as a missing
    dataset would, so nothing trains."""
    calls = []

    def missing(dataset, split, root, download, coarse=False):
        calls.append((dataset, split, download))
        raise D.DatasetMissing(f"{dataset} is not in {root}")
    monkeypatch.setattr(D, "_read", missing)
    return calls


def _run(out, **kw):
    return dvnlib.run("FJ1", "smoke", ["dvn"], [0], data_root=out / "nowhere", out_dir=out, device="cpu",
                      progress=False, overrides=TINY, **kw)


def test_download_is_refused_unless_true_or_false(tmp_path):
    for value in ("maybe", 1, "yes", ["true"]):
        with pytest.raises(ValueError, match="download must be True .* or False: got"):
            Q.check("FJ1", download=value, device="cpu", out_dir=tmp_path)
    for value, expected in ((True, True), (False, False), (None, False), ("True", True), (" false ", False)):
        assert Q.check("FJ1", download=value, device="cpu", out_dir=tmp_path).download is expected


def test_bad_value_fails_before_any_data_is_read(tmp_path, reads):
    with pytest.raises(ValueError, match="download must be"):
        _run(tmp_path, download="maybe")
    assert reads == []


def test_download_reaches_the_reader_before_any_run_starts(tmp_path, reads):
    with pytest.raises(D.DatasetMissing):
        _run(tmp_path, download=True)
    assert reads == [("fashion_mnist", "test", True)]  # the fetch, here, failed first
    assert not list(tmp_path.glob("FJ1/smoke/runs/**/*.lock")), "no run was started"


def test_without_download_the_runs_read_offline(tmp_path, reads):
    with pytest.raises(D.DatasetMissing):
        _run(tmp_path)
    assert reads and all(download is False for _, _, download in reads)


@pytest.mark.skipif(not (D.data_root() / "FashionMNIST" / "raw").exists(),
                    reason="Fashion-MNIST is not installed: bash scripts/get_fashion_mnist.sh")
def test_a_run_with_download_fetches_first_then_trains(tmp_path, monkeypatch):
    """With the data present the fetch is a read; the run then reads its tasks without download."""
    real, calls = D._read, []

    def recording(dataset, split, root, download, coarse=False):
        calls.append(download)
        return real(dataset, split, root, False, coarse)  # no network in a test
    monkeypatch.setattr(D, "_read", recording)
    df = dvnlib.run("FJ1", "smoke", ["dvn"], [0], out_dir=tmp_path, device="cpu", progress=False,
                    overrides=TINY, download=True)
    assert len(df) == 4
    n_fetch = 2 * len(dvnlib.scenario("FJ1").tasks)  # each task's test split, and its training split
    assert calls[:n_fetch] == [True] * n_fetch and calls[n_fetch:] and not any(calls[n_fetch:])


def test_command_line_passes_download(tmp_path, reads, capsys):
    args = ["run", "FJ1", "--methods", "dvn", "--seeds", "0", "--device", "cpu", "--set", "epochs=1",
            "--data-root", str(tmp_path / "nowhere"), "--out", str(tmp_path)]
    assert cli.main(args + ["--download"]) == 2
    assert reads == [("fashion_mnist", "test", True)]
    assert "fashion_mnist is not in" in capsys.readouterr().err
    reads.clear()
    assert cli.main(args) == 2
    assert reads and not any(download for _, _, download in reads)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_take_download_and_pass_it_on(path):
    assert papermill.inspect_notebook(str(path))["download"]["default"] == "False"
    cells = json.loads(path.read_text())["cells"]
    calls = [node for c in cells if c["cell_type"] == "code"
             for node in ast.walk(ast.parse("".join(c["source"]))) if isinstance(node, ast.Call)
             and ast.unparse(node.func) == "dvnlib.run"]
    assert calls, f"{path.name} does not call dvnlib.run"
    for call in calls:
        passed = {k.arg: ast.unparse(k.value) for k in call.keywords}
        assert passed.get("download") == "download", f"{path.name}: dvnlib.run(..., download=download) expected"
