"""The scenario registry: the paper's six scenarios and their Fashion-MNIST twins, as plain data.

A scenario says which tasks are learned (dataset, classes, input size), on which backbone, with
how many units, and how each profile trains it. Nothing here touches data or torch, so the
registry, the CLI summary and the book can read it without a dataset or a GPU.

Profiles: ``smoke`` is any scenario in about a minute on a 2-core CPU (CI runs it);
``quick`` is the whole Fashion-MNIST study on a CPU; ``paper`` is the paper's backbone, batch size
and a standard schedule, for a GPU. The paper gives neither epochs nor learning-rate schedule, so
``paper`` uses the standard ones: WRN's (Zagoruyko & Komodakis: 200 epochs, lr 0.1, x0.2 at 30%,
60% and 80% of training, weight decay 5e-4) for the CIFAR backbones, and He et al.'s ImageNet
schedule (90 epochs, x0.1 at 1/3 and 2/3, weight decay 1e-4, lr 0.1 scaled linearly from batch
256 to the paper's 64, i.e. 0.025) for ResNet-42.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .backbones import BackboneSpec, backbone

PROFILES = ("smoke", "quick", "study", "paper")
FAMILIES = ("joint", "hierarchical", "sequential")

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass(frozen=True)
class TaskDef:
    """One task: a labelled dataset, optionally restricted to ``classes`` (original label ids,
    remapped to 0..n-1 in this order) or relabelled by ``groups`` (coarse label g for every
    original label in ``groups[g]``), read at ``input_size`` pixels."""
    name: str
    dataset: str  # cifar10 | cifar100 | stl10 | tiny_imagenet | fashion_mnist
    num_classes: int
    input_size: int
    in_channels: int = 3
    classes: tuple[int, ...] | None = None
    groups: tuple[tuple[int, ...], ...] | None = None
    label: str = "fine"  # CIFAR-100: "fine" (100) or "coarse" (20 superclasses)

    def __post_init__(self):
        n = (len(self.classes) if self.classes is not None
             else len(self.groups) if self.groups is not None else None)
        if n is not None and n != self.num_classes:
            raise ValueError(f"task {self.name!r}: {n} classes listed but num_classes={self.num_classes}")


@dataclass(frozen=True)
class Profile:
    """How a scenario is trained. ``depth``/``width`` override the backbone (None: the paper's);
    ``base_width`` narrows a WRN below widening factor 1 (``backbones.wrn``; None: 16 maps);
    ``train_per_task``/``test_per_task`` cap the images per task (None: all), taking a fixed,
    class-stratified subset so that small runs stay balanced; ``train_sizes``, where given, caps
    each task's training images separately (one count per task, in task order), for twins whose
    tasks differ in size as their paper scenario's do."""
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    milestones: tuple[float, ...]  # fractions of training at which lr is multiplied by gamma
    gamma: float
    depth: int | None = None
    width: int | None = None
    base_width: int | None = None
    train_per_task: int | None = None
    test_per_task: int | None = None
    train_sizes: tuple[int, ...] | None = None
    seeds: tuple[int, ...] = (0,)
    momentum: float = 0.9  # Nesterov, as in the paper
    # Stages that start from a trained network (LwF, sequential DVN and sequential NestedNet
    # alike): the starting rate is finetune_lr_scale x lr, reached by a linear warm-up over the
    # fraction ``warmup`` of the stage's steps; the milestones then apply as from scratch. Chosen
    # once, for all three together, by the sweep on FS1 the book's method page shows
    # (scripts/sweep_finetune.py, results/FS1/sweep/finetune.csv): no reduced rate or warm-up beat
    # restarting at the from-scratch rate (mean output accuracy over the three methods, 2 seeds:
    # x1 89.4, x0.3 89.2, x0.1 87.4; x0.03 84.8 and a 10% warm-up 88.9 at x0.3, seed 0).
    finetune_lr_scale: float = 1.0
    warmup: float = 0.0

    def train_limit(self, task: int) -> int | None:
        """How many training images task ``task`` (1-based) reads: its own count in
        ``train_sizes`` where given, else ``train_per_task`` (None: the whole split)."""
        return self.train_sizes[task - 1] if self.train_sizes is not None else self.train_per_task


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    family: str  # joint | hierarchical | sequential
    tasks: tuple[TaskDef, ...]
    backbone_family: str  # wrn | resnet
    depth: int
    width: int
    k: int
    feature_size: int  # every task's input layer strides its images down to this size
    profiles: dict[str, Profile] = field(hash=False, compare=False)
    unit_sizes: tuple[int, ...] | None = None  # None: k equal units
    twin_of: str | None = None
    notes: str = ""

    def __post_init__(self):
        sizes = self.units
        if len(sizes) != self.k:
            raise ValueError(f"scenario {self.id}: {len(sizes)} unit sizes for k={self.k}")
        for name, p in self.profiles.items():
            if p.train_sizes is not None and len(p.train_sizes) != len(self.tasks):
                raise ValueError(f"scenario {self.id}, profile {name}: train_sizes has {len(p.train_sizes)} "
                                 f"counts for {len(self.tasks)} tasks; give one count per task")
        for t in self.tasks:
            if t.input_size % self.feature_size:
                raise ValueError(f"scenario {self.id}: task {t.name!r} input {t.input_size}px is not "
                                 f"a multiple of the feature size {self.feature_size}px")

    @property
    def units(self) -> tuple[int, ...]:
        return self.unit_sizes if self.unit_sizes is not None else (1,) * self.k

    def stride(self, task: int) -> int:
        """Stride of task ``task``'s input layer (1-based), so that all tasks meet at one size."""
        return self.tasks[task - 1].input_size // self.feature_size

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise ValueError(f"unknown profile {name!r} for scenario {self.id}: valid profiles are "
                             f"{', '.join(self.profiles)}")
        return self.profiles[name]

    def backbone(self, profile: str | None = None, depth: int | None = None,
                 width: int | None = None, base_width: int | None = None) -> BackboneSpec:
        """The backbone at paper size, or as a profile sets it, or with explicit overrides."""
        p = self.profile(profile) if profile is not None else None
        for name, v in (("depth", depth), ("width", width), ("base_width", base_width)):
            # 0 is not "the default": None is
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be a whole number of at least 1 (or None for the default), got {v!r}")
        d = depth if depth is not None else (p.depth if p and p.depth is not None else self.depth)
        w = width if width is not None else (p.width if p and p.width is not None else self.width)
        b = base_width if base_width is not None else (p.base_width if p else None)
        return backbone(self.backbone_family, d, w, b)


# ---------------------------------------------------------------------------------------------
# Profiles. smoke and quick are CPU profiles, tuned so that smoke runs in about a minute and the
# whole quick Fashion-MNIST study in about 90 minutes on 2 cores (see the book's reproducibility
# page for the measured times).

def _wrn_paper(batch: int = 128) -> Profile:
    return Profile(epochs=200, batch_size=batch, lr=0.1, weight_decay=5e-4,
                   milestones=(0.3, 0.6, 0.8), gamma=0.2, seeds=(0, 1, 2))


def _resnet_paper() -> Profile:
    return Profile(epochs=90, batch_size=64, lr=0.025, weight_decay=1e-4,
                   milestones=(1 / 3, 2 / 3), gamma=0.1, seeds=(0, 1, 2))


def _smoke(family: str) -> Profile:
    return Profile(epochs=1, batch_size=64, lr=0.05, weight_decay=5e-4, milestones=(), gamma=1.0,
                   depth=8 if family == "wrn" else 10, width=1 if family == "wrn" else 8,
                   train_per_task=256, test_per_task=256, seeds=(0,))


def _quick(family: str) -> Profile:
    return Profile(epochs=3, batch_size=64, lr=0.05, weight_decay=5e-4, milestones=(2 / 3,),
                   gamma=0.1, depth=8 if family == "wrn" else 10, width=1 if family == "wrn" else 16,
                   train_per_task=2000, test_per_task=1000, seeds=(0, 1, 2))


# The study's budget, from the learning curves (results/FJ1|FJ2/curves/curve.csv, seed 0, mean test
# accuracy over outputs): doubling 8 -> 16 epochs adds 1.4 points for DVN and the baseline on FJ1
# and 0.9 for DVN on FJ2, so FJ1 needs at least 16; 32 would take the whole study past its 6-hour
# limit on the 2-core CPU (about 8 hours with two workers), so 16 it is, and the book shows what
# the 32-epoch point adds.
STUDY_EPOCHS = 16


def study_profile(family: str) -> Profile:
    """The Fashion-MNIST study the book's verdicts rest on: whole test splits, at least
    6000 training images per task, five seeds; the number of epochs is where the learning curves
    of DVN and the baseline on FJ1 and FJ2 flatten (``scripts/learning_curve.py``; the book's
    study page shows them)."""
    return Profile(epochs=STUDY_EPOCHS, batch_size=64, lr=0.05, weight_decay=5e-4, milestones=(0.5, 0.75),
                   gamma=0.1, depth=8 if family == "wrn" else 10, width=1 if family == "wrn" else 16,
                   train_per_task=6000, test_per_task=None, seeds=(0, 1, 2, 3, 4))


def _profiles(family: str, narrow: dict | None = None, **study) -> dict[str, Profile]:
    """Every profile of a backbone family; ``study`` replaces settings of this scenario's study;
    ``narrow``, where given, adds the study at the capacity-limited width (those settings replaced)."""
    paper = _wrn_paper() if family == "wrn" else _resnet_paper()
    out = {"smoke": _smoke(family), "quick": _quick(family), "study": replace(study_profile(family), **study),
           "paper": paper}
    if narrow is not None:
        out[NARROW] = replace(out["study"], **narrow)
    return out


# The capacity-limited regime (the book's preregistration page): the study again at a width where
# one unit's width costs an independent network at least 2 points, chosen by the capacity probe
# (scripts/capacity_probe.py, results/FJ1|FJ2/probe/). FJ1: base 8 maps lost 1.4 and 0.3 points,
# base 4 maps 3.4 and 1.4 (2 seeds), so no candidate met "both tasks" and FJ1 takes its narrowest,
# as the rule says. FJ2: ResNet-10 at 8 maps, the narrowest that keeps every NestedNet and
# PackNet+ group non-empty, its only candidate (-0.1, 0.1, 2.25 and 1.5 points: 1 of 4 tasks).
NARROW = "narrow"
FJ1_NARROW = dict(base_width=4)
FJ2_NARROW = dict(width=8)


# FH1's study is set by its accuracy anchor (DVN's top level on the 10-way fine task
# must reach 90%), not by the FJ curves: a 10-way task needs many more steps than the 2- to 5-way
# tasks. Probes (seed 0, DVN, results/FH1/anchor/, the study page's table): 6000 images x 16 epochs
# (1488 steps) 86.0%; the whole split x 2 epochs (1874) 86.5; x 4 (3748) 88.7; 18000 images x 16
# (4496) 89.8; the width doubled at 1488 steps 86.8 (train 89.2). At the default width train
# accuracy stays within 1.2 points of test: the network is short of steps, not of data or width.
# So FH1 trains on the whole split (60000 images) for 8 epochs, 7496 steps per task, past the
# point where the probes' trend crosses 90%.
FH1_STUDY = dict(train_per_task=None, epochs=8)


def _cifar10(name="CIFAR-10", classes=None, n=10):
    return TaskDef(name, "cifar10", n, 32, classes=classes)


_FM = dict(dataset="fashion_mnist", in_channels=1)

SCENARIOS: dict[str, Scenario] = {}


def _register(s: Scenario) -> None:
    SCENARIOS[s.id] = s


_register(Scenario(
    "J1", "Joint learning: CIFAR-10 and CIFAR-100", "joint",
    (_cifar10(), TaskDef("CIFAR-100", "cifar100", 100, 32)),
    "wrn", 32, 4, k=2, feature_size=32, profiles=_profiles("wrn")))
_register(Scenario(
    "J2", "Joint learning: Tiny-ImageNet in four tasks of 50 classes", "joint",
    tuple(TaskDef(f"Tiny-ImageNet {50 * i}-{50 * i + 49}", "tiny_imagenet", 50, 64,
                  classes=tuple(range(50 * i, 50 * i + 50))) for i in range(4)),
    "resnet", 42, 64, k=4, feature_size=32, profiles=_profiles("resnet"),
    notes="Classes are numbered in the order of wnids.txt."))
_register(Scenario(
    "J3", "Joint learning: Tiny-ImageNet, CIFAR-100 and STL-10 at three input scales", "joint",
    (TaskDef("Tiny-ImageNet", "tiny_imagenet", 200, 64), TaskDef("CIFAR-100", "cifar100", 100, 32),
     TaskDef("STL-10", "stl10", 10, 96)),
    "resnet", 42, 64, k=3, feature_size=32, profiles=_profiles("resnet"), unit_sizes=(2, 1, 1),
    notes="Units of sizes 2:1:1 give task 1 the paper's density ratios 4/16 : 9/16 : 1."))
_register(Scenario(
    "H1", "Hierarchical classification: CIFAR-100 coarse and fine labels", "hierarchical",
    (TaskDef("CIFAR-100 coarse", "cifar100", 20, 32, label="coarse"),
     TaskDef("CIFAR-100 fine", "cifar100", 100, 32)),
    "wrn", 32, 4, k=2, feature_size=32, profiles=_profiles("wrn")))
_register(Scenario(
    "S1", "Sequential learning: CIFAR-10 classes 0-4, then 5-9", "sequential",
    (_cifar10("CIFAR-10 0-4 (old)", tuple(range(5)), 5), _cifar10("CIFAR-10 5-9 (new)", tuple(range(5, 10)), 5)),
    "wrn", 32, 4, k=2, feature_size=32, profiles=_profiles("wrn")))
_register(Scenario(
    "S2", "Sequential learning: CIFAR-10, then CIFAR-100", "sequential",
    (_cifar10("CIFAR-10 (old)"), TaskDef("CIFAR-100 (new)", "cifar100", 100, 32)),
    "wrn", 32, 8, k=2, feature_size=32, profiles=_profiles("wrn")))

# Fashion-MNIST twins: the same structure on data that installs offline. Images are 28 px and are
# resized to each task's input size.
_register(Scenario(
    "FJ1", "Twin of J1: Fashion-MNIST classes 0-4 and 5-9", "joint",
    (TaskDef("F-MNIST 0-4", classes=(0, 1, 2, 3, 4), num_classes=5, input_size=32, **_FM),
     TaskDef("F-MNIST 5-9", classes=(5, 6, 7, 8, 9), num_classes=5, input_size=32, **_FM)),
    "wrn", 32, 4, k=2, feature_size=32, profiles=_profiles("wrn", narrow=FJ1_NARROW), twin_of="J1"))
# FJ2's split groups confusable classes so that no task sits at the ceiling: Trouser and Bag are
# easy against anything, so each is paired with harder classes. Of every split of the 10 classes
# into 4 tasks, this one had the lowest best-task accuracy with a small CNN (92.6% on 10 classes):
# 97.4 / 99.2 / 95.1 / 97.2%. The former split (0-2, 3-5, 6-7, 8-9) put two tasks at 99.9-100%.
_FJ2_TASKS = (("T-shirt/top, Pullover", (0, 2)), ("Trouser, Dress", (1, 3)),
              ("Coat, Shirt, Bag", (4, 6, 8)), ("Sandal, Sneaker, Ankle boot", (5, 7, 9)))
_register(Scenario(
    "FJ2", "Twin of J2: Fashion-MNIST's 10 classes in four tasks of confusable classes", "joint",
    tuple(TaskDef(f"F-MNIST {name}", classes=c, num_classes=len(c), input_size=32, **_FM) for name, c in _FJ2_TASKS),
    "resnet", 42, 64, k=4, feature_size=32, profiles=_profiles("resnet", narrow=FJ2_NARROW), twin_of="J2"))
# FJ3's study keeps J3's data sizes: Tiny-ImageNet has 100,000 training images, CIFAR-100 50,000 and
# STL-10 5,000 (20 : 10 : 1), and the small task is where the paper finds that sharing units helps.
FJ3_STUDY = dict(train_sizes=(6000, 3000, 300))
_register(Scenario(
    "FJ3", "Twin of J3: three Fashion-MNIST class subsets at 64, 32 and 96 px, in J3's size ratios", "joint",
    (TaskDef("F-MNIST 0-3 @64px", classes=(0, 1, 2, 3), num_classes=4, input_size=64, **_FM),
     TaskDef("F-MNIST 4-6 @32px", classes=(4, 5, 6), num_classes=3, input_size=32, **_FM),
     TaskDef("F-MNIST 7-9 @96px", classes=(7, 8, 9), num_classes=3, input_size=96, **_FM)),
    "resnet", 42, 64, k=3, feature_size=32, profiles=_profiles("resnet", **FJ3_STUDY), unit_sizes=(2, 1, 1),
    twin_of="J3", notes="Input scales follow J3's task order: 64 px, 32 px, 96 px; the study's training "
                        "images are 6,000 / 3,000 / 300, J3's ratios."))
_register(Scenario(
    "FH1", "Twin of H1: Fashion-MNIST coarse (4) and fine (10) labels", "hierarchical",
    (TaskDef("F-MNIST coarse", groups=((0, 2, 4, 6), (1, 3), (5, 7, 9), (8,)), num_classes=4,
             input_size=32, **_FM),
     TaskDef("F-MNIST fine", num_classes=10, input_size=32, **_FM)),
    "wrn", 32, 4, k=2, feature_size=32, profiles=_profiles("wrn", **FH1_STUDY), twin_of="H1",
    notes="Coarse: tops (0, 2, 4, 6), bottoms and dresses (1, 3), footwear (5, 7, 9), bags (8)."))
_register(Scenario(
    "FS1", "Twin of S1: Fashion-MNIST classes 0-4, then 5-9", "sequential",
    (TaskDef("F-MNIST 0-4 (old)", classes=(0, 1, 2, 3, 4), num_classes=5, input_size=32, **_FM),
     TaskDef("F-MNIST 5-9 (new)", classes=(5, 6, 7, 8, 9), num_classes=5, input_size=32, **_FM)),
    "wrn", 32, 4, k=2, feature_size=32, profiles=_profiles("wrn"), twin_of="S1"))

# The study, as the book's preregistration page fixes it. The study driver runs it and the book
# reads it back; both take it from here (no torch, no methods).
# What each family compares: every method of the paper's tables for that family.
FAMILY_METHODS: dict[str, tuple[str, ...]] = {
    "joint": ("dvn", "baseline", "nestednet", "packnet"),
    "hierarchical": ("dvn", "baseline", "nestednet"),
    "sequential": ("dvn", "feature_extraction", "lwf", "dacnn", "nestednet"),
}
# Compared beside the family's methods on one twin: NestedNet's memory-efficient mode, one nested
# network per task (Figure 5(b)).
STUDY_EXTRA_METHODS: dict[str, tuple[str, ...]] = {"FJ2": ("nestednet-me",)}
# The ablations, per twin, in the order the book shows them: BN three ways and the unit order on
# FJ1, the unit order on FJ2, the sequential expansion and LwF without its head-only stage on FS1.
# They run at the standard capacity only.
STUDY_ABLATIONS: dict[str, tuple[str, ...]] = {
    "FJ1": ("dvn-shared-bn", "dvn-shared-affine", "dvn-prefix"),
    "FJ2": ("dvn-prefix",),
    "FS1": ("dvn-random-expansion", "lwf-no-head-stage"),
}
# Which twins run at which profile: every twin at the standard capacity, FJ1 and FJ2 also narrow.
STUDY_PROFILES: dict[str, tuple[str, ...]] = {"study": ("FH1", "FJ1", "FS1", "FJ2", "FJ3"),
                                              NARROW: ("FJ1", "FJ2")}
ABLATIONS: tuple[str, ...] = tuple(dict.fromkeys(m for ms in STUDY_ABLATIONS.values() for m in ms))


def ablations_for(scenario: str) -> tuple[str, ...]:
    """The ablations the study runs on ``scenario`` (none where it runs none)."""
    return STUDY_ABLATIONS.get(scenario, ())


def compared_methods(scenario: str) -> tuple[str, ...]:
    """The methods a twin's results compare: its family's, and the twin's extra ones."""
    s = get(scenario)
    return FAMILY_METHODS[s.family] + STUDY_EXTRA_METHODS.get(s.id, ())


def study_methods(scenario: str, profile: str = "study") -> tuple[str, ...]:
    """What the study runs on ``scenario`` at ``profile``: the methods it compares
    (``compared_methods``) and, at the standard capacity, its ablations."""
    return compared_methods(scenario) + (ablations_for(get(scenario).id) if profile != NARROW else ())


def get(scenario: str | Scenario) -> Scenario:
    """The scenario with this id; an unknown id raises an error that lists the valid ones."""
    if isinstance(scenario, Scenario):
        return scenario
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: valid scenarios are {', '.join(SCENARIOS)}")
    return SCENARIOS[scenario]


def with_profile(scenario: str | Scenario, profile: str, **changes) -> Scenario:
    """A copy of ``scenario`` whose ``profile`` settings have some fields replaced (the one
    override path for notebooks and tests, e.g. ``epochs=1``)."""
    s = get(scenario)
    p = replace(s.profile(profile), **changes)
    return replace(s, profiles={**s.profiles, profile: p})
