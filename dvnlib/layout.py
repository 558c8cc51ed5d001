"""A scenario resolved into what a network needs: backbone, tasks' input layers and heads, the
unit configuration and unit sizes. Plain data (no torch), shared by ``network.build`` and the
parameter accounting so that the CLI summary answers without importing torch."""
from __future__ import annotations

from dataclasses import dataclass

from . import scenarios as S
from . import units as U
from .backbones import BackboneSpec

RULES = ("dvn", "prefix")
# BatchNorm after every split convolution, three ways (the book's ablation):
# per_output     every (task, level) has its own BN: affine parameters and running statistics;
# shared_affine  one full-width scale and shift per convolution, sliced like the weights (the
#                paper's text: a unit's parameters are shared by every output that uses it),
#                running statistics per (task, level);
# shared         one full-width BN per convolution, affine and statistics, sliced.
BN_MODES = ("per_output", "shared_affine", "shared")


@dataclass(frozen=True)
class TaskIO:
    """What a task's input layer and heads need: image channels, classes, input-layer stride."""
    in_channels: int
    num_classes: int
    stride: int = 1
    input_size: int = 32


@dataclass(frozen=True)
class Layout:
    scenario: str
    spec: BackboneSpec
    tasks: tuple[TaskIO, ...]
    config: U.Configuration
    unit_sizes: tuple[int, ...]
    bn: str = "per_output"

    @property
    def k(self) -> int:
        return len(self.unit_sizes)

    def slices(self, task: int, level: int) -> dict[int, tuple[int, int]]:
        """Channels [start, stop) of output (task, level) in a split layer of every width: the one
        place where unit ranges become channel ranges."""
        first, last = U.unit_range(self.config, task, level)
        return {c: U.channel_slice(c, self.unit_sizes, first, last) for c in self.spec.split_channels}

    def widths(self, task: int, level: int) -> dict[int, int]:
        """How many of a split layer's channels output (task, level) uses, by the layer's width."""
        return {c: b - a for c, (a, b) in self.slices(task, level).items()}


def layout(scenario: str | S.Scenario, profile: str | None = None, *, depth: int | None = None,
           width: int | None = None, base_width: int | None = None, units: int | None = None,
           unit_sizes: tuple[int, ...] | None = None,
           rule: str = "dvn", bn: str = "per_output", backbone: BackboneSpec | None = None) -> Layout:
    """Resolve ``scenario`` at paper size, or at ``profile``'s size, with explicit overrides.
    ``backbone``: the profile's backbone already resolved (a run's ``runs.Plan`` has it).

    ``units`` changes k (equal units); ``rule`` picks the configuration: ``"dvn"`` (eq. 3, one
    unit per task) or ``"prefix"`` (the plain order 1..k for every task)."""
    s = S.get(scenario)
    k = units if units is not None else (len(unit_sizes) if unit_sizes is not None else s.k)
    if unit_sizes is None:
        unit_sizes = s.units if k == s.k else (1,) * k
    tasks = tuple(TaskIO(t.in_channels, t.num_classes, s.stride(i + 1), t.input_size)
                  for i, t in enumerate(s.tasks))
    if backbone is not None and (depth, width, base_width) != (None, None, None):
        raise ValueError("give a resolved backbone or a depth, width and base width, not both")
    spec = backbone if backbone is not None else s.backbone(profile, depth, width, base_width)
    return checked(s.id, spec, tasks, k, tuple(unit_sizes), rule, bn)


def checked(name: str, spec: BackboneSpec, tasks: tuple[TaskIO, ...], k: int, unit_sizes: tuple[int, ...],
            rule: str = "dvn", bn: str = "per_output") -> Layout:
    """The layout of ``k`` units of ``unit_sizes`` over ``tasks`` on ``spec``, once the combination
    is known to be buildable: a scenario's (``layout``) and your own tasks' (``dvnlib.build``)
    alike. ``name`` names the tasks in errors (a scenario id)."""
    if rule not in RULES:
        raise ValueError(f"unknown configuration rule {rule!r}: valid rules are {', '.join(RULES)}")
    if bn not in BN_MODES:
        raise ValueError(f"unknown BN mode {bn!r}: valid modes are {', '.join(BN_MODES)}")
    if len(unit_sizes) != k:
        raise ValueError(f"{len(unit_sizes)} unit sizes given for {k} units")
    n_tasks = len(tasks)
    if rule == "dvn" and k != n_tasks:
        raise ValueError(f"the DVN rule needs one unit per task: {n_tasks} tasks ({name}), "
                         f"so units must be {n_tasks} (got {k})")
    if k < 1:
        raise ValueError(f"units must be at least 1 (got {k})")
    for c in spec.split_channels:
        U.boundaries(c, unit_sizes)  # raises if a unit would be empty
    config = U.dvn_configuration(k) if rule == "dvn" else U.prefix_configuration(k, n_tasks)
    return Layout(name, spec, tasks, config, tuple(unit_sizes), bn)
