"""Starting values for the EM: initial posteriors turned into parameter vectors.

* ``"fit"``: a one-component GLM is fitted; rows (or groups) are split into k classes at
  equal-probability quantiles of its Pearson residuals (deterministic). Further starts come
  from :func:`diverse_posteriors`, so that they do not all share one ordering of the rows.
* ``"random"``: posteriors drawn from a flat Dirichlet per row (or group).
* an integer label vector of length nobs, or an nobs x K posterior matrix.

:func:`diverse_posteriors` mixes several kinds of start, each of which finds optima the
others miss (the short-run screening of :mod:`emglm.screening` draws from it):

* ``"quantile"``: the residual-quantile split above;
* ``"partition"``: a random hard partition (each unit to a class at random, as flexmix);
* ``"posterior"``: random posteriors from a flat Dirichlet;
* ``"kmeans++"``: k-means++ seeding (Arthur and Vassilvitskii 2007) on the residuals: k
  seed units drawn with probability proportional to the squared distance of their
  residual to the seeds already drawn; each unit joins its nearest seed. (Covariates are
  left out on purpose: classes split by a factor's levels leave coefficients unidentified.)
* ``"subset"``: each component is fitted to its own ``p + 1`` random units (rows or
  groups; ``p`` coefficients per component), the other units weighing in only lightly
  (together as much as the chosen ones), so that each component starts near a GLM through
  a few random points, as random-sample starts for regression mixtures do.

Each initial posterior is turned into parameters by complete weighted GLM fits
(:meth:`MixtureEngine.fit_from_posterior`).

Examples
--------
>>> import numpy as np
>>> from types import SimpleNamespace
>>> eng = SimpleNamespace(k=2, K=2, G=6, groups=None, point_mass=None)
>>> resid = np.array([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0])
>>> starts = diverse_posteriors(eng, 5, np.random.default_rng(0), resid)
>>> [kind for kind, _ in starts]
['quantile', 'partition', 'posterior', 'kmeans++', 'subset']
>>> starts[0][1].argmax(axis=1)
array([0, 0, 0, 1, 1, 1])
"""

from __future__ import annotations

import numpy as np

__all__ = ["initial_posteriors", "iter_posteriors", "posterior_from_labels", "diverse_posteriors",
           "iter_diverse_posteriors", "start_kinds", "START_KINDS"]

#: Kinds of start drawn by :func:`diverse_posteriors`, in the order they take turns.
START_KINDS = ("quantile", "partition", "posterior", "kmeans++", "subset")


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
    engine : MixtureEngine
    start : "fit", "random", label array or posterior array
    n_starts : int
    rng : numpy.random.Generator
    base_resid : ndarray, optional
        Pearson residuals of the one-component fit (needed for ``"fit"``).

    Returns
    -------
    list of (n, K) arrays
    """
    return list(iter_posteriors(engine, start, n_starts, rng, base_resid))


def iter_posteriors(engine, start, n_starts, rng, base_resid=None):
    """:func:`initial_posteriors` one at a time (the same posteriors, the same random draws):
    a caller that turns each into parameters before asking for the next holds one (n, K)
    array at a time instead of ``n_starts``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> eng = SimpleNamespace(k=2, K=2, G=3, groups=None, point_mass=None)
    >>> [T.shape for T in iter_posteriors(eng, "random", 2, np.random.default_rng(0))]
    [(3, 2), (3, 2)]
    """
    k, K = engine.k, engine.K
    if isinstance(start, str) and start == "fit":
        # the residual split, then diverse starts (not new cut points of the same ordering)
        for _, T in iter_diverse_posteriors(engine, n_starts, rng, base_resid):
            yield T
        return
    if isinstance(start, str) and start == "random":
        for _ in range(n_starts):
            Tu = rng.dirichlet(np.ones(k), size=engine.G)
            yield _with_point_mass(engine, _to_rows(engine, Tu))
        return
    arr = np.asarray(start)
    if arr.ndim == 1:
        yield posterior_from_labels(arr.astype(np.int64), K)
    else:
        yield arr.astype(float)


def _kmeanspp_labels(F, k, rng):
    """k-means++ seeding on the rows of F; every row joins its nearest seed."""
    n = F.shape[0]
    seeds = [int(rng.integers(n))]
    d2 = np.sum((F - F[seeds[0]]) ** 2, axis=1)
    for _ in range(1, k):
        tot = d2.sum()
        nxt = int(rng.choice(n, p=d2 / tot)) if tot > 0 else int(rng.integers(n))
        seeds.append(nxt)
        d2 = np.minimum(d2, np.sum((F - F[nxt]) ** 2, axis=1))
    D = np.stack([np.sum((F - F[s]) ** 2, axis=1) for s in seeds], axis=1)
    return np.argmin(D, axis=1)


def start_kinds(n_starts, kinds=START_KINDS):
    """The kind of each of the first ``n_starts`` starts of :func:`diverse_posteriors`.

    Examples
    --------
    >>> start_kinds(3)
    ['quantile', 'partition', 'posterior']
    """
    cycle = [kd for kd in kinds if kd != "quantile"] or ["quantile"]
    order = (["quantile"] if "quantile" in kinds else []) + [cycle[i % len(cycle)] for i in range(n_starts)]
    return order[:n_starts]


def diverse_posteriors(engine, n_starts, rng, base_resid, kinds=START_KINDS):
    """Initial row-level posteriors of several kinds, taking turns.

    The first start is the deterministic residual-quantile split (when ``"quantile"`` is
    among ``kinds``); the others cycle through the remaining kinds (see the module notes).

    Parameters
    ----------
    engine : MixtureEngine
        Only its public ``k``, ``K``, ``G``, ``groups``, ``point_mass`` and ``y`` are used.
    n_starts : int
    rng : numpy.random.Generator
    base_resid : ndarray
        Pearson residuals of a one-component fit, one per row.
    kinds : sequence of str
        Subset of :data:`START_KINDS`.

    Returns
    -------
    list of (kind, ndarray)
        The kind and the (n, K) posterior of each start.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> eng = SimpleNamespace(k=3, K=3, G=4, groups=None, point_mass=None)
    >>> out = diverse_posteriors(eng, 3, np.random.default_rng(1), np.arange(4.0), kinds=("posterior",))
    >>> [kind for kind, _ in out], np.allclose(out[0][1].sum(axis=1), 1)
    (['posterior', 'posterior', 'posterior'], True)
    """
    unknown = [kd for kd in kinds if kd not in START_KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {START_KINDS}, got {tuple(kinds)!r}")
    return list(iter_diverse_posteriors(engine, n_starts, rng, base_resid, kinds))


def iter_diverse_posteriors(engine, n_starts, rng, base_resid, kinds=START_KINDS):
    """:func:`diverse_posteriors` one at a time (the same draws, in the same order)."""
    k = engine.k
    ru = _units(engine, base_resid) if base_resid is not None else None
    F = None
    for kind in start_kinds(n_starts, kinds):
        if kind == "quantile":
            Tu = _residual_split(engine, ru, np.arange(1, k) / k, k)
        elif kind == "partition":
            Tu = posterior_from_labels(rng.integers(0, k, size=engine.G), k)
        elif kind == "posterior":
            Tu = rng.dirichlet(np.ones(k), size=engine.G)
        elif kind == "subset":
            n_seed = min(engine.G, getattr(engine, "p", 1) + 1)
            Tu = np.full((engine.G, k), n_seed / engine.G)
            for j in range(k):
                Tu[rng.choice(engine.G, size=n_seed, replace=False), j] = 1.0
        else:
            if F is None:
                F = ((ru - ru.mean()) / (ru.std() or 1.0))[:, None]
            Tu = posterior_from_labels(_kmeanspp_labels(F, k, rng), k, soft=0.1 if k > 1 else 0.0)
        yield kind, _with_point_mass(engine, _to_rows(engine, Tu))
