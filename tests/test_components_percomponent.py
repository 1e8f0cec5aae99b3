"""A model per component (``family=[f1, ..., fk]``) reaches the direct maximum.

The two-class mixtures below have a different model in each class (Weibull and log-normal
survival times; a gamma GLM and a Weibull regression); the EM fit must reach the maximum of
the mixture likelihood written here with scipy.stats densities and maximised by
scipy.optimize from the truth, keep the components in the order of the families, and give
standard errors equal to the inverse of a finite-difference Hessian of that likelihood.
"""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import optimize, special, stats
from statsmodels.tools.numdiff import approx_hess

from emglm import EMGLM
from emglm.components import LogNormal, Weibull


def _data(seed=0, n=1500):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    z = rng.random(n) < 0.4
    t = np.where(z, np.exp(0.5 + x + 0.5 * np.log(rng.exponential(size=n))),
                 np.exp(2.0 - 0.5 * x + 0.4 * rng.normal(size=n)))
    c = rng.exponential(30, n)
    return np.minimum(t, c), (t <= c).astype(float), sm.add_constant(x)


def _mix_negll(l1, l2):
    def negll(v):
        a = l1(v[:3]) + np.log(special.expit(-v[6]))
        b = l2(v[3:6]) + np.log(special.expit(v[6]))
        return -np.sum(np.logaddexp(a, b))
    return negll


def test_weibull_and_lognormal_components_reach_direct_maximum():
    t, d, X = _data()

    def weib(v):
        f = stats.weibull_min(c=np.exp(-v[2]), scale=np.exp(X @ v[:2]))
        return np.where(d == 1, f.logpdf(t), f.logsf(t))

    def lnorm(v):
        f = stats.lognorm(s=np.exp(v[2]), scale=np.exp(X @ v[:2]))
        return np.where(d == 1, f.logpdf(t), f.logsf(t))

    negll = _mix_negll(weib, lnorm)
    v0 = np.r_[0.5, 1.0, np.log(0.5), 2.0, -0.5, np.log(0.4), np.log(0.6 / 0.4)]
    opt = optimize.minimize(negll, v0, method="BFGS", options={"gtol": 1e-9})
    res = EMGLM(t, X, k=2, family=[Weibull(status=d), LogNormal(status=d)]).fit(tol=1e-12)
    assert res.llf == pytest.approx(-opt.fun, abs=1e-6)
    p = res.proportions.to_numpy()
    est = np.r_[res.params["comp1"], res.params["comp2"], np.log(p[1] / p[0])]
    np.testing.assert_allclose(est, opt.x, atol=2e-4)
    se = np.sqrt(np.diag(np.linalg.inv(approx_hess(opt.x, negll))))
    np.testing.assert_allclose(np.r_[res.bse["comp1"], res.bse["comp2"]], se[:6], rtol=2e-3)
    assert "Weibull + LogNormal" in res.summary().as_text()
    # the order given is kept: the families the other way round swap the columns (the
    # default start runs the residual split in both assignments)
    rev = EMGLM(t, X, k=2, family=[LogNormal(status=d), Weibull(status=d)]).fit(tol=1e-12)
    assert rev.llf == pytest.approx(res.llf, abs=1e-6)
    np.testing.assert_allclose(rev.params["comp1"], res.params["comp2"], atol=1e-4)


def test_glm_family_and_component_family_together():
    t, d, X = _data(seed=1)
    t, X = t[d == 1], X[d == 1]  # no censoring: the gamma GLM has no notion of it

    def gam(v):  # gamma with log-mean X b and dispersion exp(v[2])
        phi = np.exp(v[2])
        return stats.gamma(a=1 / phi, scale=np.exp(X @ v[:2]) * phi).logpdf(t)

    def weib(v):
        return stats.weibull_min(c=np.exp(-v[2]), scale=np.exp(X @ v[:2])).logpdf(t)

    negll = _mix_negll(gam, weib)
    res = EMGLM(t, X, k=2, family=[sm.families.Gamma(sm.families.links.Log()), Weibull()]).fit(tol=1e-12)
    p = res.proportions.to_numpy()
    v_em = np.r_[res.params["comp1"].to_numpy()[:2], np.log(res.scale["comp1"]),
                 res.params["comp2"].to_numpy(), np.log(p[1] / p[0])]
    opt = optimize.minimize(negll, v_em, method="BFGS", options={"gtol": 1e-9})
    assert res.llf == pytest.approx(-negll(v_em), abs=1e-8)  # the same likelihood
    assert res.llf == pytest.approx(-opt.fun, abs=1e-6)  # and its maximum
    np.testing.assert_allclose(v_em, opt.x, atol=2e-4)
    assert np.isnan(res.params.loc["log_sigma", "comp1"])


def test_family_list_errors_before_work():
    t, d, X = _data(n=50)
    with pytest.raises(ValueError, match="one per component; got 1 for k=2"):
        EMGLM(t, X, k=2, family=[Weibull()])
    with pytest.raises(ValueError, match="fixed: with a family per component, give a formula per component"):
        EMGLM(t, X, k=2, family=[Weibull(), LogNormal()], fixed=X[:, 1:])
    with pytest.raises(ValueError, match="survival times must be positive"):
        EMGLM(-t, X, k=2, family=[sm.families.Gaussian(), Weibull()])
    with pytest.raises(ValueError, match="min_proportion: components cannot be removed"):
        EMGLM(t, X, k=2, family=[Weibull(), LogNormal()]).fit(min_proportion=0.05)
