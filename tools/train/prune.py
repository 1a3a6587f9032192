#!/usr/bin/python3
"""Channel pruning of the device part of a multi-exit model (issue 16 item 2): seed 003's
sparsity-aware feature-bias minimisation (`fbm`) against plain network slimming (`slim`,
Liu et al. 2017) at the same device FLOPs and the same fine-tuning budget.

    /usr/bin/python3 tools/train/prune.py --ckpt /work/train-resnet/stage1.pt \
        --split add2 --method fbm --flops 0.5 --out /work/prune

Only the convs of the trunk before the split are pruned. A residual block's skip and its
add share channels, so the convs whose outputs meet at an add are one group with one mask
(conv1 and res1b, conv2 and res2b, conv3 and res3b); the inner convs (res1a, ...) and the
stem are groups of one. The result is physically smaller: a layer table with the new widths
(net.TableNet builds it) and its state dict, written to OUT/METHOD-SPLIT.pt, and one JSON
line per run to OUT/log.jsonl. README.md says what was read into the seed and why.
"""
import argparse
import json
import math
import os
import sys
import time
import types

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cifar  # noqa: E402
import net  # noqa: E402
import resnet  # noqa: E402
import train  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True, help="train.py checkpoint or a prune.py result")
    ap.add_argument("--split", required=True,
                    help="trunk layer(s) after which the device stops, comma-separated")
    ap.add_argument("--method", default="fbm", choices=["fbm", "slim", "none"])
    ap.add_argument("--flops", type=float, default=0.5,
                    help="target device FLOPs as a fraction of the unpruned device part")
    ap.add_argument("--rates", help="per-group sparsity rates instead of --flops: "
                    "conv0=0.3,conv1=0.5 (a group named by any of its convs)")
    ap.add_argument("--out-factor", type=float, default=1.5,
                    help="rate multiplier for the group whose output crosses the link")
    ap.add_argument("--max-rate", type=float, default=0.9)
    ap.add_argument("--min-keep", type=float, default=0.1, help="fraction kept per group")
    ap.add_argument("--reactivate", type=float, default=0.25,
                    help="fbm: share of the masked channels given back after fine-tuning")
    ap.add_argument("--train", choices=["frozen", "server"], default="frozen",
                    help="frozen: only the device part is fine-tuned, on the served exit's "
                    "loss; the server's layers keep their weights (seed 003 section 3.4). "
                    "server: the whole network, joint loss over the exits")
    ap.add_argument("--exit", type=int, default=0,
                    help="the served exit, 1-based (default: the deepest)")
    ap.add_argument("--straddle", choices=["keep", "prune"], default="keep",
                    help="a group with convs on both sides of the split: leave it, or "
                    "prune it as one (the server's convs of the group too)")
    ap.add_argument("--l1", type=float, default=0.02, help="L1 strength on BN scales")
    ap.add_argument("--epochs-per-layer", type=int, default=2)
    ap.add_argument("--final-epochs", type=int, default=2)
    ap.add_argument("--subset", type=int, default=10000, help="training images per epoch")
    ap.add_argument("--lr", type=float, default=0.02, help="one-cycle peak per phase")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.2)
    ap.add_argument("--exit-weights", default="0.5,0.5,1")
    ap.add_argument("--calib", type=int, default=2000, help="images for the channel means")
    ap.add_argument("--compensate", action="store_true",
                    help="fold the removed channels' mean into the consumers (both methods)")
    ap.add_argument("--data", default="/work/shared/data/cifar10")
    ap.add_argument("--out", default="build/prune")
    ap.add_argument("--limit", type=int, default=0,
                    help="test on the first N/5 test images and draw from the first N "
                    "training images (development runs)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    return ap.parse_args(argv)


# ---- the layer table: who feeds whom, groups, widths ----

def load(path):
    """(trunk, branches, state dict) of a train.py checkpoint (ResNet-9 of the width its
    weights have) or of a prune.py result (its own table)."""
    s = torch.load(path)
    sd = s["model"]
    if "trunk" in s:
        return s["trunk"], s["branches"], sd
    width = sd["mods.conv1.0.weight"].shape[0]
    trunk, branches = resnet.table(width)
    return trunk, branches, sd


def wiring(trunk, branches):
    """For every conv and fc: (producer, mult): the conv whose output channels form its
    input (None: the image) and how many inputs one such channel is (an fc after a
    flatten of c x h x w: h*w). An add unites its two producers' groups. Returns that
    map, each consumer's input tap (the layer whose output it reads), the groups (lists
    of convs sharing one mask) and each layer's producer conv."""
    parent = {}

    def find(c):
        while parent[c] != c:
            c = parent[c]
        return c

    feeds, taps, width, src = {}, {}, {}, {}

    def walk(layers, cur, prev):
        for name, typ, p in layers:
            if typ in ("conv", "fc"):
                feeds[name] = (cur, 1 if cur is None or typ == "conv" else p[0] // width[cur])
                taps[name] = prev
            if typ == "conv":
                parent[name] = name
                width[name] = p[1]
                cur = name
            elif typ == "fc":
                cur = None
            elif typ == "add" and cur is not None:
                parent[find(src[p[0]])] = find(cur)
            src[name] = cur
            prev = name

    walk(trunk, None, None)
    for attach, layers in branches:
        walk(layers, src[attach], attach)
    groups = {}
    for c in parent:
        groups.setdefault(find(c), []).append(c)
    return feeds, taps, list(groups.values()), src


def cut_index(trunk, split):
    names = [n for n, _, _ in trunk]
    if split not in names:
        raise SystemExit(f"--split {split}: not a trunk layer ({', '.join(names)})")
    p = names.index(split) + 1
    if p not in net.single_tensor_cuts(trunk):
        raise SystemExit(f"--split {split}: not a single-tensor cut (inside a residual block)")
    return p


def resized(trunk, branches, widths):
    """The table with conv output widths from `widths` (conv -> channels) and every
    consumer's input width to match."""
    feeds = wiring(trunk, branches)[0]
    old = {n: p[1] for layers in [trunk] + [b for _, b in branches]
           for n, t, p in layers if t == "conv"}

    def fix(layers):
        out = []
        for name, typ, p in layers:
            if typ in ("conv", "fc"):
                s, mult = feeds[name]
                cin = p[0] if s is None else widths.get(s, old[s]) * mult
                cout = widths.get(name, p[1]) if typ == "conv" else p[1]
                p = (cin, cout) + tuple(p[2:])
            out.append((name, typ, p))
        return out

    return fix(trunk), [(a, fix(b)) for a, b in branches]


def device_flops(trunk, p):
    return sum(r[3] for r in net.flops(trunk[:p]))


def cut_values(trunk, p):
    c, h, w = net.flops(trunk[:p])[-1][2]
    return c * h * w


def conv_widths(trunk):
    return {n: p[1] for n, t, p in trunk if t == "conv"}


# ---- weights: channel means, feature bias, surgery ----

class ServedNet(net.TableNet):
    """A TableNet whose `frozen` layers get no gradient and keep their BN in eval mode
    whatever train() says (train.train_epoch calls model.train()): their running stats
    stay too, so their state dict is the input checkpoint's."""

    def __init__(self, trunk, branches, frozen=()):
        super().__init__(trunk, branches)
        self.frozen = [n for n in frozen if n in self.mods]
        for n in self.frozen:
            self.mods[n].requires_grad_(False)

    def train(self, mode=True):
        super().train(mode)
        for n in self.frozen:
            self.mods[n].eval()
        return self


def build(trunk, branches, sd, frozen=()):
    model = ServedNet(trunk, branches, frozen)
    model.load_state_dict(sd)
    return model.to(memory_format=torch.channels_last)


def served(a, trunk, branches, p):
    """(frozen layers, consumers the criterion counts, loss weights per exit) of --train:
    frozen: every layer but the device part trunk[:p] is frozen (the served exit's server
    layers and the other exits' heads alike), the loss is the served exit's alone and the
    criterion counts only consumers on its path; server: nothing frozen, the joint loss,
    every consumer."""
    if a.train == "server":
        return (), None, [float(w) for w in a.exit_weights.split(",")]
    dev = set(n for n, _, _ in trunk[:p])
    frozen = [n for layers in [trunk] + [b for _, b in branches] for n, _, _ in layers
              if n not in dev]
    path = set(n for n, _, _ in net.exits(trunk, branches)[a.exit - 1])
    weights = [0.0] * (len(branches) + 1)
    weights[a.exit - 1] = 1.0
    return frozen, path, weights


def input_means(model, taps, x, bs=500):
    """Mean over the images x (uint8) of every tap's output: C x H x W maps, or a vector
    after a flatten. Eval mode: the BN of the consumers normalise with running stats."""
    model.eval()
    names = set(t for t in taps.values() if t is not None)
    acc = {}
    with torch.no_grad():
        for i in range(0, x.shape[0], bs):
            t = {n: None for n in names}
            model(cifar.normalize(x[i:i + bs]).contiguous(memory_format=torch.channels_last), t)
            for n, v in t.items():
                acc[n] = acc.get(n, 0) + v.double().sum(0)
    return {n: v / x.shape[0] for n, v in acc.items()}


def mean_shift(w, typ, p, mean, mult):
    """delta[e, d]: how much the mean of a consumer's output e (before its BN) drops when
    its input channel d is removed, from its weights w and its input's mean map (exact in
    expectation: the consumer is linear; zero padding included)."""
    w = w.double()
    if typ == "fc":
        cin = w.shape[1]
        return (w * mean.reshape(1, cin)).reshape(w.shape[0], cin // mult, mult).sum(2)
    _, _, k, s, pad = p
    m = torch.nn.functional.pad(mean, (pad, pad, pad, pad))
    ho = (mean.shape[1] + 2 * pad - k) // s + 1
    wo = (mean.shape[2] + 2 * pad - k) // s + 1
    a = torch.empty(mean.shape[0], k, k, dtype=torch.double)
    for i in range(k):
        for j in range(k):
            a[:, i, j] = m[:, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s].mean((1, 2))
    return (w * a[None]).sum((2, 3))


def layer_index(trunk, branches):
    return {n: (t, p) for layers in [trunk] + [b for _, b in branches] for n, t, p in layers}


def shifts(model, trunk, branches, group, means, only=None):
    """Per consumer of the group's channels (those in `only` if given): (name, delta[e, d])
    (see mean_shift)."""
    feeds, taps, _, _ = wiring(trunk, branches)
    info = layer_index(trunk, branches)
    out = []
    for c, (s, mult) in feeds.items():
        if s in group and (only is None or c in only):
            typ, p = info[c]
            w = model.mods[c][0].weight if typ == "conv" else model.mods[c].weight
            out.append((c, mean_shift(w.detach(), typ, p, means[taps[c]], mult)))
    return out


def feature_bias(model, trunk, branches, group, means, only=None):
    """Seed 003's criterion: per channel of the group, the total feature bias its removal
    causes, sum over the consumers' outputs e of |change of the mean after their BN|
    (|gamma_e| / sigma_e times the mean shift; an fc's logits have no BN)."""
    total = 0
    for c, d in shifts(model, trunk, branches, group, means, only):
        m = model.mods[c]
        if isinstance(m, torch.nn.Sequential):
            bn = m[1]
            scale = (bn.weight.detach().abs() / torch.sqrt(bn.running_var + bn.eps)).double()
            d = d * scale[:, None]
        total = total + d.abs().sum(0)
    return total


def surgery(trunk, branches, sd, keep, comp=None):
    """The smaller network: keep[conv] = output channels kept (one tensor per group);
    every consumer's input weights follow. comp[consumer] = delta[e] of the removed
    channels, folded into its BN running mean (fc: bias) when compensating."""
    feeds = wiring(trunk, branches)[0]
    info = layer_index(trunk, branches)
    widths = {c: len(k) for c, k in keep.items()}
    sd = dict(sd)
    for c, (s, mult) in feeds.items():
        typ = info[c][0]
        pre = f"mods.{c}.0." if typ == "conv" else f"mods.{c}."
        w = sd[pre + "weight"]
        if s in keep:
            idx = (keep[s][:, None] * mult + torch.arange(mult)[None]).flatten()
            w = w[:, idx]
        if typ == "conv" and c in keep:
            w = w[keep[c]]
            for k in ("weight", "bias", "running_mean", "running_var"):
                sd[f"mods.{c}.1.{k}"] = sd[f"mods.{c}.1.{k}"][keep[c]]
        sd[pre + "weight"] = w.contiguous()
        if comp and c in comp:
            d = comp[c].float()
            if typ == "conv":
                d = d[keep[c]] if c in keep else d
                sd[f"mods.{c}.1.running_mean"] = sd[f"mods.{c}.1.running_mean"] - d
            else:
                sd[pre + "bias"] = sd[pre + "bias"] + d
    trunk, branches = resized(trunk, branches, widths)
    return trunk, branches, sd


# ---- which channels go: the plan ----

def device_groups(trunk, branches, p, straddle):
    """Groups of convs to prune, in table order: all their convs on the device (or any,
    with --straddle prune)."""
    dev = set(n for n, t, _ in trunk[:p] if t == "conv")
    out = []
    for g in wiring(trunk, branches)[2]:
        on = [c in dev for c in g]
        if all(on) or (straddle == "prune" and any(on)):
            out.append(g)
    return out


def min_keep(a, n):
    return max(1, math.ceil(a.min_keep * n))


def flops_after(trunk, branches, p, groups, drop):
    """Device FLOPs with drop[i] channels removed from groups[i]."""
    w = conv_widths(trunk)
    widths = {c: w[c] - k for g, k in zip(groups, drop) for c in g}
    return device_flops(resized(trunk, branches, widths)[0], p)


def plan(a, trunk, branches, p, groups):
    """Channels to remove per group, from --rates or from one rate for every group (the
    group at the split times --out-factor: the seed's harder pruning of the output
    layer) found by bisection so the device FLOPs reach --flops."""
    w = conv_widths(trunk)
    n = [w[g[0]] for g in groups]
    out = wiring(trunk, branches)[3][trunk[p - 1][0]]

    def drops(r):
        res = []
        for g, ng in zip(groups, n):
            rg = rates.get(g[0], r) if a.rates else min(a.max_rate, r * (
                a.out_factor if out in g else 1.0))
            res.append(min(round(rg * ng), ng - min_keep(a, ng)))
        return res

    rates = {}
    if a.rates:
        for item in a.rates.split(","):
            name, r = item.split("=")
            g = [g for g in groups if name in g]
            if not g:
                raise SystemExit(f"--rates {name}: not a prunable conv before the split")
            rates[g[0][0]] = float(r)
        return drops(0.0)
    target = a.flops * device_flops(trunk, p)
    lo, hi = 0.0, a.max_rate
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if flops_after(trunk, branches, p, groups, drops(mid)) <= target \
            else (mid, hi)
    return drops(hi)


# ---- fine-tuning with L1 on chosen BN scales ----

class L1Step:
    """Wraps the optimizer train.train_epoch steps: adds alpha * sign(gamma) * mask to
    the gradients of the chosen BN scales first (Liu et al.'s subgradient; the seed's
    eq. 11 with the mask M)."""

    def __init__(self, opt, terms, alpha):
        self.opt, self.terms, self.alpha = opt, terms, alpha

    def zero_grad(self, **kw):
        self.opt.zero_grad(**kw)

    def step(self):
        for prm, mask in self.terms:
            prm.grad.add_(self.alpha * torch.sign(prm.detach()) * mask)
        self.opt.step()


def finetune(a, model, data, epochs, terms, gen, weights):
    """`epochs` epochs of --subset random training images each, one one-cycle over them,
    train.py's optimizer and the loss over the exits weighted by `weights`; the last
    epoch's mean loss. Frozen parameters get no gradient, so SGD leaves them (and their
    weight decay) alone."""
    if epochs <= 0:
        return None
    xtr_n, ytr = data
    n = min(a.subset, xtr_n.shape[0])
    ns = types.SimpleNamespace(lr=a.lr, wd=a.wd, epochs=epochs, batch=a.batch,
                               label_smoothing=a.label_smoothing)
    opt, sched = train.make_optimizer(model, ns, math.ceil(n / a.batch))
    step = L1Step(opt, terms, a.l1)
    loss = None
    for _ in range(epochs):
        idx = torch.randperm(xtr_n.shape[0], generator=gen)[:n]
        loss = train.train_epoch(model, step, sched, ns, (xtr_n[idx], ytr[idx]), weights, gen)
    return loss


# ---- the methods ----

def remove(a, model, trunk, branches, drop_idx, calib):
    """Physically remove drop_idx[group] (tuple of convs -> channel indices)."""
    keep, comp = {}, {}
    means = input_means(model, wiring(trunk, branches)[1], calib) if a.compensate else None
    for g, idx in drop_idx.items():
        n = model.mods[g[0]][1].weight.shape[0]
        mask = torch.ones(n, dtype=torch.bool)
        mask[idx] = False
        for c in g:
            keep[c] = torch.nonzero(mask).flatten()
        if a.compensate:
            for c, d in shifts(model, trunk, branches, g, means):
                comp[c] = comp.get(c, 0) + d[:, idx].sum(1)
    return surgery(trunk, branches, model.state_dict(), keep, comp)


def bn_terms(model, groups, masks=None):
    """(gamma, mask) of every conv of the groups; mask all ones unless given."""
    out = []
    for i, g in enumerate(groups):
        for c in g:
            gm = model.mods[c][1].weight
            m = torch.ones_like(gm) if masks is None else masks[i]
            out.append((gm, m))
    return out


def run_fbm(a, state, p, data, calib, gen, info):
    """Seed 003 (section 3.2, steps 1-5), a group at a time in table order: rank by feature
    bias, mask the least important (the planned count plus --reactivate's share more),
    fine-tune with L1 on the masked BN scales, rank again, give the best of the masked
    back (reactivate) and remove the rest; a final fine-tune at the end. info gets per
    group the masked and the removed channels and the phase's last epoch loss."""
    trunk, branches, sd = state
    groups = device_groups(trunk, branches, p, a.straddle)
    drops = plan(a, trunk, branches, p, groups)
    frozen, only, w = served(a, trunk, branches, p)
    model = build(trunk, branches, sd, frozen)
    for g, k in zip(groups, drops):
        n = model.mods[g[0]][1].weight.shape[0]
        m = min(n - min_keep(a, n), math.ceil(k / (1 - a.reactivate))) if k else 0
        taps = wiring(trunk, branches)[1]
        fb = feature_bias(model, trunk, branches, g, input_means(model, taps, calib), only)
        masked = torch.argsort(fb)[:m]
        mask = torch.zeros(n)
        mask[masked] = 1
        loss = finetune(a, model, data, a.epochs_per_layer, bn_terms(model, [g], [mask]), gen,
                        w)
        gone = masked[:0]
        if k:
            fb = feature_bias(model, trunk, branches, g, input_means(model, taps, calib),
                              only)
            gone = masked[torch.argsort(fb[masked])[:k]]
        info.setdefault("groups", []).append({"convs": g, "masked": sorted(masked.tolist()),
                                              "removed": sorted(gone.tolist()), "loss": loss})
        if not k:
            continue
        trunk, branches, sd = remove(a, model, trunk, branches, {tuple(g): gone}, calib)
        model = build(trunk, branches, sd, frozen)
    info["final_loss"] = finetune(a, model, data, a.final_epochs, [], gen, w)
    return model, trunk, branches


def slim_drop(a, model, trunk, branches, p, groups, target):
    """Network slimming's global threshold: the smallest |gamma| (a group's mean over
    its convs) go first, until the device FLOPs reach the target."""
    w = conv_widths(trunk)
    cand = []
    for i, g in enumerate(groups):
        s = torch.stack([model.mods[c][1].weight.detach().abs() for c in g]).mean(0)
        cand += [(s[j].item(), i, j) for j in range(w[g[0]])]
    cand.sort()
    drops, gone = [0] * len(groups), [[] for _ in groups]
    for _, i, j in cand:
        if flops_after(trunk, branches, p, groups, drops) <= target:
            break
        n = w[groups[i][0]]
        if n - drops[i] > min_keep(a, n):
            drops[i] += 1
            gone[i].append(j)
    return {tuple(g): torch.tensor(x, dtype=torch.long) for g, x in zip(groups, gone) if x}


def run_slim(a, state, p, data, calib, gen, info):
    """Liu et al. 2017 on the device part: L1 on all its BN scales for as many epochs as
    fbm's per-group phases, prune to the FLOPs fbm's plan reaches, the same final
    fine-tune."""
    trunk, branches, sd = state
    groups = device_groups(trunk, branches, p, a.straddle)
    target = flops_after(trunk, branches, p, groups, plan(a, trunk, branches, p, groups))
    frozen, _, w = served(a, trunk, branches, p)
    model = build(trunk, branches, sd, frozen)
    info["sparse_loss"] = finetune(a, model, data, a.epochs_per_layer * len(groups),
                                   bn_terms(model, groups), gen, w)
    drop = slim_drop(a, model, trunk, branches, p, groups, target)
    info["groups"] = [{"convs": list(g), "removed": sorted(i.tolist())} for g, i in drop.items()]
    trunk, branches, sd = remove(a, model, trunk, branches, drop, calib)
    model = build(trunk, branches, sd, frozen)
    info["final_loss"] = finetune(a, model, data, a.final_epochs, [], gen, w)
    return model, trunk, branches


def run_none(a, state, p, data, calib, gen, info):
    """The control: the same fine-tuning budget, nothing removed."""
    trunk, branches, sd = state
    frozen, _, w = served(a, trunk, branches, p)
    model = build(trunk, branches, sd, frozen)
    n = len(device_groups(trunk, branches, p, a.straddle))
    info["final_loss"] = finetune(a, model, data, a.epochs_per_layer * n + a.final_epochs,
                                  [], gen, w)
    return model, trunk, branches


METHODS = {"fbm": run_fbm, "slim": run_slim, "none": run_none}


def check_served(a, trunk, branches, p):
    """--exit names an exit whose path crosses the split; --train frozen refuses the
    options that would change a server weight beyond slicing its input columns."""
    n = len(branches) + 1
    a.exit = a.exit or n
    if not 1 <= a.exit <= n:
        raise SystemExit(f"--exit {a.exit}: the model has exits 1..{n}")
    names = [x for x, _, _ in trunk]
    if a.exit < n and names.index(branches[a.exit - 1][0]) < p - 1:
        raise SystemExit(f"--exit {a.exit}: its branch leaves the trunk at "
                         f"{branches[a.exit - 1][0]}, before the split {names[p - 1]}")
    if a.train == "frozen" and a.straddle == "prune":
        raise SystemExit("--straddle prune with --train frozen: it would remove a server "
                         "conv's output channels")
    if a.train == "frozen" and a.compensate:
        raise SystemExit("--compensate with --train frozen: it would change the server's "
                         "BN means")


def load_data(a):
    """(training images, labels), (test images, labels); --limit: the first N and N/5."""
    tr = cifar.load_cifar(a.data, [f"data_batch_{i}.bin" for i in range(1, 6)])
    te = cifar.load_cifar(a.data, ["test_batch.bin"])
    if a.limit:
        tr = tuple(t[:a.limit] for t in tr)
        te = tuple(t[:a.limit // 5] for t in te)
    return tr, te


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    (xtr, ytr), (xte, yte) = load_data(a)
    data = (cifar.normalize(xtr), ytr)
    calib = xtr[:a.calib]
    state = load(a.ckpt)
    acc0 = cifar.evaluate(build(*state), xte, yte)
    for split in a.split.split(","):
        gen = torch.Generator().manual_seed(a.seed)
        t0 = time.time()
        trunk0 = state[0]
        p = cut_index(trunk0, split)
        check_served(a, trunk0, state[1], p)
        info = {}
        model, trunk, branches = METHODS[a.method](a, state, p, data, calib, gen, info)
        rec = {"split": split, "method": a.method, "ckpt": a.ckpt,
               "flops_device_before": device_flops(trunk0, p),
               "flops_device_after": device_flops(trunk, p),
               "cut_values_before": cut_values(trunk0, p), "cut_values_after": cut_values(trunk, p),
               "widths_before": conv_widths(trunk0[:p]), "widths_after": conv_widths(trunk[:p]),
               "acc_before": acc0, "acc_after": cifar.evaluate(model, xte, yte),
               "wall_s": round(time.time() - t0, 1), "exit": a.exit, "train": a.train}
        rec["acc_served_before"] = acc0[a.exit - 1]
        rec["acc_served_after"] = rec["acc_after"][a.exit - 1]
        rec["flops_fraction"] = round(rec["flops_device_after"] / rec["flops_device_before"], 4)
        rec["channels"] = info
        rec["args"] = vars(a)
        print(json.dumps(rec), flush=True)
        with open(os.path.join(a.out, "log.jsonl"), "a") as f:
            f.write(json.dumps(rec) + "\n")
        torch.save({"trunk": trunk, "branches": branches, "model": model.state_dict(),
                    "split": split, "exit": a.exit, "method": a.method, "log": rec},
                   os.path.join(a.out, f"{a.method}-{split}.pt"))


if __name__ == "__main__":
    main()
