"""Truncated count regressions: Poisson and negative binomial (NB2) counts above a point.

``P(Y = y | Y > t) = f(y; mu) / P(Y > t; mu)`` for ``y > t`` with ``mu = exp(x'beta +
offset)`` (statsmodels' ``TruncatedLFPoisson`` and ``TruncatedLFNegativeBinomialP``; Stata
``fmm: tpoisson``, ``tnbreg``). The negative binomial has variance ``mu + alpha mu^2`` and
the parameter ``log_alpha``. The tail ``P(Y > t)`` is a regularised incomplete gamma
(Poisson) or beta (NB2) function, accurate when it is tiny.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import special

from .base import LinearScaleComponent, ResponseFamily, trigamma

__all__ = ["TruncatedPoisson", "TruncatedNegativeBinomial"]


def _nb_logpmf_score(y, eta, la):
    """NB2 log-pmf at counts ``y`` and its derivatives in ``eta`` and ``log alpha``."""
    mu, r = np.exp(eta), np.exp(-la)
    lr = np.log(r / (r + mu))
    ll = (special.gammaln(y + r) - special.gammaln(r) - special.gammaln(y + 1.0)
          + r * lr + y * (eta - np.log(r + mu)))
    d_eta = (y - mu) * r / (r + mu)
    d_la = -r * (special.digamma(y + r) - special.digamma(r) + lr + (mu - y) / (r + mu))
    return ll, d_eta, d_la


def _nb_logpmf_second(y, eta, la):
    """Second derivatives of the NB2 log-pmf at counts ``y`` in ``(eta, log alpha)``:
    ``(d2/deta2, d2/deta dla, d2/dla2)``."""
    mu, r = np.exp(eta), np.exp(-la)
    rm = r + mu
    h_ee = -r * mu * (r + y) / rm ** 2
    h_el = -(y - mu) * r * mu / rm ** 2
    q = special.digamma(y + r) - special.digamma(r) + np.log(r / rm) + (mu - y) / rm
    dq = trigamma(y + r) - trigamma(r) + 1.0 / r - 1.0 / rm - (mu - y) / rm ** 2
    return h_ee, h_el, r * q + r * r * dq


class TruncatedCountComponent(LinearScaleComponent):
    """Counts above ``truncation``; the family says Poisson or NB2.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm.mixture import Rows
    >>> from emglm.components import TruncatedNegativeBinomial
    >>> TruncatedNegativeBinomial().make_component(Rows(np.array([1.0, 3.0]), np.ones((2, 1))), 1).names
    ['x0', 'log_alpha']
    """

    def __init__(self, rows, k, family):
        self.nb = family.nb
        self.t = float(family.truncation)
        super().__init__(rows, k, family)

    @property
    def scalar_names(self):
        return ("log_alpha",) if self.nb else ()

    def _logsf(self, k, eta, la):
        """``log P(Y > k)`` for the untruncated count.

        Above zero it is ``log(1 - P(Y = 0))`` in closed form (``P(0) = exp(-mu)``, or
        ``(r / (r + mu))^r`` for NB2), far cheaper than the incomplete gamma or beta
        function; the tail at the truncation point is kept for the last ``eta`` it was
        asked for (the gradient and the Hessian of one Newton step share it).
        """
        if not np.ndim(k):
            memo = getattr(self, "_lsf_memo", None)
            if memo is not None and memo[0] is eta and memo[1] == (float(k), float(la)):
                return memo[2]
        mu = np.exp(eta)
        r = np.exp(-la) if self.nb else None
        if not np.ndim(k) and k == 0:
            x = r * np.log1p(mu / r) if self.nb else mu  # -log P(Y = 0)
            with np.errstate(divide="ignore"):
                out = np.where(x > np.log(2.0), np.log1p(-np.exp(-x)), np.log(-np.expm1(-x)))
        elif self.nb:
            out = np.log(special.betainc(k + 1.0, r, mu / (r + mu)))
        else:
            out = np.log(special.gammainc(k + 1.0, mu))
        if not np.ndim(k):
            self._lsf_memo = (eta, (float(k), float(la)), out)
        return out

    def _pmf_terms(self, eta, la):
        """Log-pmf and derivatives at each count ``0..t`` (for the tail's derivatives)."""
        for j in range(int(self.t) + 1):
            if self.nb:  # (a scalar count: its gamma functions once, not once per row)
                yield _nb_logpmf_score(float(j), eta, la)
            else:
                mu = np.exp(eta)
                yield j * eta - mu - special.gammaln(j + 1.0), j - mu, None

    def row_derivs(self, eta, s, rows, grad=True):
        y = rows.y
        la = s[0] if self.nb else 0.0
        if self.nb:
            ll, d_eta, d_la = _nb_logpmf_score(y, eta, la)
        else:
            mu = np.exp(eta)
            ll, d_eta, d_la = y * eta - mu - special.gammaln(y + 1.0), y - mu, None
        lsf = self._logsf(self.t, eta, la)
        ll = ll - lsf
        if not grad:
            return ll, None
        # d log P(Y > t) = -sum_{j <= t} f_j d log f_j / P(Y > t)
        g_eta = np.zeros_like(eta)
        g_la = np.zeros_like(eta)
        for lj, de, dl in self._pmf_terms(eta, la):
            ratio = np.exp(lj - lsf)
            g_eta += ratio * de
            if self.nb:
                g_la += ratio * dl
        d_eta = d_eta + g_eta
        if not self.nb:
            return ll, d_eta[:, None]
        return ll, np.column_stack([d_eta, d_la + g_la])

    def row_second(self, eta, s, rows):
        """Analytic second derivatives in ``eta`` (and ``log alpha``): the count's own, plus
        those of ``-log P(Y > t)``, ``sum_j r_j (d_j d_j' + H_j) + G G'`` with ``r_j =
        f_j / P(Y > t)``, ``d_j`` and ``H_j`` the score and Hessian of ``log f_j`` at the
        counts ``j <= t`` and ``G = sum_j r_j d_j``."""
        y, m1 = rows.y, 1 + int(self.nb)
        la = s[0] if self.nb else 0.0
        D2 = np.zeros((eta.size, m1, m1))
        lsf = self._logsf(self.t, eta, la)
        G = np.zeros((eta.size, m1))
        for j, (lj, de, dl) in enumerate(self._pmf_terms(eta, la)):
            rj = np.exp(lj - lsf)
            d = de[:, None] if not self.nb else np.column_stack([de, dl])
            G += rj[:, None] * d
            D2 += rj[:, None, None] * (d[:, :, None] * d[:, None, :])
            if self.nb:
                h = _nb_logpmf_second(float(j), eta, la)
                D2[:, 0, 0] += rj * h[0]
                D2[:, 0, 1] += rj * h[1]
                D2[:, 1, 0] += rj * h[1]
                D2[:, 1, 1] += rj * h[2]
            else:
                D2[:, 0, 0] -= rj * np.exp(eta)
        D2 += G[:, :, None] * G[:, None, :]
        if self.nb:
            h = _nb_logpmf_second(y, eta, la)
            D2[:, 0, 0] += h[0]
            D2[:, 0, 1] += h[1]
            D2[:, 1, 0] += h[1]
            D2[:, 1, 1] += h[2]
        else:
            D2[:, 0, 0] -= np.exp(eta)
        return D2

    def start_class(self, weights, rows):
        sw = np.sqrt(weights)
        beta = np.linalg.lstsq(rows.X * sw[:, None], sw * (np.log(rows.y) - rows.offset), rcond=None)[0]
        return np.r_[beta, np.log(0.5)] if self.nb else beta

    def mean_class(self, params, rows):
        """``E(Y | Y > t)``."""
        eta = self._eta(params, rows)
        la = params[-1] if self.nb else 0.0
        lsf = self._logsf(self.t, eta, la)
        below = sum(j * np.exp(lj) for j, (lj, _, _) in enumerate(self._pmf_terms(eta, la)))
        return (np.exp(eta) - below) / np.exp(lsf)

    def scale(self, params):
        return np.exp(self._split(params)[:, -1]) if self.nb else np.ones(self.n_classes)

    def cdf(self, params, rows):
        y = rows.y
        F, Fm = [], []
        for p in self._split(params):
            eta = self._eta(p, rows)
            la = p[-1] if self.nb else 0.0
            with np.errstate(all="ignore"):
                lsf = self._logsf(self.t, eta, la)
                F.append(-np.expm1(self._logsf(y, eta, la) - lsf))
                Fm.append(np.where(y - 1 <= self.t, 0.0, -np.expm1(self._logsf(y - 1.0, eta, la) - lsf)))
        return np.array(F), np.array(Fm)


class _Truncated(ResponseFamily):
    component_class = TruncatedCountComponent
    nb = False

    def __init__(self, truncation=0):
        if isinstance(truncation, bool) or not isinstance(truncation, (numbers.Integral, np.integer)) \
                or truncation < 0:
            raise ValueError(f"{self.name}: truncation must be a non-negative integer, got {truncation!r}")
        self.truncation = int(truncation)

    def check_endog(self, y, name="endog"):
        y = np.asarray(y, dtype=float)
        frac = int(np.sum(y != np.round(y)))
        if frac:
            raise ValueError(f"{name}: counts must be whole numbers; {frac} value(s) are not")
        low = int(np.sum(y <= self.truncation))
        if low:
            raise ValueError(f"{name}: {low} count(s) at or below the truncation point {self.truncation}; "
                             f"a model truncated at {self.truncation} sees only counts above it")

    def __repr__(self):
        return f"{type(self).__name__}(truncation={self.truncation})"


class TruncatedPoisson(_Truncated):
    """Truncated Poisson components: counts above ``truncation`` (0: zero-truncated).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> from emglm.components import TruncatedPoisson
    >>> rng = np.random.default_rng(0)
    >>> y = rng.poisson(2.0, size=5000)
    >>> y = y[y > 0]
    >>> res = EMGLM(y, np.ones((y.size, 1)), k=1, family=TruncatedPoisson()).fit()
    >>> round(float(np.exp(res.params.iloc[0, 0])), 1)
    2.0
    """

    name = "TruncatedPoisson"


class TruncatedNegativeBinomial(_Truncated):
    """Truncated negative binomial (NB2) components; parameters ``beta`` and ``log_alpha``.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> from emglm.components import TruncatedNegativeBinomial
    >>> rng = np.random.default_rng(0)
    >>> y = rng.negative_binomial(2.0, 2.0 / (2.0 + 3.0), size=6000)  # mean 3, alpha 0.5
    >>> y = y[y > 0]
    >>> res = EMGLM(y, np.ones((y.size, 1)), k=1, family=TruncatedNegativeBinomial()).fit()
    >>> np.round(np.exp(res.params["comp1"].to_numpy()), 1)
    array([3. , 0.5])
    """

    name = "TruncatedNegativeBinomial"
    nb = True
    has_scale = True
