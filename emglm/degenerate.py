"""Hard data: dispersion floor, degenerate-component diagnostics and ``min_proportion``.

A mixture likelihood is unbounded or flat in several ways that real data reach:

* **Collapse.** A Gaussian (Gamma, inverse Gaussian, Tweedie) component that sits on a few
  repeated responses drives its dispersion to zero and the likelihood to infinity. Every
  dispersion is held at or above a floor of ``VAR_FLOOR_REL`` (1e-8) times the dispersion
  of the constant-mean one-component model (``var(y)`` for Gaussian), so the fit stays
  finite; the constrained M-step ``max(phi_mle, floor)`` still never lowers the likelihood
  because each family's likelihood is unimodal in its dispersion.
* **Separation.** A Binomial (or count) component whose rows are perfectly separated by the
  covariates has coefficients running off to infinity; EM stops once the likelihood stops
  moving, with large but finite coefficients and fitted means numerically 0 or 1.
* **Vanishing or unsupported components.** A component whose proportion falls towards zero,
  or that holds fewer effective rows than it has parameters, or that duplicates another one
  (the data support fewer components than ``k``).

Each case is reported after the fit in one :class:`~emglm.warnings.DegenerateComponentWarning`
naming the components. ``fit(min_proportion=c)`` (flexmix's ``minprior``) goes further:
whenever a GLM component's share ``sum_i w_i T_ij / sum_i w_i`` falls below ``c`` during EM,
it is removed (with a warning), the remaining posteriors are renormalised and EM continues
with one component fewer. The fitted ``res.model`` then has the smaller ``k``; the model
object the user built is not changed. ``llf_history`` is that of the final, reduced run.

Examples
--------
>>> import numpy as np, warnings
>>> from emglm import EMGLM
>>> rng = np.random.default_rng(0)
>>> y = np.concatenate([rng.normal(0, 1, 100), np.full(20, 4.0)])  # 20 identical values
>>> with warnings.catch_warnings(record=True) as w:
...     warnings.simplefilter("always")
...     res = EMGLM(y, np.ones((120, 1)), k=2).fit()
>>> bool(np.isfinite(res.llf)), any("floor" in str(x.message) for x in w)
(True, True)
"""

from __future__ import annotations

import copy
import dataclasses
import warnings

import numpy as np
import statsmodels.genmod.families as smf

from . import em
from .warnings import DegenerateComponentWarning

__all__ = ["VAR_FLOOR_REL", "dispersion_floor", "diagnose", "run_start", "check_min_proportion"]

#: Dispersion floor relative to the constant-mean model's dispersion.
VAR_FLOOR_REL = 1e-8

#: Fitted means closer than this to a boundary of the family's mean space flag separation.
BOUNDARY_EPS = 1e-8

#: Components whose linear predictors differ by less than this on every row coincide.
COINCIDE_TOL = 1e-3


def dispersion_floor(fam, w, rel=VAR_FLOOR_REL):
    """Lower bound for component dispersions: ``rel`` times the constant-mean model's.

    Parameters
    ----------
    fam : FamilyAdapter
    w : ndarray
        Frequency weights.
    rel : float

    Returns
    -------
    float or None
        None for families without a dispersion (Poisson, Binomial, NegativeBinomial).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.families import FamilyAdapter
    >>> fa = FamilyAdapter(sm.families.Gaussian(), np.array([0.0, 2.0]), np.ones(2))
    >>> dispersion_floor(fa, np.ones(2), rel=0.5)
    0.5
    """
    if not fam.has_scale:
        return None
    w = np.asarray(w, dtype=float)
    ybar = float(w @ fam.y) / float(w.sum())
    with np.errstate(all="ignore"):
        try:
            phi0 = fam.scale_mle([np.full(fam.y.shape, ybar)], [w])
        except (ValueError, FloatingPointError, ArithmeticError):
            phi0 = np.nan
    if not (np.isfinite(phi0) and phi0 > 0):
        phi0 = 1.0  # constant response: any positive floor keeps the density finite
    return float(rel * phi0)


def _shares(engine, es):
    """Posterior share ``sum_u uw_u T_uj / sum_u uw_u`` of each class (units: rows or groups)."""
    uw = engine.unit_w
    return (uw @ es.Tunit) / uw.sum()


def diagnose(engine, theta, names=None):
    """Messages describing degenerate GLM components at ``theta`` (empty when none).

    Checks, per component: dispersion at the floor (collapse), fewer effective rows than
    parameters, fitted means numerically at the boundary among the rows it holds
    (separation), and components that coincide with another one.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> y = np.r_[np.linspace(-2, 2, 50), np.linspace(8, 12, 50)]
    >>> res = EMGLM(y, np.ones((100, 1)), k=2).fit()
    >>> diagnose(res._engine, res.theta)
    []
    """
    P = engine.unpack(theta)
    es = engine.estep(theta)
    k, fam = engine.k, engine.fam
    names = names or [f"comp{j + 1}" for j in range(k)]
    msgs = []
    share = _shares(engine, es)
    nj = engine.w @ es.T[:, :k]
    n_par = engine.p + (1 if fam.has_scale and not engine.shared_scale else 0)
    floor = engine.var_floor
    for j in range(k):
        if floor is not None and fam.has_scale and P.scale[j] <= floor * (1 + 1e-6):
            msgs.append(f"{names[j]}: dispersion at the floor {floor:.3g} (it collapsed onto "
                        "(nearly) identical responses; without the floor its likelihood is unbounded)")
        if nj[j] < n_par:
            msgs.append(f"{names[j]}: effective size {nj[j]:.3g} rows (proportion {share[j]:.3g}) "
                        f"is below its {n_par} parameters; the data do not support k={k} components "
                        "(see fit(min_proportion=...))")
        if isinstance(fam.family, (smf.Binomial, smf.Poisson, smf.NegativeBinomial)):
            mu = es.Mu[:, j]
            at = mu < BOUNDARY_EPS
            if isinstance(fam.family, smf.Binomial):
                at |= mu > 1.0 - BOUNDARY_EPS
            n_at = float(engine.w[at] @ es.T[at, j])  # effective rows of j at the boundary
            if n_at >= 1.0:
                msgs.append(f"{names[j]}: fitted means numerically at the boundary of the mean space "
                            f"for {n_at:.3g} effective row(s) it holds: separation, its coefficients are "
                            "not identified (large, finite values at the stopping point)")
    # components whose linear predictors differ by less than COINCIDE_TOL on every row (and
    # whose dispersions agree to that relative precision) cannot be told apart
    Eta = es.Eta
    for j in range(k):
        for m in range(j + 1, k):
            if (np.max(np.abs(Eta[:, j] - Eta[:, m])) < COINCIDE_TOL
                    and abs(np.log(P.scale[j] / P.scale[m])) < COINCIDE_TOL):
                msgs.append(f"{names[j]} and {names[m]} coincide: the data support fewer than "
                            f"k={k} components")
    return msgs


def warn_degenerate(msgs, stacklevel=3):
    """Issue one DegenerateComponentWarning listing ``msgs`` (nothing when empty)."""
    if msgs:
        warnings.warn("degenerate mixture component(s): " + "; ".join(msgs),
                      DegenerateComponentWarning, stacklevel=stacklevel)


def check_min_proportion(min_proportion):
    """Validate ``fit(min_proportion=...)``: None or a number in [0, 1).

    Examples
    --------
    >>> check_min_proportion(0.05)
    0.05
    """
    if min_proportion is None:
        return None
    if isinstance(min_proportion, bool) or not isinstance(min_proportion, (int, float, np.floating, np.integer)):
        raise TypeError(f"min_proportion must be a number in [0, 1) or None, got {min_proportion!r}")
    if not (0.0 <= float(min_proportion) < 1.0):
        raise ValueError(f"min_proportion must lie in [0, 1), got {min_proportion!r}")
    return float(min_proportion)


class _Prune(Exception):
    """Raised inside the EM map when a component's share falls below min_proportion."""

    def __init__(self, theta, shares):
        super().__init__("prune")
        self.theta, self.shares = theta, shares


def _reduced_posterior(T, keep_cols):
    T2 = T[:, keep_cols]
    s = T2.sum(axis=1, keepdims=True)
    # rows held only by removed components are shared equally among the rest
    return np.divide(T2, s, out=np.full_like(T2, 1.0 / T2.shape[1]), where=s > 0)


def run_start(model, engine, theta0, tol, maxiter, accelerate, min_proportion=None, removed=None,
              stop="aitken"):
    """One EM run from ``theta0``, removing components below ``min_proportion``.

    Returns ``(engine, EMResult)``; the engine is a smaller one when components were
    removed. Without ``min_proportion`` this is exactly :func:`emglm.em.run`. Each removal
    is described in a message appended to the list ``removed`` (so that a fit with several
    starts can report the removals of the start it keeps), or warned at once without it.
    """
    def in_domain_of(eng):
        return lambda th: np.isfinite(eng.objective(th))

    if not min_proportion:
        out = em.run(engine.fixed_point, theta0, objective=engine.objective, tol=tol,
                     maxiter=maxiter, accelerate=accelerate, in_domain=in_domain_of(engine), stop=stop)
        return engine, out
    used = 0
    while True:
        counter = [0]

        def fp(th, eng=engine, counter=counter):
            new = eng.fixed_point(th)
            counter[0] += 1
            if eng.k > 1:
                sh = _shares(eng, eng.estep(new))[: eng.k]
                if np.any(sh < min_proportion):
                    raise _Prune(new, sh)
            return new

        try:
            out = em.run(fp, theta0, objective=engine.objective, tol=tol, maxiter=max(1, maxiter - used),
                         accelerate=accelerate, in_domain=in_domain_of(engine), stop=stop)
            return engine, dataclasses.replace(out, n_iter=out.n_iter + used)
        except _Prune as pr:
            used += counter[0]
            sh = pr.shares
            drop = [j for j in range(engine.k) if sh[j] < min_proportion and j != int(np.argmax(sh))]
            keep = [j for j in range(engine.k) if j not in drop]
            T = engine.estep(pr.theta).T
            cols = keep + list(range(engine.k, engine.K))  # the point mass stays
            msg = (f"removed {len(drop)} component(s) with proportion below min_proportion={min_proportion} "
                   f"({', '.join(f'{sh[j]:.3g}' for j in drop)}); continuing with k={len(keep)}")
            if removed is None:
                warnings.warn(msg, DegenerateComponentWarning, stacklevel=4)
            else:
                removed.append(msg)
            engine = model._engine(k=len(keep), var_floor=engine.var_floor)
            with np.errstate(all="ignore"):
                theta0 = engine.fit_from_posterior(_reduced_posterior(T, cols))
            if used >= maxiter:
                out = em.run(engine.fixed_point, theta0, objective=engine.objective, tol=tol,
                             maxiter=1, accelerate=None, in_domain=in_domain_of(engine), stop=stop)
                return engine, dataclasses.replace(out, n_iter=out.n_iter + used, converged=False)


def reduced_model(model, k):
    """A shallow copy of ``model`` with ``k`` components (arrays shared, never modified)."""
    if k == model.k:
        return model
    m = copy.copy(model)
    m.k = int(k)
    return m
