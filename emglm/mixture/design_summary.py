"""Column summaries of a design, and the centre and scale of the IRLS solves made from them.

A summary ``(n, min, max, mean, M2)`` is made in one pass over the rows; summaries of parts
of the rows (partitions of a data frame on a cluster) combine exactly, so the whole data's
standardisation is known without gathering the rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["column_summary", "combine_summaries", "standardisation_from_summary"]

_BLOCK = 8192  # rows per transposed block of the extremes (in cache)


def column_summary(D):
    """``(n, min, max, mean, M2)`` of the columns of ``D`` (``M2``: sum of squared deviations
    from the mean); summaries of parts of the rows combine with :func:`combine_summaries`.

    Examples
    --------
    >>> n, lo, hi, mean, m2 = column_summary(np.array([[1.0], [3.0]]))
    >>> n, lo.tolist(), hi.tolist(), mean.tolist(), m2.tolist()
    (2, [1.0], [3.0], [2.0], [2.0])
    """
    D = np.asarray(D, dtype=float)
    n = D.shape[0]
    if n == 0:
        z = np.zeros(D.shape[1])
        return 0, np.full(D.shape[1], np.inf), np.full(D.shape[1], -np.inf), z, z.copy()
    mean = D.mean(axis=0)
    # extremes and squared deviations from transposed blocks: a reduction along the rows of
    # a C-ordered (n, m) array runs an inner loop of m values per row (8 times slower at
    # m = 5) and D.var makes a whole (n, m) temporary; min and max do not depend on the
    # order, the sum of squares is added block by block (pairwise within a block)
    lo, hi = np.full(D.shape[1], np.inf), np.full(D.shape[1], -np.inf)
    m2 = np.zeros(D.shape[1])
    for s in range(0, n, _BLOCK):
        Bt = D[s:s + _BLOCK].T.copy()  # (a copy: it is overwritten below)
        np.minimum(lo, Bt.min(axis=1), out=lo)
        np.maximum(hi, Bt.max(axis=1), out=hi)
        Bt -= mean[:, None]
        Bt *= Bt
        m2 += Bt.sum(axis=1)
    return n, lo, hi, mean, m2


def combine_summaries(a, b):
    """The :func:`column_summary` of two parts of the rows together (Chan et al.'s update of
    the mean and the sum of squared deviations: exact for columns far from zero).

    Examples
    --------
    >>> D = np.array([[1.0], [3.0], [8.0]])
    >>> both = combine_summaries(column_summary(D[:1]), column_summary(D[1:]))
    >>> np.allclose(both[3:], column_summary(D)[3:])
    True
    """
    na, loa, hia, ma, sa = a
    nb, lob, hib, mb, sb = b
    n = na + nb
    if na == 0 or nb == 0:
        return b if na == 0 else a
    d = mb - ma
    return (n, np.minimum(loa, lob), np.maximum(hia, hib), ma + d * (nb / n),
            sa + sb + d * d * (na * nb / n))


def standardisation_from_summary(summary, p):
    """``(center, scale, intercept column, its value)`` of the IRLS solves from a
    :func:`column_summary` of the joint design (``p`` component columns first); centre and
    scale are None when no column needs them."""
    n, lo, hi, mean, m2 = summary
    if n == 0:
        return None, None, None, 1.0
    const = hi == lo
    Xconst = np.flatnonzero(const[:p] & (hi[:p] != 0))
    int_col = int(Xconst[0]) if Xconst.size else None
    int_value = float(hi[int_col]) if int_col is not None else 1.0
    sd = np.sqrt(m2 / n)
    center = np.where(const | (int_col is None), 0.0, mean)
    spread = sd if int_col is not None else np.sqrt(m2 / n + mean * mean)
    scale = np.where(const | ~(spread > 0), 1.0, spread)
    # only designs that need it pay for it (a standardised copy of each block in every
    # Gram pass): a column far from zero relative to its spread, or in units far from 1
    far = np.abs(center) > 1e2 * scale
    units = np.abs(np.log10(scale)) > 4
    if not np.any(far | units):
        return None, None, int_col, int_value
    return center, scale, int_col, int_value
