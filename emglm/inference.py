"""Observed information and covariance of all mixture parameters together.

Everything here works on the flat vector ``theta`` of :mod:`emglm.layout` (coefficients,
shared coefficients, log dispersions, multinomial logits of the mixing proportions).

* :func:`total_score` is the analytic gradient of the observed-data log-likelihood by
  Fisher's identity: the score of ``log sum_j pi_uj f_uj`` is the posterior-weighted score
  of the complete-data log-likelihood, ``sum_j T_uj d/dtheta [log pi_uj + log f_uj]``, where
  ``log f_uj`` is the (frequency-weighted) sum of the unit's row log-densities when rows are
  grouped. It costs O(n * dim), a few matrix-vector products after one E-step.
* :func:`observed_information` is minus the Hessian of the log-likelihood: Louis' formula
  in one pass over the rows (:mod:`emglm.information`) when every component supplies second
  derivatives, else minus the central-difference Jacobian of that score, symmetrised
  (2 * dim E-steps; no n x dim matrix is formed).
* :func:`outer_product` is ``sum_u w_u s_u s_u'`` over units (rows, or groups), accumulated
  over blocks of rows.
* :func:`cluster_outer_product` is ``sum_c s_c s_c'`` over clusters, ``s_c`` the sum of
  the (frequency-weighted) unit scores of cluster c.
* :func:`covariance` combines them for ``cov_type`` "oim", "opg", "robust" (sandwich
  ``I^-1 B I^-1``), "cluster" (the sandwich with the cluster outer product and the
  small-sample factor of statsmodels) or "none". The bootstrap covariance
  (``cov_type="bootstrap"``) is in :mod:`emglm.bootstrap`.

References: Louis (1982) for the observed information of EM problems; Fisher's identity
for the score (McLachlan and Peel 2000, sec. 2.15).
"""

from __future__ import annotations

import warnings

import numpy as np

from .cov_options import COV_TYPES, check_cov_kwds, check_cov_type  # noqa: F401 (re-exported)
from .information import analytic_information, supports_analytic
from .warnings import DegenerateComponentWarning

__all__ = ["covariance_from_information", "COV_TYPES", "check_cov_type", "check_cov_kwds", "total_score", "unit_scores",
           "outer_product", "cluster_outer_product", "observed_information", "covariance"]


_BLOCK = 65536  # rows per block when accumulating outer products


# ---------------------------------------------------------------------- score pieces
def _pieces(mix, theta):
    """E-step at ``theta`` and each component's per-row score pieces.

    A GLM component gives its (k, n) posterior-weighted ``d log f / d eta`` and ``d log f /
    d log phi`` (the design is applied block by block later); any other component its
    (n, n_params) matrix of posterior-weighted row scores. The mixing part is the (units,
    K-1) matrix ``T_uj - pi_uj`` (None without estimated proportions).
    """
    es = mix.estep(theta)
    pieces = []
    for c, (comp, p) in enumerate(zip(mix.components, mix.component_params(theta))):
        Tc = np.ascontiguousarray(np.asarray(es.T)[:, mix.class_slice(c)].T)  # (classes, n)
        if comp.n_params == 0:
            pieces.append(None)
        elif hasattr(comp, "score_pieces"):
            pieces.append(("glm", comp.score_pieces(p, es.evals[c], Tc)))
        else:
            pieces.append(("rows", comp.score_rows(p, es.evals[c], Tc, mix.rows)))
    R = None
    if mix.mixing.n_params:
        pi = np.broadcast_to(np.exp(mix.log_prior(theta)), (mix.G, mix.K))
        R = es.Tunit[:, 1:] - pi[:, 1:]  # (units, K-1)
    return es, pieces, R


def _columns(mix, pieces, rows_sl, X=None, U=None):
    """Per-row score columns of the components on rows ``rows_sl`` (without weights)."""
    cols = []
    for comp, pc in zip(mix.components, pieces):
        if pc is None:
            continue
        kind, val = pc
        if kind == "glm":
            cols.append(comp.score_columns(val[0], val[1], mix.rows, rows_sl, X=X, U=U))
        else:
            cols.append(val[rows_sl])
    return cols


def total_score(engine, theta):
    """Gradient of the observed-data log-likelihood at ``theta`` (Fisher's identity).

    Parameters
    ----------
    engine : Mixture
    theta : ndarray, the flat parameter vector

    Returns
    -------
    ndarray, shape (size of theta,)

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> y = rng.poisson(np.where(rng.random(300) < 0.5, 1.0, 6.0))
    >>> res = EMGLM(y, np.ones((300, 1)), k=2, family=sm.families.Poisson()).fit(tol=1e-12)
    >>> bool(np.max(np.abs(total_score(res.mixture, res.theta))) < 1e-3)
    True
    """
    mix = engine
    rows = mix.rows
    es, pieces, R = _pieces(mix, theta)
    w = rows.w
    parts = []
    for comp, pc in zip(mix.components, pieces):
        if pc is None:
            continue
        kind, val = pc
        if kind == "glm":
            A, B = val
            Aw = A if rows.unit_weights else A * w
            parts.append((Aw @ rows.X).ravel())
            if rows.q:
                parts.append(rows.U.T @ Aw.sum(axis=0))
            if comp.n_scale:
                Bs = B @ w
                parts.append(np.array([Bs.sum()]) if comp.n_scale == 1 else Bs)
        else:
            parts.append(w @ val)
    if R is not None:
        parts.append(((R * rows.unit_w[:, None]).T @ mix.mixing.design(rows)).ravel())
    return np.concatenate(parts)


def _score_columns(mix, pieces, R, rows_sl):
    """Unit-free per-row score matrix (rows, dim) for the rows ``rows_sl`` (ungrouped case)."""
    cols = _columns(mix, pieces, rows_sl)
    if R is not None:
        Z = mix.mixing.design(mix.rows)[rows_sl]
        Rb = R[rows_sl]
        cols.extend(Z * Rb[:, [l]] for l in range(Rb.shape[1]))
    return np.hstack(cols)


def unit_scores(engine, theta):
    """(units, dim) score of each unit's log-likelihood contribution (rows, or groups).

    Ungrouped rows are returned without their frequency weight (the log-likelihood is
    ``sum_i w_i l_i``); a group's score already contains its rows' weights. Forms the full
    matrix: for large n use :func:`outer_product`, which works in blocks.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(1)
    >>> y = rng.normal(np.where(rng.random(200) < 0.5, -2.0, 2.0))
    >>> res = EMGLM(y, np.ones((200, 1)), k=2).fit()
    >>> unit_scores(res.mixture, res.theta).shape
    (200, 5)
    """
    es, pieces, R = _pieces(engine, theta)
    if engine.groups is None:
        return _score_columns(engine, pieces, R, slice(None))
    return _group_scores(engine, pieces, R)


def _group_scores(mix, pieces, R):
    S = mix.rows.group_matrix  # (G, n) group sum carrying the frequency weights
    cols = [np.asarray(S @ c) for c in _columns(mix, pieces, slice(None))]
    if R is not None:
        Z = mix.mixing.design(mix.rows)
        cols.extend(Z * R[:, [l]] for l in range(R.shape[1]))
    return np.hstack(cols)


def outer_product(engine, theta):
    """Outer-product-of-gradients information ``sum_u w_u s_u s_u'`` (blocks of rows).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(1)
    >>> y = rng.normal(np.where(rng.random(200) < 0.5, -2.0, 2.0))
    >>> res = EMGLM(y, np.ones((200, 1)), k=2).fit()
    >>> B = outer_product(res.mixture, res.theta)
    >>> bool(np.allclose(B, B.T) and np.all(np.linalg.eigvalsh(B) > 0))
    True
    """
    es, pieces, R = _pieces(engine, theta)
    if engine.groups is not None:
        Sg = _group_scores(engine, pieces, R)
        return Sg.T @ Sg
    dim = engine.size
    out = np.zeros((dim, dim))
    for start in range(0, engine.n, _BLOCK):
        rows = slice(start, min(start + _BLOCK, engine.n))
        Sb = _score_columns(engine, pieces, R, rows)
        out += Sb.T @ (Sb * engine.w[rows][:, None])
    return out


def cluster_outer_product(engine, theta, codes):
    """Outer product of cluster scores ``sum_c s_c s_c'`` and the number of clusters.

    ``s_c`` is the sum of the frequency-weighted scores of the rows (or of the model's
    groups, which must each lie in one cluster) of cluster ``c``; ``codes`` gives each
    row's cluster, 0..C-1. Rows are taken in blocks.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(1)
    >>> y = rng.normal(np.where(rng.random(200) < 0.5, -2.0, 2.0))
    >>> res = EMGLM(y, np.ones((200, 1)), k=2).fit()
    >>> B, C = cluster_outer_product(res.mixture, res.theta, np.arange(200) // 4)
    >>> B.shape, C
    ((5, 5), 50)
    """
    codes = np.asarray(codes, dtype=np.int64)
    C = int(codes.max()) + 1
    es, pieces, R = _pieces(engine, theta)
    if engine.groups is not None:
        Sg = _group_scores(engine, pieces, R)  # group scores carry the weights
        gcl = np.zeros(engine.G, dtype=np.int64)
        gcl[engine.groups] = codes
        Sc = np.zeros((C, Sg.shape[1]))
        np.add.at(Sc, gcl, Sg)
        return Sc.T @ Sc, C
    Sc = np.zeros((C, engine.size))
    for start in range(0, engine.n, _BLOCK):
        rows = slice(start, min(start + _BLOCK, engine.n))
        Sb = _score_columns(engine, pieces, R, rows) * engine.w[rows][:, None]
        np.add.at(Sc, codes[rows], Sb)
    return Sc.T @ Sc, C


def observed_information(engine, theta, opg=None, rel_step=None, method="auto"):
    """Minus the Hessian of the observed-data llf.

    ``method="analytic"`` is Louis' formula in one pass over the rows
    (:func:`emglm.information.analytic_information`); ``"numerical"`` central differences of
    the analytic score (two passes per parameter); ``"auto"`` (default) the analytic one when
    every component supplies second derivatives. For the numerical one, the step for
    parameter i is ``rel_step * max(|theta_i|, s_i)`` with ``s_i`` its per-observation
    natural scale ``1 / sqrt(B_ii / nobs)`` from the outer product ``B``
    (so that coefficients of covariates on large scales get small steps); ``rel_step``
    defaults to ``eps ** (1/3)``.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(1)
    >>> y = rng.normal(np.where(rng.random(200) < 0.5, -2.0, 2.0))
    >>> res = EMGLM(y, np.ones((200, 1)), k=2).fit()
    >>> I = observed_information(res.mixture, res.theta)
    >>> bool(np.all(np.linalg.eigvalsh(I) > 0))
    True
    """
    if method not in ("auto", "analytic", "numerical"):
        raise ValueError(f"method must be 'auto', 'analytic' or 'numerical', got {method!r}")
    if method == "analytic" or (method == "auto" and supports_analytic(engine)):
        return analytic_information(engine, theta)
    theta = np.asarray(theta, dtype=float)
    dim = theta.size
    if opg is None:
        opg = outer_product(engine, theta)
    nobs = float(engine.unit_w.sum())
    d = np.diag(opg) / nobs
    with np.errstate(divide="ignore"):
        nat = np.where(d > 0, 1.0 / np.sqrt(d), 1.0)
    nat = np.where(np.isfinite(nat), nat, 1.0)
    rel = np.finfo(float).eps ** (1.0 / 3.0) if rel_step is None else rel_step
    h = rel * np.maximum(np.abs(theta), nat)
    J = np.empty((dim, dim))
    for i in range(dim):
        tp = theta.copy()
        tm = theta.copy()
        tp[i] += h[i]
        tm[i] -= h[i]
        J[:, i] = (total_score(engine, tp) - total_score(engine, tm)) / (tp[i] - tm[i])
    return -0.5 * (J + J.T)


def _eigh(A):
    """Eigen-decomposition of a symmetric matrix, or None when LAPACK cannot converge.

    The matrix is first scaled to unit diagonal (where the diagonal is positive): information
    matrices mix coefficients and log dispersions on very different scales, and the
    scaled problem is the better conditioned one. Returns ``(vals, vecs, d)`` with
    ``A = D^-1/2 (vecs diag(vals) vecs') D^-1/2``, ``d`` the scaling.
    """
    diag = np.diag(A)
    d = np.where(diag > 0, diag, 1.0)
    s = 1.0 / np.sqrt(d)
    As = A * s[:, None] * s[None, :]
    for solver in (np.linalg.eigh, _scipy_eigh):
        try:
            vals, vecs = solver(As)
        except (np.linalg.LinAlgError, ValueError):
            continue
        if np.all(np.isfinite(vals)) and np.all(np.isfinite(vecs)):
            return vals, vecs, d
    return None


def _scipy_eigh(A):
    from scipy import linalg

    return linalg.eigh(A, driver="evr")


def _inverse(info, what="observed information"):
    """Inverse of a symmetric information matrix; never raises.

    * positive definite: the inverse;
    * singular or indefinite: a pseudo-inverse (DegenerateComponentWarning);
    * entries that are not finite: the parameters in those rows get NaN variances and
      covariances; the others come from the finite block (i.e. as if those parameters
      were known) (DegenerateComponentWarning naming how many);
    * an eigen-decomposition that fails: all NaN (DegenerateComponentWarning saying why).

    Returns ``(inverse, positive_definite)``.

    Examples
    --------
    >>> import numpy as np, warnings
    >>> A = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, np.nan], [0.0, np.nan, 1.0]])
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     inv, ok = _inverse(A)
    >>> np.isnan(np.diag(inv)).tolist(), ok
    ([False, True, True], False)
    """
    info = np.asarray(info, dtype=float)
    dim = info.shape[0]
    out = np.full((dim, dim), np.nan)
    bad = ~np.all(np.isfinite(info), axis=0) | ~np.all(np.isfinite(info), axis=1)
    good = ~bad
    if bad.any():
        warnings.warn(
            f"the {what} has non-finite entries for {int(bad.sum())} of {dim} parameter(s) "
            "(a component collapsed onto identical responses or emptied, so its derivatives "
            "overflow); their standard errors are NaN, and the others treat them as known",
            DegenerateComponentWarning, stacklevel=4,
        )
        if not good.any():
            return out, False
    sub = info[np.ix_(good, good)]
    eig = _eigh(sub)
    if eig is None:
        warnings.warn(
            f"the eigen-decomposition of the {what} did not converge (the matrix is too badly "
            "conditioned: a near-degenerate fit); standard errors are NaN",
            DegenerateComponentWarning, stacklevel=4,
        )
        return out, False
    vals, vecs, d = eig
    s = 1.0 / np.sqrt(d)
    top = np.max(np.abs(vals)) if vals.size else 0.0
    tol = top * sub.shape[0] * np.finfo(float).eps * 10
    if vals.size and np.min(vals) > tol:
        inv = (vecs / vals) @ vecs.T
        out[np.ix_(good, good)] = inv * s[:, None] * s[None, :]
        return out, not bad.any()
    warnings.warn(
        f"the {what} is not positive definite (smallest eigenvalue {np.min(vals):.3g}): a "
        "parameter is on or near the boundary (an empty or degenerate component, a proportion "
        "near 0, a dispersion near 0) or not identified; standard errors use a pseudo-inverse "
        "and may be unreliable",
        DegenerateComponentWarning, stacklevel=4,
    )
    keep = vals > tol
    inv = (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T
    out[np.ix_(good, good)] = inv * s[:, None] * s[None, :]
    return out, False


def covariance(engine, theta, cov_type="oim", cov_kwds=None):
    """Covariance of the flat ``theta`` (log dispersions, logits) and its ingredients.

    Parameters
    ----------
    engine : Mixture
    theta : ndarray
    cov_type : {"oim", "opg", "robust", "cluster", "none"}
        Inverse observed information; inverse outer product of unit scores; the sandwich
        ``I^-1 B I^-1``; the cluster sandwich ``c I^-1 B_C I^-1`` with ``B_C`` the outer
        product of cluster scores (:func:`cluster_outer_product`) and, as statsmodels'
        ``cov_type="cluster"`` with ``use_correction=True``, ``c = C/(C-1) (N-1)/(N-K)``
        (C clusters, N units scored, rows or the model's groups, K = ``theta.size``); or no
        covariance (a NaN matrix).
    cov_kwds : dict, optional
        For ``"cluster"``: the output of :func:`check_cov_kwds` (``codes``,
        ``use_correction``).

    Returns
    -------
    dict with ``cov`` (dim, dim), ``oim`` (observed information or None), ``opg``, and
    ``positive_definite`` (whether the inverted matrix was).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(1)
    >>> y = rng.normal(np.where(rng.random(200) < 0.5, -2.0, 2.0))
    >>> res = EMGLM(y, np.ones((200, 1)), k=2).fit()
    >>> covariance(res.mixture, res.theta, "robust")["cov"].shape
    (5, 5)
    """
    check_cov_type(cov_type)
    if cov_type == "bootstrap":
        raise ValueError("cov_type='bootstrap' is computed by emglm.bootstrap.bootstrap_covariance")
    dim = engine.size
    if cov_type == "none":
        return dict(cov=np.full((dim, dim), np.nan), oim=None, opg=None, positive_definite=None)
    if cov_type != "opg" and supports_analytic(engine):
        # the information and the outer product of the unit scores from one pass
        info, opg = analytic_information(engine, theta, return_opg=True)
    else:
        opg = outer_product(engine, theta)
        if cov_type == "opg":
            return covariance_from_information(None, opg, "opg")
        info = observed_information(engine, theta, opg=opg)
    if cov_type != "cluster":
        return covariance_from_information(info, opg, cov_type)
    inv, pd_ok = _inverse(info)
    kw = cov_kwds or {}
    if kw.get("codes") is None:
        raise ValueError("cov_kwds: cov_type='cluster' needs the cluster codes (see check_cov_kwds)")
    Bc, C = cluster_outer_product(engine, theta, kw["codes"])
    cov = inv @ Bc @ inv
    N = engine.G  # units scored: rows, or the model's groups
    factor = C / (C - 1.0) * (N - 1.0) / (N - dim) if kw.get("use_correction", True) else 1.0
    cov = cov * factor
    return dict(oim=info, opg=opg, positive_definite=pd_ok, n_clusters=C, correction=factor,
                cov=0.5 * (cov + cov.T))


def covariance_from_information(info, opg, cov_type="oim"):
    """The ``covariance`` dict from the observed information and the outer product of the
    unit scores (sums over rows: a backend holding the rows in partitions adds them).

    Parameters
    ----------
    info, opg : ndarray (dim, dim)
    cov_type : {"oim", "opg", "robust"}

    Examples
    --------
    >>> import numpy as np
    >>> out = covariance_from_information(np.diag([4.0, 1.0]), np.diag([2.0, 1.0]), "robust")
    >>> np.diag(out["cov"]).tolist()  # I^-1 B I^-1
    [0.125, 1.0]
    """
    if cov_type == "opg":
        cov, pd_ok = _inverse(opg, "outer product of the scores")
        return dict(cov=cov, oim=None, opg=opg, positive_definite=pd_ok)
    if cov_type not in ("oim", "robust"):
        raise ValueError(f"cov_type must be 'oim', 'opg' or 'robust' here, got {cov_type!r}")
    inv, pd_ok = _inverse(info)
    cov = inv if cov_type == "oim" else inv @ opg @ inv
    return dict(oim=info, opg=opg, positive_definite=pd_ok, cov=0.5 * (cov + cov.T))
