"""Row passes of the GLM component, and its evaluation that can let go of its arrays.

An EM iteration of a GLM component makes the (k, n) linear predictors and means of the
trial coefficients in one pass (one small matrix product and one inverse link per block);
the next E-step and the Gram products of the next M-step read them. The log-densities are
remade block by block in the E-step's pass (a multiply-add for Poisson-log; Gaussian and
other families with a dispersion remake them anyway, at the new dispersion), except where
they cost a logarithm and the dispersion cannot change (Binomial): then the trial's are kept.

Once the M-step has formed its Gram sums, the evaluation it started from is not needed any
more: :meth:`GLMEvaluation.release` lets go of its whole arrays, so an iteration holds the
posterior and the arrays of one coefficient vector at a time (three (k, n) arrays for
Poisson, not seven). An evaluation that is asked for an array it released remakes it with
the same operations on the same blocks (the numbers are identical).
"""

from __future__ import annotations

import numpy as np

from .component import Evaluation, wq_block
from .rows import ordered_sum

__all__ = ["GLMEvaluation", "predictors_block", "means_pass"]


def predictors_block(rows, beta, delta, s, e, out=None):
    """(k, e - s) linear predictors of rows ``s:e`` (shared terms and offset included)."""
    Eb = np.matmul(beta, rows.X[s:e].T, out=out)
    if rows.U is not None:
        Eb += rows.U[s:e] @ delta
    if rows.has_offset:
        Eb += rows.offset[s:e]
    return Eb


def means_pass(comp, rows, beta, delta, scale=None, Wt=None, keep_logpdf=False, keep_eta=True):
    """``(E, M, q, L)`` in one pass over blocks: the (k, n) linear predictors (None unless
    ``keep_eta``) and means, ``q = sum Wt * log f`` when ``Wt`` is given (else None), and the
    (k, n) log-densities when ``keep_logpdf`` (else None)."""
    k, n = comp.k, rows.n
    beta = np.asarray(beta, dtype=float)
    E = rows.buffers.empty((k, n)) if keep_eta else None
    M = rows.buffers.empty((k, n))
    L = rows.buffers.empty((k, n)) if keep_logpdf else None
    fam = comp.fam
    sc = None if scale is None else np.asarray(scale, dtype=float).reshape(k, 1)

    def block(s, e):
        Eb = predictors_block(rows, beta, delta, s, e, out=None if E is None else E[:, s:e])
        fam.mean(Eb, out=M[:, s:e])
        if Wt is None:
            return 0.0
        Lb = fam.loglike(Eb, M[:, s:e], sc, rows=slice(s, e))
        if L is not None:
            L[:, s:e] = Lb
        return wq_block(Wt[:, s:e], Lb)

    parts = rows.map_blocks(block)
    return E, M, (None if Wt is None else ordered_sum(parts)), L  # in block order: any n_jobs


class GLMEvaluation(Evaluation):
    """The k classes of a GLM component at one parameter vector.

    Holds the (k, n) predictors ``E`` and means ``M`` (and the log-densities when they were
    kept); ``logpdf_block`` gives the log-densities of a block of rows, ``logpdf`` the whole
    array (made and kept when asked for). :meth:`release` drops the whole arrays; they are
    remade, identical, if asked for again.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.mixture import GLMComponent, Rows
    >>> rows = Rows(np.array([0.0, 1.0, 3.0]), np.ones((3, 1)))
    >>> comp = GLMComponent(sm.families.Poisson(), rows, k=1)
    >>> ev = comp.evaluate(np.array([0.0]), rows)
    >>> L = ev.logpdf_block(0, 3)
    >>> ev.release()
    >>> bool(np.array_equal(ev.logpdf, L)), ev.M.tolist()
    (True, [[1.0, 1.0, 1.0]])
    """

    def __init__(self, comp, rows, beta, delta, scale, key, scale_key, E=None, M=None, L=None):
        self.comp, self.rows = comp, rows
        self.beta, self.delta = np.asarray(beta, dtype=float), delta
        self.scale = np.asarray(scale, dtype=float)
        self.key, self.scale_key = key, scale_key
        self._E, self._M, self._L = E, M, L

    def with_scale(self, scale, scale_key):
        """The same coefficients (predictors and means) at other dispersions."""
        self._remake()
        return GLMEvaluation(self.comp, self.rows, self.beta, self.delta, scale, self.key, scale_key,
                             self._E, self._M)

    def release(self):
        """Let go of the whole arrays (the M-step has read what it needs)."""
        self._E = self._M = self._L = None

    def _remake(self):
        if self._M is None:
            self._E, self._M = means_pass(self.comp, self.rows, self.beta, self.delta)[:2]
        elif self._E is None:  # the means were kept, not the predictors
            E = np.empty_like(self._M)

            def block(s, e):
                predictors_block(self.rows, self.beta, self.delta, s, e, out=E[:, s:e])
                return 0.0

            self.rows.map_blocks(block)
            self._E = E

    def eta_block(self, s, e):
        """(k, e - s) linear predictors of rows ``s:e`` (made here when not kept whole)."""
        if self._E is not None:
            return self._E[:, s:e]
        return predictors_block(self.rows, self.beta, self.delta, s, e)

    @property
    def E(self):
        self._remake()
        return self._E

    @property
    def M(self):
        if self._M is None:
            self._remake()
        return self._M

    def logpdf_block(self, s, e):
        if self._L is not None:
            return self._L[:, s:e]
        M = self.M
        return self.comp.fam.loglike(self.eta_block(s, e), M[:, s:e], self.scale.reshape(-1, 1),
                                     rows=slice(s, e))

    @property
    def logpdf(self):
        if self._L is None:
            out = np.empty_like(self.M)

            def block(s, e):
                out[:, s:e] = self.logpdf_block(s, e)
                return 0.0

            self.rows.map_blocks(block)
            self._L = out
        return self._L
