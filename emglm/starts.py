"""Starting values for the EM: initial posteriors turned into parameter vectors.

* ``"fit"``: a one-component GLM is fitted; rows (or groups) are split into k classes at
  quantiles of its Pearson residuals (equal-probability cut points for the first start,
  random cut points for further starts). This is the deterministic default.
* ``"random"``: posteriors drawn from a flat Dirichlet per row (or group).
* an integer label vector of length nobs, or an nobs x K posterior matrix.

Each initial posterior is turned into parameters by complete weighted GLM fits
(:meth:`emglm.mixture.Mixture.fit_from_posterior`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["initial_posteriors", "posterior_from_labels"]


def posterior_from_labels(labels, K, soft=0.0):
    """One-hot posterior from integer labels, optionally softened toward uniform.

    Examples
    --------
    >>> posterior_from_labels(np.array([0, 1]), 2)
    array([[1., 0.],
           [0., 1.]])
    """
    T = np.zeros((labels.shape[0], K))
    T[np.arange(labels.shape[0]), labels] = 1.0
    if soft:
        T = (1.0 - soft) * T + soft / K
    return T


def _units(engine, v):
    """Per-unit (group) mean of a row vector (identity without groups)."""
    if engine.groups is None:
        return v
    s = np.bincount(engine.groups, weights=v, minlength=engine.G)
    c = np.bincount(engine.groups, minlength=engine.G)
    return s / c


def _to_rows(engine, Tu):
    return Tu if engine.groups is None else Tu[engine.groups]


def _with_point_mass(engine, T_glm, share=0.5):
    """Append the point-mass column: rows at the point get ``share`` of their weight."""
    if engine.point_mass is None:
        return T_glm
    at = (engine.y == engine.point_mass).astype(float)
    if engine.groups is not None:
        at = _units(engine, at)[engine.groups]
    pm = share * at
    return np.column_stack([T_glm * (1.0 - pm)[:, None], pm])


def _residual_split(engine, resid_units, cuts, k):
    order = np.argsort(np.argsort(resid_units, kind="stable"), kind="stable")
    u = (order + 0.5) / len(order)
    labels = np.searchsorted(cuts, u)
    return posterior_from_labels(np.minimum(labels, k - 1), k, soft=0.1 if k > 1 else 0.0)


def initial_posteriors(engine, start, n_starts, rng, base_resid=None):
    """Initial row-level posteriors, one per start.

    Parameters
    ----------
    engine : Mixture
    start : "fit", "random", label array or posterior array
    n_starts : int
    rng : numpy.random.Generator
    base_resid : ndarray, optional
        Pearson residuals of the one-component fit (needed for ``"fit"``).

    Returns
    -------
    list of (n, K) arrays
    """
    k, K = engine.k, engine.K
    out = []
    if isinstance(start, str) and start == "fit":
        ru = _units(engine, base_resid)
        for s in range(n_starts):
            if s == 0:
                cuts = np.arange(1, k) / k
            else:
                cuts = np.sort(rng.uniform(0.05, 0.95, size=k - 1))
            out.append(_with_point_mass(engine, _to_rows(engine, _residual_split(engine, ru, cuts, k))))
        return out
    if isinstance(start, str) and start == "random":
        for _ in range(n_starts):
            Tu = rng.dirichlet(np.ones(k), size=engine.G)
            out.append(_with_point_mass(engine, _to_rows(engine, Tu)))
        return out
    arr = np.asarray(start)
    if arr.ndim == 1:
        T = posterior_from_labels(arr.astype(np.int64), K)
    else:
        T = arr.astype(float)
    out.append(T)
    return out
