"""Inference after the fit (issue 17): tests of restrictions against hand computations from
``params`` and ``cov_params()``, delta-method standard errors of predictions, marginal effects,
class means and class probabilities against finite differences of hand-written mixture means,
and cluster standard errors against statsmodels GLM at k = 1."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from scipy.special import softmax

from emglm import EMGLM

FAM = sm.families


@pytest.fixture(scope="module")
def conc():
    """Poisson mixture with a shared term and a concomitant variable that is also a
    component covariate (formula model), plus a 0/1 dummy."""
    rng = np.random.default_rng(11)
    n = 600
    df = pd.DataFrame({"x": rng.normal(size=n), "w": rng.normal(size=n), "d": rng.integers(0, 2, n)})
    p2 = 1 / (1 + np.exp(-(0.2 + 0.8 * df.x)))
    z = rng.random(n) < p2
    eta = np.where(z, 1.5 + 0.4 * df.x, 0.2 - 0.5 * df.x) + 0.3 * df.w + 0.4 * df.d
    df["y"] = rng.poisson(np.exp(eta))
    res = EMGLM.from_formula("y ~ x + d", df, k=2, family=FAM.Poisson(), fixed="~ w - 1",
                             concomitant="~ x").fit(tol=1e-12, maxiter=5000)
    return res, df


def _unpack(res, theta):
    """Hand unpacking of the flat theta of the `conc` model: beta (2, 3), delta, gamma (2,)."""
    return theta[:6].reshape(2, 3), theta[6], theta[7:9]


def _hand_mean(res, theta, df):
    """Marginal mean sum_j pi_j exp(x b_j + w delta), pi from the logit in (1, x)."""
    beta, delta, gamma = _unpack(res, theta)
    X = np.column_stack([np.ones(len(df)), df.x, df.d])
    mu = np.exp(X @ beta.T + delta * df.w.to_numpy()[:, None])
    logits = np.column_stack([np.zeros(len(df)), gamma[0] + gamma[1] * df.x])
    return np.sum(softmax(logits, axis=1) * mu, axis=1), mu


def _fd_jacobian(f, theta, rel=1e-6):
    cols = []
    for i in range(theta.size):
        h = rel * max(1.0, abs(theta[i]))
        tp, tm = theta.copy(), theta.copy()
        tp[i] += h
        tm[i] -= h
        cols.append((f(tp) - f(tm)) / (2 * h))
    return np.column_stack(cols)


# ---------------------------------------------------------------------- tests of restrictions
def test_t_and_wald_equal_hand_computation(conc):
    res, _ = conc
    b = res.params_flat.to_numpy()
    V = res.cov_params().to_numpy()
    names = [f"{c}:{t}" for c, t in res.cov_params().index]
    assert names[:3] == ["comp1:Intercept", "comp1:x", "comp1:d"]
    assert names[-2:] == ["mixing:comp2:Intercept", "mixing:comp2:x"]
    i1, i2 = names.index("comp1:x"), names.index("comp2:x")
    # the tested vector is params (coefficients) in cov_params order
    assert b[i1] == res.params.loc["x", "comp1"] and b[i2] == res.params.loc["x", "comp2"]
    tt = res.t_test("comp1:x - comp2:x = 0")
    se = np.sqrt(V[i1, i1] + V[i2, i2] - 2 * V[i1, i2])
    np.testing.assert_allclose(tt.effect, b[i1] - b[i2], rtol=1e-10)
    np.testing.assert_allclose(tt.sd, se, rtol=1e-10)
    np.testing.assert_allclose(tt.statistic, (b[i1] - b[i2]) / se, rtol=1e-6)
    np.testing.assert_allclose(tt.pvalue, 2 * stats.norm.sf(abs((b[i1] - b[i2]) / se)), rtol=1e-6)
    # the array form and a right-hand side
    R = np.zeros((1, b.size))
    R[0, names.index("mixing:comp2:x")] = 1.0
    tt2 = res.t_test(R, q_matrix=[0.8])
    j = names.index("mixing:comp2:x")
    np.testing.assert_allclose(tt2.statistic, (b[j] - 0.8) / np.sqrt(V[j, j]), rtol=1e-6)
    np.testing.assert_allclose(res.t_test("mixing:comp2:x = 0.8").statistic, tt2.statistic, rtol=1e-12)
    # joint Wald test and its F form
    c = "comp1:x = comp2:x, comp1:Intercept = comp2:Intercept"
    wt = res.wald_test(c)
    R = np.zeros((2, b.size))
    R[0, i1], R[0, i2] = 1, -1
    R[1, names.index("comp1:Intercept")], R[1, names.index("comp2:Intercept")] = 1, -1
    d = R @ b
    W = d @ np.linalg.solve(R @ V @ R.T, d)
    np.testing.assert_allclose(wt.statistic, W, rtol=1e-6)
    np.testing.assert_allclose(wt.pvalue, stats.chi2.sf(W, 2), rtol=1e-6)
    ft = res.f_test(c)
    np.testing.assert_allclose(ft.fvalue, W / 2, rtol=1e-6)
    np.testing.assert_allclose(ft.pvalue, stats.f.sf(W / 2, 2, res.df_resid), rtol=1e-6)
    # t_test of several rows gives each row's z statistic; summary_frame is labelled
    many = res.t_test(c)
    np.testing.assert_allclose(many.statistic, d / np.sqrt(np.diag(R @ V @ R.T)), rtol=1e-6)
    assert list(many.summary_frame().index) == ["comp1:x = comp2:x", "comp1:Intercept = comp2:Intercept"]


def test_dispersion_names_and_scale_test():
    rng = np.random.default_rng(2)
    y = np.r_[rng.normal(0, 1, 150), rng.normal(6, 2, 150)]
    res = EMGLM(y, np.ones((300, 1)), k=2).fit(tol=1e-12)
    V = res.cov_params().to_numpy()
    s = res.scale.to_numpy()
    tt = res.t_test("comp1:scale = comp2:scale")
    np.testing.assert_allclose(tt.effect, s[0] - s[1], rtol=1e-10)
    np.testing.assert_allclose(tt.sd, np.sqrt(V[2, 2] + V[3, 3] - 2 * V[2, 3]), rtol=1e-10)
    assert tt.pvalue < 1e-3  # variances 1 and 4


def test_restriction_errors():
    rng = np.random.default_rng(2)
    y = np.r_[rng.normal(0, 1, 100), rng.normal(6, 1, 100)]
    m = EMGLM(y, np.ones((200, 1)), k=2)
    res = m.fit()
    with pytest.raises(ValueError, match=r"(?s)r_matrix: cannot parse.*comp1:x"):
        res.t_test("comp3:x = 0")
    with pytest.raises(ValueError, match="r_matrix must have 5 columns"):
        res.t_test(np.eye(2))
    with pytest.raises(ValueError, match="q_matrix must have 1 values"):
        res.wald_test(np.ones((1, 5)), q_matrix=[1, 2])
    with pytest.raises(ValueError, match="cov_type='none'"):
        m.fit(cov_type="none").t_test("comp1:x = 0")


# ---------------------------------------------------------------------- predictions
def test_prediction_se_equals_fd_delta_method(conc):
    res, df = conc
    new = df.iloc[:25].copy()
    pr = res.get_prediction(new)
    mean, mu = _hand_mean(res, res.theta, new)
    np.testing.assert_allclose(pr.predicted_mean, mean, rtol=1e-10)
    np.testing.assert_allclose(pr.predicted_mean, res.predict(new, which="mean"), rtol=1e-10)
    J = _fd_jacobian(lambda th: _hand_mean(res, th, new)[0], res.theta)
    se = np.sqrt(np.einsum("ij,jk,ik->i", J, res.cov_theta, J))
    np.testing.assert_allclose(pr.se_mean, se, rtol=1e-3)
    sf = pr.summary_frame(alpha=0.1)
    assert list(sf.columns) == ["mean", "mean_se", "mean_ci_lower", "mean_ci_upper"]
    assert list(sf.index) == list(new.index)
    np.testing.assert_allclose(sf.mean_ci_upper - sf["mean"], stats.norm.ppf(0.95) * se, rtol=1e-3)
    # components: each component's mean, SE from the hand Jacobian
    pc = res.get_prediction(new, which="components")
    np.testing.assert_allclose(pc.predicted_mean, mu, rtol=1e-10)
    for j in range(2):
        Jj = _fd_jacobian(lambda th: _hand_mean(res, th, new)[1][:, j], res.theta)
        np.testing.assert_allclose(pc.se_mean[:, j], np.sqrt(np.einsum("ij,jk,ik->i", Jj, res.cov_theta, Jj)),
                                   rtol=1e-3)
    assert pc.summary_frame().shape == (50, 4)
    # training rows by default
    assert res.get_prediction().predicted_mean.shape == (len(df),)


def test_prediction_point_mass_fd():
    rng = np.random.default_rng(4)
    n = 500
    x = rng.normal(size=n)
    y = np.where(rng.random(n) < 0.3, 0, rng.poisson(np.exp(0.5 + 0.5 * x)))
    X = np.column_stack([np.ones(n), x])
    res = EMGLM(y, X, k=1, family=FAM.Poisson(), point_mass=0).fit(tol=1e-12)
    Xn = X[:10]

    def hand(th):  # (1 - pi_pm) exp(x b); theta = (b0, b1, logit of the point mass)
        pi_pm = 1 / (1 + np.exp(-th[2]))
        return (1 - pi_pm) * np.exp(Xn @ th[:2])

    pr = res.get_prediction(Xn)
    np.testing.assert_allclose(pr.predicted_mean, hand(res.theta), rtol=1e-10)
    J = _fd_jacobian(hand, res.theta)
    np.testing.assert_allclose(pr.se_mean, np.sqrt(np.einsum("ij,jk,ik->i", J, res.cov_theta, J)), rtol=1e-3)
    cm = res.class_means()
    assert list(cm.index) == ["comp1", "point_mass"]
    assert cm.loc["point_mass", "mean"] == 0 and cm.loc["point_mass", "se"] == 0


def test_prediction_errors(conc):
    res, df = conc
    with pytest.raises(ValueError, match="which must be"):
        res.get_prediction(which="pooled")
    with pytest.raises(ValueError, match="exog"):
        res.get_prediction(pd.DataFrame({"zz": [1.0]}))


# ---------------------------------------------------------------------- marginal effects
def test_margeff_equal_fd(conc):
    res, df = conc
    me = res.get_margeff()
    assert me.names == ["x", "d", "w"] and me.dummy.tolist() == [False, True, False]

    def ame(th):
        h = 1e-5
        out = []
        for col in ("x", "w"):
            up, dn = df.copy(), df.copy()
            up[col] += h
            dn[col] -= h
            out.append(np.mean((_hand_mean(res, th, up)[0] - _hand_mean(res, th, dn)[0]) / (2 * h)))
        one, zero = df.assign(d=1), df.assign(d=0)
        out.insert(1, np.mean(_hand_mean(res, th, one)[0] - _hand_mean(res, th, zero)[0]))
        return np.array(out)

    np.testing.assert_allclose(me.margeff, ame(res.theta), rtol=1e-6)
    J = _fd_jacobian(ame, res.theta, rel=1e-4)
    se = np.sqrt(np.einsum("ij,jk,ik->i", J, res.cov_theta, J))
    np.testing.assert_allclose(me.margeff_se, se, rtol=1e-3)
    sf = me.summary_frame()
    assert list(sf.columns) == ["dy/dx", "Std. Err.", "z", "Pr(>|z|)", "Conf. Int. Low", "Cont. Int. Hi."]
    # at the mean and an elasticity: d log m / d log x at the mean row (x continuous)
    mm = res.get_margeff(at="mean", method="eyex", dummy=False)
    row = df[["x", "w", "d"]].mean().to_frame().T
    h = 1e-5
    up, dn = row.copy(), row.copy()
    up["x"] += h
    dn["x"] -= h
    m0 = _hand_mean(res, res.theta, row)[0][0]
    d = (_hand_mean(res, res.theta, up)[0][0] - _hand_mean(res, res.theta, dn)[0][0]) / (2 * h)
    np.testing.assert_allclose(mm.margeff[0], d * row.x.iloc[0] / m0, rtol=1e-5)
    with pytest.raises(ValueError, match="method must be"):
        res.get_margeff(method="dydz")
    with pytest.raises(ValueError, match="at must be"):
        res.get_margeff(at="median")


# ---------------------------------------------------------------------- classes
def test_class_means_and_probabilities_fd(conc):
    res, df = conc
    cm = res.class_means()
    assert list(cm.columns) == ["mean", "se", "ci_lower", "ci_upper"]

    def means(th):
        return _hand_mean(res, th, df)[1].mean(axis=0)

    np.testing.assert_allclose(cm["mean"].to_numpy(), means(res.theta), rtol=1e-10)
    J = _fd_jacobian(means, res.theta)
    np.testing.assert_allclose(cm["se"].to_numpy(), np.sqrt(np.diag(J @ res.cov_theta @ J.T)), rtol=1e-3)

    def probs(th):
        g = _unpack(res, th)[2]
        return softmax(np.column_stack([np.zeros(len(df)), g[0] + g[1] * df.x]), axis=1).mean(axis=0)

    cp = res.class_probabilities()
    np.testing.assert_allclose(cp["prob"].to_numpy(), probs(res.theta), rtol=1e-10)
    np.testing.assert_allclose(cp["prob"].to_numpy(), res.proportions.to_numpy(), rtol=1e-10)
    J = _fd_jacobian(probs, res.theta)
    np.testing.assert_allclose(cp["se"].to_numpy(), np.sqrt(np.diag(J @ res.cov_theta @ J.T)), rtol=1e-3)
    np.testing.assert_allclose(cp["se"].to_numpy(), res.bse_proportions.to_numpy(), rtol=1e-6)
    assert np.all((cp.ci_lower > 0) & (cp.ci_lower < cp.prob) & (cp.prob < cp.ci_upper) & (cp.ci_upper < 1))


# ---------------------------------------------------------------------- cluster covariance
@pytest.mark.filterwarnings("ignore:cov_type not fully supported with freq_weights")
@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_cluster_k1_equals_statsmodels(family):
    rng = np.random.default_rng(8)
    n = 400
    x = rng.normal(size=n)
    g = rng.integers(0, 37, n)
    X = np.column_stack([np.ones(n), x])
    fw = rng.integers(1, 4, n)
    if family == "poisson":
        y = rng.poisson(np.exp(0.3 + 0.5 * x + rng.normal(0, 0.5, 37)[g]))
        endog, fam = y, FAM.Poisson()
    else:
        N = rng.integers(1, 6, n)
        s = rng.binomial(N, 1 / (1 + np.exp(-(0.2 - 0.7 * x + rng.normal(0, 0.7, 37)[g]))))
        endog, fam = np.column_stack([s, N - s]), FAM.Binomial()
    for weights in (None, fw):
        ref = sm.GLM(endog, X, family=fam, freq_weights=weights).fit(cov_type="cluster", cov_kwds={"groups": g})
        res = EMGLM(endog, X, k=1, family=fam, weights=weights).fit(tol=1e-12, cov_type="cluster",
                                                                    cov_kwds={"groups": g})
        np.testing.assert_allclose(res.bse["comp1"].to_numpy(), ref.bse, rtol=1e-6)
        assert res.cov_kwds["n_clusters"] == 37
    # without the small-sample factor
    ref = sm.GLM(endog, X, family=fam).fit(cov_type="cluster", cov_kwds={"groups": g, "use_correction": False})
    res = EMGLM(endog, X, k=1, family=fam).fit(tol=1e-12, cov_type="cluster",
                                               cov_kwds={"groups": g, "use_correction": False})
    np.testing.assert_allclose(res.bse["comp1"].to_numpy(), ref.bse, rtol=1e-6)


def test_cluster_of_singletons_is_scaled_robust():
    # one row per cluster: the cluster sandwich is the robust sandwich times N/(N-K)
    rng = np.random.default_rng(5)
    n = 300
    x = rng.normal(size=n)
    y = rng.poisson(np.exp(np.where(rng.random(n) < 0.5, 0.2 + x, 1.8 - 0.5 * x)))
    m = EMGLM(y, np.column_stack([np.ones(n), x]), k=2, family=FAM.Poisson())
    rob = m.fit(tol=1e-12, cov_type="robust")
    clu = m.fit(tol=1e-12, cov_type="cluster", cov_kwds={"groups": np.arange(n)})
    K = rob.theta.size
    np.testing.assert_allclose(clu.cov_theta, rob.cov_theta * n / (n - 1) * (n - 1) / (n - K), rtol=1e-8)
    assert "cluster" in clu.summary().as_text()


def test_cluster_validation():
    rng = np.random.default_rng(5)
    n = 100
    y = rng.poisson(3, n)
    X = np.ones((n, 1))
    m = EMGLM(y, X, k=1, family=FAM.Poisson())
    with pytest.raises(ValueError, match="needs cov_kwds"):
        m.fit(cov_type="cluster")
    with pytest.raises(ValueError, match=r"cov_kwds\['groups'\] must have one label per row used \(100\)"):
        m.fit(cov_type="cluster", cov_kwds={"groups": np.arange(5)})
    with pytest.raises(ValueError, match="missing label"):
        m.fit(cov_type="cluster", cov_kwds={"groups": np.r_[np.nan, np.arange(n - 1.0)]})
    with pytest.raises(ValueError, match="unknown option"):
        m.fit(cov_type="cluster", cov_kwds={"groups": np.arange(n), "df_corr": 1})
    with pytest.raises(ValueError, match="takes no options"):
        m.fit(cov_kwds={"groups": np.arange(n)})
    grouped = EMGLM(y, X, k=1, family=FAM.Poisson(), groups=np.arange(n) // 2)
    with pytest.raises(ValueError, match="must lie within one cluster"):
        grouped.fit(cov_type="cluster", cov_kwds={"groups": np.arange(n) % 2})
    # a pandas Series is aligned on the rows kept after dropping missing values
    df = pd.DataFrame({"y": y.astype(float), "x": rng.normal(size=n), "g": np.arange(n) // 5})
    df.loc[3, "x"] = np.nan
    with pytest.warns(Warning, match="dropped"):
        fm = EMGLM.from_formula("y ~ x", df, k=1, family=FAM.Poisson())
    res = fm.fit(cov_type="cluster", cov_kwds={"groups": df.g})
    assert res.cov_kwds["n_clusters"] == 20 and np.isfinite(res.bse.to_numpy()).all()


def test_data_free_results_keep_tests_and_new_predictions(conc, tmp_path):
    import emglm
    from emglm.io import DataRemovedError

    res, df = conc
    path = tmp_path / "fit.pickle"
    res.save(path, remove_data=True)
    lean = emglm.load(path)
    a, b = res.t_test("comp1:x = comp2:x"), lean.t_test("comp1:x = comp2:x")
    np.testing.assert_allclose(a.statistic, b.statistic, rtol=1e-12)
    new = df.iloc[:5]
    np.testing.assert_allclose(lean.get_prediction(new).se_mean, res.get_prediction(new).se_mean, rtol=1e-12)
    for call in (lean.get_prediction, lean.get_margeff, lean.class_means, lean.class_probabilities):
        with pytest.raises(DataRemovedError, match="remove_data=True"):
            call()


def test_cluster_fit_saved_without_data(tmp_path):
    import emglm

    rng = np.random.default_rng(3)
    n = 200
    y = rng.poisson(np.where(rng.random(n) < 0.5, 1.0, 6.0))
    res = EMGLM(y, np.ones((n, 1)), k=2, family=FAM.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": np.arange(n) // 5})
    path = tmp_path / "fit.pickle"
    res.save(path, remove_data=True)
    lean = emglm.load(path)
    assert "codes" not in lean.cov_kwds  # one label per training row: dropped with the data
    np.testing.assert_allclose(lean.bse.to_numpy(), res.bse.to_numpy(), rtol=1e-12)
    assert "40 clusters" in lean.summary().as_text()
