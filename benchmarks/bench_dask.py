"""A fit on a dask cluster against the in-memory fit, on the same cores.

Writes a Poisson k=3, p=5 problem (``_problems.poisson3``) as Parquet, then measures:

* the per-iteration time of the EM map over the partitions (2 worker processes, 1 thread
  each) against the in-memory EM map with ``n_jobs=2`` and with one thread (ratios; the goal
  is at most 1.5 times the in-memory map on the same two cores);
* 1 -> 2 workers: the per-iteration time with one worker process over the time with two;
* the client's peak memory during model building and the fit, over the size of the
  design matrix (goal: below 5%);
* optionally (``--spill``) one run whose workers' memory limit is below the data they hold,
  so that dask spills partitions to disk between passes.

Each figure is printed as measured in this run. Run from the repository root::

    python benchmarks/bench_dask.py --n 10000000
    python benchmarks/bench_dask.py --n 1000000 --quick
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import threading
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(__file__))
from _problems import poisson3  # noqa: E402


class PeakRSS:
    """Peak resident memory of this process over a block (sampled every 10 ms)."""

    def __init__(self):
        self.peak = 0

    def _rss(self):
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * resource.getpagesize()

    def __enter__(self):
        self.base = self._rss()
        self.peak = self.base
        self._stop = threading.Event()

        def watch():
            while not self._stop.is_set():
                self.peak = max(self.peak, self._rss())
                time.sleep(0.01)

        self._thread = threading.Thread(target=watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def rise(self):
        return self.peak - self.base


def write_parquet(n, folder, npartitions):
    _, fam, X, y, z, k = poisson3(n, seed=1)
    df = pd.DataFrame(X[:, 1:], columns=[f"x{i}" for i in range(1, X.shape[1])])
    df["y"] = y
    bounds = np.linspace(0, n, npartitions + 1).astype(int)
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        df.iloc[a:b].to_parquet(os.path.join(folder, f"part.{i:03d}.parquet"), index=False)
    return X, y, z, fam


def _worker_rss():
    import psutil

    return psutil.Process().memory_info().rss


def per_iteration(fixed_point, theta, reps, clear=None):
    times = []
    th = theta
    for _ in range(reps):
        if clear is not None:
            clear()
        t0 = time.perf_counter()
        th = fixed_point(th)
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times))


def dask_run(folder, formula, n_workers, reps, memory_limit="auto"):
    import dask.dataframe as dd
    import statsmodels.api as sm
    from distributed import Client, LocalCluster

    from emglm import EMGLM
    from emglm.dask_em import PartitionedMixture
    from emglm.dask_model import build_template

    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=memory_limit, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        base_rss = max(client.run(_worker_rss).values())
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            ddf = dd.read_parquet(folder)
            model = EMGLM.from_formula(formula, ddf, k=3, family=sm.families.Poisson())
            t_build = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = model.fit(maxiter=200)
            t_fit = time.perf_counter() - t0
        widths = (len(model.exog_names), 0, 0)
        dmix = PartitionedMixture(model.rows, model.recipe(), build_template(model, widths, False))
        theta = res.theta
        dmix.objective(theta)  # build the partitions' mixtures
        t_min, t_med = per_iteration(dmix.fixed_point, theta, reps)
        passes = dmix.n_passes
        rss = max(client.run(_worker_rss).values())
        return dict(worker_rss=rss, worker_base=base_rss, build=t_build, fit=t_fit, n_iter=res.n_iter, llf=res.llf, it_min=t_min, it_med=t_med,
                    client_rise=mem.rise, passes=passes, theta=theta)


def memory_run(X, y, theta, reps, n_jobs):
    import statsmodels.api as sm

    from emglm import EMGLM

    model = EMGLM(y, X, k=3, family=sm.families.Poisson())
    model.n_jobs = n_jobs
    mix = model.make_mixture()
    mix.n_jobs = n_jobs
    return per_iteration(mix.fixed_point, theta, reps, clear=mix.clear_cache)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--npartitions", type=int, default=None)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="skip the one-worker run")
    ap.add_argument("--spill", action="store_true", help="also run with a worker memory limit below the data")
    args = ap.parse_args()
    from emglm.parallel import blas_limit

    nparts = args.npartitions or max(4, args.n // 500_000)
    formula = "y ~ x1 + x2 + x3 + x4"
    with tempfile.TemporaryDirectory() as folder:
        X, y, z, fam = write_parquet(args.n, folder, nparts)
        xbytes = X.nbytes
        print(f"n = {args.n:,}, p = 5, k = 3, {nparts} Parquet files; design matrix {xbytes / 2**20:.0f} MiB")
        with blas_limit(1):
            two = dask_run(folder, formula, 2, args.reps)
            print(f"dask, 2 workers x 1 thread: build {two['build']:.1f} s, fit {two['fit']:.1f} s "
                  f"({two['n_iter']} EM iterations, llf {two['llf']:.2f})")
            print(f"  per EM-map evaluation: min {two['it_min'] * 1e3:.0f} ms, median {two['it_med'] * 1e3:.0f} ms")
            print(f"  largest worker process after the fit: {two['worker_rss'] / 2**20:.0f} MiB "
                  f"({two['worker_base'] / 2**20:.0f} MiB before the data were read)")
            print(f"  client peak memory rise during build + fit: {two['client_rise'] / 2**20:.0f} MiB = "
                  f"{two['client_rise'] / xbytes:.3f} x the design matrix (goal < 0.05)")
            mem2 = memory_run(X, y, two["theta"], args.reps, 2)
            mem1 = memory_run(X, y, two["theta"], args.reps, 1)
            print(f"in memory, n_jobs=2: min {mem2[0] * 1e3:.0f} ms; n_jobs=1: min {mem1[0] * 1e3:.0f} ms")
            print(f"RATIO dask (2 workers) / in memory (n_jobs=2) per iteration: {two['it_min'] / mem2[0]:.2f} "
                  "(goal <= 1.5)")
            print(f"RATIO dask (2 workers) / in memory (n_jobs=1) per iteration: {two['it_min'] / mem1[0]:.2f}")
            del X, y
            if not args.quick:
                one = dask_run(folder, formula, 1, args.reps)
                print(f"dask, 1 worker: per EM-map evaluation min {one['it_min'] * 1e3:.0f} ms")
                print(f"RATIO scaling 1 -> 2 workers (time 1 / time 2): {one['it_min'] / two['it_min']:.2f} (ideal 2)")
            if args.spill:
                # a limit below what each worker held in the run above (its rows, the EM's
                # per-row arrays, the process itself): dask spills partitions to disk between
                # passes; 5 times as many partitions, so that one partition's working set fits
                held = two["worker_rss"] - two["worker_base"]  # above the bare process
                limit = int(two["worker_base"] + 0.5 * held)
                with tempfile.TemporaryDirectory() as small:
                    write_parquet(args.n, small, 5 * nparts)
                    spill = dask_run(small, formula, 2, max(2, args.reps // 2), memory_limit=limit)
                print(f"dask, {5 * nparts} partitions, worker memory limit {limit / 2**20:.0f} MiB = the bare worker "
                      f"process ({two['worker_base'] / 2**20:.0f} MiB) + half the {held / 2**20:.0f} MiB a worker "
                      f"held without a limit: per EM-map evaluation min "
                      f"{spill['it_min'] * 1e3:.0f} ms; fit {spill['fit']:.1f} s")
                print(f"RATIO spilled / in-memory workers per iteration: {spill['it_min'] / two['it_min']:.2f}")


if __name__ == "__main__":
    main()
