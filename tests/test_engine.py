"""The training engine (issue 9): the fast step's gradient, the unit of training length, frozen
groups that stay frozen, function-preserving expansion, BN three ways, divergence, and train
accuracy in every row. Each test fails on the engine as it was before (commit 426b700)."""
import math

import pytest
import torch

import dvnlib
from dvnlib import accounting, layout, scenarios as S, train, units as U
from dvnlib.methods import METHODS, common as C, packnet
from dvnlib.network import DVNNet

from test_methods import OVERRIDES, FakeContext, _state, _x


def _grads(net):
    return {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("scenario", ["FJ2", "FJ3"])
def test_fast_step_has_the_per_level_paths_gradient(scenario):
    # The default step (NHWC, each task's input layer once) against the previous one (NCHW, the
    # input layer once per level), from the same weights on the same batches.
    torch.manual_seed(0)
    net = dvnlib.build(scenario, "smoke").train()
    batches = {t: (_x(task, 6, t), torch.randint(task.num_classes, (6,))) for t, task in
               enumerate(S.get(scenario).tasks, 1)}
    fast_losses = train.output_losses(net, batches, net.outputs)
    fast = _grads(net)
    net.zero_grad(set_to_none=True)
    net.memory_format = None
    slow_losses = train.output_losses_per_level(net, batches, net.outputs)
    slow = _grads(net)
    assert fast.keys() == slow.keys() and len(fast_losses) == len(slow_losses) == len(net.outputs)
    for o in fast_losses:
        assert fast_losses[o].item() == pytest.approx(slow_losses[o].item(), rel=1e-5)
    for n in fast:
        torch.testing.assert_close(fast[n], slow[n], rtol=1e-4, atol=1e-5, msg=n)


def test_fast_step_updates_input_layer_bn_once_per_step():
    torch.manual_seed(0)
    net = dvnlib.build("FJ2", "smoke").train()
    bn = net.stems[0][1]
    batches = {1: (_x(S.get("FJ2").tasks[0], 4), torch.zeros(4, dtype=torch.long))}
    before = int(bn.num_batches_tracked)
    train.output_losses(net, batches, [(1, l) for l in range(1, 5)])
    assert int(bn.num_batches_tracked) - before == 1  # not 4: once per step, not once per level


# ---------------------------------------------------------------------------------------------
# One unit of training length: an epoch is one pass over each task.

class _Stream:
    def __init__(self, steps):
        self.steps_per_pass, self.drawn = steps, []

    def batch(self, i):
        self.drawn.append(i)
        return torch.zeros(1), torch.zeros(1, dtype=torch.long)


def test_epoch_plan_gives_every_task_the_same_passes():
    # J3 at paper size: Tiny-ImageNet 100k, CIFAR-100 50k, STL-10 5k images, batch 64.
    streams = [_Stream(100_000 // 64), _Stream(50_000 // 64), _Stream(5_000 // 64)]
    plan = train.EpochPlan(streams, [1, 2, 3])
    epochs = 2
    due = [plan.batches(s) for s in range(epochs * plan.steps_per_epoch)]
    for t, s in enumerate(streams, 1):
        assert sum(t in d for d in due) == epochs * s.steps_per_pass
        # each batch of each pass drawn exactly once, in order
        assert s.drawn == list(range(epochs * s.steps_per_pass))
    assert all(1 in d for d in due)  # the largest task every step
    assert plan.steps_per_task(epochs) == {1: 2 * 1562, 2: 2 * 781, 3: 2 * 78}


def test_joint_and_independent_training_make_the_same_passes(tmp_path):
    # Tasks of different sizes: DVN's joint stage and the baseline's independent stages give each
    # task the same number of passes and steps (the old engine gave the smaller task more).
    ctx = FakeContext("FJ1", tmp_path, epochs=2, batch_size=8)
    sizes = {1: 64, 2: 16}
    ctx.streams = lambda tasks=None: [_Stream(sizes[t] // 8) for t in (tasks or [1, 2])]
    calls = []
    step = lambda batches: calls.append(sorted(batches)) or torch.zeros(())
    net = dvnlib.build("FJ1", "smoke")
    train.fit(ctx, "joint", net, step, [1, 2])
    train.fit(ctx, "alone-2", net, step, [2])
    assert ctx.epochs_per_task() == {1: {"joint": 2}, 2: {"joint": 2, "alone-2": 2}}
    assert ctx.steps_per_task() == {1: {"joint": 16}, 2: {"joint": 4, "alone-2": 4}}
    assert sum(2 in c for c in calls[:16]) == 4 and len(calls) == 20


# ---------------------------------------------------------------------------------------------
# PackNet+: the groups reserved for later tasks do not shrink while earlier tasks train.

def test_packnet_reserved_groups_stay_as_initialised(tmp_path):
    ctx = FakeContext("FJ2", tmp_path, lr=0.2, weight_decay=0.05)
    torch.manual_seed(0)
    net = DVNNet.from_layout(C.nested_layout(ctx))
    before = _state(net)
    net = packnet.train_task(ctx, "task1", net, 1)
    used = C.usage_masks(net, [(1, 1)])
    after = _state(net)
    conv = "blocks.2.conv2.weight"
    assert not torch.equal(after[conv][used[conv]], before[conv][used[conv]])  # task 1 trained
    for n, m in used.items():
        assert torch.equal(after[n][~m], before[n][~m]), n  # nothing else moved, not even by decay


# ---------------------------------------------------------------------------------------------
# Sequential DVN starts from the old network.

@pytest.mark.parametrize("bn", ["per_output", "shared_affine"])
def test_function_preserving_expansion_equals_the_old_network(bn):
    torch.manual_seed(0)
    lay = layout("FS1", "smoke", bn=bn)
    old = DVNNet.from_layout(C.independent_layout(lay, 1, 1)).train()
    for _ in range(3):  # BN statistics away from their initial values
        old(_x(S.get("FS1").tasks[0], 16, 1), 1, 1)
    net = DVNNet.from_layout(lay)
    C.copy_output(old, (1, 1), net, (1, 1))
    net.eval(), old.eval()
    x = _x(S.get("FS1").tasks[1], 8, 2)
    assert not torch.allclose(net(x, 1, 2), old(x, 1, 1), atol=1e-3)  # the random expansion differs
    C.grow(net, (1, 1), (1, 2))
    with torch.no_grad():
        want = old(x, 1, 1)
        torch.testing.assert_close(net(x, 1, 1), want, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(net(x, 1, 2), want, rtol=1e-5, atol=1e-5)
    net.train()  # in training mode too: BN normalises each channel on its own
    torch.testing.assert_close(net(x, 1, 2), net(x, 1, 1), rtol=1e-5, atol=1e-5)


def test_finetune_stages_start_at_the_reduced_rate_with_warm_up(tmp_path, monkeypatch):
    # 8 steps per pass, 2 epochs; warm-up over half of the 16 steps.
    ctx = FakeContext("FS1", tmp_path, n=256, lr=0.1, finetune_lr_scale=0.2, warmup=0.5, epochs=2)
    net = dvnlib.build("FS1", "smoke")
    opts, lrs = [], []
    real_sgd = train.sgd
    monkeypatch.setattr(train, "sgd", lambda *a, **k: opts.append(real_sgd(*a, **k)) or opts[-1])

    def step(batches):
        lrs.append(opts[-1].param_groups[0]["lr"])
        return torch.zeros(())
    train.fit(ctx, "new", net, step, [2], finetune=True)
    train.fit(ctx, "scratch", net, step, [2])
    fine, scratch = lrs[:16], lrs[16:]
    assert fine[0] == pytest.approx(0.02 / 8) and fine[7:] == pytest.approx([0.02] * 9)
    assert all(a < b for a, b in zip(fine[:8], fine[1:8]))
    assert scratch == pytest.approx([0.1] * 16)


# ---------------------------------------------------------------------------------------------
# BN three ways

@pytest.mark.parametrize("bn", ["per_output", "shared_affine", "shared"])
def test_bn_modes_count_and_extract_exactly(bn):
    torch.manual_seed(0)
    lay = layout("FJ2", "smoke", bn=bn)
    net = DVNNet.from_layout(lay).train()
    for t, task in enumerate(S.get("FJ2").tasks, 1):
        for l in range(1, 5):
            net(_x(task, 8, t), t, l)  # running statistics off their initial values
    net.eval()
    assert C.used_params(net, net.outputs) == accounting.total_params(lay) == sum(p.numel() for p in net.parameters())
    for o in net.outputs:
        assert C.used_params(net, [o]) == accounting.output_cost(lay, *o)[0]
        x = _x(S.get("FJ2").tasks[o[0] - 1], 3)
        with torch.no_grad():
            torch.testing.assert_close(net.extract(*o)(x), net(x, *o), rtol=1e-5, atol=1e-5)


def test_shared_affine_shares_scale_but_not_statistics():
    torch.manual_seed(0)
    net = dvnlib.build("FJ1", "smoke", bn="shared_affine").train()
    conv = net.blocks[1].conv1
    a1, b1 = net.slices[(1, 1)][conv.d.out_ch]
    assert conv.bn.weight.shape == (conv.d.out_ch,) and not conv.bn.track_running_stats
    net(_x(S.get("FJ1").tasks[0], 8), 1, 1)
    assert not torch.equal(conv.bns["t1l1"].running_mean, torch.zeros(b1 - a1))
    assert torch.equal(conv.bns["t1l2"].running_mean, torch.zeros_like(conv.bns["t1l2"].running_mean))
    w = conv.bn_parts("t1l2", net.slices[(1, 2)][conv.d.out_ch])[2]
    assert w.data_ptr() == conv.bn.weight.data_ptr()  # level 2's scale is the shared parameter


def test_bn_and_expansion_ablations_are_registered():
    assert {"dvn-shared-affine", "dvn-shared-bn", "dvn-prefix", "dvn-random-expansion"} <= set(METHODS)


# ---------------------------------------------------------------------------------------------
# Divergence and train accuracy, through the runner

def test_a_diverged_run_stops_and_writes_nothing(tmp_path):
    with pytest.raises(train.Diverged, match=r"diverged.*step \d+.*learning rate"):
        dvnlib.run("FJ1", "smoke", ["dvn"], [0], out_dir=tmp_path, progress=False,
                   overrides={**OVERRIDES, "train_per_task": 256, "lr": 1000.0})
    assert not list(tmp_path.rglob("*.csv")) and not list(tmp_path.rglob("seed0.json"))


def test_rows_carry_train_accuracy_and_records_the_passes(tmp_path):
    import json
    df = dvnlib.run("FJ1", "smoke", ["dvn", "baseline"], [0], out_dir=tmp_path, progress=False, overrides=OVERRIDES)
    assert "train_accuracy" in df.columns and df.train_accuracy.between(0, 100).all()
    records = {p.parent.name if p.parent.name in ("dvn", "baseline") else p.parent.parent.name: json.loads(p.read_text())
               for p in tmp_path.rglob("seed0.json")}
    assert records["dvn"]["epochs_per_task"] == {"1": {"dvn": 1}, "2": {"dvn": 1}}
    assert records["dvn"]["steps_per_task"] == {"1": {"dvn": 1}, "2": {"dvn": 1}}
    base = records["baseline"]["epochs_per_task"]
    assert set(base) == {"1", "2"} and all(set(v.values()) == {1} and len(v) == 2 for v in base.values())
