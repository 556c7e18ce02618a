#!/usr/bin/env python3
"""The PyTorch side of Tessera's cross-check (see internal/testutil/torch.go).

Usage: torch_cases.py autograd|nn SEED

Prints a JSON list of cases: for each, random float64 inputs drawn here
(numpy's PCG64 from SEED), the forward output of the PyTorch expression and
its vector-Jacobian product for a random cotangent, one gradient per input
that requires one. The Go tests (autograd/torch_test.go, nn/torch_test.go)
run the same case with Tessera under the same name and compare at 1e-10.
"""
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_grad_enabled(True)
rng = np.random.default_rng(int(sys.argv[2]))
CASES = []


class In:
    def __init__(self, a, kind="f", grad=True):
        self.a, self.kind, self.grad = np.asarray(a), kind, grad


def randn(*s, grad=True):
    return In(rng.standard_normal(s), grad=grad)


def pos(*s):
    return In(rng.uniform(0.5, 2, s))


def ties(*s):
    """Random values on a coarse grid (-1, -0.5, 0, 0.5, 1): many ties."""
    return In(rng.integers(-2, 3, s) / 2.0)


def weights(*s):
    return In(rng.uniform(0.5, 2, s), grad=False)


def ints(hi, *s):
    return In(rng.integers(0, hi, s), "i", False)


def index(vals, *s):
    return In(np.asarray(vals).reshape(s), "i", False)


def mask(*s):
    return In(rng.random(s) > 0.5, "b", False)


def const(*s):
    return randn(*s, grad=False)


def case(name, fn, *ins, tol=1e-10):
    CASES.append((name, fn, ins, tol))


def autograd_cases():
    case("Add/broadcast", torch.add, randn(2, 1, 3), randn(4, 1))
    case("Sub/broadcast", torch.sub, randn(3, 4), randn(4))
    case("Mul/broadcast", torch.mul, randn(3, 4), randn(3, 1))
    case("Div/broadcast", torch.div, randn(3, 4), pos(4))
    case("Pow", torch.pow, pos(3, 4), randn(3, 4))
    case("Maximum/broadcast", torch.maximum, randn(3, 4), randn(4))
    case("Maximum/ties", torch.maximum, ties(4, 5), ties(4, 5))
    case("Maximum/ties-broadcast", torch.maximum, ties(3, 4), ties(4))
    case("Minimum/ties", torch.minimum, ties(4, 5), ties(4, 5))
    case("Minimum/ties-broadcast", torch.minimum, ties(3, 1), ties(1, 4))
    case("Where", lambda c, a, b: torch.where(c, a, b), mask(3, 4), randn(3, 4), randn(1, 4))
    case("MaskedFill", lambda x, m: x.masked_fill(m, -3), randn(3, 4), mask(4))
    case("Neg", torch.neg, randn(3, 4))
    case("Exp", torch.exp, randn(3, 4))
    case("Log", torch.log, pos(3, 4))
    case("Log1p", torch.log1p, pos(3, 4))
    case("Sqrt", torch.sqrt, pos(3, 4))
    case("Rsqrt", torch.rsqrt, pos(3, 4))
    case("Reciprocal", torch.reciprocal, pos(3, 4))
    case("Square", torch.square, randn(3, 4))
    case("Sin", torch.sin, randn(3, 4))
    case("Cos", torch.cos, randn(3, 4))
    case("Tanh", torch.tanh, randn(3, 4))
    case("Sigmoid", torch.sigmoid, randn(3, 4))
    case("Erf", torch.erf, randn(3, 4))
    case("ReLU/ties", torch.relu, ties(4, 5))
    case("LeakyReLU/ties", lambda x: F.leaky_relu(x, 0.1), ties(4, 5))
    case("GELU", F.gelu, randn(3, 4))
    case("GELUTanh", lambda x: F.gelu(x, approximate="tanh"), randn(3, 4))
    case("Abs/ties", torch.abs, ties(4, 5))
    case("Clamp/ties", lambda x: torch.clamp(x, -0.5, 0.5), ties(4, 5))
    case("PowScalar", lambda x: torch.pow(x, 2.5), pos(3, 4))
    case("PowScalar/2", lambda x: torch.pow(x, 2), randn(3, 4))
    case("Affine", lambda x: -1.5 * x + 2, randn(3, 4))
    case("AddScalar", lambda x: x + 3, randn(3, 4))
    case("SubScalar", lambda x: x - 3, randn(3, 4))
    case("MulScalar", lambda x: x * -2, randn(3, 4))
    case("DivScalar", lambda x: x / 4, randn(3, 4))
    case("RSubScalar", lambda x: 1 - x, randn(3, 4))
    case("MaximumScalar/ties", lambda x: torch.clamp(x, min=0.5), ties(4, 5))
    case("MinimumScalar/ties", lambda x: torch.clamp(x, max=0.5), ties(4, 5))
    case("Cast", lambda x: (x.float() * x.float()).double(), randn(3, 4))
    case("Sum/axes", lambda x: x.sum((0, 2)), randn(2, 3, 4))
    case("Sum/keepDim", lambda x: x.sum(-1, keepdim=True), randn(2, 3, 4))
    case("Sum/all", lambda x: x.sum(), randn(3, 4))
    case("Mean", lambda x: x.mean(1), randn(2, 3, 4))
    case("Max/ties", lambda x: torch.amax(x, 1), ties(2, 5, 4))
    case("Max/keepDim", lambda x: torch.amax(x, (0, 2), keepdim=True), randn(2, 3, 4))
    case("Min/ties", lambda x: torch.amin(x, (0, 2)), ties(3, 4, 5))
    case("Prod", lambda x: x.prod(1), randn(2, 3, 4))
    case("Prod/zeros", lambda x: x.prod(-1), In(np.where(rng.random((3, 4)) < 0.3, 0.0, rng.standard_normal((3, 4))).round(1)))
    case("Variance", lambda x: torch.var(x, 1, correction=1), randn(2, 3, 4))
    case("Std", lambda x: torch.std(x, -1, correction=0, keepdim=True), randn(2, 3, 4))
    case("LogSumExp", lambda x: torch.logsumexp(x, (0, 2), keepdim=True), randn(2, 3, 4))
    case("MatMul/batched-broadcast", torch.matmul, randn(2, 3, 4), randn(4, 5))
    case("MatMul/vector-matrix", torch.matmul, randn(4), randn(2, 4, 3))
    case("MatMul/matrix-vector", torch.matmul, randn(3, 4), randn(4))
    case("MatMul/dot", torch.matmul, randn(4), randn(4))
    case("Linear", F.linear, randn(2, 3, 4), randn(5, 4), randn(5))
    case("Linear/no-bias", F.linear, randn(3, 4), randn(5, 4))
    case("Reshape", lambda x: x.reshape(4, -1), randn(3, 4))
    case("Flatten", lambda x: torch.flatten(x, 1, 2), randn(2, 3, 4))
    case("Permute", lambda x: x.permute(2, 0, 1), randn(2, 3, 4))
    case("Transpose", lambda x: x.transpose(0, 2), randn(2, 3, 4))
    case("T", lambda x: x.transpose(-1, -2), randn(2, 3, 4))
    case("Slice", lambda x: x[:, 1:7:2], randn(2, 7))
    case("Narrow", lambda x: x.narrow(-1, 1, 2), randn(3, 4))
    case("Select", lambda x: x.select(0, -1), randn(3, 4))
    case("Expand", lambda x: x.expand(2, 3, 4), randn(3, 1))
    case("Squeeze", torch.squeeze, randn(3, 1, 4, 1))
    case("Unsqueeze", lambda x: x.unsqueeze(1), randn(3, 4))
    case("Contiguous", lambda x: x.transpose(0, 1).contiguous(), randn(3, 4))
    case("Concat", lambda a, b: torch.cat([a, b, a], 1), randn(2, 3), randn(2, 2))
    case("Stack", lambda a, b: torch.stack([a, b], -1), randn(2, 3), randn(2, 3))
    case("Split", lambda x: torch.cat([2 * p for p in torch.split(x, [1, 3], 1)], 1), randn(2, 4))
    case("Chunk", lambda x: torch.cat([p * (i + 1) for i, p in enumerate(torch.chunk(x, 2, 0))], 1), randn(4, 3))
    case("Pad", lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), randn(2, 3))
    case("IndexSelect", lambda x, i: torch.index_select(x, 1, i), randn(3, 4), index([2, 0, 2, 3], 4))
    case("Gather", lambda x, i: torch.gather(x, 1, i), randn(2, 3), ints(3, 2, 4))
    case("ScatterAdd", lambda x, i, s: x.scatter_add(1, i, s), randn(2, 4), ints(4, 2, 3), randn(2, 3))
    case("Softmax", lambda x: torch.softmax(x, 0), randn(3, 4))
    case("LogSoftmax", lambda x: torch.log_softmax(x, 1), randn(3, 4))
    case("Sort", lambda x: torch.sort(x, 1, descending=True).values, randn(3, 5))
    case("TopK", lambda x: torch.topk(x, 2, 0, largest=False).values, randn(5, 3))
    case("KthValue", lambda x: torch.kthvalue(x, 2, 1, keepdim=True).values, randn(3, 5))
    case("Median", lambda x: torch.median(x, 0).values, randn(4, 3))
    case("Norm/1", lambda x: torch.linalg.vector_norm(x, 1, 1), randn(3, 4))
    case("Norm/2", lambda x: torch.linalg.vector_norm(x, 2, (0, 1), keepdim=True), randn(3, 4))
    case("Norm/inf-ties", lambda x: torch.linalg.vector_norm(x, math.inf, 1), ties(4, 5))
    case("PairwiseSqDist", lambda a, b: ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), randn(3, 4), randn(5, 4))
    case("Checkpoint", lambda x, w: torch.tanh(x @ torch.exp(w)), randn(3, 4), randn(4, 2))
    # Sliding windows: Im2Col/Col2Im are unfold/fold with [C*kh*kw, N*L]
    # columns instead of [N, C*kh*kw, L].
    case("Im2Col", lambda x: F.unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)).permute(1, 0, 2).reshape(2 * 6, -1), randn(2, 2, 5, 6))
    case("Col2Im", lambda c: F.fold(c.reshape(8, 2, 20).permute(1, 0, 2), (4, 5), (2, 2), padding=(1, 0)), randn(8, 40))
    case("Conv2d", lambda x, w, b: F.conv2d(x, w, b, (2, 1), (1, 2), (1, 2)), randn(2, 3, 5, 6), randn(4, 3, 3, 2), randn(4))
    case("Conv2d/groups", lambda x, w: F.conv2d(x, w, None, 1, 1, 1, 2), randn(2, 4, 4, 4), randn(6, 2, 3, 3))
    case("Conv2dMaxPool2d", lambda x, w, b: F.max_pool2d(F.conv2d(x, w, b, padding=(1, 0)), 2), randn(2, 2, 5, 6), randn(3, 2, 3, 3), randn(3))
    case("Conv2dReLUMaxPool2d", lambda x, w, b: F.max_pool2d(F.relu(F.conv2d(x, w, b, padding=(0, 1))), 3, 2, 1, ceil_mode=True), randn(2, 2, 6, 5), randn(3, 2, 3, 3), randn(3))
    case("MaxPool2d", lambda x: F.max_pool2d(x, 2), randn(2, 3, 4, 5))
    case("MaxPool2d/padded-dilated", lambda x: F.max_pool2d(x, (3, 2), (2, 1), (1, 1), dilation=(1, 2)), randn(1, 2, 6, 7))
    case("MaxPool2d/ceil", lambda x: F.max_pool2d(x, 2, 3, 1, ceil_mode=True), randn(1, 2, 7, 9))
    case("MaxPool2d/ties", lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), ties(2, 2, 6, 6))
    case("AvgPool2d", lambda x: F.avg_pool2d(x, (3, 2), (1, 2), (1, 0)), randn(2, 2, 4, 4))
    case("AvgPool2d/default-stride", lambda x: F.avg_pool2d(x, 2), randn(2, 2, 5, 6))
    case("AvgPool2d/ceil", lambda x: F.avg_pool2d(x, 4, 3, 1, ceil_mode=True), randn(1, 2, 7, 9))
    case("AvgPool2d/exclude-pad", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), randn(1, 2, 7, 6))
    case("AvgPool2d/ceil-exclude-pad", lambda x: F.avg_pool2d(x, (4, 3), 3, 1, ceil_mode=True, count_include_pad=False), randn(2, 1, 7, 9))


def mha(x, qw, qb, kw, kb, vw, vb, ow, ob, heads, causal):
    b, t, e = x.shape
    d = e // heads

    def split(y):
        return y.reshape(b, t, heads, d).transpose(1, 2)

    q, k, v = split(F.linear(x, qw, qb)), split(F.linear(x, kw, kb)), split(F.linear(x, vw, vb))
    s = q @ k.transpose(-1, -2) / math.sqrt(d)
    if causal:
        s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), -math.inf)
    y = torch.softmax(s, -1) @ v
    return F.linear(y.transpose(1, 2).reshape(b, t, e), ow, ob)


def nn_cases():
    case("Linear", F.linear, randn(2, 3, 4), randn(5, 4), randn(5))
    case("Conv2d", lambda x, w, b: F.conv2d(x, w, b, (1, 2), (1, 0)), randn(2, 3, 5, 6), randn(4, 3, 3, 3), randn(4))
    case("Conv2d/groups-no-bias", lambda x, w: F.conv2d(x, w, None, 1, 1, 1, 2), randn(1, 4, 5, 5), randn(6, 2, 3, 3))
    case("MaxPool2d", lambda x: F.max_pool2d(x, 2), randn(2, 2, 5, 6))
    case("MaxPool2d/ceil-ties", lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), ties(1, 2, 6, 7))
    case("AvgPool2d", lambda x: F.avg_pool2d(x, 3, 2, 1), randn(2, 2, 6, 7))
    case("AvgPool2d/ceil-exclude-pad", lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), randn(1, 2, 6, 6))
    case("Embedding", lambda i, w: F.embedding(i, w), ints(6, 2, 3), randn(6, 4))
    case("ReLU", F.relu, ties(3, 4))
    case("GELU", F.gelu, randn(3, 4))
    case("GELU/tanh", lambda x: F.gelu(x, approximate="tanh"), randn(3, 4))
    case("Tanh", torch.tanh, randn(3, 4))
    case("Sigmoid", torch.sigmoid, randn(3, 4))
    case("Flatten", lambda x: torch.flatten(x, 1), randn(2, 3, 2, 2))
    case("BatchNorm1d/train", lambda x, w, b: F.batch_norm(x, torch.zeros(3, dtype=x.dtype), torch.ones(3, dtype=x.dtype), w, b, True, 0.1, 1e-5), randn(5, 3), randn(3), randn(3))
    case("BatchNorm2d/train", lambda x, w, b: F.batch_norm(x, torch.zeros(2, dtype=x.dtype), torch.ones(2, dtype=x.dtype), w, b, True, 0.1, 1e-5), randn(3, 2, 4, 3), randn(2), randn(2))
    case("BatchNorm2d/eval", lambda x, w, b, m, v: F.batch_norm(x, m, v, w, b, False, 0.1, 1e-5), randn(3, 2, 4, 3), randn(2), randn(2), const(2), In(rng.uniform(0.5, 2, 2), grad=False))
    case("LayerNorm", lambda x, w, b: F.layer_norm(x, (3, 4), w, b, 1e-5), randn(2, 3, 4), randn(3, 4), randn(3, 4))
    heads = 2
    mw = [randn(4, 4) if i % 2 == 0 else randn(4) for i in range(8)]
    case("MultiHeadAttention", lambda x, *p: mha(x, *p, heads, False), randn(2, 3, 4), *mw)
    mw = [randn(4, 4) if i % 2 == 0 else randn(4) for i in range(8)]
    case("MultiHeadAttention/causal", lambda x, *p: mha(x, *p, heads, True), randn(2, 5, 4), *mw)
    case("MLP", lambda x, w1, b1, w2, b2: F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2), randn(2, 3, 4), randn(16, 4), randn(16), randn(4, 16), randn(4))

    def block(x, l1w, l1b, l2w, l2b, *p):
        x = x + mha(F.layer_norm(x, (4,), l1w, l1b, 1e-5), *p[:8], 2, True)
        h = F.layer_norm(x, (4,), l2w, l2b, 1e-5)
        return x + F.linear(F.gelu(F.linear(h, p[8], p[9])), p[10], p[11])
    bw = [randn(4), randn(4), randn(4), randn(4)] + [randn(4, 4) if i % 2 == 0 else randn(4) for i in range(8)] + [randn(16, 4), randn(16), randn(4, 16), randn(4)]
    case("TransformerBlock/causal", block, randn(2, 3, 4), *bw)
    # Losses.
    case("CrossEntropy", lambda x, t: F.cross_entropy(x, t), randn(6, 5), ints(5, 6))
    case("CrossEntropy/NCd-weights-ignore-smoothing", lambda x, t, w: F.cross_entropy(x, t, weight=w, ignore_index=1, label_smoothing=0.2),
         randn(3, 4, 2, 3), ints(4, 3, 2, 3), weights(4))
    case("CrossEntropy/NCd-sum", lambda x, t: F.cross_entropy(x, t, reduction="sum", ignore_index=0), randn(2, 5, 3), ints(5, 2, 3))
    case("CrossEntropy/NCd-none-weights", lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="none", ignore_index=2), randn(2, 3, 4), ints(3, 2, 4), weights(3))
    case("CrossEntropy/weights-mean", lambda x, t, w: F.cross_entropy(x, t, weight=w, ignore_index=3), randn(7, 4), ints(4, 7), weights(4))
    case("NLLLoss/NCd-weights", lambda x, t, w: F.nll_loss(x, t, weight=w, ignore_index=0), randn(2, 3, 4), ints(3, 2, 4), weights(3))
    case("NLLLoss/sum", lambda x, t: F.nll_loss(x, t, reduction="sum"), randn(5, 3), ints(3, 5))
    case("MSELoss", F.mse_loss, randn(4, 3), randn(4, 3))
    case("MSELoss/none", lambda a, b: F.mse_loss(a, b, reduction="none"), randn(4, 3), randn(4, 3))
    case("BCEWithLogits", F.binary_cross_entropy_with_logits, randn(4, 3), In(rng.uniform(0, 1, (4, 3))))
    case("BCEWithLogits/sum", lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="sum"), randn(4, 3), In(rng.uniform(0, 1, (4, 3)), grad=False))
    case("GPTLoss", lambda x, t: F.cross_entropy(x.reshape(-1, x.shape[-1]), t.reshape(-1)), randn(2, 3, 5), ints(5, 2, 3))


def tensor_of(i):
    if i.kind == "f":
        return torch.tensor(i.a, dtype=torch.float64, requires_grad=i.grad)
    if i.kind == "i":
        return torch.tensor(i.a, dtype=torch.int64)
    return torch.tensor(i.a, dtype=torch.bool)


def arr(t, i=None):
    a = t.detach().double().numpy() if t is not None else None
    d = {"shape": list(a.shape), "data": a.reshape(-1).tolist()}
    if i is not None:
        d["kind"], d["grad"] = i.kind, i.grad
    return d


def main():
    {"autograd": autograd_cases, "nn": nn_cases}[sys.argv[1]]()
    out = []
    for name, fn, ins, tol in CASES:
        ts = [tensor_of(i) for i in ins]
        y = fn(*ts)
        cot = torch.tensor(rng.standard_normal(tuple(y.shape)), dtype=y.dtype)
        need = [t for t in ts if t.requires_grad]
        gs = torch.autograd.grad(y, need, cot, allow_unused=True) if need else []
        grads, k = [], 0
        for t in ts:
            if t.requires_grad:
                g = gs[k]
                k += 1
                grads.append(arr(g if g is not None else torch.zeros_like(t)))
            else:
                grads.append(None)
        out.append({"name": name, "tol": tol, "inputs": [arr(t, i) for t, i in zip(ts, ins)],
                    "cot": arr(cot), "out": arr(y), "grads": grads})
    json.dump(out, sys.stdout)


main()
