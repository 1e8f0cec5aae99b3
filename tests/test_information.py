"""Analytic observed information (Louis' formula, emglm/information.py) against the numerical
one (central differences of the analytic score) and against a plain finite-difference Hessian
of the log-likelihood, over the families, links and model options; GLM second derivatives
against finite differences of the log-density."""

import numpy as np
import pytest
import statsmodels.api as sm

from emglm import EMGLM
from emglm.families import FamilyAdapter
from emglm.information import analytic_information, supports_analytic
from emglm.inference import observed_information
from emglm.mixture.glm_dist import second_derivatives

from test_inference import CASES, _model, fd_hessian

FAM = sm.families


def _extra(case, seed=7, n=480):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    w = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    G = n // 4
    g = np.repeat(np.arange(G), 4)
    zc = rng.normal(size=G)
    cls = (rng.random(G) < 1 / (1 + np.exp(-(0.2 + 0.8 * zc))))[g]
    mu = np.exp(np.where(cls, 1.0 + 0.4 * x, -0.3 - 0.2 * x) + 0.2 * w)
    fw = rng.integers(1, 3, n)
    conc = np.column_stack([np.ones(n), zc[g]])
    if case == "gamma_shared_groups_all":  # shared scale, groups, shared term, concomitant, weights
        y = rng.gamma(3.0, mu / 3.0)
        return EMGLM(y, X, k=2, family=FAM.Gamma(FAM.links.Log()), scale="shared", groups=g,
                     fixed=w[:, None], concomitant=conc, weights=fw)
    if case == "gaussian_groups_scale":  # per-class scales in the grouped pass
        y = rng.normal(np.where(cls, 2 + x, -1 - x), np.where(cls, 1.0, 0.6))
        return EMGLM(y, X, k=2, groups=g, weights=fw)
    if case == "groups_unsorted_concomitant":  # rows of a group not side by side: gathered
        perm = rng.permutation(n)
        y = rng.poisson(mu)
        return EMGLM(y[perm], X[perm], k=2, family=FAM.Poisson(), groups=g[perm],
                     concomitant=conc[perm], fixed=w[perm, None], weights=fw[perm])
    if case == "gamma_inverse_k3":  # canonical (inverse) link, three classes, weights
        c3 = rng.choice(3, size=n, p=[0.3, 0.3, 0.4])
        m3 = np.array([0.5, 3.0, 15.0])[c3]
        return EMGLM(rng.gamma(8.0, m3 / 8.0), np.ones((n, 1)), k=3, family=FAM.Gamma(), weights=fw)
    if case == "equal_point_mass":
        y = np.where(rng.random(n) < 0.25, 0, rng.poisson(mu))
        return EMGLM(y, X, k=2, family=FAM.Poisson(), mixing="equal", point_mass=0)
    if case == "cloglog_groups_concomitant":
        N = rng.integers(2, 8, n)
        s = rng.binomial(N, 1 - np.exp(-np.exp(np.where(cls, 0.5 + 0.5 * x, -1.0 - 0.3 * x))))
        return EMGLM(np.column_stack([s, N - s]), X, k=2, family=FAM.Binomial(FAM.links.CLogLog()),
                     groups=g, concomitant=conc)
    if case == "negbin_constant_fixed":
        return EMGLM(rng.negative_binomial(2, 2 / (2 + mu)), X, k=2, family=FAM.NegativeBinomial(alpha=0.5),
                     fixed=w[:, None], weights=fw)
    if case == "tweedie_groups":  # numerical second derivative in log phi, grouped pass
        y = np.where(rng.random(n) < 0.2, 0, rng.gamma(2, mu / 2))[:160]
        return EMGLM(y, X[:160], k=2, family=FAM.Tweedie(var_power=1.5, link=FAM.links.Log()),
                     groups=g[:160])
    raise KeyError(case)


EXTRA = ["gamma_shared_groups_all", "gaussian_groups_scale", "groups_unsorted_concomitant", "gamma_inverse_k3", "equal_point_mass",
         "cloglog_groups_concomitant", "negbin_constant_fixed", "tweedie_groups"]


def _fit(case):
    m = _model(case) if case in CASES else _extra(case)
    return m.fit(tol=1e-12, maxiter=5000)


def _scaled_gap(A, B):
    """max |A - B|_ij / sqrt(B_ii B_jj): the error relative to each entry's natural size."""
    d = np.sqrt(np.abs(np.diag(B)))
    return np.max(np.abs(A - B) / np.outer(d, d))


@pytest.mark.parametrize("case", CASES + EXTRA)
def test_analytic_equals_numerical_information(case):
    res = _fit(case)
    mix, th = res.mixture, res.theta
    assert supports_analytic(mix)
    A = analytic_information(mix, th)
    N = observed_information(mix, th, method="numerical")
    tol = 1e-5 if "tweedie" in case else 1e-6  # the numerical route differentiates a series density
    assert _scaled_gap(A, N) < tol
    np.testing.assert_allclose(A, A.T, rtol=0, atol=1e-12 * np.abs(A).max())
    # the default route is the analytic one
    np.testing.assert_array_equal(observed_information(mix, th), A)


@pytest.mark.parametrize("case", ["combined", "gamma_shared_groups_all", "gaussian_groups_scale",
                                  "groups_unsorted_concomitant",
                                  "gamma_inverse_k3", "equal_point_mass", "probit"])
def test_analytic_information_equals_fd_hessian_of_llf(case):
    res = _fit(case)
    mix, th = res.mixture, res.theta
    H = fd_hessian(mix.objective, th)
    assert _scaled_gap(analytic_information(mix, th), -H) < 1e-4


@pytest.mark.parametrize("case", ["combined", "gamma_weights", "gamma_shared_groups_all"])
def test_opg_of_the_pass_equals_outer_product(case):
    from emglm.inference import outer_product

    res = _fit(case)
    info, opg = analytic_information(res.mixture, res.theta, return_opg=True)
    B = outer_product(res.mixture, res.theta)
    assert _scaled_gap(opg, B) < 1e-12
    np.testing.assert_array_equal(info, analytic_information(res.mixture, res.theta))


def test_analytic_information_off_optimum():
    # Louis' formula holds at any theta, not only at the maximum
    res = _fit("gamma_shared_groups_all")
    mix = res.mixture
    th = res.theta + np.random.default_rng(3).normal(0, 0.05, res.theta.size)
    N = observed_information(mix, th, method="numerical")
    assert _scaled_gap(analytic_information(mix, th), N) < 1e-6


FAMILIES = [
    (FAM.Gaussian(), "normal"), (FAM.Gaussian(FAM.links.Log()), "gamma"),
    (FAM.Poisson(), "count"), (FAM.Poisson(FAM.links.Sqrt()), "count"),
    (FAM.Binomial(), "prop"), (FAM.Binomial(FAM.links.Probit()), "prop"),
    (FAM.Binomial(FAM.links.CLogLog()), "prop"), (FAM.Gamma(), "gamma"),
    (FAM.Gamma(FAM.links.Log()), "gamma"), (FAM.InverseGaussian(), "gamma"),
    (FAM.InverseGaussian(FAM.links.Log()), "gamma"), (FAM.NegativeBinomial(alpha=0.7), "count"),
    (FAM.Tweedie(var_power=1.4, link=FAM.links.Log()), "tweedie"),
]


def _fam_id(v):
    return v if isinstance(v, str) else f"{type(v).__name__}-{type(v.link).__name__}"


@pytest.mark.parametrize("fam,kind", FAMILIES, ids=_fam_id)
def test_second_derivatives_equal_finite_differences(fam, kind):
    rng = np.random.default_rng(0)
    m = 8
    y = {"normal": rng.normal(size=m), "gamma": rng.gamma(2.0, size=m), "count": rng.poisson(2.0, m) * 1.0,
         "prop": rng.binomial(5, 0.4, m) / 5.0,
         "tweedie": np.where(rng.random(m) < 0.3, 0.0, rng.gamma(2.0, size=m))}[kind]
    trials = np.full(m, 5.0) if kind == "prop" else np.ones(m)
    fa = FamilyAdapter(fam, y, trials)
    mu0 = 0.4 if kind == "prop" else 1.5
    eta = fam.link(np.full(m, mu0)) + rng.normal(0, 0.1, m)
    phi = 1.3 if fa.has_scale else 1.0
    a, a2, b, c, e = second_derivatives(fa, eta[None], fam.link.inverse(eta)[None], np.array([phi]))

    def f(et, lp):
        return fa.loglike(et, fam.link.inverse(et), float(np.exp(lp)))

    h, lp = 1e-4, np.log(phi)
    ref = [(f(eta + h, lp) - f(eta - h, lp)) / (2 * h),
           (f(eta + h, lp) - 2 * f(eta, lp) + f(eta - h, lp)) / h ** 2]
    got = [a[0], a2[0]]
    if fa.has_scale:
        ref += [(f(eta, lp + h) - f(eta, lp - h)) / (2 * h),
                (f(eta + h, lp + h) - f(eta + h, lp - h)
                 - f(eta - h, lp + h) + f(eta - h, lp - h)) / (4 * h * h),
                (f(eta, lp + h) - 2 * f(eta, lp) + f(eta, lp - h)) / h ** 2]
        got += [b[0], c[0], e[0]]
    else:
        assert b is None and c is None and e is None
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)


def test_threads_give_identical_information(monkeypatch):
    # several blocks of rows (and of groups) added in block order: bit-identical for any n_jobs
    import emglm.parallel

    monkeypatch.setattr(emglm.parallel, "MIN_ROWS_PER_THREAD", 0)  # (threads for 30000 rows too)
    rng = np.random.default_rng(5)
    n = 30000
    x = rng.normal(size=n)
    g = np.repeat(np.arange(n // 3), 3)
    z = rng.random(n) < 0.4
    y = rng.poisson(np.exp(np.where(z, 1.2 + 0.3 * x, 0.1 - 0.4 * x)))
    X = np.column_stack([np.ones(n), x])
    for groups in (None, g):
        res = EMGLM(y, X, k=2, family=FAM.Poisson(), groups=groups).fit(maxiter=30, n_jobs=1)
        mix, th = res.mixture, res.theta
        mix.n_jobs = 1
        one = analytic_information(mix, th)
        mix.n_jobs = 2
        two = analytic_information(mix, th)
        np.testing.assert_array_equal(one, two)


def test_component_without_second_derivatives_keeps_numerical_route():
    from test_toy_component import Exponential, _data

    y, X = _data()
    res = EMGLM(y, X, k=2, family=Exponential()).fit(tol=1e-12)
    assert not supports_analytic(res.mixture)
    with pytest.raises(ValueError, match="second derivatives"):
        analytic_information(res.mixture, res.theta)
    np.testing.assert_array_equal(observed_information(res.mixture, res.theta),
                                  observed_information(res.mixture, res.theta, method="numerical"))
    with pytest.raises(ValueError, match="method"):
        observed_information(res.mixture, res.theta, method="exact")
