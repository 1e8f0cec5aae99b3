"""Row derivatives of GLM log-densities, for scores and standard errors.

``d log f / d eta = trials (y - mu) / (phi V(mu) g'(mu))`` holds for every exponential
dispersion family (NegativeBinomial with fixed alpha and Tweedie included); the derivative
with respect to the log dispersion is written out per family (central differences for
Tweedie, whose series normaliser has no closed-form derivative).
"""

from __future__ import annotations

import numpy as np
import statsmodels.genmod.families as smf
import statsmodels.genmod.families.links as sml
from scipy import special

__all__ = ["dlogf_deta", "dlogf_dlogscale"]


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
            G = n * (y - M) / (scale[:, None] * fam.variance(M) * link.deriv(M))
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
