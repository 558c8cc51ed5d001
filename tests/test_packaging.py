"""The package as others install it: a wheel built from this tree holds every subpackage,
declares its dependencies and extras (the book's without torch) and carries the one version; its
core alone answers ``python -m dvnlib summary``.

The wheel is built the way a release would be: from a copy of the files git would commit (tracked,
or untracked and not ignored), sdist first and the wheel from the sdist, so that nothing a
previous build left in the tree (``build/``, ``*.egg-info``, whose file lists setuptools reuses)
can hide a module that package discovery misses. uv builds it (a uv venv has no pip); a few
seconds with uv's cache warm."""
import email.parser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import dvnlib
import dvnlib._version
from dvnlib import provenance

ROOT = Path(__file__).resolve().parent.parent
UV = shutil.which("uv")

EXTRAS = ("train", "book", "deploy", "cluster", "test")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if UV is None:
        pytest.skip("uv is not installed (pip install uv): it builds the wheel")
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout: the files a release holds are the ones git would commit")
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    for name in filter(None, listed):
        if (ROOT / name).is_file():  # a file deleted but not yet committed is listed too
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    p = subprocess.run([UV, "build", "--quiet", "--out-dir", str(out), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    (whl,) = out.glob("*.whl")
    return whl


def _metadata(whl: Path):
    with zipfile.ZipFile(whl) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(z.read(name).decode())


def _requires(meta) -> dict[str, list[Requirement]]:
    """Requirements by extra ("" for the core), each extra with the extras it names expanded."""
    by: dict[str, list[Requirement]] = {}
    for line in meta.get_all("Requires-Dist") or []:
        r = Requirement(line)
        extra = next((e for e in EXTRAS + tuple(meta.get_all("Provides-Extra") or ())
                      if r.marker and r.marker.evaluate({"extra": e})), "")
        by.setdefault(extra, []).append(Requirement(str(r).split(";")[0]))

    def expand(extra: str, seen=()) -> list[Requirement]:
        out = []
        for r in by.get(extra, []):
            if r.name == "dvnlib":
                for e in sorted(r.extras):
                    out += [] if e in seen else expand(e, (*seen, extra))
            else:
                out.append(r)
        return out
    return {e: expand(e) + (by[""] if e else []) for e in by}


def _pins(path: Path) -> dict[str, str]:
    """name -> pinned version of a requirements file, following ``-r`` includes."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r"):
            pins.update(_pins(path.parent / line[2:].strip()))
        elif line:
            r = Requirement(line)
            (pin,) = [s.version for s in r.specifier if s.operator == "=="]
            pins[r.name.lower()] = pin
    return pins


def test_source_packages_are_packages():
    """Every folder of dvnlib/ with Python code has an __init__.py, so package discovery finds it."""
    for d in ROOT.joinpath("dvnlib").rglob("*"):
        if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py")):
            assert (d / "__init__.py").is_file(), f"{d.relative_to(ROOT)} has modules but no __init__.py"


def test_wheel_holds_every_module_of_the_tree(wheel):
    tree = {p.relative_to(ROOT).as_posix() for p in ROOT.joinpath("dvnlib").rglob("*.py")
            if "__pycache__" not in p.parts}
    packages = {str(Path(p).parent) for p in tree if p.endswith("/__init__.py")}
    assert {"dvnlib", "dvnlib/methods", "dvnlib/report"} <= packages
    with zipfile.ZipFile(wheel) as z:
        held = {n for n in z.namelist() if n.endswith(".py")}
        assert not tree - held, f"the wheel leaves out {sorted(tree - held)}"
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in z.namelist())


def test_wheel_declares_dependencies_and_extras(wheel):
    meta = _metadata(wheel)
    assert meta["License-Expression"] == "MIT"
    assert set(EXTRAS) <= set(meta.get_all("Provides-Extra"))
    req = _requires(meta)
    names = {e: {r.name.lower() for r in rs} for e, rs in req.items()}
    assert names[""] == {"numpy"}  # the core: summary and the scenario registry, no torch
    assert {"torch", "torchvision", "tqdm", "pandas"} <= names["train"]
    assert {"pandas", "scipy", "matplotlib", "seaborn", "jupyter-book", "ipykernel"} <= names["book"]
    assert "torch" not in names["book"]  # the light environment a reader of the book installs
    assert {"onnx", "onnxscript", "onnxruntime", "torch"} <= names["deploy"]
    assert {"submitit", "torch"} <= names["cluster"]
    assert {"pytest", "nbval", "papermill", "playwright", "torch", "scipy", "onnxruntime", "submitit"} <= names["test"]
    # the exact pins are in the requirements files; each lies inside the range the package declares
    ranges = {r.name.lower(): r.specifier for rs in req.values() for r in rs}
    pins = _pins(ROOT / "requirements.txt")
    assert _pins(ROOT / "requirements-book.txt").items() <= pins.items()
    for name, version in pins.items():
        assert name in ranges, f"{name} is pinned in requirements.txt but not declared in pyproject.toml"
        assert ranges[name].contains(version, prereleases=True), f"{name}=={version} is outside {ranges[name]}"
    for name in ranges:
        assert name in pins, f"{name} is declared in pyproject.toml but not pinned in requirements.txt"
    book = _pins(ROOT / "requirements-book.txt")
    assert names["book"] | names[""] == set(book), "requirements-book.txt pins exactly the book extra"


def test_one_version(wheel):
    meta = _metadata(wheel)
    assert meta["Version"] == dvnlib.__version__
    assert wheel.name.startswith(f"dvnlib-{dvnlib.__version__}-")
    (sdist,) = wheel.parent.glob("*.tar.gz")
    assert sdist.name == f"dvnlib-{dvnlib.__version__}.tar.gz"
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and "\nversion =" not in text.split("[tool.setuptools.dynamic]")[0]


def test_run_records_carry_the_version_of_the_code_that_ran(monkeypatch):
    """Not the installed distribution's, which may be another checkout's, or none."""
    monkeypatch.setattr(dvnlib._version, "__version__", "9.9.9")
    assert provenance.versions()["dvnlib"] == "9.9.9"


def test_core_install_answers_summary_without_torch(wheel, tmp_path):
    """The wheel with its core dependencies only, in a fresh environment, outside this tree."""
    env = tmp_path / "env"
    subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, str(env)], check=True, timeout=120)
    py = env / "bin" / "python"
    p = subprocess.run([UV, "pip", "install", "--quiet", "--python", str(py), str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    p = subprocess.run([str(py), "-c", "import importlib.util, runpy, sys; "
                        "assert importlib.util.find_spec('torch') is None, 'torch is installed'; "
                        "sys.argv = ['dvnlib', 'summary', 'J2', '--json']; runpy.run_module('dvnlib', run_name='__main__')"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path, env=clean)
    assert p.returncode == 0, p.stderr[-3000:]
    info = json.loads(p.stdout)
    assert info["scenario"] == "J2" and len(info["outputs"]) == 16
    assert info == json.loads(json.dumps(dvnlib.summary("J2")))
