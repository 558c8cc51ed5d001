"""Deep Virtual Networks for memory-efficient inference of multiple tasks (Kim, Ahn, Torr, Oh,
CVPR 2019), reproduced.

    import dvnlib
    net = dvnlib.build("J2")            # the physical network at paper size
    logits = net(x, task=1, level=2)    # one (task, level) output; tasks and levels count from 1
    sub = net.extract(task=1, level=2)  # a standalone, physically smaller nn.Module (eval mode)
    info = dvnlib.summary("J2")         # parameters and density of every (task, level)
    net = dvnlib.load("FJ2", "quick", seed=0)                    # a run's kept, trained network
    dvnlib.export(net, 1, net.level_for(1, 100_000), "m.onnx")  # one (task, level) under a budget

``build`` and the training code import torch lazily, so that ``summary`` and the scenario registry
answer quickly without it.
"""
from .accounting import summary
from .layout import layout
from .scenarios import SCENARIOS, get as scenario

__all__ = ["build", "run", "summary", "layout", "scenario", "SCENARIOS", "load", "export",
           "check_notebook_parameters"]
__version__ = "0.1.0"


def build(scenario, profile=None, **overrides):
    from .network import build as _build
    return _build(scenario, profile, **overrides)


def run(*args, **kwargs):
    """Train and evaluate a scenario; see ``dvnlib.runner.run``."""
    from .runner import run as _run
    return _run(*args, **kwargs)


def check_notebook_parameters(namespace):
    """Raise for a notebook parameter the notebooks do not know; see ``dvnlib.request``."""
    from .request import check_notebook_parameters as _check
    _check(namespace)


def load(scenario, profile, seed, method="dvn", root="results", overrides=None):
    """The trained network a run kept, checked against its run's record; see ``dvnlib.deploy.load``."""
    from .deploy import load as _load
    return _load(scenario, profile, seed, method, root, overrides)


def export(net, task, level, path, preprocess=None):
    """One (task, level) of ``net`` as an ONNX file; see ``dvnlib.deploy.export``."""
    from .deploy import export as _export
    return _export(net, task, level, path, preprocess)
