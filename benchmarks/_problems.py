"""Simulated regression mixtures for the benchmarks (and the acceleration tests).

Each problem is ``(name, family, X, endog, labels, k)`` with ``p = 5`` columns (an intercept
and four standard-normal covariates). ``endog`` is what :class:`emglm.EMGLM` takes (a
successes/failures pair for the Binomial), ``labels`` the true component of every row.
"""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm

FAM = sm.families

#: binomial trials per row in the Binomial problem
TRIALS = 8


def design(n, rng, p=5):
    X = np.empty((n, p))
    X[:, 0] = 1.0
    X[:, 1:] = rng.standard_normal((n, p - 1))
    return X


def poisson3(n, seed=0):
    """Three Poisson regressions, proportions 0.3 / 0.3 / 0.4."""
    rng = np.random.default_rng(seed)
    X = design(n, rng)
    B = np.array([[0.0, 0.3, -0.2, 0.1, 0.0],
                  [1.5, -0.2, 0.2, 0.0, 0.1],
                  [3.0, 0.1, 0.0, -0.1, 0.2]])
    z = rng.choice(3, size=n, p=[0.3, 0.3, 0.4])
    eta = np.einsum("ij,ij->i", X, B[z])
    y = rng.poisson(np.exp(eta)).astype(float)
    return "Poisson k=3", FAM.Poisson(), X, y, z, 3


def gaussian2(n, seed=0):
    """Two Gaussian regressions with different slopes and noise, proportions 0.4 / 0.6."""
    rng = np.random.default_rng(seed)
    X = design(n, rng)
    B = np.array([[-1.0, 1.0, 0.5, -0.5, 0.0],
                  [1.0, -0.5, 0.0, 0.5, 1.0]])
    sd = np.array([0.5, 1.0])
    z = rng.choice(2, size=n, p=[0.4, 0.6])
    y = np.einsum("ij,ij->i", X, B[z]) + sd[z] * rng.standard_normal(n)
    return "Gaussian k=2", FAM.Gaussian(), X, y, z, 2


def binomial2(n, seed=0):
    """Two logistic regressions with TRIALS trials per row, proportions 0.5 / 0.5."""
    rng = np.random.default_rng(seed)
    X = design(n, rng)
    B = np.array([[-1.5, 0.5, -0.5, 0.0, 0.3],
                  [1.0, -0.5, 0.5, 0.3, 0.0]])
    z = rng.choice(2, size=n, p=[0.5, 0.5])
    pr = 1.0 / (1.0 + np.exp(-np.einsum("ij,ij->i", X, B[z])))
    s = rng.binomial(TRIALS, pr).astype(float)
    endog = np.column_stack([s, TRIALS - s])
    return "Binomial k=2", FAM.Binomial(), X, endog, z, 2


PROBLEMS = (poisson3, gaussian2, binomial2)
