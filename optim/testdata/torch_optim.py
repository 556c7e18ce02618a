#!/usr/bin/env python3
"""Run torch.optim on the trajectories that optim's TestAgainstTorch sends.

Reads JSON from stdin:
  {"cases": [{"name", "kind", "opts": {...}, "shapes": [[...]], "params": [[...]],
              "grads": [[[...] per param] per step]}],
   "schedules": [{"name", "type", "args": {...}, "steps", "base"}]}
and prints {"cases": {name: [final params]}, "schedules": {name: [lr per step]}},
all in float64.
"""
import json
import sys
import warnings

import torch

warnings.filterwarnings("ignore")
torch.set_default_dtype(torch.float64)


def make_opt(kind, params, o):
    lr = o["lr"]
    if kind == "SGD":
        return torch.optim.SGD(params, lr=lr, momentum=o["momentum"], dampening=o["dampening"],
                               weight_decay=o["weight_decay"], nesterov=o["nesterov"])
    if kind in ("Adam", "AdamW"):
        cls = torch.optim.Adam if kind == "Adam" else torch.optim.AdamW
        return cls(params, lr=lr, betas=(o["beta1"], o["beta2"]), eps=o["eps"], weight_decay=o["weight_decay"])
    if kind == "RMSProp":
        return torch.optim.RMSprop(params, lr=lr, alpha=o["alpha"], eps=o["eps"], weight_decay=o["weight_decay"],
                                   momentum=o["momentum"], centered=o["centered"])
    raise ValueError(kind)


def make_sched(opt, s):
    a, t = s["args"], s["type"]
    L = torch.optim.lr_scheduler
    if t == "step":
        return L.StepLR(opt, step_size=a["step_size"], gamma=a["gamma"])
    if t == "cosine":
        return L.CosineAnnealingLR(opt, T_max=a["steps"], eta_min=a["min_lr"])
    if t == "warmup_cosine":
        w = L.LinearLR(opt, start_factor=a["start_factor"], end_factor=1.0, total_iters=a["warmup"])
        c = L.CosineAnnealingLR(opt, T_max=a["steps"], eta_min=a["min_lr"])
        return L.SequentialLR(opt, [w, c], milestones=[a["warmup"]])
    if t == "onecycle":
        return L.OneCycleLR(opt, max_lr=s["base"], total_steps=a["steps"], pct_start=a["pct_start"],
                            div_factor=a["div_factor"], final_div_factor=a["final_div_factor"],
                            anneal_strategy="linear" if a["linear"] else "cos", cycle_momentum=False)
    raise ValueError(t)


def main():
    req = json.load(sys.stdin)
    out = {"cases": {}, "schedules": {}}
    for c in req["cases"]:
        ps = [torch.tensor(p).reshape(s).requires_grad_() for p, s in zip(c["params"], c["shapes"])]
        opt = make_opt(c["kind"], ps, c["opts"])
        for step in c["grads"]:
            for p, g, s in zip(ps, step, c["shapes"]):
                p.grad = torch.tensor(g).reshape(s)
            opt.step()
        out["cases"][c["name"]] = [p.detach().reshape(-1).tolist() for p in ps]
    for s in req["schedules"]:
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=s["base"])
        sch = make_sched(opt, s)
        lrs = []
        for _ in range(s["steps"]):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sch.step()
        out["schedules"][s["name"]] = lrs
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
