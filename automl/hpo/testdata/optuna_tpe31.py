"""Reference numbers for automl/hpo's TPE from Optuna 3.1's own internals.

Run with Debian's python3-optuna (3.1):

    /usr/bin/python3 automl/hpo/testdata/optuna_tpe31.py > automl/hpo/testdata/optuna_tpe31.json

For each fixed history (generated here from a fixed numpy seed and written
into the JSON, so the Go test rebuilds exactly the same trials) it records
what Optuna's TPESampler does with it: the split into below/above
(_get_observation_pairs, _split_observation_pairs, default_gamma), the
two _ParzenEstimator's component weights, means, bandwidths and bounds,
their log densities at probe points, and 24 candidates drawn from l with
log l, log g and the index Optuna's _compare picks. The Go test
(TestTPEMatchesOptuna31) compares automl/hpo against these numbers.
"""
import json
import math
import sys

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import TPESampler
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator
from optuna.samplers._tpe.sampler import _get_observation_pairs, _split_observation_pairs
from optuna.trial import TrialState, create_trial

optuna.logging.set_verbosity(optuna.logging.ERROR)


def dist_json(d):
    if isinstance(d, CategoricalDistribution):
        return {"kind": "categorical", "choices": list(d.choices)}
    if isinstance(d, IntDistribution):
        return {"kind": "int", "low": d.low, "high": d.high, "log": d.log, "step": d.step}
    return {"kind": "float", "low": d.low, "high": d.high, "log": d.log, "step": d.step or 0}


def sample_internal(rng, d):
    """A random internal value of d (the history's parameters)."""
    if isinstance(d, CategoricalDistribution):
        return int(rng.randint(len(d.choices)))
    if d.log:
        v = math.exp(rng.uniform(math.log(d.low), math.log(d.high)))
    else:
        v = rng.uniform(d.low, d.high)
    if isinstance(d, IntDistribution):
        return int(min(max(round((v - d.low) / d.step) * d.step + d.low, d.low), d.high))
    if d.step:
        return float(min(max(round((v - d.low) / d.step) * d.step + d.low, d.low), d.high))
    return float(v)


def make_history(seed, n, space, direction="minimize", pruned=0, conditional=None):
    """n trials over space (name -> distribution); values from a smooth
    function of the internal values; the first `pruned` trials of every 7
    are pruned with intermediate values at varied steps (one with none);
    conditional = (name, choice index): that parameter exists only when
    categorical "c" takes the given index."""
    rng = np.random.RandomState(seed)
    trials = []
    for i in range(n):
        params = {}
        for name, d in space.items():
            if conditional and name == conditional[0] and params.get("c") != conditional[1]:
                continue
            params[name] = sample_internal(rng, d)
        v = 0.0
        for name, x in params.items():
            d = space[name]
            if isinstance(d, CategoricalDistribution):
                v += 0.5 * x
            else:
                lo, hi = (math.log(d.low), math.log(d.high)) if d.log else (d.low, d.high)
                u = ((math.log(x) if d.log else x) - lo) / (hi - lo)
                v += (u - 0.3) ** 2 + 0.1 * math.sin(7 * u)
        v += 0.01 * rng.randn()
        t = {"number": i, "params": params, "state": "complete", "value": v, "intermediate": {}}
        if pruned and i % 7 < pruned and i > 0:
            t["state"] = "pruned"
            if i % 3 != 0:
                steps = 1 + (i % 4)
                t["intermediate"] = {str(s): v + 0.1 * (steps - s) for s in range(steps)}
            del t["value"]
        trials.append(t)
    return trials


def to_optuna(trials, space, direction):
    study = optuna.create_study(direction=direction)
    for t in trials:
        dists = {k: space[k] for k in t["params"]}
        params = {k: dists[k].to_external_repr(v) for k, v in t["params"].items()}
        if t["state"] == "complete":
            ft = create_trial(state=TrialState.COMPLETE, value=t["value"], params=params, distributions=dists)
        else:
            ft = create_trial(state=TrialState.PRUNED, params=params, distributions=dists,
                              intermediate_values={int(k): v for k, v in t["intermediate"].items()})
        study.add_trial(ft)
    return study


def pe_json(pe, names):
    out = {"weights": pe._weights.tolist(), "dims": {}}
    for k in names:
        d = {}
        if pe._categorical_weights[k] is not None:
            d["categorical"] = pe._categorical_weights[k].tolist()
        else:
            d.update(low=float(pe._low[k]), high=float(pe._high[k]), mus=pe._mus[k].tolist(),
                     sigmas=pe._sigmas[k].tolist())
        out["dims"][k] = d
    return out


def probes(space, names, rng, n=9):
    """Probe points: evenly spread in the transformed space, on the grid."""
    cols = {}
    for k in names:
        d = space[k]
        if isinstance(d, CategoricalDistribution):
            cols[k] = np.arange(n) % len(d.choices)
            continue
        u = (np.arange(n) + 0.5) / n
        rng.shuffle(u) if len(names) > 1 else None
        if d.log:
            v = np.exp(math.log(d.low) + u * (math.log(d.high) - math.log(d.low)))
        else:
            v = d.low + u * (d.high - d.low)
        if isinstance(d, IntDistribution):
            v = np.clip(np.round((v - d.low) / d.step) * d.step + d.low, d.low, d.high)
        elif d.step:
            v = np.clip(np.round((v - d.low) / d.step) * d.step + d.low, d.low, d.high)
        cols[k] = v
    return cols


def case(name, space, trials, names, direction="minimize", multivariate=False):
    study = to_optuna(trials, space, direction)
    sampler = TPESampler(seed=0, multivariate=multivariate) if multivariate else TPESampler(seed=0)
    params = sampler._parzen_estimator_parameters
    values, scores, violations = _get_observation_pairs(study, names, False, False)
    n = sum(s < float("inf") for s, v in scores)
    n_below = sampler._gamma(n)
    below_idx, above_idx = _split_observation_pairs(scores, n_below, violations)
    first = np.asarray(values[names[0]], dtype=float)
    mask = ~np.isnan(first)
    cfg = {k: np.asarray(v, dtype=float) for k, v in values.items()}
    below = {k: v[below_idx[mask[below_idx]]] for k, v in cfg.items()}
    above = {k: v[above_idx[mask[above_idx]]] for k, v in cfg.items()}
    sub = {k: space[k] for k in names}
    l = _ParzenEstimator(below, sub, params)
    g = _ParzenEstimator(above, sub, params)
    rng = np.random.RandomState(1)
    pr = probes(space, names, rng)
    cand = l.sample(np.random.RandomState(2), 24)
    ll, lg = l.log_pdf(cand), g.log_pdf(cand)
    best = int(np.argmax(ll - lg))
    numbers = [t["number"] for t in trials]
    return {
        "name": name, "direction": direction, "multivariate": multivariate, "names": names,
        "space": {k: dist_json(v) for k, v in space.items()},
        "trials": trials,
        "n": int(n), "n_below": int(n_below),
        "below": [numbers[i] for i in below_idx if mask[i]],
        "above": [numbers[i] for i in above_idx if mask[i]],
        "l": pe_json(l, names), "g": pe_json(g, names),
        "probes": {k: np.asarray(v, dtype=float).tolist() for k, v in pr.items()},
        "probe_log_l": l.log_pdf({k: np.asarray(v) for k, v in pr.items()}).tolist(),
        "probe_log_g": g.log_pdf({k: np.asarray(v) for k, v in pr.items()}).tolist(),
        "candidates": {k: np.asarray(v, dtype=float).tolist() for k, v in cand.items()},
        "cand_log_l": ll.tolist(), "cand_log_g": lg.tolist(), "best": best,
    }


def main():
    X = FloatDistribution(-5, 10)
    Y = FloatDistribution(0, 15)
    U = FloatDistribution(0, 1)
    LOG = FloatDistribution(1e-4, 1, log=True)
    STEP = FloatDistribution(0, 10, step=0.5)
    INT = IntDistribution(1, 20)
    INT3 = IntDistribution(0, 30, step=3)
    LOGINT = IntDistribution(1, 1000, log=True)
    CAT = CategoricalDistribution(["a", "b", "c", "d"])
    C3 = CategoricalDistribution(["a", "b", "c"])
    cases = []
    sp = {"x": X, "y": Y}
    for n, seed in ((10, 1), (30, 2), (100, 3)):
        h = make_history(seed, n, sp)
        cases.append(case("branin-like n=%d x" % n, sp, h, ["x"]))
        cases.append(case("branin-like n=%d y" % n, sp, h, ["y"]))
    sp = {"x%d" % j: U for j in range(6)}
    h = make_history(4, 60, sp)
    cases.append(case("unit n=60 x0", sp, h, ["x0"]))
    cases.append(case("unit n=60 x3 maximize", sp, h, ["x3"], direction="maximize"))
    sp = {"x": FloatDistribution(-5, 5), "y": LOG, "c": C3}
    h = make_history(5, 40, sp)
    for k in ("x", "y", "c"):
        cases.append(case("mixed n=40 " + k, sp, h, [k]))
    cases.append(case("mixed n=40 multivariate", sp, h, ["c", "x", "y"], multivariate=True))
    sp = {"s": STEP, "i": INT, "j": INT3, "k": CAT}
    h = make_history(6, 27, sp)
    for k in ("s", "i", "j", "k"):
        cases.append(case("discrete n=27 " + k, sp, h, [k]))
    sp = {"li": LOGINT}
    h = make_history(7, 35, sp)
    cases.append(case("logint n=35", sp, h, ["li"]))
    sp = {"x": X}
    h = make_history(8, 30, sp, pruned=3)
    cases.append(case("pruned n=30", sp, h, ["x"]))
    sp = {"c": C3, "y": LOG}
    h = make_history(9, 45, sp, conditional=("y", 1))
    cases.append(case("conditional n=45 y", sp, h, ["y"]))
    json.dump({"optuna": optuna.__version__, "numpy": np.__version__, "cases": cases}, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
