"""Code identity per method: a run's code hash covers the code that run executes, found from the
code itself, so adding or editing one method leaves other methods' runs valid, and a method
registered from outside the package is hashed by its own source."""
import shutil
import sys
from pathlib import Path

import pytest

import dvnlib
import dvnlib.methods as M
from dvnlib import provenance as P
from dvnlib import request as Q
from dvnlib import runs
from dvnlib.data import data_root
from helpers import TINY, small_run

REPO = Path(__file__).resolve().parent.parent
needs_data = pytest.mark.skipif(not (data_root() / "FashionMNIST" / "raw").exists(),
                                reason="Fashion-MNIST is not installed: bash scripts/get_fashion_mnist.sh")
# Every method the committed study has runs of.
STUDY_METHODS = sorted({p.name for p in REPO.glob("results/*/study/runs/*") if p.is_dir()})


@pytest.fixture
def copy(tmp_path) -> Path:
    """A copy of the dvnlib package, to edit."""
    dest = tmp_path / "pkg" / "dvnlib"
    shutil.copytree(Path(dvnlib.__file__).parent, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _edit(path: Path, text: str = "\n# an edit\n") -> None:
    path.write_text(path.read_text() + text)


def _hashes(package, methods=tuple(M.METHODS)) -> dict[str, str]:
    return {m: P.code_version(M.get(m), package) for m in methods}


def test_the_hash_reads_contents_not_places(copy):
    assert _hashes(copy) == _hashes(None)


def test_adding_a_method_leaves_the_study_methods_code_unchanged(copy):
    assert len(STUDY_METHODS) >= 10 and {"dvn", "baseline", "lwf"} <= set(STUDY_METHODS)
    before = _hashes(copy, STUDY_METHODS)
    (copy / "methods" / "mine.py").write_text("")
    assert _hashes(copy, STUDY_METHODS) == before
    # a whole method, in the package's registry too
    (copy / "methods" / "mine.py").write_text("from ..train import RunContext\n\n\ndef mine(ctx: RunContext):\n"
                                             "    return []\n")
    _edit(copy / "methods" / "__init__.py", "\nfrom . import mine\nMETHODS['mine'] = mine.mine\n")
    assert _hashes(copy, STUDY_METHODS) == before


def test_editing_one_method_changes_its_hash_only(copy):
    before = _hashes(copy)
    _edit(copy / "methods" / "packnet.py")
    after = _hashes(copy)
    assert after["packnet"] != before["packnet"]
    assert {m: h for m, h in after.items() if m != "packnet"} == {m: h for m, h in before.items() if m != "packnet"}
    _edit(copy / "methods" / "nestednet.py")
    again = _hashes(copy)
    assert again["nestednet"] != after["nestednet"] and again["nestednet-me"] != after["nestednet-me"]
    assert again["dvn"] == before["dvn"] and again["lwf"] == before["lwf"]


def test_shared_code_changes_every_method_and_the_rest_none(copy):
    before = _hashes(copy)
    # not executed by a run: the face of the package, the command line, the book's report,
    # scheduling, and what is asked (its effect is in the run's configuration)
    for f in ("__init__.py", "_version.py", "cli.py", "bench/plan.py", "bench/masked.py", "timing.py", "paper.py", "deploy.py",
              "kept.py", "budget.py", "demo.py",
              "trained.py", "zoo.py", "report/tables.py", "workers.py", "locks.py", "scenarios.py", "request.py",
              "runs.py", "runner.py", "provenance.py"):
        if (copy / f).exists():
            _edit(copy / f)
    assert _hashes(copy) == before
    for f in ("train.py", "data.py", "network.py", "methods/common.py"):  # the shared training path
        _edit(copy / f)
        after = _hashes(copy)
        assert all(after[m] != before[m] for m in before), f
        before = after


def test_imports_are_found_anywhere_in_a_module(copy):
    """An import inside a function counts: ``train.RunContext`` reads its data through one."""
    names = set(P.code_files(M.get("dvn"), copy))
    assert {"dvnlib.methods.dvn", "dvnlib.methods.common", "dvnlib.methods.sequential", "dvnlib.train",
            "dvnlib.data", "dvnlib.network", "dvnlib.layout"} <= names
    assert not names & {"dvnlib.methods.packnet", "dvnlib.methods.baseline", "dvnlib.locks", "dvnlib.scenarios"}
    (copy / "helper.py").write_text("X = 1\n")
    _edit(copy / "methods" / "dvn.py", "\n\ndef _later():\n    from ..helper import X\n    return X\n")
    assert "dvnlib.helper" in P.code_files(M.get("dvn"), copy)
    before = P.code_version(M.get("dvn"), copy)
    _edit(copy / "helper.py")
    assert P.code_version(M.get("dvn"), copy) != before


def test_a_method_in_a_package_face_is_hashed_by_it(copy):
    """The faces of packages are left out, except the one that defines the method itself."""
    def registry_method(ctx):
        return []
    registry_method.__module__ = "dvnlib.methods"
    assert {"dvnlib.methods", "dvnlib.train"} <= set(P.code_files(registry_method, copy))
    before, dvn = P.code_version(registry_method, copy), P.code_version(M.get("dvn"), copy)
    _edit(copy / "methods" / "__init__.py")
    assert P.code_version(registry_method, copy) != before
    assert P.code_version(M.get("dvn"), copy) == dvn


def _run(out, method="dvn") -> tuple[runs.Plan, runs.Run]:
    """The plan of FJ1 smoke (tiny) with ``method`` at seed 0, resolved now, and that run."""
    plan = runs.resolve(Q.check("FJ1", "smoke", [method], [0], TINY, "cpu", out))
    return plan, plan.run(method, 0)


def _finished(out, method="dvn") -> bool:
    return runs.is_finished(*_run(out, method))


@needs_data
def test_a_finished_run_stays_finished_when_a_method_is_added(tmp_path, copy, monkeypatch):
    monkeypatch.setattr(P, "PACKAGE", copy)  # the run's code is hashed from the copy
    small_run(tmp_path)
    assert _finished(tmp_path)
    (copy / "methods" / "mine.py").write_text("")
    _edit(copy / "methods" / "packnet.py")
    assert _finished(tmp_path)
    _edit(copy / "methods" / "dvn.py")
    assert not _finished(tmp_path)


EXTERNAL = '''from dvnlib.methods import baseline


def full_width(ctx):
    """The full-width baselines, under another name."""
    return baseline.baseline(ctx, "my-full", top_only=True)
'''


@pytest.fixture
def external(tmp_path, monkeypatch):
    """A method registered from a module outside the package."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "my_method.py").write_text(EXTERNAL)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(M, "METHODS", dict(M.METHODS))
    import my_method
    M.register("my-full", my_method.full_width)
    yield folder / "my_method.py"
    sys.modules.pop("my_method", None)


def test_an_external_method_is_hashed_by_its_source(tmp_path, external):
    assert set(P.code_files(M.get("my-full"))) >= {"my_method", "dvnlib.methods.baseline", "dvnlib.train"}
    mine, dvn = _run(tmp_path, "my-full")[1].key, _run(tmp_path)[1].key
    _edit(external)
    assert _run(tmp_path, "my-full")[1].key != mine
    assert _run(tmp_path)[1].key == dvn


@needs_data
def test_an_external_method_runs_and_is_retrained_after_an_edit(tmp_path, external):
    # in worker processes, which import dvnlib afresh: the plan carries the method's function
    df = small_run(tmp_path, methods=["my-full"], seeds=[0, 1], workers=2)
    assert set(df["method"]) == {"my-full"} and len(df) == 4  # one full-width network per task and seed
    assert _finished(tmp_path, "my-full")
    _edit(external)
    assert not _finished(tmp_path, "my-full")


@pytest.mark.parametrize("name, fn, match", [
    ("dvn", lambda ctx: [], "built in"),
    ("two words", lambda ctx: [], "method name"),
    ("a,b", lambda ctx: [], "method name"),
    ("mine", "not a function", "expected a function"),
])
def test_register_refuses_what_cannot_be_a_method(monkeypatch, name, fn, match):
    monkeypatch.setattr(M, "METHODS", dict(M.METHODS))
    with pytest.raises(ValueError, match=match):
        M.register(name, fn)
    assert name not in M.METHODS or name == "dvn"


def test_a_run_names_its_machine_with_its_vector_instructions():
    """Two CPUs of one model name may run other kernels (AVX-512 against AVX2), and so train at
    other speeds and round otherwise: a run's record names the instruction set it ran on."""
    assert P.simd({"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"}) == "AVX-512 + VNNI + BF16"
    assert P.simd({"avx2", "fma"}) == "AVX2" and P.simd({"neon"}) == ""
    assert P.machine({"cpu": "AMD EPYC", "simd": "AVX2"}) == "AMD EPYC, AVX2"
    assert P.machine({"cpu": "AMD EPYC"}) == "AMD EPYC, instruction set not recorded"  # an older record
    assert P.machine({"cpu": "x", "gpu": "NVIDIA H200"}) == "NVIDIA H200"
    assert set(P.hardware()) >= {"cpu", "simd", "cpu_count", "torch_threads"}
