"""Optuna side of bench/hpo: the same objectives, samplers, budgets and
storages as the Go program, one JSON line per (objective, sampler,
storage, seed) with the best-so-far curve and the time spent outside the
objective. Run by `go run ./bench/hpo -optuna` with /usr/bin/python3."""
import argparse
import json
import math
import os
import time

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


# Each objective is (suggest, compute): only compute is timed as the
# objective, so the sampler's work inside suggest_* counts as overhead.
def branin_s(t):
    return t.suggest_float("x", -5, 10), t.suggest_float("y", 0, 15)


def branin(p):
    x, y = p
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (y - b * x * x + c * x - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10


ALPHA = [1.0, 1.2, 3.0, 3.2]
A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]


def hartmann6_s(t):
    return [t.suggest_float("x%d" % j, 0, 1) for j in range(6)]


def hartmann6(x):
    s = 0.0
    for i in range(4):
        s += ALPHA[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j] * 1e-4) ** 2 for j in range(6)))
    return -s


def mixed_s(t):
    return t.suggest_float("x", -5, 5), t.suggest_float("y", 1e-4, 1, log=True), t.suggest_categorical("c", ["a", "b", "c"])


def mixed(p):
    x, y, c = p
    return (x - 1) ** 2 + (math.log10(y) + 2) ** 2 + (0 if c == "b" else 1)


OBJECTIVES = {"branin": (branin_s, branin), "hartmann6": (hartmann6_s, hartmann6), "mixed": (mixed_s, mixed)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objective", required=True)
    ap.add_argument("--sampler", required=True)
    ap.add_argument("--storage", default="memory")
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--dir", default="/tmp")
    a = ap.parse_args()
    suggest, f = OBJECTIVES[a.objective]
    for seed in [int(s) for s in a.seeds.split(",")]:
        sampler = optuna.samplers.TPESampler(seed=seed) if a.sampler == "tpe" else optuna.samplers.RandomSampler(seed=seed)
        storage = None
        path = None
        if a.storage == "sqlite":
            path = os.path.join(a.dir, "optuna-%s-%s-%d-%d.db" % (a.objective, a.sampler, seed, os.getpid()))
            if os.path.exists(path):
                os.remove(path)
            storage = "sqlite:///" + path
        study = optuna.create_study(sampler=sampler, storage=storage)
        obj_time = [0.0]
        best = [math.inf]
        curve = []

        def objective(t):
            p = suggest(t)
            t0 = time.perf_counter()
            v = f(p)
            obj_time[0] += time.perf_counter() - t0
            best[0] = min(best[0], v)
            curve.append(best[0])
            return v

        t0 = time.perf_counter()
        study.optimize(objective, n_trials=a.trials)
        wall = time.perf_counter() - t0
        if path:
            os.remove(path)
        print(json.dumps({"objective": a.objective, "sampler": a.sampler, "storage": a.storage, "seed": seed,
                          "curve": curve, "overhead_s": wall - obj_time[0], "version": optuna.__version__}), flush=True)


if __name__ == "__main__":
    main()
