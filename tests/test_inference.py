"""Standard errors (issue 3): observed information against a plain finite-difference Hessian
of the log-likelihood, statsmodels GLM at k = 1, closed-form delta methods, and a Monte Carlo
of interval coverage."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from emglm import EMGLM
from emglm.inference import outer_product, total_score

FAM = sm.families


def fd_hessian(f, th, rel=1e-4):
    """Plain central-difference Hessian of a scalar function (independent of the score code)."""
    d = th.size
    h = rel * np.maximum(1.0, np.abs(th))
    H = np.zeros((d, d))
    f0 = f(th)
    for i in range(d):
        tp, tm = th.copy(), th.copy()
        tp[i] += h[i]
        tm[i] -= h[i]
        H[i, i] = (f(tp) - 2 * f0 + f(tm)) / h[i] ** 2
        for j in range(i + 1, d):
            v = 0.0
            for si, sj, s in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
                t = th.copy()
                t[i] += si * h[i]
                t[j] += sj * h[j]
                v += s * f(t)
            H[i, j] = H[j, i] = v / (4 * h[i] * h[j])
    return H


def _data(seed=0, n=600):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.random(n) < 0.4
    w = rng.normal(size=n)
    return rng, n, x, z, w, np.column_stack([np.ones(n), x])


def _model(case):
    rng, n, x, z, w, X = _data()
    if case == "poisson":
        y = rng.poisson(np.exp(np.where(z, 1.5 + 0.5 * x, 0.2 - 0.5 * x)))
        return EMGLM(y, X, k=2, family=FAM.Poisson())
    if case == "gaussian":
        y = rng.normal(np.where(z, 2 + x, -1 - x), np.where(z, 1.0, 0.5))
        return EMGLM(y, X, k=2)
    if case == "binomial":
        N = rng.integers(1, 8, n)
        s = rng.binomial(N, 1 / (1 + np.exp(-np.where(z, 1 + x, -1 - x))))
        return EMGLM(np.column_stack([s, N - s]), X, k=2, family=FAM.Binomial())
    if case == "point_mass":
        y = np.where(rng.random(n) < 0.3, 0, rng.poisson(np.exp(0.5 + 0.5 * x)))
        return EMGLM(y, X, k=1, family=FAM.Poisson(), point_mass=0, weights=rng.integers(1, 4, n))
    if case == "fixed_concomitant":
        p2 = 1 / (1 + np.exp(-(0.3 + 1.0 * w)))
        zz = rng.random(n) < p2
        y = rng.poisson(np.exp(np.where(zz, 1.5 + 0.5 * x, 0.2 - 0.5 * x) + 0.3 * w))
        return EMGLM(y, X, k=2, family=FAM.Poisson(), fixed=w[:, None],
                     concomitant=np.column_stack([np.ones(n), w]))
    if case == "groups":
        g = np.repeat(np.arange(n // 4), 4)
        zg = (rng.random(n // 4) < 0.5)[g]
        y = rng.poisson(np.exp(np.where(zg, 1.5 + 0.3 * x, 0.1 - 0.3 * x)))
        return EMGLM(y, X, k=2, family=FAM.Poisson(), groups=g)
    if case == "gaussian_shared_equal":
        y = rng.normal(np.where(z, 2 + x, -1 - x), 0.8)
        return EMGLM(y, X, k=2, scale="shared", mixing="equal")
    if case == "gamma_weights":
        y = rng.gamma(2.0, np.exp(np.where(z, 1 + 0.3 * x, -0.5)) / 2.0)
        return EMGLM(y, X, k=2, family=FAM.Gamma(FAM.links.Log()), weights=rng.integers(1, 3, n))
    mu = np.exp(np.where(z, 1.2 + 0.3 * x, -0.2 + 0.2 * x))
    if case == "negbin":
        return EMGLM(rng.negative_binomial(2, 2 / (2 + mu)), X, k=2, family=FAM.NegativeBinomial(alpha=0.5))
    if case == "invgauss":
        return EMGLM(rng.wald(mu, 4.0), X, k=2, family=FAM.InverseGaussian(FAM.links.Log()))
    if case == "tweedie":
        # the series density is slow: 150 rows keep the reference Hessian cheap
        y = np.where(rng.random(n) < 0.2, 0, rng.gamma(2, mu / 2))[:150]
        return EMGLM(y, X[:150], k=2, family=FAM.Tweedie(var_power=1.5, link=FAM.links.Log()))
    if case in ("probit", "cloglog"):
        N = rng.integers(3, 10, n)
        s = rng.binomial(N, stats.norm.cdf(np.where(z, 0.8 + 0.5 * x, -0.8 - 0.3 * x)))
        link = FAM.links.Probit() if case == "probit" else FAM.links.CLogLog()
        return EMGLM(np.column_stack([s, N - s]), X, k=2, family=FAM.Binomial(link))
    if case == "combined":  # groups + concomitant + point mass + shared term + weights
        G = n // 4
        g = np.repeat(np.arange(G), 4)
        zc = rng.normal(size=G)
        pz = np.column_stack([np.full(G, 0.3), 0.4 + 0.1 * np.tanh(zc), 0.3 - 0.1 * np.tanh(zc)])
        cls = np.array([rng.choice(3, p=pp) for pp in pz])[g]
        lam = np.exp(np.where(cls == 0, 0.3 + 0.4 * x, 1.6 - 0.3 * x) + 0.2 * w)
        y = np.where(cls == 2, 0, rng.poisson(lam))
        return EMGLM(y, X, k=2, family=FAM.Poisson(), groups=g, point_mass=0, fixed=w[:, None],
                     concomitant=np.column_stack([np.ones(n), zc[g]]), weights=rng.integers(1, 3, n))
    raise KeyError(case)


CASES = ["combined", "poisson", "gaussian", "binomial", "point_mass", "fixed_concomitant", "groups",
         "gaussian_shared_equal", "gamma_weights", "negbin", "invgauss", "tweedie", "probit", "cloglog"]


@pytest.mark.parametrize("case", CASES)
def test_se_equal_inverse_fd_hessian(case):
    res = _model(case).fit(tol=1e-12, maxiter=5000)
    eng, th = res.mixture, res.theta
    H = fd_hessian(eng.objective, th)
    se_ref = np.sqrt(np.diag(np.linalg.inv(-H)))
    se = np.sqrt(np.diag(res.cov_theta))
    np.testing.assert_allclose(se, se_ref, rtol=1e-4)
    # the coefficient block of bse is the same numbers, placed like params
    k, p = res.k, res.model.exog.shape[1]
    np.testing.assert_allclose(res.bse.iloc[:p, :k].to_numpy(), se[: k * p].reshape(k, p).T, rtol=1e-12)
    if eng.K > k:
        assert res.bse.iloc[:, k:].isna().all().all()
    assert not res.bse.iloc[:, :k].isna().any().any()


@pytest.mark.parametrize("case", ["poisson", "groups", "fixed_concomitant", "point_mass"])
def test_score_equals_fd_gradient_off_optimum(case):
    res = _model(case).fit(tol=1e-10)
    eng = res.mixture
    th = res.theta + np.random.default_rng(1).normal(0, 0.05, res.theta.size)
    g = total_score(eng, th)
    h = 1e-6
    ref = np.array([(eng.objective(th + h * e) - eng.objective(th - h * e)) / (2 * h)
                    for e in np.eye(th.size)])
    np.testing.assert_allclose(g, ref, rtol=1e-5, atol=1e-5 * np.max(np.abs(ref)))


@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_k1_bse_equal_statsmodels(family):
    rng, n, x, z, w, X = _data(3, 400)
    fw = rng.integers(1, 4, n)
    if family == "poisson":
        expo = rng.uniform(0.5, 2.0, n)
        y = rng.poisson(expo * np.exp(0.3 + 0.6 * x))
        ref = sm.GLM(y, X, family=FAM.Poisson(), exposure=expo, freq_weights=fw).fit()
        res = EMGLM(y, X, k=1, family=FAM.Poisson(), exposure=expo, weights=fw).fit(tol=1e-12)
    else:
        N = rng.integers(1, 10, n)
        s = rng.binomial(N, 1 / (1 + np.exp(-(0.2 - 0.8 * x))))
        endog = np.column_stack([s, N - s])
        ref = sm.GLM(endog, X, family=FAM.Binomial(), freq_weights=fw).fit()
        res = EMGLM(endog, X, k=1, family=FAM.Binomial(), weights=fw).fit(tol=1e-12)
    np.testing.assert_allclose(res.params["comp1"].to_numpy(), ref.params, rtol=1e-7)
    np.testing.assert_allclose(res.bse["comp1"].to_numpy(), ref.bse, rtol=1e-5)
    np.testing.assert_allclose(res.pvalues["comp1"].to_numpy(), ref.pvalues, rtol=1e-4, atol=1e-12)
    ci = res.conf_int()
    np.testing.assert_allclose(ci.loc["comp1"].to_numpy(), ref.conf_int(), rtol=1e-5)


def test_k1_gaussian_bse_is_mle_scaled_statsmodels():
    # GLM's bse uses scale RSS/(n-p); the observed information at the MLE uses RSS/n
    rng, n, x, z, w, X = _data(4, 300)
    y = 1 + 2 * x + rng.normal(0, 1.5, n)
    ref = sm.GLM(y, X).fit()
    res = EMGLM(y, X, k=1).fit(tol=1e-12)
    p = X.shape[1]
    np.testing.assert_allclose(res.bse["comp1"].to_numpy(), ref.bse * np.sqrt((n - p) / n), rtol=1e-5)
    sig2 = np.mean(ref.resid_response ** 2)
    np.testing.assert_allclose(res.scale["comp1"], sig2, rtol=1e-8)
    # delta method: se(sigma^2) = sigma^2 se(log sigma^2) = sigma^2 sqrt(2/n)
    np.testing.assert_allclose(res.bse_scale["comp1"], sig2 * np.sqrt(2.0 / n), rtol=1e-4)


def test_robust_and_opg_k1_poisson():
    rng, n, x, z, w, X = _data(5, 500)
    y = rng.negative_binomial(2, 2 / (2 + np.exp(0.5 + 0.5 * x)))  # overdispersed
    ref = sm.GLM(y, X, family=FAM.Poisson()).fit(cov_type="HC0")
    res = EMGLM(y, X, k=1, family=FAM.Poisson()).fit(tol=1e-12, cov_type="robust")
    np.testing.assert_allclose(res.bse["comp1"].to_numpy(), ref.bse, rtol=1e-5)
    mu = ref.mu
    opg = (X * ((y - mu) ** 2)[:, None]).T @ X
    res2 = EMGLM(y, X, k=1, family=FAM.Poisson()).fit(tol=1e-12, cov_type="opg")
    np.testing.assert_allclose(res2.cov_theta, np.linalg.inv(opg), rtol=1e-6)
    np.testing.assert_allclose(outer_product(res2.mixture, res2.theta), opg, rtol=1e-8)


def test_grouped_opg_uses_group_scores():
    res = _model("groups").fit(tol=1e-12, cov_type="opg")
    eng = res.mixture
    # reference: per-group score by finite differences of each group's log-likelihood
    from emglm.inference import unit_scores

    S = unit_scores(eng, res.theta)
    assert S.shape == (eng.G, res.theta.size)
    np.testing.assert_allclose(S.sum(axis=0), total_score(eng, res.theta), atol=1e-8)
    np.testing.assert_allclose(res.cov_theta, np.linalg.inv(S.T @ S), rtol=1e-8)


def test_delta_method_proportions_and_scale():
    res = _model("gaussian").fit(tol=1e-12)
    pi = res.proportions.to_numpy()
    lay = res.mixture.layout
    se_g = np.sqrt(res.cov_theta[lay.slices[3], lay.slices[3]][0, 0])
    # two classes: d pi_2 / d gamma = pi_1 pi_2
    np.testing.assert_allclose(res.bse_proportions.to_numpy(), [pi[0] * pi[1] * se_g] * 2, rtol=1e-10)
    se_ls = np.sqrt(np.diag(res.cov_theta)[lay.slices[2]])
    np.testing.assert_allclose(res.bse_scale.to_numpy(), res.scale.to_numpy() * se_ls, rtol=1e-12)
    cp = res.cov_params()
    np.testing.assert_allclose(np.sqrt(cp.loc[("comp1", "scale"), ("comp1", "scale")]),
                               res.bse_scale["comp1"], rtol=1e-12)
    ci = res.conf_int(0.1)
    z = stats.norm.ppf(0.95)
    lo = np.exp(np.log(res.scale["comp2"]) - z * se_ls[1])
    np.testing.assert_allclose(ci.loc[("comp2", "scale"), "lower"], lo, rtol=1e-12)


def test_delta_method_concomitant_proportions_fd():
    res = _model("fixed_concomitant").fit(tol=1e-12)
    eng, lay = res.mixture, res.mixture.layout
    sg = lay.slices[3]

    def props(g):
        th = res.theta.copy()
        th[sg] = g
        return np.exp(eng.log_prior(eng.unpack(th))).mean(axis=0)

    g0 = res.theta[sg]
    J = np.column_stack([(props(g0 + 1e-6 * e) - props(g0 - 1e-6 * e)) / 2e-6 for e in np.eye(g0.size)])
    ref = np.sqrt(np.diag(J @ res.cov_theta[sg, sg] @ J.T))
    np.testing.assert_allclose(res.bse_proportions.to_numpy(), ref, rtol=1e-6)


def test_labels_and_shapes():
    res = _model("fixed_concomitant").fit()
    cp = res.cov_params()
    assert cp.index.names == ["component", "term"]
    assert list(cp.index) == [("comp1", "x0"), ("comp1", "x1"), ("comp2", "x0"), ("comp2", "x1"),
                              ("shared", "w0"), ("mixing", "comp2:z0"), ("mixing", "comp2:z1")]
    assert res.bse.shape == res.params.shape == res.tvalues.shape == res.pvalues.shape
    # shared term: one standard error repeated in every component column
    assert res.bse.loc["w0", "comp1"] == res.bse.loc["w0", "comp2"]
    np.testing.assert_allclose(res.bse.loc["w0", "comp1"], np.sqrt(cp.loc[("shared", "w0"), ("shared", "w0")]))
    ci = res.conf_int()
    assert list(ci.columns) == ["lower", "upper"] and list(ci.index) == list(cp.index)
    np.testing.assert_allclose(np.allclose(cp.to_numpy(), cp.to_numpy().T), True)


def test_cov_type_validation_and_laziness():
    m = _model("poisson")
    with pytest.raises(ValueError, match="cov_type"):
        m.fit(cov_type="hessian")
    res = m.fit()
    assert "_cov" not in res.__dict__  # not computed by fit
    _ = res.bse
    assert "_cov" in res.__dict__
    none = m.fit(cov_type="none")
    assert none.bse.isna().all().all()
    assert np.isfinite(none.params.to_numpy()).all()
    assert "nan" in none.summary().as_text()


def test_degenerate_information_warns():
    from emglm.inference import covariance
    from emglm.warnings import DegenerateComponentWarning

    # two identical components: the mixing logit is not identified, the information singular
    res = _model("poisson").fit()
    eng = res.mixture
    th = res.theta.copy()
    th[2:4] = th[0:2]
    with pytest.warns(DegenerateComponentWarning, match="not positive definite"):
        out = covariance(eng, th, "oim")
    assert out["positive_definite"] is False
    assert np.all(np.isfinite(out["cov"]))


@pytest.mark.slow
def test_monte_carlo_coverage():
    """200 replications of a two-component Poisson regression: 95% intervals cover the truth
    (all coefficients and the mixing logit, pooled) between 92% and 98% of the time."""
    rng = np.random.default_rng(2024)
    n = 500
    truth = np.array([0.2, -0.5, 1.6, 0.5, np.log(0.6 / 0.4)])
    hits = []
    for _ in range(200):
        x = rng.normal(size=n)
        z = rng.random(n) < 0.6
        y = rng.poisson(np.exp(np.where(z, truth[2] + truth[3] * x, truth[0] + truth[1] * x)))
        res = EMGLM(y, np.column_stack([np.ones(n), x]), k=2, family=FAM.Poisson()).fit(tol=1e-10)
        ci = res.conf_int().to_numpy()
        hits.append((ci[:, 0] <= truth) & (truth <= ci[:, 1]))
    hits = np.array(hits)
    cover = hits.mean()
    assert 0.92 <= cover <= 0.98, (cover, hits.mean(axis=0))
    assert np.all(hits.mean(axis=0) >= 0.89), hits.mean(axis=0)
