"""Writer and reader of the coinfer model format (docs/model-format.md).

The C loader in runtime/model.c is the authority; this mirrors it for export and
for the PyTorch side of tests and benchmarks."""
import struct

import numpy as np
import xxhash

MAGIC = b"CFMODEL\0"
VERSION = 2  # 2 added the residual add; files without one are written as 1
HDR = 128
LREC = 128
TYPES = {"conv": 1, "fc": 2, "relu": 3, "maxpool": 4, "avgpool": 5, "lrn": 6, "flatten": 7,
         "add": 8}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
NO_PARENT = 0xFFFFFFFF


def _align(n, a=64):
    return (n + a - 1) // a * a


def write(path, name, in_shape, n_classes, mean, std, layers, exits):
    """layers: list of dicts {name, type, parent (index or -1), p (list of ints),
    f (list of floats), w (np.float32 array or None), b (np.float32 or None)}.
    exits: list of lists of layer indices."""
    n = len(layers)
    lt_off = HDR
    et_off = lt_off + n * LREC
    et = b"".join(struct.pack("<I", len(e)) + struct.pack(f"<{len(e)}I", *e) for e in exits)
    w_off = _align(et_off + len(et))
    blobs = bytearray()
    recs = []
    for L in layers:
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
        p = list(L.get("p", [])) + [0] * (10 - len(L.get("p", [])))
        f = list(L.get("f", [])) + [0.0] * (4 - len(L.get("f", [])))
        nm = L["name"].encode()
        assert 0 < len(nm) < 32
        rec = (nm.ljust(32, b"\0") +
               struct.pack("<II", TYPES[L["type"]], NO_PARENT if L["parent"] < 0 else L["parent"]) +
               struct.pack("<10I", *p) + struct.pack("<4f", *f) +
               struct.pack("<QQQQ", offs[0][0], offs[0][1], offs[1][0], offs[1][1]))
        assert len(rec) == LREC
        recs.append(rec)
    w_bytes = len(blobs)
    total = w_off + w_bytes + 8
    mean4 = list(mean) + [0.0] * (4 - len(mean))
    std4 = list(std) + [1.0] * (4 - len(std))
    nm = name.encode()
    assert 0 < len(nm) < 24
    version = 2 if any(L["type"] == "add" for L in layers) else 1
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
    exits = []
    pos = et_off
    for _ in range(ne):
        (k,) = struct.unpack_from("<I", data, pos)
        exits.append(list(struct.unpack_from(f"<{k}I", data, pos + 4)))
        pos += 4 + 4 * k
    return {"name": name, "in_shape": in_shape, "n_classes": ncls, "mean": mean[:in_shape[0]],
            "std": std[:in_shape[0]], "layers": layers, "exits": exits}
