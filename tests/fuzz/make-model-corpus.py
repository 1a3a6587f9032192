#!/usr/bin/python3
"""Writes the seed corpus of the model-loader fuzz target: small valid models that
between them use every layer type, grouped and depthwise convs, strides, padding
and several exits (the fuzzer mutates from there; a real model is too big).

    tests/fuzz/make-model-corpus.py tests/fuzz/corpus/model
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "train"))
import modelfile  # noqa: E402

rng = np.random.default_rng(1)


def w(*shape):
    return rng.uniform(-0.5, 0.5, size=shape).astype(np.float32)


def L(name, typ, parent, p=(), f=(), wshape=None, bias=None):
    return {"name": name, "type": typ, "parent": parent, "p": list(p), "f": list(f),
            "w": w(*wshape) if wshape else None, "b": w(bias) if bias else None}


def residual():
    """A block from the input itself, then a conv block; one exit."""
    return [
        L("c0", "conv", -1, (3, 3, 3, 1, 1, 1, 1, 1), wshape=(3, 3, 3, 3), bias=3),
        L("a0", "add", 0, (0xFFFFFFFF,)),
        L("c1", "conv", 1, (4, 3, 3, 1, 1, 1, 1, 1), wshape=(4, 3, 3, 3), bias=4),
        L("p1", "maxpool", 2, (2, 2, 2, 2, 0, 0)),
        L("ra", "conv", 3, (4, 3, 3, 1, 1, 1, 1, 1), wshape=(4, 4, 3, 3), bias=4),
        L("rr", "relu", 4), L("a1", "add", 5, (3,)), L("f", "flatten", 6),
        L("fc", "fc", 7, (5,), wshape=(5, 64), bias=5)]


def main(out):
    os.makedirs(out, exist_ok=True)
    models = {
        "two-exits": ((3, 8, 8), 5, [
            L("conv1", "conv", -1, (4, 3, 3, 1, 1, 1, 1, 1), wshape=(4, 3, 3, 3), bias=4),
            L("relu1", "relu", 0), L("pool1", "maxpool", 1, (2, 2, 2, 2, 0, 0)),
            L("lrn1", "lrn", 2, (3,), (1e-2, 0.75, 2.0)), L("flat1", "flatten", 3),
            L("fc1", "fc", 4, (5,), wshape=(5, 64), bias=5),
            L("conv2", "conv", 3, (6, 3, 3, 2, 2, 1, 1, 2), wshape=(6, 2, 3, 3), bias=6),
            L("relu2", "relu", 6), L("pool2", "avgpool", 7, (2, 2, 2, 2, 0, 0)),
            L("flat2", "flatten", 8), L("fc2", "fc", 9, (5,), wshape=(5, 6), bias=5)],
            [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 6, 7, 8, 9, 10]]),
        "depthwise": ((4, 5, 7), 3, [
            L("dw", "conv", -1, (4, 3, 3, 1, 1, 1, 1, 4), wshape=(4, 1, 3, 3), bias=4),
            L("pw", "conv", 0, (6, 1, 1, 1, 1, 0, 0, 1), wshape=(6, 4, 1, 1), bias=6),
            L("pool", "maxpool", 1, (3, 3, 2, 2, 1, 1)), L("flat", "flatten", 2),
            L("fc", "fc", 3, (3,), wshape=(3, 6 * 3 * 4), bias=3)],
            [[0, 1, 2, 3, 4]]),
        "fc-only": ((1, 1, 1), 2, [L("fc", "fc", -1, (2,), wshape=(2, 1), bias=2)], [[0]]),
        "strided": ((2, 9, 6), 4, [
            L("c", "conv", -1, (4, 5, 3, 3, 2, 2, 1, 1), wshape=(4, 2, 5, 3), bias=4),
            L("a", "avgpool", 0, (2, 1, 1, 1, 1, 0)), L("r", "relu", 1),
            L("n", "lrn", 2, (5,), (1e-4, 0.75, 1.0)), L("f", "flatten", 3),
            L("fc", "fc", 4, (4,), wshape=(4, 4 * 4 * 3), bias=4)],
            [[0, 1, 2, 3, 4, 5]]),
        "residual": ((3, 8, 8), 5, residual(),
            [[0, 1, 2, 3, 4, 5, 6, 7, 8]]),
        # the residual model plus a codec-style variant of its exit: its own encoder
        # conv at the split, then the tail again with the plain exit's weights
        "variant": ((3, 8, 8), 5, residual() + [
            L("enc", "conv", 3, (4, 1, 1, 1, 1, 0, 0, 4), wshape=(4, 1, 1, 1), bias=4),
            {**L("ra.v", "conv", 9, (4, 3, 3, 1, 1, 1, 1, 1)), "alias": 4},
            L("rr.v", "relu", 10), L("a1.v", "add", 11, (9,)), L("f.v", "flatten", 12),
            {**L("fc.v", "fc", 13, (5,)), "alias": 8}],
            [[0, 1, 2, 3, 4, 5, 6, 7, 8],
             {"layers": [0, 1, 2, 3, 9, 10, 11, 12, 13, 14], "variant": "codec", "of": 0,
              "split": 5}]),
        "attention": ((3, 6, 7), 5, [
            L("conv", "conv", -1, (8, 3, 3, 1, 1, 1, 0, 1), wshape=(8, 3, 3, 3), bias=8),
            L("attn", "attn", 0, (3,), (0.5,), wshape=(14, 8), bias=14),
            L("flat", "flatten", 1), L("fc", "fc", 2, (5,), wshape=(5, 240), bias=5)],
            [[0, 1, 2, 3]]),
    }
    for name, (shape, ncls, layers, exits) in models.items():
        modelfile.write(os.path.join(out, name + ".cfm"), name, shape, ncls, [0.5] * shape[0],
                        [0.25] * shape[0], layers, exits)
        print(name, os.path.getsize(os.path.join(out, name + ".cfm")))


if __name__ == "__main__":
    main(sys.argv[1])
