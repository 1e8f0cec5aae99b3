"""Core behaviour (issue 2): k = 1 equals statsmodels GLM, EM ascent, recovery of simulated
mixtures, the seed's equal-priors fixed point, formula front-end and starts."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import optimize

from emglm import EMGLM

FAM = sm.families


def _ml_scale_llf(family, y, mu):
    """Reference llf at the ML dispersion, maximised numerically over statsmodels loglike."""
    res = optimize.minimize_scalar(lambda ls: -family.loglike(y, mu, scale=np.exp(ls)),
                                   bounds=(-20, 10), method="bounded", options={"xatol": 1e-10})
    return -res.fun, np.exp(res.x)


def _one_component_data(name, rng, n=400):
    x = rng.normal(size=n)
    X = sm.add_constant(np.column_stack([x, rng.uniform(size=n)]))
    if name == "gaussian":
        return FAM.Gaussian(), 1 + 2 * x + rng.normal(size=n), X
    if name == "poisson":
        return FAM.Poisson(), rng.poisson(np.exp(0.5 + 0.3 * x)), X
    if name == "binomial":
        return FAM.Binomial(), rng.binomial(1, 1 / (1 + np.exp(-0.5 - x))), X
    if name == "gamma":
        return FAM.Gamma(FAM.links.Log()), rng.gamma(2.0, np.exp(0.5 + 0.3 * x) / 2.0), X
    if name == "gamma_canonical":
        return FAM.Gamma(), rng.gamma(3.0, 1.0 / (1.0 + 0.2 * np.abs(x)) / 3.0), X
    if name == "negbin":
        mu = np.exp(1.0 + 0.4 * x)
        return FAM.NegativeBinomial(alpha=0.5), rng.negative_binomial(2, 2 / (2 + mu)), X
    if name == "invgauss":
        return FAM.InverseGaussian(FAM.links.Log()), rng.wald(np.exp(0.3 + 0.2 * x), 5.0), X
    raise KeyError(name)


@pytest.mark.parametrize("name", ["gaussian", "poisson", "binomial", "gamma", "gamma_canonical",
                                  "negbin", "invgauss"])
def test_k1_equals_statsmodels(name):
    rng = np.random.default_rng(11)
    family, y, X = _one_component_data(name, rng)
    ref = sm.GLM(y, X, family=family).fit(tol=1e-12)
    res = EMGLM(y, X, k=1, family=family).fit()
    np.testing.assert_allclose(res.params["comp1"].to_numpy(), ref.params, rtol=1e-6, atol=1e-8)
    if name in ("gaussian", "gamma", "gamma_canonical", "invgauss"):
        llf_ref, scale_ref = _ml_scale_llf(family, y, ref.mu)
        np.testing.assert_allclose(res.scale.iloc[0], scale_ref, rtol=1e-6)
        np.testing.assert_allclose(res.llf, llf_ref, rtol=1e-9)
    else:
        np.testing.assert_allclose(res.llf, ref.llf, rtol=1e-10)
    assert res.converged
    assert res.proportions.iloc[0] == 1.0


def test_k1_binomial_two_column_formula_and_weights():
    rng = np.random.default_rng(5)
    n = 300
    df = pd.DataFrame({"x": rng.normal(size=n), "trials": rng.integers(1, 12, n)})
    df["succ"] = rng.binomial(df.trials, 1 / (1 + np.exp(-0.3 - 0.8 * df.x)))
    df["fail"] = df.trials - df.succ
    df["w"] = rng.integers(1, 4, n).astype(float)
    ref = sm.GLM.from_formula("succ + fail ~ x", df, family=FAM.Binomial(), freq_weights=df.w).fit()
    res = EMGLM.from_formula("succ + fail ~ x", df, k=1, family=FAM.Binomial(), weights=df.w).fit()
    np.testing.assert_allclose(res.params["comp1"].to_numpy(), ref.params.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(res.llf, ref.llf, rtol=1e-10)
    assert res.params.index.tolist() == ["Intercept", "x"]
    assert res.nobs == df.w.sum()


def test_k1_offset_and_exposure_poisson():
    rng = np.random.default_rng(2)
    n = 300
    x = rng.normal(size=n)
    expo = rng.uniform(0.5, 3.0, n)
    off = rng.normal(0, 0.2, n)
    y = rng.poisson(expo * np.exp(off + 0.2 + 0.5 * x))
    X = sm.add_constant(x)
    ref = sm.GLM(y, X, family=FAM.Poisson(), exposure=expo, offset=off).fit()
    res = EMGLM(y, X, k=1, family=FAM.Poisson(), exposure=expo, offset=off).fit()
    np.testing.assert_allclose(res.params["comp1"].to_numpy(), ref.params, rtol=1e-8)
    np.testing.assert_allclose(res.llf, ref.llf, rtol=1e-10)


def _simulate_poisson(rng, n, B, pi):
    x = rng.normal(size=n)
    z = rng.choice(len(pi), size=n, p=pi)
    y = rng.poisson(np.exp(B[z, 0] + B[z, 1] * x))
    return pd.DataFrame({"x": x, "y": y}), z


def test_recover_poisson_k3():
    rng = np.random.default_rng(20)
    B = np.array([[0.0, 1.0], [1.5, -0.5], [2.5, 0.3]])
    pi = np.array([0.3, 0.3, 0.4])
    df, _ = _simulate_poisson(rng, 6000, B, pi)
    res = EMGLM.from_formula("y ~ x", df, k=3, family=FAM.Poisson()).fit(accelerate="squarem")
    assert res.converged
    # rough standard errors from the complete-data information: n*pi rows per component
    np.testing.assert_allclose(res.params.to_numpy().T, B, atol=0.08)
    np.testing.assert_allclose(res.proportions.to_numpy(), pi, atol=0.03)
    assert np.all(np.diff(res.llf_history) >= -1e-9 * abs(res.llf))


def test_recover_gaussian_k2_with_scales():
    rng = np.random.default_rng(3)
    n = 4000
    x = rng.uniform(-2, 2, n)
    z = rng.random(n) < 0.35
    y = np.where(z, 3 + 1.5 * x + rng.normal(0, 0.5, n), -1 - x + rng.normal(0, 1.0, n))
    df = pd.DataFrame({"x": x, "y": y})
    res = EMGLM.from_formula("y ~ x", df, k=2).fit()
    np.testing.assert_allclose(res.params.to_numpy().T, [[-1, -1], [3, 1.5]], atol=0.08)
    np.testing.assert_allclose(res.scale.to_numpy(), [1.0, 0.25], rtol=0.1)
    np.testing.assert_allclose(res.proportions.to_numpy(), [0.65, 0.35], atol=0.03)


def test_recover_binomial_trials_k2():
    rng = np.random.default_rng(8)
    n = 3000
    x = rng.normal(size=n)
    m = rng.integers(5, 30, n)
    z = rng.random(n) < 0.5
    eta = np.where(z, 1.0 + 1.0 * x, -1.5 - 0.5 * x)
    s = rng.binomial(m, 1 / (1 + np.exp(-eta)))
    df = pd.DataFrame({"s": s, "f": m - s, "x": x})
    res = EMGLM.from_formula("s + f ~ x", df, k=2, family=FAM.Binomial()).fit()
    np.testing.assert_allclose(res.params.to_numpy().T, [[-1.5, -0.5], [1.0, 1.0]], atol=0.08)


def test_equal_mixing_fixed_point_is_seed_estep():
    """mixing='equal': at the fixed point, T_ij = f_ij / sum_l f_il (no proportions)."""
    rng = np.random.default_rng(4)
    df, _ = _simulate_poisson(rng, 1500, np.array([[0.2, 0.8], [2.0, -0.3]]), np.array([0.2, 0.8]))
    model = EMGLM.from_formula("y ~ x", df, k=2, family=FAM.Poisson(), mixing="equal")
    res = model.fit(tol=1e-12)
    assert res.df_model == 4  # no mixing parameters
    np.testing.assert_allclose(res.proportions.to_numpy(), [0.5, 0.5])
    mu = np.exp(model.exog @ res.params.to_numpy())
    f = np.exp(-mu) * mu ** df.y.to_numpy()[:, None]  # y! cancels in the ratio
    T = f / f.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(res.posterior.to_numpy(), T, rtol=1e-8, atol=1e-12)
    # and the parameters are a fixed point: each component is the weighted GLM fit with T
    for j in range(2):
        ref = sm.GLM(df.y, model.exog, family=FAM.Poisson(), freq_weights=T[:, j]).fit(tol=1e-12)
        np.testing.assert_allclose(res.params.iloc[:, j], ref.params, rtol=1e-5)


def test_llf_pooled_matches_seed_formula():
    rng = np.random.default_rng(6)
    df, _ = _simulate_poisson(rng, 800, np.array([[0.0, 1.0], [1.8, -0.4]]), np.array([0.5, 0.5]))
    res = EMGLM.from_formula("y ~ x", df, k=2, family=FAM.Poisson()).fit()
    X = res.model.exog
    eta = (res.posterior.to_numpy() * (X @ res.params.to_numpy())).sum(axis=1)
    ref = FAM.Poisson().loglike_obs(df.y.to_numpy(), np.exp(eta)).sum()
    np.testing.assert_allclose(res.llf_pooled, ref, rtol=1e-10)
    np.testing.assert_allclose(res.fittedvalues.to_numpy(), np.exp(eta), rtol=1e-10)


def test_starts_deterministic_and_best_of_several():
    rng = np.random.default_rng(7)
    df, _ = _simulate_poisson(rng, 1000, np.array([[0.0, 1.0], [1.8, -0.4]]), np.array([0.5, 0.5]))
    m = EMGLM.from_formula("y ~ x", df, k=2, family=FAM.Poisson())
    a, b = m.fit(), m.fit()
    assert a.llf == b.llf
    c = m.fit(start="random", n_starts=4, random_state=1)
    d = m.fit(start="random", n_starts=4, random_state=1)
    np.testing.assert_array_equal(c.params.to_numpy(), d.params.to_numpy())
    assert c.llf >= a.llf - 1e-6 * abs(a.llf)
    # label and posterior starts
    labels = (df.y.to_numpy() > np.median(df.y)).astype(int)
    e = m.fit(start=labels)
    f = m.fit(start=np.eye(2)[labels])
    np.testing.assert_allclose(e.llf, f.llf, rtol=1e-10)
    g = m.fit(start_params=a.params)
    np.testing.assert_allclose(g.llf, a.llf, rtol=1e-7)


def test_component_order_is_deterministic():
    rng = np.random.default_rng(9)
    df, _ = _simulate_poisson(rng, 1500, np.array([[0.0, 1.0], [1.8, -0.4]]), np.array([0.5, 0.5]))
    m = EMGLM.from_formula("y ~ x", df, k=2, family=FAM.Poisson())
    labels = (df.y.to_numpy() > np.median(df.y)).astype(int)
    a = m.fit(start=labels, tol=1e-12)
    b = m.fit(start=1 - labels, tol=1e-12)
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a.posterior.to_numpy(), b.posterior.to_numpy(), atol=1e-5)


@pytest.mark.filterwarnings("ignore::emglm.ConvergenceWarning")
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), fam=st.sampled_from(["gaussian", "poisson", "binomial", "gamma"]),
       k=st.integers(2, 3), accel=st.sampled_from([None, "squarem"]))
def test_llf_never_decreases(seed, fam, k, accel):
    rng = np.random.default_rng(seed)
    family, y, X = _one_component_data(fam, rng, n=150)
    res = EMGLM(y, X, k=k, family=family).fit(start="random", random_state=seed, maxiter=200,
                                               accelerate=accel)
    h = res.llf_history
    assert np.all(np.isfinite(h))
    assert np.all(np.diff(h) >= -1e-8 * (np.abs(h[:-1]) + 1))
    post = res.posterior.to_numpy()
    np.testing.assert_allclose(post.sum(axis=1), 1.0)
