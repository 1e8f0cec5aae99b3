"""Residuals of a fitted mixture and a Pearson dispersion test.

Response, Pearson and deviance residuals are taken against the pooled mean
``mu_i = g^-1(sum_j T_ij eta_ij)`` (pooled-theta, emax.glm's definitions; ``T`` is the posterior,
so these residuals have seen the response and are descriptive) with
the family's variance and unit deviance, following statsmodels ``GLMResults`` exactly: binomial
residuals are on the count scale (``trials * (y - mu)``), the Pearson residual is not divided
by a dispersion, and frequency weights are not folded into a row's residual (a weight of 3 is
three copies of the row), so ``sum_i w_i resid_deviance_i**2`` is the pooled deviance.

Randomized quantile residuals (Dunn and Smyth 1996) use the mixture's own distribution for
the row, ``F(y) = sum_j pi_ij F_j(y)`` (prior proportions, not posteriors); a discrete response,
or one on a point mass, is randomized uniformly between ``F(y-)`` and ``F(y)``. Under the
model they are exactly standard normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import statsmodels.genmod.families as smf
from scipy import special, stats

__all__ = ["unit_deviance", "component_cdf", "quantile_residuals", "mixture_moments",
           "DispersionTest", "dispersion_test"]


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
    return family._resid_dev(y, mu)


def component_cdf(family, y, mu, scale, trials):
    """``(F(y), F(y-))`` of one component at means ``mu`` (arrays of rows).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> F, Fm = component_cdf(sm.families.Poisson(), np.array([0.0]), np.array([1.0]), 1.0, np.ones(1))
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


def quantile_residuals(family, y, trials, Mu, scale, prior, point_mass=None, random_state=None):
    """Randomized quantile residuals of a mixture.

    Parameters
    ----------
    family : statsmodels family
    y, trials : (n,) response (binomial proportion) and trials
    Mu : (n, k) component means
    scale : (k,) dispersions
    prior : (n, K) prior class probabilities (point mass last)
    point_mass : float or None
    random_state : None, int or numpy Generator

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> r = quantile_residuals(sm.families.Gaussian(), np.array([0.0]), np.ones(1),
    ...                        np.zeros((1, 1)), np.ones(1), np.ones((1, 1)))
    >>> float(r[0])
    0.0
    """
    rng = np.random.default_rng(random_state)
    n, k = Mu.shape
    F = np.zeros(n)
    Fm = np.zeros(n)
    for j in range(k):
        a, b = component_cdf(family, y, Mu[:, j], scale[j], trials)
        F += prior[:, j] * a
        Fm += prior[:, j] * b
    if point_mass is not None:
        F += prior[:, k] * (y >= point_mass)
        Fm += prior[:, k] * (y > point_mass)
    u = Fm + rng.random(n) * (F - Fm)
    return stats.norm.ppf(np.clip(u, 1e-300, 1.0 - 1e-16))


def mixture_moments(family, trials, Mu, scale, prior, point_mass=None):
    """Mean and variance of each row's mixture distribution (prior proportions).

    ``E y = sum_j pi_j mu_j``, ``Var y = sum_j pi_j (phi_j V(mu_j) / trials + mu_j^2) - (E y)^2``.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> m, v = mixture_moments(sm.families.Poisson(), np.ones(1), np.array([[1.0, 3.0]]),
    ...                        np.ones(2), np.array([[0.5, 0.5]]))
    >>> float(m[0]), float(v[0])
    (2.0, 3.0)
    """
    k = Mu.shape[1]
    V = family.variance(Mu) * np.asarray(scale)[None, :] / np.asarray(trials)[:, None]
    pk = prior[:, :k]
    m1 = np.sum(pk * Mu, axis=1)
    m2 = np.sum(pk * (V + Mu * Mu), axis=1)
    if point_mass is not None:
        m1 = m1 + prior[:, k] * point_mass
        m2 = m2 + prior[:, k] * point_mass ** 2
    return m1, m2 - m1 * m1


@dataclass
class DispersionTest:
    """Pearson chi-square dispersion test (see :meth:`EMGLMResults.dispersion_test`)."""

    statistic: float
    df_resid: float
    dispersion: float
    pvalue_over: float
    pvalue_under: float
    method: str

    def __repr__(self):
        return (f"DispersionTest({self.method}: chi2={self.statistic:.4g}, df={self.df_resid:g}, "
                f"dispersion={self.dispersion:.4g}, p(over)={self.pvalue_over:.4g}, "
                f"p(under)={self.pvalue_under:.4g})")


def dispersion_test(resid, weights, df_resid, method):
    """Pearson chi-square test from standardized residuals ``resid`` (variance 1 under the model).

    Examples
    --------
    >>> import numpy as np
    >>> t = dispersion_test(np.ones(11), np.ones(11), 10.0, "mixture")
    >>> round(t.dispersion, 3)
    1.1
    """
    X2 = float(np.sum(weights * resid * resid))
    if not df_resid > 0:
        raise ValueError(f"dispersion_test needs positive residual degrees of freedom, got {df_resid}")
    return DispersionTest(statistic=X2, df_resid=float(df_resid), dispersion=X2 / df_resid,
                          pvalue_over=float(stats.chi2.sf(X2, df_resid)),
                          pvalue_under=float(stats.chi2.cdf(X2, df_resid)), method=method)
