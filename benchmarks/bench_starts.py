"""Cost of the default start strategy (short-run screening) against one EM run from the truth.

Run from the repository root::

    python benchmarks/bench_starts.py [--n 200000 1000000] [--repeat 1]

For each simulated problem (``_problems.py``: Poisson k=3, Gaussian k=2, Binomial k=2, plus
two crossing Gaussian lines, where a single residual-quantile start fails) and each ``n``
it times, in one process and one after the other:

* ``truth``: ``fit(start=true_labels)``, one EM run from the true classes (the cheapest
  fit that reaches the optimum);
* ``default``: ``fit()``, screening of ``10 + 5 k`` starts on a subsample of 5000 rows,
  the best optimum finished on all rows;
* ``fit``: ``fit(start="fit")``, the old default (one residual-quantile start).

and prints the times, the ratio default / truth (goal <= 2, limit 4), and the llf of each
fit relative to the truth run's (a negative figure is a poorer optimum). Times are the
minimum over ``--repeat`` runs. The figures depend on the load of the machine; compare
the ratios of one run, never absolute times across runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import statsmodels.api as sm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _problems import PROBLEMS  # noqa: E402

from emglm import EMGLM  # noqa: E402


def crossing(n, seed=0):
    """Two Gaussian lines through the origin with slopes +3 and -3 (``crossing_lines`` of
    tests/test_warmup.py): a single residual-quantile start ends in a poor local optimum."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    z = rng.choice(2, size=n)
    y = np.where(z == 1, 3.0, -3.0) * x + rng.normal(0, 0.5, n)
    return "Gaussian crossing k=2", sm.families.Gaussian(), np.column_stack([np.ones(n), x]), y, z, 2


def timed(f, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=float, nargs="+", default=[2e5, 1e6])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", default=None, help="run only the problems whose name contains this")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"{'problem':24s} {'n':>8s} {'truth s':>8s} {'default s':>9s} {'ratio':>6s} "
          f"{'fit s':>7s} {'llf default-truth':>18s} {'llf fit-truth':>14s}")
    for n in [int(v) for v in args.n]:
        for prob in PROBLEMS + (crossing,):
            name, fam, X, y, z, k = prob(n, seed=0)
            if args.only and args.only not in name:
                continue
            model = EMGLM(y, X, k=k, family=fam)
            t_truth, truth = timed(lambda: model.fit(start=z), args.repeat)
            t_def, dflt = timed(lambda: model.fit(), args.repeat)
            t_fit, one = timed(lambda: model.fit(start="fit"), args.repeat)
            print(f"{name:24s} {n:8d} {t_truth:8.2f} {t_def:9.2f} {t_def / t_truth:6.2f} {t_fit:7.2f} "
                  f"{dflt.llf - truth.llf:18.3g} {one.llf - truth.llf:14.3g}", flush=True)


if __name__ == "__main__":
    main()
