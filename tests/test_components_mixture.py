"""Two-class mixtures of every emglm.components model reach the direct maximum.

For each model, data are simulated from two classes; the EM fit must reach the maximum
that scipy.optimize finds for the mixture likelihood written here (per-class densities from
scipy.stats), started from the truth (and from EM's estimate, in case a higher mode lies
elsewhere), in llf and in the estimates, and the llf must never decrease over the EM
iterations.
"""

import numpy as np
import pytest
from scipy import optimize, special, stats

from emglm import EMGLM
from emglm.components import (Beta, Exponential, LogNormal, MNLogit, OrderedLogit, OrderedProbit, Tobit,
                              TruncatedNegativeBinomial, TruncatedPoisson, Weibull)

N = 1200


def _design(rng, n=N, const=True):
    x = rng.uniform(-1, 1, n)
    return np.column_stack([np.ones(n), x]) if const else x[:, None]


def _ordinal(rng, probit):
    X = _design(rng, const=False)
    z = rng.random(N) < 0.4
    eta = np.where(z, 3.0 * X[:, 0], -3.0 * X[:, 0])
    e = rng.normal(size=N) if probit else rng.logistic(size=N)
    y = np.where(z, np.digitize(eta + e, [-1.0, 1.0]), np.digitize(eta + e, [-0.2, 1.8]))
    F = stats.norm if probit else stats.logistic

    def logpdf(v):
        c = np.r_[-np.inf, v[1], v[1] + np.exp(v[2]), np.inf]
        e = X[:, 0] * v[0]
        return np.log(F.cdf(c[y + 1] - e) - F.cdf(c[y] - e))
    return y, X, (OrderedProbit() if probit else OrderedLogit()), logpdf, \
        [np.r_[3.0, -1.0, np.log(2.0)], np.r_[-3.0, -0.2, np.log(2.0)]], 0.4


def _mnlogit(rng):
    X = _design(rng)
    z = rng.random(N) < 0.4
    B1, B2 = np.array([[1.0, 3.0], [-1.0, 0.0]]), np.array([[-1.0, -3.0], [1.0, 3.0]])
    eta = np.column_stack([np.zeros(N), np.where(z[:, None], X @ B1.T, X @ B2.T)])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    y = (rng.random(N)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)

    def logpdf(v):
        e = np.column_stack([np.zeros(N), X @ v.reshape(2, 2).T])
        return e[np.arange(N), y] - special.logsumexp(e, axis=1)
    return y, X, MNLogit(), logpdf, [B1.ravel(), B2.ravel()], 0.4


def _tobit(rng):
    X = _design(rng)
    z = rng.random(N) < 0.4
    y = np.maximum(np.where(z, X @ [0.5, 2.0] + rng.normal(0, 0.5, N), X @ [3.0, -1.0] + rng.normal(0, 1.0, N)), 0.0)

    def logpdf(v):
        eta, s = X @ v[:2], np.exp(v[2])
        return np.where(y <= 0, stats.norm.logcdf(-eta / s), stats.norm.logpdf(y, eta, s))
    return y, X, Tobit(lower=0), logpdf, [np.r_[0.5, 2.0, np.log(0.5)], np.r_[3.0, -1.0, 0.0]], 0.4


def _counts(rng, nb):
    X = _design(rng, n=2 * N)
    z = rng.random(2 * N) < 0.4
    mu = np.exp(np.where(z, X @ [0.3, 1.0], X @ [2.0, -0.5]))
    if nb:
        a = np.where(z, 0.3, 0.15)
        y = rng.negative_binomial(1 / a, 1 / (1 + a * mu))
    else:
        y = rng.poisson(mu)
    keep = y > 0
    y, X = y[keep].astype(float), X[keep]

    def logpdf(v):
        m = np.exp(X @ v[:2])
        if nb:
            a = np.exp(v[2])
            f = stats.nbinom(1 / a, 1 / (1 + a * m))
        else:
            f = stats.poisson(m)
        return f.logpmf(y) - f.logsf(0)
    truth = ([np.r_[0.3, 1.0, np.log(0.3)], np.r_[2.0, -0.5, np.log(0.15)]] if nb
             else [np.r_[0.3, 1.0], np.r_[2.0, -0.5]])
    return y, X, (TruncatedNegativeBinomial() if nb else TruncatedPoisson()), logpdf, truth, 0.4


def _beta(rng):
    X = _design(rng)
    z = rng.random(N) < 0.4
    mu = special.expit(np.where(z, X @ [-1.0, 1.0], X @ [1.0, -1.0]))
    phi = np.where(z, 30.0, 10.0)
    y = rng.beta(mu * phi, (1 - mu) * phi)

    def logpdf(v):
        m, ph = special.expit(X @ v[:2]), np.exp(v[2])
        return stats.beta.logpdf(y, m * ph, (1 - m) * ph)
    return y, X, Beta(), logpdf, [np.r_[-1.0, 1.0, np.log(30)], np.r_[1.0, -1.0, np.log(10)]], 0.4


def _survival(rng, dist):
    X = _design(rng)
    z = rng.random(N) < 0.4
    eta = np.where(z, X @ [0.5, 1.0], X @ [2.5, -0.5])
    sig = 1.0 if dist == "exponential" else np.where(z, 0.5, 0.4)
    w = np.log(rng.exponential(size=N)) if dist != "lognormal" else rng.normal(size=N)
    t = np.exp(eta + sig * w)
    c = rng.exponential(30.0, N)
    d = (t <= c).astype(float)
    t = np.minimum(t, c)

    def logpdf(v):
        e = X @ v[:2]
        if dist == "weibull":
            f = stats.weibull_min(c=np.exp(-v[2]), scale=np.exp(e))
        elif dist == "lognormal":
            f = stats.lognorm(s=np.exp(v[2]), scale=np.exp(e))
        else:
            f = stats.expon(scale=np.exp(e))
        return np.where(d == 1, f.logpdf(t), f.logsf(t))
    fam = {"weibull": Weibull, "lognormal": LogNormal, "exponential": Exponential}[dist](status=d)
    truth = ([np.r_[0.5, 1.0], np.r_[2.5, -0.5]] if dist == "exponential"
             else [np.r_[0.5, 1.0, np.log(0.5)], np.r_[2.5, -0.5, np.log(0.4)]])
    return t, X, fam, logpdf, truth, 0.4


CASES = {
    "ologit": lambda r: _ordinal(r, False), "oprobit": lambda r: _ordinal(r, True), "mnlogit": _mnlogit,
    "tobit": _tobit, "tpoisson": lambda r: _counts(r, False), "tnbreg": lambda r: _counts(r, True),
    "beta": _beta, "weibull": lambda r: _survival(r, "weibull"),
    "lognormal": lambda r: _survival(r, "lognormal"), "exponential": lambda r: _survival(r, "exponential"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_two_class_mixture_reaches_direct_maximum(case):
    rng = np.random.default_rng(sorted(CASES).index(case) + 10)
    y, X, family, logpdf, truth, pi = CASES[case](rng)
    d = truth[0].size

    def negll(v):
        with np.errstate(all="ignore"):
            l1 = logpdf(v[:d]) + np.log(special.expit(-v[-1]))
            l2 = logpdf(v[d:2 * d]) + np.log(special.expit(v[-1]))
        out = -np.sum(np.logaddexp(l1, l2))
        return out if np.isfinite(out) else 1e300

    v0 = np.r_[truth[0], truth[1], np.log(pi / (1 - pi))]
    res = EMGLM(y, X, k=2, family=family).fit(tol=1e-12)
    assert res.converged
    assert np.all(np.diff(res.llf_history) >= -1e-8 * abs(res.llf))
    p = res.proportions.to_numpy()
    est = np.r_[res.params["comp1"], res.params["comp2"], np.log(p[1] / p[0])]
    # the direct maximisation from the truth, and from EM's estimate (a mixture can have a
    # higher mode than the one nearest the truth): EM must sit at the better of the two
    opts = [optimize.minimize(negll, v, method="BFGS", options={"gtol": 1e-8, "maxiter": 5000}) for v in (v0, est)]
    opt = min(opts, key=lambda o: o.fun)
    assert res.llf == pytest.approx(-opt.fun, abs=1e-6 * abs(opt.fun))
    swap = np.r_[res.params["comp2"], res.params["comp1"], np.log(p[0] / p[1])]
    err = min(np.max(np.abs(est - opt.x)), np.max(np.abs(swap - opt.x)))
    assert err < 2e-3
