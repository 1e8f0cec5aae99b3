"""Model structure (issue 4): concomitant variables, grouped data, shared terms, point mass,
shared dispersion; recovered from simulations and checked against the seed's pension MLE."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize, stats

from emglm import EMGLM

FAM = sm.families


def pension():
    return pd.DataFrame({"children": np.arange(7), "widows": [3062, 587, 284, 103, 33, 4, 2]})


def _zip_mle(df):
    """Direct numerical MLE of the zero-inflated Poisson on the pension table (independent)."""
    y, w = df.children.to_numpy(), df.widows.to_numpy()

    def nll(t):
        xi = 1 / (1 + np.exp(-t[0]))
        lam = np.exp(t[1])
        f = (1 - xi) * stats.poisson.pmf(y, lam) + xi * (y == 0)
        return -np.sum(w * np.log(f))

    r = optimize.minimize(nll, [0.4, 0.0], method="BFGS", options={"gtol": 1e-10})
    return 1 / (1 + np.exp(-r.x[0])), np.exp(r.x[1]), -r.fun


def test_pension_point_mass_mle():
    df = pension()
    res = EMGLM.from_formula("children ~ 1", df, k=1, family=FAM.Poisson(), point_mass=0,
                             weights=df.widows).fit(tol=1e-14, accelerate="squarem")
    xi = res.proportions["point_mass"]
    lam = np.exp(res.params.loc["Intercept", "comp1"])
    # the seed's MLE (about 0.61506, 1.03784) and an independent direct maximisation
    assert abs(xi - 0.61506) < 1e-5
    assert abs(lam - 1.03784) < 1e-5
    xi_ref, lam_ref, llf_ref = _zip_mle(df)
    np.testing.assert_allclose([xi, lam], [xi_ref, lam_ref], atol=1e-6)
    np.testing.assert_allclose(res.llf, llf_ref - np.sum(df.widows * 0), rtol=1e-9)
    assert np.isnan(res.params.loc["Intercept", "point_mass"])
    assert list(res.params.columns) == ["comp1", "point_mass"]


def test_zero_inflated_regression_recovered():
    rng = np.random.default_rng(12)
    n = 5000
    x = rng.normal(size=n)
    zero = rng.random(n) < 0.3
    y = np.where(zero, 0, rng.poisson(np.exp(0.5 + 0.5 * x)))
    res = EMGLM.from_formula("y ~ x", pd.DataFrame({"x": x, "y": y}), k=1, family=FAM.Poisson(),
                             point_mass=0).fit()
    np.testing.assert_allclose(res.params["comp1"].to_numpy(), [0.5, 0.5], atol=0.05)
    np.testing.assert_allclose(res.proportions["point_mass"], 0.3, atol=0.02)


def test_concomitant_recovered():
    rng = np.random.default_rng(1)
    n = 6000
    x, zc = rng.normal(size=n), rng.normal(size=n)
    cls = rng.random(n) < 1 / (1 + np.exp(-(0.5 + 1.5 * zc)))
    y = rng.poisson(np.exp(np.where(cls, 2.0 + 0.5 * x, 0.2 - 0.3 * x)))
    df = pd.DataFrame(dict(x=x, zc=zc, y=y))
    res = EMGLM.from_formula("y ~ x", df, k=2, family=FAM.Poisson(), concomitant="~ zc").fit()
    np.testing.assert_allclose(res.params.to_numpy().T, [[0.2, -0.3], [2.0, 0.5]], atol=0.07)
    gamma = res.unpacked.gamma[0]
    np.testing.assert_allclose(gamma, [0.5, 1.5], atol=0.15)
    # prior probabilities vary with zc as the logistic model says
    prior = res.prior[:, 1]
    np.testing.assert_allclose(prior, 1 / (1 + np.exp(-(gamma[0] + gamma[1] * zc))), rtol=1e-10)


def test_fixed_terms_shared_across_components():
    rng = np.random.default_rng(2)
    n = 5000
    x, w = rng.normal(size=n), rng.normal(size=n)
    cls = rng.random(n) < 0.5
    y = rng.poisson(np.exp(np.where(cls, 2.0 + 0.5 * x, 0.2 - 0.3 * x) + 0.4 * w))
    df = pd.DataFrame(dict(x=x, w=w, y=y))
    res = EMGLM.from_formula("y ~ x", df, k=2, family=FAM.Poisson(), fixed="~ w").fit()
    assert res.params.index.tolist() == ["Intercept", "x", "w"]
    assert res.params.loc["w", "comp1"] == res.params.loc["w", "comp2"]
    np.testing.assert_allclose(res.params.loc["w", "comp1"], 0.4, atol=0.04)
    np.testing.assert_allclose(res.params.loc[["Intercept", "x"]].to_numpy().T,
                               [[0.2, -0.3], [2.0, 0.5]], atol=0.07)
    # k = 1 with fixed terms is the ordinary GLM on [X, W]
    r1 = EMGLM.from_formula("y ~ x", df, k=1, family=FAM.Poisson(), fixed="~ w").fit()
    ref = sm.GLM.from_formula("y ~ x + w", df, family=FAM.Poisson()).fit()
    np.testing.assert_allclose(r1.params["comp1"].to_numpy(), ref.params.to_numpy(), rtol=1e-8)


def test_grouped_classes_recovered():
    rng = np.random.default_rng(3)
    G, m = 300, 8
    gid = np.repeat(np.arange(G), m)
    gcls = rng.random(G) < 0.4
    x = rng.normal(size=G * m)
    y = np.where(gcls[gid], 1 + 2 * x, -1 + 0.5 * x) + rng.normal(0, 1.5, G * m)
    df = pd.DataFrame(dict(y=y, x=x, g=gid))
    res = EMGLM.from_formula("y ~ x", df, k=2, groups="g").fit()
    np.testing.assert_allclose(res.params.to_numpy().T, [[-1, 0.5], [1, 2]], atol=0.12)
    np.testing.assert_allclose(res.proportions.to_numpy(), [0.6, 0.4], atol=0.06)
    post = res.posterior.to_numpy()
    # every row of a group has the group's posterior, and classes are recovered per group
    for g in (0, 1, 2):
        assert np.ptp(post[gid == g], axis=0).max() == 0
    assert np.mean((post[::m, 1] > 0.5) == gcls) > 0.95
    assert res.n_groups == G
    # BIC counts groups, not rows
    np.testing.assert_allclose(res.bic, -2 * res.llf + np.log(G) * res.df_model)


def test_grouped_llf_is_sum_over_groups():
    """Independent llf: sum_g log sum_j pi_j prod_i f_ij, computed directly."""
    rng = np.random.default_rng(4)
    G, m = 60, 5
    gid = np.repeat(np.arange(G), m)
    x = rng.normal(size=G * m)
    y = rng.poisson(np.exp(np.where(np.repeat(rng.random(G) < 0.5, m), 1.5, 0.2) + 0.3 * x))
    df = pd.DataFrame(dict(y=y, x=x, g=gid))
    res = EMGLM.from_formula("y ~ x", df, k=2, family=FAM.Poisson(), groups="g").fit()
    mu = np.exp(res.model.exog @ res.params.to_numpy())
    logf = stats.poisson.logpmf(y[:, None], mu)
    lg = np.stack([np.bincount(gid, weights=logf[:, j]) for j in range(2)], axis=1)
    ref = np.sum(np.log(np.exp(lg) @ res.proportions.to_numpy()))
    np.testing.assert_allclose(res.llf, ref, rtol=1e-10)


def test_shared_scale_gaussian():
    rng = np.random.default_rng(5)
    n = 4000
    x = rng.normal(size=n)
    cls = rng.random(n) < 0.5
    y = np.where(cls, 3 + x, -2 - x) + rng.normal(0, 0.8, n)
    df = pd.DataFrame(dict(y=y, x=x))
    res = EMGLM.from_formula("y ~ x", df, k=2, scale="shared").fit()
    assert res.scale.iloc[0] == res.scale.iloc[1]
    np.testing.assert_allclose(res.scale.iloc[0], 0.64, rtol=0.06)
    own = EMGLM.from_formula("y ~ x", df, k=2).fit()
    assert res.df_model == own.df_model - 1
    assert own.llf >= res.llf - 1e-8


def test_features_combine():
    """Concomitant + groups + fixed + point mass in one fit: finite, ascending, sensible."""
    rng = np.random.default_rng(6)
    G, m = 200, 6
    gid = np.repeat(np.arange(G), m)
    zg = rng.normal(size=G)
    cls = rng.random(G) < 1 / (1 + np.exp(-zg))
    x, w = rng.normal(size=G * m), rng.normal(size=G * m)
    lam = np.exp(np.where(cls[gid], 1.8, 0.3) + 0.3 * x + 0.2 * w)
    y = np.where(rng.random(G * m) < 0.15, 0, rng.poisson(lam))
    df = pd.DataFrame(dict(y=y, x=x, w=w, g=gid, z=zg[gid]))
    res = EMGLM.from_formula("y ~ x", df, k=2, family=FAM.Poisson(), concomitant="~ z",
                             groups="g", fixed="~ w", point_mass=0).fit(accelerate="squarem")
    assert np.isfinite(res.llf)
    assert np.all(np.diff(res.llf_history) >= -1e-8 * abs(res.llf))
    np.testing.assert_allclose(res.params.loc["x", ["comp1", "comp2"]], 0.3, atol=0.1)
    assert res.params.shape == (3, 3)


def test_concomitant_must_be_constant_within_groups():
    df = pd.DataFrame(dict(y=[1.0, 2, 3, 4], x=[0.0, 1, 0, 1], g=[0, 0, 1, 1], z=[0.0, 1, 0, 0]))
    with pytest.raises(ValueError, match="concomitant"):
        EMGLM.from_formula("y ~ x", df, k=2, groups="g", concomitant="~ z")
