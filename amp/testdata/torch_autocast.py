# Runs torch.nn.functional.linear under torch.autocast("cpu", bfloat16) on
# the float32 inputs given as JSON on stdin and prints the output, the
# loss sum(y.float() * c) and the gradients of x, w and b (float32) as JSON.
import json
import sys

import torch

req = json.load(sys.stdin)
n, k, m = req["n"], req["k"], req["m"]
x = torch.tensor(req["x"], dtype=torch.float32).reshape(n, k).requires_grad_()
w = torch.tensor(req["w"], dtype=torch.float32).reshape(m, k).requires_grad_()
b = torch.tensor(req["b"], dtype=torch.float32).requires_grad_()
c = torch.tensor(req["c"], dtype=torch.float32).reshape(n, m)
with torch.autocast("cpu", dtype=torch.bfloat16):
    y = torch.nn.functional.linear(x, w, b)
assert y.dtype == torch.bfloat16, y.dtype
loss = (y.float() * c).sum()
loss.backward()
json.dump({
    "y": y.float().flatten().tolist(),
    "loss": loss.item(),
    "gx": x.grad.flatten().tolist(),
    "gw": w.grad.flatten().tolist(),
    "gb": b.grad.flatten().tolist(),
}, sys.stdout)
