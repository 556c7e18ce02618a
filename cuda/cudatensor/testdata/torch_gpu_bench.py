#!/usr/bin/env python3
"""PyTorch on CUDA: the cases of cuda/cudatensor/bench_gpu_test.go.

Prints one line per case in Go's benchmark format
(BenchmarkGPU<group>/<case>  <iters>  <ns/op> ns/op  <metric>), so that
scripts/gpu-tests.sh can show both side by side. Times are CUDA-event times
of `iters` back-to-back ops after a warm-up, divided by iters.
"""
import argparse

import torch


def bench(fn, min_ms):
    fn()
    torch.cuda.synchronize()
    iters = 1
    while True:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        ms = start.elapsed_time(end)
        if ms >= min_ms or iters >= 1 << 20:
            return iters, ms * 1e6 / iters
        iters *= 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-ms", type=float, default=500, help="minimum timed run per case")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("torch_gpu_bench.py: torch.cuda is not available")
    print(f"# torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
    dev = "cuda"
    g = torch.Generator(device=dev).manual_seed(1)

    def rand(*shape, dtype=torch.float32):
        return (torch.rand(*shape, generator=g, device=dev, dtype=torch.float32) * 2 - 1).to(dtype)

    dts = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    for dtn, n, tf32 in [("float32", 1024, False), ("float32", 4096, False), ("float32", 4096, True),
                         ("bfloat16", 4096, False), ("float16", 4096, False)]:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        x, y = rand(n, n, dtype=dts[dtn]), rand(n, n, dtype=dts[dtn])
        z = torch.empty_like(x)
        it, ns = bench(lambda: torch.matmul(x, y, out=z), args.min_ms)
        name = f"{dtn}/{n}" + ("/tf32" if tf32 else "")
        print(f"BenchmarkGPUMatMul/{name}\t{it}\t{ns:.0f} ns/op\t{2 * n ** 3 / ns / 1e3:.2f} TFLOP/s")
    torch.backends.cuda.matmul.allow_tf32 = False

    elems = 1 << 24
    rows, cols = 4096, elems // 4096
    x, y, z = rand(rows, cols), rand(rows, cols), torch.empty(rows, cols, device=dev)
    s = torch.empty(rows, device=dev)
    zt = torch.empty(cols, rows, device=dev)
    cases = [
        ("add", 12, lambda: torch.add(x, y, out=z)),
        ("add_bcast_row", 8, lambda: torch.add(x, y[0], out=z)),
        ("exp", 8, lambda: torch.exp(x, out=z)),
        ("gelu_tanh", 8, lambda: torch.nn.functional.gelu(x, approximate="tanh")),
        ("copy_transpose", 8, lambda: zt.copy_(x.t())),
        ("sum_rows", 4, lambda: torch.sum(x, dim=1, out=s)),
        ("softmax_rows", 8, lambda: torch.softmax(x, dim=1)),
    ]
    for name, bpe, fn in cases:
        it, ns = bench(fn, args.min_ms)
        print(f"BenchmarkGPUElementwise/{name}\t{it}\t{ns:.0f} ns/op\t{bpe * elems / ns * 1e3:.2f} MB/s")
    print("# gelu_tanh and softmax_rows allocate their output (from torch's caching allocator)")


if __name__ == "__main__":
    main()
