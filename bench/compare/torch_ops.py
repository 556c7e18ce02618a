#!/usr/bin/env python3
"""Time bench/ops' elementwise and reduction cases in PyTorch (CPU, float32).

The same cases, sizes and byte counts as `go run ./bench/ops -json` (operands of
--mib MiB float32 each; GB/s = bytes read + written / median time), one JSON
line per case: {"op": "add", "impl": "torch", "gbps": ..., "median_s": ...}.
Run by compare.py's `ops` mode with Debian's python3-torch.
"""
import argparse
import json
import statistics
import time

import torch


def median(reps, f):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    n = (a.mib << 20) // 4
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, generator=g) * 2 - 1
    y = torch.rand(n, generator=g) * 2 - 1
    out = torch.zeros(n)
    b4 = 4.0 * n
    x2 = x.view(-1, 1024)
    cases = [
        ("copy", 2 * b4, lambda: out.copy_(x)),
        ("add", 3 * b4, lambda: torch.add(x, y, out=out)),
        ("mul", 3 * b4, lambda: torch.mul(x, y, out=out)),
        ("add(alloc)", 3 * b4, lambda: x + y),
        ("relu", 2 * b4, lambda: torch.clamp_min(x, 0, out=out)),
        ("exp", 2 * b4, lambda: torch.exp(x, out=out)),
        ("tanh", 2 * b4, lambda: torch.tanh(x, out=out)),
        ("sum", b4, lambda: x.sum()),
        ("sum(rows)", b4, lambda: x2.sum(1)),
        ("sum(cols)", b4, lambda: x2.sum(0)),
        ("softmax(1024)", 2 * b4, lambda: torch.softmax(x2, 1)),
        ("transpose-copy", 2 * b4, lambda: x2.t().contiguous()),
    ]
    for op, nbytes, f in cases:
        s = median(a.reps, f)
        print(json.dumps({"op": op, "impl": "torch", "dtype": "float32", "elements": n,
                          "threads": a.threads, "gbps": nbytes / s / 1e9, "median_s": s}), flush=True)


if __name__ == "__main__":
    main()
