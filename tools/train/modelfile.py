"""Writer and reader of the coinfer model format (docs/model-format.md).

The C loader in runtime/model.c is the authority; this mirrors it for export and
for the PyTorch side of tests and benchmarks."""
import struct

import numpy as np
import xxhash

MAGIC = b"CFMODEL\0"
VERSION = 2  # 2 added the residual add and exit variants; files without are written as 1
VARIANTS = {"plain": 0, "pruned": 1, "codec": 2, "pruned+codec": 3}
VARIANT_NAMES = {v: k for k, v in VARIANTS.items()}
HDR = 128
LREC = 128
TYPES = {"conv": 1, "fc": 2, "relu": 3, "maxpool": 4, "avgpool": 5, "lrn": 6, "flatten": 7,
         "add": 8, "attn": 9}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
NO_PARENT = 0xFFFFFFFF


def _align(n, a=64):
    return (n + a - 1) // a * a


def _exit(e, i):
    """An exit as a dict {layers, variant, of, split}: a plain list of layer indices
    is a plain exit (its own, no split point)."""
    if isinstance(e, dict):
        return {"variant": "plain", "of": i, "split": None, **e}
    return {"layers": list(e), "variant": "plain", "of": i, "split": None}


def _exit_record(x, version):
    rec = struct.pack("<I", len(x["layers"]))
    if version >= 2:
        split = NO_PARENT if x["split"] is None else x["split"]
        rec += struct.pack("<III", VARIANTS[x["variant"]], x["of"], split)
    return rec + struct.pack(f"<{len(x['layers'])}I", *x["layers"])


def _record(L, offs):
    p = list(L.get("p", [])) + [0] * (10 - len(L.get("p", [])))
    f = list(L.get("f", [])) + [0.0] * (4 - len(L.get("f", [])))
    nm = L["name"].encode()
    assert 0 < len(nm) < 32
    rec = (nm.ljust(32, b"\0") +
           struct.pack("<II", TYPES[L["type"]], NO_PARENT if L["parent"] < 0 else L["parent"]) +
           struct.pack("<10I", *p) + struct.pack("<4f", *f) +
           struct.pack("<QQQQ", offs[0][0], offs[0][1], offs[1][0], offs[1][1]))
    assert len(rec) == LREC
    return rec


def write(path, name, in_shape, n_classes, mean, std, layers, exits):
    """layers: list of dicts {name, type, parent (index or -1), p (list of ints),
    f (list of floats), w (np.float32 array or None), b (np.float32 or None)}; a
    layer may give "alias": an earlier layer index whose weights it shares.
    exits: lists of layer indices (plain exits) or dicts {layers, variant (a
    VARIANTS name), of (the plain exit's index), split (its partition point)}."""
    n = len(layers)
    xs = [_exit(e, i) for i, e in enumerate(exits)]
    version = 2 if (any(L["type"] in ("add", "attn") for L in layers) or
                    any(x["variant"] != "plain" for x in xs)) else 1
    lt_off = HDR
    et_off = lt_off + n * LREC
    et = b"".join(_exit_record(x, version) for x in xs)
    w_off = _align(et_off + len(et))
    blobs = bytearray()
    recs, recs_offs = [], []
    for L in layers:
        if L.get("alias") is not None:  # another layer's weights, not stored twice
            offs = recs_offs[L["alias"]]
            recs.append(_record(L, offs))
            recs_offs.append(offs)
            continue
        offs = []
        for arr in (L.get("w"), L.get("b")):
            if arr is None:
                offs.append((0, 0))
                continue
            a = np.ascontiguousarray(arr, dtype="<f4")
            o = _align(len(blobs))
            blobs.extend(b"\0" * (o - len(blobs)))
            blobs.extend(a.tobytes())
            offs.append((o, a.size))
        recs.append(_record(L, offs))
        recs_offs.append(offs)
    w_bytes = len(blobs)
    total = w_off + w_bytes + 8
    mean4 = list(mean) + [0.0] * (4 - len(mean))
    std4 = list(std) + [1.0] * (4 - len(std))
    nm = name.encode()
    assert 0 < len(nm) < 24
    hdr = (MAGIC + struct.pack("<II", version, HDR) + struct.pack("<Q", total) +
           struct.pack("<III", n, len(exits), n_classes) + struct.pack("<III", *in_shape) +
           struct.pack("<II", lt_off, et_off) + struct.pack("<QQ", w_off, w_bytes) +
           struct.pack("<4f", *mean4) + struct.pack("<4f", *std4) + nm.ljust(24, b"\0"))
    assert len(hdr) == HDR
    body = hdr + b"".join(recs) + et
    body += b"\0" * (w_off - len(body)) + bytes(blobs)
    body += struct.pack("<Q", xxhash.xxh64_intdigest(body))
    with open(path, "wb") as f:
        f.write(body)
    return total


def read(path):
    data = open(path, "rb").read()
    assert data[:8] == MAGIC, "bad magic"
    assert struct.unpack_from("<Q", data, len(data) - 8)[0] == xxhash.xxh64_intdigest(data[:-8]), "checksum"
    (n, ne, ncls) = struct.unpack_from("<III", data, 24)
    in_shape = struct.unpack_from("<III", data, 36)
    lt_off, et_off = struct.unpack_from("<II", data, 48)
    w_off, _ = struct.unpack_from("<QQ", data, 56)
    mean = struct.unpack_from("<4f", data, 72)
    std = struct.unpack_from("<4f", data, 88)
    name = data[104:128].split(b"\0")[0].decode()
    layers = []
    for i in range(n):
        r = data[lt_off + i * LREC: lt_off + (i + 1) * LREC]
        typ, parent = struct.unpack_from("<II", r, 32)
        p = struct.unpack_from("<10I", r, 40)
        f = struct.unpack_from("<4f", r, 80)
        wo, wc, bo, bc = struct.unpack_from("<QQQQ", r, 96)
        w = np.frombuffer(data, "<f4", wc, w_off + wo).copy() if wc else None
        b = np.frombuffer(data, "<f4", bc, w_off + bo).copy() if bc else None
        layers.append({"name": r[:32].split(b"\0")[0].decode(), "type": TYPE_NAMES[typ],
                       "parent": -1 if parent == NO_PARENT else parent, "p": p, "f": f,
                       "w": w, "b": b})
    version = struct.unpack_from("<I", data, 8)[0]
    exits, variants = [], []
    pos = et_off
    for i in range(ne):
        (k,) = struct.unpack_from("<I", data, pos)
        pos += 4
        v = {"variant": "plain", "of": i, "split": None}
        if version >= 2:
            var, of, split = struct.unpack_from("<III", data, pos)
            v = {"variant": VARIANT_NAMES[var], "of": of,
                 "split": None if split == NO_PARENT else split}
            pos += 12
        exits.append(list(struct.unpack_from(f"<{k}I", data, pos)))
        variants.append(v)
        pos += 4 * k
    return {"name": name, "in_shape": in_shape, "n_classes": ncls, "mean": mean[:in_shape[0]],
            "std": std[:in_shape[0]], "layers": layers, "exits": exits,
            "variants": variants}
