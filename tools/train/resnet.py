#!/usr/bin/python3
"""The second model: a branchy ResNet-9 (airbench / Page's DAWNBench style) for CIFAR-10,
as one layer table shared by training and export, like net.py's branchy AlexNet.

Its trunk keeps large feature maps early (32x32 and 16x16) and small ones late (4x4),
so where the device stops matters: the split point is a real choice. Every layer is
one the C runtime knows or can add plainly: conv 3x3 with batch norm (folded at
export), relu, max pool, average pool over the whole map (global average pool as a
plain avgpool), flatten, fc, and one new kind, the residual add.

    /usr/bin/python3 tools/train/resnet.py [WIDTH]   # prints the table, MFLOP, cuts
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import net  # noqa: E402

# Base width of the chosen model (stage widths w/2, w, 2w, 4w); see README.md for why.
WIDTH = 64


def conv(name, cin, cout):
    return [(name, "conv", (cin, cout, 3, 1, 1)), (name + "_relu", "relu", ())]


def residual(stage, c, skip):
    """Two conv-BN-relu at width c, then add the block's input (Page's ResNet-9 block)."""
    return (conv(f"res{stage}a", c, c) + conv(f"res{stage}b", c, c)
            + [(f"add{stage}", "add", (skip,))])


def table(width=WIDTH):
    """(trunk, branches) for base width w: stem w/2 at 32x32, then three stages
    conv -> maxpool 2 -> residual block at widths w (16x16), 2w (8x8), 4w (4x4)."""
    c0, c1, c2, c3 = width // 2, width, 2 * width, 4 * width
    trunk = (conv("conv0", 3, c0) + conv("conv1", c0, c1)
             + [("pool1", "maxpool", (2, 2, 0))] + residual(1, c1, "pool1")
             + conv("conv2", c1, c2) + [("pool2", "maxpool", (2, 2, 0))]
             + residual(2, c2, "pool2")
             + conv("conv3", c2, c3) + [("pool3", "maxpool", (2, 2, 0))]
             + residual(3, c3, "pool3")
             # global max pool, as Page's; the 1/8 output scale is folded at export
             + [("pool4", "maxpool", (4, 4, 0)), ("flatten4", "flatten", ()),
                ("fc", "fc", (c3, 10, 0.125))])
    # BranchyNet-style exits, cheap for the device: halve the map, one conv, global
    # average pool, fc (net.py's exits are built the same way).
    branches = [
        ("add1", [("b1_pool", "maxpool", (2, 2, 0))] + conv("b1_conv", c1, c2)
         + [("b1_gap", "avgpool", (8, 8, 0)), ("b1_flatten", "flatten", ()),
            ("b1_fc", "fc", (c2, 10))]),
        ("add2", [("b2_pool", "maxpool", (2, 2, 0))] + conv("b2_conv", c2, c3)
         + [("b2_gap", "avgpool", (4, 4, 0)), ("b2_flatten", "flatten", ()),
            ("b2_fc", "fc", (c3, 10))]),
    ]
    return trunk, branches


TRUNK, BRANCHES = table()


class BranchyResNet9(net.TableNet):
    def __init__(self, width=WIDTH):
        super().__init__(*table(width))


def describe(width=WIDTH):
    """Per exit: layers, MFLOP, and each single-tensor cut with its size in floats."""
    trunk, branches = table(width)
    for e, layers in enumerate(net.exits(trunk, branches), 1):
        rows = net.flops(layers)
        cuts = net.single_tensor_cuts(layers)
        print(f"exit {e}: {len(layers)} layers, {sum(r[3] for r in rows) / 1e6:.1f} MFLOP")
        for p in cuts:
            shape = (3, 32, 32) if p == 0 else rows[p - 1][2]
            after = "input" if p == 0 else rows[p - 1][0]
            n = shape[0] * shape[1] * shape[2]
            print(f"  cut {p:2d} after {after:12s} {str(shape):15s} {n:6d} values")


if __name__ == "__main__":
    describe(int(sys.argv[1]) if len(sys.argv) > 1 else WIDTH)
