"""A formula per component (``formula=["y ~ x", "y ~ 1"]``) reaches the direct maximum.

Each mixture likelihood is written here with scipy.stats densities, each class on its own
formula's columns, and maximised by scipy.optimize from the truth; the EM fit must reach
that maximum (llf to 1e-6 relative, parameters to 1e-4), and its standard errors must equal
the inverse of a finite-difference Hessian of that likelihood. Shared terms (``fixed=``),
a point mass, concomitant variables and groups are each checked the same way.
"""

import os
import pickle
import tempfile

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize, special, stats
from statsmodels.tools.numdiff import approx_hess

import emglm
from emglm import EMGLM

ALPHA = 0.5  # the negative binomial's (known) dispersion


def _maximise(negll, v0):
    opt = optimize.minimize(negll, v0, method="BFGS", options={"gtol": 1e-8, "maxiter": 5000})
    opt = optimize.minimize(negll, opt.x, method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    return opt.x, -opt.fun


def _se(negll, v):
    return np.sqrt(np.diag(np.linalg.inv(approx_hess(v, negll))))


def _mix(logf, logits):
    """Row log-likelihoods of a mixture from per-class log densities and prior logits
    (versus the first class), both lists of arrays."""
    lp = np.vstack([np.zeros_like(logf[0])] + [np.broadcast_to(g, logf[0].shape) for g in logits])
    lp = lp - special.logsumexp(lp, axis=0)
    return special.logsumexp(np.vstack(logf) + lp, axis=0)


# ---------------------------------------------------------------------- Poisson + NB hybrid
def _count_data(seed=0, n=2000):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    z = rng.random(n) < 0.6
    mu = np.where(z, np.exp(0.5 + 1.0 * x), np.exp(2.0))
    nb = rng.negative_binomial(1 / ALPHA, 1 / (1 + ALPHA * mu))
    return pd.DataFrame({"y": np.where(z, rng.poisson(mu), nb).astype(float), "x": x})


def _nb_logpmf(y, mu):
    return stats.nbinom.logpmf(y, 1 / ALPHA, 1 / (1 + ALPHA * mu))


def _hybrid_negll(df):
    y, x = df.y.to_numpy(), df.x.to_numpy()

    def negll(v):
        return -np.sum(_mix([stats.poisson.logpmf(y, np.exp(v[0] + v[1] * x)), _nb_logpmf(y, np.exp(v[2]))], [v[3]]))
    return negll


@pytest.fixture(scope="module")
def hybrid():
    df = _count_data()
    res = EMGLM.from_formula(["y ~ x", "y ~ 1"], df,
                             family=[sm.families.Poisson(), sm.families.NegativeBinomial(alpha=ALPHA)]).fit(tol=1e-12)
    return df, res


def test_poisson_and_negative_binomial_formulas_reach_direct_maximum(hybrid):
    df, res = hybrid
    negll = _hybrid_negll(df)
    v, llf = _maximise(negll, np.r_[0.5, 1.0, 2.0, np.log(0.4 / 0.6)])
    assert res.llf == pytest.approx(llf, rel=1e-6)
    assert res.k == 2 and list(res.params.index) == ["Intercept", "x"]
    p = res.proportions.to_numpy()
    est = np.r_[res.params.loc[["Intercept", "x"], "comp1"], res.params.loc["Intercept", "comp2"], np.log(p[1] / p[0])]
    np.testing.assert_allclose(est, v, atol=1e-4)
    assert np.isnan(res.params.loc["x", "comp2"]) and np.isnan(res.bse.loc["x", "comp2"])
    se = _se(negll, v)
    np.testing.assert_allclose(np.r_[res.bse.loc[["Intercept", "x"], "comp1"], res.bse.loc["Intercept", "comp2"]],
                               se[:3], rtol=2e-3)
    text = res.summary().as_text()
    assert "Poisson + NegativeBinomial" in text and "order of the formulas" in text


def test_hybrid_predictions_and_residuals_equal_direct_computation(hybrid):
    df, res = hybrid
    b = res.params
    new = pd.DataFrame({"x": [-0.5, 0.0, 0.8]})
    mu1 = np.exp(b.loc["Intercept", "comp1"] + b.loc["x", "comp1"] * new.x.to_numpy())
    mu2 = np.full(3, np.exp(b.loc["Intercept", "comp2"]))
    comps = res.predict(new, which="components")
    np.testing.assert_allclose(comps.to_numpy(), np.column_stack([mu1, mu2]), rtol=1e-12)
    pi = res.proportions.to_numpy()
    np.testing.assert_allclose(res.predict(new).to_numpy(), pi[0] * mu1 + pi[1] * mu2, rtol=1e-12)
    # randomized quantile residuals: the mixture's distribution function, drawn in (F(y-), F(y)]
    y, x = df.y.to_numpy(), df.x.to_numpy()
    m1 = np.exp(b.loc["Intercept", "comp1"] + b.loc["x", "comp1"] * x)
    m2 = np.exp(b.loc["Intercept", "comp2"])
    n, p2 = 1 / ALPHA, 1 / (1 + ALPHA * m2)
    F = pi[0] * stats.poisson.cdf(y, m1) + pi[1] * stats.nbinom.cdf(y, n, p2)
    Fm = pi[0] * stats.poisson.cdf(y - 1, m1) + pi[1] * stats.nbinom.cdf(y - 1, n, p2)
    u = Fm + np.random.default_rng(3).random(y.size) * (F - Fm)
    np.testing.assert_allclose(res.resid_quantile(random_state=3).to_numpy(), stats.norm.ppf(u), atol=1e-8)


def test_formula_per_component_save_load_and_pickle(hybrid):
    df, res = hybrid
    new = pd.DataFrame({"x": [-0.5, 0.0, 0.8]})
    path = os.path.join(tempfile.mkdtemp(), "hybrid.emglm")
    res.save(path)
    for back in (emglm.load(path), pickle.loads(pickle.dumps(res))):
        pd.testing.assert_frame_equal(back.params, res.params)
        pd.testing.assert_frame_equal(back.bse, res.bse)
        assert back.llf == pytest.approx(res.llf, rel=1e-12)
        pd.testing.assert_frame_equal(back.predict(new, which="components"), res.predict(new, which="components"))
        assert back.summary().as_text() == res.summary().as_text()


# ---------------------------------------------------------------------- Gaussian formulas
def _gauss_data(seed=1, n=1500, groups=None):
    rng = np.random.default_rng(seed)
    x, w, zc = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    if groups is None:
        z = rng.random(n) < special.expit(0.3 + 1.2 * zc)
    else:
        g = np.arange(n) // groups
        zc = zc[g * groups]  # concomitant constant within groups
        z = (rng.random(n // groups + 1) < 0.5)[g]
    y = np.where(z, 1.0 + 2.0 * x + 0.7 * w + rng.normal(0, 0.6, n), -1.0 + 0.7 * w + rng.normal(0, 0.4, n))
    df = pd.DataFrame({"y": y, "x": x, "w": w, "zc": zc})
    if groups is not None:
        df["g"] = np.arange(n) // groups
    return df


def _norm(y, m, lv):
    return stats.norm.logpdf(y, m, np.exp(lv / 2))


def test_gaussian_formulas_reach_direct_maximum():
    df = _gauss_data()
    y, x, w = df.y.to_numpy(), df.x.to_numpy(), df.w.to_numpy()

    def negll(v):  # comp1: y ~ x + w, comp2: y ~ w; log variances; logit
        return -np.sum(_mix([_norm(y, v[0] + v[1] * x + v[2] * w, v[3]), _norm(y, v[4] + v[5] * w, v[6])], [v[7]]))

    v, llf = _maximise(negll, np.r_[1.0, 2.0, 0.7, np.log(0.36), -1.0, 0.7, np.log(0.16), 0.0])
    res = EMGLM.from_formula(["y ~ x + w", "y ~ w"], df).fit(tol=1e-12)
    assert res.llf == pytest.approx(llf, rel=1e-6)
    b = res.params
    est = np.r_[b.loc[["Intercept", "x", "w"], "comp1"], np.log(res.scale["comp1"]),
                b.loc[["Intercept", "w"], "comp2"], np.log(res.scale["comp2"])]
    np.testing.assert_allclose(est, v[:7], atol=1e-4)
    se = _se(negll, v)
    np.testing.assert_allclose(np.r_[res.bse.loc[["Intercept", "x", "w"], "comp1"], res.bse.loc[["Intercept", "w"], "comp2"]],
                               np.r_[se[:3], se[4:6]], rtol=2e-3)


def test_shared_term_is_shared_by_the_formulas_that_contain_it():
    df = _gauss_data()
    y, x, w = df.y.to_numpy(), df.x.to_numpy(), df.w.to_numpy()

    def negll(v):  # w's coefficient v[3] common to both classes
        return -np.sum(_mix([_norm(y, v[0] + v[1] * x + v[3] * w, v[4]), _norm(y, v[2] + v[3] * w, v[5])], [v[6]]))

    v, llf = _maximise(negll, np.r_[1.0, 2.0, -1.0, 0.7, np.log(0.36), np.log(0.16), 0.0])
    res = EMGLM.from_formula(["y ~ x + w", "y ~ w"], df, fixed="~ w").fit(tol=1e-12)
    assert res.llf == pytest.approx(llf, rel=1e-6)
    b = res.params
    assert b.loc["w", "comp1"] == b.loc["w", "comp2"]
    est = np.r_[b.loc[["Intercept", "x"], "comp1"], b.loc["Intercept", "comp2"], b.loc["w", "comp1"],
                np.log(res.scale.to_numpy())]
    np.testing.assert_allclose(est, v[:6], atol=1e-4)
    se = _se(negll, v)
    np.testing.assert_allclose(np.r_[res.bse.loc[["Intercept", "x"], "comp1"], res.bse.loc["Intercept", "comp2"],
                                     res.bse.loc["w", "comp1"], res.bse.loc["w", "comp2"]],
                               np.r_[se[:4], se[3]], rtol=2e-3)
    assert ("shared", "w") in res.params_flat.index
    assert "Shared terms (w: comp1, comp2)" in res.summary().as_text()
    # the ECM step (members' M-steps, then Newton on the shared coefficient) never lowers the llf
    hist = np.asarray(res.em_result.objective_history)
    assert hist.size > 3 and np.all(np.diff(hist) >= -1e-9 * abs(llf))
    # a shared term in one formula only is that component's own coefficient
    one = EMGLM.from_formula(["y ~ x + w", "y ~ 1"], df, fixed="~ w").fit(tol=1e-12)
    own = EMGLM.from_formula(["y ~ x + w", "y ~ 1"], df).fit(tol=1e-12)
    assert one.llf == pytest.approx(own.llf, rel=1e-9)
    np.testing.assert_allclose(one.params.to_numpy(), own.params.to_numpy(), atol=1e-5)
    assert np.isnan(one.params.loc["w", "comp2"])


def test_formulas_with_concomitant_reach_direct_maximum():
    df = _gauss_data(seed=2)
    y, x, zc = df.y.to_numpy(), df.x.to_numpy(), df.zc.to_numpy()

    def negll(v):
        return -np.sum(_mix([_norm(y, v[0] + v[1] * x, v[2]), _norm(y, v[3], v[4])], [v[5] + v[6] * zc]))

    v, llf = _maximise(negll, np.r_[1.0, 2.0, np.log(0.8), -1.0, np.log(0.7), -0.3, -1.2])
    res = EMGLM.from_formula(["y ~ x", "y ~ 1"], df, concomitant="~ zc").fit(tol=1e-12)
    assert res.llf == pytest.approx(llf, rel=1e-6)
    est = np.r_[res.params.loc[["Intercept", "x"], "comp1"], np.log(res.scale["comp1"]),
                res.params.loc["Intercept", "comp2"], np.log(res.scale["comp2"]), res.params_flat["mixing"]]
    np.testing.assert_allclose(est, v, atol=1e-4)


def test_formulas_with_groups_reach_direct_maximum():
    df = _gauss_data(seed=3, n=1200, groups=4)
    y, x, g = df.y.to_numpy(), df.x.to_numpy(), df.g.to_numpy()

    def negll(v):
        L = np.vstack([np.bincount(g, _norm(y, v[0] + v[1] * x, v[2])), np.bincount(g, _norm(y, v[3], v[4]))])
        lp = np.array([0.0, v[5]]) - np.logaddexp(0.0, v[5])
        return -np.sum(special.logsumexp(L + lp[:, None], axis=0))

    v, llf = _maximise(negll, np.r_[1.0, 2.0, np.log(0.8), -1.0, np.log(0.7), 0.0])
    res = EMGLM.from_formula(["y ~ x", "y ~ 1"], df, groups="g").fit(tol=1e-12)
    assert res.llf == pytest.approx(llf, rel=1e-6)
    p = res.proportions.to_numpy()
    est = np.r_[res.params.loc[["Intercept", "x"], "comp1"], np.log(res.scale["comp1"]),
                res.params.loc["Intercept", "comp2"], np.log(res.scale["comp2"]), np.log(p[1] / p[0])]
    np.testing.assert_allclose(est, v, atol=1e-4)


def test_formulas_with_point_mass_reach_direct_maximum():
    rng = np.random.default_rng(4)
    n = 2000
    x = rng.uniform(-1, 1, n)
    c = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    y = np.where(c == 0, rng.poisson(np.exp(1.0 + x)), np.where(c == 1, rng.poisson(6.0, n), 0)).astype(float)
    df = pd.DataFrame({"y": y, "x": x})

    def negll(v):
        return -np.sum(_mix([stats.poisson.logpmf(y, np.exp(v[0] + v[1] * x)), stats.poisson.logpmf(y, np.exp(v[2])),
                             np.where(y == 0, 0.0, -np.inf)], [v[3], v[4]]))

    v, llf = _maximise(negll, np.r_[1.0, 1.0, np.log(6.0), np.log(0.3 / 0.5), np.log(0.2 / 0.5)])
    res = EMGLM.from_formula(["y ~ x", "y ~ 1"], df, family=sm.families.Poisson(), point_mass=0.0).fit(tol=1e-12)
    assert res.llf == pytest.approx(llf, rel=1e-6)
    p = res.proportions.to_numpy()
    est = np.r_[res.params.loc[["Intercept", "x"], "comp1"], res.params.loc["Intercept", "comp2"],
                np.log(p[1] / p[0]), np.log(p[2] / p[0])]
    np.testing.assert_allclose(est, v, atol=1e-4)


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs, err, match", [
    (dict(formula=["y ~ x", "w ~ x"]), ValueError, "same response"),
    (dict(formula=["y ~ x", "y ~ 1"], k=3), ValueError, "one per component; got 2 for k=3"),
    (dict(formula=["y ~ x", "y ~ 1"], family=[sm.families.Gaussian()] * 3), ValueError, "3 families for 2 formulas"),
    (dict(formula=["y ~ x", "y ~ 1"], fixed="~ zc"), ValueError, r"fixed: term\(s\) \['zc'\] appear in none"),
    (dict(formula=["y ~ x", 3]), TypeError, "each formula of the list"),
    (dict(formula=[]), ValueError, "empty"),
])
def test_formula_list_errors(kwargs, err, match):
    df = _gauss_data(n=50)
    with pytest.raises(err, match=match):
        EMGLM.from_formula(data=df, **kwargs)


def test_single_formula_needs_k_and_family_list_gives_it():
    df = _gauss_data(n=200)
    with pytest.raises(TypeError, match="k must be an integer"):
        EMGLM.from_formula("y ~ x", df)
    assert EMGLM.from_formula("y ~ x", df, family=[sm.families.Gaussian()] * 2).k == 2


def test_component_families_and_family_lists_are_stored_in_files():
    from emglm.components import MNLogit, Tobit, Weibull

    rng = np.random.default_rng(6)
    n = 400
    df = pd.DataFrame({"x": rng.uniform(-1, 1, n)})
    df["t"] = np.exp(1 + df.x + 0.5 * rng.gumbel(size=n))
    df["d"] = (rng.random(n) < 0.8).astype(float)
    df["c"] = pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi"])
    df["yc"] = np.maximum(df.x + rng.normal(size=n), 0.0)
    fits = [EMGLM.from_formula("t ~ x", df, k=1, family=Weibull(status="d")).fit(),
            EMGLM.from_formula("c ~ x", df, k=1, family=MNLogit()).fit(),
            EMGLM.from_formula(["yc ~ x", "yc ~ 1"], df, family=[Tobit(lower=0.0), sm.families.Gaussian()]).fit()]
    new = df.head(4)
    for res in fits:
        path = os.path.join(tempfile.mkdtemp(), "f.emglm")
        res.save(path)
        back = emglm.load(path)
        assert back.model.family_name == res.model.family_name
        pd.testing.assert_frame_equal(back.params, res.params)
        assert back.llf == pytest.approx(res.llf, rel=1e-12)
        which = "prob" if res.model.family_name == "MNLogit" else "mean"
        np.testing.assert_allclose(np.asarray(back.predict(new, which=which)), np.asarray(res.predict(new, which=which)))


def test_formula_list_starts_and_one_formula():
    df = _gauss_data(n=600)
    model = EMGLM.from_formula(["y ~ x + w", "y ~ w"], df)
    with pytest.raises(ValueError, match="start_params: .* pass start= class labels"):
        model.fit(start_params=np.zeros((3, 2)))
    labels = (df.y.to_numpy() < np.median(df.y)).astype(int)
    assert model.fit(start=labels, tol=1e-10).llf == pytest.approx(model.fit(tol=1e-10).llf, rel=1e-8)
    # one formula in a list is the plain one-component model
    one = EMGLM.from_formula(["y ~ x"], df).fit()
    ref = sm.GLM(df.y, sm.add_constant(df[["x"]])).fit()
    np.testing.assert_allclose(one.params["comp1"].to_numpy(), ref.params.to_numpy(), rtol=1e-8)


def test_delta_method_predictions_refused_clearly(hybrid):
    _, res = hybrid
    for f in (res.get_margeff, res.class_means, res.class_probabilities, res.get_prediction):
        with pytest.raises(NotImplementedError, match="one GLM family and design"):
            f()


def test_collinearity_is_checked_within_each_formula():
    from emglm.warnings import CollinearityWarning

    rng = np.random.default_rng(7)
    df = pd.DataFrame({"g": rng.choice(["a", "b"], 300), "x": rng.normal(size=300), "y": rng.normal(size=300)})
    df["x2"] = 2 * df.x
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", CollinearityWarning)
        # the union of these two codings is collinear, each formula's own columns are not
        EMGLM.from_formula(["y ~ C(g)", "y ~ C(g) - 1"], df)
    with pytest.warns(CollinearityWarning, match="x2 is a linear combination of x"):
        EMGLM.from_formula(["y ~ x + x2", "y ~ 1"], df)


def test_shared_term_among_two_of_three_components_reaches_direct_maximum():
    rng = np.random.default_rng(8)
    n = 2400
    x, w = rng.normal(size=n), rng.normal(size=n)
    c = rng.choice(3, size=n, p=[0.4, 0.35, 0.25])
    y = np.select([c == 0, c == 1], [2.0 + 1.5 * x + 0.8 * w, -2.0 + 0.8 * w], 6.0) + rng.normal(0, 0.5, n)
    df = pd.DataFrame({"y": y, "x": x, "w": w})

    def negll(v):  # w's coefficient v[3] in the first two classes only
        return -np.sum(_mix([_norm(y, v[0] + v[1] * x + v[3] * w, v[5]), _norm(y, v[2] + v[3] * w, v[6]),
                             _norm(y, v[4], v[7])], [v[8], v[9]]))

    v0 = np.r_[2.0, 1.5, -2.0, 0.8, 6.0, np.log(0.25), np.log(0.25), np.log(0.25), np.log(0.35 / 0.4), np.log(0.25 / 0.4)]
    v, llf = _maximise(negll, v0)
    res = EMGLM.from_formula(["y ~ x + w", "y ~ w", "y ~ 1"], df, fixed="~ w").fit(tol=1e-12)
    assert res.llf == pytest.approx(llf, rel=1e-6)
    b, p = res.params, res.proportions.to_numpy()
    assert np.isnan(b.loc["w", "comp3"]) and b.loc["w", "comp1"] == b.loc["w", "comp2"]
    est = np.r_[b.loc[["Intercept", "x"], "comp1"], b.loc["Intercept", "comp2"], b.loc["w", "comp1"],
                b.loc["Intercept", "comp3"], np.log(res.scale.to_numpy()), np.log(p[1:] / p[0])]
    np.testing.assert_allclose(est, v, atol=1e-4)
    se = _se(negll, v)
    np.testing.assert_allclose(res.bse.loc["w", ["comp1", "comp2"]].to_numpy(), [se[3], se[3]], rtol=2e-3)
    assert np.isnan(res.bse.loc["w", "comp3"])
    assert "Shared terms (w: comp1, comp2)" in res.summary().as_text()


def test_ordinal_formulas_with_a_categorical_response_reach_direct_maximum():
    from emglm.components import OrderedLogit

    rng = np.random.default_rng(9)
    n = 2000
    x = rng.uniform(-1.5, 1.5, n)
    z = rng.random(n) < 0.55
    lat = np.where(z, 2.0 * x, 0.0) + rng.logistic(size=n)
    codes = np.where(z, np.digitize(lat, [-1.0, 0.5, 1.5]), np.digitize(lat, [-2.0, -1.5, 2.5]))
    levels = ["low", "mid", "high", "top"]
    df = pd.DataFrame({"r": pd.Categorical.from_codes(codes, levels, ordered=True), "x": x})

    def cuts(v):
        return np.r_[v[0], v[0] + np.cumsum(np.exp(v[1:]))]

    def ologit(eta, c):
        F = np.column_stack([np.zeros(n), special.expit(c[None, :] - eta[:, None]), np.ones(n)])
        return np.log(F[np.arange(n), codes + 1] - F[np.arange(n), codes])

    def negll(v):
        return -np.sum(_mix([ologit(v[0] * x, cuts(v[1:4])), ologit(np.zeros(n), cuts(v[4:7]))], [v[7]]))

    v, llf = _maximise(negll, np.r_[2.0, -1.0, np.log(1.5), 0.0, -2.0, np.log(0.5), np.log(4.0), np.log(0.45 / 0.55)])
    res = EMGLM.from_formula(["r ~ x", "r ~ 1"], df, family=OrderedLogit()).fit(tol=1e-12)
    assert res.llf == pytest.approx(llf, rel=1e-6)
    b, p = res.params, res.proportions.to_numpy()
    est = np.r_[b.loc[["x", "cut1", "log_dcut2", "log_dcut3"], "comp1"],
                b.loc[["cut1", "log_dcut2", "log_dcut3"], "comp2"], np.log(p[1] / p[0])]
    np.testing.assert_allclose(est, v, atol=1e-4)
    assert np.isnan(b.loc["x", "comp2"])


def test_formula_per_component_on_dask_refused_clearly():
    dd = pytest.importorskip("dask.dataframe")
    df = _gauss_data(n=40)
    with pytest.raises(TypeError, match="a formula per component fits in memory"):
        EMGLM.from_formula(["y ~ x", "y ~ 1"], dd.from_pandas(df, npartitions=2), k=2)
