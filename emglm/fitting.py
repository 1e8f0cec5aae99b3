"""Fitting: the only caller of the EM driver.

Turns starts (initial posteriors, given labels or coefficients, warm-up runs on a
subsample) into starting vectors, runs :func:`emglm.em.run` from each, removes components
that fall below ``min_proportion`` (flexmix's ``minprior``), keeps the best start and puts
its components in the documented order. :meth:`EMGLM.fit` validates the options and calls
:func:`fit`.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
from scipy import linalg

from . import em
from .layout import Params
from .one_component import one_component_fit
from .starts import initial_posteriors, iter_posteriors
from .warnings import ConvergenceWarning, DegenerateComponentWarning

__all__ = ["fit", "run_start", "run_em", "newton_step", "reduced_posterior", "start_vectors", "validate_start", "one_component_residuals"]


# ---------------------------------------------------------------------- one run
def _in_domain(mix):
    return lambda th: np.isfinite(mix.objective(th))


#: Newton steps near the optimum are offered for mixtures with at most this many parameters:
#: the observed information is one pass over the rows whose cost per row grows with the
#: square of their number (about two EM iterations at 17 parameters). From the true labels
#: at n = 1e5 they still paid at 44-47: k = 3, p = 15: 6 map evaluations instead of 18 (0.39
#: against 0.67 s); k = 5, p = 8: 28 instead of 67 (1.16 against 1.91 s)
NEWTON_MAX_PARAMS = 60


def newton_step(mix):
    """``theta -> theta + I(theta)^-1 s(theta)`` for the mixture (observed information ``I``
    and score ``s``, both analytic), or None when it has many parameters; the step is None
    where its components do not supply second derivatives or ``I`` is not positive
    definite. :func:`emglm.em.run` tries it near the optimum.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> y = rng.poisson(np.where(rng.random(400) < 0.5, 1.0, 6.0))
    >>> m = EMGLM(y, np.ones((400, 1)), k=2, family=sm.families.Poisson())
    >>> res = m.fit(tol=1e-12)
    >>> step = newton_step(res.mixture)
    >>> near = res.theta + 1e-3
    >>> bool(np.abs(step(near) - res.theta).max() < 1e-5)
    True
    """
    # (in memory one pass over the rows; over partitions the sum of each one's pass)
    sums = getattr(mix, "information_and_score", None)
    if sums is None or mix.size > NEWTON_MAX_PARAMS:
        return None

    def step(theta):
        pair = sums(theta)
        if pair is None:
            return None
        info, score = pair
        try:
            c = linalg.cho_factor(info)
        except (linalg.LinAlgError, ValueError):
            return None
        return theta + linalg.cho_solve(c, score)

    return step


def run_em(mix, theta0, tol, maxiter, accelerate=None, callback=None, keep_history=True, stop="aitken",
           newton=True):
    """:func:`emglm.em.run` of the mixture's EM map from ``theta0`` (with Newton steps near
    the optimum where :func:`newton_step` offers them, unless ``newton`` is False)."""
    return em.run(mix.fixed_point, theta0, objective=mix.objective, tol=tol, maxiter=maxiter,
                  accelerate=accelerate, in_domain=_in_domain(mix), keep_history=keep_history,
                  callback=callback, stop=stop, newton=newton_step(mix) if newton else None)


def _shares(mix, es):
    """Posterior share ``sum_u uw_u T_uj / sum_u uw_u`` of each class (units: rows or groups)."""
    uw = mix.unit_w
    return (uw @ es.Tunit) / uw.sum()


def reduced_posterior(T, keep_cols):
    """The posterior ``T`` (n, K) on the classes ``keep_cols``, renormalised; a row held
    only by the other classes is shared equally.

    Examples
    --------
    >>> reduced_posterior(np.array([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0]]), [1, 2]).tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """
    T2 = np.asarray(T)[:, keep_cols]
    s = T2.sum(axis=1, keepdims=True)
    # rows held only by removed components are shared equally among the rest
    return np.divide(T2, s, out=np.full_like(T2, 1.0 / T2.shape[1]), where=s > 0)


def run_start(model, mix, theta0, tol, maxiter, accelerate, min_proportion=None, removed=None,
              stop="aitken"):
    """One EM run from ``theta0``, removing components below ``min_proportion``.

    Returns ``(mixture, EMResult)``; the mixture is a smaller one when components were
    removed. Without ``min_proportion`` this is exactly one :func:`emglm.em.run`. When a
    component's share falls below ``min_proportion`` the run is stopped by its callback,
    the component removed and EM continued with one fewer; each removal is described in a
    message appended to ``removed`` (or warned at once without it).
    """
    if not min_proportion:
        return mix, run_em(mix, theta0, tol, maxiter, accelerate, stop=stop)
    used = 0
    while True:
        low = {}

        def fp(th, m=mix, low=low):
            # the first EM-map output with a share below min_proportion is where the
            # component is removed; the callback then ends the run at the next iterate
            new = m.fixed_point(th)
            if not low and m.k > 1:
                sh = _shares(m, m.estep(new))[: m.k]
                if np.any(sh < min_proportion):
                    low["theta"], low["shares"] = new, sh
            return new

        out = em.run(fp, theta0, objective=mix.objective, tol=tol, maxiter=max(1, maxiter - used),
                     accelerate=accelerate, in_domain=_in_domain(mix), callback=lambda th: bool(low),
                     stop=stop, newton=newton_step(mix))
        if not low:
            return mix, dataclasses.replace(out, n_iter=out.n_iter + used)
        used += out.n_iter
        sh = low["shares"]
        drop = [j for j in range(mix.k) if sh[j] < min_proportion and j != int(np.argmax(sh))]
        keep = [j for j in range(mix.k) if j not in drop]
        T = mix.estep(low["theta"]).T
        cols = keep + list(range(mix.k, mix.K))  # the point mass stays
        msg = (f"removed {len(drop)} component(s) with proportion below min_proportion={min_proportion} "
               f"({', '.join(f'{sh[j]:.3g}' for j in drop)}); continuing with k={len(keep)}")
        if removed is None:
            warnings.warn(msg, DegenerateComponentWarning, stacklevel=4)
        else:
            removed.append(msg)
        mix = model.make_mixture(k=len(keep), var_floor=mix.glm.var_floor if mix.glm else None)
        with np.errstate(all="ignore"):
            theta0 = mix.fit_from_posterior(reduced_posterior(T, cols))
        if used >= maxiter:
            out = run_em(mix, theta0, tol, 1, stop=stop)
            return mix, dataclasses.replace(out, n_iter=out.n_iter + used, converged=False)


# ---------------------------------------------------------------------- starts
def validate_start(model, K, start):
    """Check ``start`` ("fit", "random", labels or a posterior matrix) before any work."""
    if isinstance(start, str):
        if start not in ("screen", "fit", "random"):
            raise ValueError("start must be 'screen', 'fit', 'random', a label vector or a posterior "
                             f"matrix, got {start!r}")
        return
    arr = np.asarray(start)
    n = model.exog.shape[0]
    if arr.ndim == 1:
        if arr.shape[0] != n:
            raise ValueError(f"start: a label vector must have length nobs={n}, got {arr.shape[0]}")
        if not np.issubdtype(arr.dtype, np.integer) and not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError("start: labels must be integers")
        if arr.min() < 0 or arr.max() >= K:
            raise ValueError(f"start: labels must lie in 0..{K - 1}, got range {arr.min()}..{arr.max()}")
    elif arr.ndim == 2:
        if arr.shape != (n, K):
            raise ValueError(f"start: a posterior matrix must have shape ({n}, {K}), got {arr.shape}")
        if not np.all(np.isfinite(arr)) or np.any(arr < 0) or not np.allclose(arr.sum(axis=1), 1.0):
            raise ValueError("start: posterior rows must be finite, non-negative and sum to one")
    else:
        raise ValueError(f"start must be a label vector or a posterior matrix, got shape {arr.shape}")


def one_component_residuals(model, rows=None):
    """Residuals of the one-component fit (non-finite values set to 0) and its parameters.

    Pearson residuals for GLMs; for other components the response minus the class mean
    (or, without means, the row log-density), which orders rows the same way for splitting.
    """
    base, theta1 = one_component_fit(model, rows)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # separated data
        if base.glm is not None:
            fam = base.glm.fam
            mu = fam.mean(base.linear_predictors(theta1)[:, 0])
            resid = (fam.y - mu) * np.sqrt(fam.trials / fam.family.variance(mu))
            P1 = base.unpack(theta1)
        else:
            comp, p = base.components[0], base.component_params(theta1)[0]
            try:
                resid = base.y - comp.mean(p, base.rows)[0]
            except NotImplementedError:
                resid = comp.evaluate(p, base.rows).logpdf[0]
            P1 = None
    return np.where(np.isfinite(resid), resid, 0.0), P1


def theta_from_start_params(model, mix, start_params, P1):
    """Flat starting vector from coefficients shaped like ``params``."""
    sp = start_params.to_numpy() if isinstance(start_params, pd.DataFrame) else np.asarray(start_params, float)
    p, q, k, K = model.exog.shape[1], mix.rows.q, model.k, mix.K
    if sp.ndim != 2 or sp.shape[0] not in (p, p + q) or sp.shape[1] not in (k, K):
        raise ValueError(
            f"start_params must be shaped like params: ({p + q}, {K}) (terms x components), got {np.shape(sp)}"
        )
    beta = sp[:p, :k].T.copy()
    delta = sp[p:, 0] if sp.shape[0] > p else P1.delta
    if not np.all(np.isfinite(beta)):
        raise ValueError("start_params must be finite")
    P = Params(beta, np.asarray(delta, float), np.full(k, P1.scale[0]), mix.mixing.start())
    return mix.pack(P)


def start_vectors(model, mix, start, start_params, n_starts, rng):
    """Flat starting vectors for every start (``start`` already validated)."""
    if start_params is None and (isinstance(start, str) and start == "random"
                                 or not isinstance(start, str) and n_starts == 1):
        # given labels/posteriors or random starts need no one-component fit (performance)
        return [mix.fit_from_posterior(T) for T in iter_posteriors(mix, start, n_starts, rng)]
    resid, P1 = one_component_residuals(model)
    if start_params is not None:
        return [theta_from_start_params(model, mix, start_params, P1)]
    from .percomponent import fit_all_assignments

    # (with a model per component, every assignment of the residual split is a start)
    fit_T = fit_all_assignments if isinstance(start, str) else (lambda m, T: [m.fit_from_posterior(T)])
    # one (n, K) posterior at a time: each is turned into parameters before the next is made
    thetas = [th for T in iter_posteriors(mix, start, n_starts, rng, base_resid=resid) for th in fit_T(mix, T)]
    if not isinstance(start, str) and n_starts > 1:
        more = iter_posteriors(mix, "fit", n_starts, rng, base_resid=resid)
        next(more)  # (the residual split: the given start takes its place)
        for T in more:
            thetas += fit_all_assignments(mix, T)
    return thetas


def warmup_starts(model, mix, opts, rng, progress=False):
    """Short EM runs on a random subsample; the best ``keep`` parameter vectors, best first.

    See :mod:`emglm.warmup` for the options and the cost.
    """
    from .warmup import WarmupInfo, progress_iter, subsample_size

    size = subsample_size(opts, mix)
    sub_rows = mix.rows.subset(np.sort(rng.choice(mix.G, size=size, replace=False)))
    sub = model.make_mixture(rows=sub_rows)
    n = opts["n_starts"]
    # half the runs split classes at random quantiles of one-component residuals
    # (perturbed starts), the other half start from random Dirichlet posteriors
    n_fit = (n + 1) // 2
    resid = one_component_residuals(model, rows=sub_rows)[0]
    Ts = initial_posteriors(sub, "fit", n_fit + 1, rng, base_resid=resid)[1:]
    Ts += initial_posteriors(sub, "random", n - n_fit, rng)
    llf = np.full(n, -np.inf)
    n_iter = np.zeros(n, dtype=int)
    params = []
    for i in progress_iter(range(n), progress, "warm-up", total=n):
        with np.errstate(all="ignore"):
            out = run_em(sub, sub.fit_from_posterior(Ts[i]), opts["tol"], opts["maxiter"], keep_history=False)
        params.append(out.params)
        n_iter[i] = out.n_iter
        if out.objective is not None and np.isfinite(out.objective):
            llf[i] = out.objective
    if not np.any(np.isfinite(llf)):
        raise RuntimeError("warm-up: no short EM run reached a finite log-likelihood")
    order = [int(i) for i in np.argsort(-llf, kind="stable") if np.isfinite(llf[i])][: opts["keep"]]
    return [params[i] for i in order], WarmupInfo(n, size, opts["maxiter"], llf, n_iter, order)


# ---------------------------------------------------------------------- screening
def _spurious_check(mix):
    """``theta -> bool``: a dispersion collapsed onto the floor, or a component holds fewer
    effective rows than its parameters (the unbounded-likelihood degeneracies)."""
    glm = mix.glm
    floor = glm.var_floor if glm is not None else None
    has_scale = glm is not None and glm.has_scale

    def check(theta):
        if not has_scale:
            return False
        scale = glm.scale(mix.component_params(theta)[0])
        if floor is not None and np.any(scale <= floor * (1 + 1e-6)):
            return True
        nj = mix.w @ mix.estep(theta).T[:, : mix.k]
        return bool(np.any(nj < mix.p + 1))

    return check


def screen_mixture(model, mix, opts, rng, finish, tol, maxiter, accelerate, stop, progress=False):
    """Screen starts for ``model`` and finish the best on ``mix`` (the full data).

    ``finish(theta) -> (handle, EMResult)`` runs to convergence on all the data (with the
    fit's options: stopping rule, ``maxiter``, ``min_proportion``). Returns
    :class:`emglm.screening.Screened`.
    """
    from .screening import default_n_starts, screen
    from .starts import diverse_posteriors

    n_starts = opts["n_starts"] or default_n_starts(mix.k)
    # with concomitant variables the starts are screened under constant proportions: the
    # multinomial-logit M-step costs many plain iterations, and the screening is about
    # where the components lie; the kept starts get their logit fit before finishing
    conc = mix.mixing.name == "concomitant"
    full = model.make_mixture(mixing="estimate") if conc else mix
    size = None
    if mix.G > opts["subsample"]:
        size = max(opts["subsample"], 10 * mix.size)
    if size is not None and size < mix.G:
        sub_rows = mix.rows.subset(np.sort(rng.choice(mix.G, size=size, replace=False)))
        sub = model.make_mixture(rows=sub_rows, mixing="estimate" if conc else None)
        resid = one_component_residuals(model, rows=sub_rows)[0]
    else:
        size = None
        sub, resid = full, one_component_residuals(model)[0]
    starts = diverse_posteriors(sub, n_starts, rng, resid)

    def run(theta, short, rule, tol_run):
        return run_em(sub, theta, tol_run, short or maxiter, accelerate, keep_history=False, stop=rule)

    def finish_from(theta):
        if conc:  # posterior under constant proportions -> parameters with the logit model
            with np.errstate(all="ignore"):
                theta = mix.fit_from_posterior(full.estep(theta).T)
        return finish(theta)

    return screen(starts, sub.fit_from_posterior, run, finish_from, keep=min(opts["keep"], n_starts),
                  maxiter=opts["maxiter"], tol=tol, subsample_size=size,
                  spurious=_spurious_check(sub), progress=progress, join_paths=size is None and not conc)


def _start_kinds(start, start_params, warm, n):
    """Kind of each start of a fit without screening (the ``kind`` column of ``res.starts``)."""
    from .starts import start_kinds

    if start_params is not None:
        return ["start_params"]
    if warm is not None:
        return ["warm-up"] * n
    if isinstance(start, str):
        if start == "random":
            return ["posterior"] * n
        return start_kinds(n)
    return ["labels" if np.ndim(start) == 1 else "posterior matrix"] + start_kinds(n)[1:]


# ---------------------------------------------------------------------- the fit
def fit(model, start, start_params, n_starts, rng, tol, maxiter, accelerate, warm, progress,
        min_proportion, stop="aitken", screen_opts=None):
    """Run every start and return ``(mixture, theta, EMResult, starts table, warmup_info)``.

    ``theta`` is the best start's estimate with its components in the documented order.
    ``start="screen"`` screens diverse starts by short runs (:mod:`emglm.screening`) when
    the model has more than one component and neither a warm-up nor ``start_params`` is
    given; otherwise it is the ``"fit"`` start.
    """
    from .degenerate import diagnose, warn_degenerate
    from .screening import starts_table
    from .warmup import progress_iter

    mix = model.make_mixture()
    if start_params is None:
        validate_start(model, mix.K, start)
    from .safeguards import fit_one_component_reference

    screening = (warm is None and start_params is None and isinstance(start, str) and start == "screen"
                 and mix.k > 1)
    if start_params is not None:  # (its check needs the reference; other starts make it when used)
        fit_one_component_reference(model)  # before the mixture's arrays exist (peak memory)
    if isinstance(start, str) and start == "screen" and not screening:
        start, n_starts = "fit", (1 if warm is not None or start_params is not None else n_starts)
    n_starts = 1 if n_starts is None else n_starts

    def finish(theta0, mix0=mix):
        removed = []  # min_proportion removals, reported for the kept start only
        m, out = run_start(model, mix0, theta0, tol, maxiter, accelerate, min_proportion, removed, stop=stop)
        return (m, removed), out

    warm_info = None
    if screening:
        scr = screen_mixture(model, mix, screen_opts, rng, finish, tol, maxiter, accelerate, stop,
                             progress=progress)
        (mix, best_removed), best, table = scr.handle, scr.result, scr.table
    else:
        if warm is not None:
            thetas, warm_info = warmup_starts(model, mix, warm, rng, progress=progress)
        else:
            thetas = start_vectors(model, mix, start, start_params, n_starts, rng)
        from .safeguards import check_start_values

        thetas = check_start_values(model, mix, thetas, given=start_params is not None)
        best, runs = None, []
        start_mix = mix
        for theta0 in progress_iter(thetas, progress and len(thetas) > 1, "starts"):
            (m, removed), out = finish(theta0, start_mix)
            runs.append(out)
            if best is None or out.objective > best.objective:
                best, mix, best_removed = out, m, removed
        table = starts_table(_start_kinds(start, start_params, warm, len(thetas)),
                             [o.objective for o in runs], [o.n_iter for o in runs],
                             [o.converged for o in runs], tol)
    for msg in best_removed:
        warnings.warn(msg, DegenerateComponentWarning, stacklevel=3)
    if not best.converged:
        warnings.warn(
            f"EM did not converge in {maxiter} iterations (stopping rule {stop!r} not met at tol={tol}); "
            "increase maxiter" + ("" if accelerate else " or try accelerate='squarem'"),
            ConvergenceWarning, stacklevel=3,
        )
    theta = mix.permute(best.params, mix.order(best.params))
    names = [f"comp{j + 1}" for j in range(mix.k)]
    warn_degenerate(diagnose(mix, theta, names), stacklevel=4)
    return mix, theta, best, table, warm_info
