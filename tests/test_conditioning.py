"""Estimates do not depend on the location or units of a covariate: the IRLS solves work on
centred and scaled columns and map back (a timestamp-like covariate used to lose its slope)."""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

from emglm import EMGLM


def _fit(y, X, family, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return EMGLM(y, X, k=2, family=family).fit(**kw)


def _data(kind, n=500, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    z = rng.random(n) < 0.5
    if kind == "poisson":
        y = rng.poisson(np.exp(np.where(z, 0.5 + 0.2 * x, 2.0 - 0.1 * x))).astype(float)
        return y, x, sm.families.Poisson()
    y = np.where(z, 1 + 2 * x, 5 - x) + rng.normal(0, 1, n)
    return y, x, sm.families.Gaussian()


@pytest.mark.parametrize("kind", ["poisson", "gaussian"])
@pytest.mark.parametrize("shift, unit", [(1.7e9, 1.0), (0.0, 1e6), (-3e4, 1e-4)],
                         ids=["timestamp", "large-units", "shift-and-small-units"])
def test_location_and_units_of_a_covariate_do_not_change_the_fit(kind, shift, unit):
    y, x, fam = _data(kind)
    base = _fit(y, np.column_stack([np.ones_like(x), x]), fam)
    moved = _fit(y, np.column_stack([np.ones_like(x), shift + unit * x]), fam)
    assert moved.llf == pytest.approx(base.llf, rel=1e-7, abs=1e-6)
    # slopes transform by the units; the intercepts absorb the shift
    np.testing.assert_allclose(moved.params.to_numpy()[1] * unit, base.params.to_numpy()[1], rtol=1e-5)
    eta_b = base.params.to_numpy()[0] + np.outer(x, base.params.to_numpy()[1])
    eta_m = moved.params.to_numpy()[0] + np.outer(shift + unit * x, moved.params.to_numpy()[1])
    np.testing.assert_allclose(eta_m, eta_b, atol=1e-5)


def test_k1_with_a_timestamp_covariate_equals_statsmodels_on_centred_data():
    """The reference is statsmodels on the centred covariate, mapped back by hand."""
    y, x, fam = _data("poisson")
    t = 1.7e9 + x
    res = EMGLM(y, np.column_stack([np.ones_like(t), t]), k=1, family=fam).fit()
    ref = sm.GLM(y, np.column_stack([np.ones_like(x), x - x.mean()]), family=fam).fit()
    slope = ref.params[1]
    np.testing.assert_allclose(res.params.to_numpy()[1, 0], slope, rtol=1e-8)
    assert res.llf == pytest.approx(ref.llf, rel=1e-9)


def test_shared_terms_far_from_zero():
    rng = np.random.default_rng(2)
    n = 400
    x, w = rng.uniform(0, 5, n), rng.uniform(0, 1, n)
    z = rng.random(n) < 0.5
    y = rng.poisson(np.exp(np.where(z, 0.3 + 0.3 * x, 1.5 - 0.2 * x) + 0.5 * w)).astype(float)
    X = np.column_stack([np.ones(n), x])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = EMGLM(y, X, k=2, family=sm.families.Poisson(), fixed=w[:, None]).fit()
        moved = EMGLM(y, X, k=2, family=sm.families.Poisson(), fixed=(w + 5e8)[:, None]).fit()
    assert moved.llf == pytest.approx(base.llf, rel=1e-7)
    np.testing.assert_allclose(moved.params.to_numpy()[2], base.params.to_numpy()[2], rtol=1e-5)


@pytest.mark.parametrize("family", [sm.families.Gamma(sm.families.links.Log()),
                                    sm.families.InverseGaussian(sm.families.links.Log())],
                         ids=["gamma", "inverse_gaussian"])
def test_response_in_tiny_units_gives_the_same_fit(family):
    """statsmodels' log link clips means at machine epsilon; y * 1e-20 used to drift."""
    rng = np.random.default_rng(0)
    n = 400
    x = rng.uniform(-1, 1, n)
    z = rng.random(n) < 0.5
    y = rng.gamma(3.0, np.exp(np.where(z, 1 + x, -0.5 - x)) / 3.0)
    X = np.column_stack([np.ones(n), x])
    base = _fit(y, X, family)
    tiny = _fit(y * 1e-20, X, family)
    np.testing.assert_allclose(tiny.params.to_numpy()[1], base.params.to_numpy()[1], rtol=1e-6)
    np.testing.assert_allclose(tiny.params.to_numpy()[0], base.params.to_numpy()[0] + np.log(1e-20), rtol=1e-8)
    # the llf moves by the Jacobian of the change of units only (log f(c y) = log f(y) - log c)
    assert tiny.llf + n * np.log(1e-20) == pytest.approx(base.llf, rel=1e-7)


def test_response_too_large_in_magnitude_is_refused_before_fitting():
    X = np.column_stack([np.ones(50), np.linspace(-1, 1, 50)])
    y = np.exp(np.linspace(0, 1, 50)) * 1e200
    with pytest.raises(ValueError, match="y: values up to .* too large in magnitude.*rescale the response"):
        EMGLM(y, X, k=2, family=sm.families.Gamma(sm.families.links.Log()))


def test_exactly_collinear_columns_are_named():
    import pandas as pd

    from emglm import CollinearityWarning

    rng = np.random.default_rng(5)
    df = pd.DataFrame({"x": rng.normal(size=60), "z": rng.normal(size=60)})
    df["x2"] = 3 * df.x - 1
    df["y"] = rng.poisson(np.exp(0.5 + 0.3 * df.x)).astype(float)
    with pytest.warns(CollinearityWarning, match=r"x2 is a linear combination of (Intercept, x|x, Intercept)"):
        EMGLM.from_formula("y ~ x + z + x2", df, k=2, family=sm.families.Poisson())
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollinearityWarning)
        EMGLM.from_formula("y ~ x + z", df, k=2, family=sm.families.Poisson())  # no warning
