"""Threads for the row passes: blocks of rows shared out over the cores.

numpy releases the GIL inside its loops, so the per-block work of an E-step or of the
Gram products (exp, log, products over a few thousand rows) runs in parallel in plain
threads: on the 2-core benchmark machine, ``exp`` then ``log`` over 2e6 values in blocks of
8192 rows took 59 ms in one thread and 30 ms in two. Processes would have to copy or share
the design; threads read it where it is.

Every block's partial result is returned in block order and the caller adds them up in
that order, so a fit gives the same numbers whatever the number of threads.

While the threads run, BLAS is held to one thread of its own (threadpoolctl): the per-block
Gram products are small, and two threads each calling a threaded OpenBLAS made the Gram
pass slower than one thread (n = 1e6, k = 3, p = 5: 81 ms against 69 ms); with BLAS held to
one thread the two threads took 37 ms.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = ["available_cores", "check_n_jobs", "map_blocks", "blas_limit"]

_POOLS = {}
_LOCK = threading.Lock()
_CONTROLLER = []  # one ThreadpoolController, made on first use (its library scan takes ~1 ms)


def available_cores() -> int:
    """Number of cores this process may run on.

    Examples
    --------
    >>> available_cores() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_n_jobs(n_jobs) -> int:
    """Validate ``n_jobs`` and return the number of threads to use.

    ``None`` or ``-1`` means every available core; a positive integer is taken as given
    (capped at the available cores, so threads never outnumber them).

    Examples
    --------
    >>> check_n_jobs(1)
    1
    >>> check_n_jobs(None) == available_cores()
    True
    """
    if n_jobs is None or (isinstance(n_jobs, (int, np.integer)) and not isinstance(n_jobs, bool)
                          and int(n_jobs) == -1):
        return available_cores()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or int(n_jobs) < 1:
        raise ValueError(f"n_jobs must be a positive integer, -1 or None (all cores), got {n_jobs!r}")
    return min(int(n_jobs), available_cores())


def _pool(n):
    # keyed by process id too: a child made by fork inherits the pool object but not its
    # threads, and work handed to it would wait for ever
    key = (os.getpid(), n)
    with _LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="emglm")
        return pool


#: rows a pass must have per thread before it is shared out: on the 2-core benchmark machine
#: a whole fit (Poisson, k = 3, p = 5) took as long or longer in two threads than in one at
#: n = 1e5 to 5e5 (3e5: 0.67 against 0.59 s), and 13% less at n = 1e6 (2.14 against 2.47 s):
#: the GIL held between numpy calls and handing the blocks over cost more than a second
#: core gives on passes of a few milliseconds
MIN_ROWS_PER_THREAD = 300_000

_HOLD = {"count": 0, "limiter": None}  # fits (and passes) currently holding BLAS to one thread


@contextlib.contextmanager
def blas_limit(n_jobs=None):
    """Context holding BLAS to one thread (whatever ``n_jobs``: see below).

    A fit enters it once. With threads, OpenBLAS threads woken by a small product between
    passes keep spinning and would compete with the row-pass threads for the cores; and
    with or without threads, a threaded BLAS splits long dot products (``w @ ll`` and the
    dispersion sums, n > 1e4) differently from a single-threaded one, so holding it to one
    thread in every fit is what makes the estimates identical for every ``n_jobs``.
    The limit is counted: concurrent fits share it, and the original BLAS setting comes back
    when the last one leaves (threadpoolctl's own limits, nested out of order, would leave
    BLAS at one thread).

    Examples
    --------
    >>> with blas_limit():
    ...     pass
    """
    with _LOCK:
        if _HOLD["count"] == 0:
            if not _CONTROLLER:
                _CONTROLLER.append(ThreadpoolController())
            _HOLD["limiter"] = _CONTROLLER[0].limit(limits=1, user_api="blas")
        _HOLD["count"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _HOLD["count"] -= 1
            if _HOLD["count"] == 0:
                _HOLD["limiter"].restore_original_limits()
                _HOLD["limiter"] = None


def map_blocks(fn, blocks, n_jobs=1):
    """``[fn(s, e) for (s, e) in blocks]``, the blocks shared out over ``n_jobs`` threads
    (fewer when the blocks span fewer than :data:`MIN_ROWS_PER_THREAD` rows per thread).

    Each thread takes one contiguous run of blocks (so a thread's rows are contiguous in
    memory) and runs it under ``np.errstate(all="ignore")``: the row passes check for
    non-finite values themselves, and numpy's error state is per thread. BLAS runs one
    thread per call meanwhile, so the threads never outnumber the cores.

    Examples
    --------
    >>> map_blocks(lambda s, e: e - s, [(0, 4), (4, 8), (8, 10)], n_jobs=2)
    [4, 4, 2]
    """
    def run(chunk):
        with np.errstate(all="ignore"):
            return [fn(s, e) for s, e in chunk]

    n = min(int(n_jobs), len(blocks))
    if n > 1 and MIN_ROWS_PER_THREAD > 0:  # (small passes stay in the calling thread)
        n = min(n, max(1, (blocks[-1][1] - blocks[0][0]) // MIN_ROWS_PER_THREAD))
    if n <= 1:
        return run(blocks)
    cuts = np.linspace(0, len(blocks), n + 1).round().astype(int)
    chunks = [blocks[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
    out = []
    with blas_limit(n):
        for part in _pool(n).map(run, chunks):
            out.extend(part)
    return out
