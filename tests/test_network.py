"""The network: slicing, extraction, BN per output, and eq. 4/5 on a small DVN."""
import pytest
import torch

import dvnlib
from dvnlib import train, units as U
from dvnlib.network import DVNNet


def _x(net, task, n=4, seed=0):
    t = net.tasks[task - 1]
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, t.in_channels, t.input_size, t.input_size, generator=g)


@pytest.mark.parametrize("scenario, bn", [("FJ1", "per_output"), ("FJ2", "per_output"),
                                          ("FJ3", "per_output"), ("FJ2", "shared")])
def test_extract_matches_slice_and_summary(scenario, bn):
    torch.manual_seed(0)
    net = dvnlib.build(scenario, "smoke", bn=bn)
    info = {(o["task"], o["level"]): o for o in dvnlib.summary(scenario, "smoke", bn=bn)["outputs"]}
    assert sum(p.numel() for p in net.parameters()) == dvnlib.summary(scenario, "smoke", bn=bn)["total_params"]
    for t, l in net.outputs:
        net.train()
        net(_x(net, t, 8, seed=1), t, l)  # move BN statistics away from their initial values
        net.eval()
        with torch.no_grad():
            full = net(_x(net, t), t, l)
            sub = net.extract(t, l)
            assert not sub.training
            torch.testing.assert_close(sub(_x(net, t)), full, rtol=1e-5, atol=1e-5)
        assert sum(p.numel() for p in sub.parameters()) == info[(t, l)]["params"]


def _written_out_trunk(net, h, task, level):
    """Every block of output (task, level) written out by hand, conv1, conv2, shortcut in that
    order: the arithmetic the study's committed networks ran, to compare bit for bit."""
    import torch.nn.functional as F
    from dvnlib.network import io_slices, key
    k, sl = key(task, level), net.slices[(task, level)]
    for blk in net.blocks:
        out, inp = io_slices(sl, blk.d.conv1)
        y = blk.conv2(F.relu(blk.conv1(h, k, out, inp)), k, out, out)
        if blk.shortcut is not None:
            sc = blk.shortcut(h, k, out, inp)
        elif blk.d.conv1.in_split:
            sc = h
        else:
            sc = h[:, out[0]:out[1]]
        h = F.relu(y + sc)
    return net.heads[k](h.mean((2, 3)))


@pytest.mark.parametrize("scenario, bn", [("FJ1", "per_output"), ("FJ2", "per_output"), ("FS1", "per_output"),
                                          ("FJ2", "shared"), ("FJ1", "shared_affine")])
def test_block_forward_keeps_the_studys_numerics_bit_for_bit(scenario, bn):
    import copy
    torch.manual_seed(0)
    net = dvnlib.build(scenario, "smoke", bn=bn)
    ref = copy.deepcopy(net)  # training-mode BN updates its statistics: each copy sees one call
    for mode in (True, False):
        net.train(mode), ref.train(mode)
        for t, l in net.outputs:
            x = _x(net, t, 4, seed=t * 10 + l)
            assert torch.equal(net(x, t, l), _written_out_trunk(ref, ref.stem(x, t), t, l))


def test_extracted_layers_are_physically_smaller():
    net = dvnlib.build("FJ2", "smoke")
    full = net.extract(1, 4)
    small = net.extract(1, 1)
    widths = lambda m: [c.out_channels for c in m.blocks.modules() if isinstance(c, torch.nn.Conv2d)]
    assert all(4 * s == f for s, f in zip(widths(small), widths(full)))


def test_per_output_bn_keeps_separate_statistics():
    torch.manual_seed(0)
    net = dvnlib.build("FJ1", "smoke")
    conv = net.blocks[0].conv1
    before = {k: bn.running_mean.clone() for k, bn in conv.bns.items()}
    net.train()
    net(_x(net, 1), 1, 1)
    changed = {k for k, bn in conv.bns.items() if not torch.equal(bn.running_mean, before[k])}
    assert changed == {"t1l1"}


def test_shared_bn_updates_only_the_slice():
    torch.manual_seed(0)
    net = dvnlib.build("FJ1", "smoke", bn="shared")
    bn = net.blocks[1].conv1.bn
    before = bn.running_mean.clone()
    net.train()
    net(_x(net, 2), 2, 1)  # task 2, level 1 uses unit 2 only: the upper half of the channels
    half = bn.running_mean.numel() // 2
    assert torch.equal(bn.running_mean[:half], before[:half])
    assert not torch.equal(bn.running_mean[half:], before[half:])


def test_joint_step_runs_16_losses_for_J2(monkeypatch):
    # 16 (task, level) passes after the input layers, and each task's input layer once (4).
    net = dvnlib.build("J2", "smoke")
    calls, stems = [], []
    trunk, stem = DVNNet.trunk, DVNNet.stem
    monkeypatch.setattr(DVNNet, "trunk", lambda self, h, t, l: calls.append((t, l)) or trunk(self, h, t, l))
    monkeypatch.setattr(DVNNet, "stem", lambda self, x, t: stems.append(t) or stem(self, x, t))
    opt = train.sgd(net.parameters(), dvnlib.scenario("J2").profile("smoke"))
    batches = [(_x(net, t, 2), torch.zeros(2, dtype=torch.long)) for t in range(1, 5)]
    losses = train.joint_step(net, opt, batches)
    assert len(losses) == 16 and len(calls) == 16
    assert sorted(calls) == sorted(U.outputs(U.dvn_configuration(4)))
    assert stems == [1, 2, 3, 4]


def test_one_graph_alive_at_a_time():
    # Backward runs per output, so the tensors autograd saves for one output are freed before the
    # next output's forward: the peak number alive stays at one graph's worth, not 16 graphs'.
    net = dvnlib.build("FJ2", "smoke")
    live, peak = [0], [0]

    class Held:
        def __init__(self, t):
            self.t = t
            live[0] += 1
            peak[0] = max(peak[0], live[0])

        def __del__(self):
            live[0] -= 1

    batches = [(_x(net, t, 2), torch.zeros(2, dtype=torch.long)) for t in range(1, 5)]
    with torch.autograd.graph.saved_tensors_hooks(Held, lambda h: h.t):
        loss = net(batches[0][0], 1, 4).sum()
        one_graph = peak[0]
        loss.backward()
        del loss
        live[0] = peak[0] = 0
        losses = train.output_losses(net, batches, net.outputs)
    assert len(losses) == 16
    assert one_graph > 0 and peak[0] < 1.5 * one_graph  # two graphs alive would double it


@pytest.mark.parametrize("scenario", ["FJ2", "FJ3"])
def test_eq5_unit_gets_gradient_only_from_levels_at_or_above_S(scenario):
    """A unit i's own weights get gradient from (task j, level l) iff l >= S(i, j)."""
    torch.manual_seed(0)
    net = dvnlib.build(scenario, "smoke")
    conv = net.blocks[2].conv2  # a split -> split convolution
    c = conv.d.out_ch
    b = U.boundaries(c, net.unit_sizes)
    for t, l in net.outputs:
        net.zero_grad(set_to_none=True)
        x = _x(net, t, 2)
        net(x, t, l).sum().backward()
        g = conv.weight.grad if conv.weight.grad is not None else torch.zeros_like(conv.weight)
        for i in range(1, net.k + 1):
            own = g[b[i - 1]:b[i], b[i - 1]:b[i]]
            receives = bool(own.abs().sum() > 0)
            assert receives == (l >= U.S(net.config, i, t)), (t, l, i)


def test_evaluate_counts_every_output():
    net = dvnlib.build("FJ1", "smoke")
    data = {t: [(_x(net, t, 5), torch.zeros(5, dtype=torch.long))] for t in (1, 2)}
    res = train.evaluate(net, data)
    assert set(res) == {(1, 1), (1, 2), (2, 1), (2, 2)}
    assert all(n == 5 for _, n in res.values())


def test_bad_output_names_valid_values():
    net = dvnlib.build("FJ1", "smoke")
    with pytest.raises(ValueError, match="valid levels are 1..2"):
        net(_x(net, 1), 1, 3)
    with pytest.raises(ValueError, match="valid tasks are 1..2"):
        net.extract(5, 1)


def test_a_strided_1x1_split_conv_is_the_1x1_conv_of_every_stride_th_pixel():
    """A narrow network's shortcut (2-channel units, stride 2, NHWC, one thread): oneDNN's strided
    1x1 backward corrupted the heap there on AVX2 CPUs (torch 2.13), so the split convolution
    subsamples first. The same convolution, and a joint step of J2's smoke network (its units have
    2 channels) that ends cleanly; in a child process, so that a crash fails this test rather than
    ending the suite."""
    import subprocess
    import sys
    code = """
import torch, torch.nn.functional as F
torch.set_num_threads(1)
from dvnlib import scenarios as S, train as T
from dvnlib.bench.training import _random_batches
from dvnlib.layout import layout
from dvnlib.network import DVNNet
lay = layout("J2", "smoke")
net = DVNNet.from_layout(lay).train()
conv = next(b.shortcut for b in net.blocks if b.shortcut is not None and b.shortcut.d.stride == 2).eval()
k, out, inp = next(iter(conv.bns)), (0, 4), (0, 2)
x = torch.randn(8, 2, 16, 16).contiguous(memory_format=torch.channels_last)
with torch.no_grad():
    y = conv(x, k, out, inp)
    with torch.backends.mkldnn.flags(enabled=False):
        ref = F.conv2d(x, conv.weight[0:4, 0:2], None, 2, 0)
    mean, var, w, b, bn = conv.bn_parts(k, out)
    ref = F.batch_norm(ref, mean, var, w, b, False, bn.momentum, bn.eps)
assert y.shape == (8, 4, 8, 8) and torch.allclose(y, ref, atol=1e-6), (y.shape, (y - ref).abs().max())
for _ in range(3):
    T.joint_step(net, T.sgd(net.parameters(), S.get("J2").profile("smoke")), _random_batches(lay, 16, "cpu", 0))
print("ok")
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), (p.returncode, p.stderr[-2000:])
