"""CIFAR-10 for the training tools: reading the binary batches, normalisation,
augmentation and per-exit evaluation, shared by every model."""
import os

import numpy as np
import torch
import torch.nn.functional as F

MEAN = (0.49139968, 0.48215841, 0.44653091)
STD = (0.24703223, 0.24348513, 0.26158784)


def load_cifar(path, files):
    xs, ys = [], []
    for f in files:
        raw = np.fromfile(os.path.join(path, f), dtype=np.uint8).reshape(-1, 3073)
        ys.append(raw[:, 0].astype(np.int64))
        xs.append(raw[:, 1:].reshape(-1, 3, 32, 32))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def normalize(xb):
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
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
    """Top-1 accuracy of each exit, plain (no test-time augmentation: the C runtime
    evaluates the plain image)."""
    model.eval()
    correct = None
    with torch.no_grad():
        for i in range(0, x.shape[0], bs):
            xb = normalize(x[i:i + bs]).contiguous(memory_format=torch.channels_last)
            outs = model(xb)
            c = torch.stack([(o.argmax(1) == y[i:i + bs]).sum() for o in outs])
            correct = c if correct is None else correct + c
    return (correct.double() / x.shape[0]).tolist()
