#!/usr/bin/python3
"""Export a trained checkpoint to the coinfer model format, fold batch norm into the
convs (and an fc's output scale into its weights), measure PyTorch's per-exit accuracy
on the exported weights and write the golden fixture the C tests compare against.

    /usr/bin/python3 tools/train/export.py --ckpt /work/train/ckpt.pt \
        --data ../shared/data/cifar10                  # the branchy AlexNet
    /usr/bin/python3 tools/train/export.py --arch resnet9 --ckpt /work/train-resnet/ckpt.pt \
        --data ../shared/data/cifar10                  # the branchy ResNet-9
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelfile  # noqa: E402
import net  # noqa: E402
import resnet  # noqa: E402

# Per architecture: the model, its file name, and the intermediate tensors the golden
# fixture keeps (each a partition point, so the C test can run from one to the next).
ARCHS = {
    "alexnet": dict(make=lambda width: net.BranchyAlexNet(), name="branchy-alexnet",
                    taps=["lrn2", "pool4", "pool5", "b2_pool"]),
    "resnet9": dict(make=resnet.BranchyResNet9, name="branchy-resnet9",
                    taps=["add2", "b2_pool", "add3"]),  # fixture ~2 MB
}
GOLDEN_N = 32


def fold_layer(model, name, typ, p, parent, index):
    """One model-file layer record (modelfile.write's dict) of a table entry, BN folded
    into a conv, an fc's output scale into its weights, an attention's gamma into its
    values; index maps the names of this chain's earlier layers to record indices."""
    sd = model.state_dict()
    L = {"name": name, "type": typ, "parent": parent, "p": [], "f": [], "w": None, "b": None}
    if typ == "conv":
        cin, cout, k, s, pad = p[:5]
        w = sd[f"mods.{name}.0.weight"].double()
        g = sd[f"mods.{name}.1.weight"].double()
        beta = sd[f"mods.{name}.1.bias"].double()
        mu = sd[f"mods.{name}.1.running_mean"].double()
        var = sd[f"mods.{name}.1.running_var"].double()
        eps = model.mods[name][1].eps
        sc = g / torch.sqrt(var + eps)
        L["w"] = (w * sc[:, None, None, None]).float().numpy()
        L["b"] = (beta - mu * sc).float().numpy()
        L["p"] = [cout, k, k, s, s, pad, pad, p[5] if len(p) > 5 else 1]
    elif typ == "fc":
        sc = p[2] if len(p) > 2 else 1.0
        L["w"] = (sd[f"mods.{name}.weight"].double() * sc).float().numpy()
        L["b"] = (sd[f"mods.{name}.bias"].double() * sc).float().numpy()
        L["p"] = [p[1]]
    elif typ == "attn":
        wq, bq, wk, bk, wv, bv, scale = model.mods[name].export_weights()
        L["w"] = torch.cat([wq, wk, wv]).numpy()
        L["b"] = torch.cat([bq, bk, bv]).numpy()
        L["p"], L["f"] = [p[1]], [scale]
    elif typ == "add":
        L["p"] = [index[p[0]]]
    elif typ in ("maxpool", "avgpool"):
        k, s, pad = p
        L["p"] = [k, k, s, s, pad, pad]
    elif typ == "lrn":
        L["p"] = [p[0]]
        L["f"] = [p[1], p[2], p[3]]
    return L


def fold(model):
    """Layer list in file order (trunk, then branches) with BN folded into conv and
    an fc's output scale into its weights and bias."""
    index = {}
    layers = []

    def add(name, typ, p, parent):
        index[name] = len(layers)
        layers.append(fold_layer(model, name, typ, p, parent, index))

    prev = -1
    for name, typ, p in model.trunk:
        add(name, typ, p, prev)
        prev = index[name]
    for attach, blayers in model.branches:
        prev = index[attach]
        for name, typ, p in blayers:
            add(name, typ, p, prev)
            prev = index[name]
    exits = [[index[n] for n, _, _ in e] for e in net.exits(model.trunk, model.branches)]
    return layers, exits


def same_layer(a, b):
    """Records equal in all but the name and the parent: weights that can be shared."""
    def arr_eq(x, y):
        return (x is None) == (y is None) and (x is None or (x.shape == y.shape and
                                                             np.array_equal(x, y)))
    return (a["type"] == b["type"] and list(a["p"]) == list(b["p"]) and
            list(a["f"]) == list(b["f"]) and arr_eq(a["w"], b["w"]) and arr_eq(a["b"], b["b"]))


def add_variant(layers, model, path, tag):
    """Appends the records exit `path` (table entries of model) needs to `layers`: a
    layer equal to an existing record with the same parent is that record; equal to
    one elsewhere, a new record named NAME@tag sharing its weights; else a new record
    with its own. Returns the exit's record indices."""
    index, prev, chain = {}, -1, []
    for name, typ, p in path:
        L = fold_layer(model, name, typ, p, prev, index)
        same = [j for j, R in enumerate(layers) if R["name"].split("@")[0] == name and
                same_layer(R, L)]
        here = [j for j in same if layers[j]["parent"] == prev]
        if here:
            j = here[0]
        else:
            if same:
                L["alias"] = same[0] if layers[same[0]].get("alias") is None \
                    else layers[same[0]]["alias"]
            if any(R["name"] == name for R in layers):
                L["name"] = f"{name}@{tag}"
            j = len(layers)
            layers.append(L)
        index[name] = prev = j
        chain.append(j)
    return chain


def attn_forward(x, L):
    """The file's attention layer (model-format.md): x + V softmax(scale Q^T K)^T from
    the stacked Wq, Wk, Wv and biases."""
    n, c, h, w = x.shape
    d = L["p"][0]
    W = torch.from_numpy(L["w"]).reshape(2 * d + c, c)
    B = torch.from_numpy(L["b"])
    proj = torch.einsum("rc,ncp->nrp", W, x.reshape(n, c, h * w)) + B[None, :, None]
    q, k, v = proj[:, :d], proj[:, d:2 * d], proj[:, 2 * d:]
    a = torch.softmax(torch.bmm(q.transpose(1, 2), k) * L["f"][0], dim=2)
    return x + torch.bmm(v, a.transpose(1, 2)).reshape(n, c, h, w)


def torch_forward(mf, x, e, upto=None, taps=None):
    """Run exit e (0-based) of a model read by modelfile.read on a float batch,
    independently of the training code (torch's own LRN)."""
    seq = mf["exits"][e]
    if upto is None:
        upto = len(seq)
    outs = {}
    for pos in range(upto):
        L = mf["layers"][seq[pos]]
        p = L["p"]
        t = L["type"]
        if t == "conv":
            cout, kh, kw, sh, sw, ph, pw, g = p[:8]
            cin = x.shape[1]
            w = torch.from_numpy(L["w"]).reshape(cout, cin // g, kh, kw)
            x = F.conv2d(x, w, torch.from_numpy(L["b"]), (sh, sw), (ph, pw), 1, g)
        elif t == "fc":
            w = torch.from_numpy(L["w"]).reshape(p[0], -1)
            x = F.linear(x.reshape(x.shape[0], -1), w, torch.from_numpy(L["b"]))
        elif t == "relu":
            x = F.relu(x)
        elif t == "maxpool":
            x = F.max_pool2d(x, (p[0], p[1]), (p[2], p[3]), (p[4], p[5]))
        elif t == "avgpool":
            x = F.avg_pool2d(x, (p[0], p[1]), (p[2], p[3]), (p[4], p[5]), count_include_pad=True)
        elif t == "lrn":
            x = F.local_response_norm(x, p[0], L["f"][0], L["f"][1], L["f"][2])
        elif t == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif t == "add":
            x = x + outs[p[0]]
        elif t == "attn":
            x = attn_forward(x, L)
        outs[seq[pos]] = x
        if taps is not None and L["name"] in taps:
            taps[L["name"]] = (pos + 1, x.clone())
    return x


def normalize(mf, xb):
    mean = torch.tensor(mf["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(mf["std"], dtype=torch.float32).view(1, -1, 1, 1)
    return ((xb.float() / 255.0) - mean) / std


def load_test(data):
    raw = np.fromfile(os.path.join(data, "test_batch.bin"), dtype=np.uint8).reshape(-1, 3073)
    return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0].astype(np.int64)


def accuracy(mf, imgs, labels, bs=500):
    correct = np.zeros(len(mf["exits"]))
    with torch.no_grad():
        for i in range(0, len(labels), bs):
            x = normalize(mf, torch.from_numpy(imgs[i:i + bs]))
            for e in range(len(mf["exits"])):
                correct[e] += (torch_forward(mf, x, e).argmax(1).numpy() == labels[i:i + bs]).sum()
    return (correct / len(labels)).tolist()


def write_golden(path, mf, checksum, imgs, labels, tap_names):
    x = normalize(mf, torch.from_numpy(imgs))
    tensors = []
    with torch.no_grad():
        for e in range(len(mf["exits"])):
            taps = {n: None for n in tap_names}
            out = torch_forward(mf, x, e, taps=taps)
            for n, v in taps.items():
                if v is not None and not any(t[0] == n for t in tensors):
                    tensors.append((n, e, v[0], v[1]))
            tensors.append((f"exit{e + 1}", e, len(mf["exits"][e]), out))
    with open(path, "wb") as f:
        f.write(b"CFGOLD1\0" + struct.pack("<IIQ", len(labels), len(tensors), checksum))
        f.write(imgs.astype(np.uint8).tobytes())
        f.write(labels.astype(np.uint8).tobytes())
        for name, e, pos, t in tensors:
            t = t.reshape(len(labels), -1).contiguous().numpy().astype("<f4")
            f.write(name.encode().ljust(32, b"\0") + struct.pack("<III", e, pos, t.shape[1]))
            f.write(t.tobytes())


def variant(spec, base_ckpt, layers, tag):
    """Appends the records of variant `spec` (KIND=CKPT) to layers; returns (its model
    with the link's quantizer off, its exit dict, the model output it reproduces)."""
    kind, _, path = spec.partition("=")
    if kind == "codec" and path:
        import featcodec  # noqa: E402 (its torch modules only when a codec is exported)
        vm, pruned = featcodec.load(path, base_ckpt)
        kind = "pruned+codec" if pruned else kind  # a codec trained on a prune result
        vm.bits = 0  # the export check compares fp32; the link quantizes at run time
        split = vm.quant_after
        served = featcodec.served_exit(vm.trunk, vm.branches, split)
    elif kind == "pruned" and path:
        s = torch.load(path)
        if "split" not in s:
            raise SystemExit(f"--variant {spec}: not a prune.py result (no split point)")
        vm = net.TableNet(s["trunk"], s["branches"])
        vm.load_state_dict(s["model"])
        vm.eval()
        split, served = s["split"], s.get("exit", len(s["branches"]) + 1) - 1
    else:
        raise SystemExit(f"--variant {spec}: give codec=CKPT (a featcodec.py run) or "
                         "pruned=RESULT (a prune.py run)")
    path_ = net.exits(vm.trunk, vm.branches)[served]
    chain = add_variant(layers, vm, path_, tag)
    pos = [n for n, _, _ in path_].index(split) + 1
    return vm, {"layers": chain, "variant": kind, "of": served, "split": pos}, served


def check_fold(mf, refs, x):
    """Every exit of the written file against the training graph it came from."""
    with torch.no_grad():
        outs = {}
        for e, (model, k) in enumerate(refs):
            ref = outs.setdefault(id(model), model(x))[k]
            d = (ref - torch_forward(mf, x, e)).abs().max().item()
            assert d <= 1e-3 * ref.abs().max().item(), f"fold mismatch exit {e + 1}: {d}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--arch", choices=sorted(ARCHS), default="alexnet")
    ap.add_argument("--out", help="default models/NAME.cfm")
    ap.add_argument("--golden", help="default tests/golden/NAME.golden")
    ap.add_argument("--data", default="../shared/data/cifar10")
    ap.add_argument("--name", help="default: the architecture's (branchy-alexnet, ...)")
    ap.add_argument("--random", action="store_true", help="export an untrained model (tests)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variant", action="append", default=[], metavar="KIND=CKPT",
                    help="append a variant exit (model-format.md): codec=a featcodec.py run's "
                    "ckpt.pt (pruned+codec when it was trained on a prune.py result), "
                    "pruned=a prune.py result; repeatable")
    a = ap.parse_args()
    arch = ARCHS[a.arch]
    a.name = a.name or arch["name"]
    a.out = a.out or f"models/{a.name}.cfm"
    a.golden = a.golden or f"tests/golden/{a.name}.golden"
    torch.set_num_threads(a.threads)
    ck = None if a.random else torch.load(a.ckpt)
    model = arch["make"](ck["args"].get("width", resnet.WIDTH) if ck else resnet.WIDTH)
    if not a.random:
        model.load_state_dict(ck["model"])
    else:
        torch.manual_seed(0)
        for m_ in model.modules():  # non-trivial BN statistics so folding is exercised
            if isinstance(m_, torch.nn.BatchNorm2d):
                m_.running_mean.uniform_(-0.5, 0.5)
                m_.running_var.uniform_(0.5, 2.0)
                m_.weight.data.uniform_(0.5, 1.5)
                m_.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    layers, exits = fold(model)
    # (model, its exit's output index) that each exit of the file must reproduce
    refs = [(model, e) for e in range(len(exits))]
    taps = list(arch["taps"])
    for i, spec in enumerate(a.variant):
        vmodel, x, e = variant(spec, a.ckpt, layers, len(exits) + 1)
        exits.append(x)
        refs.append((vmodel, e))
        taps.append(layers[x["layers"][x["split"] - 1]]["name"])
    size = modelfile.write(a.out, a.name, (3, 32, 32), 10, net.MEAN, net.STD, layers, exits)
    mf = modelfile.read(a.out)
    checksum = struct.unpack("<Q", open(a.out, "rb").read()[-8:])[0]
    imgs, labels = load_test(a.data)
    check_fold(mf, refs, normalize(mf, torch.from_numpy(imgs[:64])))
    os.makedirs(os.path.dirname(a.golden) or ".", exist_ok=True)
    write_golden(a.golden, mf, checksum, imgs[:GOLDEN_N], labels[:GOLDEN_N], taps)
    res = {"model": a.out, "bytes": size, "checksum": f"{checksum:016x}"}
    if not a.random:
        res["torch_accuracy"] = accuracy(mf, imgs, labels)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
