"""One-class fits of the emglm.components models equal the standalone models.

statsmodels' own models (OrderedModel, MNLogit, TruncatedLFPoisson,
TruncatedLFNegativeBinomialP, BetaModel) are the references where they exist: llf to 1e-5,
coefficients to 1e-4, standard errors to 1e-3 relative. Tobit and the survival models are
held against a direct maximisation (scipy.optimize) of a likelihood written here with
scipy.stats distributions, and their standard errors against the inverse of a
finite-difference Hessian of that likelihood.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize, stats
from statsmodels.tools.numdiff import approx_hess

from emglm import EMGLM
from emglm.components import (Beta, Exponential, LogNormal, MNLogit, OrderedLogit, OrderedProbit, Tobit,
                              TruncatedNegativeBinomial, TruncatedPoisson, Weibull)


def _fit(y, X, family, **kw):
    return EMGLM(y, X, k=1, family=family, **kw).fit(tol=1e-13, maxiter=500)


def _close(res, llf, params, bse):
    assert res.llf == pytest.approx(llf, abs=1e-5)
    np.testing.assert_allclose(res.params["comp1"].to_numpy(), params, atol=1e-4)
    np.testing.assert_allclose(res.bse["comp1"].to_numpy(), bse, rtol=1e-3)


@pytest.mark.parametrize("family, distr", [(OrderedLogit(), "logit"), (OrderedProbit(), "probit")])
def test_ordered_equals_statsmodels_ordered_model(family, distr):
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    rng = np.random.default_rng(1)
    n = 800
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.uniform(-1, 1, n)})
    latent = 0.8 * df.x1 - 1.2 * df.x2 + (rng.logistic(size=n) if distr == "logit" else rng.normal(size=n))
    df["y"] = pd.Categorical(np.digitize(latent, [-1.0, 0.3, 1.5]), ordered=True)
    ref = OrderedModel(df.y, df[["x1", "x2"]], distr=distr).fit(method="newton", disp=False, maxiter=200)
    res = EMGLM.from_formula("y ~ x1 + x2", df, k=1, family=family).fit(tol=1e-13)
    _close(res, ref.llf, ref.params.to_numpy(), ref.bse.to_numpy())
    assert list(res.params.index) == ["x1", "x2", "cut1", "log_dcut2", "log_dcut3"]


def test_mnlogit_equals_statsmodels():
    rng = np.random.default_rng(2)
    n = 900
    x = rng.normal(size=n)
    X = sm.add_constant(np.column_stack([x, rng.uniform(size=n)]))
    eta = np.column_stack([np.zeros(n), 0.3 + x, -0.4 - 0.5 * x + X[:, 2], 0.2 * x])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    ref = sm.MNLogit(y, X).fit(method="newton", disp=False, maxiter=100)
    res = _fit(y, X, MNLogit())
    # statsmodels: (terms, categories); emglm: category by category
    _close(res, ref.llf, np.asarray(ref.params).T.ravel(), np.asarray(ref.bse).T.ravel())
    assert list(res.params.index[:3]) == ["x0[1]", "x1[1]", "x2[1]"]


def _count_data(seed, nb=False, truncation=0):
    rng = np.random.default_rng(seed)
    n = 1500
    x = rng.uniform(-1, 1, n)
    mu = np.exp(0.8 + 0.7 * x)
    y = rng.negative_binomial(2.0, 2.0 / (2.0 + mu)) if nb else rng.poisson(mu)
    keep = y > truncation
    return y[keep].astype(float), sm.add_constant(x[keep])


@pytest.mark.parametrize("truncation", [0, 2])
def test_truncated_poisson_equals_statsmodels(truncation):
    from statsmodels.discrete.truncated_model import TruncatedLFPoisson

    y, X = _count_data(3, truncation=truncation)
    ref = TruncatedLFPoisson(y, X, truncation=truncation).fit(method="newton", disp=False, maxiter=100)
    res = _fit(y, X, TruncatedPoisson(truncation=truncation))
    _close(res, ref.llf, ref.params, ref.bse)


def test_truncated_negative_binomial_equals_statsmodels():
    from statsmodels.discrete.truncated_model import TruncatedLFNegativeBinomialP

    y, X = _count_data(4, nb=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = TruncatedLFNegativeBinomialP(y, X, truncation=0).fit(method="bfgs", disp=False, maxiter=2000,
                                                                    gtol=1e-10)
    res = _fit(y, X, TruncatedNegativeBinomial())
    la = res.params["comp1"]["log_alpha"]
    # statsmodels estimates alpha itself: compare alpha and its delta-method standard error
    est = np.r_[res.params["comp1"].to_numpy()[:2], np.exp(la)]
    se = np.r_[res.bse["comp1"].to_numpy()[:2], np.exp(la) * res.bse["comp1"]["log_alpha"]]
    assert res.llf == pytest.approx(ref.llf, abs=1e-5)
    np.testing.assert_allclose(est, ref.params, atol=1e-4)
    np.testing.assert_allclose(se, ref.bse, rtol=1e-3)


def test_beta_equals_statsmodels_betamodel():
    from statsmodels.othermod.betareg import BetaModel

    rng = np.random.default_rng(5)
    n = 1000
    x = rng.normal(size=n)
    mu = 1 / (1 + np.exp(-(-0.5 + 0.8 * x)))
    y = rng.beta(mu * 15, (1 - mu) * 15)
    X = sm.add_constant(x)
    ref = BetaModel(y, X).fit(method="newton", disp=False, maxiter=200)
    res = _fit(y, X, Beta())
    _close(res, ref.llf, ref.params, ref.bse)
    assert list(res.params.index) == ["x0", "x1", "log_precision"]


# ---------------------------------------------------------------------- direct likelihoods
def _direct(negll, v0, res):
    """Maximise the likelihood written here; compare llf, estimates and SEs."""
    opt = optimize.minimize(negll, v0, method="BFGS", options={"gtol": 1e-10, "maxiter": 5000})
    se = np.sqrt(np.diag(np.linalg.inv(approx_hess(opt.x, negll))))
    _close(res, -opt.fun, opt.x, se)


def _tobit_negll(v, y, X, lo, hi):
    beta, sigma = v[:-1], np.exp(v[-1])
    eta = X @ beta
    ll = np.where(y <= lo, stats.norm.logcdf((lo - eta) / sigma),
                  np.where(y >= hi, stats.norm.logsf((hi - eta) / sigma),
                           stats.norm.logpdf(y, eta, sigma)))
    return -np.sum(ll)


def test_tobit_equals_direct_maximisation():
    rng = np.random.default_rng(6)
    n = 800
    x = rng.normal(size=n)
    X = sm.add_constant(x)
    y = np.clip(0.5 + 1.5 * x + rng.normal(0, 1.2, n), 0.0, 3.0)
    res = _fit(y, X, Tobit(lower=0.0, upper=3.0))
    _direct(lambda v: _tobit_negll(v, y, X, 0.0, 3.0), np.r_[0.5, 1.5, np.log(1.2)], res)
    assert list(res.params.index) == ["x0", "x1", "log_sigma"]


def test_tobit_per_row_bounds_from_a_column():
    rng = np.random.default_rng(7)
    n = 600
    df = pd.DataFrame({"x": rng.normal(size=n), "floor": rng.choice([-1.0, 0.0, 0.5], n)})
    df["y"] = np.maximum(0.2 + df.x + rng.normal(size=n), df["floor"])
    res = EMGLM.from_formula("y ~ x", df, k=1, family=Tobit(lower="floor")).fit(tol=1e-13)
    X = sm.add_constant(df.x.to_numpy())
    _direct(lambda v: _tobit_negll(v, df.y.to_numpy(), X, df["floor"].to_numpy(), np.inf),
            np.r_[0.2, 1.0, 0.0], res)
    assert list(res.params.index) == ["Intercept", "x", "log_sigma"]


def _surv_data(seed, n=700):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = np.exp(1.0 + 0.6 * x + 0.7 * np.log(rng.exponential(size=n)))
    c = rng.exponential(6.0, size=n)
    return np.minimum(t, c), (t <= c).astype(float), sm.add_constant(x)


def _surv_negll(dist, t, d, X):
    def negll(v):
        eta = X @ v[:2]
        if dist == "weibull":
            f = stats.weibull_min(c=np.exp(-v[2]), scale=np.exp(eta))
        elif dist == "lognormal":
            f = stats.lognorm(s=np.exp(v[2]), scale=np.exp(eta))
        else:
            f = stats.expon(scale=np.exp(eta))
        return -np.sum(np.where(d == 1, f.logpdf(t), f.logsf(t)))
    return negll


@pytest.mark.parametrize("family, dist", [(Weibull, "weibull"), (LogNormal, "lognormal"),
                                          (Exponential, "exponential")])
def test_survival_equals_direct_maximisation(family, dist):
    t, d, X = _surv_data(8)
    res = _fit(t, X, family(status=d))
    v0 = np.r_[1.0, 0.6, np.log(0.7)] if dist != "exponential" else np.r_[1.0, 0.6]
    _direct(_surv_negll(dist, t, d, X), v0, res)


def test_survival_status_column_and_censoring_matter():
    t, d, X = _surv_data(9)
    df = pd.DataFrame({"t": t, "died": d, "x": X[:, 1]})
    res = EMGLM.from_formula("t ~ x", df, k=1, family=Weibull(status="died")).fit(tol=1e-12)
    res_all = EMGLM.from_formula("t ~ x", df, k=1, family=Weibull()).fit(tol=1e-12)
    assert res.llf == pytest.approx(-_surv_negll("weibull", t, d, X)(res.params["comp1"].to_numpy()), abs=1e-8)
    assert res_all.llf != pytest.approx(res.llf, abs=1.0)  # censoring changes the fit
