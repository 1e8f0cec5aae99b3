"""Censored location-scale regressions, the common core of Tobit and the survival models.

A response ``v`` (``y`` itself for Tobit, ``log t`` for accelerated-failure-time models) is
``v = eta + sigma * Z`` with ``Z`` a standard distribution (normal, or the smallest-extreme-
value distribution for Weibull times). A row is either observed exactly (its density), or
censored at a point ``c`` from the right (``P(v > c)``) or from the left (``P(v <= c)``).
Parameters are ``beta`` and ``log_sigma`` (none when sigma is fixed at 1, the exponential).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .base import LinearScaleComponent

__all__ = ["Normal", "ExtremeValue", "CensoredLocationScale", "EXACT", "RIGHT", "LEFT"]

EXACT, RIGHT, LEFT = 0, 1, 2
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


class Normal:
    """The standard normal distribution: log-density, log-cdf, log-survival and slopes.

    Examples
    --------
    >>> float(np.exp(Normal.logcdf(np.array([0.0])))[0])
    0.5
    """

    @staticmethod
    def logpdf(z):
        return -0.5 * z * z - _LOG_SQRT_2PI

    @staticmethod
    def dlogpdf(z):
        return -z

    @staticmethod
    def d2logpdf(z):
        return -np.ones_like(z)

    @staticmethod
    def logcdf(z):
        return special.log_ndtr(z)

    @staticmethod
    def logsf(z):
        return special.log_ndtr(-z)

    @staticmethod
    def cdf(z):
        return special.ndtr(z)


class ExtremeValue:
    """The standard smallest-extreme-value distribution (log of a unit exponential/Weibull).

    Examples
    --------
    >>> float(np.exp(ExtremeValue.logsf(np.array([0.0])))[0]) == float(np.exp(-1.0))
    True
    """

    @staticmethod
    def logpdf(z):
        return z - np.exp(z)

    @staticmethod
    def dlogpdf(z):
        return 1.0 - np.exp(z)

    @staticmethod
    def d2logpdf(z):
        return -np.exp(z)

    @staticmethod
    def logcdf(z):
        return np.log(-np.expm1(-np.exp(z)))

    @staticmethod
    def logsf(z):
        return -np.exp(z)

    @staticmethod
    def cdf(z):
        return -np.expm1(-np.exp(z))


class CensoredLocationScale(LinearScaleComponent):
    """A location-scale regression with exact, right- and left-censored rows (abstract).

    Subclasses set ``dist`` (:class:`Normal` or :class:`ExtremeValue`), ``log_time`` (the
    response is a time whose log follows the model: densities on the time scale) and
    ``fixed_scale`` (sigma = 1, no parameter), and implement :meth:`censoring`.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm.mixture import Rows
    >>> from emglm.components import Weibull
    >>> rows = Rows(np.array([1.0, 2.0]), np.ones((2, 1)), extra={"status": np.array([1.0, 0.0])})
    >>> comp = Weibull(status="s").make_component(rows, 1)
    >>> isinstance(comp, CensoredLocationScale), comp.censoring(rows)[1].tolist()  # event, censored
    (True, [0, 1])
    """

    dist = Normal
    log_time = False
    fixed_scale = False

    @property
    def scalar_names(self):
        return () if self.fixed_scale else ("log_sigma",)

    def censoring(self, rows):
        """``(v, kind)``: the value at which each row is evaluated and its kind (EXACT...)."""
        raise NotImplementedError

    def _cens(self, rows):
        """``(v, kind, right rows, left rows)`` of ``rows``, kept for the last rows seen."""
        memo = getattr(self, "_cens_memo", None)
        if memo is None or memo[0] is not rows:
            v, kind = self.censoring(rows)
            memo = (rows, v, kind, np.flatnonzero(kind == RIGHT), np.flatnonzero(kind == LEFT))
            self._cens_memo = memo
        return memo[1:]

    def row_derivs(self, eta, s, rows, grad=True):
        v, kind, right, left = self._cens(rows)
        ls = 0.0 if self.fixed_scale else s[0]
        sigma = np.exp(ls)
        z = (v - eta) / sigma
        D = self.dist
        lpdf = D.logpdf(z)
        exact = kind == EXACT
        ll = lpdf - ls
        # tail probabilities only where a row is censored (they cost most)
        lsf = D.logsf(z[right])
        lcdf = D.logcdf(z[left])
        ll[right] = lsf
        ll[left] = lcdf
        if self.log_time:
            ll -= np.where(exact, v, 0.0)  # density of t = exp(v): 1/t
        if not grad:
            return ll, None
        # d ll / d z for each kind; the hazard-type ratios in log space
        dz = D.dlogpdf(z)
        dz[right] = -np.exp(lpdf[right] - lsf)
        dz[left] = np.exp(lpdf[left] - lcdf)
        d_eta = -dz / sigma
        if self.fixed_scale:
            return ll, d_eta[:, None]
        d_ls = -z * dz - exact
        return ll, np.column_stack([d_eta, d_ls])

    def row_second(self, eta, s, rows):
        """Analytic second derivatives: with ``g = dl/dz`` and ``g' = d2l/dz2`` of each kind
        (a hazard ``h`` for right-censored rows has ``h' = h (dlogpdf + h)``)."""
        v, kind, right, left = self._cens(rows)
        ls = 0.0 if self.fixed_scale else s[0]
        sigma = np.exp(ls)
        z = (v - eta) / sigma
        D = self.dist
        lpdf, dl = D.logpdf(z), D.dlogpdf(z)
        g, g2 = dl.copy(), D.d2logpdf(z)
        h = np.exp(lpdf[right] - D.logsf(z[right]))
        g[right], g2[right] = -h, -h * (dl[right] + h)
        r = np.exp(lpdf[left] - D.logcdf(z[left]))
        g[left], g2[left] = r, r * (dl[left] - r)
        m1 = 1 if self.fixed_scale else 2
        out = np.empty((rows.n, m1, m1))
        out[:, 0, 0] = g2 / sigma ** 2
        if m1 == 2:
            out[:, 0, 1] = out[:, 1, 0] = (g2 * z + g) / sigma
            out[:, 1, 1] = z * g + z * z * g2
        return out

    def start_class(self, weights, rows):
        v, _ = self.censoring(rows)
        v = np.where(np.isfinite(v), v, 0.0)
        sw = np.sqrt(weights)
        beta = np.linalg.lstsq(rows.X * sw[:, None], sw * (v - rows.offset), rcond=None)[0]
        r = v - rows.X @ beta - rows.offset
        sd = np.sqrt(max(float(weights @ r ** 2) / max(float(weights.sum()), 1e-300), 1e-8))
        return beta if self.fixed_scale else np.r_[beta, np.log(sd)]

    def sigma(self, params):
        return 1.0 if self.fixed_scale else float(np.exp(params[-1]))

    def scale(self, params):
        return np.array([self.sigma(p) for p in self._split(params)])

    def cdf(self, params, rows):
        v, kind = self.censoring(rows)
        F, Fm = [], []
        for p in self._split(params):
            with np.errstate(all="ignore"):
                Fz = self.dist.cdf((v - self._eta(p, rows)) / self.sigma(p))
            # a right-censored row lies anywhere above its point, a left-censored one below
            F.append(np.where(kind == RIGHT, 1.0, Fz))
            Fm.append(np.where(kind == RIGHT, Fz, np.where(kind == LEFT, 0.0, Fz)))
        return np.array(F), np.array(Fm)
