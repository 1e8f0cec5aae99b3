"""Beta regression: a response in (0, 1) with a logit-linked mean and a precision.

``y ~ Beta(mu phi, (1 - mu) phi)``, ``logit mu = x'beta + offset``, ``log phi`` one
parameter per class (``log_precision``), as statsmodels' ``BetaModel`` with a constant
precision (Stata ``fmm: betareg``).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .base import LinearScaleComponent, ResponseFamily, trigamma

__all__ = ["Beta"]


class BetaComponent(LinearScaleComponent):
    """Beta regression; parameters ``beta`` and ``log_precision``.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm.mixture import Rows
    >>> from emglm.components import Beta
    >>> Beta().make_component(Rows(np.array([0.2, 0.7]), np.ones((2, 1))), 2).names
    ['x0', 'log_precision']
    """

    scalar_names = ("log_precision",)

    def row_derivs(self, eta, s, rows, grad=True):
        y = rows.y
        ly, l1y = np.log(y), np.log1p(-y)
        mu, phi = special.expit(eta), np.exp(s[0])
        a, b = mu * phi, (1.0 - mu) * phi
        ll = special.gammaln(phi) - special.gammaln(a) - special.gammaln(b) + (a - 1.0) * ly + (b - 1.0) * l1y
        if not grad:
            return ll, None
        pa, pb = special.digamma(a), special.digamma(b)
        d_eta = phi * (ly - l1y - pa + pb) * mu * (1.0 - mu)
        d_s = phi * (special.digamma(phi) - mu * pa - (1.0 - mu) * pb + mu * ly + (1.0 - mu) * l1y)
        return ll, np.column_stack([d_eta, d_s])

    def row_second(self, eta, s, rows):
        """Analytic second derivatives in ``eta`` and ``log phi`` (digamma and trigamma of
        ``a = mu phi``, ``b = (1 - mu) phi``)."""
        y = rows.y
        ly, l1y = np.log(y), np.log1p(-y)
        mu, phi = special.expit(eta), np.exp(s[0])
        a, b = mu * phi, (1.0 - mu) * phi
        pa, pb = special.digamma(a), special.digamma(b)
        ta, tb = trigamma(a), trigamma(b)
        m1 = mu * (1.0 - mu)
        core = ly - l1y - pa + pb
        d_eta = phi * core * m1
        A = special.digamma(phi) - mu * pa - (1.0 - mu) * pb + mu * ly + (1.0 - mu) * l1y
        D2 = np.empty((eta.size, 2, 2))
        D2[:, 0, 0] = phi * core * m1 * (1.0 - 2.0 * mu) - phi * phi * m1 * m1 * (ta + tb)
        D2[:, 0, 1] = D2[:, 1, 0] = d_eta + phi * phi * m1 * ((1.0 - mu) * tb - mu * ta)
        D2[:, 1, 1] = phi * A + phi * phi * (trigamma(phi) - mu * mu * ta - (1.0 - mu) ** 2 * tb)
        return D2

    def start_class(self, weights, rows):
        sw = np.sqrt(weights)
        z = special.logit(rows.y)
        beta = np.linalg.lstsq(rows.X * sw[:, None], sw * (z - rows.offset), rcond=None)[0]
        mu = special.expit(rows.X @ beta + rows.offset)
        tot = max(float(weights.sum()), 1e-300)
        var = float(weights @ (rows.y - mu) ** 2) / tot
        m = float(weights @ (mu * (1.0 - mu))) / tot
        return np.r_[beta, np.log(max(m / max(var, 1e-12) - 1.0, 0.5))]

    def mean_class(self, params, rows):
        return special.expit(self._eta(params, rows))

    def scale(self, params):
        return np.exp(self._split(params)[:, -1])

    def cdf(self, params, rows):
        F = []
        for p in self._split(params):
            mu, phi = special.expit(self._eta(p, rows)), np.exp(p[-1])
            F.append(special.betainc(mu * phi, (1.0 - mu) * phi, rows.y))
        F = np.array(F)
        return F, F


class Beta(ResponseFamily):
    """Beta regression components for responses strictly between 0 and 1.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> from emglm.components import Beta
    >>> rng = np.random.default_rng(0)
    >>> y = rng.beta(0.3 * 20, 0.7 * 20, size=3000)  # mean 0.3, precision 20
    >>> res = EMGLM(y, np.ones((3000, 1)), k=1, family=Beta()).fit()
    >>> np.round(res.params["comp1"].to_numpy(), 1)  # logit(0.3), log(20)
    array([-0.9,  3. ])
    """

    name = "Beta"
    has_scale = True
    component_class = BetaComponent

    def check_endog(self, y, name="endog"):
        y = np.asarray(y, dtype=float)
        bad = int(np.sum(~((y > 0) & (y < 1))))
        if bad:
            raise ValueError(
                f"{name}: a beta response must lie strictly between 0 and 1; {bad} value(s) do not. "
                "Values of exactly 0 or 1 can be moved inside with (y * (n - 1) + 0.5) / n "
                "(Smithson and Verkuilen 2006, n the number of rows)")
