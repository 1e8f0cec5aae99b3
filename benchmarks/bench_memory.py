"""Peak memory of a fit in multiples of the design matrix, as k and the number of starts grow.

Run from the repository root::

    python benchmarks/bench_memory.py                 # n = 1,000,000 (a few minutes)
    python benchmarks/bench_memory.py --quick         # n = 100,000

Poisson mixtures with p = 5 (an intercept and four standard-normal covariates) and k = 2, 3
and 8 components (intercepts spread over 0..3). The peak is measured with ``tracemalloc``
(numpy reports its buffers to it) as the peak of traced allocations during ``fit()`` above
the level before it, in multiples of the design matrix X (n x p float64). Printed: the
default fit, ``start="fit"`` (one start run to convergence) and ``start="fit",
n_starts=10`` (ten starts, the best kept) with its ratio to one start (limit 1.2), and the
limit for k = 8 (8 x X).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
import statsmodels.api as sm

from emglm import EMGLM


def poisson_k(n, k, seed=0, p=5):
    rng = np.random.default_rng(seed)
    X = np.empty((n, p))
    X[:, 0] = 1.0
    X[:, 1:] = rng.standard_normal((n, p - 1))
    B = np.zeros((k, p))
    B[:, 0] = np.linspace(0.0, 3.0, k)
    B[:, 1:] = rng.normal(scale=0.2, size=(k, p - 1))
    z = rng.integers(0, k, n)
    y = rng.poisson(np.exp(np.einsum("ij,ij->i", X, B[z]))).astype(float)
    return X, y, z


def peak_of(f):
    """(peak traced bytes above the level before ``f()``, seconds)."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    t = time.perf_counter()
    f()
    dt = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak, dt


def measure(n, k, maxiter):
    X, y, z = poisson_k(n, k)
    model = EMGLM(y, X, k=k, family=sm.families.Poisson())
    xb = X.nbytes
    out = {}
    for name, kw in (("default", {}), ("fit", dict(start="fit")), ("fit x10", dict(start="fit", n_starts=10))):
        peak, dt = peak_of(lambda: model.fit(maxiter=maxiter, **kw))
        out[name] = (peak / xb, dt)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=float, default=1e6)
    ap.add_argument("--k", type=int, nargs="+", default=[2, 3, 8])
    ap.add_argument("--maxiter", type=int, default=30, help="EM iterations per start (the peak is "
                    "reached in the first ones)")
    ap.add_argument("--quick", action="store_true", help="n = 100,000")
    args = ap.parse_args(argv)
    n = 100_000 if args.quick else int(args.n)
    warnings.simplefilter("ignore")
    print(f"n = {n:,}, p = 5, Poisson; peak of traced allocations during fit() / X ({n * 5 * 8 / 2**20:.0f} MB)")
    print(f"{'k':>3} {'default':>8} {'start=fit':>10} {'n_starts=10':>12} {'10 / 1':>7}   (seconds)")
    for k in args.k:
        r = measure(n, k, args.maxiter)
        print(f"{k:>3} {r['default'][0]:>8.2f} {r['fit'][0]:>10.2f} {r['fit x10'][0]:>12.2f} "
              f"{r['fit x10'][0] / r['fit'][0]:>7.2f}   ({r['default'][1]:.1f}, {r['fit'][1]:.1f}, "
              f"{r['fit x10'][1]:.1f})", flush=True)
    print("limits: peak <= 8 x X at k = 8; n_starts=10 <= 1.2 x one start's peak")


if __name__ == "__main__":
    main()
