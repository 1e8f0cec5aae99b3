"""Rows: the data of a mixture fit in blocks, and an ordered map-reduce over them.

A :class:`Rows` object holds the row-level arrays every component needs (response, design,
offset, frequency weights, binomial trials), the unit structure (rows, or whole groups for
repeated measures) and the block partition of the rows. Components never loop over rows
themselves: they hand a function of one block to :meth:`Rows.map_blocks` and add the
returned sums, so the same component code runs on any implementation of this interface.

This module has the in-memory implementation: blocks of :data:`SWEEP_ROWS` rows shared
over threads (:func:`emglm.parallel.map_blocks`), partial sums added in block order so that
results are bit-identical for every number of threads. A backend over the partitions of a
distributed data frame implements the same methods with a map over partitions and a tree
reduction (groups must then sit whole in one partition).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ..linalg import row_blocks
from ..parallel import check_n_jobs, map_blocks
from .buffers import Buffers

__all__ = ["Rows", "SWEEP_ROWS", "ordered_sum"]

#: rows per block of the fused row passes (E-step, IRLS terms with Gram products, the
#: step check): every row-level temporary of a block stays in cache, so the cost per row
#: does not rise once the (k, n) arrays outgrow the cache (benchmarks/bench_fit.py)
SWEEP_ROWS = 8192


def ordered_sum(values):
    """Sum in the given order; ``-inf`` when any term is not finite (a row with no density).

    Examples
    --------
    >>> ordered_sum([1.0, 2.0])
    3.0
    >>> ordered_sum([1.0, -np.inf])
    -inf
    """
    total = 0.0
    for v in values:
        total += v
    return total if np.isfinite(total) else -np.inf


class Rows:
    """Row-level data of a mixture in blocks (in memory).

    Parameters
    ----------
    endog : (n,) response (Binomial: proportion of successes)
    exog : (n, p) component design
    offset : (n,) total offset (log exposure included), or None
    freq_weights : (n,) frequency weights, or None
    trials : (n,) binomial trials, or None (ones)
    fixed : (n, q) design of terms shared by all components, or None
    concomitant : (units, r) unit-level concomitant design, or None
    groups : (n,) integer group codes 0..G-1, or None
    n_jobs : int, threads for the row passes
    extra : dict of str to (n,) arrays, optional
        Further per-row data a component asks for by name (a censoring status, per-row
        bounds), aligned with the other rows and dropped with them.
    exog_names : list of str, optional
        Names of the columns of ``exog`` (components without a GLM design label their
        coefficients with them).

    Examples
    --------
    >>> import numpy as np
    >>> rows = Rows(np.array([1.0, 2.0, 3.0]), np.ones((3, 1)), groups=np.array([0, 0, 1]))
    >>> rows.n, rows.G
    (3, 2)
    >>> rows.unit_sum(np.array([[1.0], [2.0], [5.0]]))
    array([[3.],
           [5.]])
    """

    def __init__(self, endog, exog, offset=None, freq_weights=None, trials=None, fixed=None,
                 concomitant=None, groups=None, n_jobs=1, extra=None, exog_names=None):
        self.y = np.asarray(endog, dtype=float)
        self.X = np.asarray(exog, dtype=float)
        self.n, self.p = self.X.shape
        n = self.n
        self.offset = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
        self.w = np.ones(n) if freq_weights is None else np.asarray(freq_weights, dtype=float)
        self.trials = np.ones(n) if trials is None else np.asarray(trials, dtype=float)
        self.unit_weights = bool(np.all(self.w == 1.0))
        self.has_offset = bool(np.any(self.offset != 0.0))
        self.U = None if fixed is None or np.shape(fixed)[1] == 0 else np.asarray(fixed, dtype=float)
        self.q = 0 if self.U is None else self.U.shape[1]
        # one joint design [X U] built once (no per-component copies of X)
        self.D = self.X if self.U is None else np.hstack([self.X, self.U])
        self.Z = None if concomitant is None else np.asarray(concomitant, dtype=float)
        if groups is None:
            self.groups = None
            self.G = n
            self.unit_w = self.w
            self.group_matrix = None
        else:
            self.groups = np.asarray(groups, dtype=np.int64)
            self.G = int(self.groups.max()) + 1 if self.groups.size else 0
            self.unit_w = np.ones(self.G)
            #: (G, n) group-sum operator carrying the frequency weights
            self.group_matrix = sparse.csr_matrix((self.w, (self.groups, np.arange(n))), shape=(self.G, n))
        self.blocks = row_blocks(n, SWEEP_ROWS)
        self.n_jobs = check_n_jobs(n_jobs)
        self.extra = {name: np.asarray(v, dtype=float) for name, v in (extra or {}).items()}
        self.exog_names = None if exog_names is None else [str(c) for c in exog_names]
        #: work arrays of the row passes, reused while a fit runs (emglm.mixture.buffers)
        self.buffers = Buffers()

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_memo", None)  # recomputed when needed
        return state

    def memo(self, key, make):
        """``make()``, computed once for these rows and ``key`` (the response's constant of a
        family, the design's column summary): every mixture built on the rows shares it."""
        cache = self.__dict__.setdefault("_memo", {})
        if key not in cache:
            cache[key] = make()
        return cache[key]

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("n_jobs", 1)
        self.__dict__.setdefault("extra", {})
        self.__dict__.setdefault("exog_names", None)
        self.__dict__.setdefault("buffers", Buffers())

    # ------------------------------------------------------------------ map-reduce
    def map_blocks(self, fn):
        """``[fn(s, e) for each block (s, e)]``, in block order, blocks shared over threads."""
        return map_blocks(fn, self.blocks, self.n_jobs)

    def reduce_blocks(self, fn):
        """Sum of ``fn(s, e)`` (a float or an array) over blocks, added in block order."""
        parts = self.map_blocks(fn)
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return total

    # ------------------------------------------------------------------ units
    @property
    def grouped(self):
        return self.groups is not None

    def unit_sum(self, L):
        """Weighted sum of row values within each unit: (n, m) -> (G, m) (identity for rows)."""
        if self.groups is None:
            return L
        return np.asarray(self.group_matrix @ L)

    def unit_mean(self, v):
        """Unweighted per-unit mean of a row vector or (n, m) array (identity for rows)."""
        if self.groups is None:
            return v
        cnt = np.bincount(self.groups, minlength=self.G).astype(float)
        if np.ndim(v) == 1:
            return np.bincount(self.groups, weights=v, minlength=self.G) / cnt
        out = np.zeros((self.G, v.shape[1]))
        np.add.at(out, self.groups, v)
        return out / cnt[:, None]

    def to_rows(self, Tu):
        """Broadcast a unit-level array to rows (identity for rows)."""
        return Tu if self.groups is None else Tu[self.groups]

    def with_design(self, columns, offset=None, exog_names=None):
        """The same rows seen through the design columns ``columns`` of ``X`` (no shared
        terms), with another ``offset`` when given: a component that has a design of its own.

        Everything else (response, weights, units, blocks) is shared with this object.

        Examples
        --------
        >>> import numpy as np
        >>> r = Rows(np.zeros(3), np.arange(6.0).reshape(3, 2), exog_names=["a", "b"])
        >>> v = r.with_design([1])
        >>> v.X.ravel().tolist(), v.exog_names
        ([1.0, 3.0, 5.0], ['b'])
        """
        import copy

        out = copy.copy(self)
        cols = np.asarray(columns, dtype=np.intp)
        out.X = self.X if cols.size == self.p and np.array_equal(cols, np.arange(self.p)) else self.X[:, cols]
        out.n, out.p = out.X.shape
        out.U, out.q, out.D = None, 0, out.X
        if offset is not None:
            out.offset = np.asarray(offset, dtype=float)
            out.has_offset = bool(np.any(out.offset != 0.0))
        names = exog_names if exog_names is not None else (
            None if self.exog_names is None else [self.exog_names[i] for i in cols])
        out.exog_names = None if names is None else [str(c) for c in names]
        return out

    def take(self, rows):
        """The rows ``rows`` alone, without units (groups, concomitant variables): the data
        of a weighted fit that does not look at units (one class's fit to its own rows).

        Examples
        --------
        >>> import numpy as np
        >>> r = Rows(np.arange(4.0), np.ones((4, 1)), groups=np.array([0, 0, 1, 2]))
        >>> t = r.take(np.array([1, 3]))
        >>> t.y.tolist(), t.grouped
        ([1.0, 3.0], False)
        """
        rows = np.asarray(rows, dtype=np.int64)
        out = self._rows_at(rows, None, None)
        # what was computed once per row (a family's y-only constant) is taken, not remade
        out._memo = {key: v[rows] for key, v in self.__dict__.get("_memo", {}).items()
                     if isinstance(v, np.ndarray) and v.shape[:1] == (self.n,)}
        return out

    def subset(self, units):
        """A Rows object on the given units (rows, or whole groups), recoded from 0.

        Examples
        --------
        >>> import numpy as np
        >>> r = Rows(np.arange(4.0), np.ones((4, 1)), groups=np.array([0, 0, 1, 2]))
        >>> r.subset(np.array([0, 2])).n
        3
        """
        units = np.sort(np.asarray(units, dtype=np.int64))
        if self.groups is None:
            rows, groups = units, None
        else:
            keep = np.zeros(self.G, dtype=bool)
            keep[units] = True
            rows = np.flatnonzero(keep[self.groups])
            recode = np.full(self.G, -1)
            recode[units] = np.arange(units.size)
            groups = recode[self.groups[rows]]
        return self._rows_at(rows, None if self.Z is None else self.Z[units], groups)

    def _rows_at(self, rows, concomitant, groups):
        """A Rows object on the rows ``rows`` (every per-row array taken) with these units."""
        return Rows(self.y[rows], self.X[rows], self.offset[rows], self.w[rows], self.trials[rows],
                    None if self.U is None else self.U[rows], concomitant, groups, self.n_jobs,
                    extra={name: v[rows] for name, v in self.extra.items()}, exog_names=self.exog_names)
