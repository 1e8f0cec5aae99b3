"""Errors that name the problem (issue 18): family parameters checked up front, a non-numeric
response, an empty frame."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from emglm import EMGLM

FAM = sm.families


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=200)})
    df["y"] = rng.poisson(np.exp(0.3 + 0.5 * df.x))  # zeros included
    return df


@pytest.mark.parametrize("family, match", [
    (FAM.NegativeBinomial(alpha=-1.0), "NegativeBinomial alpha must be a positive number, got -1"),
    (FAM.NegativeBinomial(alpha=0.0), "NegativeBinomial alpha must be a positive number, got 0"),
    (FAM.NegativeBinomial(alpha=np.inf), "alpha must be a positive number"),
    (FAM.Tweedie(var_power=3.5), r"Tweedie var_power must lie in \[1, 2\].*got 3.5"),
    (FAM.Tweedie(var_power=0.5), r"var_power must lie in \[1, 2\]"),
])
def test_family_parameters_are_named(counts, family, match):
    with pytest.raises(ValueError, match=match) as info:
        EMGLM.from_formula("y ~ x", counts, k=2, family=family)
    assert str(info.value).startswith("family:")
    with pytest.raises(ValueError, match=match):  # array models too
        EMGLM(counts.y.to_numpy(), np.ones((200, 1)), k=1, family=family)


def test_tweedie_inside_the_range_fits_and_matches_statsmodels(counts):
    """Where the parameter is accepted the density works: a one-component fit equals statsmodels
    GLM (Tweedie with var_power 1.5, zeros in the data)."""
    y = counts.y.to_numpy() * 1.3
    X = np.column_stack([np.ones(200), counts.x])
    fam = FAM.Tweedie(var_power=1.5)
    res = EMGLM(y, X, k=1, family=fam).fit()
    ref = sm.GLM(y, X, family=FAM.Tweedie(var_power=1.5)).fit()
    np.testing.assert_allclose(res.params["comp1"], ref.params, rtol=1e-5)


def test_tweedie_power_two_needs_positive_responses(counts):
    with pytest.raises(ValueError, match="var_power=2 must be positive"):
        EMGLM.from_formula("y ~ x", counts, k=1, family=FAM.Tweedie(var_power=2.0))


def test_text_response_says_so(counts):
    df = counts.assign(s=np.where(counts.y > 1, "hi", "lo"), b=counts.y > 1)
    for family in (FAM.Gaussian(), FAM.Binomial()):
        with pytest.raises(TypeError, match="response 's' is not numeric.*'hi', 'lo'"):
            EMGLM.from_formula("s ~ x", df, k=1, family=family)
    with pytest.raises(TypeError, match=r"response 'b' is not numeric.*I\(b \* 1\)"):
        EMGLM.from_formula("b ~ x", df, k=1, family=FAM.Binomial())
    # the suggested coding works, and is the 0/1 response of the level named
    res = EMGLM.from_formula("I((s == 'hi') * 1) ~ x", df, k=1, family=FAM.Binomial())
    np.testing.assert_array_equal(res.endog, (df.s == "hi").to_numpy(dtype=float))
    # a two-column numeric Binomial response is still fine
    df2 = pd.DataFrame({"s": [1, 2, 0, 3], "f": [2, 1, 3, 0], "x": [0.0, 1.0, 2.0, 3.0]})
    assert EMGLM.from_formula("s + f ~ x", df2, k=1, family=FAM.Binomial()).trials.tolist() == [3, 3, 3, 3]


def test_empty_frame(counts):
    with pytest.raises(ValueError, match="data has no rows"):
        EMGLM.from_formula("y ~ x", counts.iloc[:0].astype(object), k=2)
