"""Predictions (issues 3 and 18): the pooled (posterior-weighted) mean computed by hand, marginal
means, posteriors and classes on new data, formulas re-applied to new frames (categorical
subsets, transforms); the response is read only when passed explicitly."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import special, stats

from emglm import EMGLM

FAM = sm.families


@pytest.fixture(scope="module")
def pois():
    rng = np.random.default_rng(0)
    n = 900
    df = pd.DataFrame({"x": rng.uniform(0.5, 3.0, n), "g": rng.choice(["a", "b", "c"], n),
                       "w": rng.normal(size=n), "t": rng.uniform(0.5, 2.0, n)})
    p2 = special.expit(-0.3 + 0.8 * df.w)
    z = rng.random(n) < p2
    eta = np.where(z, 1.5 + 0.4 * np.log(df.x), 0.1 - 0.6 * np.log(df.x)) + 0.3 * (df.g == "b")
    df["y"] = rng.poisson(df.t * np.exp(eta))
    res = EMGLM.from_formula("y ~ np.log(x) + g", df, k=2, family=FAM.Poisson(), concomitant="~ w",
                             exposure="t").fit(tol=1e-10)
    return df, res


def _design(df):
    return np.column_stack([np.ones(len(df)), (df.g == "b").astype(float), (df.g == "c").astype(float),
                            np.log(df.x)])


def _prior(res, df):
    gam = res.cov_params().loc["mixing"].index  # labels only
    assert list(gam) == ["comp2:Intercept", "comp2:w"]
    P = res.unpacked
    e = P.gamma[0, 0] + P.gamma[0, 1] * df.w.to_numpy()
    p2 = special.expit(e)
    return np.column_stack([1 - p2, p2])


def test_pooled_training_equals_seed_formula(pois):
    df, res = pois
    B = res.params.to_numpy()
    assert list(res.params.index) == ["Intercept", "g[T.b]", "g[T.c]", "np.log(x)"]
    Eta = _design(df) @ B + np.log(df.t.to_numpy())[:, None]
    T = res.posterior.to_numpy()
    mu = np.exp(np.sum(T * Eta, axis=1))  # mu = g^-1(sum_j T_ij eta_ij)
    np.testing.assert_allclose(res.predict(which="pooled"), mu, rtol=1e-12)
    np.testing.assert_allclose(res.fittedvalues, mu, rtol=1e-12)
    np.testing.assert_allclose(res.predict(which="linear"), np.log(mu), rtol=1e-12)
    # the same frame passed as new data with its response given explicitly, exposure again
    np.testing.assert_allclose(res.predict(df, which="pooled", exposure="t", endog="y"), mu, rtol=1e-9)
    np.testing.assert_allclose(res.predict(df, which="posterior", exposure=df.t, endog=df), T, rtol=1e-9,
                               atol=1e-12)
    # the default on the training rows is the marginal mean sum_j pi_ij mu_ij
    np.testing.assert_allclose(res.predict(), np.sum(_prior(res, df) * np.exp(Eta), axis=1), rtol=1e-12)


def test_new_frame_without_response_uses_prior(pois):
    df, res = pois
    new = pd.DataFrame({"x": [0.7, 1.0, 2.5, 2.0], "g": ["a", "a", "c", "a"], "w": [0.0, 1.0, -1.0, 2.0]})
    B = res.params.to_numpy()
    Eta = _design(new) @ B
    pi = _prior(res, new)
    np.testing.assert_allclose(res.predict(new), np.sum(pi * np.exp(Eta), axis=1), rtol=1e-12)
    np.testing.assert_allclose(res.predict(new, which="mean"), np.sum(pi * np.exp(Eta), axis=1), rtol=1e-12)
    np.testing.assert_allclose(res.predict(new, which="prior"), pi, rtol=1e-12)
    comp = res.predict(new, which="components")
    assert list(comp.columns) == ["comp1", "comp2"] and comp.index.equals(new.index)
    np.testing.assert_allclose(comp, np.exp(Eta), rtol=1e-12)
    cls = res.predict(new, which="class")
    assert list(cls.cat.categories) == ["comp1", "comp2"]
    assert list(cls) == [res.component_names[j] for j in np.argmax(pi, axis=1)]
    # exposure on new data multiplies every component mean
    np.testing.assert_allclose(res.predict(new, which="components", exposure=np.full(4, 2.0)), 2 * np.exp(Eta),
                               rtol=1e-12)
    for which in ("posterior", "pooled", "linear"):
        with pytest.raises(ValueError, match="endog="):
            res.predict(new, which=which)


def test_subset_of_categorical_levels_and_index(pois):
    df, res = pois
    sub = df[df.g == "c"].iloc[:7].copy()
    sub.index = [f"r{i}" for i in range(7)]
    out = res.predict(sub.drop(columns="y"), which="components")
    assert out.index.tolist() == list(sub.index)
    np.testing.assert_allclose(out, np.exp(_design(sub) @ res.params.to_numpy()), rtol=1e-12)
    one = res.predict(pd.DataFrame({"x": [1.0], "g": ["b"], "w": [0.5]}))
    assert one.shape == (1,)
    with pytest.raises(ValueError, match="exog"):
        res.predict(pd.DataFrame({"x": [1.0], "g": ["zzz"], "w": [0.0]}))
    with pytest.raises(ValueError, match="which"):
        res.predict(which="median")


def test_posterior_on_new_rows_matches_bayes_rule(pois):
    df, res = pois
    new = df.iloc[:5]
    Eta = _design(new) @ res.params.to_numpy() + np.log(new.t.to_numpy())[:, None]
    f = stats.poisson.pmf(new.y.to_numpy()[:, None], np.exp(Eta))
    num = _prior(res, new) * f
    post = num / num.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(res.predict(new, which="posterior", exposure="t", endog=new.y), post, rtol=1e-9)
    np.testing.assert_allclose(res.predict(new, which="pooled", exposure="t", endog=new.y.to_numpy()),
                               np.exp(np.sum(post * Eta, axis=1)), rtol=1e-9)


def test_array_model_predict_and_errors():
    rng = np.random.default_rng(3)
    n = 500
    x = rng.normal(size=n)
    u = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    z = rng.random(n) < 0.5
    y = np.where(z, 2 + x, -1 - x) + 0.5 * u + rng.normal(0, 0.5, n)
    res = EMGLM(y, X, k=2, fixed=u[:, None]).fit()
    Xn = np.array([[1.0, 0.5], [1.0, -1.0]])
    un = np.array([0.2, -0.3])
    B = res.params.to_numpy()
    Eta = Xn @ B[:2] + (un * B[2, 0])[:, None]
    pi = res.proportions.to_numpy()
    np.testing.assert_allclose(res.predict(Xn, fixed=un), np.sum(pi * Eta, axis=1), rtol=1e-12)
    np.testing.assert_allclose(res.predict(Xn, which="pooled", fixed=un, endog=np.array([2.3, 0.1])),
                               np.sum(stats.norm.pdf(np.array([2.3, 0.1])[:, None], Eta, np.sqrt(res.scale.to_numpy()))
                                      * pi / (stats.norm.pdf(np.array([2.3, 0.1])[:, None], Eta,
                                                             np.sqrt(res.scale.to_numpy())) * pi).sum(1, keepdims=True)
                                      * Eta, axis=1), rtol=1e-9)
    np.testing.assert_allclose(res.predict(Xn, which="mean", fixed=un), np.sum(pi * Eta, axis=1), rtol=1e-12)
    # with the response: Gaussian posterior
    yn = np.array([2.3, 0.1])
    f = stats.norm.pdf(yn[:, None], Eta, np.sqrt(res.scale.to_numpy()))
    post = pi * f / (pi * f).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(res.predict(Xn, which="posterior", fixed=un, endog=yn), post, rtol=1e-9)
    with pytest.raises(ValueError, match="fixed"):
        res.predict(Xn)
    with pytest.raises(ValueError, match="exog"):
        res.predict(np.ones((2, 3)), fixed=un)


def test_point_mass_mean_and_grouped_posterior():
    rng = np.random.default_rng(4)
    n = 600
    x = rng.normal(size=n)
    y = np.where(rng.random(n) < 0.3, 0, rng.poisson(np.exp(0.8 + 0.4 * x)))
    df = pd.DataFrame({"x": x, "y": y})
    res = EMGLM.from_formula("y ~ x", df, k=1, family=FAM.Poisson(), point_mass=0).fit()
    pi = res.proportions.to_numpy()
    mu = np.exp(res.params.loc["Intercept", "comp1"] + res.params.loc["x", "comp1"] * df.x)
    np.testing.assert_allclose(res.predict(which="mean"), pi[0] * mu, rtol=1e-12)
    # a point mass has no linear predictor: pooling runs over the GLM component only
    np.testing.assert_allclose(res.predict(df.drop(columns="y")), pi[0] * mu, rtol=1e-12)
    post = res.predict(which="posterior")
    assert list(post.columns) == ["comp1", "point_mass"]
    assert np.all(post.loc[df.y > 0, "point_mass"] == 0)
    # grouped: posterior on the training frame with groups equals the fit's posterior
    g = np.repeat(np.arange(150), 4)
    zg = (rng.random(150) < 0.5)[g]
    df2 = pd.DataFrame({"x": x, "g": g, "y": rng.poisson(np.exp(np.where(zg, 1.5 + 0.3 * x, 0.1 - 0.3 * x)))})
    rg = EMGLM.from_formula("y ~ x", df2, k=2, family=FAM.Poisson(), groups="g").fit()
    np.testing.assert_allclose(rg.predict(df2, which="posterior", groups="g", endog="y"), rg.posterior, rtol=1e-8,
                               atol=1e-12)
    np.testing.assert_array_equal(rg.predict(df2, which="class", groups="g", endog="y"),
                                  rg.predict(which="class"))


# ---------------------------------------------------------------- issue 18: honest predictions
def _holdout_problem():
    rng = np.random.default_rng(18)
    n = 1200
    x = rng.uniform(-1, 1, n)
    z = rng.random(n) < 0.5
    y = np.where(z, 3 + 2 * x, -3 - 2 * x) + rng.normal(0, 1, n)
    df = pd.DataFrame({"x": x, "y": y})
    return df.iloc[:800], df.iloc[800:].reset_index(drop=True)


def test_predict_never_reads_the_response_of_a_frame():
    train, hold = _holdout_problem()
    res = EMGLM.from_formula("y ~ x", train, k=2).fit(random_state=0)
    without = res.predict(hold.drop(columns="y"))
    with_y = res.predict(hold)
    pd.testing.assert_series_equal(without, with_y)
    # and it is the marginal mean, computed by hand from params and proportions
    X = np.column_stack([np.ones(len(hold)), hold.x])
    mu = X @ res.params.to_numpy()
    np.testing.assert_allclose(with_y, mu @ res.proportions.to_numpy(), rtol=1e-10, atol=1e-12)
    # a missing response changes nothing either (it used to switch every row to the prior)
    holed = hold.copy()
    holed.loc[3, "y"] = np.nan
    pd.testing.assert_series_equal(res.predict(holed), with_y)


def test_holdout_mse_is_honest():
    """Hold-out MSE of the default prediction equals the MSE of the true marginal mean up to
    sampling error; the posterior-pooled one, which has seen y, is far smaller."""
    train, hold = _holdout_problem()
    res = EMGLM.from_formula("y ~ x", train, k=2).fit(random_state=0)
    mse = float(np.mean((hold.y - res.predict(hold)) ** 2))
    # truth: E(y|x) = 0.5 (3 + 2x) + 0.5 (-3 - 2x) = 0, Var(y|x) = 1 + (3 + 2x)^2
    true_mse = float(np.mean(1 + (3 + 2 * hold.x) ** 2))
    assert abs(mse - true_mse) / true_mse < 0.15
    pooled = res.predict(hold, which="pooled", endog=hold)
    mse_pooled = float(np.mean((hold.y - pooled) ** 2))
    assert mse_pooled < 0.2 * mse  # optimistic: it used y


def test_endog_with_missing_values_names_it():
    train, hold = _holdout_problem()
    res = EMGLM.from_formula("y ~ x", train, k=2).fit(random_state=0)
    y = hold.y.to_numpy().copy()
    y[0] = np.nan
    with pytest.raises(ValueError, match="endog: 1 row"):
        res.predict(hold, which="posterior", endog=y)
