#!/usr/bin/python3
"""Trains the branchy AlexNet jointly over its exits on CIFAR-10 (CPU, Debian's torch).

    /usr/bin/python3 tools/train/train.py --data ../shared/data/cifar10 --epochs 30 \
        --out build/train

Checkpoints every epoch to OUT/ckpt.pt and resumes from it, so a run can be split
across sessions. Logs one JSON line per epoch to OUT/log.jsonl.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import net  # noqa: E402


def load_cifar(path, files):
    xs, ys = [], []
    for f in files:
        raw = np.fromfile(os.path.join(path, f), dtype=np.uint8).reshape(-1, 3073)
        ys.append(raw[:, 0].astype(np.int64))
        xs.append(raw[:, 1:].reshape(-1, 3, 32, 32))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def normalize(xb):
    mean = torch.tensor(net.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(net.STD).view(1, 3, 1, 1)
    return ((xb.float() / 255.0) - mean) / std


def augment(xb, gen):
    """Random crop with 4-pixel zero padding (in normalized space) and horizontal flip."""
    n = xb.shape[0]
    p = F.pad(xb, (4, 4, 4, 4))
    dx = torch.randint(0, 9, (n,), generator=gen)
    dy = torch.randint(0, 9, (n,), generator=gen)
    idx = torch.arange(32)
    rows = (dy[:, None] + idx[None, :])  # n,32
    cols = (dx[:, None] + idx[None, :])
    out = p[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None],
            rows[:, None, :, None], cols[:, None, None, :]]
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def evaluate(model, x, y, bs=500):
    model.eval()
    correct = None
    with torch.no_grad():
        for i in range(0, x.shape[0], bs):
            xb = normalize(x[i:i + bs]).contiguous(memory_format=torch.channels_last)
            outs = model(xb)
            c = torch.stack([(o.argmax(1) == y[i:i + bs]).sum() for o in outs])
            correct = c if correct is None else correct + c
    return (correct.double() / x.shape[0]).tolist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/cifar10")
    ap.add_argument("--out", default="build/train")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--exit-weights", default="1,1,1")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)

    xtr, ytr = load_cifar(a.data, [f"data_batch_{i}.bin" for i in range(1, 6)])
    xte, yte = load_cifar(a.data, ["test_batch.bin"])
    xtr_n = normalize(xtr)
    weights = [float(w) for w in a.exit_weights.split(",")]

    model = net.BranchyAlexNet().to(memory_format=torch.channels_last)
    decay, no_decay = [], []
    for n_, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": a.wd},
                           {"params": no_decay, "weight_decay": 0}],
                          lr=a.lr, momentum=0.9, nesterov=True)
    steps_per_epoch = math.ceil(xtr.shape[0] / a.batch)
    total = steps_per_epoch * a.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=total,
                                                pct_start=0.2, div_factor=10,
                                                final_div_factor=100)
    gen = torch.Generator().manual_seed(a.seed)
    start = 0
    ck = os.path.join(a.out, "ckpt.pt")
    if os.path.exists(ck):
        s = torch.load(ck)
        model.load_state_dict(s["model"])
        opt.load_state_dict(s["opt"])
        sched.load_state_dict(s["sched"])
        gen.set_state(s["gen"])
        start = s["epoch"]
        print(f"resumed at epoch {start}", flush=True)

    for ep in range(start, a.epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(xtr.shape[0], generator=gen)
        tl = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * a.batch:(i + 1) * a.batch]
            xb = augment(xtr_n[idx], gen).contiguous(memory_format=torch.channels_last)
            yb = ytr[idx]
            outs = model(xb)
            loss = sum(w * F.cross_entropy(o, yb) for w, o in zip(weights, outs))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tl += loss.item()
        dt = time.time() - t0
        acc = evaluate(model, xte, yte)
        rec = {"epoch": ep + 1, "loss": tl / steps_per_epoch, "test_acc": acc,
               "epoch_s": round(dt, 1), "lr": sched.get_last_lr()[0]}
        print(json.dumps(rec), flush=True)
        with open(os.path.join(a.out, "log.jsonl"), "a") as f:
            f.write(json.dumps(rec) + "\n")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                    "sched": sched.state_dict(), "gen": gen.get_state(),
                    "epoch": ep + 1, "args": vars(a)}, ck + ".tmp")
        os.replace(ck + ".tmp", ck)


if __name__ == "__main__":
    main()
