#!/usr/bin/python3
"""Codec speed block of a device class (conf/devices/*.yaml, "codec", printed
as YAML to paste into the class file) from a
coinfer-bench-codec run: per bits 4/8/12/16, time per frame = us_per_frame +
ns_per_elem * elements, fitted by least squares over the benchmark's partition
points (one image per frame). The three entropy coders (huffman, huffman-zrun,
pred-huffman) are fitted and the slowest is kept for each coefficient, since the
codec table picks whichever is smallest per entry. Points are matched across
runs by (exit, partition), so runs of bench builds with other point lists mix. Given several runs, each point takes its fastest: on a shared
machine other tenants only ever make a run slower. --scale multiplies everything
(an estimate for a slower CPU).

usage: codec-speed.py BENCH.json [BENCH.json ...] [--scale K]
       (BENCH.json: coinfer-bench-codec output)
"""
import json
import sys


def fit(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return my - b * mx, b


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if args else 2
    scale = 1.0
    if "--scale" in args:
        i = args.index("--scale")
        scale = float(args[i + 1])
        del args[i:i + 2]
    runs = [json.load(open(a)) for a in args]
    bench = runs[0]
    out = {}
    for side, key in (("encode", "encode_mb_s"), ("decode", "decode_mb_s")):
        ns, us = [], []
        for bits in (4, 8, 12, 16):
            worst_a, worst_b = 0.0, 0.0
            for codec in ("huffman", "huffman-zrun", "pred-huffman"):
                xs, ys = [], []
                for p in bench["points"]:
                    where = (p["exit"], p["partition"])
                    speeds = [c[key] for run in runs for q in run["points"]
                              if (q["exit"], q["partition"]) == where
                              for c in q["codecs"] if c["codec"] == codec and c["bits"] == bits]
                    if speeds:
                        xs.append(p["elems"])
                        # MB/s of fp32 -> ns per frame
                        ys.append(p["elems"] * 4e3 / max(speeds))
                if len(xs) < 2:  # a bench build without this codec
                    continue
                a, b = fit(xs, ys)
                worst_a, worst_b = max(worst_a, a), max(worst_b, b)
            ns.append(round(worst_b * scale, 3))
            us.append(round(worst_a / 1e3 * scale, 2))
        out[side + "_ns_per_elem"] = ns
        out[side + "_us_per_frame"] = us
    # the block to paste into the class file, its source as a comment
    print("# tools/policy/codec-speed.py (%d runs) --scale %g (isa %s, %d images)" % (
        len(runs), scale, bench.get("isa"), bench.get("images", 0)))
    print("codec:")
    for key, values in out.items():
        print("  %s: %s" % (key, json.dumps(values)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
