"""Short-run screening of many starts: the default way :meth:`EMGLM.fit` looks for the optimum.

A mixture likelihood has local optima, and which one EM reaches depends on the start. A
single deterministic start misses the best one on many real data sets; full EM runs from
many starts cost many fits. Screening, in the spirit of the emEM strategy of Biernacki,
Celeux and Govaert (2003), spends a little on every start and a lot only on a few:

1. draw ``n_starts`` starting posteriors of several kinds (:func:`emglm.starts.diverse_posteriors`:
   the residual-quantile split, random hard partitions, random posteriors, k-means++
   seeding), turn each into parameters and run a short EM of ``maxiter`` iterations;
2. run the ``keep`` best of them (by log-likelihood; starts whose dispersion collapsed onto
   a few repeated responses rank last) to a moderate tolerance (``MID_TOL``), enough to
   tell their optima apart;
3. run the best optimum to the fit's tolerance.

On large data (more than ``subsample`` units, rows or groups) steps 1 and 2 run on a random
subsample of ``subsample`` units, and only the best optimum found there (with the
runner-up when the two are nearly tied) is run to convergence on all the data: the
screening then costs a fixed amount however large the data are.

What the starts found is in ``res.starts`` (see :func:`starts_table`) and in one line of
``summary()``: how many distinct optima the runs to convergence reached, and how many
starts reached the best.

The algorithm (:func:`screen`) is written against small callables, not against the
mixture; :func:`emglm.fitting.screen_mixture` builds them for a fit.

Examples
--------
Two regression lines that cross: the deterministic residual split alone lands in a poor
local optimum, the screened default finds the crossing lines.

>>> import numpy as np
>>> from emglm import EMGLM
>>> rng = np.random.default_rng(0)
>>> x = rng.uniform(-1, 1, 400)
>>> y = np.where(rng.random(400) < 0.5, 3 * x, -3 * x) + rng.normal(0, 0.5, 400)
>>> X = np.column_stack([np.ones(400), x])
>>> one = EMGLM(y, X, k=2).fit(start="fit")
>>> res = EMGLM(y, X, k=2).fit()
>>> bool(res.llf > one.llf + 100), np.round(np.sort(res.params.loc["x1"].to_numpy()))
(True, array([-3.,  3.]))
>>> list(res.starts.columns)
['start', 'kind', 'screen_llf', 'screen_iter', 'llf', 'n_iter', 'converged', 'optimum']
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

__all__ = ["DEFAULTS", "screen_options", "screen", "starts_table", "starts_note", 
           "Screened"]

#: Tolerance (of the default stopping rule) to which the kept short runs converge before
#: their optima are compared; the best one then runs to the fit's own tolerance.
MID_TOL = 1e-4

#: Defaults of the screening (``fit(screen=...)`` overrides them one by one).
#: ``n_starts`` None: ``10 + 5 * k`` starts.
DEFAULTS = dict(n_starts=None, maxiter=10, keep=3, subsample=5000)


def default_n_starts(k):
    """Number of screened starts for ``k`` components when ``n_starts`` is not given.

    Examples
    --------
    >>> default_n_starts(2)
    20
    """
    return 10 + 5 * int(k)


def _positive_int(name, v):
    if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)) or v < 1:
        raise ValueError(f"screen: {name} must be a positive integer, got {v!r}")
    return int(v)


def screen_options(screen, n_starts=None):
    """Validate ``fit(screen=...)`` (None or a dict of options) and fill in the defaults.

    Options: ``n_starts`` (``10 + 5 k`` when None; ``fit(n_starts=)`` sets it too),
    ``maxiter`` (10: EM-map evaluations of each short run), ``keep`` (3: short runs taken
    to convergence), ``subsample`` (5000: above this many units, rows or groups, the
    screening runs on a random subsample of this size).

    Examples
    --------
    >>> screen_options(None)["keep"]
    3
    >>> screen_options(dict(maxiter=5), n_starts=8)["n_starts"]
    8
    """
    if screen is None:
        screen = {}
    if not isinstance(screen, dict):
        raise TypeError(f"screen must be None or a dict of options, got {screen!r}")
    unknown = sorted(set(screen) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"screen: unknown option(s) {unknown}; known: {sorted(DEFAULTS)}")
    opts = dict(DEFAULTS, **screen)
    if n_starts is not None:
        opts["n_starts"] = n_starts
    for name in ("maxiter", "keep", "subsample"):
        opts[name] = _positive_int(name, opts[name])
    if opts["n_starts"] is not None:
        opts["n_starts"] = _positive_int("n_starts", opts["n_starts"])
    return opts


def _group_optima(llf, tol):
    """Label distinct optima 1, 2, ... from the best; llfs within the accuracy share a label."""
    lab = np.full(len(llf), np.nan)
    order = [int(i) for i in np.argsort(-np.asarray(llf), kind="stable") if np.isfinite(llf[i])]
    cur, ref = 0, None
    for i in order:
        # the stopping rule leaves the llf about tol * (|llf| + 1) from its limit; optima
        # closer than ten times that cannot be told apart
        if ref is None or ref - llf[i] > max(10 * tol, 1e-7) * (abs(ref) + 1.0):
            cur, ref = cur + 1, llf[i]
        lab[i] = cur
    return lab


def starts_table(kinds, llf, n_iter, converged, tol, screen_llf=None, screen_iter=None):
    """The ``res.starts`` table: one row per start.

    Columns: ``start`` (0, 1, ...), ``kind``, ``screen_llf`` and ``screen_iter`` (the short
    run; NaN without screening), ``llf``, ``n_iter`` and ``converged`` (the run to
    convergence: after screening, to the moderate tolerance ``MID_TOL``, on the subsample
    when there was one; NaN and 0 for starts screened out), ``optimum`` (1 for the best
    optimum, 2 for the next distinct one, ...; NaN for starts screened out).

    Examples
    --------
    >>> t = starts_table(["random"] * 3, [-10.0, -12.0, -10.0], [30, 40, 35], [True] * 3, 1e-8)
    >>> t["optimum"].tolist()
    [1.0, 2.0, 1.0]
    """
    n = len(kinds)
    llf = np.asarray(llf, dtype=float)
    return pd.DataFrame({
        "start": np.arange(n),
        "kind": list(kinds),
        "screen_llf": np.full(n, np.nan) if screen_llf is None else np.asarray(screen_llf, float),
        "screen_iter": np.zeros(n, int) if screen_iter is None else np.asarray(screen_iter, int),
        "llf": llf,
        "n_iter": np.asarray(n_iter, dtype=int),
        "converged": np.asarray(converged, dtype=bool),
        "optimum": _group_optima(llf, tol),
    })


def starts_note(table):
    """Summary lines on what the starts found (empty for a single start).

    Examples
    --------
    >>> t = starts_table(["random"] * 3, [-10.0, -12.0, -13.0], [30, 40, 35], [True] * 3, 1e-8)
    >>> print("\\n".join(starts_note(t)))
    Starts: 3 run to convergence reached 3 distinct optima; 1 of 3 reached the best (llf -10).
    Only one start reached the best optimum: a better one may exist (try more starts, n_starts=).
    """
    if table is None or len(table) < 2:
        return []
    done = table[np.isfinite(table["llf"].to_numpy())]
    n_opt = int(done["optimum"].max()) if len(done) else 0
    n_best = int((done["optimum"] == 1).sum())
    screened = np.isfinite(table["screen_llf"].to_numpy()).any()
    sub = table.attrs.get("subsample_size")
    head = f"Starts: {len(table)} screened by {int(table['screen_iter'].max())}-iteration EM runs"
    if sub:
        head += f" on a subsample of {sub} units"
    head = (head + f", {len(done)} of them" if screened else f"Starts: {len(done)}") + " run to convergence"
    if sub:
        head += " (on the subsample)"
    best = f"{'subsample ' if sub else ''}llf {done['llf'].max():.6g}"
    lines = [f"{head} reached {n_opt} distinct optim{'um' if n_opt == 1 else 'a'}; "
             f"{n_best} of {len(done)} reached the best ({best})."]
    if n_best == 1 and len(done) > 1:
        lines.append("Only one start reached the best optimum: a better one may exist "
                     "(try more starts, n_starts=).")
    return lines


@dataclass
class Screened:
    """What :func:`screen` returns.

    Attributes
    ----------
    handle : object
        What ``finish`` returned with the kept result (e.g. the engine it ran on).
    result : EMResult
        The full-data run to convergence that reached the best optimum.
    table : DataFrame
        See :func:`starts_table`; ``table.attrs["subsample_size"]`` when subsampled.
    finished : list of (int, float)
        Starts run to convergence on all the data, with their llf.
    """

    handle: Any
    result: Any
    table: pd.DataFrame
    finished: List[Tuple[int, float]]


def screen(starts: Sequence[Tuple[str, Any]], make_theta: Callable, run: Callable, finish: Callable,
           keep=3, maxiter=10, tol=1e-8, subsample_size=None, spurious: Optional[Callable] = None,
           progress=False, join_paths=False):
    """Short runs from every start, the best ``keep`` to convergence, the best optimum kept.

    Parameters
    ----------
    starts : sequence of (kind, posterior)
        Starting posteriors, on the data the screening runs on. In a list, each posterior
        is replaced by None once its short run has started (its memory is released).
    make_theta : callable
        ``posterior -> theta``, parameters from a posterior (on the screening data).
    run : callable
        ``(theta, maxiter, stop, tol) -> EMResult``: an EM run on the screening data
        (``maxiter`` None: the fit's own limit).
    finish : callable
        ``theta -> (handle, EMResult)``: the run to convergence on all the data.
    keep : int
        Short runs taken to convergence (to the tolerance ``max(tol, MID_TOL)``; the best of
        their optima is then finished to ``tol``).
    maxiter : int
        Map evaluations of a short run.
    tol : float
        The fit's tolerance (it sets the accuracy to which two optima are told apart).
    subsample_size : int, optional
        When the screening data are a subsample of this many units: the best distinct
        optimum found there, with the runner-up when their llfs are within
        ``1 + 0.001 |llf|``, is finished on all the data.
    spurious : callable, optional
        ``theta -> bool``: a degenerate solution (a dispersion collapsed onto the floor),
        ranked after every other whatever its llf.
    progress : bool
        tqdm progress bar over the short runs.
    join_paths : bool
        The screening runs on the very data and model ``finish`` runs on: the kept
        result's ``objective_history`` and ``n_iter`` then cover the whole path of its start
        (short run, run to ``MID_TOL``, final run).

    Returns
    -------
    Screened

    Examples
    --------
    A bimodal function of one parameter climbed by a gradient map; the screening keeps the
    higher of its two maxima (at x = 2, llf 0; the other at x = -1, llf -1):

    >>> import numpy as np
    >>> from emglm import em
    >>> f = lambda x: -min((x[0] - 2) ** 2, (x[0] + 1) ** 2 + 1)
    >>> step = lambda x: x - 0.5 * (x - 2 if (x[0] - 2) ** 2 < (x[0] + 1) ** 2 + 1 else x + 1)
    >>> run = lambda th, m, stop, tol: em.run(step, th, objective=f, maxiter=m or 100, stop=stop, tol=tol)
    >>> starts = [("a", -3.0), ("b", -0.5), ("c", 3.0)]
    >>> out = screen(starts, lambda T: np.array([T]), run, lambda th: (None, run(th, 100, "aitken", 1e-8)), keep=2)
    >>> round(float(out.result.params[0]), 6), out.table["kind"].tolist()
    (2.0, ['a', 'b', 'c'])
    """
    from .warmup import progress_iter

    n = len(starts)
    kinds = [kd for kd, _ in starts]
    screen_llf = np.full(n, -np.inf)
    screen_iter = np.zeros(n, dtype=int)
    bad = np.zeros(n, dtype=bool)
    params = [None] * n
    paths = [[] for _ in range(n)]  # (objective history, map evaluations) of each stage
    for i in progress_iter(range(n), progress, "screening", total=n):
        with np.errstate(all="ignore"):
            theta0 = make_theta(starts[i][1])
            if isinstance(starts, list):  # its posterior is no longer needed: release it
                starts[i] = (kinds[i], None)
            if not np.all(np.isfinite(theta0)):
                continue
            out = run(theta0, maxiter, "llf", tol)
        params[i] = out.params
        paths[i].append((out.objective_history, out.n_iter))
        screen_iter[i] = out.n_iter
        if out.objective is not None and np.isfinite(out.objective):
            screen_llf[i] = out.objective
            bad[i] = bool(spurious(out.params)) if spurious is not None else False
    ok = np.isfinite(screen_llf)
    if not ok.any():
        raise RuntimeError("screening: no short EM run reached a finite log-likelihood")
    # non-spurious first, then by llf
    order = [int(i) for i in np.lexsort((-screen_llf, bad)) if ok[i]][:keep]
    llf = np.full(n, np.nan)
    n_iter = np.zeros(n, dtype=int)
    conv = np.zeros(n, dtype=bool)
    finished = []
    handles = {}

    def rank_key(i, value):
        return (not bad_final.get(i, False), value)

    bad_final = {}
    # the kept runs converge to a moderate tolerance, enough to rank their optima; only the
    # best is then run to the fit's tolerance (most iterations of a tight run are its tail)
    tol_mid = max(tol, MID_TOL)
    for i in order:
        with np.errstate(all="ignore"):
            out = run(params[i], None, "aitken", tol_mid)
        paths[i].append((out.objective_history, out.n_iter))
        params[i] = out.params
        llf[i], n_iter[i], conv[i] = out.objective, out.n_iter, out.converged
        bad_final[i] = bool(spurious(out.params)) if spurious is not None else False
    ranked = sorted(order, key=lambda i: rank_key(i, llf[i]), reverse=True)
    # parameters within tol_mid leave the llf far closer (the error is quadratic) than
    # tol_mid: group optima at the fit's own accuracy
    labels = _group_optima(np.where(np.isin(np.arange(n), order), llf, np.nan), tol)
    todo, seen = [], set()
    for i in ranked:  # one representative per distinct optimum, best first
        if labels[i] not in seen:
            seen.add(labels[i])
            todo.append(i)
    lead = llf[todo[0]]
    # on a subsample, a runner-up nearly tied with the best may be the better one on all the data
    todo = [todo[0]] + [i for i in todo[1:2] if subsample_size is not None and not bad_final[i]
                        and lead - llf[i] <= 1.0 + 1e-3 * abs(lead)]
    for i in todo:
        handle, out = finish(params[i])
        handles[i] = (handle, out)
        finished.append((i, float(out.objective)))
    best = max(todo, key=lambda i: (not bad_final[i], handles[i][1].objective))
    table = starts_table(kinds, llf, n_iter, conv, tol,
                         screen_llf=np.where(ok, screen_llf, np.nan), screen_iter=screen_iter)
    if subsample_size is not None:
        table.attrs["subsample_size"] = int(subsample_size)
    handle, out = handles[best]
    if join_paths and np.shape(out.params) == np.shape(params[best]):  # (no component removed)
        hist = [v for h, _ in paths[best] for v in h[1:]]
        hist = list(paths[best][0][0][:1]) + hist + list(out.objective_history[1:])
        out = dataclasses.replace(out, objective_history=hist,
                                  n_iter=out.n_iter + sum(m for _, m in paths[best]))
    return Screened(handle, out, table, finished)
