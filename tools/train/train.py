#!/usr/bin/python3
"""Trains a multi-exit model jointly over its exits on CIFAR-10 (CPU, Debian's torch):
the branchy AlexNet (net.py, --arch alexnet) or the branchy ResNet-9 (resnet.py,
--arch resnet9).

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

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cifar  # noqa: E402
import net  # noqa: E402
import resnet  # noqa: E402


# Per architecture: the model and its recipe's defaults (README.md says why).
ARCHS = {
    "alexnet": dict(make=lambda a: net.BranchyAlexNet(), exit_weights="1,1,1", batch=128,
                    lr=0.1, label_smoothing=0.0),
    "resnet9": dict(make=lambda a: resnet.BranchyResNet9(a.width), exit_weights="0.5,0.5,1",
                    batch=256, lr=0.2, label_smoothing=0.2),
}


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/cifar10")
    ap.add_argument("--out", default="build/train")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--arch", choices=sorted(ARCHS), default="alexnet")
    ap.add_argument("--width", type=int, default=resnet.WIDTH, help="resnet9 base width")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--lr", type=float, help="one-cycle peak")
    ap.add_argument("--label-smoothing", type=float)
    ap.add_argument("--limit", type=int, default=0,
                    help="train on the first N images and test on N/5 (timing runs)")
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--exit-weights")
    ap.add_argument("--init", help="start from the weights of a finished run's ckpt.pt "
                    "(a second one-cycle over --epochs at peak --lr: a warm restart)")
    a = ap.parse_args()
    for k, v in ARCHS[a.arch].items():
        if k != "make" and getattr(a, k) is None:
            setattr(a, k, v)
    return a


def make_optimizer(model, a, steps_per_epoch):
    """SGD Nesterov without weight decay on biases and BN, one-cycle over all epochs."""
    decay, no_decay = [], []
    for n_, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": a.wd},
                           {"params": no_decay, "weight_decay": 0}],
                          lr=a.lr, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr,
                                                total_steps=steps_per_epoch * a.epochs,
                                                pct_start=0.2, div_factor=10,
                                                final_div_factor=100)
    return opt, sched


def train_epoch(model, opt, sched, a, data, weights, gen):
    """One pass over the shuffled, augmented training set; the mean joint loss."""
    xtr_n, ytr = data
    steps = math.ceil(xtr_n.shape[0] / a.batch)
    perm = torch.randperm(xtr_n.shape[0], generator=gen)
    model.train()
    tl = 0.0
    for i in range(steps):
        idx = perm[i * a.batch:(i + 1) * a.batch]
        xb = cifar.augment(xtr_n[idx], gen).contiguous(memory_format=torch.channels_last)
        yb = ytr[idx]
        outs = model(xb)
        loss = sum(w * F.cross_entropy(o, yb, label_smoothing=a.label_smoothing)
                   for w, o in zip(weights, outs))
        tl += step(opt, sched, loss)
    return tl / steps


def step(opt, sched, loss):
    """One optimizer and schedule step on loss; its value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    return loss.item()


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)

    xtr, ytr = cifar.load_cifar(a.data, [f"data_batch_{i}.bin" for i in range(1, 6)])
    xte, yte = cifar.load_cifar(a.data, ["test_batch.bin"])
    if a.limit:
        xtr, ytr, xte, yte = xtr[:a.limit], ytr[:a.limit], xte[:a.limit // 5], yte[:a.limit // 5]
    xtr_n = cifar.normalize(xtr)
    weights = [float(w) for w in a.exit_weights.split(",")]

    model = ARCHS[a.arch]["make"](a).to(memory_format=torch.channels_last)
    opt, sched = make_optimizer(model, a, math.ceil(xtr.shape[0] / a.batch))
    gen = torch.Generator().manual_seed(a.seed)
    start = 0
    ck = os.path.join(a.out, "ckpt.pt")
    if a.init and not os.path.exists(ck):
        model.load_state_dict(torch.load(a.init)["model"])
        print(f"weights from {a.init}", flush=True)
    if os.path.exists(ck):
        s = torch.load(ck)
        model.load_state_dict(s["model"])
        opt.load_state_dict(s["opt"])
        sched.load_state_dict(s["sched"])
        gen.set_state(s["gen"])
        start = s["epoch"]
        print(f"resumed at epoch {start}", flush=True)

    for ep in range(start, a.epochs):
        t0 = time.time()
        loss = train_epoch(model, opt, sched, a, (xtr_n, ytr), weights, gen)
        dt = time.time() - t0
        acc = cifar.evaluate(model, xte, yte)
        rec = {"epoch": ep + 1, "loss": loss, "test_acc": acc,
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
