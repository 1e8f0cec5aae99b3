"""Ordered logit and probit: cumulative-link models for ordered categories.

``P(y <= j) = F(c_j - x'beta)`` for ``j = 0..J-2`` with increasing cut points ``c`` and
``F`` logistic or standard normal (statsmodels' ``OrderedModel``, Stata ``fmm: ologit``,
``oprobit``). The design has no intercept (the cut points take its place: a constant
column of the design is dropped). Parameters are the slopes, then ``cut1`` and the log
increments ``log_dcut2 = log(c_2 - c_1)``..., unconstrained and in statsmodels' order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from .base import NewtonComponent, design_names
from .categorical import CategoricalFamily

__all__ = ["OrderedLogit", "OrderedProbit"]


class _Logistic:
    cdf = staticmethod(special.expit)

    @staticmethod
    def pdf(x):
        e = special.expit(x)
        return e * (1.0 - e)

    @staticmethod
    def dpdf(x):
        e = special.expit(x)
        return e * (1.0 - e) * (1.0 - 2.0 * e)

    ppf = staticmethod(special.logit)


class _Probit:
    cdf = staticmethod(special.ndtr)
    ppf = staticmethod(special.ndtri)

    @staticmethod
    def pdf(x):
        return np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)

    @staticmethod
    def dpdf(x):
        return -x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)


class OrderedComponent(NewtonComponent):
    """Cumulative-link model of ``J`` ordered categories.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm.mixture import Rows
    >>> from emglm.components import OrderedProbit
    >>> comp = OrderedProbit().make_component(Rows(np.array([0.0, 1.0, 2.0]), np.ones((3, 1))), 1)
    >>> comp.cutpoints(np.array([-1.0, 0.0])).tolist()  # the constant column is dropped
    [-1.0, 0.0]
    """

    def __init__(self, rows, k, family):
        self.family = family
        self.link = _Probit if family.probit else _Logistic
        self.J = family.n_categories(rows.y)
        const = np.all(rows.X == rows.X[:1], axis=0) if rows.n else np.zeros(rows.p, dtype=bool)
        self.cols = np.flatnonzero(~const)
        self.p = self.cols.size
        names = design_names(rows, self.cols) + ["cut1"] + [f"log_dcut{j}" for j in range(2, self.J)]
        super().__init__(k, names)
        self._xcache = (None, None)

    def _X(self, rows):
        if self.cols.size == rows.p:
            return rows.X
        if self._xcache[0] is not rows.X:
            self._xcache = (rows.X, rows.X[:, self.cols])
        return self._xcache[1]

    def cutpoints(self, params):
        """The ``J - 1`` increasing cut points of one class's parameters."""
        u = np.asarray(params, dtype=float)[self.p:]
        return u[0] + np.r_[0.0, np.cumsum(np.exp(u[1:]))]

    def _bounds(self, params, rows):
        eta = self._X(rows) @ params[:self.p] + rows.offset
        c = np.r_[-np.inf, self.cutpoints(params), np.inf]
        j = self._codes(rows)
        return eta, c[j + 1] - eta, c[j] - eta, j

    def _codes(self, rows):
        if getattr(self, "_ycache", (None,))[0] is not rows.y:
            self._ycache = (rows.y, rows.y.astype(np.intp))
        return self._ycache[1]

    def _cut_jacobian(self, params):
        """d cuts / d (cut1, log increments), and the exp(u) of the increments."""
        J = self.J
        Jac = np.zeros((J - 1, J - 1))
        Jac[:, 0] = 1.0
        e = np.exp(np.asarray(params, dtype=float)[self.p + 1:])
        for l in range(1, J - 1):
            Jac[l:, l] = e[l - 1]
        return Jac, e

    def weighted_grad(self, params, weights, rows):
        """Gradient of the weighted log-likelihood without the (n, d) per-row scores."""
        params = np.asarray(params, dtype=float)
        eta, a, b, j = self._bounds(params, rows)
        F, J = self.link.cdf, self.J
        with np.errstate(all="ignore"):
            P = np.where(b > 0, F(-b) - F(-a), F(a) - F(b))
            wa = np.where(np.isfinite(a), weights * self.link.pdf(a) / P, 0.0)
            wb = np.where(np.isfinite(b), weights * self.link.pdf(b) / P, 0.0)
        up, lo = j < J - 1, j > 0
        gc = (np.bincount(j[up], weights=wa[up], minlength=J - 1)[:J - 1]
              - np.bincount(j[lo] - 1, weights=wb[lo], minlength=J - 1)[:J - 1])
        return np.r_[-(self._X(rows).T @ (wa - wb)), gc @ self._cut_jacobian(params)[0]]

    def hessian(self, params, weights, rows):
        """Analytic Hessian of the weighted log-likelihood (in beta, cut1, log increments)."""
        params = np.asarray(params, dtype=float)
        eta, a, b, j = self._bounds(params, rows)
        lk, J, p = self.link, self.J, self.p
        with np.errstate(all="ignore"):
            F = lk.cdf
            P = np.where(b > 0, F(-b) - F(-a), F(a) - F(b))
            fin_a, fin_b = np.isfinite(a), np.isfinite(b)
            fa, fb = np.where(fin_a, lk.pdf(a), 0.0), np.where(fin_b, lk.pdf(b), 0.0)
            ga, gb = np.where(fin_a, lk.dpdf(a), 0.0), np.where(fin_b, lk.dpdf(b), 0.0)
            La, Lb = fa / P, -fb / P
            Laa, Lbb, Lab = ga / P - La ** 2, -gb / P - Lb ** 2, -La * Lb
        X = self._X(rows)
        up, lo = j < J - 1, j > 0
        H = np.zeros((p + J - 1, p + J - 1))
        H[:p, :p] = (X * (weights * (Laa + 2 * Lab + Lbb))[:, None]).T @ X
        # one indicator column per cut point for the upper and the lower bound of each row
        Iu = np.zeros((rows.n, J - 1))
        Il = np.zeros((rows.n, J - 1))
        r = np.arange(rows.n)
        Iu[r[up], j[up]] = 1.0
        Il[r[lo], j[lo] - 1] = 1.0
        Hbc = -X.T @ (Iu * (weights * (Laa + Lab))[:, None] + Il * (weights * (Lab + Lbb))[:, None])
        Hcc = (Iu.T * (weights * Laa)) @ Iu + (Il.T * (weights * Lbb)) @ Il
        cross = (Iu.T * (weights * Lab)) @ Il
        Hcc += cross + cross.T
        gc = Iu.T @ (weights * La) + Il.T @ (weights * Lb)
        Jac, e = self._cut_jacobian(params)
        H[:p, p:] = Hbc @ Jac
        H[p:, :p] = H[:p, p:].T
        Hu = Jac.T @ Hcc @ Jac
        for l in range(1, J - 1):  # d2 c_m / d u_l^2 = exp(u_l) for m >= l
            Hu[l, l] += e[l - 1] * gc[l:].sum()
        H[p:, p:] = Hu
        return H

    def loglike_grad(self, params, rows, grad=True):
        params = np.asarray(params, dtype=float)
        eta, a, b, j = self._bounds(params, rows)
        F = self.link.cdf
        with np.errstate(all="ignore"):
            # the difference of the smaller tail probabilities (F symmetric) keeps precision
            P = np.where(b > 0, F(-b) - F(-a), F(a) - F(b))
            ll = np.log(P)
            if not grad:
                return ll, None
            fa, fb = self.link.pdf(a), self.link.pdf(b)
            fa, fb = np.where(np.isfinite(a), fa, 0.0), np.where(np.isfinite(b), fb, 0.0)
            n, J = rows.n, self.J
            G = np.zeros((n, self.p + J - 1))
            G[:, :self.p] = self._X(rows) * (-(fa - fb) / P)[:, None]
            Gc = np.zeros((n, J - 1))  # derivative in each cut point
            r = np.arange(n)
            up, lo = j < J - 1, j > 0
            Gc[r[up], j[up]] += fa[up] / P[up]
            Gc[r[lo], j[lo] - 1] -= fb[lo] / P[lo]
        # chain rule to (cut1, log increments): c_m = cut1 + sum_{l <= m} exp(u_l)
        G[:, self.p:] = Gc @ self._cut_jacobian(params)[0]
        return ll, G

    def start_class(self, weights, rows):
        counts = np.bincount(self._codes(rows), weights=weights, minlength=self.J)[:self.J] + 0.5
        cum = np.cumsum(counts)[:-1] / counts.sum()
        c = self.link.ppf(cum)
        return np.r_[np.zeros(self.p), c[0], np.log(np.maximum(np.diff(c), 1e-3))]

    def prob_class(self, params, rows):
        """(n, J) category probabilities of one class."""
        eta = self._X(rows) @ params[:self.p] + rows.offset
        cum = self.link.cdf(self.cutpoints(params)[None, :] - eta[:, None])
        return np.diff(np.column_stack([np.zeros(eta.size), cum, np.ones(eta.size)]), axis=1)

    def prob(self, params, rows):
        """(n_classes, n, J) category probabilities."""
        return np.stack([self.prob_class(p, rows) for p in self._split(params)])

    def mean_class(self, params, rows):
        """Expected category code ``sum_j j P(y = j)``."""
        return self.prob_class(params, rows) @ np.arange(self.J, dtype=float)

    def order_key(self, params, rows):
        # the mean code orders classes from low to high categories
        return (self.mean(params, rows) @ rows.w) / rows.w.sum()

    def cdf(self, params, rows):
        j = self._codes(rows)
        F, Fm = [], []
        for p in self._split(params):
            cum = np.cumsum(self.prob_class(p, rows), axis=1)
            r = np.arange(rows.n)
            F.append(np.minimum(cum[r, j], 1.0))
            Fm.append(np.where(j > 0, cum[r, np.maximum(j - 1, 0)], 0.0))
        return np.array(F), np.array(Fm)


class OrderedLogit(CategoricalFamily):
    """Ordered logit components (proportional odds).

    The response is an ordered pandas Categorical (its categories in order) or integer
    codes ``0..J-1``; from a formula, an ordered categorical column works directly.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from emglm import EMGLM
    >>> from emglm.components import OrderedLogit
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=2000)})
    >>> latent = 1.0 * df.x + rng.logistic(size=2000)
    >>> df["y"] = pd.Categorical(np.digitize(latent, [-1.0, 1.0]), ordered=True)
    >>> res = EMGLM.from_formula("y ~ x", df, k=1, family=OrderedLogit()).fit()
    >>> np.round(res.params["comp1"].to_numpy(), 1)  # slope, cut1 = -1, log(1 - (-1))
    array([ 1. , -1. ,  0.7])
    """

    name = "OrderedLogit"
    probit = False
    component_class = OrderedComponent

    def prepare_endog(self, endog, endog_info=None):
        cat = endog.iloc[:, 0] if isinstance(endog, pd.DataFrame) and endog.shape[1] == 1 else endog
        dtype = getattr(cat, "dtype", None)
        if isinstance(dtype, pd.CategoricalDtype) and not dtype.ordered:
            raise ValueError(f"endog: {self.name} needs ordered categories; the response is an unordered "
                             "Categorical (make it ordered, e.g. pd.Categorical(y, categories=[...], ordered=True))")
        return super().prepare_endog(endog, endog_info)


class OrderedProbit(OrderedLogit):
    """Ordered probit components; as :class:`OrderedLogit` with a normal latent error.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> from emglm.components import OrderedProbit
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=2000)
    >>> y = np.digitize(0.5 * x + rng.normal(size=2000), [0.0])
    >>> res = EMGLM(y, x[:, None], k=1, family=OrderedProbit()).fit()
    >>> np.round(res.params["comp1"].to_numpy(), 1)
    array([0.5, 0. ])
    """

    name = "OrderedProbit"
    probit = True
