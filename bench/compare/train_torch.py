#!/usr/bin/env python3
"""Time one PyTorch training step of bench/train's models (CPU, float32).

The same models, batch sizes, optimizer (Adam, lr 1e-3) and loss
(cross-entropy) as `go run ./bench/train`; warm-up steps, then the median of
timed steps. Prints one JSON line per case, like bench/train -json:

    {"model": "mlp", "batch": 128, "ms_per_step": 10.2, "threads": 2, ...}

Run it with the system python (Debian's python3-torch) and the tuned
environment of issue 5, e.g.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=2 \
        OMP_WAIT_POLICY=PASSIVE MALLOC_MMAP_THRESHOLD_=33554432 \
        MALLOC_TRIM_THRESHOLD_=4294967296 \
        /usr/bin/python3 bench/compare/train_torch.py [--cases mlp:128,mlp:512,cnn:128]

(--tuned re-executes itself with that environment.)
"""
import argparse
import json
import os
import statistics
import sys
import time

TUNED = {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE",
         "MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4294967296"}
UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="mlp:128,mlp:512,cnn:128")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave)")
    ap.add_argument("--device", default="cpu", help="torch device: cpu or cuda (each step ends with loss.item(), a sync)")
    ap.add_argument("--tuned", action="store_true",
                    help="re-run with the tuned environment of issue 5 (OMP_NUM_THREADS=2, ...)")
    a = ap.parse_args()
    if a.tuned and os.environ.get("_TRAIN_TORCH_TUNED") != "1":
        env = {k: v for k, v in os.environ.items() if k not in UNSET}
        env.update(TUNED)
        env["_TRAIN_TORCH_TUNED"] = "1"
        args = [sys.executable] + [x for x in sys.argv if x != "--tuned"]
        os.execve(sys.executable, args, env)

    import torch
    from torch import nn

    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)

    def mlp():
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(),
                             nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))

    def cnn():
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(1600, 10))

    for case in a.cases.split(","):
        name, batch = case.strip().split(":")
        batch = int(batch)
        model = {"mlp": mlp, "cnn": cnn}[name]().to(a.device)
        shape = (batch, 784) if name == "mlp" else (batch, 1, 28, 28)
        x = torch.rand(shape).to(a.device)
        y = torch.randint(0, 10, (batch,)).to(a.device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        lossf = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()

        for _ in range(a.warmup):
            step()
        times = []
        for _ in range(a.steps):
            t0 = time.perf_counter()
            loss = step()
            times.append((time.perf_counter() - t0) * 1000)
        print(json.dumps({"model": name, "batch": batch, "ms_per_step": round(statistics.median(times), 3),
                          "threads": torch.get_num_threads(), "steps": a.steps,
                          "min_ms": round(min(times), 3), "final_loss": loss,
                          "device": a.device, "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
