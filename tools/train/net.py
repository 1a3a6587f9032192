"""The branchy AlexNet: one explicit layer table shared by training and export.

Every entry is one runtime layer (a potential partition point). Batch norm lives
inside the conv entries during training and is folded into the conv weights at
export, so the C runtime never sees it. Dropout is training-only and has no entry.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

import cifar

# (name, type, params). conv: (cin, cout, k, stride, pad); pool: (k, stride, pad);
# lrn: (size, alpha, beta, k); fc: (cin, cout[, output scale]); add: (earlier layer,).
# conv takes an optional sixth parameter, groups (groups == cin: depthwise);
# attn: (c, d), SAGAN self-attention over the spatial positions (Attn below).
LRN = (5, 1e-4, 0.75, 2.0)
TRUNK = [
    ("conv1", "conv", (3, 32, 3, 1, 1)), ("relu1", "relu", ()),
    ("pool1", "maxpool", (3, 2, 1)), ("lrn1", "lrn", LRN),
    ("conv2", "conv", (32, 64, 3, 1, 1)), ("relu2", "relu", ()),
    ("pool2", "maxpool", (3, 2, 1)), ("lrn2", "lrn", LRN),
    ("conv3", "conv", (64, 192, 3, 1, 1)), ("relu3", "relu", ()),
    ("conv4", "conv", (192, 256, 3, 1, 1)), ("relu4", "relu", ()),
    ("pool4", "maxpool", (3, 2, 1)),
    ("conv5", "conv", (256, 256, 3, 1, 1)), ("relu5", "relu", ()),
    ("pool5", "maxpool", (3, 2, 1)),
    ("flatten5", "flatten", ()),
    ("fc6", "fc", (1024, 512)), ("relu6", "relu", ()),
    ("fc7", "fc", (512, 10)),
]
# Side branches: (attach after this trunk layer, layers)
BRANCHES = [
    ("lrn2", [
        ("b1_conv", "conv", (64, 128, 3, 1, 1)), ("b1_relu", "relu", ()),
        ("b1_pool", "maxpool", (3, 2, 1)), ("b1_flatten", "flatten", ()),
        ("b1_fc", "fc", (2048, 10)),
    ]),
    ("relu3", [
        ("b2_pool", "avgpool", (2, 2, 0)),
        ("b2_conv", "conv", (192, 128, 3, 1, 1)), ("b2_relu", "relu", ()),
        ("b2_flatten", "flatten", ()),
        ("b2_fc", "fc", (2048, 10)),
    ]),
]
# export writes the model file's normalisation from here
MEAN, STD = cifar.MEAN, cifar.STD
DROPOUT_BEFORE = {"fc6": 0.3, "fc7": 0.3}


def exits(trunk=TRUNK, branches=BRANCHES):
    """Each exit as a list of (name, type, params): the trunk prefix + its branch."""
    out = []
    for attach, layers in branches:
        idx = [n for n, _, _ in trunk].index(attach)
        out.append(trunk[: idx + 1] + layers)
    out.append(list(trunk))
    return out


def single_tensor_cuts(layers):
    """Partition points p (layers [0, p) on the device) where one tensor crosses the
    link: no residual add at or after p reads a layer before p - 1."""
    index = {n: i for i, (n, _, _) in enumerate(layers)}
    cuts = []
    for p in range(len(layers) + 1):
        if all(index[q[0]] >= p - 1 for i, (_, t, q) in enumerate(layers)
               if t == "add" and i >= p):
            cuts.append(p)
    return cuts


class LRNFn(torch.autograd.Function):
    """Cross-channel LRN, b = a / (k + alpha/n * sum_window a^2)^beta, window
    [c - n/2, c + (n-1)/2] as torch's nn.LocalResponseNorm. Hand-written backward:
    torch's own module is several times slower on this CPU build."""

    @staticmethod
    def window_sum(t, n):
        c = t.shape[1]
        p = F.pad(t, (0, 0, 0, 0, n // 2, (n - 1) // 2))
        acc = p[:, 0:c]
        for i in range(1, n):
            acc = acc + p[:, i:i + c]
        return acc

    @staticmethod
    def forward(ctx, x, n, alpha, beta, k):
        s = k + (alpha / n) * LRNFn.window_sum(x * x, n)
        y = x * s.pow(-beta)
        ctx.save_for_backward(x, s)
        ctx.p = (n, alpha, beta)
        return y

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved_tensors
        n, alpha, beta = ctx.p
        sb = s.pow(-beta)
        t = g * x * sb / s
        # the transpose of the window sum is the window mirrored
        c = t.shape[1]
        p = F.pad(t, (0, 0, 0, 0, (n - 1) // 2, n // 2))
        acc = p[:, 0:c]
        for i in range(1, n):
            acc = acc + p[:, i:i + c]
        return g * sb - (2.0 * alpha * beta / n) * x * acc, None, None, None, None


class Attn(nn.Module):
    """SAGAN self-attention with a residual, over the H*W positions of a C x H x W map:
    Q = Wq x + bq (d x N), K = Wk x + bk (d x N), V = Wv x + bv (C x N),
    out = x + gamma * V softmax_j(scale * Q^T K)^T, scale = 1/sqrt(d).
    gamma starts at 0 (SAGAN): the layer starts as the identity. The C runtime's attn
    layer computes out = x + V softmax(scale Q^T K)^T, gamma folded into Wv and bv
    (export_weights)."""

    def __init__(self, c, d):
        super().__init__()
        self.d = d
        self.q = nn.Conv2d(c, d, 1)
        self.k = nn.Conv2d(c, d, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        n, c, h, w = x.shape
        q = self.q(x).reshape(n, self.d, h * w)
        k = self.k(x).reshape(n, self.d, h * w)
        v = self.v(x).reshape(n, c, h * w)
        a = torch.softmax(torch.bmm(q.transpose(1, 2), k) * self.d ** -0.5, dim=2)
        return x + self.gamma * torch.bmm(v, a.transpose(1, 2)).reshape(n, c, h, w)

    def export_weights(self, fold_scale=False):
        """(Wq, bq, Wk, bk, Wv, bv, scale) as float32 tensors, gamma folded into Wv, bv;
        with fold_scale the scale too, into Wq, bq (scale returned as 1.0)."""
        sc = self.d ** -0.5
        qs = sc if fold_scale else 1.0
        g = self.gamma.detach().double()
        f = [self.q.weight.detach().double()[:, :, 0, 0] * qs, self.q.bias.detach().double() * qs,
             self.k.weight.detach().double()[:, :, 0, 0], self.k.bias.detach().double(),
             self.v.weight.detach().double()[:, :, 0, 0] * g, self.v.bias.detach().double() * g]
        return [t.float() for t in f] + [1.0 if fold_scale else sc]


def make_layer(typ, p):
    if typ == "conv":
        cin, cout, k, s, pad = p[:5]
        groups = p[5] if len(p) > 5 else 1
        return nn.Sequential(nn.Conv2d(cin, cout, k, s, pad, groups=groups, bias=False),
                             nn.BatchNorm2d(cout))
    if typ == "fc":
        return nn.Linear(p[0], p[1])
    if typ == "attn":
        return Attn(*p)
    return None


class TableNet(nn.Module):
    """A multi-exit network run from a layer table: trunk + (attach, layers) branches.
    Shared by every model in tools/train so training and export read one table."""

    def __init__(self, trunk, branches, dropout_before=None):
        super().__init__()
        self.trunk, self.branches = trunk, branches
        self.dropout_before = dropout_before or {}
        self.mods = nn.ModuleDict()
        for layers in [trunk] + [b for _, b in branches]:
            for name, typ, p in layers:
                m = make_layer(typ, p)
                if m is not None:
                    self.mods[name] = m
        self.drop = nn.Dropout(0.3)

    def run(self, x, name, typ, p, feats):
        if typ in ("conv", "attn"):
            return self.mods[name](x)
        if typ == "fc":
            if self.training and name in self.dropout_before:
                x = self.drop(x)
            # fc as a 1x1 "valid" conv: torch's CPU matmul here is reference BLAS
            w = self.mods[name].weight
            b = self.mods[name].bias
            y = F.conv2d(x.reshape(x.shape[0], -1, 1, 1), w[:, :, None, None], b)
            y = y.reshape(y.shape[0], -1)
            # an fc's optional third parameter scales its output; export folds it
            return y * p[2] if len(p) > 2 else y
        if typ == "relu":
            return F.relu(x)
        if typ == "maxpool":
            return F.max_pool2d(x, p[0], p[1], p[2])
        if typ == "avgpool":
            return F.avg_pool2d(x, p[0], p[1], p[2], count_include_pad=True)
        if typ == "add":
            # residual add: this layer's input plus an earlier layer's output
            return x + feats[p[0]]
        if typ == "lrn":
            return LRNFn.apply(x, *p)
        if typ == "flatten":
            # NCHW flatten order, as the C runtime stores tensors
            return x.contiguous().reshape(x.shape[0], -1)
        raise ValueError(typ)

    def forward(self, x, taps=None):
        outs = []
        feats = {}
        for name, typ, p in self.trunk:
            x = self.run(x, name, typ, p, feats)
            feats[name] = x
            if taps is not None and name in taps:
                taps[name] = x
        for attach, layers in self.branches:
            y = feats[attach]
            for name, typ, p in layers:
                y = self.run(y, name, typ, p, feats)
                feats[name] = y
                if taps is not None and name in taps:
                    taps[name] = y
            outs.append(y)
        outs.append(x)
        return outs


class BranchyAlexNet(TableNet):
    def __init__(self):
        super().__init__(TRUNK, BRANCHES, DROPOUT_BEFORE)


def flops(layers, shape=(3, 32, 32)):
    """Per layer (name, type, out_shape, flops); a multiply-add counts 2."""
    c, h, w = shape
    res = []
    for name, typ, p in layers:
        f = 0
        if typ == "conv":
            cin, cout, k, s, pad = p[:5]
            h = (h + 2 * pad - k) // s + 1
            w = (w + 2 * pad - k) // s + 1
            f = 2 * cout * h * w * (cin // (p[5] if len(p) > 5 else 1)) * k * k
            c = cout
        elif typ in ("maxpool", "avgpool"):
            k, s, pad = p
            h = (h + 2 * pad - k) // s + 1
            w = (w + 2 * pad - k) // s + 1
            f = c * h * w * k * k
        elif typ == "fc":
            f = 2 * p[0] * p[1]
            c, h, w = p[1], 1, 1
        elif typ == "flatten":
            c, h, w = c * h * w, 1, 1
        elif typ in ("relu", "add"):
            f = c * h * w
        elif typ == "lrn":
            f = c * h * w * (p[0] + 4)
        elif typ == "attn":
            # Q, K, V projections; Q^T K; softmax (max, exp, sum, divide: ~4 per
            # entry); V A^T; the residual add
            n, d = h * w, p[1]
            f = 2 * n * c * (2 * d + c) + 2 * n * n * d + 4 * n * n + 2 * n * n * c + c * n
        res.append((name, typ, (c, h, w), f))
    return res
