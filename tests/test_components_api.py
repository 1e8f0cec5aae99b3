"""emglm.components through the public API: errors before any work, extra columns and
categorical responses from formulas, predictions, quantile residuals and summaries.

References: statsmodels' own predictions (OrderedModel, MNLogit, TruncatedLFPoisson,
BetaModel) and scipy.stats distribution functions.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from emglm import EMGLM
from emglm.components import (Beta, LogNormal, MNLogit, OrderedLogit, OrderedProbit, Tobit,
                              TruncatedNegativeBinomial, TruncatedPoisson, Weibull)
from emglm.warnings import DroppedRowsWarning

X3 = np.column_stack([np.ones(3), [0.1, 0.5, 0.9]])


# ---------------------------------------------------------------------- errors before work
@pytest.mark.parametrize("y, family, match", [
    (np.array([0.0, 1.5, 2.0]), OrderedLogit(), "whole numbers"),
    (np.array([0.0, -1.0, 2.0]), OrderedProbit(), "negative"),
    (np.array([0.0, 2.0, 2.0]), MNLogit(), r"\['1'\] never observed"),
    (np.array([0.2, 1.0, 0.5]), Beta(), r"strictly between 0 and 1.*\(y \* \(n - 1\) \+ 0.5\) / n"),
    (np.array([1.0, 0.0, 2.0]), Weibull(), "survival times must be positive"),
    (np.array([1.0, 2.0, 3.0]), TruncatedPoisson(truncation=1), "at or below the truncation point 1"),
    (np.array([1.0, 2.5, 3.0]), TruncatedNegativeBinomial(), "whole numbers"),
    (np.array([-0.5, 1.0, 2.0]), Tobit(lower=0), "below the lower bound"),
    (np.array([0.0, 0.5, 0.5]), Tobit(lower=0, upper=0.5), "every row is censored"),
])
def test_bad_response_is_refused_at_construction(y, family, match):
    with pytest.raises(ValueError, match=match):
        EMGLM(y, X3, k=1, family=family)


def test_bad_status_and_bounds_are_refused():
    t = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"status: must be 1 \(event\) or 0"):
        EMGLM(t, X3, k=1, family=LogNormal(status=np.array([1, 2, 0])))
    with pytest.raises(ValueError, match="status: no events"):
        EMGLM(t, X3, k=1, family=Weibull(status=np.zeros(3)))
    with pytest.raises(ValueError, match="lower .* must be below upper"):
        Tobit(lower=1.0, upper=0.0)
    with pytest.raises(ValueError, match="truncation must be a non-negative integer"):
        TruncatedPoisson(truncation=-1)
    df = pd.DataFrame({"t": t, "x": [0.0, 1.0, 2.0]})
    with pytest.raises(KeyError, match="status: column 'died' not found"):
        EMGLM.from_formula("t ~ x", df, k=1, family=Weibull(status="died"))
    with pytest.raises(ValueError, match="offset/exposure: the multinomial logit .* takes no offset"):
        EMGLM(np.array([0, 1, 2]), X3, k=1, family=MNLogit(), offset=np.ones(3)).fit()
    with pytest.raises(ValueError, match="status must have length 3"):
        EMGLM.from_formula("t ~ x", df, k=1, family=Weibull(status=np.ones(2)))


def test_unordered_categories_are_refused_by_ordinal_models():
    y = pd.Series(pd.Categorical(["a", "b", "a"]))
    with pytest.raises(ValueError, match="OrderedLogit needs ordered categories"):
        EMGLM(y, X3[:, 1:], k=1, family=OrderedLogit())


def test_missing_status_drops_the_row_with_the_others():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"t": rng.exponential(size=60), "x": rng.normal(size=60),
                       "died": rng.integers(0, 2, 60).astype(float)})
    df.loc[[3, 7], "died"] = np.nan
    df.loc[10, "x"] = np.nan
    with pytest.warns(DroppedRowsWarning):
        m = EMGLM.from_formula("t ~ x", df, k=1, family=Weibull(status="died"))
    keep = df.dropna().index
    assert list(m.row_index) == list(keep)
    np.testing.assert_array_equal(m.extra["status"], df.loc[keep, "died"].to_numpy())
    assert df["died"].isna().sum() == 2  # the user's frame is untouched


# ---------------------------------------------------------------------- categorical responses
def test_string_response_from_formula_names_the_levels():
    rng = np.random.default_rng(1)
    n = 600
    df = pd.DataFrame({"x": rng.normal(size=n)})
    eta = np.column_stack([np.zeros(n), 0.5 + df.x, -0.5 - df.x])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    df["brand"] = np.array(["apple", "kiwi", "pear"])[(rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)]
    res = EMGLM.from_formula("brand ~ x", df, k=1, family=MNLogit()).fit(tol=1e-12)
    assert list(res.params.index) == ["Intercept[kiwi]", "x[kiwi]", "Intercept[pear]", "x[pear]"]
    ref = sm.MNLogit(pd.Categorical(df.brand).codes, sm.add_constant(df.x)).fit(disp=False)
    np.testing.assert_allclose(res.params["comp1"], np.asarray(ref.params).T.ravel(), atol=1e-4)
    prob = res.predict(df.head(5), which="prob")
    assert list(prob.columns) == ["apple", "kiwi", "pear"]
    np.testing.assert_allclose(prob.to_numpy(), ref.predict(sm.add_constant(df.x).head(5)), atol=1e-5)
    assert res.model.endog_name == "brand"


def test_ordered_probabilities_equal_statsmodels_predictions():
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    rng = np.random.default_rng(2)
    n = 500
    x = rng.normal(size=n)
    y = np.digitize(x + rng.normal(size=n), [-0.5, 0.5, 1.5])
    res = EMGLM(y, x[:, None], k=1, family=OrderedProbit()).fit(tol=1e-12)
    ref = OrderedModel(y, x[:, None], distr="probit").fit(method="newton", disp=False)
    new = np.array([[-1.0], [0.0], [2.0]])
    np.testing.assert_allclose(res.predict(new, which="prob").to_numpy(), ref.predict(new), atol=1e-5)
    np.testing.assert_allclose(res.predict(new), ref.predict(new) @ np.arange(4), atol=1e-4)
    # randomized quantile residuals fall between F(y-) and F(y) of the fitted distribution
    u = stats.norm.cdf(res.resid_quantile(random_state=0).to_numpy())
    cum = np.cumsum(ref.predict(x[:, None]), axis=1)
    upper = cum[np.arange(n), y]
    lower = np.where(y > 0, cum[np.arange(n), np.maximum(y - 1, 0)], 0.0)
    assert np.all(u <= upper + 1e-6) and np.all(u >= lower - 1e-6)


# ---------------------------------------------------------------------- means and residuals
def test_truncated_poisson_mean_equals_statsmodels():
    from statsmodels.discrete.truncated_model import TruncatedLFPoisson

    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, 1500)
    y = rng.poisson(np.exp(0.5 + x))
    keep = y > 0
    X = sm.add_constant(x[keep])
    res = EMGLM(y[keep], X, k=1, family=TruncatedPoisson()).fit(tol=1e-12)
    ref = TruncatedLFPoisson(y[keep], X).fit(method="newton", disp=False)
    new = sm.add_constant(np.array([-0.5, 0.0, 0.8]))
    np.testing.assert_allclose(res.predict(new), ref.predict(new, which="mean"), rtol=1e-5)


def test_beta_mean_and_quantile_residuals():
    rng = np.random.default_rng(4)
    x = rng.normal(size=800)
    mu = 1 / (1 + np.exp(-(0.3 + 0.6 * x)))
    y = rng.beta(mu * 12, (1 - mu) * 12)
    X = sm.add_constant(x)
    res = EMGLM(y, X, k=1, family=Beta()).fit(tol=1e-12)
    b0, b1, lp = res.params["comp1"]
    m = 1 / (1 + np.exp(-(b0 + b1 * x)))
    np.testing.assert_allclose(res.predict(), m, rtol=1e-10)
    phi = np.exp(lp)
    expected = stats.norm.ppf(stats.beta.cdf(y, m * phi, (1 - m) * phi))
    np.testing.assert_allclose(res.resid_quantile().to_numpy(), expected, atol=1e-8)


def test_weibull_mixture_mean_is_prior_weighted_component_means():
    rng = np.random.default_rng(5)
    n = 800
    x = rng.uniform(-1, 1, n)
    z = rng.random(n) < 0.5
    t = np.exp(np.where(z, 0.5 + x, 2.5 - 0.5 * x) + 0.4 * np.log(rng.exponential(size=n)))
    X = sm.add_constant(x)
    res = EMGLM(t, X, k=2, family=Weibull()).fit()
    comp = res.predict(X[:4], which="components").to_numpy()
    for j, c in enumerate(["comp1", "comp2"]):
        b0, b1, ls = res.params[c]
        ref = stats.weibull_min(c=np.exp(-ls), scale=np.exp(b0 + b1 * X[:4, 1])).mean()
        np.testing.assert_allclose(comp[:, j], ref, rtol=1e-8)
    prior = res.predict(X[:4], which="prior").to_numpy()
    np.testing.assert_allclose(res.predict(X[:4]), (prior * comp).sum(axis=1), rtol=1e-12)
    text = res.summary().as_text()
    assert "Finite mixture of Weibull components" in text and "log_sigma" in text


def test_mnlogit_has_no_mean_but_probabilities():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 3, 200)
    res = EMGLM(y, np.ones((200, 1)), k=1, family=MNLogit()).fit()
    with pytest.raises(ValueError, match="no mean; use which='prob'"):
        res.predict()
    np.testing.assert_allclose(res.predict(which="prob").iloc[0], np.bincount(y) / 200, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="which must be one of"):
            res.predict(which="pooled")


def _u(res):
    return stats.norm.cdf(res.resid_quantile(random_state=1).to_numpy())


def test_quantile_residuals_of_truncated_censored_and_survival_rows():
    rng = np.random.default_rng(7)
    n = 600
    x = rng.uniform(-1, 1, n)
    X = sm.add_constant(x)
    # truncated NB: u between F(y-1) and F(y) of the distribution conditioned on y > 0
    y = rng.negative_binomial(2.0, 2.0 / (2.0 + np.exp(0.7 + x)))
    keep = y > 0
    res = EMGLM(y[keep], X[keep], k=1, family=TruncatedNegativeBinomial()).fit(tol=1e-12)
    b0, b1, la = res.params["comp1"]
    a = np.exp(la)
    f = stats.nbinom(1 / a, 1 / (1 + a * np.exp(b0 + b1 * x[keep])))
    yk = y[keep]
    hi = (f.cdf(yk) - f.cdf(0)) / f.sf(0)
    lo = (f.cdf(yk - 1) - f.cdf(0)) / f.sf(0)
    u = _u(res)
    assert np.all(u <= hi + 1e-8) and np.all(u >= lo - 1e-8)
    # Tobit: a left-censored row lies below F(lower), an exact row at F(y)
    yt = np.maximum(0.3 + x + rng.normal(size=n), 0.0)
    res = EMGLM(yt, X, k=1, family=Tobit(lower=0)).fit(tol=1e-12)
    b0, b1, ls = res.params["comp1"]
    F = stats.norm.cdf((yt - b0 - b1 * x) / np.exp(ls))
    u = _u(res)
    cens = yt == 0
    np.testing.assert_allclose(u[~cens], F[~cens], atol=1e-8)
    assert np.all(u[cens] <= F[cens] + 1e-12)
    # right-censored survival times lie above F(t)
    t = rng.exponential(np.exp(0.5 + x))
    c = rng.exponential(2.0, n)
    d = (t <= c).astype(float)
    res = EMGLM(np.minimum(t, c), X, k=1, family=LogNormal(status=d)).fit(tol=1e-12)
    b0, b1, ls = res.params["comp1"]
    F = stats.lognorm(s=np.exp(ls), scale=np.exp(b0 + b1 * x)).cdf(np.minimum(t, c))
    u = _u(res)
    np.testing.assert_allclose(u[d == 1], F[d == 1], atol=1e-8)
    assert np.all(u[d == 0] >= F[d == 0] - 1e-12)
    with pytest.raises(NotImplementedError, match="use predict\\(\\) \\(the marginal mean\\) and resid_quantile"):
        res.fittedvalues


def test_frequency_weights_equal_repeated_rows_with_extra_data():
    rng = np.random.default_rng(8)
    n = 300
    x = rng.normal(size=n)
    t = np.exp(1.0 + 0.5 * x + 0.5 * np.log(rng.exponential(size=n)))
    d = (rng.random(n) < 0.8).astype(float)
    w = rng.integers(1, 4, n)
    X = sm.add_constant(x)
    res_w = EMGLM(t, X, k=1, family=Weibull(status=d), weights=w).fit(tol=1e-12)
    rep = np.repeat(np.arange(n), w)
    res_r = EMGLM(t[rep], X[rep], k=1, family=Weibull(status=d[rep])).fit(tol=1e-12)
    assert res_w.llf == pytest.approx(res_r.llf, rel=1e-10)
    np.testing.assert_allclose(res_w.params, res_r.params, atol=1e-7)
    np.testing.assert_allclose(res_w.bse, res_r.bse, rtol=1e-5)


def _mnl_truth(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    B = [np.array([[0.5, 1.0], [-0.5, -1.0]]), np.array([[-1.0, 0.5], [1.0, 0.3]])]  # (category, term)
    P = []
    for Bj in B:
        E = np.column_stack([np.zeros(n), X @ Bj.T])
        P.append(np.exp(E) / np.exp(E).sum(axis=1, keepdims=True))
    z = rng.random(n) < 0.4
    Pt = np.where(z[:, None], P[0], P[1])
    y = (rng.random(n)[:, None] > np.cumsum(Pt, axis=1)).sum(axis=1)
    return y, X, B, P


def test_mnlogit_quantile_residuals_are_standard_normal_at_the_truth():
    from emglm.residuals import quantile_residuals

    n = 20000
    y, X, B, P = _mnl_truth(n, seed=11)
    mix = EMGLM(y, X, k=2, family=MNLogit()).make_mixture()
    theta = mix.join([np.r_[B[0].ravel(), B[1].ravel()]], np.zeros(mix.mixing.n_params))
    prior = np.tile([0.4, 0.6], (n, 1))
    r = quantile_residuals(mix, theta, prior, random_state=5)
    # direct: categories in code order, u uniform between F(y-) and F(y)
    Pm = 0.4 * P[0] + 0.6 * P[1]
    C = np.cumsum(Pm, axis=1)
    F, Fm = C[np.arange(n), y], C[np.arange(n), y] - Pm[np.arange(n), y]
    u = Fm + np.random.default_rng(5).random(n) * (F - Fm)
    np.testing.assert_allclose(r, stats.norm.ppf(u), atol=1e-10)
    assert stats.kstest(r, "norm").pvalue > 0.01
    # at wrong parameters (the classes' proportions swapped) they are visibly not normal
    r_bad = quantile_residuals(mix, theta, prior[:, ::-1], random_state=5)
    assert stats.kstest(r_bad, "norm").pvalue < 1e-6
