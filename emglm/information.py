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

from .parallel import blas_limit, map_blocks

__all__ = ["supports_analytic", "analytic_information"]

#: rows per block of whole groups in the grouped pass (about one block of Rows)
GROUP_BLOCK_ROWS = 8192


def supports_analytic(mix):
    """Whether every component with parameters supplies second derivatives.

    In the GLM component's form: a component with linear predictors on the rows' design
    ``[X U]`` (coefficients per class, shared ones, log dispersions; see
    :class:`emglm.mixture.GLMComponent`) and a ``second_derivatives`` method.

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
    return all(c.n_params == 0 or (callable(getattr(c, "second_derivatives", None))
                                   and getattr(c, "has_linear_predictor", False))
               for c in mix.components)


class _Part:
    """A GLM-like component's place in ``theta`` and in the classes."""

    def __init__(self, mix, c, params, ev):
        comp = mix.components[c]
        self.comp, self.params, self.ev = comp, params, ev
        o = mix.param_slice(c).start
        k, p, q, ns = comp.k, comp.p, comp.q, comp.n_scale
        self.k, self.p, self.q, self.has_scale = k, p, q, ns > 0
        self.classes = np.arange(mix.class_slice(c).start, mix.class_slice(c).stop)
        #: entries of theta: beta_j (slices), delta (a slice), log dispersion of class j
        self.bsl = [slice(o + j * p, o + (j + 1) * p) for j in range(k)]
        self.dsl = slice(o + k * p, o + k * p + q)
        self.idx = [np.r_[self.bsl[j], self.dsl] for j in range(k)]  # [beta_j, delta]
        self.sidx = [o + k * p + q + (j if ns == k else 0) for j in range(k)] if ns else None


def _clean(om, *arrays):
    """Arrays with entries of rows that carry no weight set to 0 (``0 * inf`` is not NaN)."""
    out = []
    for v in arrays:
        if v is not None and not np.isfinite(v).all():
            v = np.where(om > 0, v, 0.0)
        out.append(v)
    return out


def _kron_cols(V, Zt):
    """Column-wise Kronecker product: (L, m) and (r, m) -> (L * r, m), class-major."""
    return (V[:, None, :] * Zt[None, :, :]).reshape(V.shape[0] * Zt.shape[0], -1)


def _add_sym(out, i, j, blk):
    """Add ``blk`` at rows ``i``, columns ``j`` and its transpose at ``j, i`` (i, j disjoint)."""
    out[np.ix_(i, j)] += blk
    out[np.ix_(j, i)] += blk.T


def analytic_information(mix, theta, return_opg=False):
    """Minus the Hessian of the observed-data log-likelihood at ``theta`` (Louis' formula).

    Parameters
    ----------
    mix : Mixture
        Every component with parameters has ``second_derivatives``
        (:func:`supports_analytic`).
    theta : ndarray
        The flat parameter vector.
    return_opg : bool
        Also return the outer product of the unit scores ``sum_u w_u s_u s_u'`` (what
        :func:`emglm.inference.outer_product` computes), a term of the same pass.

    Returns
    -------
    ndarray (dim, dim), symmetric; with ``return_opg`` the pair ``(information, opg)``.

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
    # BLAS held to one thread, as in a fit: the block products are small (a threaded BLAS
    # only competes with the row-pass threads) and their sums stay the same for any n_jobs
    with blas_limit():
        info, opg, _ = _louis(mix, np.asarray(theta, dtype=float))
    return (info, opg) if return_opg else info


def information_and_score(mix, theta):
    """``(analytic_information(mix, theta), score)``: the score (the gradient of the
    observed-data log-likelihood, Fisher's identity) is a sum of the same pass.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm import EMGLM
    >>> from emglm.inference import total_score
    >>> rng = np.random.default_rng(0)
    >>> y = rng.poisson(np.where(rng.random(300) < 0.5, 1.0, 6.0))
    >>> res = EMGLM(y, np.ones((300, 1)), k=2, family=sm.families.Poisson()).fit()
    >>> th = res.theta + 0.01
    >>> info, score = information_and_score(res.mixture, th)
    >>> bool(np.allclose(score, total_score(res.mixture, th)))
    True
    """
    if not supports_analytic(mix):
        raise ValueError("mix: a component does not supply second derivatives")
    with blas_limit():
        info, _, score = _louis(mix, np.asarray(theta, dtype=float))
    return info, score


def _louis(mix, theta):
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
    unit_weights = bool(np.all(uw == 1.0))

    def chunk(ridx, units, starts):
        """Louis terms of the units ``units`` (rows ``ridx``; ``starts``: where each unit's
        rows begin in ``ridx`` for groups, None when every unit is one row).

        Everything is laid out (quantities, rows): numpy's inner loops then run along rows,
        not along a handful of columns."""
        grouped = starts is not None
        Tut, w_u = Tunit.T[:, units], uw[units]  # (K, units)
        m_u = Tut.shape[1]
        out = np.zeros((dim, dim))
        SuT = np.zeros((dim, m_u))  # unit scores s_u (transposed), for the s_u s_u' term
        PIut = Zct = None
        if est:
            PIut = np.broadcast_to(PI.T if PI.shape[0] == 1 else PI.T[:, units], (K, m_u))
            Zct = np.ascontiguousarray(Zu[units].T)  # (r, units)
            SuT[mix.gamma_slice] = _kron_cols(Tut[1:] - PIut[1:], Zct)
            _mixing_term(out, gidx, Tut[1:], PIut[1:], Zct, w_u)
        m_r = len(range(rows.n)[ridx]) if isinstance(ridx, slice) else len(ridx)
        nonempty = np.diff(np.append(starts, m_r)) > 0 if grouped else None
        if m_r:
            Dr = rows.D[ridx]
            Trt, wr, DrT = T.T[:, ridx], rows.w[ridx], np.ascontiguousarray(Dr.T)
            for pt in parts:
                _glm_terms(pt, out, SuT, ridx, Dr, DrT, Trt, wr, Tut, w_u, starts, nonempty,
                           PIut, Zct, gidx)
        return out, SuT, (None if unit_weights else w_u)

    if rows.groups is None:
        blocks = rows.map_blocks(lambda s, e: _finish(chunk(slice(s, e), slice(s, e), None)))
    else:
        # rows of a group side by side: slices when the data come sorted by group (no
        # gathers), else the rows taken in group order
        in_order = bool(np.all(rows.groups[1:] >= rows.groups[:-1]))
        order = None if in_order else np.argsort(rows.groups, kind="stable")
        ptr = np.concatenate([[0], np.cumsum(np.bincount(rows.groups, minlength=rows.G))])
        # blocks of whole groups of about GROUP_BLOCK_ROWS rows (a larger group is one block)
        marks = np.searchsorted(ptr, np.arange(GROUP_BLOCK_ROWS, rows.n, GROUP_BLOCK_ROWS))
        cuts = np.unique(np.concatenate([[0], marks, [rows.G]]))
        gblocks = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]

        def gchunk(g0, g1):
            ridx = slice(ptr[g0], ptr[g1]) if order is None else order[ptr[g0]:ptr[g1]]
            return _finish(chunk(ridx, slice(g0, g1), ptr[g0:g1] - ptr[g0]))

        blocks = map_blocks(gchunk, gblocks, rows.n_jobs)
    total, opg, score = np.zeros((dim, dim)), np.zeros((dim, dim)), np.zeros(dim)
    for blk, ob, sb in blocks:  # in block order: the same numbers for any number of threads
        total += blk
        opg += ob
        score += sb
    total += opg
    return 0.5 * (total + total.T), opg, score


def _glm_terms(pt, out, SuT, ridx, Dr, DrT, Trt, wr, Tut, w_u, starts, nonempty, PIut, Zct, gidx):
    """Add a GLM component's Louis terms of one block to ``out`` and its unit scores to ``SuT``.

    Per class j (weights ``om = w T_j`` per row): the information block of ``[beta_j, delta,
    log phi_j]`` and its cross terms with the mixing logits. All classes' row-level products
    with the design go into one wide matrix product per block. ``Dr`` is the block's design
    (rows, d) and ``DrT`` its contiguous transpose; weights are (classes, rows).
    """
    k, p, q = pt.k, pt.p, pt.q
    d, hs, est = p + q, pt.has_scale, PIut is not None
    a, a2, b, c, e = pt.comp.second_derivatives(pt.params, pt.ev, ridx)
    om = Trt[pt.classes] * wr  # (k, m): w_i T_ij
    a, a2, b, c, e = _clean(om, a, a2, b, c, e)
    TU = Tut[pt.classes]  # (k, units)
    nr = gidx.size if est else 0
    grouped = starts is not None
    QT = []
    for j in range(k):  # (nr, units): w_u T_uj (g_uj (x) z_u), g_uj = e_j - pi_u
        if not est:
            QT.append(None)
            continue
        J = pt.classes[j]
        tw = TU[j] * w_u
        g = PIut[1:] * -tw
        if J >= 1:
            g[J - 1] += tw
        QT.append(_kron_cols(g, Zct))
    if not grouped:
        # unit = row: complete-data and missing parts of a class in one Gram,
        # ``om (-a2 - a^2)`` on d d', ``om (-c - a b)`` on d, and ``-a Q`` for the cross terms
        wj = d + hs + nr
        ZwT = np.empty((k * wj, Dr.shape[0]))
        for j in range(k):
            o = j * wj
            np.multiply(DrT, om[j] * (-a2[j] - a[j] * a[j]), out=ZwT[o:o + d])
            if hs:
                ZwT[o + d] = om[j] * (-c[j] - a[j] * b[j])
            if nr:
                np.multiply(QT[j], -a[j], out=ZwT[o + d + hs:o + wj])
        R = ZwT @ Dr  # (k wj, d)
        for j in range(k):
            o, ix = j * wj, pt.idx[j]
            out[np.ix_(ix, ix)] += R[o:o + d]
            if hs:
                si = [pt.sidx[j]]
                _add_sym(out, si, ix, R[o + d:o + d + 1])
                out[si[0], si[0]] += om[j] @ (-e[j] - b[j] * b[j])
                if nr:
                    _add_sym(out, si, gidx, -(QT[j] @ b[j])[None, :])
            if nr:
                _add_sym(out, gidx, ix, R[o + d + hs:o + wj])
        # the unit score: T_j a_j on the design (each slot written once), T_j b_j
        Ta = TU * a
        for j in range(k):
            np.multiply(DrT[:p], Ta[j], out=SuT[pt.bsl[j]])
        if q:
            np.multiply(DrT[p:], Ta.sum(axis=0), out=SuT[pt.dsl])
        if hs:
            Tb = TU * b
            if len(set(pt.sidx)) == 1:
                SuT[pt.sidx[0]] = Tb.sum(axis=0)
            else:
                SuT[pt.sidx] = Tb
        return
    # groups: the complete-data part row by row (one wide product), the missing part from the
    # class-j scores of each group, sums of its rows' weighted scores
    m_u = Tut.shape[1]
    wj = d + hs
    ZwT = np.empty((k * wj, Dr.shape[0]))
    for j in range(k):
        np.multiply(DrT, -om[j] * a2[j], out=ZwT[j * wj:j * wj + d])
        if hs:
            ZwT[j * wj + d] = -om[j] * c[j]
    R = ZwT @ Dr
    for j in range(k):
        SdT = _group_sum(DrT * (wr * a[j]), starts, nonempty, m_u)  # (d, units)
        Tuj = TU[j] * w_u
        ix, o = pt.idx[j], j * wj
        out[np.ix_(ix, ix)] += R[o:o + d] - (SdT * Tuj) @ SdT.T
        if hs:
            Sb = _group_sum(wr * b[j], starts, nonempty, m_u)
            si = [pt.sidx[j]]
            _add_sym(out, si, ix, (R[o + d] - SdT @ (Tuj * Sb))[None, :])
            out[si[0], si[0]] += om[j] @ (-e[j]) - Tuj @ (Sb * Sb)
            SuT[si[0]] += Sb * TU[j]
            if nr:
                _add_sym(out, si, gidx, -(QT[j] @ Sb)[None, :])
        if nr:
            _add_sym(out, ix, gidx, -(SdT @ QT[j].T))
        SuT[pt.bsl[j]] += SdT[:p] * TU[j]
        if q:
            SuT[pt.dsl] += SdT[p:] * TU[j]


def _group_sum(V, starts, nonempty, m_u):
    """Sums of the columns of ``V`` (rows sorted by unit, last axis) within each unit."""
    out = np.zeros(V.shape[:-1] + (m_u,))
    if nonempty.any():
        out[..., nonempty] = np.add.reduceat(V, starts[nonempty], axis=-1)
    return out


def _finish(res):
    """A block's class terms, its ``sum_u w_u s_u s_u'`` (a rank-m update, symmetric) and
    its ``sum_u w_u s_u``."""
    out, SuT, w_u = res  # w_u None for unit weights
    if not SuT.shape[1]:
        return out, np.zeros_like(out), np.zeros(out.shape[0])
    A = SuT if w_u is None else SuT * np.sqrt(w_u)
    U = blas.dsyrk(1.0, A.T, trans=1)  # upper triangle of A A' (A.T is Fortran-ordered)
    return out, U + np.triu(U, 1).T, (SuT.sum(axis=1) if w_u is None else SuT @ w_u)


def _mixing_term(out, gidx, Tl, Pl, Zt, w):
    """``sum_u w_u sum_j T_uj (-H_uj - s_uj s_uj')`` on the mixing logits.

    ``Tl``, ``Pl``: (K-1, m) posteriors and priors of the classes 1..K-1, ``Zt`` the (r, m)
    design. With ``g_uj = e_j - pi_u``: ``sum_j T_j g_j g_j' = diag(T) - T pi' - pi T' + pi pi'``
    and ``-H = diag(pi) - pi pi'``, each times ``z_u z_u'``: the sum is ``T pi' + pi T' - 2 pi
    pi' + diag(pi - T)`` (x) ``z z'``, made from Kronecker products (two matrix products and
    one small Gram per class).
    """
    L, r = Tl.shape[0], Zt.shape[0]
    B = _kron_cols(Pl, Zt)
    AB = _kron_cols(Tl * w, Zt) @ B.T
    blk = AB + AB.T - 2.0 * (_kron_cols(Pl * w, Zt) @ B.T)
    D = w * (Pl - Tl)
    for l in range(L):
        blk[l * r:(l + 1) * r, l * r:(l + 1) * r] += (Zt * D[l]) @ Zt.T
    out[np.ix_(gidx, gidx)] += blk
