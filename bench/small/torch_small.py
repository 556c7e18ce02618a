#!/usr/bin/env python3
"""The PyTorch anchor of bench/small: eager PyTorch on one thread, float32.

It serves requests on stdin, one JSON object per line, {"case", "size",
"reps", "iters"}, and answers each with one JSON line {"ns": ...}: the least
over reps of the time per call of iters back-to-back calls (the statistic
bench/small uses on its own side). Cases (the same
operands as bench/small's Go side):

  add, mul   x + y, x * y of size elements
  exp        torch.exp(x)
  sum        x.sum()
  matmul     x @ y, square matrices with size elements each
  mlp        one training step of a 1-40-40-1 ReLU MLP at batch size (Adam,
             lr 1e-3, MSE): zero_grad, forward, loss, backward, step

Run by bench/small with Debian's python3-torch (/usr/bin/python3).
"""
import json
import math
import sys
import time

import torch


def timed(f, reps, iters):
    for _ in range(iters):
        f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        for _ in range(iters):
            f()
        ts.append((time.perf_counter_ns() - t0) / iters)
    return min(ts)


def case(name, size):
    g = torch.Generator().manual_seed(1)
    if name == "mlp":
        torch.manual_seed(1)
        model = torch.nn.Sequential(
            torch.nn.Linear(1, 40), torch.nn.ReLU(),
            torch.nn.Linear(40, 40), torch.nn.ReLU(),
            torch.nn.Linear(40, 1))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.rand(size, 1, generator=g) * 2 - 1
        y = torch.rand(size, 1, generator=g) * 2 - 1
        loss_fn = torch.nn.MSELoss()

        def step():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        return step
    if name == "matmul":
        n = int(math.isqrt(size))
        a = torch.rand(n, n, generator=g) * 2 - 1
        b = torch.rand(n, n, generator=g) * 2 - 1
        return lambda: a @ b
    x = torch.rand(size, generator=g) * 2 - 1
    y = torch.rand(size, generator=g) * 2 - 1
    if name == "add":
        return lambda: x + y
    if name == "mul":
        return lambda: x * y
    if name == "exp":
        return lambda: torch.exp(x)
    if name == "sum":
        return lambda: x.sum()
    raise ValueError("unknown case " + name)


def main():
    torch.set_num_threads(1)
    for line in sys.stdin:
        if not line.strip():
            continue
        r = json.loads(line)
        ns = timed(case(r["case"], r["size"]), r["reps"], r["iters"])
        print(json.dumps({"ns": ns}), flush=True)


if __name__ == "__main__":
    main()
