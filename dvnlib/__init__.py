"""Deep Virtual Networks for memory-efficient inference of multiple tasks (Kim, Ahn, Torr, Oh,
CVPR 2019), reproduced.

    import dvnlib
    net = dvnlib.build("J2")            # the physical network at paper size
    logits = net(x, task=1, level=2)    # one (task, level) output; tasks and levels count from 1
    sub = net.extract(task=1, level=2)  # a standalone, physically smaller nn.Module (eval mode)
    info = dvnlib.summary("J2")         # parameters and density of every (task, level)
    net = dvnlib.load("FJ2", "quick", seed=0)                    # a run's kept, trained network
    dvnlib.export(net, 1, net.level_for(1, 100_000), "m.onnx")  # one (task, level) under a budget
    level, precision = net.level_for(1, max_bytes=200_000)       # by file size, as the zoo measured
    dvnlib.export(net, 1, level, "m8.onnx", precision=precision)

Your own tasks (``dvnlib.tasks``)::

    tasks = [dvnlib.Task("clothes", (x, y), (x_test, y_test)), dvnlib.Task("digits", train, test)]
    net = dvnlib.build(tasks)           # a DVN over them: one unit per task
    dvnlib.fit(net, tasks, epochs=16)   # the library's recipe (eq. 4)
    dvnlib.evaluate(net, tasks)         # a table: task, level, params, accuracy

``build``, ``Task`` and the training code import torch lazily, so that ``summary`` and the
scenario registry answer quickly without it.
"""
from ._version import __version__
from .accounting import summary
from .layout import layout
from .scenarios import SCENARIOS, Scenario, get as scenario

__all__ = ["build", "run", "summary", "layout", "scenario", "SCENARIOS", "load", "export",
           "check_notebook_parameters", "Task", "fit", "evaluate"]


def __getattr__(name):
    if name == "Task":  # a class whose module needs torch: imported on first use
        from .tasks import Task
        return Task
    raise AttributeError(f"module 'dvnlib' has no attribute {name!r}")


def build(scenario, *args, **kwargs):
    """A scenario's physical network (``build("J2", profile=None, **overrides)``: see
    ``network.build``), or a DVN over your own tasks (``build(tasks, backbone=None, units=None,
    width=None)``: see ``dvnlib.tasks.build``)."""
    if isinstance(scenario, (str, Scenario)):
        from .network import build as _build
        return _build(scenario, *args, **kwargs)
    from .tasks import build as _build_tasks
    return _build_tasks(scenario, *args, **kwargs)


def fit(net, tasks, *args, **kwargs):
    """Train ``net`` on your own ``tasks`` with the library's recipe; see ``dvnlib.tasks.fit``."""
    from .tasks import fit as _fit
    return _fit(net, tasks, *args, **kwargs)


def evaluate(net, tasks, *args, **kwargs):
    """Test accuracy of every (task, level) of ``net``; see ``dvnlib.tasks.evaluate``."""
    from .tasks import evaluate as _evaluate
    return _evaluate(net, tasks, *args, **kwargs)


def run(*args, **kwargs):
    """Train and evaluate a scenario; see ``dvnlib.runner.run``."""
    from .runner import run as _run
    return _run(*args, **kwargs)


def check_notebook_parameters(namespace):
    """Raise for a notebook parameter the notebooks do not know; see ``dvnlib.request``."""
    from .request import check_notebook_parameters as _check
    _check(namespace)


def load(scenario, profile, seed, method="dvn", root="results", overrides=None):
    """The trained network a run kept, checked against its run's record; see ``dvnlib.kept.load``."""
    from .kept import load as _load
    return _load(scenario, profile, seed, method, root, overrides)


def export(net, task, level, path, preprocess=None, *, precision="float32", calibration=None, data_root=None):
    """One (task, level) of ``net`` as an ONNX file, float32 or int8; see ``dvnlib.deploy.export``."""
    from .deploy import export as _export
    return _export(net, task, level, path, preprocess, precision=precision, calibration=calibration,
                   data_root=data_root)
