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

#: rows per block in the Gram reductions (0.6 MB of float64 for p = 5: the block stays in
#: cache while every component's weights pass over it)
BLOCK_ROWS = 16384


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
    ``b[j] = D' U[j]``. The sums run over blocks of rows, the outer loop over blocks so that
    each block of ``D`` is read from memory once for all k components.

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
    A = np.zeros((k, m, m))
    b = np.zeros((k, m))
    for s in range(0, n, block):
        Db = D[s:s + block]
        b += U[:, s:s + block] @ Db
        for j in range(k):
            A[j] += (Db * W[j, s:s + block, None]).T @ Db
    return A, b


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
