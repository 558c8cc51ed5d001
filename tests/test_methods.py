"""The compared methods: each one's defining mechanism, then every method end to end at the smoke
profile on the Fashion-MNIST twins."""
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import dvnlib
from dvnlib import accounting, layout, scenarios as S, train, units as U
from dvnlib.methods import FAMILY_METHODS, METHODS, baseline, common as C, packnet, sequential
from dvnlib.network import DVNNet


# ---------------------------------------------------------------------------------------------
# A RunContext on synthetic in-memory data, so that mechanism tests need no dataset.

class FakeStream:
    def __init__(self, task, n, batch, seed):
        g = torch.Generator().manual_seed(1000 * seed + n)
        self.x = torch.randn(n, task.in_channels, task.input_size, task.input_size, generator=g)
        self.y = torch.randint(task.num_classes, (n,), generator=g)
        self.bs, self.steps_per_pass = batch, math.ceil(n / batch)

    def batch(self, i):
        j = i % self.steps_per_pass
        return self.x[j * self.bs:(j + 1) * self.bs], self.y[j * self.bs:(j + 1) * self.bs]


class FakeContext(train.RunContext):
    def __init__(self, scenario, tmp_path, n=32, **changes):
        s = S.with_profile(scenario, "smoke", **{"epochs": 1, "batch_size": 32, **changes})
        super().__init__(s, "smoke", 0, "cpu", [None] * len(s.tasks), [None] * len(s.tasks),
                         Path(tmp_path) / "ckpt", "k", progress=False, shared_dir=Path(tmp_path) / "shared")
        self.n = n

    def streams(self, tasks=None):
        tasks = range(1, len(self.scenario.tasks) + 1) if tasks is None else tasks
        return [FakeStream(self.scenario.tasks[t - 1], self.n, self.profile.batch_size, t) for t in tasks]

    def test_batches(self, tasks=None):
        tasks = range(1, len(self.scenario.tasks) + 1) if tasks is None else tasks
        return {t: [FakeStream(self.scenario.tasks[t - 1], 32, 32, 100 + t).batch(0)] for t in tasks}


def _x(task_def, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, task_def.in_channels, task_def.input_size, task_def.input_size, generator=g)


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# ---------------------------------------------------------------------------------------------
# Parameter accounting shared by all methods.

@pytest.mark.parametrize("scenario, overrides", [("FJ2", {}), ("FJ3", {}), ("FJ1", {"rule": "prefix"}),
                                                 ("FJ2", {"bn": "shared"})])
def test_used_params_match_accounting(scenario, overrides):
    lay = layout(scenario, "smoke", **overrides)
    net = DVNNet.from_layout(lay)
    for o in net.outputs:
        assert C.used_params(net, [o]) == accounting.output_cost(lay, *o)[0]
    assert C.used_params(net, net.outputs) == accounting.total_params(lay) == sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("scenario", ["FJ1", "FJ3"])
def test_independent_network_has_the_dvn_outputs_architecture(scenario):
    lay = layout(scenario, "smoke")
    for t, l in U.outputs(lay.config):
        ind = C.independent_layout(lay, t, l)
        net = DVNNet.from_layout(ind)
        assert sum(p.numel() for p in net.parameters()) == accounting.output_cost(lay, t, l)[0]
        x = _x(S.get(scenario).tasks[t - 1], 2)
        assert net(x, 1, 1).shape == (2, lay.tasks[t - 1].num_classes)


def test_copy_output_reproduces_the_old_network():
    torch.manual_seed(0)
    lay = layout("FS1", "smoke")
    old = DVNNet.from_layout(C.independent_layout(lay, 1, 1))
    old.train()
    old(_x(S.get("FS1").tasks[0], 8, 1), 1, 1)  # move BN statistics off their initial values
    net = DVNNet.from_layout(lay)
    C.copy_output(old, (1, 1), net, (1, 1))
    old.eval(), net.eval()
    x = _x(S.get("FS1").tasks[1])
    torch.testing.assert_close(net(x, 1, 1), old(x, 1, 1), rtol=0, atol=1e-6)
    assert not torch.allclose(net(x, 1, 2), old(x, 1, 1))


# ---------------------------------------------------------------------------------------------
# Distillation: LwF and sequential DVN.

def test_distillation_loss_matches_a_hand_computation():
    # T = 2. Row 1: teacher logits (2 ln 3, 0) soften to (3/4, 1/4); student (0, 0) to (1/2, 1/2):
    # -(3/4 ln 1/2 + 1/4 ln 1/2) = ln 2. Row 2: the student equals the teacher: the entropy of
    # (3/4, 1/4). The loss is the batch mean, with no T^2 factor.
    teacher = torch.tensor([[2 * math.log(3), 0.0], [2 * math.log(3), 0.0]])
    student = torch.tensor([[0.0, 0.0], [2 * math.log(3), 0.0]])
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    expected = (math.log(2) + entropy) / 2
    assert train.distillation_loss(student, teacher, T=2).item() == pytest.approx(expected, abs=1e-6)
    assert train.distillation_loss(student, teacher, T=1).item() != pytest.approx(expected, abs=1e-3)


def _hand_distill(s, t, T=2.0):
    p = torch.exp(t / T) / torch.exp(t / T).sum(1, keepdim=True)
    q = torch.exp(s / T) / torch.exp(s / T).sum(1, keepdim=True)
    return -(p * torch.log(q)).sum(1).mean()


def _hand_ce(s, y):
    q = torch.exp(s) / torch.exp(s).sum(1, keepdim=True)
    return -torch.log(q[torch.arange(len(y)), y]).mean()


def test_sequential_dvn_step_is_eq6():
    torch.manual_seed(0)
    lay = layout("FS1", "smoke")
    teacher = DVNNet.from_layout(C.independent_layout(lay, 1, 1)).eval()
    net = DVNNet.from_layout(lay)
    C.copy_output(teacher, (1, 1), net, (1, 1))
    x, y = _x(S.get("FS1").tasks[1], 8, 3), torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    net.train()
    losses = sequential.sequential_losses(net, teacher, x, y, [(1, 1), (1, 2)], [(2, 1), (2, 2)])
    grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    assert set(losses) == {(1, 1), (1, 2), (2, 1), (2, 2)}
    # By hand, on the same network: both old levels against the old network's output on the new
    # images, the new task's levels with cross-entropy; the gradient is that of the sum (eq. 7).
    net.zero_grad(set_to_none=True)
    with torch.no_grad():
        soft = teacher(x, 1, 1)
    hand = {(1, l): _hand_distill(net(x, 1, l), soft) for l in (1, 2)}
    hand.update({(2, l): _hand_ce(net(x, 2, l), y) for l in (1, 2)})
    for o, v in hand.items():
        assert losses[o].item() == pytest.approx(v.item(), rel=1e-5)
    sum(hand.values()).backward()
    for n, p in net.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(grads[n], p.grad, rtol=1e-4, atol=1e-6)


def test_lwf_loss_is_ce_plus_distillation_of_the_old_head():
    torch.manual_seed(0)
    lay = layout("FS1", "smoke")
    old = DVNNet.from_layout(C.independent_layout(lay, 1, 2))
    model = sequential.OldNetWithNewHead(old, C.new_head(old.heads["t1l1"].in_features, 5), freeze_old=False)
    teacher = sequential.frozen_copy(old)
    x, y = _x(S.get("FS1").tasks[1], 8, 4), torch.tensor([4, 3, 2, 1, 0, 4, 3, 2])
    model.eval()  # the teacher's BN mode, and BN statistics left as they are
    ce_e, d_e = sequential.lwf_losses(model, teacher, x, y)
    assert ce_e.item() == pytest.approx(_hand_ce(model(x, 2, 1), y).item(), rel=1e-5)
    assert d_e.item() == pytest.approx(_hand_distill(model(x, 1, 1), teacher(x, 1, 1)).item(), rel=1e-5)
    # Before any update the student is the teacher: the distillation term is the teacher's entropy.
    p = F.softmax(teacher(x, 1, 1) / 2, 1)
    assert d_e.item() == pytest.approx(-(p * p.log()).sum(1).mean().item(), rel=1e-5)
    model.train()
    ce, distill = sequential.lwf_losses(model, teacher, x, y)
    assert ce.requires_grad and distill.requires_grad


# ---------------------------------------------------------------------------------------------
# Frozen weights: PackNet+, Feature Extraction, DA-CNN.

def test_packnet_freezes_earlier_tasks_weights_bit_identically(tmp_path):
    ctx = FakeContext("FJ2", tmp_path, lr=0.2, weight_decay=0.05)
    lay = C.nested_layout(ctx)
    torch.manual_seed(0)
    net = DVNNet.from_layout(lay)
    net = packnet.train_task(ctx, "task1", net, 1)
    net = packnet.train_task(ctx, "task2", net, 2)
    before = _state(net)
    x = _x(ctx.scenario.tasks[0])
    net.eval()
    with torch.no_grad():
        out1, out2 = net(x, 1, 1), net(x, 2, 2)
    net = packnet.train_task(ctx, "task3", net, 3)
    after = _state(net)
    masks = C.usage_masks(net, [(1, 1), (2, 2)])
    own = C.usage_masks(net, [(3, 3)])
    for n, m in masks.items():
        assert torch.equal(after[n][m], before[n][m]), n
    # What task 3 trains did move (weight decay alone would move it): the test can fail.
    moved = [n for n, m in own.items() if not torch.equal(after[n][m & ~masks[n]], before[n][m & ~masks[n]])]
    assert any(n.startswith("blocks.") and n.endswith(".weight") for n in moved)
    # Earlier tasks' outputs are exactly what they were, BN statistics included.
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x, 1, 1), out1) and torch.equal(net(x, 2, 2), out2)
    for n in before:
        if ".bns.t1l1." in n or ".bns.t2l2." in n:
            assert torch.equal(before[n], after[n]), n


def test_packnet_freezes_the_old_block_not_the_interconnections(tmp_path):
    lay = layout("FJ1", "smoke", rule="prefix", unit_sizes=C.parameter_even_unit_sizes(2))
    net = DVNNet.from_layout(lay)
    conv = net.blocks[1].conv1  # a split input: task 1 uses W[:b1, :b1]
    b_in = net.slices[(1, 1)][conv.d.in_ch][1]
    b_out = net.slices[(1, 1)][conv.d.out_ch][1]
    m = C.usage_masks(net, [(1, 1)])["blocks.1.conv1.weight"]
    assert m[:b_out, :b_in].all() and not m[b_out:].any() and not m[:, b_in:].any()
    m0 = C.usage_masks(net, [(1, 1)])["blocks.0.conv1.weight"]  # reads the unsplit input layer
    assert m0[:net.slices[(1, 1)][net.blocks[0].conv1.d.out_ch][1]].all()


@pytest.mark.parametrize("method, hidden", [("feature_extraction", 0), ("dacnn", 2)])
def test_frozen_old_network_stays_bit_identical(tmp_path, method, hidden):
    ctx = FakeContext("FS1", tmp_path, lr=0.2, weight_decay=0.05)
    old = sequential.old_full_network(ctx, method)
    before = _state(old)
    width = old.heads["t1l1"].in_features
    model = sequential.with_new_head(ctx, old, (width,) * hidden, freeze_old=True)
    head_before = _state(model.new_head)
    assert sum(isinstance(m, torch.nn.Linear) for m in model.new_head.modules()) == hidden + 1
    model = sequential.train_new_head(ctx, method, model)
    after = _state(model.old)
    assert before.keys() == after.keys()
    for n in before:  # parameters and BN running statistics
        assert torch.equal(before[n], after[n]), n
    assert any(not torch.equal(v, _state(model.new_head)[k]) for k, v in head_before.items())


def test_lwf_does_move_the_old_network(tmp_path):
    ctx = FakeContext("FS1", tmp_path)
    old = sequential.old_full_network(ctx, "lwf")
    before = _state(old)
    model = sequential.train_lwf(ctx, "lwf", sequential.with_new_head(ctx, old, (), freeze_old=False))
    assert any(not torch.equal(before[n], v) for n, v in _state(model.old).items())


# ---------------------------------------------------------------------------------------------
# NestedNet: levels are prefixes, densities as the paper states them.

@pytest.mark.parametrize("scenario", ["FJ1", "FJ2", "FJ3", "FH1", "FS1"])
def test_nestednet_levels_are_prefixes(scenario):
    s = S.get(scenario)
    lay = layout(s, "smoke", rule="prefix", unit_sizes=C.nested_unit_sizes(s))
    net = DVNNet.from_layout(lay)
    n = len(lay.tasks)
    for t in range(1, n + 1):
        for l in range(1, lay.k + 1):
            for c, (a, b) in net.slices[(t, l)].items():
                assert a == 0 and b == U.boundaries(c, lay.unit_sizes)[l]
    conv_masks = [{k: v for k, v in C.usage_masks(net, [(j, j)]).items() if k.endswith("conv1.weight")}
                  for j in range(1, n + 1)]
    for lower, higher in zip(conv_masks, conv_masks[1:]):
        for k in lower:
            assert (lower[k] <= higher[k]).all() and lower[k].sum() < higher[k].sum()


@pytest.mark.parametrize("scenario, densities", [
    ("J1", (1 / 2, 1)), ("J2", (1 / 4, 2 / 4, 3 / 4, 1)), ("J3", (4 / 16, 9 / 16, 1)), ("H1", (1 / 4, 1)),
    ("FJ2", (1 / 4, 2 / 4, 3 / 4, 1))])
def test_nested_densities_are_the_papers(scenario, densities):
    s = S.get(scenario)
    lay = layout(s, None, rule="prefix", unit_sizes=C.nested_unit_sizes(s))
    dvn_lay = layout(s)
    for j, d in enumerate(densities, 1):
        got = accounting.output_cost(lay, j, j)[0] / accounting.output_cost(dvn_lay, j, dvn_lay.k)[0]
        assert got == pytest.approx(d, abs=0.005)


# ---------------------------------------------------------------------------------------------
# Baseline: independent networks at DVN's densities.

def test_baseline_networks_share_nothing(tmp_path):
    ctx = FakeContext("FJ1", tmp_path)
    trained = baseline.train_networks(ctx)
    lay = ctx.layout()
    assert [(t, l) for t, l, *_ in trained] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    storages = [{p.untyped_storage().data_ptr() for p in net.parameters()} for *_, net, _ in trained]
    for i, a in enumerate(storages):
        for b in storages[i + 1:]:
            assert not a & b
    for t, l, net, params in trained:
        assert params == sum(p.numel() for p in net.parameters()) == accounting.output_cost(lay, t, l)[0]
    # Same architecture (task 1 and task 2 at full width), different initialisation and training.
    (_, _, a, _), (_, _, b, _) = trained[1], trained[3]
    assert not torch.equal(a.blocks[0].conv1.weight, b.blocks[0].conv1.weight)


# ---------------------------------------------------------------------------------------------
# Registry and every method end to end.

def test_family_defaults_are_the_papers_comparisons():
    assert FAMILY_METHODS == {"joint": ("dvn", "baseline", "nestednet", "packnet"),
                              "hierarchical": ("dvn", "baseline", "nestednet"),
                              "sequential": ("dvn", "feature_extraction", "lwf", "dacnn", "nestednet")}
    assert all(m in METHODS for ms in FAMILY_METHODS.values() for m in ms)


OVERRIDES = {"epochs": 1, "batch_size": 32, "train_per_task": 32, "test_per_task": 64}


@pytest.mark.parametrize("scenario, extra", [("FJ1", ("nestednet-me", "baseline-full", "dvn-shared-affine")),
                                             ("FH1", ()), ("FS1", ("dvn-random-expansion",))])
def test_every_method_end_to_end(tmp_path, scenario, extra):
    pytest.importorskip("dvnlib.data")
    s = S.get(scenario)
    methods = [*FAMILY_METHODS[s.family], *extra]
    df = dvnlib.run(scenario, "smoke", methods, out_dir=tmp_path, progress=False, overrides=OVERRIDES)
    assert set(df.method) == set(methods)
    n_tasks = len(s.tasks)
    expected_rows = {"dvn": n_tasks * s.k, "baseline": n_tasks * s.k, "nestednet": n_tasks, "packnet": n_tasks,
                     "nestednet-me": n_tasks * s.k, "baseline-full": n_tasks, "feature_extraction": 2,
                     "lwf": 2, "dacnn": 2, "dvn-shared-affine": n_tasks * s.k, "dvn-random-expansion": n_tasks * s.k}
    for m, g in df.groupby("method"):
        assert len(g) == expected_rows[m], m
        assert sorted(g.task.unique()) == list(range(1, n_tasks + 1))
        assert (g.params <= g.params_total).all() and (g.params_total == g.params_total.iloc[0]).all()
        assert g.accuracy.between(0, 100).all() and (g.n_test > 0).all()
    assert (tmp_path / scenario / "smoke" / "metrics.csv").exists()
    by = {(r.method, r.task, r.level): r for r in df.itertuples()}
    if s.family == "sequential":
        # Feature Extraction and DA-CNN keep the same old network frozen: the same old-task accuracy.
        assert by[("feature_extraction", 1, 1)].accuracy == by[("dacnn", 1, 1)].accuracy
        assert by[("dacnn", 2, 1)].params > by[("feature_extraction", 2, 1)].params
    else:
        # The baseline's level-l networks sit at exactly DVN's densities.
        for t in range(1, n_tasks + 1):
            for l in range(1, s.k + 1):
                assert by[("baseline", t, l)].params == by[("dvn", t, l)].params
