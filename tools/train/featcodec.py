#!/usr/bin/python3
"""Seed 003's task-oriented asymmetric feature codec (§3.3), training side: a light
encoder on the device that cuts the channels at a split point r-fold, the link's own
min-max quantizer (straight-through), and a heavier decoder on the server, trained
with the rest of the branchy ResNet-9 frozen. README.md, "The learned feature codec".

    /usr/bin/python3 tools/train/featcodec.py --describe        # layers, sizes, MFLOP
    /usr/bin/python3 tools/train/featcodec.py --check-c         # quantizer == codec/
    /usr/bin/python3 tools/train/featcodec.py --split add1 --ratio 8 --bits 8 \\
        --epochs 2 --ckpt /work/train-resnet2/ckpt.pt --out /work/codec/add1-r8-b8

Encoder and decoder are layer-table entries (net.py's types: conv with BN, relu, add
and attn) spliced into the model's table after the split point, so the exporter
writes them as model-file layers; the quantizer is not a layer: it is the link codec
(codec/quant-scalar.c) applied to the encoder's output, the new partition point.
"""
import argparse
import ctypes
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cifar  # noqa: E402
import net  # noqa: E402
import resnet  # noqa: E402
import train as trainer  # noqa: E402 (featcodec has its own train())

# Single-tensor partition points of the ResNet-9 trunk where a codec makes sense: the
# 16x16, 8x8 and 4x4 maps after a pool or a residual block (64x16x16 ... 256x4x4).
CANDIDATES = ("pool1", "add1", "pool2", "add2", "pool3")
# Bytes of one (min, max) pair in the codec frame (docs/codec-frame.md: 2 x f32).
PAIR_BYTES = 8


# ---------------------------------------------------------------------------
# The quantizer: exactly the C codec's min-max quantizer, straight-through.

def minmax_scale_step(x, bits, per_channel):
    """(mn, mx, s, step) per image and channel (N,C,1,1) or per image (N,1,1,1), as
    codec/quant-internal.h: s = L / (mx - mn) and step = (mx - mn) / L in float32,
    both 0 for a degenerate pair (not mx > mn, or the range or s overflowing)."""
    dims = (2, 3) if per_channel else (1, 2, 3)
    # The codec skips NaN/inf; a feature map here has none, so plain min/max agree.
    mn = x.amin(dim=dims, keepdim=True) + 0.0  # + 0.0: -0 -> +0 as cc_minmax_finish
    mx = x.amax(dim=dims, keepdim=True) + 0.0
    # Tensors on both sides: torch computes `scalar / tensor` as a reciprocal times the
    # scalar (two roundings), and may divide by a scalar the same way.
    lv = torch.full_like(mx, float((1 << bits) - 1))
    r = mx - mn
    s = lv / r
    bad = ~(mx > mn) | ~(r <= 3.4028234663852886e38) | ~(s <= 3.4028234663852886e38)
    s = torch.where(bad, torch.zeros_like(s), s)
    step = torch.where(bad, torch.zeros_like(r), r / lv)
    return mn, mx, s, step


def quantize(x, bits, per_channel=True):
    """(q, mn, step): q = clamp(floor((x - mn) * s + 0.5), 0, L) with the sub, mul and
    add each rounded to float32 (the C code is built with -ffp-contract=off)."""
    mn, _, s, step = minmax_scale_step(x, bits, per_channel)
    t = torch.floor((x - mn) * s + 0.5)
    q = torch.clamp(torch.nan_to_num(t, nan=0.0), 0, (1 << bits) - 1)
    return q, mn, step


def dequantize(q, mn, step):
    """x = fma(q, step, mn): q * step is exact in double (<= 16 + 24 bits), so the
    double sum rounded to float32 is fmaf's result save for a rare double rounding."""
    return (q.double() * step.double() + mn.double()).float()


class QuantSTE(torch.autograd.Function):
    """Forward: quantize and dequantize as the link does; backward: identity."""

    @staticmethod
    def forward(ctx, x, bits, per_channel):
        q, mn, step = quantize(x.detach(), bits, per_channel)
        return dequantize(q, mn, step)

    @staticmethod
    def backward(ctx, g):
        return g, None, None


def symbol_stats(q, bits):
    """Per-image order-0 entropy of the symbols, in bytes (an estimate of what the
    link's Huffman coder gets), summed over the batch."""
    n = q.shape[0]
    qi = q.reshape(n, -1).long() + (torch.arange(n)[:, None] << bits)
    h = torch.bincount(qi.reshape(-1), minlength=n << bits).reshape(n, -1).double()
    p = h / h.sum(1, keepdim=True)
    ent = -(p * torch.log2(torch.where(p > 0, p, torch.ones_like(p)))).sum(1)
    return float((ent * q[0].numel() / 8).sum())


# ---------------------------------------------------------------------------
# The codec as layer-table entries, and the model with the codec spliced in.

def shape_at(trunk, split):
    """(C, H, W) of the trunk layer's output."""
    for name, _, shape, _ in net.flops(trunk):
        if name == split:
            return shape
    raise KeyError(split)


def code_channels(c, ratio):
    """Channels of the code: C/r, rounded up (a pruned split point has any C)."""
    return -(-c // ratio)


def codec_layers(split, c, ratio):
    """(encoder, decoder) layer lists for a C-channel map at `split`, names prefixed
    with the split point so that several codecs can live in one model file.
    Encoder (device): depthwise 3x3 + BN + relu, pointwise C -> C/r + BN, linear: a
    relu would zero about half of an r-fold narrower code, and the quantizer's range
    covers negative values at no cost. Decoder (server): pointwise C/r -> C + BN +
    relu, self-attention (d = C/8), a ResNet bottleneck (1x1 C -> C/4, 3x3, 1x1 C/4
    -> C, residual from the attention's output) and a final relu: every candidate
    split's tensor is nonnegative (a relu's, a max pool of one, a sum of those)."""
    if c < 8:
        raise ValueError(f"{split}: {c} channels, too few for a codec")
    p, m, b, k = f"{split}_enc", f"{split}_dec", c // 4, code_channels(c, ratio)
    enc = [(f"{p}_dw", "conv", (c, c, 3, 1, 1, c)), (f"{p}_dw_relu", "relu", ()),
           (f"{p}_pw", "conv", (c, k, 1, 1, 0))]
    dec = [(f"{m}_pw", "conv", (k, c, 1, 1, 0)), (f"{m}_pw_relu", "relu", ()),
           (f"{m}_attn", "attn", (c, c // 8)),
           (f"{m}_b1", "conv", (c, b, 1, 1, 0)), (f"{m}_b1_relu", "relu", ()),
           (f"{m}_b2", "conv", (b, b, 3, 1, 1)), (f"{m}_b2_relu", "relu", ()),
           (f"{m}_b3", "conv", (b, c, 1, 1, 0)),
           (f"{m}_add", "add", (f"{m}_attn",)), (f"{m}_relu", "relu", ())]
    return enc, dec


def with_codec(trunk, branches, split, enc, dec):
    """(trunk, branches) with enc + dec after `split`; every later reader of the split
    point's tensor (a residual add, a branch attached there) reads the decoder's."""
    i = [n for n, _, _ in trunk].index(split)
    last = dec[-1][0]
    rest = [(n, t, (last,) + tuple(p[1:]) if t == "add" and p[0] == split else p)
            for n, t, p in trunk[i + 1:]]
    return (trunk[:i + 1] + enc + dec + rest,
            [(last if a == split else a, layers) for a, layers in branches])


def served_exit(trunk, branches, split, want=None):
    """0-based exit the codec is trained for: `want` (1-based) if its path contains
    the split point, else the deepest such exit (the last: the trunk holds every
    candidate, so the codec serves the full-accuracy exit by default)."""
    paths = [[n for n, _, _ in e] for e in net.exits(trunk, branches)]
    ok = [e for e, names in enumerate(paths) if split in names]
    if want is None:
        return ok[-1]
    if want - 1 not in ok:
        raise ValueError(f"exit {want} does not pass through {split}")
    return want - 1


class CodecNet(net.TableNet):
    """A TableNet whose layer `quant_after`'s output goes through the link's
    quantizer (bits 0: none). With quant_after = the split point itself and no codec
    layers, it is the plain b-bit baseline."""

    def __init__(self, trunk, branches, quant_after=None, bits=0, per_channel=True):
        super().__init__(trunk, branches)
        self.quant_after, self.bits, self.per_channel = quant_after, bits, per_channel
        self.stats = None  # a dict to collect symbol statistics into (evaluation)

    def run(self, x, name, typ, p, feats):
        y = super().run(x, name, typ, p, feats)
        if name != self.quant_after or not self.bits:
            return y
        if self.stats is not None:
            q, _, _ = quantize(y.detach(), self.bits, self.per_channel)
            self.stats["entropy_bytes"] = (self.stats.get("entropy_bytes", 0.0)
                                           + symbol_stats(q, self.bits))
            self.stats["images"] = self.stats.get("images", 0) + y.shape[0]
        return QuantSTE.apply(y, self.bits, self.per_channel)


def sizes(c, h, w, ratio, bits, per_channel):
    """Per image: floats at the split point before and after the encoder, and the raw
    quantized tensor's bytes (packed symbols; + the (min, max) pairs)."""
    after = code_channels(c, ratio) * h * w
    pairs = code_channels(c, ratio) if per_channel else 1
    packed = (after * bits + 7) // 8
    return {"floats_before": c * h * w, "floats_after": after, "bytes_packed": packed,
            "bytes_with_pairs": packed + PAIR_BYTES * pairs}


# ---------------------------------------------------------------------------
# Training.

def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=CANDIDATES, default="add1")
    ap.add_argument("--ratio", type=int, default=8, help="channel reduction (8 or 16)")
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--per-tensor", action="store_true",
                    help="one (min, max) pair per image instead of one per channel")
    ap.add_argument("--exit", type=int, help="1-based exit to train for (default: deepest)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0,
                    help="train on the first N images and test on N/5")
    ap.add_argument("--test", type=int, help="test on the first N test images instead")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, help="Adam one-cycle peak (3e-3; 1e-3 with --init)")
    ap.add_argument("--distill", type=float, default=0.0,
                    help="weight of the feature-distillation term (0: task loss only)")
    ap.add_argument("--kd", type=float, default=0.0,
                    help="weight of a distillation term to the plain network's own logits "
                    "at the served exit (KL at temperature 2; 0: labels only)")
    ap.add_argument("--init", help="codec weights from an earlier run's ckpt.pt "
                    "(the 4-bit fine-tune starts from the 8-bit codec)")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the plain / plain-quantized accuracies")
    ap.add_argument("--ckpt", default="/work/train-resnet2/ckpt.pt",
                    help="the trained branchy ResNet-9 (frozen), or a prune.py result at the "
                    "same split (the pruned+codec variant)")
    ap.add_argument("--data", default="/work/shared/data/cifar10")
    ap.add_argument("--out", default="build/featcodec")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--describe", action="store_true", help="print the codecs and exit")
    ap.add_argument("--entropy-study", metavar="CKPT",
                    help="a trained codec's symbols: per-image entropy against a static "
                    "per-channel model (would a range coder pay?), and exit")
    ap.add_argument("--check-c", action="store_true",
                    help="compare the quantizer with codec/quant-scalar.c and exit")
    a = ap.parse_args()
    if a.lr is None:
        a.lr = 1e-3 if a.init else 3e-3
    return a


def base_net(path):
    """(trunk, branches, state dict, pruned) of the network a codec is trained on: a
    train.py checkpoint (the plain ResNet-9) or a prune.py result (its own table with the
    device part pruned; the codec then makes the pruned+codec variant)."""
    s = torch.load(path)
    if "trunk" in s:
        return s["trunk"], s["branches"], s["model"], True
    return (*resnet.table(), s["model"], False)


def build(a, base=None):
    """(model, codec layer names, exit index, (C, H, W)) with the codec for a.split, on
    base = base_net(...) (default: the plain table, no weights)."""
    trunk, branches, base_sd, _ = base or (*resnet.table(), None, False)
    c, h, w = shape_at(trunk, a.split)
    enc, dec = codec_layers(a.split, c, a.ratio)
    t2, b2 = with_codec(trunk, branches, a.split, enc, dec)
    model = CodecNet(t2, b2, enc[-1][0], a.bits, not a.per_tensor)
    names = [n for n, _, _ in enc + dec]
    if base_sd is not None:
        missing, unexpected = model.load_state_dict(base_sd, strict=False)
        bad = [k for k in missing if k.split(".")[1] not in names] + list(unexpected)
        if bad:
            raise ValueError(f"{a.ckpt}: keys do not match the model: {bad[:4]}")
    ex = served_exit(t2, b2, a.split, a.exit)
    return model, names, ex, (c, h, w)


def load(path, base=None):
    """(the network with a trained codec spliced in, whether its base is pruned), from a
    featcodec run's ckpt.pt (and the base network's: default the one it was trained on;
    a pruned base is always its own): for the exporter. The partition point is after
    model.quant_after; model.bits is the link's width."""
    s = torch.load(path)
    a = argparse.Namespace(**s["args"])
    own = base_net(a.ckpt)
    model, names, ex, chw = build(a, own if own[3] or not base else base_net(base))
    model.load_state_dict(s["codec"], strict=False)
    return model.eval(), own[3]


def codec_state(model, names):
    return {k: v for k, v in model.state_dict().items() if k.split(".")[1] in names}


def evaluate(model, x, y):
    """(per-exit accuracy, mean entropy bytes per image or None)."""
    model.stats = {}
    acc = cifar.evaluate(model, x, y)
    st, model.stats = model.stats, None
    return acc, (st["entropy_bytes"] / st["images"] if st else None)


def baseline(a, base, ex, chw, xte, yte):
    """The honest comparison: the served exit's accuracy without any codec, and with
    the plain link quantizer at the split point (no encoder/decoder) at 8 and 4 bits."""
    trunk, branches, base_sd, _ = base
    rec = {"baseline": True, "split": a.split, "exit": ex + 1}
    for bits in (0, 8, 4):
        m = CodecNet(trunk, branches, a.split, bits, not a.per_tensor)
        m.load_state_dict(base_sd)
        m = m.to(memory_format=torch.channels_last)
        acc, ent = evaluate(m, xte, yte)
        if not bits:
            rec["plain_acc"] = acc[ex]
            rec["plain_test_acc"] = acc
            continue
        r = {"acc": acc[ex], "test_acc": acc, "entropy_bytes": ent}
        r.update(sizes(*chw, 1, bits, not a.per_tensor))
        rec[f"quant{bits}"] = r
    return rec


def train_epoch(model, mods, opt, sched, a, data, ex, gen, teacher=None):
    xtr_n, ytr = data
    steps = math.ceil(xtr_n.shape[0] / a.batch)
    perm = torch.randperm(xtr_n.shape[0], generator=gen)
    model.eval()  # the frozen network keeps its BN statistics
    for m in mods:
        m.train()
    tl = 0.0
    for i in range(steps):
        idx = perm[i * a.batch:(i + 1) * a.batch]
        xb = cifar.augment(xtr_n[idx], gen).contiguous(memory_format=torch.channels_last)
        taps = {a.split: None, mods.last: None} if a.distill else None
        outs = model(xb, taps)
        loss = F.cross_entropy(outs[ex], ytr[idx])
        if teacher is not None:
            with torch.no_grad():
                t = F.softmax(teacher(xb)[ex] / 2.0, 1)
            kl = F.kl_div(F.log_softmax(outs[ex] / 2.0, 1), t, reduction="batchmean")
            loss = loss + a.kd * 4.0 * kl
        if a.distill:
            t = taps[a.split]
            loss = loss + a.distill * F.mse_loss(taps[mods.last], t) / t.var()
        tl += trainer.step(opt, sched, loss)
    return tl / steps


class Mods(list):
    """The codec's modules (conv+BN, attn), with the codec's layer names and the
    decoder's last one."""


def load_data(a):
    """(normalized training images, labels, test images, labels) after --limit/--test."""
    xtr, ytr = cifar.load_cifar(a.data, [f"data_batch_{i}.bin" for i in range(1, 6)])
    xte_all, yte_all = xte, yte = cifar.load_cifar(a.data, ["test_batch.bin"])
    if a.limit:
        xtr, ytr, xte, yte = xtr[:a.limit], ytr[:a.limit], xte[:a.limit // 5], yte[:a.limit // 5]
    if a.test:
        xte, yte = xte_all[:a.test], yte_all[:a.test]
    return cifar.normalize(xtr), ytr, xte, yte


def frozen_with_codec(a, base):
    """(model, codec modules, exit, (C, H, W)): the network frozen, the codec (from
    --init if given) the only trainable part."""
    model, names, ex, chw = build(a, base)
    if a.init:
        _, unexpected = model.load_state_dict(torch.load(a.init)["codec"], strict=False)
        if unexpected:
            raise ValueError(f"{a.init}: not a codec for {a.split} at ratio {a.ratio}: "
                             f"{unexpected[:4]}")
    model = model.to(memory_format=torch.channels_last)
    mods = Mods(model.mods[n] for n in names if n in model.mods)
    mods.names, mods.last = names, names[-1]
    for n_, p in model.named_parameters():
        p.requires_grad = n_.split(".")[1] in names
    return model, mods, ex, chw


def codec_mflop(model, names, chw, ratio):
    enc = [t for t in model.trunk if t[0] in names[:3]]
    dec = [t for t in model.trunk if t[0] in names[3:]]
    cr = (code_channels(chw[0], ratio), chw[1], chw[2])
    return {"enc_mflop": sum(r[3] for r in net.flops(enc, chw)) / 1e6,
            "dec_mflop": sum(r[3] for r in net.flops(dec, cr)) / 1e6}


def train(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    xtr_n, ytr, xte, yte = load_data(a)
    base = base_net(a.ckpt)
    model, mods, ex, chw = frozen_with_codec(a, base)
    names = mods.names
    params = [p for m in mods for p in m.parameters()]
    steps = math.ceil(xtr_n.shape[0] / a.batch)
    opt = torch.optim.Adam(params, lr=a.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps * a.epochs,
                                                pct_start=0.2)
    gen = torch.Generator().manual_seed(a.seed)
    log = os.path.join(a.out, "log.jsonl")
    ck = os.path.join(a.out, "ckpt.pt")
    start = 0
    if os.path.exists(ck):
        s = torch.load(ck)
        model.load_state_dict(s["codec"], strict=False)
        opt.load_state_dict(s["opt"])
        sched.load_state_dict(s["sched"])
        gen.set_state(s["gen"])
        start = s["epoch"]
        print(f"resumed at epoch {start}", flush=True)
    elif not a.no_baseline:
        write(log, baseline(a, base, ex, chw, xte, yte))

    teacher = None
    if a.kd:
        teacher = net.TableNet(base[0], base[1])  # the base itself: pruned or plain
        teacher.load_state_dict(base[2])
        teacher = teacher.to(memory_format=torch.channels_last).eval()
    mflop = codec_mflop(model, names, chw, a.ratio)
    for ep in range(start, a.epochs):
        t0 = time.time()
        loss = train_epoch(model, mods, opt, sched, a, (xtr_n, ytr), ex, gen, teacher)
        dt = time.time() - t0
        acc, ent = evaluate(model, xte, yte)
        rec = {"epoch": ep + 1, "split": a.split, "ratio": a.ratio, "bits": a.bits,
               "per_channel": not a.per_tensor, "exit": ex + 1, "loss": loss,
               "acc": acc[ex], "test_acc": acc, "entropy_bytes": ent}
        rec.update(sizes(*chw, a.ratio, a.bits, not a.per_tensor))
        rec.update(mflop, epoch_s=round(dt, 1), lr=sched.get_last_lr()[0],
                   train_images=xtr_n.shape[0], test_images=xte.shape[0])
        write(log, rec)
        torch.save({"codec": codec_state(model, names), "opt": opt.state_dict(),
                    "sched": sched.state_dict(), "gen": gen.get_state(), "epoch": ep + 1,
                    "args": vars(a), "table": {"trunk": model.trunk, "branches": model.branches},
                    "quant_after": model.quant_after}, ck + ".tmp")
        os.replace(ck + ".tmp", ck)


def write(path, rec):
    print(json.dumps(rec), flush=True)
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


# ---------------------------------------------------------------------------
# --describe and --check-c.

def describe():
    trunk, _ = resnet.table()
    for split in CANDIDATES:
        c, h, w = shape_at(trunk, split)
        for ratio in (8, 16):
            enc, dec = codec_layers(split, c, ratio)
            fe = sum(r[3] for r in net.flops(enc, (c, h, w))) / 1e6
            fd = sum(r[3] for r in net.flops(dec, (code_channels(c, ratio), h, w))) / 1e6
            s8, s4 = sizes(c, h, w, ratio, 8, True), sizes(c, h, w, ratio, 4, True)
            print(f"{split:6s} {c}x{h}x{w} r={ratio:2d}: {s8['floats_before']:6d} -> "
                  f"{s8['floats_after']:5d} floats, 8 bits {s8['bytes_with_pairs']:5d} B, "
                  f"4 bits {s4['bytes_with_pairs']:5d} B (with pairs); "
                  f"encoder {fe:.2f} MFLOP, decoder {fd:.2f} MFLOP")
    enc, dec = codec_layers("add1", 64, 8)
    for n, t, p in enc + dec:
        print(f"  {n:16s} {t:5s} {p}")


def check_c():
    """Builds codec/quant-scalar.c alone (as codec/meson.build: -ffp-contract=off) and
    compares its quantize and dequantize with quantize()/dequantize() above."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    with tempfile.TemporaryDirectory() as d:
        so = os.path.join(d, "q.so")
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-ffp-contract=off", "-std=c11",
                        "-I", os.path.join(root, "include"), "-I", os.path.join(root, "codec"),
                        os.path.join(root, "codec", "quant-scalar.c"), "-o", so, "-lm"],
                       check=True)
        lib = ctypes.CDLL(so)
        fp = ctypes.POINTER(ctypes.c_float)
        up = ctypes.POINTER(ctypes.c_uint16)
        gen = torch.Generator().manual_seed(3)
        bad = 0
        for trial in range(40):
            c, hw = 16, 64
            x = torch.randn(1, c, 8, 8, generator=gen) * (10.0 ** (trial % 7 - 3))
            if trial % 5 == 0:
                x[0, 3] = 1.5  # a constant channel: degenerate pair
            if trial % 3 == 0:
                x = F.relu(x)
            for bits in (8, 4, 2, 16):
                for pc in (1, 0):
                    xn = x[0].contiguous().numpy()
                    g = c if pc else 1
                    mn = np.zeros(g, np.float32)
                    mx = np.zeros(g, np.float32)
                    q = np.zeros(c * hw, np.uint16)
                    xr = np.zeros(c * hw, np.float32)
                    lib.cc_minmax__scalar(xn.ctypes.data_as(fp), ctypes.c_size_t(c),
                                          ctypes.c_size_t(hw), pc, mn.ctypes.data_as(fp),
                                          mx.ctypes.data_as(fp))
                    lib.cc_quantize__scalar(xn.ctypes.data_as(fp), ctypes.c_size_t(c),
                                            ctypes.c_size_t(hw), pc, mn.ctypes.data_as(fp),
                                            mx.ctypes.data_as(fp), bits, q.ctypes.data_as(up))
                    lib.cc_dequantize__scalar(q.ctypes.data_as(up), ctypes.c_size_t(c),
                                              ctypes.c_size_t(hw), pc, mn.ctypes.data_as(fp),
                                              mx.ctypes.data_as(fp), bits,
                                              xr.ctypes.data_as(fp))
                    tq, tmn, tstep = quantize(x, bits, bool(pc))
                    tx = dequantize(tq, tmn, tstep)
                    dq = int((tq.reshape(-1).numpy().astype(np.uint16) != q).sum())
                    dx = int((tx.reshape(-1).numpy() != xr).sum())
                    bad += dq + dx
                    if dq or dx:
                        print(f"trial {trial} bits {bits} per_channel {pc}: "
                              f"{dq} symbols, {dx} values differ")
    print(f"check-c: {40 * 8} cases, {bad} differences")
    return 1 if bad else 0


def entropy_study(path, data, n_fit=10000):
    """Would a static per-channel entropy model with a range coder pay (issue 16 item
    3)? For a trained codec at its bits: the code's symbols per image under (a) the
    per-image order-0 entropy (what an adaptive Huffman frame approaches), (b) a
    static per-channel model fitted on the first n_fit training images and measured
    on the 10,000 test images (cross-entropy: a range coder's size up to a few
    bytes), against the packed symbols; the (min, max) pairs cost the same in all."""
    model, _ = load(path)
    xtr, _ = cifar.load_cifar(data, ["data_batch_1.bin", "data_batch_2.bin"])
    xte, _ = cifar.load_cifar(data, ["test_batch.bin"])
    L = 1 << model.bits

    def symbols(x):
        taps = {model.quant_after: None}
        out = []
        with torch.no_grad():
            for i in range(0, x.shape[0], 500):
                model.bits, b = 0, model.bits  # the tap before the quantizer
                model(cifar.normalize(x[i:i + 500]), taps)
                model.bits = b
                out.append(quantize(taps[model.quant_after], b, model.per_channel)[0].long())
        return torch.cat(out)  # N, C, H, W

    fit, test = symbols(xtr[:n_fit]), symbols(xte)
    n, c = test.shape[0], test.shape[1]
    per_image = symbol_stats(test, model.bits) / n
    counts = torch.stack([torch.bincount(fit[:, k].reshape(-1), minlength=L)
                          for k in range(c)]).double() + 0.5  # KT: no zero probabilities
    logp = torch.log2(counts / counts.sum(1, keepdim=True))
    bits = sum(-logp[k][test[:, k].reshape(-1)].sum().item() for k in range(c))
    rec = {"codec": path, "bits": model.bits, "channels": c, "values": test[0].numel(),
           "bytes_packed": test[0].numel() * model.bits / 8,
           "per_image_order0_bytes": per_image, "static_per_channel_bytes": bits / 8 / n,
           "fit_images": n_fit, "test_images": n}
    print(json.dumps(rec), flush=True)
    return rec


def main():
    a = parse_args()
    if a.entropy_study:
        entropy_study(a.entropy_study, a.data)
        return 0
    if a.describe:
        describe()
        return 0
    if a.check_c:
        return check_c()
    train(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
