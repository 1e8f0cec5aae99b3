"""Analytic observed information of a mixture, by Louis' formula, in one pass over the rows.

The observed-data log-likelihood is ``l = sum_u w_u log sum_j pi_uj f_uj`` over units u
(rows with frequency weights ``w_u``, or groups, whose ``log f_uj`` is the weighted sum of
their rows' log-densities). With ``s_uj`` the complete-data score of unit u under class j
(its component part plus the mixing part ``d log pi_uj``), ``H_uj`` its Hessian, ``T_uj``
the posterior and ``s_u = sum_j T_uj s_uj`` (the unit score by Fisher's identity), Louis
(1982) gives minus the Hessian of ``l`` as

    I = sum_u w_u [ sum_j T_uj (-H_uj - s_uj s_uj') + s_u s_u' ]

(complete-data information minus the missing information). Every term is a sum over
units, so the matrix is accumulated over blocks of rows (blocks of whole groups for grouped
data): per block only small dense matrices of that block's scores are formed, never an
``n x dim`` matrix. The cost is one E-step plus one pass whatever the number of
parameters, where central differences of the score need two passes per parameter.

What the pass needs from a component with parameters is :meth:`second_derivatives` (the
GLM component has it: first and second derivatives of each class's log-density in its
linear predictor and log dispersion, see :mod:`emglm.mixture.glm_dist`); components
without parameters (a point mass) only enter through the mixing part. A mixture with any
other component keeps the numerical route of :func:`emglm.inference.observed_information`.

For class j of a GLM component, on a row with design ``d = [x, u]`` (own coefficients
``beta_j``, shared ``delta``) and log dispersion ``log phi_j``, the complete-data score is
``(a d, b)`` and the Hessian ``[[a2 d d', c d], [c d', e]]``; the mixing part of ``s_uj``
is ``(1[j = l] - pi_ul) z_u`` for the logits ``gamma_l`` (l = 1..K-1) and its Hessian
``-(diag(pi) - pi pi') (x) z z'``, the same for every class.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas

from .parallel import map_blocks

__all__ = ["supports_analytic", "analytic_information"]

#: rows per block of whole groups in the grouped pass (about one block of Rows)
GROUP_BLOCK_ROWS = 8192


def supports_analytic(mix):
    """Whether every component with parameters supplies second derivatives.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> y = rng.poisson(np.where(rng.random(300) < 0.5, 1.0, 6.0))
    >>> m = EMGLM(y, np.ones((300, 1)), k=2, family=sm.families.Poisson())
    >>> supports_analytic(m.fit().mixture)
    True
    """
    return all(c.n_params == 0 or callable(getattr(c, "second_derivatives", None))
               for c in mix.components)


class _Part:
    """A GLM-like component's place in ``theta`` and in the classes, and its derivatives."""

    def __init__(self, mix, c, params, ev):
        comp = mix.components[c]
        self.comp, self.params, self.ev = comp, params, ev
        o = mix.param_slice(c).start
        k, p, q, ns = comp.k, comp.p, comp.q, comp.n_scale
        self.k, self.p, self.q, self.has_scale = k, p, q, ns > 0
        self.classes = np.arange(mix.class_slice(c).start, mix.class_slice(c).stop)
        delta = o + k * p + np.arange(q)
        #: global indices of [beta_j, delta] for class j, and of its log dispersion
        self.idx = [np.concatenate([o + j * p + np.arange(p), delta]) for j in range(k)]
        self.sidx = [o + k * p + q + (j if ns == k else 0) for j in range(k)] if ns else None


def _clean(om, *arrays):
    """Arrays with entries of rows that carry no weight set to 0 (``0 * inf`` is not NaN)."""
    out = []
    for v in arrays:
        if v is not None and not np.isfinite(v).all():
            v = np.where(om > 0, v, 0.0)
        out.append(v)
    return out


def _kron_rows(W, Z):
    """Row-wise Kronecker product: (m, L) and (m, r) -> (m, L * r), class-major."""
    return (W[:, :, None] * Z[:, None, :]).reshape(W.shape[0], -1)


def _add_sym(out, i, j, blk):
    """Add ``blk`` at rows ``i``, columns ``j`` and its transpose at ``j, i`` (i, j disjoint)."""
    out[np.ix_(i, j)] += blk
    out[np.ix_(j, i)] += blk.T


def analytic_information(mix, theta):
    """Minus the Hessian of the observed-data log-likelihood at ``theta`` (Louis' formula).

    Parameters
    ----------
    mix : Mixture
        Every component with parameters has ``second_derivatives``
        (:func:`supports_analytic`).
    theta : ndarray
        The flat parameter vector.

    Returns
    -------
    ndarray (dim, dim), symmetric.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> from emglm.inference import observed_information
    >>> rng = np.random.default_rng(1)
    >>> y = rng.normal(np.where(rng.random(200) < 0.5, -2.0, 2.0))
    >>> res = EMGLM(y, np.ones((200, 1)), k=2).fit()
    >>> I = analytic_information(res.mixture, res.theta)
    >>> J = observed_information(res.mixture, res.theta, method="numerical")
    >>> bool(np.allclose(I, J, rtol=1e-6, atol=1e-6 * np.abs(J).max()))
    True
    """
    if not supports_analytic(mix):
        raise ValueError("mix: a component does not supply second derivatives; use "
                         "observed_information(..., method='numerical')")
    theta = np.asarray(theta, dtype=float)
    es = mix.estep(theta)
    rows = mix.rows
    dim, K = mix.size, mix.K
    parts = [_Part(mix, c, p, es.evals[c])
             for c, (comp, p) in enumerate(zip(mix.components, mix.component_params(theta)))
             if comp.n_params]
    est = mix.mixing.n_params > 0
    gidx = np.arange(mix.gamma_slice.start, mix.gamma_slice.stop)
    Zu = mix.mixing.design(rows) if est else None
    PI = np.exp(mix.log_prior(theta)) if est else None
    T, Tunit, uw = es.T, es.Tunit, rows.unit_w

    def chunk(ridx, units, starts):
        """Louis terms of the units ``units`` (rows ``ridx``; ``starts``: where each unit's
        rows begin in ``ridx`` for groups, None when every unit is one row)."""
        grouped = starts is not None
        Tu, w_u = Tunit[units], uw[units]
        m_u = Tu.shape[0]
        out = np.zeros((dim, dim))
        Su = np.zeros((m_u, dim))  # unit scores s_u, for the s_u s_u' term
        if est:
            PIu = np.broadcast_to(PI if PI.shape[0] == 1 else PI[units], (m_u, K))
            Zc = Zu[units]
            Su[:, gidx] = _kron_rows(Tu[:, 1:] - PIu[:, 1:], Zc)
            _mixing_term(out, gidx, Tu[:, 1:], PIu[:, 1:], Zc, w_u)
        if grouped:
            nonempty = np.diff(np.append(starts, len(ridx))) > 0
        m_r = len(range(rows.n)[ridx]) if isinstance(ridx, slice) else len(ridx)
        if m_r == 0:
            return out, Su, w_u
        Tr, wr, Dr = T[ridx], rows.w[ridx], rows.D[ridx]
        for pt in parts:
            a, a2, b, c, e = pt.comp.second_derivatives(pt.params, pt.ev, ridx)
            for j in range(pt.k):
                J = pt.classes[j]
                om = wr * Tr[:, J]
                aj, a2j = _clean(om, a[j], a2[j])
                bj, cj, ej = _clean(om, b[j], c[j], e[j]) if pt.has_scale else (None, None, None)
                Tuj = Tu[:, J] * w_u  # posterior times unit weight
                if not grouped:  # unit = row: complete-data and missing parts in one Gram
                    v = om * (-a2j - aj * aj)
                    Sd, Sb = Dr * aj[:, None], bj  # class-j scores of the unit (row)
                    G = (Dr * v[:, None]).T @ Dr
                    if pt.has_scale:
                        col = Dr.T @ (om * (-cj - aj * bj))
                        sc = om @ (-ej - bj * bj)
                else:  # complete-data part row by row, missing part from the group sums
                    G = (Dr * (-om * a2j)[:, None]).T @ Dr
                    Sd = _group_sum(Dr * (wr * aj)[:, None], starts, nonempty, m_u)
                    G -= (Sd * Tuj[:, None]).T @ Sd
                    if pt.has_scale:
                        Sb = _group_sum(wr * bj, starts, nonempty, m_u)
                        col = Dr.T @ (-om * cj) - Sd.T @ (Tuj * Sb)
                        sc = om @ (-ej) - Tuj @ (Sb * Sb)
                ix = pt.idx[j]
                out[np.ix_(ix, ix)] += G
                Su[:, ix[:pt.p]] += Sd[:, :pt.p] * Tu[:, J][:, None]
                if pt.q:
                    Su[:, ix[pt.p:]] += Sd[:, pt.p:] * Tu[:, J][:, None]
                if pt.has_scale:
                    si = [pt.sidx[j]]
                    _add_sym(out, ix, si, col[:, None])
                    out[si[0], si[0]] += sc
                    Su[:, si[0]] += Sb * Tu[:, J]
                if est:  # -sum_u w_u T_uj s_uj (g_uj (x) z_u)': no Hessian cross term
                    g = -PIu[:, 1:].copy()
                    if J >= 1:
                        g[:, J - 1] += 1.0
                    Q = _kron_rows(g * Tuj[:, None], Zc)
                    _add_sym(out, ix, gidx, -(Sd.T @ Q))
                    if pt.has_scale:
                        _add_sym(out, si, gidx, -(Sb @ Q)[None, :])
        return out, Su, w_u

    if rows.groups is None:
        blocks = rows.map_blocks(lambda s, e: _finish(chunk(slice(s, e), slice(s, e), None)))
    else:
        order = np.argsort(rows.groups, kind="stable")
        ptr = np.concatenate([[0], np.cumsum(np.bincount(rows.groups, minlength=rows.G))])
        cuts = np.unique(np.concatenate([[0], np.searchsorted(ptr, np.arange(GROUP_BLOCK_ROWS, rows.n, GROUP_BLOCK_ROWS)),
                                         [rows.G]]))
        gblocks = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]

        def gchunk(g0, g1):
            ridx = order[ptr[g0]:ptr[g1]]
            return _finish(chunk(ridx, slice(g0, g1), ptr[g0:g1] - ptr[g0]))

        blocks = map_blocks(gchunk, gblocks, rows.n_jobs)
    total = np.zeros((dim, dim))
    for blk in blocks:  # in block order: the same numbers for any number of threads
        total += blk
    return 0.5 * (total + total.T)


def _group_sum(V, starts, nonempty, m_u):
    """Sums of the rows of ``V`` (sorted by unit) within each unit of a block."""
    out = np.zeros((m_u,) + V.shape[1:])
    if nonempty.any():
        out[nonempty] = np.add.reduceat(V, starts[nonempty], axis=0)
    return out


def _finish(res):
    """A block's Louis sum: its class terms plus ``sum_u w_u s_u s_u'`` (a rank-m update)."""
    out, Su, w_u = res
    if Su.shape[0]:
        A = (Su * np.sqrt(w_u)[:, None]).T  # (dim, m), Fortran order for BLAS
        U = blas.dsyrk(1.0, A, trans=0)  # upper triangle of A A'
        out += U + np.triu(U, 1).T
    return out


def _mixing_term(out, gidx, Tl, Pl, Z, w):
    """``sum_u w_u sum_j T_uj (-H_uj - s_uj s_uj')`` on the mixing logits.

    With ``g_uj = e_j - pi_u`` over the classes 1..K-1: ``sum_j T_j g_j g_j' = diag(T) - T pi'
    - pi T' + pi pi'`` and ``-H = diag(pi) - pi pi'``, each times ``z_u z_u'``.
    """
    m, L = Tl.shape
    C = (Tl[:, :, None] * Pl[:, None, :] + Pl[:, :, None] * Tl[:, None, :]
         - 2.0 * Pl[:, :, None] * Pl[:, None, :])
    d = np.arange(L)
    C[:, d, d] += Pl - Tl
    C *= w[:, None, None]
    r = Z.shape[1]
    ZZ = (Z[:, :, None] * Z[:, None, :]).reshape(m, r * r)
    blk = np.tensordot(C.reshape(m, L * L), ZZ, axes=(0, 0)).reshape(L, L, r, r)
    out[np.ix_(gidx, gidx)] += blk.transpose(0, 2, 1, 3).reshape(L * r, L * r)
