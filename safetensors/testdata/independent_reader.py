#!/usr/bin/env python3
"""An independent reader of the safetensors format, written from the
published description (https://github.com/huggingface/safetensors, README
"Format") with only json, struct and numpy -- not Hugging Face's safetensors
package, which is not installed offline.

It checks the layout rules and prints, as JSON, every tensor's dtype, shape
and the bit patterns of its elements (unsigned integers of the element's
width, decoded little-endian), plus the metadata:

  {"header_len": n, "metadata": {...},
   "tensors": {name: {"dtype": "F32", "shape": [...], "bits": [...]}}}

Any violated rule makes it exit with status 1 and a message on stderr.
"""
import json
import struct
import sys

import numpy as np

# element width in bytes and the unsigned little-endian numpy type that
# holds its bit pattern
WIDTH = {
    "BOOL": (1, "<u1"), "U8": (1, "<u1"), "I8": (1, "<u1"),
    "I16": (2, "<u2"), "U16": (2, "<u2"), "F16": (2, "<u2"), "BF16": (2, "<u2"),
    "I32": (4, "<u4"), "U32": (4, "<u4"), "F32": (4, "<u4"),
    "I64": (8, "<u8"), "U64": (8, "<u8"), "F64": (8, "<u8"), "C64": (8, "<u8"),
}


def fail(msg):
    sys.stderr.write("independent_reader: " + msg + "\n")
    sys.exit(1)


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        fail("duplicate keys in the header: %r" % keys)
    return dict(pairs)


def main():
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    if len(data) < 8:
        fail("shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])  # unsigned 64-bit little-endian
    if 8 + n > len(data):
        fail("header length %d beyond the file (%d bytes)" % (n, len(data)))
    if (8 + n) % 8 != 0:
        fail("the data does not start 8-byte aligned (header length %d)" % n)
    raw = data[8:8 + n]
    if not raw.startswith(b"{"):
        fail("the header must start with '{'")
    text = raw.decode("utf-8")
    body = text.rstrip(" ")
    if not body.endswith("}"):
        fail("the header is padded with something other than spaces: %r" % text[-8:])
    header = json.loads(body, object_pairs_hook=no_duplicates)
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        fail("__metadata__ must map strings to strings")
    buf = data[8 + n:]
    spans = []
    out = {}
    for name, info in header.items():
        if set(info) != {"dtype", "shape", "data_offsets"}:
            fail("%s: fields %r, want dtype, shape, data_offsets" % (name, sorted(info)))
        dt, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in WIDTH:
            fail("%s: dtype %r not handled by this reader" % (name, dt))
        width, np_dt = WIDTH[dt]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not (0 <= b <= e <= len(buf)) or e - b != count * width:
            fail("%s: data_offsets [%d, %d] for %d elements of %d bytes" % (name, b, e, count, width))
        if (8 + n + b) % width != 0:
            fail("%s: data at file offset %d is not aligned to its %d-byte elements" % (name, 8 + n + b, width))
        spans.append((b, e))
        bits = np.frombuffer(buf[b:e], dtype=np_dt)
        if dt == "BOOL" and not np.all(bits <= 1):
            fail("%s: BOOL bytes must be 0 or 1" % name)
        out[name] = {"dtype": dt, "shape": shape, "bits": [int(x) for x in bits.tolist()]}
    spans.sort()
    pos = 0
    for b, e in spans:
        if b != pos:
            fail("hole or overlap in the data buffer at %d (expected %d)" % (b, pos))
        pos = e
    if pos != len(buf):
        fail("the data buffer has %d bytes after its last tensor" % (len(buf) - pos))
    print(json.dumps({"header_len": n, "metadata": meta, "tensors": out}))


if __name__ == "__main__":
    main()
