"""Where a run's numbers come from: the code that computed them (``code_version``), and the
commit, libraries and machine it ran on (``git_state``, ``versions``, ``hardware``).

**A run's code is found from the code itself.** A (method, seed) run executes its method's
function, inside the shared training path: ``train`` (the loop and the ``RunContext`` every
method runs in) and ``data`` (how its tasks are read). ``code_files`` starts from the module
that defines the method's function and from those two, and follows every import of a ``dvnlib``
module it finds in their source (imports inside functions included), transitively. A new
training module is therefore covered as soon as something that trains imports it, and a module
nothing that trains imports is not covered, with no list of training modules to keep by hand.

Not hashed, and not followed:

* a package's ``__init__`` (``dvnlib``'s, ``dvnlib.methods``'s): the package's face, which names
  it exports. The methods registry is one: a run's key holds its method's name and hashes its
  function's module, so registering or editing one method leaves every other method's runs
  valid, and a method registered from outside the package (``methods.register``) is hashed by
  its own module file and the ``dvnlib`` modules it imports;
* what is asked (``scenarios``, ``request``): everything they decide for a run is in its
  configuration (``runs.configuration``: the scenario, the resolved settings and backbone),
  which is part of its key, so editing one scenario makes stale only the runs it changes;
* scheduling (``workers``, ``locks``): where and when a run executes, never what it computes.

The hash reads the files' contents under their module names: the same with or without git and
wherever the package lies, and different after any edit to a file a run executes.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import os
import platform
import subprocess
from pathlib import Path
from typing import Callable

PACKAGE = Path(__file__).resolve().parent  # the dvnlib whose files are hashed
SHARED = ("dvnlib.train", "dvnlib.data")  # the training path every method runs in
NOT_FOLLOWED = ("dvnlib.scenarios", "dvnlib.request", "dvnlib.workers", "dvnlib.locks")


def _module_file(name: str, package: Path, face: bool = False) -> Path | None:
    """The file of ``dvnlib`` module ``name`` in ``package``; None for a module that is not there
    (a name imported from a module, say), and for a package's ``__init__`` unless ``face`` (a
    method defined there)."""
    parts = name.split(".")[1:]
    path = package.joinpath(*parts)
    candidates = ([path.with_suffix(".py")] if parts else []) + ([path / "__init__.py"] if face else [])
    return next((f for f in candidates if f.is_file()), None)


@functools.lru_cache(maxsize=256)  # by content: an edited file is parsed again
def _imports(source: bytes, module: str, is_package: bool = False) -> frozenset[str]:
    """Every ``dvnlib`` module name that ``source`` (module ``module``, a package's ``__init__``
    if ``is_package``) imports, absolute or relative, anywhere in it; ``from X import y`` gives
    ``X.y`` as well as ``X``, since y may be a submodule (a name that is not one has no file and
    is dropped later)."""
    found = set()
    pkg = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level > len(pkg):
                    continue  # relative to a package outside dvnlib
                base = ".".join([*pkg[:len(pkg) - node.level + 1], *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return frozenset(m for m in found if m == "dvnlib" or m.startswith("dvnlib."))


def _method_source(fn: Callable) -> tuple[str, bytes]:
    """(module name, source) of a method function: its module's file, or, where the function was
    defined where no file holds it (a notebook cell), the function's own source."""
    fn = inspect.unwrap(fn)
    module = getattr(fn, "__module__", None)
    if module is None:
        raise ValueError(f"method {fn!r} has no module: register a function defined with def")
    try:
        path = inspect.getsourcefile(fn)
        if path and Path(path).is_file():
            return module, Path(path).read_bytes()
        return module, inspect.getsource(fn).encode()
    except (OSError, TypeError):
        raise ValueError(f"the source of method {getattr(fn, '__qualname__', fn)!r} cannot be found, so its runs "
                         "cannot be told apart from another version's: define it in a module file") from None


def code_files(fn: Callable, package: str | os.PathLike | None = None) -> dict[str, bytes]:
    """Module name -> source of everything a run of method function ``fn`` executes (see the
    module docstring), read from ``package`` (default: this ``dvnlib``)."""
    base = Path(package or PACKAGE)
    module, source = _method_source(fn)
    files: dict[str, bytes] = {}
    todo = [*SHARED]
    if module == "dvnlib" or module.startswith("dvnlib."):
        f = _module_file(module, base, face=True)  # a method's own module, even a package's face
        if f is None:
            raise ValueError(f"method {getattr(fn, '__qualname__', fn)!r} is in module {module}, "
                             f"which has no file under {base}")
        files[module] = f.read_bytes()
        todo += _imports(files[module], module, f.name == "__init__.py")
    else:
        files[module] = source
        todo += _imports(source, module)
    while todo:
        name = todo.pop()
        if name in files or name in NOT_FOLLOWED:
            continue
        f = _module_file(name, base)
        if f is None:
            continue
        files[name] = f.read_bytes()
        todo += _imports(files[name], name)
    return dict(sorted(files.items()))


def code_version(fn: Callable, package: str | os.PathLike | None = None) -> str:
    """A hash of ``code_files(fn, package)``: the code a run of method function ``fn`` executes."""
    h = hashlib.sha256()
    for name, source in code_files(fn, package).items():
        h.update(name.encode() + b"\0" + source + b"\0")
    return h.hexdigest()[:16]


def git_state(cwd: str | os.PathLike | None = None) -> dict:
    here = Path(cwd or PACKAGE)

    def git(*args):
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "dvnlib"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dvnlib_dirty": None}
    return {"commit": commit or None, "dvnlib_dirty": dirty}


# The vector instructions that decide which CPU kernels torch and ONNX Runtime run: two CPUs of
# one model name may differ here, and with them the speed and the last bits of a result.
SIMD = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "VNNI", "avx512_bf16": "BF16", "amx_tile": "AMX"}


def simd(flags: set[str]) -> str:
    """The widest vector instruction set among a CPU's ``flags`` with its AI extensions, in words
    ("AVX-512 + VNNI + BF16", "AVX2"); "" for none of them (another architecture)."""
    names = [name for flag, name in SIMD.items() if flag in flags]
    if "AVX-512" in names and "AVX2" in names:
        names.remove("AVX2")  # implied
    return " + ".join(names)


def machine(hw: dict) -> str:
    """A run's machine in words, from its record's ``hardware``: the GPU, else the CPU with its
    vector instructions ("AMD EPYC, AVX2"; a record from before they were kept says so)."""
    if hw.get("gpu"):
        return hw["gpu"]
    if "simd" not in hw:
        return f"{hw.get('cpu', 'CPU not recorded')}, instruction set not recorded"
    return f"{hw.get('cpu', '?')}, {hw['simd'] or 'no x86 vector extensions'}"


def hardware(device: str = "cpu") -> dict:
    import torch
    model, flags = None, None  # the first CPU's: they are alike
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model is None:
                model = value.strip()
            elif key.strip() == "flags" and flags is None:
                flags = set(value.split())
    except OSError:
        pass
    info = {"cpu": model or platform.processor() or platform.machine(), "simd": simd(flags or set()), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform()}
    if str(device).startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def versions() -> dict:
    import importlib.metadata as md

    from ._version import __version__
    out = {"python": platform.python_version()}
    for pkg in ("torch", "torchvision", "numpy", "pandas"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    # the version of the code that ran, not of whichever dvnlib is installed (a checkout on the
    # path, or none installed at all)
    out["dvnlib"] = __version__
    return out
