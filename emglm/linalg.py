"""Small linear-algebra kernels for the M-step.

Written here rather than calling ``GLM.fit`` because the statsmodels fit rebuilds a
pseudo-inverse by SVD of the whole design on every call (DESIGN §4: about 25 times a
weighted Gram product at n = 1e6). Sums run over blocks of rows so memory stays bounded
and a chunked or distributed backend can reuse the same reductions.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

__all__ = ["weighted_gram", "grams", "solve_psd", "BLOCK_ROWS"]

#: rows per block in the Gram reductions (for p = 5 and k = 3 the block buffer is 0.6 MB,
#: so it stays in cache; measured fastest among 2048..32768 on the benchmark machine)
BLOCK_ROWS = 4096


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


def grams(D, W, U, block=BLOCK_ROWS):
    """Weighted Gram matrices and right-hand sides of several components at once.

    For every row ``j`` of ``W`` and ``U`` (shape (k, n)), ``A[j] = D' diag(W[j]) D`` and
    ``b[j] = D' U[j]``. The sums run over blocks of rows; per block one matrix product
    ``D_b' [W_1 D_b, ..., W_k D_b, U_b]`` gives every component's Gram matrix and right-hand
    side, so each block of ``D`` is read from memory once and BLAS gets one wide product
    instead of 2k thin ones (about twice as fast as separate products for p = 5).

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
    n, m = D.shape
    k = W.shape[0]
    bs = max(1, min(block, n))
    Z = np.empty((k * m + k, bs))  # one reusable block buffer
    R = np.zeros((m, k * m + k))
    for s in range(0, n, bs):
        e = min(s + bs, n)
        Db = D[s:e].T  # (m, rows) view, no copy
        Zv = Z[:, : e - s]
        np.multiply(Db[None], W[:, None, s:e], out=Zv[: k * m].reshape(k, m, e - s))
        Zv[k * m:] = U[:, s:e]
        R += Db @ Zv.T
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
