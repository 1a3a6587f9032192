#!/usr/bin/python3
"""PyTorch peer for the whole-model benchmark: images/s of one exit of a coinfer
model file, run by torch on the same weights, at a given batch and thread count.
Tries contiguous and channels_last layouts and reports both (the best is the peer).

    bench/torch_model.py MODEL --exit 3 --batch 32 --threads 1 --seconds 3
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "train"))
import modelfile  # noqa: E402
from export import torch_forward  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--exit", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    mf = modelfile.read(a.model)
    c, h, w = mf["in_shape"]
    x = torch.randn(a.batch, c, h, w)
    res = {"torch_version": torch.__version__, "threads": a.threads, "batch": a.batch,
           "exit": a.exit}
    for layout in ("contiguous", "channels_last"):
        xi = x.contiguous(memory_format=torch.channels_last) if layout == "channels_last" else x
        with torch.inference_mode():
            for _ in range(3):
                torch_forward(mf, xi, a.exit - 1)
            n = 0
            t0 = time.perf_counter()
            while True:
                torch_forward(mf, xi, a.exit - 1)
                n += 1
                dt = time.perf_counter() - t0
                if dt >= a.seconds and n >= 5:
                    break
        res[f"images_per_s_{layout}"] = n * a.batch / dt
    res["images_per_s"] = max(res["images_per_s_contiguous"], res["images_per_s_channels_last"])
    print(json.dumps(res))


if __name__ == "__main__":
    main()
