"""Time numpy (OpenBLAS) or torch GEMM; one JSON line per case on stdout.

Run by compare.py in a fresh process per thread count, because OpenBLAS reads
OPENBLAS_NUM_THREADS when it is loaded.

    OPENBLAS_NUM_THREADS=2 /usr/bin/python3 numpy_gemm.py --sizes 1024 --dtypes float32
"""
import argparse
import json
import os
import statistics
import time


def measure(f, n, reps, mintime):
    f()  # warm-up
    flop = 2.0 * n * n * n
    g = []
    for _ in range(reps):
        calls = 0
        t0 = time.perf_counter()
        while calls == 0 or time.perf_counter() - t0 < mintime:
            f()
            calls += 1
        g.append(flop * calls / (time.perf_counter() - t0) / 1e9)
    return statistics.median(g)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512,1024,2048")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--mintime", type=float, default=0.1)
    ap.add_argument("--impl", default="openblas", choices=["openblas", "torch"])
    args = ap.parse_args()
    threads = int(os.environ.get("OPENBLAS_NUM_THREADS", "0") or 0)
    import numpy as np

    rng = np.random.default_rng(1)
    if args.impl == "torch":
        import torch

        if threads:
            torch.set_num_threads(threads)
    for dt in args.dtypes.split(","):
        for n in [int(s) for s in args.sizes.split(",")]:
            a = rng.uniform(-1, 1, (n, n)).astype(dt)
            b = rng.uniform(-1, 1, (n, n)).astype(dt)
            c = np.empty((n, n), dtype=dt)
            if args.impl == "torch":
                ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
                f = lambda: torch.mm(ta, tb, out=tc)
            else:
                f = lambda: np.matmul(a, b, out=c)
            g = measure(f, n, args.reps, args.mintime)
            print(json.dumps({"op": "gemm", "impl": args.impl, "dtype": dt, "n": n,
                              "threads": threads, "gflops": round(g, 2), "reps": args.reps}),
                  flush=True)


if __name__ == "__main__":
    main()
