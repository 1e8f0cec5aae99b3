"""Row passes of the GLM component that keep only the class means whole.

Of the (k, n) arrays of an EM iteration only the means are worth keeping between passes:
they cost a transcendental function per entry (an ``exp`` for the log link), while the
linear predictors are one small matrix product per block of rows (reading the block of the
design costs less than reading a stored (k, b) block of predictors when p <= k), and the
log-densities are cheap arithmetic from predictors and means. So an EM iteration holds the
posterior and the means of the current and the trial coefficients (three (k, n) arrays
instead of seven), and :class:`GLMEvaluation` remakes predictors and log-densities block by
block where a pass needs them, with the same operations on the same blocks as a whole-array
evaluation (the numbers are identical). Whole arrays are made only when asked for
(standard errors, diagnostics) and then kept.
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


def means_pass(comp, rows, beta, delta, scale=None, Wt=None, keep_logpdf=False):
    """(k, n) means, ``q = sum Wt * log f`` when ``Wt`` is given, and the (k, n)
    log-densities when ``keep_logpdf`` (else None), in one pass over blocks (the predictors
    stay in the block)."""
    k, n = comp.k, rows.n
    beta = np.asarray(beta, dtype=float)
    M = np.empty((k, n))
    L = np.empty((k, n)) if keep_logpdf else None
    fam = comp.fam
    sc = None if scale is None else np.asarray(scale, dtype=float).reshape(k, 1)

    def block(s, e):
        Eb = predictors_block(rows, beta, delta, s, e)
        fam.mean(Eb, out=M[:, s:e])
        if Wt is None:
            return 0.0
        Lb = fam.loglike(Eb, M[:, s:e], sc, rows=slice(s, e))
        if L is not None:
            L[:, s:e] = Lb
        return wq_block(Wt[:, s:e], Lb)

    parts = rows.map_blocks(block)
    return M, (None if Wt is None else ordered_sum(parts)), L  # in block order: any n_jobs


class GLMEvaluation(Evaluation):
    """The k classes of a GLM component at one parameter vector, with only the means whole.

    ``eta_block`` and ``logpdf_block`` give the predictors and log-densities of a block of
    rows; the attributes ``E`` and ``logpdf`` make (and keep) the whole (k, n) arrays.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.mixture import GLMComponent, Rows
    >>> rows = Rows(np.array([0.0, 1.0, 3.0]), np.ones((3, 1)))
    >>> comp = GLMComponent(sm.families.Poisson(), rows, k=1)
    >>> ev = comp.evaluate(np.array([0.0]), rows)
    >>> bool(np.allclose(ev.logpdf_block(0, 3), ev.logpdf)), ev.M.tolist()
    (True, [[1.0, 1.0, 1.0]])
    """

    def __init__(self, comp, rows, beta, delta, scale, key, scale_key, M, whole=None):
        self.comp, self.rows = comp, rows
        self.beta, self.delta = np.asarray(beta, dtype=float), delta
        self.scale = np.asarray(scale, dtype=float)
        self.key, self.scale_key, self.M = key, scale_key, M
        self._whole = dict(whole or {})

    def with_scale(self, scale, scale_key):
        """The same coefficients and means at other dispersions (log-densities remade)."""
        whole = {"E": self._whole["E"]} if "E" in self._whole else None
        return GLMEvaluation(self.comp, self.rows, self.beta, self.delta, scale, self.key, scale_key,
                             self.M, whole)

    def eta_block(self, s, e):
        if "E" in self._whole:
            return self._whole["E"][:, s:e]
        return predictors_block(self.rows, self.beta, self.delta, s, e)

    def logpdf_block(self, s, e, Eb=None):
        if "L" in self._whole:
            return self._whole["L"][:, s:e]
        Eb = self.eta_block(s, e) if Eb is None else Eb
        sc = self.scale.reshape(-1, 1)
        return self.comp.fam.loglike(Eb, self.M[:, s:e], sc, rows=slice(s, e))

    def _make(self, name, fn):
        if name not in self._whole:
            out = np.empty_like(self.M)

            def block(s, e):
                out[:, s:e] = fn(s, e)
                return 0.0

            self.rows.map_blocks(block)
            self._whole[name] = out
        return self._whole[name]

    @property
    def E(self):
        return self._make("E", self.eta_block)

    @property
    def logpdf(self):
        return self._make("L", self.logpdf_block)
