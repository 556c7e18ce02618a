#!/usr/bin/env python3
"""Read a Tessera checkpoint with Python and print its contents as JSON.

Uses safetensors.numpy (Hugging Face's reader) when the module is
installed; otherwise parses the published format by hand (8-byte
little-endian header length, JSON header, little-endian row-major data) and
checks its rules. Prints {"reader": ..., "metadata": {...}, "tensors":
{name: {"dtype": ..., "shape": [...], "sum": float, "first": float}}}.
"""
import json
import struct
import sys

import numpy as np

NP = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
      "BOOL": "|b1", "U8": "|u1", "U16": "<u2"}


def by_hand(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0 and 8 + n <= len(data), "bad header length"
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    buf = data[8 + n:]
    spans, out = [], {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        spans.append((b, e))
        dt = info["dtype"]
        if dt == "BF16":
            raw = np.frombuffer(buf[b:e], dtype="<u2").astype(np.uint32) << 16
            arr = raw.view("<f4")
        else:
            arr = np.frombuffer(buf[b:e], dtype=NP[dt])
        assert arr.size == int(np.prod(info["shape"], dtype=np.int64)), name
        out[name] = (dt, arr.reshape(info["shape"]))
    spans.sort()
    pos = 0
    for b, e in spans:
        assert b == pos, "hole or overlap in the buffer"
        pos = e
    assert pos == len(buf), "buffer longer than its tensors"
    return meta, out


def main():
    path = sys.argv[1]
    try:
        from safetensors import safe_open  # noqa: F401
        from safetensors.numpy import load_file
        with safe_open(path, framework="np") as f:
            meta = f.metadata() or {}
        arrs = load_file(path)
        tensors = {k: (None, v) for k, v in arrs.items()}
        reader = "safetensors"
    except ImportError:
        meta, tensors = by_hand(path)
        reader = "by-hand"
    res = {}
    for k, (dt, a) in tensors.items():
        a64 = a.astype(np.float64)
        res[k] = {"shape": list(a.shape), "sum": float(a64.sum()),
                  "first": float(a64.reshape(-1)[0]) if a.size else 0.0}
        if dt:
            res[k]["dtype"] = dt
    print(json.dumps({"reader": reader, "metadata": meta, "tensors": res}))


if __name__ == "__main__":
    main()
