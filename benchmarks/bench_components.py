"""Benchmark: time per EM iteration of every emglm.components model next to a Poisson GLM.

Run from the repository root::

    python benchmarks/bench_components.py              # n = 1,000,000
    python benchmarks/bench_components.py --n 100000   # a lighter run

For each model, two-class data with an intercept and two covariates are simulated; the
mixture (k = 2) is started from a complete fit to the true classes, and one EM iteration
(E-step from scratch, then the M-step: one Newton step per class for the models here, one
IRLS step per class for the GLM) is timed ``--reps`` times; the median is printed with its
ratio to the Poisson GLM mixture's iteration on the same number of rows. Times depend on the
machine and its load: compare the ratios measured side by side in one run, not absolute
times across machines.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import statsmodels.api as sm
from scipy import special

from emglm import EMGLM
from emglm.components import (Beta, Exponential, LogNormal, MNLogit, OrderedLogit, OrderedProbit, Tobit,
                              TruncatedNegativeBinomial, TruncatedPoisson, Weibull)


def simulate(name, n, rng):
    """``(y, X, family)`` of a two-class problem of model ``name`` with n rows."""
    x = rng.uniform(-1, 1, (n, 2))
    X = np.column_stack([np.ones(n), x])
    z = rng.random(n) < 0.4
    eta = np.where(z, X @ [0.5, 1.0, -0.5], X @ [2.0, -0.5, 0.5])
    if name == "Poisson GLM":
        return rng.poisson(np.exp(eta)).astype(float), X, sm.families.Poisson(), z
    if name in ("OrderedLogit", "OrderedProbit"):
        e = rng.logistic(size=n) if name == "OrderedLogit" else rng.normal(size=n)
        y = np.digitize(np.where(z, 2.0, -2.0) * x[:, 0] + x[:, 1] + e, [-1.0, 0.0, 1.0])
        return y, x, (OrderedLogit() if name == "OrderedLogit" else OrderedProbit()), z
    if name == "MNLogit":
        E = np.column_stack([np.zeros(n), eta - 1.0, -eta + 1.0])
        p = np.exp(E) / np.exp(E).sum(axis=1, keepdims=True)
        y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
        return y, X, MNLogit(), z
    if name == "Tobit":
        return np.maximum(eta + rng.normal(size=n), 1.0), X, Tobit(lower=1.0), z
    if name in ("TruncatedPoisson", "TruncatedNegativeBinomial"):
        mu = np.exp(eta)
        y = rng.poisson(mu) if name == "TruncatedPoisson" else rng.negative_binomial(2.0, 2.0 / (2.0 + mu))
        y = np.where(y > 0, y, 1)  # keep n rows: zeros become ones (timing only)
        fam = TruncatedPoisson() if name == "TruncatedPoisson" else TruncatedNegativeBinomial()
        return y.astype(float), X, fam, z
    if name == "Beta":
        mu = special.expit(eta - 1.0)
        return np.clip(rng.beta(mu * 10, (1 - mu) * 10), 1e-6, 1 - 1e-6), X, Beta(), z
    sig = 1.0 if name == "Exponential" else 0.5
    w = rng.normal(size=n) if name == "LogNormal" else np.log(rng.exponential(size=n))
    t = np.exp(eta + sig * w)
    c = rng.exponential(np.exp(3.0), n)
    status = (t <= c).astype(float)
    fam = {"Weibull": Weibull, "LogNormal": LogNormal, "Exponential": Exponential}[name](status=status)
    return np.minimum(t, c), X, fam, z


NAMES = ["Poisson GLM", "OrderedLogit", "OrderedProbit", "MNLogit", "Tobit", "TruncatedPoisson",
         "TruncatedNegativeBinomial", "Beta", "Weibull", "LogNormal", "Exponential"]


def time_iteration(name, n, reps, rng):
    y, X, family, z = simulate(name, n, rng)
    model = EMGLM(y, X, k=2, family=family)
    mix = model.make_mixture()
    T = np.column_stack([~z, z]).astype(float)
    theta = mix.fit_from_posterior(T)
    theta = mix.fixed_point(theta)  # warm: one iteration before timing
    times = []
    for _ in range(reps):
        mix.clear_cache()
        t0 = time.perf_counter()
        mix.fixed_point(theta)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), mix.size


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=None, help="model names to run (default all)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    names = NAMES if not args.only else ["Poisson GLM"] + [m for m in args.only if m != "Poisson GLM"]
    print(f"n = {args.n:,}, k = 2, p = 3 (intercept + 2 covariates), median of {args.reps} iterations")
    print(f"{'model':<28}{'params':>7}{'s / iteration':>15}{'x Poisson GLM':>15}")
    base = None
    for name in names:
        t, size = time_iteration(name, args.n, args.reps, rng)
        base = t if base is None else base
        print(f"{name:<28}{size:>7}{t:>15.3f}{t / base:>15.1f}", flush=True)


if __name__ == "__main__":
    main()
