"""A fit on a dask cluster against the in-memory fit, on the same cores.

Writes a Poisson k=3, p=5 problem (``_problems.poisson3``) as Parquet, then measures:

* the per-iteration time of the EM map over the partitions (2 worker processes, 1 thread
  each) against the in-memory EM map with ``n_jobs=2`` and with one thread (ratios; the goal
  is at most 1.5 times the in-memory map on the same two cores);
* 1 -> 2 workers: the per-iteration time with one worker process over the time with two;
* the client's peak memory during model building and the fit, over the size of the
  design matrix (goal: below 5%); scheduler and workers run in processes of their own, as
  on a real cluster;
* optionally (``--spill``) two runs whose workers' memory limit is below what they held:
  one where dask spills the partitions' rows to disk between passes, one where nothing is
  kept and every pass reads the Parquet files again (``persist=False``).

Each figure is printed as measured in this run. Run from the repository root::

    python benchmarks/bench_dask.py --n 10000000
    python benchmarks/bench_dask.py --n 1000000 --quick
"""

from __future__ import annotations

import argparse
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


class SubprocessCluster:
    """A scheduler and workers in processes of their own (as on a real cluster), so that the
    client process holds nothing but the client: its memory is then what the fit costs it
    (a LocalCluster runs the scheduler, with its task logs, inside the client process)."""

    def __init__(self, n_workers, memory_limit="auto"):
        self.n_workers, self.memory_limit = n_workers, memory_limit

    def __enter__(self):
        import json
        import subprocess

        self.tmp = tempfile.TemporaryDirectory()
        sched = os.path.join(self.tmp.name, "scheduler.json")
        # with a memory limit, a worker whose libraries alone approach it must spill rather
        # than pause (a paused worker waits for memory that unmanaged memory never frees)
        env = dict(os.environ, DASK_DISTRIBUTED__WORKER__MEMORY__PAUSE="False")
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0",
                                        "--no-dashboard", "--scheduler-file", sched], **quiet)]
        while not os.path.exists(sched):
            time.sleep(0.1)
        time.sleep(0.5)
        for _ in range(self.n_workers):
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", sched, "--nthreads", "1",
                 "--memory-limit", str(self.memory_limit), "--no-dashboard",
                 "--local-directory", self.tmp.name], **quiet))
        with open(sched) as fh:
            self.address = json.load(fh)["address"]
        return self

    def __exit__(self, *exc):
        import subprocess

        for p in self.procs[::-1]:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.tmp.cleanup()


def write_parquet(n, folder, npartitions):
    _, fam, X, y, z, k = poisson3(n, seed=1)
    df = pd.DataFrame(X[:, 1:], columns=[f"x{i}" for i in range(1, X.shape[1])])
    df["y"] = y
    bounds = np.linspace(0, n, npartitions + 1).astype(int)
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        df.iloc[a:b].to_parquet(os.path.join(folder, f"part.{i:03d}.parquet"), index=False)
    return X, y, z, fam


def _warm_imports():
    """Import what a fit needs on a worker (so that its bare memory counts the libraries)."""
    import pyarrow.parquet  # noqa: F401
    import statsmodels.api  # noqa: F401

    import emglm.dask_em  # noqa: F401
    import emglm.dask_rows  # noqa: F401


def _worker_rss():
    import psutil

    return psutil.Process().memory_info().rss


def per_iteration(fixed_point, theta, clear=None):
    if clear is not None:
        clear()
    t0 = time.perf_counter()
    fixed_point(theta)
    return time.perf_counter() - t0


def dask_run(folder, formula, n_workers, reps, memory_limit="auto", local=None, persist=True):
    """Build and fit on a cluster of ``n_workers`` processes, then time the EM map over the partitions ``reps``
    times; with ``local`` (in-memory mixtures by n_jobs), each repetition also times their
    EM map right after, so both see the same load on the machine."""
    import dask.dataframe as dd
    import statsmodels.api as sm
    from distributed import Client

    from emglm import EMGLM
    from emglm.dask_em import PartitionedMixture
    from emglm.dask_model import build_template

    with SubprocessCluster(n_workers, memory_limit) as cluster, Client(cluster.address) as client:
        client.wait_for_workers(n_workers)
        client.run(_warm_imports)
        base_rss = max(client.run(_worker_rss).values())
        dd.read_parquet(folder).head(10)  # the readers' imports are not the fit's memory
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            ddf = dd.read_parquet(folder)
            model = EMGLM.from_formula(formula, ddf, k=3, family=sm.families.Poisson(), persist=persist)
            t_build = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = model.fit(maxiter=200)
            t_fit = time.perf_counter() - t0
        widths = (len(model.exog_names), 0, 0)
        dmix = PartitionedMixture(model.rows, model.recipe(), build_template(model, widths, False))
        theta = res.theta
        dmix.objective(theta)  # build the partitions' mixtures
        times = {"dask": []}
        for _ in range(reps):
            times["dask"].append(per_iteration(dmix.fixed_point, theta))
            for key, mix in (local or {}).items():
                times.setdefault(key, []).append(per_iteration(mix.fixed_point, theta, mix.clear_cache))
        rss = max(client.run(_worker_rss).values())
        return dict(worker_rss=rss, worker_base=base_rss, build=t_build, fit=t_fit, n_iter=res.n_iter,
                    llf=res.llf, it_min=min(times["dask"]), it_med=float(np.median(times["dask"])),
                    client_rise=mem.rise, times={key: min(v) for key, v in times.items()})


def local_mixtures(X, y):
    import statsmodels.api as sm

    from emglm import EMGLM

    out = {}
    for n_jobs in (2, 1):
        mix = EMGLM(y, X, k=3, family=sm.families.Poisson()).make_mixture()
        mix.n_jobs = n_jobs
        out[f"n_jobs={n_jobs}"] = mix
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--npartitions", type=int, default=None)
    ap.add_argument("--reps", type=int, default=5, help="timed EM-map evaluations of each kind")
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
            local = local_mixtures(X, y)
            two = dask_run(folder, formula, 2, args.reps, local=local)
            print(f"dask, 2 workers x 1 thread: build {two['build']:.1f} s, fit {two['fit']:.1f} s "
                  f"({two['n_iter']} EM iterations, llf {two['llf']:.2f})")
            print(f"  per EM-map evaluation: min {two['it_min'] * 1e3:.0f} ms, median {two['it_med'] * 1e3:.0f} ms")
            print(f"  largest worker process after the fit: {two['worker_rss'] / 2**20:.0f} MiB "
                  f"({two['worker_base'] / 2**20:.0f} MiB with the libraries imported, before the data were read)")
            print(f"  client peak memory rise during build + fit: {two['client_rise'] / 2**20:.0f} MiB = "
                  f"{two['client_rise'] / xbytes:.3f} x the design matrix (goal < 0.05)")
            t = two["times"]
            print(f"in memory (timed alternately with the dask map), n_jobs=2: min {t['n_jobs=2'] * 1e3:.0f} ms; "
                  f"n_jobs=1: min {t['n_jobs=1'] * 1e3:.0f} ms")
            print(f"RATIO dask (2 workers) / in memory (n_jobs=2) per iteration: {t['dask'] / t['n_jobs=2']:.2f} "
                  "(goal <= 1.5)")
            print(f"RATIO dask (2 workers) / in memory (n_jobs=1) per iteration: {t['dask'] / t['n_jobs=1']:.2f}")
            del local
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
                    reread = dask_run(small, formula, 2, max(2, args.reps // 2), memory_limit=limit, persist=False)
                for name, run in (("spilled", spill), ("re-read", reread)):
                    print(f"dask, {5 * nparts} partitions, {name}, worker memory limit {limit / 2**20:.0f} MiB = the "
                          f"worker process with its libraries ({two['worker_base'] / 2**20:.0f} MiB) + half the "
                          f"{held / 2**20:.0f} MiB a worker held without a limit: per EM-map evaluation min "
                          f"{run['it_min'] * 1e3:.0f} ms; fit {run['fit']:.1f} s, llf {run['llf']:.2f}")
                print(f"RATIO spilled / in-memory workers per iteration: {spill['it_min'] / two['it_min']:.2f}")
                print(f"RATIO re-read Parquet (persist=False) / in-memory workers per iteration: "
                      f"{reread['it_min'] / two['it_min']:.2f}")


if __name__ == "__main__":
    main()
