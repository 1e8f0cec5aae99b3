"""Set-up cost before EM: the formula build and the start, against a fit from the true labels.

Run from the repository root::

    python benchmarks/bench_setup.py --n 4000000        # the issue's size (about a minute)
    python benchmarks/bench_setup.py --quick            # n = 200,000, a smoke run

On the Poisson k = 3, p = 5 problem of ``_problems.py`` (a data frame ``y, x1..x4``) it
times, in one process:

* ``formula``: ``EMGLM.from_formula("y ~ x1 + x2 + x3 + x4", df, k=3)``, and beside it
  patsy's ``dmatrices`` of the same formula alone;
* ``start``: the part of the default ``fit()`` before EM on all rows begins (screening of
  the starts on a subsample, the mixture's set-up), taken as the time from entering
  ``fit`` to the first full-data EM run;
* ``labels fit``: ``fit(start=true_labels)``, the whole fit from the true classes (its own
  start, the complete weighted fits to the labels, is printed beside it);

and prints the share ``(formula + start) / labels fit`` (limit 0.25, goal 0.10). Times are
the minimum over ``--repeat`` runs; compare the ratios of one run, not absolute times.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _problems import poisson3  # noqa: E402

from emglm import EMGLM, fitting  # noqa: E402

FORMULA = "y ~ x1 + x2 + x3 + x4"


def problem_frame(n, p=5):
    """The Poisson k=3 problem as a data frame, with its true labels and family."""
    _, fam, X, y, z, k = poisson3(n)
    df = pd.DataFrame(X[:, 1:], columns=[f"x{i}" for i in range(1, p)])
    df["y"] = y
    return df, z, fam, k


class _FirstEM:
    """Records when ``fitting.run_start`` (EM on all the data) is first entered."""

    def __init__(self):
        self.orig = fitting.run_start
        self.t = None

    def __enter__(self):
        def wrapped(*a, **kw):
            if self.t is None:
                self.t = time.perf_counter()
            return self.orig(*a, **kw)

        fitting.run_start = wrapped
        return self

    def __exit__(self, *exc):
        fitting.run_start = self.orig


def timed_fit(model, **kw):
    """(time to the first full-data EM run, whole fit time, result)."""
    with _FirstEM() as rec:
        t0 = time.perf_counter()
        res = model.fit(**kw)
        t1 = time.perf_counter()
    return rec.t - t0, t1 - t0, res


def measure(n, repeat):
    import patsy

    df, z, fam, k = problem_frame(n)
    warnings.simplefilter("ignore")
    t_formula = t_patsy = t_start = t_default = t_labels = t_lstart = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        patsy.dmatrices(FORMULA, df, return_type="dataframe")
        t_patsy = min(t_patsy, time.perf_counter() - t)
        t = time.perf_counter()
        model = EMGLM.from_formula(FORMULA, df, k=k, family=fam)
        t_formula = min(t_formula, time.perf_counter() - t)
        a, b, res_d = timed_fit(model)
        t_start, t_default = min(t_start, a), min(t_default, b)
        a, b, res_l = timed_fit(model, start=z)
        t_lstart, t_labels = min(t_lstart, a), min(t_labels, b)
    return dict(n=n, formula=t_formula, patsy=t_patsy, start=t_start, default=t_default,
                labels=t_labels, lstart=t_lstart, dllf=res_d.llf - res_l.llf,
                share=(t_formula + t_start) / t_labels)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=float, nargs="+", default=[4e6])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="n = 200,000, three repeats")
    args = ap.parse_args(argv)
    sizes, repeat = ([2e5], 3) if args.quick else (args.n, args.repeat)
    print(f"{'n':>9} {'formula s':>9} {'patsy s':>8} {'start s':>8} {'default s':>9} "
          f"{'labels s':>9} {'its start':>9} {'share':>6} {'llf default-labels':>19}")
    for n in sizes:
        r = measure(int(n), repeat)
        print(f"{r['n']:>9,} {r['formula']:>9.2f} {r['patsy']:>8.2f} {r['start']:>8.2f} {r['default']:>9.2f} "
              f"{r['labels']:>9.2f} {r['lstart']:>9.2f} {r['share']:>6.2f} {r['dllf']:>19.3g}", flush=True)
    print("share = (formula + start of the default fit) / fit from the true labels  (limit 0.25, goal 0.10)")


if __name__ == "__main__":
    main()
