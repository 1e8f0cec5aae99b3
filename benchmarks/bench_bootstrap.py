"""Benchmark: wall time of the nonparametric bootstrap covariance (``cov_type="bootstrap"``).

Run from the repository root::

    python benchmarks/bench_bootstrap.py             # n = 10,000 and 100,000, B = 200
    python benchmarks/bench_bootstrap.py --n 10000   # one size only
    python benchmarks/bench_bootstrap.py --n 10000 --n-boot 50   # a smoke run

For the three-component Poisson regression of ``_problems.py`` (p = 5) it fits once, then
times the B bootstrap replicates (each a full EM from the estimate on a resample, then the
matching of components) with ``n_jobs=1`` and ``n_jobs=2`` worker processes, and prints the
wall time, the time per replicate, the speed-up of two processes, the ratio to one fit, and
how many replicates were relabelled or failed. The replicates are identical for both
``n_jobs`` (checked). Compare ratios measured in one run, never absolute times across
machines.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _problems import poisson3  # noqa: E402

from emglm import EMGLM  # noqa: E402


def run(n, n_boot, jobs):
    name, fam, X, y, z, k = poisson3(n, seed=1)
    model = EMGLM(y, X, k=k, family=fam)
    t0 = time.perf_counter()
    base = model.fit(start=z, n_jobs=1)
    t_fit = time.perf_counter() - t0
    rows = []
    reps = {}
    for j in jobs:
        res = model.fit(start=z, n_jobs=1, cov_type="bootstrap",
                        cov_kwds={"n_boot": n_boot, "random_state": 0, "n_jobs": j})
        t0 = time.perf_counter()
        out = res.cov_details  # the bootstrap runs here (computed on first use)
        wall = time.perf_counter() - t0
        reps[j] = out["replicates"]
        rows.append((j, wall, out))
    same = all(np.array_equal(reps[jobs[0]], r) for r in reps.values())
    print(f"\n{name}, n = {n:,}, p = {X.shape[1]}, B = {n_boot}; one fit from the true labels: {t_fit:.2f} s")
    print(f"{'n_jobs':>6} {'wall s':>8} {'per rep. ms':>12} {'x one fit':>10} {'speed-up':>9} "
          f"{'relabelled':>10} {'failed':>7}")
    for j, wall, out in rows:
        print(f"{j:>6} {wall:>8.2f} {1000 * wall / n_boot:>12.1f} {wall / t_fit:>10.1f} "
              f"{rows[0][1] / wall:>9.2f} {out['n_relabelled']:>10} {out['n_failed']:>7}")
    print(f"replicates identical across n_jobs: {same}")
    se_ratio = np.sqrt(np.maximum(np.diag(res.cov_theta), 0)) / base._bse_flat
    print(f"bootstrap / observed-information SE: min {se_ratio.min():.3f}, max {se_ratio.max():.3f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, action="append", help="rows (repeatable); default 10000 and 100000")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    for n in args.n or [10_000, 100_000]:
        run(n, args.n_boot, args.jobs)


if __name__ == "__main__":
    main()
