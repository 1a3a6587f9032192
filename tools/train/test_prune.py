#!/usr/bin/python3
"""Checks of prune.py on a small random ResNet-9 (seconds, no data set):

    /usr/bin/python3 tools/train/test_prune.py
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import net  # noqa: E402
import prune  # noqa: E402
import resnet  # noqa: E402


def small(width=16, seed=0):
    torch.manual_seed(seed)
    trunk, branches = resnet.table(width)
    model = net.TableNet(trunk, branches)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    return trunk, branches, model.eval()


def test_groups():
    trunk, branches = resnet.table(16)
    groups = sorted(sorted(g) for g in prune.wiring(trunk, branches)[2])
    assert ["conv1", "res1b"] in groups and ["conv2", "res2b"] in groups, groups
    assert ["conv3", "res3b"] in groups and ["res1a"] in groups, groups
    p = prune.cut_index(trunk, "add1")
    dev = sorted(sorted(g) for g in prune.device_groups(trunk, branches, p, "keep"))
    assert dev == [["conv0"], ["conv1", "res1b"], ["res1a"]], dev
    p = prune.cut_index(trunk, "pool1")
    dev = sorted(sorted(g) for g in prune.device_groups(trunk, branches, p, "keep"))
    assert dev == [["conv0"]], dev


def test_surgery_exact():
    """Channels whose BN gamma and beta are zero output zeros: removing them physically
    must leave every exit's logits unchanged."""
    trunk, branches, model = small()
    x = torch.randn(4, 3, 32, 32)
    drop = {}
    for i, g in enumerate(prune.device_groups(trunk, branches, len(trunk), "keep")):
        idx = torch.tensor([i % 3, 5])
        for c in g:
            model.mods[c][1].weight.data[idx] = 0
            model.mods[c][1].bias.data[idx] = 0
        drop[tuple(g)] = idx
    with torch.no_grad():
        ref = model(x)
    a = prune.parse_args(["--ckpt", "-", "--split", "add3"])
    t2, b2, sd = prune.remove(a, model, trunk, branches, drop, None)
    small_model = prune.build(t2, b2, sd).eval()
    with torch.no_grad():
        out = small_model(x)
    for r, o in zip(ref, out):
        assert torch.allclose(r, o, atol=1e-5), (r - o).abs().max()
    assert prune.conv_widths(t2)["conv1"] == 14 and prune.conv_widths(t2)["res1b"] == 14
    assert prune.device_flops(t2, len(t2)) < prune.device_flops(trunk, len(trunk))


def test_mean_shift():
    """The predicted drop of a consumer's pre-BN mean equals the measured one."""
    trunk, branches, model = small()
    x = (torch.rand(64, 3, 32, 32) * 255).to(torch.uint8)
    taps = prune.wiring(trunk, branches)[1]
    means = prune.input_means(model, taps, x)
    (c, d), = [s for s in prune.shifts(model, trunk, branches, ["res1a"], means)]
    assert c == "res1b"
    inp = {taps[c]: None}
    with torch.no_grad():
        model(prune.cifar.normalize(x), inp)
        conv = model.mods[c][0]
        full = conv(inp[taps[c]]).double().mean((0, 2, 3))
        z = inp[taps[c]].clone()
        z[:, 3] = 0
        less = conv(z).double().mean((0, 2, 3))
    assert torch.allclose(full - less, d[:, 3], atol=1e-4), (full - less - d[:, 3]).abs().max()


def test_plan():
    trunk, branches = resnet.table(64)
    a = prune.parse_args(["--ckpt", "-", "--split", "add2", "--flops", "0.5"])
    p = prune.cut_index(trunk, "add2")
    groups = prune.device_groups(trunk, branches, p, "keep")
    drops = prune.plan(a, trunk, branches, p, groups)
    f = prune.flops_after(trunk, branches, p, groups, drops)
    assert f <= 0.5 * prune.device_flops(trunk, p), f
    assert f > 0.45 * prune.device_flops(trunk, p), f


def test_compensate():
    """A channel with gamma 0 outputs the constant relu(beta): removing it with the
    compensation moves the logits less than removing it without."""
    trunk, branches, model = small()
    x = (torch.rand(32, 3, 32, 32) * 255).to(torch.uint8)
    g = ["res1a"]
    model.mods["res1a"][1].weight.data[:4] = 0
    model.mods["res1a"][1].bias.data[:4] = 0.5
    with torch.no_grad():
        ref = model(prune.cifar.normalize(x))[-1]
    err = []
    for comp in ([], ["--compensate"]):
        a = prune.parse_args(["--ckpt", "-", "--split", "add3"] + comp)
        t2, b2, sd = prune.remove(a, model, trunk, branches, {tuple(g): torch.arange(4)}, x)
        with torch.no_grad():
            out = prune.build(t2, b2, sd).eval()(prune.cifar.normalize(x))[-1]
        err.append((out - ref).abs().mean().item())
    # not exact: zero padding makes a constant channel non-constant at the borders
    assert err[1] < 0.5 * err[0], err


def server_changes(method, train):
    """Prune a small ResNet-9 at add2 with `method` and a tiny fine-tuning; per layer of
    the served exit (3) after the split, the state entries that differ from the input's,
    sliced input columns of a pruned group's consumer taken into account."""
    trunk, branches, model = small()
    sd0 = {k: v.clone() for k, v in model.state_dict().items()}
    x = (torch.rand(64, 3, 32, 32) * 255).to(torch.uint8)
    y = torch.randint(0, 10, (64,))
    a = prune.parse_args(["--ckpt", "-", "--split", "add2", "--method", method,
                          "--train", train, "--subset", "64", "--batch", "32",
                          "--epochs-per-layer", "1", "--final-epochs", "1", "--lr", "0.5"])
    p = prune.cut_index(trunk, "add2")
    prune.check_served(a, trunk, branches, p)
    info = {}
    gen = torch.Generator().manual_seed(0)
    m2, t2, b2 = prune.METHODS[method](a, (trunk, branches, sd0), p,
                                       (prune.cifar.normalize(x), y), x, gen, info)
    feeds = prune.wiring(trunk, branches)[0]
    removed = {c: g["removed"] for g in info["groups"] for c in g["convs"]}
    sd = m2.state_dict()
    changed, device_changed = [], False
    for k, v in sd.items():
        layer = k.split(".")[1]
        if layer not in [n for n, _, _ in trunk[p:]]:
            device_changed |= layer in [n for n, _, _ in trunk[:p]] and \
                v.shape == sd0[k].shape and not torch.equal(v, sd0[k])
            continue
        ref = sd0[k]
        src = feeds[layer][0]
        if k.endswith("0.weight") and removed.get(src):
            keep = [i for i in range(ref.shape[1]) if i not in removed[src]]
            ref = ref[:, keep]
        if not torch.equal(v, ref):
            changed.append(k)
    assert removed, "nothing pruned"
    assert device_changed, "the device part was not fine-tuned"
    return changed


def test_frozen_server():
    """--train frozen: every layer of exit 3 after the split keeps the input's weights and
    BN statistics bitwise, except the columns of removed channels; --train server moves
    them (so the check is not vacuous)."""
    for method in ("fbm", "slim"):
        assert server_changes(method, "frozen") == [], method
    assert server_changes("slim", "server"), "server mode left the server unchanged"


if __name__ == "__main__":
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            fn()
            print("ok", name)
