"""A new kind of component is one file: exponential regression with a log link.

The component below is written here, against the public interface only
(:class:`emglm.mixture.SimpleComponent` and :class:`emglm.mixture.ComponentFamily`): a
per-row log-density, a weighted maximum-likelihood fit and the mean. A two-component
mixture of it, fitted by :class:`emglm.EMGLM`, must reach the maximum of a direct numerical
maximisation of the mixture likelihood, and its standard errors must match the inverse
Hessian of that likelihood.
"""

import numpy as np
import pytest
from scipy import optimize, special

from emglm import EMGLM
from emglm.mixture import ComponentFamily, SimpleComponent


class ExpRegression(SimpleComponent):
    """y ~ Exponential with mean exp(x'beta): log f = -eta - y exp(-eta)."""

    def __init__(self, rows, k):
        super().__init__(k, [f"x{i}" for i in range(rows.p)])

    def logpdf_class(self, beta, rows):
        eta = rows.X @ beta + rows.offset
        return -eta - rows.y * np.exp(-eta)

    def fit_class(self, weights, rows, start=None):
        X, y = rows.X, rows.y
        beta = np.zeros(rows.p) if start is None else np.array(start, dtype=float)
        if start is None:  # intercept-only start at the weighted mean
            beta[0] = np.log(max(weights @ y / max(weights.sum(), 1e-300), 1e-300))
        for _ in range(100):  # Newton on the weighted log-likelihood, with step halving
            eta = X @ beta + rows.offset
            r = y * np.exp(-eta)
            grad = X.T @ (weights * (r - 1.0))
            H = (X * (weights * r)[:, None]).T @ X
            step = np.linalg.lstsq(H, grad, rcond=None)[0]
            f0 = weights @ self.logpdf_class(beta, rows)
            t = 1.0
            while t > 1e-10 and weights @ self.logpdf_class(beta + t * step, rows) < f0:
                t /= 2
            beta = beta + t * step
            if np.max(np.abs(t * step)) < 1e-12:
                break
        return beta

    def mean_class(self, beta, rows):
        return np.exp(rows.X @ beta + rows.offset)


class Exponential(ComponentFamily):
    name = "Exponential"

    def make_component(self, rows, k, scale="component", var_floor=None):
        return ExpRegression(rows, k)

    def check_endog(self, y, name="endog"):
        if np.any(np.asarray(y) <= 0):
            raise ValueError(f"{name}: exponential responses must be positive")


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    z = rng.random(n) < 0.35
    eta = np.where(z, 2.0 + 1.0 * x, -0.5 - 1.5 * x)
    y = rng.exponential(np.exp(eta))
    return y, np.column_stack([np.ones(n), x])


def _negllf(v, y, X):
    """Minus the two-component mixture log-likelihood; v = (beta1, beta2, logit pi2)."""
    p = X.shape[1]
    b1, b2, g = v[:p], v[p:2 * p], v[2 * p]
    e1, e2 = X @ b1, X @ b2
    l1 = -e1 - y * np.exp(-e1) + np.log(special.expit(-g))
    l2 = -e2 - y * np.exp(-e2) + np.log(special.expit(g))
    return -np.sum(np.logaddexp(l1, l2))


def test_toy_component_mixture_reaches_direct_maximum():
    y, X = _data()
    res = EMGLM(y, X, k=2, family=Exponential()).fit(tol=1e-12)
    assert res.converged
    assert np.all(np.diff(res.llf_history) >= -1e-8 * abs(res.llf))
    truth = np.r_[-0.5, -1.5, 2.0, 1.0, np.log(0.35 / 0.65)]
    opt = optimize.minimize(_negllf, truth, args=(y, X), method="BFGS", options={"gtol": 1e-9})
    assert res.llf == pytest.approx(-opt.fun, abs=1e-6)
    # classes come back ordered by their mean linear predictor: comp1 is the low one
    est = np.r_[res.params["comp1"], res.params["comp2"], np.log(res.proportions["comp2"] / res.proportions["comp1"])]
    np.testing.assert_allclose(est, opt.x, atol=2e-4)


def test_toy_component_standard_errors_match_numerical_hessian():
    y, X = _data(n=500, seed=3)
    res = EMGLM(y, X, k=2, family=Exponential()).fit(tol=1e-12)
    v = np.r_[res.params["comp1"], res.params["comp2"], np.log(res.proportions["comp2"] / res.proportions["comp1"])]
    # central-difference Hessian of the likelihood itself (not of the score emglm uses)
    h = 1e-4
    d = v.size
    H = np.zeros((d, d))
    for i in range(d):
        for j in range(d):
            e_i, e_j = np.eye(d)[i] * h, np.eye(d)[j] * h
            H[i, j] = (_negllf(v + e_i + e_j, y, X) - _negllf(v + e_i - e_j, y, X)
                       - _negllf(v - e_i + e_j, y, X) + _negllf(v - e_i - e_j, y, X)) / (4 * h * h)
    se_ref = np.sqrt(np.diag(np.linalg.inv(H)))
    se = np.r_[res.bse["comp1"], res.bse["comp2"]]
    np.testing.assert_allclose(se, se_ref[:4], rtol=2e-3)
    assert list(res.params.index) == ["x0", "x1"]
    assert "Exponential" in res.summary().as_text()


def test_toy_component_bad_response_is_refused_before_fitting():
    y, X = _data(n=50)
    y[3] = -1.0
    with pytest.raises(ValueError, match="y: exponential responses must be positive"):
        EMGLM(y, X, k=2, family=Exponential())
