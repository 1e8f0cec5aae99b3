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
from scipy import stats

__all__ = ["pooled_predictor", "pooled_residual", "classification_entropy", "quantile_residuals", "mixture_moments", "DispersionTest", "dispersion_test"]


def pooled_predictor(T, Eta, scale, k, fam):
    """Pooled ``(eta, mu, phi)`` of the first ``k`` (GLM) classes for posteriors ``T`` (n, K),
    linear predictors ``Eta`` (n, k) and dispersions ``scale`` (k,); ``fam`` the family's
    adapter (see :meth:`EMGLMResults.pooled`).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.families import FamilyAdapter
    >>> fam = FamilyAdapter(sm.families.Gaussian(), np.zeros(1), np.ones(1))
    >>> eta, mu, phi = pooled_predictor(np.array([[0.5, 0.5]]), np.array([[0.0, 2.0]]), np.ones(2), 2, fam)
    >>> eta.tolist(), phi.tolist()
    ([1.0], [1.0])
    """
    Tg = T[:, :k]
    s = Tg.sum(axis=1, keepdims=True)
    Tg = np.divide(Tg, s, out=np.full_like(Tg, 1.0 / k), where=s > 0)
    eta = np.sum(Tg * Eta, axis=1)
    mu = fam.mean(eta)
    phi = 1.0 / np.sum(Tg / scale[None, :], axis=1)
    return eta, mu, phi


def pooled_residual(kind, family, y, mu, trials):
    """Residuals against the pooled mean ``mu``, as statsmodels defines them: ``"response"``
    ``trials (y - mu)``, ``"pearson"`` ``sqrt(trials) (y - mu) / sqrt(V(mu))`` or
    ``"deviance"`` ``sign(y - mu) sqrt(unit deviance)``.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> pooled_residual("pearson", sm.families.Poisson(), np.array([4.0]), np.array([1.0]), np.ones(1))
    array([3.])
    """
    if kind == "response":
        return trials * (y - mu)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "pearson":
            return np.sqrt(trials) * (y - mu) / np.sqrt(family.variance(mu))
        from .mixture.glm_dist import unit_deviance

        d = unit_deviance(family, y, mu, trials)
        return np.sign(y - mu) * np.sqrt(np.maximum(d, 0.0))


def classification_entropy(Tunit, unit_w):
    """``-sum_u w_u sum_j T_uj log T_uj`` of unit posteriors ``Tunit`` (units, K).

    Examples
    --------
    >>> import numpy as np
    >>> round(classification_entropy(np.array([[0.5, 0.5]]), np.ones(1)), 6)  # log 2
    0.693147
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        e = -np.where(Tunit > 0, Tunit * np.log(Tunit), 0.0).sum(axis=1)
    return float(unit_w @ e)


def quantile_residuals(mix, theta, prior, random_state=None):
    """Randomized quantile residuals of a mixture.

    Parameters
    ----------
    mix : Mixture
        The fitted mixture; each component supplies its distribution function.
    theta : ndarray
        Its parameters.
    prior : (n, K) prior class probabilities of the rows
    random_state : None, int or numpy Generator

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> res = EMGLM(np.r_[-1.0, 0.0, 1.0], np.ones((3, 1)), k=1).fit()
    >>> np.round(quantile_residuals(res.mixture, res.theta, np.ones((3, 1))), 3)
    array([-1.225,  0.   ,  1.225])
    """
    rng = np.random.default_rng(random_state)
    n = mix.n
    F = np.zeros(n)
    Fm = np.zeros(n)
    for c, (comp, p) in enumerate(zip(mix.components, mix.component_params(theta))):
        a, b = comp.cdf(p, mix.rows)
        pc = prior[:, mix.class_slice(c)].T
        F += np.sum(pc * a, axis=0)
        Fm += np.sum(pc * b, axis=0)
    u = Fm + rng.random(n) * (F - Fm)
    return stats.norm.ppf(np.clip(u, 1e-300, 1.0 - 1e-16))


def mixture_moments(mix, theta, prior):
    """Mean and variance of each row's mixture distribution (prior proportions).

    ``E y = sum_j pi_j mu_j``, ``Var y = sum_j pi_j (var_j + mu_j^2) - (E y)^2``, with each
    class's mean and variance from its component (for GLMs ``phi V(mu) / trials``).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> res = EMGLM(np.r_[-1.0, 0.0, 1.0], np.ones((3, 1)), k=1).fit()
    >>> m, v = mixture_moments(res.mixture, res.theta, np.ones((3, 1)))
    >>> np.round(m, 6).tolist(), np.round(v, 6).tolist()
    ([0.0, 0.0, 0.0], [0.666667, 0.666667, 0.666667])
    """
    m1 = np.zeros(mix.n)
    m2 = np.zeros(mix.n)
    for c, (comp, p) in enumerate(zip(mix.components, mix.component_params(theta))):
        mean, var = comp.moments(p, mix.rows)
        pc = prior[:, mix.class_slice(c)].T
        m1 += np.sum(pc * mean, axis=0)
        m2 += np.sum(pc * (var + mean * mean), axis=0)
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
