"""Warm-up starts: many short EM runs on a random subsample, the best one starts the full fit.

This is emax.glm's ``small.em`` followed by ``select_best``: local optima of a mixture
likelihood are common, and trying many starting points on all the data is expensive. A
warm-up instead draws one random subsample of rows (or of groups, for grouped data), runs
``n_starts`` short EM runs of at most ``maxiter`` iterations on it from perturbed and random
starting posteriors, ranks them by their subsample log-likelihood and hands the best ``keep``
parameter vectors to the full fit as its starts.

Cost
----
About ``n_starts * maxiter * m / n`` full-data EM iterations, where ``m`` is the subsample
size, plus one one-component GLM fit on the subsample; with the defaults (20 starts, 10% of
the rows, 20 iterations) that is about 40 full-data iterations, i.e. about the price of one
ordinary start, followed by the full fit from the chosen start(s). For small data (a few
hundred rows) the subsample is never smaller than ``min_size`` units, so the warm-up costs
up to ``n_starts * maxiter`` iterations on (nearly) all rows: there, plain ``n_starts=`` in
:meth:`EMGLM.fit` is as good.

Examples
--------
>>> import numpy as np, statsmodels.api as sm
>>> from emglm import EMGLM
>>> rng = np.random.default_rng(0)
>>> x = rng.uniform(-1, 1, 2000)
>>> y = rng.poisson(np.exp(np.where(rng.random(2000) < 0.5, 2 + x, 0.2 - x)))
>>> X = np.column_stack([np.ones(2000), x])
>>> res = EMGLM(y, X, k=2, family=sm.families.Poisson()).fit(warmup=True, random_state=1)
>>> np.round(res.params.to_numpy(), 1)
array([[ 0.2,  2. ],
       [-1.1,  1. ]])
>>> res.warmup.n_starts, res.warmup.subsample_size
(20, 200)
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import List

import numpy as np


__all__ = ["WarmupInfo", "warmup_options", "subsample_size", "progress_iter"]

#: Defaults of ``fit(warmup=True)``.
DEFAULTS = dict(n_starts=20, subsample=0.1, maxiter=20, keep=1, min_size=200, tol=1e-6)


@dataclass
class WarmupInfo:
    """What a warm-up did (``res.warmup`` after ``fit(warmup=...)``).

    Attributes
    ----------
    n_starts : int
        Number of short EM runs.
    subsample_size : int
        Units (rows, or groups) in the subsample.
    maxiter : int
        Iteration cap of each short run.
    llf : ndarray
        Subsample log-likelihood reached by each run, in run order.
    n_iter : ndarray
        EM map evaluations of each run.
    chosen : list of int
        Runs (indices into ``llf``) whose parameters started the full fit, best first.
    """

    n_starts: int
    subsample_size: int
    maxiter: int
    llf: np.ndarray = field(repr=False)
    n_iter: np.ndarray = field(repr=False)
    chosen: List[int] = field(default_factory=list)


def _positive_int(name, v):
    if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)) or v < 1:
        raise ValueError(f"warmup: {name} must be a positive integer, got {v!r}")
    return int(v)


def warmup_options(warmup):
    """Validate ``warmup`` (True, or a dict of options) and fill in the defaults.

    Options: ``n_starts`` (20), ``subsample`` (0.1: a fraction in (0, 1], or a number of
    units), ``maxiter`` (20), ``keep`` (1: how many of the best runs start the full fit),
    ``min_size`` (200: smallest subsample, in units), ``tol`` (1e-6).

    Returns
    -------
    dict, or None for ``warmup`` None or False.

    Examples
    --------
    >>> warmup_options(dict(n_starts=5))["maxiter"]
    20
    """
    if warmup is None or warmup is False:
        return None
    if warmup is True:
        return dict(DEFAULTS)
    if not isinstance(warmup, dict):
        raise TypeError(f"warmup must be True, False, None or a dict of options, got {warmup!r}")
    unknown = sorted(set(warmup) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"warmup: unknown option(s) {unknown}; known: {sorted(DEFAULTS)}")
    opts = dict(DEFAULTS, **warmup)
    for name in ("n_starts", "maxiter", "keep", "min_size"):
        opts[name] = _positive_int(name, opts[name])
    if opts["keep"] > opts["n_starts"]:
        raise ValueError(f"warmup: keep={opts['keep']} exceeds n_starts={opts['n_starts']}")
    s = opts["subsample"]
    if isinstance(s, bool) or not isinstance(s, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"warmup: subsample must be a fraction in (0, 1] or a number of units, got {s!r}")
    if isinstance(s, (numbers.Integral, np.integer)) and s > 1:
        opts["subsample"] = int(s)
    elif not (0 < float(s) <= 1):
        raise ValueError(f"warmup: subsample must be a fraction in (0, 1] or a number of units, got {s!r}")
    else:
        opts["subsample"] = float(s)
    t = opts["tol"]
    if isinstance(t, bool) or not isinstance(t, numbers.Real) or not t > 0:
        raise ValueError(f"warmup: tol must be a positive number, got {t!r}")
    return opts


def progress_iter(iterable, enabled, desc, total=None):
    """Wrap ``iterable`` in a tqdm progress bar when ``enabled`` (tqdm imported lazily).

    Examples
    --------
    >>> list(progress_iter(range(3), False, "starts"))
    [0, 1, 2]
    """
    if not enabled:
        return iterable
    try:
        from tqdm.std import tqdm
    except ImportError as exc:  # optional dependency
        raise ImportError("progress=True needs tqdm: python -m pip install tqdm "
                          "(or the 'progress' extra of emglm)") from exc
    try:  # notebook widgets only when they can be drawn: tqdm.auto warns in Jupyter without them
        import ipywidgets  # noqa: F401
    except ImportError:
        pass
    else:
        from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc, total=total, leave=False)


def subsample_size(opts, mix):
    """Units (rows, or groups) in the warm-up subsample: at least ``min_size`` and five per
    parameter, at most all of them."""
    units = mix.G
    s = opts["subsample"]
    size = int(round(s * units)) if isinstance(s, float) else s
    return min(units, max(size, opts["min_size"], 5 * mix.size))
