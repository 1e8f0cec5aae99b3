"""Benchmark: the cost of standard errors against the cost of the fit, old and new route.

Run from the repository root::

    python benchmarks/bench_bse.py                 # k = 3 Poisson: n = 1e6 with p = 5, n = 1e5 with p = 50
    python benchmarks/bench_bse.py --n5 200000 --n50 50000   # a quicker run

For a three-component Poisson regression mixture it fits the model (default start, tol 1e-8)
and then times the covariance behind ``res.bse`` (``emglm.inference.covariance`` with
``cov_type="oim"``: the outer product of the unit scores, the observed information and its
inverse) twice, at the same estimate and in this one run:

* old: the observed information as central differences of the analytic score (two passes
  over the rows per parameter), ``observed_information(..., method="numerical")``;
* new: Louis' formula in one pass (``method="analytic"``, the default).

Both run with BLAS held to one thread, as every fit does (``emglm.parallel.blas_limit``): on
a loaded machine a threaded BLAS made the small products of the score passes many times
slower. ``--blas-free`` leaves BLAS as it is (what ``res.bse`` meets today outside a fit; the
analytic pass holds BLAS to one thread itself).

A third time, "1 pass", is what the covariance would cost if it took the outer product from
the same pass as the information (``analytic_information(..., return_opg=True)`` plus the
inverse; ``covariance`` does not do this yet: it computes the outer product separately).

It prints the fit time, both covariance times, their ratios to the fit time, and the largest
gap between the two standard-error vectors relative to the standard errors. Never compare
absolute times across machines; the ratios are measured side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import time

import numpy as np
import statsmodels.api as sm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _problems import design  # noqa: E402

from emglm import EMGLM, inference  # noqa: E402
from emglm.information import analytic_information  # noqa: E402
from emglm.parallel import blas_limit  # noqa: E402


def poisson3(n, p, seed=0):
    """Three Poisson regressions on p columns (intercept + standard normals), 0.3/0.3/0.4."""
    rng = np.random.default_rng(seed)
    X = design(n, rng, p)
    B = np.zeros((3, p))
    B[:, 0] = [0.0, 1.5, 3.0]
    B[:, 1:] = rng.uniform(-0.3, 0.3, (3, p - 1)) / np.sqrt(max(1, (p - 1) / 4))
    z = rng.choice(3, size=n, p=[0.3, 0.3, 0.4])
    y = rng.poisson(np.exp(np.einsum("ij,ij->i", X, B[z]))).astype(float)
    return X, y


HOLD_BLAS = [True]


def _blas():
    return blas_limit() if HOLD_BLAS[0] else contextlib.nullcontext()


def timed_cov(mix, theta, method):
    """Seconds for ``covariance(mix, theta, "oim")`` with the observed information by ``method``."""
    original = inference.observed_information
    inference.observed_information = functools.partial(original, method=method)
    try:
        mix.clear_cache()
        with _blas():
            t0 = time.perf_counter()
            out = inference.covariance(mix, theta, "oim")
            return time.perf_counter() - t0, out
    finally:
        inference.observed_information = original


def timed_one_pass(mix, theta):
    """Seconds for the information and the outer product from one pass, and the inverse."""
    mix.clear_cache()
    with _blas():
        t0 = time.perf_counter()
        info, opg = analytic_information(mix, theta, return_opg=True)
        vals, vecs = np.linalg.eigh(info)
        cov = (vecs / vals) @ vecs.T
        return time.perf_counter() - t0, cov


def run(n, p, n_jobs):
    X, y = poisson3(n, p)
    t0 = time.perf_counter()
    res = EMGLM(y, X, k=3, family=sm.families.Poisson()).fit(tol=1e-8, n_jobs=n_jobs)
    t_fit = time.perf_counter() - t0
    mix, theta = res.mixture, res.theta
    t_old, old = timed_cov(mix, theta, "numerical")
    t_new, new = timed_cov(mix, theta, "analytic")
    t_one, cov_one = timed_one_pass(mix, theta)
    assert np.allclose(cov_one, new["cov"], rtol=1e-8, atol=0)
    se_old, se_new = np.sqrt(np.diag(old["cov"])), np.sqrt(np.diag(new["cov"]))
    gap = np.max(np.abs(se_new - se_old) / se_old)
    print(f"{n:>9d} {p:>3d} {theta.size:>4d} {res.n_iter:>5} "
          f"{t_fit:8.2f} {t_old:8.2f} {t_new:8.2f} {t_old / t_fit:9.2f} {t_new / t_fit:9.2f} "
          f"{t_old / t_new:8.1f} {t_one:8.2f} {t_one / t_fit:9.2f} {gap:10.1e}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n5", type=int, default=1_000_000, help="rows of the p = 5 problem")
    ap.add_argument("--n50", type=int, default=100_000, help="rows of the p = 50 problem")
    ap.add_argument("--n-jobs", type=int, default=1, help="threads of the fit and of the row passes")
    ap.add_argument("--blas-free", action="store_true", help="do not hold BLAS to one thread")
    a = ap.parse_args(argv)
    HOLD_BLAS[0] = not a.blas_free
    print(f"Poisson k=3, n_jobs={a.n_jobs}, BLAS {'as configured' if a.blas_free else 'one thread'}; bse = covariance(cov_type='oim'); times in seconds")
    print(f"{'n':>9} {'p':>3} {'dim':>4} {'iter':>5} {'fit':>8} {'bse old':>8} {'bse new':>8} "
          f"{'old/fit':>9} {'new/fit':>9} {'old/new':>8} {'1 pass':>8} {'1pass/fit':>9} {'max dse':>10}")
    run(a.n5, 5, a.n_jobs)
    run(a.n50, 50, a.n_jobs)


if __name__ == "__main__":
    main()
