"""SQUAREM against plain EM: evaluations of the EM map needed for the same log-likelihood.

Run from the repository root::

    python benchmarks/bench_squarem.py

Part 1, slow-converging fits (overlapping components): for each problem a long run
(``tol = 1e-14``) gives the best llf ``llf*``; then for plain EM and SQUAREM, from the same
start, it counts the EM-map evaluations until the llf first comes within ``1e-9 |llf*|``
of ``llf*`` (the 'same llf'), and prints the ratio plain / SQUAREM (goal >= 3).

Part 2, "never worse": ``fit()`` with the default tolerance on the benchmark problems of
``bench_fit.py`` and the overlapping ones, both ways from the same start: map evaluations,
wall time and llf (SQUAREM's llf should never be lower, its evaluations never many more).
"""

from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np
import statsmodels.api as sm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _problems import PROBLEMS, design  # noqa: E402

from emglm import EMGLM, em  # noqa: E402
from emglm.fitting import start_vectors  # noqa: E402

FAM = sm.families


def overlapping(n=20_000, seed=0):
    """Mixtures whose components overlap, where plain EM converges slowly."""
    rng = np.random.default_rng(seed)
    X = design(n, rng, p=3)
    out = []
    z = rng.choice(2, size=n, p=[0.45, 0.55])
    B = np.array([[0.0, 0.5, -0.3], [0.8, 0.3, -0.1]])
    y = np.einsum("ij,ij->i", X, B[z]) + rng.standard_normal(n) * np.array([1.0, 0.8])[z]
    out.append(("Gaussian k=2 overlap", FAM.Gaussian(), X, y, z, 2))
    z = rng.choice(3, size=n, p=[0.3, 0.3, 0.4])
    B = np.array([[0.5, 0.2, 0.0], [1.0, 0.1, 0.1], [1.5, 0.2, -0.1]])
    y = rng.poisson(np.exp(np.einsum("ij,ij->i", X, B[z]))).astype(float)
    out.append(("Poisson k=3 overlap", FAM.Poisson(), X, y, z, 3))
    z = rng.choice(2, size=n, p=[0.5, 0.5])
    B = np.array([[-0.5, 0.5, 0.0], [0.3, 0.3, 0.2]])
    s = rng.binomial(5, 1 / (1 + np.exp(-np.einsum("ij,ij->i", X, B[z])))).astype(float)
    out.append(("Binomial k=2 overlap", FAM.Binomial(), X, np.column_stack([s, 5 - s]), z, 2))
    return out


def trace(engine, theta0, accelerate, tol, maxiter):
    """(evaluations, best llf so far) after every objective evaluation of one EM run."""
    count = [0]
    log = []

    def fp(th):
        count[0] += 1
        return engine.fixed_point(th)

    def obj(th):
        f = engine.objective(th)
        log.append((count[0], f))
        return f

    out = em.run(fp, theta0, objective=obj, tol=tol, maxiter=maxiter, accelerate=accelerate,
                 in_domain=lambda th: np.isfinite(engine.objective(th)), keep_history=False)
    evals = np.array([c for c, _ in log])
    best = np.maximum.accumulate(np.array([f for _, f in log]))
    return evals, best, out


def evals_to_reach(evals, best, target):
    hit = np.nonzero(best >= target)[0]
    return int(evals[hit[0]]) if hit.size else None


def part1():
    print("Part 1: EM-map evaluations to reach llf* - 1e-9 |llf*| (slow-converging fits)")
    print(f"{'problem':<24}{'llf*':>16}{'plain EM':>10}{'SQUAREM':>9}{'ratio':>8}")
    ratios = []
    for name, fam, X, endog, z, k in overlapping():
        model = EMGLM(endog, X, k=k, family=fam)
        eng = model.make_mixture()
        theta0 = start_vectors(model, eng, "fit", None, 1, np.random.default_rng(0))[0]
        ref = []
        for acc in ("squarem", None):
            ev, best, _ = trace(eng, theta0, acc, 1e-14, 20_000)
            ref.append((ev, best))
        llf_star = max(r[1][-1] for r in ref)
        target = llf_star - 1e-9 * abs(llf_star)
        n_sq = evals_to_reach(*ref[0], target)
        n_em = evals_to_reach(*ref[1], target)
        ratio = (n_em / n_sq) if (n_em and n_sq) else float("nan")
        ratios.append(ratio)
        print(f"{name:<24}{llf_star:>16.4f}{str(n_em):>10}{str(n_sq):>9}{ratio:>8.1f}")
    return ratios


def part2():
    print("\nPart 2: fit() at the default tol = 1e-8, plain EM vs SQUAREM from the same start")
    print(f"{'problem':<24}{'n':>8}{'start':>8}{'it EM':>7}{'it SQ':>7}{'s EM':>7}{'s SQ':>7}"
          f"{'llf SQ - llf EM':>17}")
    probs = [(make(100_000)) for make in PROBLEMS] + overlapping()
    worst_llf, worst_it = np.inf, 0.0
    for name, fam, X, endog, z, k in probs:
        model = EMGLM(endog, X, k=k, family=fam)
        for start in (z, "fit"):
            res = {}
            for acc in (None, "squarem"):
                t = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = model.fit(start=start, accelerate=acc, maxiter=5000)
                res[acc] = (r, time.perf_counter() - t)
            (r0, t0), (r1, t1) = res[None], res["squarem"]
            d = r1.llf - r0.llf
            worst_llf = min(worst_llf, d / (abs(r0.llf) + 1))
            worst_it = max(worst_it, r1.n_iter / r0.n_iter)
            sname = "fit" if isinstance(start, str) else "labels"
            print(f"{name:<24}{X.shape[0]:>8,}{sname:>8}{r0.n_iter:>7}{r1.n_iter:>7}{t0:>7.2f}{t1:>7.2f}{d:>17.6f}")
    print(f"worst relative llf difference (SQUAREM - EM): {worst_llf:.2e}; "
          f"worst evaluation ratio SQUAREM / EM: {worst_it:.2f}")


def main():
    t = time.perf_counter()
    ratios = part1()
    print(f"minimum ratio plain / SQUAREM: {np.nanmin(ratios):.1f}  (goal >= 3)")
    part2()
    print(f"\ntotal {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
