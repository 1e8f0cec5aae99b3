"""Small linear-algebra kernels for the M-step.

Written here rather than calling ``GLM.fit`` because the statsmodels fit rebuilds a
pseudo-inverse by SVD of the whole design on every call (measured at n = 1e6: about 25
times the cost of a weighted Gram product). Sums run over blocks of rows so memory stays bounded
and a chunked or distributed backend can reuse the same reductions.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

__all__ = ["weighted_gram", "grams", "grams_blocked", "row_blocks", "solve_psd", "rank_deficient", "BLOCK_ROWS"]

#: rows per block in the Gram reductions (for p = 5 and k = 3 the block buffer is 0.6 MB,
#: so it stays in cache; measured fastest among 2048..32768 on the benchmark machine)
BLOCK_ROWS = 4096
#: rows of the weighted design copies multiplied at once inside a block of the Gram pass
GRAM_SUB_ROWS = 4096


def weighted_gram(D, w, z=None, block=BLOCK_ROWS):
    """``D' diag(w) D`` and ``D' diag(w) z``, summed over blocks of rows.

    Examples
    --------
    >>> import numpy as np
    >>> D = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]])
    >>> A, b = weighted_gram(D, np.array([1.0, 2.0, 1.0]), np.array([1.0, 2.0, 3.0]))
    >>> A
    array([[4., 4.],
           [4., 6.]])
    >>> b
    array([ 8., 10.])
    """
    n, m = D.shape
    if n <= block:
        Dw = D * w[:, None]
        return Dw.T @ D, (Dw.T @ z if z is not None else None)
    A = np.zeros((m, m))
    b = np.zeros(m) if z is not None else None
    for s in range(0, n, block):
        Db = D[s:s + block]
        Dw = Db * w[s:s + block, None]
        A += Dw.T @ Db
        if z is not None:
            b += Dw.T @ z[s:s + block]
    return A, b


def row_blocks(n, block=BLOCK_ROWS):
    """``(start, stop)`` pairs covering ``range(n)`` in blocks of ``block`` rows.

    Examples
    --------
    >>> row_blocks(10, 4)
    [(0, 4), (4, 8), (8, 10)]
    """
    bs = max(1, int(block))
    return [(s, min(s + bs, n)) for s in range(0, n, bs)]


def grams(D, W, U, block=BLOCK_ROWS):
    """Weighted Gram matrices and right-hand sides of several components at once.

    For every row ``j`` of ``W`` and ``U`` (shape (k, n)), ``A[j] = D' diag(W[j]) D`` and
    ``b[j] = D' U[j]``. The sums run over blocks of rows (:func:`grams_blocked`).

    Parameters
    ----------
    D : ndarray (n, m)
    W, U : ndarray (k, n)

    Returns
    -------
    A : ndarray (k, m, m)
    b : ndarray (k, m)

    Examples
    --------
    >>> import numpy as np
    >>> D = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]])
    >>> A, b = grams(D, np.array([[1.0, 2.0, 1.0]]), np.array([[1.0, 4.0, 3.0]]))
    >>> A[0]
    array([[4., 4.],
           [4., 6.]])
    >>> b[0]
    array([ 8., 10.])
    """
    return grams_blocked(D, W.shape[0], lambda s, e: (W[:, s:e], U[:, s:e]), block)


def grams_blocked(D, k, terms, blocks=BLOCK_ROWS, n_jobs=1, center=None, scale=None):
    """Weighted Gram matrices of ``k`` components from weights made block by block.

    ``terms(s, e)`` returns the (k, e - s) weights ``W_b`` and right-hand-side terms ``U_b``
    of rows ``s:e``; the result is ``A[j] = sum_b D_b' diag(W_b[j]) D_b`` and
    ``b[j] = sum_b D_b' U_b[j]``. ``blocks`` is a block size or a list of ``(start, stop)``
    blocks (:func:`row_blocks`); blocks are shared out over ``n_jobs`` threads
    (:func:`emglm.parallel.map_blocks`) and their sums added in block order.

    Making the weights inside the loop keeps every row-level temporary in cache. Per block
    one matrix product ``D_b' [W_1 D_b, ..., W_k D_b, U_b]`` gives every component's Gram
    matrix and right-hand side, so each block of ``D`` is read once and BLAS gets one wide
    product instead of 2k thin ones (about twice as fast as separate products for p = 5).

    With ``center`` and ``scale`` (length m) the products are those of the standardised
    design ``(D - center) / scale``: a covariate far from zero (a timestamp) or in large
    units would otherwise make the Gram matrix numerically singular.

    Examples
    --------
    >>> import numpy as np
    >>> D = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]])
    >>> A, b = grams_blocked(D, 1, lambda s, e: (np.ones((1, e - s)), np.ones((1, e - s))), 2)
    >>> A[0]
    array([[3., 3.],
           [3., 5.]])
    """
    from .parallel import map_blocks

    n, m = D.shape
    if not isinstance(blocks, list):
        blocks = row_blocks(n, max(1, min(int(blocks), n)))

    def block(s, e):
        Wb, Ub = terms(s, e)
        R = None
        Z = np.empty((k * m + k, min(GRAM_SUB_ROWS, e - s)))
        # the weighted copies [W_1 D_b, ..., W_k D_b, U_b] are made and multiplied a few
        # thousand rows at a time, so that the product reads them from the cache: a Gram pass
        # at n = 1e5, p = 5, k = 8 took 8.2 ms instead of 11.8 ms in sub-blocks of 4096 rows
        # (the same at k = 1 and 3; smaller sub-blocks were slower)
        for a in range(s, e, GRAM_SUB_ROWS):
            b = min(a + GRAM_SUB_ROWS, e)
            if center is None:
                Db = D[a:b].T  # (m, rows) view, no copy
            else:  # standardised columns, made block by block (no copy of the design is kept)
                Db = ((D[a:b] - center) / scale).T
            Zb = Z if b - a == Z.shape[1] else np.empty((k * m + k, b - a))
            np.multiply(Db[None], Wb[:, None, a - s:b - s], out=Zb[: k * m].reshape(k, m, b - a))
            Zb[k * m:] = Ub[:, a - s:b - s]
            part = np.dot(Db, Zb.T)  # (np.dot releases the GIL for the threads; matmul did not)
            if R is None:
                R = part
            else:
                R += part
        return R

    R = np.zeros((m, k * m + k))
    for Rb in map_blocks(block, blocks, n_jobs):
        R += Rb
    A = np.stack([R[:, j * m:(j + 1) * m] for j in range(k)])
    A = 0.5 * (A + A.transpose(0, 2, 1))  # exactly symmetric for Cholesky
    return A, np.ascontiguousarray(R[:, k * m:].T)


def solve_psd(A, b):
    """Solve ``A x = b`` for symmetric positive semi-definite ``A``.

    Cholesky when ``A`` is positive definite; otherwise the minimum-norm least-squares
    solution (a rank-deficient design or an empty component), never a LinAlgError.

    Examples
    --------
    >>> import numpy as np
    >>> solve_psd(np.array([[2.0, 0.0], [0.0, 0.0]]), np.array([2.0, 0.0]))
    array([1., 0.])
    """
    try:
        c = linalg.cho_factor(A, check_finite=True)
        x = linalg.cho_solve(c, b)
        if np.all(np.isfinite(x)):
            return x
    except (linalg.LinAlgError, ValueError):
        pass
    A = np.where(np.isfinite(A), A, 0.0)
    b = np.where(np.isfinite(b), b, 0.0)
    return linalg.lstsq(A, b, cond=1e-12)[0]


def rank_deficient(D, rtol=1e-12):
    """Whether the columns of ``D`` are (numerically) linearly dependent.

    Eigenvalues of the Gram matrix of the columns scaled to unit length: one below ``rtol``
    times the largest marks a dependence. Only the (m, m) Gram matrix is formed, never a
    copy of the design.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(5.0)
    >>> rank_deficient(np.column_stack([np.ones(5), x])), rank_deficient(np.column_stack([x, 2 * x]))
    (False, True)
    """
    D = np.asarray(D, dtype=float)
    if D.ndim != 2 or D.shape[1] < 2 or D.shape[0] == 0:
        return False
    G = D.T @ D
    nrm = np.sqrt(np.diag(G))
    nrm = np.where(nrm > 0, nrm, 1.0)
    ev = np.linalg.eigvalsh(G / np.outer(nrm, nrm))
    return bool(ev.min() <= rtol * max(ev.max(), 1e-300))
