"""Warm-up starts: many short EM runs on a random subsample, the best one starts the full fit.

This is emax.glm's ``small.em`` followed by ``select_best``: local optima of a mixture
likelihood are common, and trying many starting points on all the data is expensive. A
warm-up instead draws one random subsample of rows (or of groups, for grouped data), runs
``n_starts`` short EM runs of at most ``maxiter`` iterations on it from diverse and random
starting posteriors (:func:`emglm.starts.diverse_posteriors`), ranks them by their subsample log-likelihood and hands the best ``keep``
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

from . import em
from .engine import MixtureEngine
from .starts import initial_posteriors

__all__ = ["WarmupInfo", "warmup_options", "warmup_starts", "progress_iter", "subsample_engine",
           "pearson_resid"]

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
        from tqdm.auto import tqdm
    except ImportError as exc:  # optional dependency
        raise ImportError("progress=True needs tqdm: python -m pip install tqdm "
                          "(or the 'progress' extra of emglm)") from exc
    return tqdm(iterable, desc=desc, total=total, leave=False)


def _subsample_engine(model, units, rng, size, concomitant=True):
    """A MixtureEngine on ``size`` randomly chosen units (rows, or whole groups); with
    ``concomitant=False``, constant mixing proportions instead of the concomitant model."""
    groups = model.group_codes
    chosen = np.sort(rng.choice(units, size=size, replace=False))
    if groups is None:
        rows, new_groups = chosen, None
        Z = model.concomitant_exog
        Zs = None if Z is None else Z[rows]
    else:
        keep = np.zeros(units, dtype=bool)
        keep[chosen] = True
        rows = np.flatnonzero(keep[groups])
        recode = np.full(units, -1)
        recode[chosen] = np.arange(size)
        new_groups = recode[groups[rows]]
        Zu = model._unit_concomitant()
        Zs = None if Zu is None else Zu[chosen]
    U = model.fixed_exog
    eng = MixtureEngine(
        model.family, model.endog[rows], model.exog[rows], model.k, model.offset[rows],
        model.freq_weights[rows], model.trials[rows], fixed=None if U is None else U[rows],
        concomitant=Zs if concomitant else None, groups=new_groups, point_mass=model.point_mass, mixing=model.mixing,
        scale=model.scale_mode, var_floor=model._var_floor(), n_jobs=getattr(model, "_n_jobs", 1),
    )
    return eng


def _pearson_resid(model, sub):
    """Pearson residuals of a one-component GLM on the subsample (for residual-based starts)."""
    base = MixtureEngine(model.family, sub.fam.y, sub.X, 1, sub.offset, sub.w, sub.fam.trials,
                         fixed=sub.U, groups=sub.groups, mixing="equal")
    P1 = base.unpack(base.fit_from_posterior(np.ones((sub.n, 1))))
    fam = base.fam
    mu = fam.mean(base.linear_predictors(P1)[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (fam.y - mu) * np.sqrt(fam.trials / fam.family.variance(mu))
    return np.where(np.isfinite(r), r, 0.0)


def subsample_engine(model, engine, rng, size, concomitant=True):
    """An engine on ``size`` random units of ``engine`` (rows, or whole groups) and the
    Pearson residuals of a one-component fit there (for residual-based starts)."""
    sub = _subsample_engine(model, engine.G, rng, size, concomitant=concomitant)
    return sub, _pearson_resid(model, sub)


def pearson_resid(model, engine):
    """Pearson residuals of a one-component GLM fitted to ``engine``'s data, one per row."""
    return _pearson_resid(model, engine)


def warmup_starts(model, engine, warmup, rng, progress=False):
    """Run the warm-up and return the full-data starting vectors.

    Parameters
    ----------
    model : EMGLM
    engine : MixtureEngine
        The full-data engine (its parameter layout is shared with the subsample's).
    warmup : True or dict
        See :func:`warmup_options`.
    rng : numpy.random.Generator
    progress : bool
        Show a tqdm progress bar over the short runs.

    Returns
    -------
    thetas : list of ndarray
        The ``keep`` best parameter vectors, best first.
    info : WarmupInfo
    """
    opts = warmup_options(warmup)
    units = engine.G
    s = opts["subsample"]
    size = int(round(s * units)) if isinstance(s, float) else s
    size = min(units, max(size, opts["min_size"], 5 * engine.layout.size))
    sub = _subsample_engine(model, units, rng, size)
    n = opts["n_starts"]
    # half the runs take the diverse starts of emglm.starts (after its deterministic
    # residual split), the other half start from random Dirichlet posteriors
    n_fit = (n + 1) // 2
    Ts = initial_posteriors(sub, "fit", n_fit + 1, rng, base_resid=_pearson_resid(model, sub))[1:]
    Ts += initial_posteriors(sub, "random", n - n_fit, rng)
    llf = np.full(n, -np.inf)
    n_iter = np.zeros(n, dtype=int)
    params = []

    def in_domain(th):
        return np.isfinite(sub.objective(th))

    for i in progress_iter(range(n), progress, "warm-up", total=n):
        with np.errstate(all="ignore"):
            theta0 = sub.fit_from_posterior(Ts[i])
            out = em.run(sub.fixed_point, theta0, objective=sub.objective, tol=opts["tol"],
                         maxiter=opts["maxiter"], in_domain=in_domain, keep_history=False)
        params.append(out.params)
        n_iter[i] = out.n_iter
        if out.objective is not None and np.isfinite(out.objective):
            llf[i] = out.objective
    if not np.any(np.isfinite(llf)):
        raise RuntimeError("warm-up: no short EM run reached a finite log-likelihood")
    order = [int(i) for i in np.argsort(-llf, kind="stable") if np.isfinite(llf[i])][: opts["keep"]]
    info = WarmupInfo(n, size, opts["maxiter"], llf, n_iter, order)
    return [params[i] for i in order], info
