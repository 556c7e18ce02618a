#!/usr/bin/env python3
"""PyTorch DDP (gloo) step time for bench/ddp -torch.

Spawns WORLD processes on this machine (one rank each, CPU, gloo), trains
an MLP (Linear+ReLU layers given by --sizes) with Adam on random data of
--batch samples per rank, and prints one JSON line from rank 0:
{"world", "batch_per_rank", "ms_per_step" (median), "min_ms", "threads"}.

    /usr/bin/python3 bench/ddp/ddp_torch.py --world 2 --batch 64
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn


def mlp(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def run(rank, args, port):
    torch.set_num_threads(args.threads)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=args.world)
    torch.manual_seed(0)
    sizes = [int(s) for s in args.sizes.split("-")]
    model = nn.parallel.DistributedDataParallel(mlp(sizes), bucket_cap_mb=args.bucket_mb)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(rank + 1)
    x = torch.randn(args.batch, sizes[0], generator=g)
    y = torch.randint(0, sizes[-1], (args.batch,), generator=g)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for i in range(args.warmup + args.steps):
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if i >= args.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    if rank == 0:
        print(json.dumps({"world": args.world, "batch_per_rank": args.batch, "ms_per_step": statistics.median(times),
                          "min_ms": min(times), "threads": args.threads, "torch": torch.__version__}), flush=True)
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--world", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--sizes", default="784-1024-1024-10")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--bucket-mb", type=float, default=25)
    p.add_argument("--threads", type=int, default=0, help="threads per rank (0: cores / world)")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    if args.threads <= 0:
        args.threads = max(1, (os.cpu_count() or 1) // args.world)
    port = args.port or 29500 + os.getpid() % 1000
    mp.spawn(run, args=(args, port), nprocs=args.world, join=True)


if __name__ == "__main__":
    main()
