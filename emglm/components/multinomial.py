"""Multinomial logit: unordered categories, one coefficient vector per non-base category.

``P(y = j) = exp(x'beta_j) / sum_l exp(x'beta_l)`` with ``beta_0 = 0`` for the first
(base) category, as statsmodels' ``MNLogit`` (Stata ``fmm: mlogit``). Coefficients are
labelled ``term[level]``, category by category. The weighted fit uses the analytic Hessian.
"""

from __future__ import annotations

import numpy as np

from .base import NewtonComponent, design_names
from .categorical import CategoricalFamily

__all__ = ["MNLogit"]


class MNLogitComponent(NewtonComponent):
    """Multinomial logit of ``J`` categories against the first.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm.mixture import Rows
    >>> from emglm.components import MNLogit
    >>> MNLogit().make_component(Rows(np.array([0.0, 1.0, 2.0]), np.ones((3, 1))), 1).names
    ['x0[1]', 'x0[2]']
    """

    def __init__(self, rows, k, family):
        if rows.has_offset:
            raise ValueError("offset/exposure: the multinomial logit has one linear predictor per category "
                             "and takes no offset")
        self.family = family
        self.J = family.n_categories(rows.y)
        levels = family.level_names(self.J)
        terms = design_names(rows)
        super().__init__(k, [f"{t}[{lev}]" for lev in levels[1:] for t in terms])

    def _probs(self, params, rows):
        """(J, n) log-probabilities (up to ``lse``) and the (n,) log normaliser.

        Categories run along the first axis so that the reductions over categories are
        element-wise passes over contiguous rows (fast), not reductions along short rows.
        """
        B = np.asarray(params, dtype=float).reshape(self.J - 1, rows.p)
        E = np.empty((self.J, rows.n))
        E[0] = 0.0
        E[1:] = B @ rows.X.T
        E -= E.max(axis=0)
        lse = np.log(np.exp(E).sum(axis=0))
        return E, lse

    def _resid(self, E, lse, rows):
        """(J-1, n) indicator of each non-base category minus its probability."""
        j = rows.y.astype(int)
        return (j[None, :] == np.arange(1, self.J)[:, None]) - np.exp(E[1:] - lse)

    def loglike_grad(self, params, rows, grad=True):
        E, lse = self._probs(params, rows)
        j = rows.y.astype(int)
        ll = E[j, np.arange(rows.n)] - lse
        if not grad:
            return ll, None
        R = self._resid(E, lse, rows)
        G = (R.T[:, :, None] * rows.X[:, None, :]).reshape(rows.n, -1)
        return ll, G

    def weighted_grad(self, params, weights, rows):
        E, lse = self._probs(params, rows)
        return ((self._resid(E, lse, rows) * weights) @ rows.X).ravel()

    def hessian(self, params, weights, rows):
        E, lse = self._probs(params, rows)
        P = np.exp(E[1:] - lse)
        X, p, m = rows.X, rows.p, self.J - 1
        H = np.empty((m * p, m * p))
        for a in range(m):
            for b in range(a, m):
                c = weights * P[a] * ((a == b) - P[b])
                blk = -(X * c[:, None]).T @ X
                H[a * p:(a + 1) * p, b * p:(b + 1) * p] = blk
                H[b * p:(b + 1) * p, a * p:(a + 1) * p] = blk.T
        return H

    def start_class(self, weights, rows):
        return np.zeros(self.n_params_class)

    def prob_class(self, params, rows):
        """(n, J) category probabilities of one class."""
        E, lse = self._probs(params, rows)
        return np.exp(E - lse).T

    def cdf(self, params, rows):
        """``(F(y), F(y-))`` of every class, each (n_classes, n), with the categories in the
        order of their codes.

        The categories have no order, but a randomized quantile residual needs only a fixed
        one: ``u`` drawn uniformly between ``F(y-)`` and ``F(y)`` is uniform on (0, 1) under
        the model whatever the order, so the residual is standard normal.
        """
        j, r = rows.y.astype(int), np.arange(rows.n)
        F, Fm = [], []
        for p in self._split(params):
            P = self.prob_class(p, rows)
            C = np.cumsum(P, axis=1)
            F.append(np.minimum(C[r, j], 1.0))
            Fm.append(np.maximum(C[r, j] - P[r, j], 0.0))
        return np.stack(F), np.stack(Fm)

    def prob(self, params, rows):
        """(n_classes, n, J) category probabilities."""
        return np.stack([self.prob_class(p, rows) for p in self._split(params)])


class MNLogit(CategoricalFamily):
    """Multinomial logit components; the first category is the base.

    The response is a pandas Categorical, integer codes ``0..J-1`` or (formulas) a
    categorical column.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> from emglm.components import MNLogit
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=3000)
    >>> X = np.column_stack([np.ones(3000), x])
    >>> eta = np.column_stack([np.zeros(3000), 0.5 + x, -0.5 - x])
    >>> p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    >>> y = (rng.random(3000)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    >>> res = EMGLM(y, X, k=1, family=MNLogit()).fit()
    >>> np.round(res.params["comp1"].to_numpy(), 1)
    array([ 0.5,  0.9, -0.5, -1. ])
    """

    name = "MNLogit"
    component_class = MNLogitComponent
