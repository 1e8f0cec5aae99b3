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

from .base import LinearScaleComponent, ResponseFamily

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
        """``log P(Y > k)`` for the untruncated count."""
        mu = np.exp(eta)
        if self.nb:
            r = np.exp(-la)
            return np.log(special.betainc(k + 1.0, r, mu / (r + mu)))
        return np.log(special.gammainc(k + 1.0, mu))

    def _pmf_terms(self, eta, la):
        """Log-pmf and derivatives at each count ``0..t`` (for the tail's derivatives)."""
        for j in range(int(self.t) + 1):
            jj = np.full_like(eta, float(j))
            if self.nb:
                yield _nb_logpmf_score(jj, eta, la)
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
