"""Hard data: separation, collapsing components, vanishing components, too many components.

Every case must give finite parameters, llf and posteriors, a DegenerateComponentWarning,
a non-decreasing llf history, and no stray RuntimeWarning or LinAlgError.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

from emglm import EMGLM, DegenerateComponentWarning
from emglm.degenerate import VAR_FLOOR_REL


def fit_checked(model, match=None, **kw):
    """Fit; check finiteness, ascent, warnings. Returns (results, warning messages)."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = model.fit(**kw)
    runtime = [str(w.message) for w in rec if issubclass(w.category, RuntimeWarning)]
    assert runtime == [], runtime
    msgs = [str(w.message) for w in rec if issubclass(w.category, DegenerateComponentWarning)]
    if match is not None:
        assert any(m_ for m_ in msgs if __import__("re").search(match, m_)), msgs
    k = res.k
    assert np.all(np.isfinite(res.params.iloc[:, :k].to_numpy()))
    assert np.isfinite(res.llf)
    T = res.posterior.to_numpy()
    assert np.all(np.isfinite(T)) and np.allclose(T.sum(axis=1), 1.0)
    assert np.all(np.isfinite(res.proportions)) and np.all(np.isfinite(res.scale))
    assert np.all(res.scale > 0)
    h = res.llf_history
    assert np.all(np.diff(h) >= -1e-8 * (1.0 + np.abs(h[:-1]))), np.diff(h).min()
    return res, msgs


def test_binomial_separation_inside_component():
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(size=n)
    z = rng.random(n) < 0.5
    y = np.where(z, (x > 0).astype(float), rng.binomial(1, 0.5, n))  # one class separated by x
    X = np.column_stack([np.ones(n), x])
    res, _ = fit_checked(EMGLM(y, X, k=2, family=sm.families.Binomial()), match=r"separation")
    # the separated component has a steep slope; the other stays near zero
    slopes = np.sort(np.abs(res.params.loc["x1"].to_numpy()))
    assert slopes[1] > 10 and slopes[0] < 5


def test_binomial_complete_separation_all_rows():
    rng = np.random.default_rng(1)
    x = rng.normal(size=100)
    X = np.column_stack([np.ones(100), x])
    res, _ = fit_checked(EMGLM((x > 0).astype(float), X, k=2, family=sm.families.Binomial()),
                         match=r"separation")
    assert res.llf <= 0 and res.llf > -1e-3  # a perfect fit, reached with finite coefficients


def test_poisson_all_zero_component():
    rng = np.random.default_rng(2)
    g = np.r_[np.zeros(50), np.ones(50)]
    y = np.r_[np.zeros(50), rng.poisson(5, 50)]
    X = np.column_stack([np.ones(100), g])
    fit_checked(EMGLM(y, X, k=2, family=sm.families.Poisson()), match=r"numerically at the boundary")


def test_gaussian_collapse_onto_repeated_points_hits_relative_floor():
    rng = np.random.default_rng(0)
    y = np.concatenate([rng.normal(0, 1, 100), np.full(30, 5.0)])
    res, _ = fit_checked(EMGLM(y, np.ones((130, 1)), k=2), match=r"dispersion at the floor")
    floor = VAR_FLOOR_REL * np.var(y)  # the ML variance of the constant-mean model
    assert res.scale.min() == pytest.approx(floor, rel=1e-12)
    assert res.params.loc["x", res.scale.idxmin()] == pytest.approx(5.0, abs=1e-6)
    # the other component is the N(0, 1) sample's ML fit
    other = res.scale.idxmax()
    assert res.params.loc["x", other] == pytest.approx(y[:100].mean(), abs=1e-5)
    assert res.scale[other] == pytest.approx(y[:100].var(), rel=1e-4)
    # the floor scales with the data: the same fit on y * 1000 has the floor 1e6 times larger
    res2, _ = fit_checked(EMGLM(y * 1000, np.ones((130, 1)), k=2), match=r"dispersion at the floor")
    assert res2.scale.min() == pytest.approx(floor * 1e6, rel=1e-12)


def test_gaussian_collapse_with_covariate_exact_fit():
    """A component fitting a few rows exactly (p points on a line) stays finite."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, 60)
    y = np.where(np.arange(60) < 8, 3.0 + 2.0 * x, rng.normal(0, 1, 60))
    X = np.column_stack([np.ones(60), x])
    start = (np.arange(60) < 8).astype(int)
    res, _ = fit_checked(EMGLM(y, X, k=2), match=r"floor", start=start)
    j = res.scale.idxmin()
    np.testing.assert_allclose(res.params[j].to_numpy(), [3.0, 2.0], atol=1e-6)


def test_gamma_collapse():
    rng = np.random.default_rng(0)
    y = np.concatenate([rng.gamma(2, 1, 100), np.full(30, 3.0)])
    fit_checked(EMGLM(y, np.ones((130, 1)), k=2, family=sm.families.Gamma(sm.families.links.Log())),
                match=r"dispersion at the floor")


def test_k_equals_n():
    res, msgs = fit_checked(EMGLM(np.array([1.0, 2.0, 3.0]), np.ones((3, 1)), k=3), match=r"floor")
    np.testing.assert_allclose(np.sort(res.params.to_numpy().ravel()), [1.0, 2.0, 3.0], atol=1e-6)


def test_more_components_than_the_data_support_poisson():
    """Poisson counts from one distribution, k=5: components coincide (or empty out)."""
    rng = np.random.default_rng(0)
    y = rng.poisson(2, 50)
    fit_checked(EMGLM(y, np.ones((50, 1)), k=5, family=sm.families.Poisson()),
                match=r"coincide|effective size")


def test_tiny_component_is_reported():
    rng = np.random.default_rng(0)
    n = 300
    y = rng.normal(size=n)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    start = np.r_[np.zeros(n - 2, int), [1, 1]]  # two rows for a three-coefficient component
    res, msgs = fit_checked(EMGLM(y, X, k=2), match=r"floor|effective size", start=start)
    assert res.k == 2  # without min_proportion nothing is removed


def test_min_proportion_removes_component_and_matches_smaller_fit():
    rng = np.random.default_rng(0)
    n = 300
    y = rng.normal(size=n)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    model = EMGLM(y, X, k=2)
    start = np.r_[np.zeros(n - 2, int), [1, 1]]
    res, msgs = fit_checked(model, match=r"removed 1 component\(s\) with proportion below min_proportion=0.05",
                            start=start, min_proportion=0.05)
    assert res.k == 1 and res.model.k == 1 and model.k == 2  # the user's model is untouched
    assert list(res.params.columns) == ["comp1"]
    ref = sm.GLM(y, X).fit()
    np.testing.assert_allclose(res.params["comp1"].to_numpy(), ref.params, atol=1e-6)
    assert res.llf == pytest.approx(ref.llf, rel=1e-9)
    assert res.df_model == 4  # three coefficients and one variance, no mixing parameter


def test_min_proportion_with_concomitant_and_several_starts():
    rng = np.random.default_rng(1)
    n = 300
    z = rng.normal(size=n)
    y = rng.poisson(3, n)
    model = EMGLM(y, np.ones((n, 1)), k=3, family=sm.families.Poisson(), concomitant=np.column_stack([np.ones(n), z]))
    res, msgs = fit_checked(model, start="random", n_starts=3, random_state=0, min_proportion=0.3)
    assert res.k < 3
    assert any("removed" in m for m in msgs)
    assert res.proportions.min() >= 0.3 - 1e-9 or res.k == 1
    # only the kept start's removals are reported: they account for exactly 3 - k components
    import re
    removed = [int(re.search(r"removed (\d+) component", m).group(1)) for m in msgs if "removed" in m]
    assert sum(removed) == 3 - res.k, msgs


def test_min_proportion_keeps_point_mass():
    rng = np.random.default_rng(2)
    n = 400
    y = np.where(rng.random(n) < 0.3, 0, rng.poisson(4, n))
    model = EMGLM(y, np.ones((n, 1)), k=2, family=sm.families.Poisson(), point_mass=0.0)
    res, _ = fit_checked(model, start="random", random_state=3, min_proportion=0.2)
    assert res.model.point_mass == 0.0 and "point_mass" in res.params.columns
    assert res.proportions["point_mass"] == pytest.approx(0.3, abs=0.1)


def test_min_proportion_zero_or_none_changes_nothing():
    rng = np.random.default_rng(4)
    y = np.r_[rng.normal(-2, 1, 100), rng.normal(2, 1, 100)]
    m = EMGLM(y, np.ones((200, 1)), k=2)
    a = m.fit()
    b = m.fit(min_proportion=0.0)
    c = m.fit(min_proportion=0.01)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.theta, c.theta)


def test_grouped_collapse_is_finite():
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(20), 5)
    y = np.where(groups < 4, 7.0, rng.normal(0, 1, 100))  # four groups of identical values
    fit_checked(EMGLM(y, np.ones((100, 1)), k=2, groups=groups), match=r"floor")


def test_constant_response():
    fit_checked(EMGLM(np.full(30, 2.0), np.ones((30, 1)), k=2), match=r"floor|coincide")


def test_collinear_design_no_linalg_error():
    rng = np.random.default_rng(6)
    x = rng.normal(size=80)
    X = np.column_stack([np.ones(80), x, 2 * x])  # rank 2
    y = rng.poisson(np.exp(0.5 + 0.3 * x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        res = EMGLM(y, X, k=2, family=sm.families.Poisson()).fit()
    assert np.all(np.isfinite(res.params.to_numpy())) and np.isfinite(res.llf)
