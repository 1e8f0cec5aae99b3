"""What a GLM family is, row by row: derivatives of the log-density (for scores and
standard errors), the distribution function (for quantile residuals) and the unit deviance.

``d log f / d eta = trials (y - mu) / (phi V(mu) g'(mu))`` holds for every exponential
dispersion family (NegativeBinomial with fixed alpha and Tweedie included); the derivative
with respect to the log dispersion is written out per family (central differences for
Tweedie, whose series normaliser has no closed-form derivative).

:func:`second_derivatives` adds the second derivatives (in ``eta``, in ``log phi`` and the
cross term) that the analytic observed information (:mod:`emglm.information`) needs.
"""

from __future__ import annotations

import numpy as np
import statsmodels.genmod.families as smf
import statsmodels.genmod.families.links as sml
from scipy import special, stats

from ..families import link_deriv, link_deriv2

__all__ = ["dlogf_deta", "dlogf_dlogscale", "second_derivatives", "cdf", "unit_deviance"]


def dlogf_deta(fa, E, M, scale):
    """(k, n) derivative of each row's log-density with respect to its linear predictor.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.families import FamilyAdapter
    >>> fa = FamilyAdapter(sm.families.Poisson(), np.array([3.0]), np.ones(1))
    >>> dlogf_deta(fa, np.zeros((1, 1)), np.ones((1, 1)), np.ones(1))
    array([[2.]])
    """
    y, n = fa.y, fa.trials
    fam, link = fa.family, fa.link
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if fa.canonical:  # (Probit, CLogLog subclass Logit: checked by exact type)
            G = n * (y - M)
        elif isinstance(fam, smf.Gaussian) and type(link) is sml.Identity:
            G = (y - M) / scale[:, None]
        else:
            G = n * (y - M) / (scale[:, None] * fam.variance(M) * link_deriv(link, M))
    return G


def dlogf_dlogscale(fa, E, M, scale):
    """(k, n) derivative of each row's log-density with respect to its log dispersion.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.families import FamilyAdapter
    >>> fa = FamilyAdapter(sm.families.Gaussian(), np.array([2.0]), np.ones(1))
    >>> dlogf_dlogscale(fa, np.zeros((1, 1)), np.zeros((1, 1)), np.ones(1))
    array([[1.5]])
    """
    fam = fa.family
    y = fa.y
    phi = scale[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if isinstance(fam, smf.Gaussian):
            return 0.5 * ((y - M) ** 2 / phi - 1.0)
        if isinstance(fam, smf.InverseGaussian):
            return 0.5 * ((y - M) ** 2 / (phi * y * M * M) - 1.0)
        if isinstance(fam, smf.Gamma):
            nu = 1.0 / phi
            return -nu * (np.log(nu * y / M) + 1.0 - y / M - special.digamma(nu))
        h = 1e-4
        out = np.empty_like(M)
        for j in range(M.shape[0]):
            up = fa.loglike(E[j], M[j], scale[j] * np.exp(h))
            dn = fa.loglike(E[j], M[j], scale[j] * np.exp(-h))
            out[j] = (up - dn) / (2 * h)
        return out


def second_derivatives(fa, E, M, scale, rows=None, with_scale=True):
    """First and second derivatives of each row's log-density, on rows ``rows``.

    For (k, m) linear predictors ``E`` and means ``M`` of the rows ``rows`` (a slice or an
    index array into the response; all rows for None) and the (k,) dispersions ``scale``,
    returns ``(a, a2, b, c, e)``, each (k, m):

    * ``a = d log f / d eta`` and ``a2 = d2 log f / d eta2``: with ``mu = g^-1(eta)``,
      ``a2 = -(n / phi) [1 / (V g'^2) + (y - mu) (V' g' + V g'') / (V^2 g'^3)]`` for every
      exponential dispersion family (``-n V / phi`` for a canonical link);
    * ``b = d log f / d log phi``, ``c = d2 log f / d eta d log phi = -a`` (the linear
      predictor enters the log-density only through ``(y theta - kappa(theta)) / phi``) and
      ``e = d2 log f / d (log phi)^2``: closed forms for Gaussian, Gamma and inverse Gaussian,
      a five-point difference of the series density for Tweedie. ``b, c, e`` are None without
      a dispersion (or with ``with_scale=False``).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.families import FamilyAdapter
    >>> fa = FamilyAdapter(sm.families.Gaussian(), np.array([2.0]), np.ones(1))
    >>> a, a2, b, c, e = second_derivatives(fa, np.zeros((1, 1)), np.zeros((1, 1)), np.ones(1))
    >>> [float(v[0, 0]) for v in (a, a2, b, c, e)]
    [2.0, -1.0, 1.5, -2.0, -2.0]
    """
    sl = slice(None) if rows is None else rows
    y, n = fa.y[sl], fa.trials[sl]
    fam, link = fa.family, fa.link
    phi = np.asarray(scale, dtype=float).reshape(-1, 1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        r = y - M
        if fa.canonical:  # Poisson-log, Binomial-logit: V g' = 1 and phi = 1
            a = n * r
            a2 = -n * (M if isinstance(fam, smf.Poisson) else M * (1.0 - M))
        elif isinstance(fam, smf.Gaussian) and type(link) is sml.Identity:
            a = n * r / phi
            a2 = np.broadcast_to(-n / phi, M.shape).copy()
        else:
            V, g1 = fam.variance(M), link_deriv(link, M)
            Vg = V * g1
            a = n * r / (phi * Vg)
            a2 = -(n / phi) * (1.0 / (Vg * g1) + r * (fam.variance.deriv(M) * g1 + V * link_deriv2(link, M))
                               / (Vg * Vg * g1))
        if not (with_scale and fa.has_scale):
            return a, a2, None, None, None
        c = -a
        if isinstance(fam, smf.Gaussian):
            u = r * r / phi
            return a, a2, 0.5 * (u - 1.0), c, -0.5 * u
        if isinstance(fam, smf.InverseGaussian):
            u = r * r / (phi * y * M * M)
            return a, a2, 0.5 * (u - 1.0), c, -0.5 * u
        if isinstance(fam, smf.Gamma):
            nu = 1.0 / phi
            b = -nu * (np.log(nu * y / M) + 1.0 - y / M - special.digamma(nu))
            return a, a2, b, c, -b + nu - nu * nu * special.polygamma(1, nu)
        # Tweedie: five-point differences in log phi of the series density (error O(h^4))
        h = 1e-2
        b, e = np.empty_like(M), np.empty_like(M)
        for j in range(M.shape[0]):
            f = [fa.loglike(E[j], M[j], float(phi[j, 0]) * np.exp(t * h), rows=rows)
                 for t in (-2, -1, 0, 1, 2)]
            b[j] = (f[0] - 8.0 * f[1] + 8.0 * f[3] - f[4]) / (12.0 * h)
            e[j] = (-f[0] + 16.0 * f[1] - 30.0 * f[2] + 16.0 * f[3] - f[4]) / (12.0 * h * h)
        return a, a2, b, c, e


def unit_deviance(family, y, mu, trials):
    """Per-row unit deviance (scale 1) with binomial trials; statsmodels-consistent.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> float(unit_deviance(sm.families.Poisson(), np.array([2.0]), np.array([2.0]), np.ones(1))[0])
    0.0
    """
    y = np.asarray(y, dtype=float)
    mu = np.asarray(mu, dtype=float)
    if isinstance(family, smf.Binomial):
        with np.errstate(divide="ignore", invalid="ignore"):
            d = special.xlogy(y, y / mu) + special.xlogy(1.0 - y, (1.0 - y) / (1.0 - mu))
        return 2.0 * trials * d
    # the public signed deviance residual, squared (scale 1, unit weights)
    return family.resid_dev(y, mu) ** 2


def cdf(family, y, mu, scale, trials):
    """``(F(y), F(y-))`` of one component at means ``mu`` (arrays of rows).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> F, Fm = cdf(sm.families.Poisson(), np.array([0.0]), np.array([1.0]), 1.0, np.ones(1))
    >>> np.round([F[0], Fm[0]], 4).tolist()
    [0.3679, 0.0]
    """
    y = np.asarray(y, dtype=float)
    if isinstance(family, smf.Gaussian):
        F = stats.norm.cdf(y, loc=mu, scale=np.sqrt(scale))
        return F, F
    if isinstance(family, smf.Gamma):
        F = stats.gamma.cdf(y, a=1.0 / scale, scale=mu * scale)
        return F, F
    if isinstance(family, smf.InverseGaussian):
        F = stats.invgauss.cdf(y, mu * scale, scale=1.0 / scale)
        return F, F
    if isinstance(family, smf.Poisson):
        return stats.poisson.cdf(y, mu), stats.poisson.cdf(y - 1, mu)
    if isinstance(family, smf.Binomial):
        s = np.round(y * trials)
        return stats.binom.cdf(s, trials, mu), stats.binom.cdf(s - 1, trials, mu)
    if isinstance(family, smf.NegativeBinomial):
        n = 1.0 / family.alpha
        p = 1.0 / (1.0 + family.alpha * mu)
        return stats.nbinom.cdf(y, n, p), stats.nbinom.cdf(y - 1, n, p)
    raise NotImplementedError(f"quantile residuals are not available for the {type(family).__name__} family "
                              "(no distribution function)")
