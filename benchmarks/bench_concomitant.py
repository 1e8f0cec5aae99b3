"""Benchmark: cost of an EM iteration with concomitant variables against a plain one.

Run from the repository root::

    python benchmarks/bench_concomitant.py             # n = 1,000,000
    python benchmarks/bench_concomitant.py --n 200000  # a quicker run

A three-component Poisson regression mixture (p = 5) whose proportions follow a multinomial
logit in r = 3 concomitant columns (an intercept and two standard normals). It times the EM
map (E-step and one generalised M-step, ``Mixture.fixed_point``) over ``--iters`` iterations
from complete-data fits to the true classes, for

* plain: the same data and model with constant proportions (no concomitant variables);
* concomitant, before: the multinomial logit written with whole (n, K) arrays and scipy's
  ``logsumexp`` (``emglm.mixing.log_prior`` and ``mstep_concomitant``, the code before the
  fused passes, plugged in as the mixing model);
* concomitant, after: the fused blocked passes (``emglm.mixture.mnl``), the default.

It prints seconds per iteration (best of ``--repeats`` runs, the three variants interleaved),
the ratio of each concomitant variant to
the plain iteration, and the largest difference between the parameters the two concomitant
variants reach. All in one thread (BLAS held to one thread, as in a fit); ratios measured side
by side in this one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import statsmodels.api as sm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _problems import design  # noqa: E402

from emglm import EMGLM  # noqa: E402
from emglm import mixing as whole_array  # noqa: E402
from emglm.mixture.mixing import ConcomitantMixing  # noqa: E402
from emglm.parallel import blas_limit  # noqa: E402


class WholeArrayConcomitant(ConcomitantMixing):
    """The multinomial logit as it was: whole-array log-sum-exps (the 'before' column)."""

    def log_prior(self, gamma, rows=None, Z=None):
        return whole_array.log_prior(gamma, rows.Z if Z is None else Z, self.K)

    def mstep(self, gamma, Tunit, rows, n_steps=1):
        return whole_array.mstep_concomitant(gamma, rows.Z, Tunit, rows.unit_w, n_steps=n_steps)


def problem(n, seed=0):
    rng = np.random.default_rng(seed)
    X = design(n, rng)
    Zc = np.column_stack([np.ones(n), rng.standard_normal((n, 2))])
    gam = np.array([[0.0, 0.8, -0.5], [0.3, -0.4, 0.9]])
    eta = np.column_stack([np.zeros(n), Zc @ gam.T])
    pr = np.exp(eta - eta.max(axis=1, keepdims=True))
    pr /= pr.sum(axis=1, keepdims=True)
    z = (rng.random(n)[:, None] > np.cumsum(pr, axis=1)).sum(axis=1)
    B = np.array([[0.0, 0.3, -0.2, 0.1, 0.0],
                  [1.5, -0.2, 0.2, 0.0, 0.1],
                  [3.0, 0.1, 0.0, -0.1, 0.2]])
    y = rng.poisson(np.exp(np.einsum("ij,ij->i", X, B[z]))).astype(float)
    return X, y, Zc, z


def per_iteration(mix, theta0, iters):
    """Seconds per EM iteration over ``iters`` iterations from ``theta0``, and the end point."""
    mix.clear_cache()
    th = theta0
    t0 = time.perf_counter()
    for _ in range(iters):
        th = mix.fixed_point(th)
    return (time.perf_counter() - t0) / iters, th


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    X, y, Zc, z = problem(a.n)
    T = np.eye(3)[z]
    fam = sm.families.Poisson()
    plain = EMGLM(y, X, k=3, family=fam).make_mixture()
    after = EMGLM(y, X, k=3, family=fam, concomitant=Zc).make_mixture()
    before = EMGLM(y, X, k=3, family=fam, concomitant=Zc).make_mixture()
    before.mixing = WholeArrayConcomitant(before.mixing.K, before.mixing.r)
    with blas_limit():
        for mix in (plain, after, before):
            mix.n_jobs = 1
        th_plain, th0 = plain.fit_from_posterior(T), after.fit_from_posterior(T)
        best = {"plain": np.inf, "before": np.inf, "after": np.inf}
        for _ in range(a.repeats):  # the three interleaved, so that a busy spell hits all
            best["plain"] = min(best["plain"], per_iteration(plain, th_plain, a.iters)[0])
            t, th_b = per_iteration(before, th0, a.iters)
            best["before"] = min(best["before"], t)
            t, th_a = per_iteration(after, th0, a.iters)
            best["after"] = min(best["after"], t)
    t_plain, t_before, t_after = best["plain"], best["before"], best["after"]
    print(f"Poisson k=3, p=5, concomitant r=3, n={a.n}, one thread; seconds per EM iteration "
          f"(best of {a.repeats} runs of {a.iters} iterations)")
    print(f"{'plain':>10} {'conc before':>12} {'conc after':>11} {'before/plain':>13} {'after/plain':>12} "
          f"{'max |dtheta|':>13}")
    print(f"{t_plain:10.4f} {t_before:12.4f} {t_after:11.4f} {t_before / t_plain:13.2f} "
          f"{t_after / t_plain:12.2f} {np.max(np.abs(th_a - th_b)):13.1e}")


if __name__ == "__main__":
    main()
