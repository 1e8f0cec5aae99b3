"""Results (issue 3): summary tables, pooled residuals against statsmodels and the seed's
formula, randomized quantile residuals, dispersion test."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from emglm import EMGLM

FAM = sm.families


def _pois_mix(seed=0, n=800):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.random(n) < 0.4
    y = rng.poisson(np.exp(np.where(z, 1.6 + 0.5 * x, 0.2 - 0.5 * x)))
    return pd.DataFrame({"x": x, "y": y, "w": rng.normal(size=n)})


# ---------------------------------------------------------------------------- residuals
@pytest.mark.parametrize("family", ["poisson", "binomial", "gaussian", "gamma"])
def test_k1_residuals_equal_statsmodels(family):
    rng = np.random.default_rng(1)
    n = 300
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    fw = rng.integers(1, 4, n)
    kw = {}
    if family == "poisson":
        expo = rng.uniform(0.5, 3.0, n)
        endog = rng.poisson(expo * np.exp(0.2 + 0.5 * x))
        fam, kw = FAM.Poisson(), dict(exposure=expo)
    elif family == "binomial":
        N = rng.integers(1, 9, n)
        s = rng.binomial(N, 1 / (1 + np.exp(-(0.3 - x))))
        endog, fam = np.column_stack([s, N - s]), FAM.Binomial()
    elif family == "gaussian":
        endog, fam = 1 + x + rng.normal(size=n), FAM.Gaussian()
    else:
        endog, fam = rng.gamma(3.0, np.exp(0.5 + 0.2 * x) / 3.0), FAM.Gamma(FAM.links.Log())
    ref = sm.GLM(endog, X, family=fam, freq_weights=fw, **kw).fit(tol=1e-12)
    res = EMGLM(endog, X, k=1, family=fam, weights=fw, **kw).fit(tol=1e-13)
    np.testing.assert_allclose(res.fittedvalues, ref.fittedvalues, rtol=1e-6)
    np.testing.assert_allclose(res.resid_response, ref.resid_response, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(res.resid_pearson, ref.resid_pearson, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(res.resid_deviance, ref.resid_deviance, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(res.deviance, ref.deviance, rtol=1e-6)
    np.testing.assert_allclose(res.pearson_chi2, ref.pearson_chi2, rtol=1e-5)


def test_deviance_residuals_square_to_pooled_deviance_seed_formula():
    df = _pois_mix()
    res = EMGLM.from_formula("y ~ x", df, k=2, family=FAM.Poisson()).fit(tol=1e-10)
    # the seed's pooled mean by hand: lambda_i = exp(sum_j T_ij x_i B_j)
    X = np.column_stack([np.ones(len(df)), df.x])
    T = res.posterior.to_numpy()
    mu = np.exp(np.sum(T * (X @ res.params.to_numpy()), axis=1))
    y = df.y.to_numpy()
    dev = 2 * np.sum(np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0.0) - (y - mu))
    np.testing.assert_allclose(res.fittedvalues, mu, rtol=1e-12)
    np.testing.assert_allclose(np.sum(res.resid_deviance ** 2), dev, rtol=1e-10)
    np.testing.assert_allclose(res.deviance, dev, rtol=1e-10)
    np.testing.assert_allclose(res.resid_response, y - mu, rtol=1e-12)
    np.testing.assert_allclose(res.resid_pearson, (y - mu) / np.sqrt(mu), rtol=1e-12)
    assert res.resid_deviance.index.equals(df.index)


def test_binomial_pooled_deviance_with_trials_and_weights():
    rng = np.random.default_rng(2)
    n = 600
    x = rng.normal(size=n)
    N = rng.integers(2, 12, n)
    z = rng.random(n) < 0.5
    s = rng.binomial(N, 1 / (1 + np.exp(-np.where(z, 1.5 + x, -1.0 - x))))
    fw = rng.integers(1, 3, n)
    X = np.column_stack([np.ones(n), x])
    res = EMGLM(np.column_stack([s, N - s]), X, k=2, family=FAM.Binomial(), weights=fw).fit(tol=1e-10)
    T = res.posterior.to_numpy()
    p = 1 / (1 + np.exp(-np.sum(T * (X @ res.params.to_numpy()), axis=1)))
    yy = s / N
    d = 2 * N * (np.where(s > 0, yy * np.log(np.where(s > 0, yy, 1) / p), 0)
                 + np.where(s < N, (1 - yy) * np.log(np.where(s < N, 1 - yy, 1) / (1 - p)), 0))
    np.testing.assert_allclose(res.deviance, np.sum(fw * d), rtol=1e-10)
    np.testing.assert_allclose(np.sum(fw * res.resid_deviance ** 2), res.deviance, rtol=1e-12)
    np.testing.assert_allclose(res.resid_response, s - N * p, rtol=1e-10, atol=1e-10)


def _ks(r):
    return stats.kstest(np.asarray(r), "norm").pvalue


@pytest.mark.parametrize("case", ["poisson", "gaussian", "binomial", "zip", "gamma"])
def test_quantile_residuals_standard_normal(case):
    rng = np.random.default_rng(11)
    n = 1500
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    z = rng.random(n) < 0.4
    kw = {}
    if case == "poisson":
        y, fam = rng.poisson(np.exp(np.where(z, 1.6 + 0.5 * x, 0.2 - 0.5 * x))), FAM.Poisson()
    elif case == "gaussian":
        y, fam = rng.normal(np.where(z, 2 + x, -1 - x), np.where(z, 1.0, 0.5)), FAM.Gaussian()
    elif case == "binomial":
        N = rng.integers(1, 10, n)
        s = rng.binomial(N, 1 / (1 + np.exp(-np.where(z, 1.5 + x, -1 - x))))
        y, fam = np.column_stack([s, N - s]), FAM.Binomial()
    elif case == "zip":
        y = np.where(z, 0, rng.poisson(np.exp(0.8 + 0.4 * x)))
        fam, kw = FAM.Poisson(), dict(point_mass=0, k=1)
    else:
        y = rng.gamma(4.0, np.exp(np.where(z, 1.5 + 0.3 * x, 0.0)) / 4.0)
        fam = FAM.Gamma(FAM.links.Log())
    k = kw.pop("k", 2)
    res = EMGLM(y, X, k=k, family=fam, **kw).fit(tol=1e-10)
    r = res.resid_quantile(random_state=5)
    assert r.shape == (n,) and np.all(np.isfinite(r))
    assert _ks(r) > 0.01
    assert stats.shapiro(np.asarray(r)).pvalue > 0.01
    # reproducible with a seed
    np.testing.assert_array_equal(r, res.resid_quantile(random_state=5))


def test_quantile_residuals_detect_wrong_model():
    df = _pois_mix(3, 1500)
    wrong = EMGLM.from_formula("y ~ x", df, k=1, family=FAM.Poisson()).fit()
    assert _ks(wrong.resid_quantile(random_state=0)) < 1e-4


def test_quantile_residuals_unsupported_family():
    rng = np.random.default_rng(0)
    y = rng.gamma(2.0, 1.0, 200)
    res = EMGLM(y, np.ones((200, 1)), k=1, family=FAM.Tweedie(var_power=1.5)).fit()
    with pytest.raises(NotImplementedError, match="Tweedie"):
        res.resid_quantile()


def test_dispersion_test():
    df = _pois_mix(4, 2000)
    good = EMGLM.from_formula("y ~ x", df, k=2, family=FAM.Poisson()).fit()
    t = good.dispersion_test()
    assert t.df_resid == len(df) - good.df_model
    assert 0.85 < t.dispersion < 1.15
    assert t.pvalue_over > 0.01 and t.pvalue_under > 0.01
    np.testing.assert_allclose(t.pvalue_over + t.pvalue_under, 1.0)
    # overdispersed counts (negative binomial components) fitted as a Poisson mixture
    rng = np.random.default_rng(5)
    n = 2000
    x = rng.normal(size=n)
    z = rng.random(n) < 0.4
    mu = np.exp(np.where(z, 1.6 + 0.5 * x, 0.2 - 0.5 * x))
    y = rng.negative_binomial(1.0, 1.0 / (1.0 + mu))
    bad = EMGLM(y, np.column_stack([np.ones(n), x]), k=2, family=FAM.Poisson()).fit()
    tb = bad.dispersion_test()
    assert tb.dispersion > 1.3 and tb.pvalue_over < 1e-6
    tp = bad.dispersion_test("pooled")
    assert tp.method == "pooled" and tp.statistic > 0
    with pytest.raises(ValueError, match="method"):
        bad.dispersion_test("deviance")


# ---------------------------------------------------------------------------- summary
def test_summary_contents():
    df = _pois_mix()
    res = EMGLM.from_formula("y ~ x", df, k=2, family=FAM.Poisson(), concomitant="~ w").fit()
    s = res.summary()
    txt = s.as_text()
    for item in ("Poisson", "Log", "concomitant", "No. Observations:", "800", "Log-Likelihood:",
                 "AIC:", "BIC:", "ICL:", "Converged:", "EM iterations:", "Component comp1",
                 "Component comp2", "Mixing: multinomial logit", "comp2:w", "Proportions",
                 "P>|z|", "[0.025", "oim"):
        assert item in txt, item
    assert f"{res.llf:#8.5g}".strip() in txt
    assert "No. Groups" not in txt  # shown only for grouped data
    # one table per component with the estimates and standard errors
    t1 = s.tables[1]
    assert "Component comp1" in t1.title
    assert str(np.round(res.params.loc["x", "comp1"], 4)) in txt
    assert "<table" in s.as_html() and "tabular" in s.as_latex()
    assert res._repr_html_() == s.as_html()
    assert "Component comp2" in str(res)


def test_summary_gaussian_point_mass_shared_groups():
    rng = np.random.default_rng(6)
    n = 400
    g = np.repeat(np.arange(100), 4)
    x = rng.normal(size=n)
    u = rng.normal(size=n)
    zg = (rng.random(100) < 0.5)[g]
    y = np.where(zg, 2 + x, -1 - x) + 0.5 * u + rng.normal(0, 0.7, n)
    res = EMGLM.from_formula("y ~ x", pd.DataFrame({"y": y, "x": x, "u": u, "g": g}), k=2,
                             fixed="~ u", groups="g", scale="shared").fit()
    txt = res.summary(alpha=0.1).as_text()
    assert "Shared by all components" in txt and "No. Groups:" in txt and "100" in txt
    assert "[0.05" in txt and "scale" in txt
    pm = EMGLM(np.where(rng.random(300) < 0.3, 0, rng.poisson(2.0, 300)), np.ones((300, 1)), k=1,
               family=FAM.Poisson(), point_mass=0).fit()
    txt = pm.summary().as_text()
    assert "point mass at 0" in txt and "point_mass" in txt
    with pytest.raises(ValueError, match="alpha"):
        pm.summary(alpha=2.0)


def test_equal_mixing_summary_and_bse():
    df = _pois_mix()
    res = EMGLM.from_formula("y ~ x", df, k=2, family=FAM.Poisson(), mixing="equal").fit()
    assert res.bse_proportions.isna().all()
    assert not any(c == "mixing" for c, _ in res.cov_params().index)
    assert "equal" in res.summary().as_text()
