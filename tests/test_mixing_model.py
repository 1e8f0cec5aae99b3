"""The mixing model's coefficients (issue 18): ``mixing_params`` against a direct maximisation
and statsmodels ``MNLogit``, ``bse_mixing``, and a warning when the concomitant variables
separate the components."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize, special

from emglm import EMGLM, MixingSeparationWarning


@pytest.fixture(scope="module")
def conc():
    rng = np.random.default_rng(11)
    n = 1500
    df = pd.DataFrame({"x": rng.normal(size=n), "w": rng.normal(size=n)})
    lab = rng.random(n) < special.expit(-0.4 + 1.2 * df.w)
    df["y"] = np.where(lab, 6 + df.x, -6 - df.x) + rng.normal(0, 1, n)
    res = EMGLM.from_formula("y ~ x", df, k=2, concomitant="~ w").fit(tol=1e-12)
    return df, lab, res


def test_mixing_params_maximise_the_weighted_multinomial_likelihood(conc):
    df, _, res = conc
    T = res.posterior.to_numpy()
    Z = np.column_stack([np.ones(len(df)), df.w])

    def negq(g):  # sum_i sum_j T_ij log pi_ij with pi_i2 = expit(z_i g)
        e = Z @ g
        return -np.sum(T[:, 1] * e - np.logaddexp(0.0, e))

    direct = optimize.minimize(negq, np.zeros(2), method="BFGS", options={"gtol": 1e-10}).x
    mp = res.mixing_params
    assert list(mp.index) == ["Intercept", "w"] and list(mp.columns) == ["comp2"]
    np.testing.assert_allclose(mp["comp2"].to_numpy(), direct, rtol=1e-4, atol=1e-6)
    # components are ordered (comp2 = the y ~ +6 class), so the truth (-0.4, 1.2) is recovered
    np.testing.assert_allclose(mp["comp2"].to_numpy(), [-0.4, 1.2], atol=0.25)


def test_bse_mixing_matches_mnlogit_when_classes_are_certain(conc):
    df, lab, res = conc
    # the components are 12 standard deviations apart: the posterior is the label, and the
    # mixing model's information is a multinomial logit's on the labels
    assert np.mean(np.abs(res.posterior["comp2"] - lab)) < 1e-6
    mn = sm.MNLogit(lab.astype(int), sm.add_constant(df.w.to_numpy())).fit(disp=0)
    np.testing.assert_allclose(res.mixing_params["comp2"], np.asarray(mn.params)[:, 0], rtol=1e-5)
    np.testing.assert_allclose(res.bse_mixing["comp2"], np.asarray(mn.bse)[:, 0], rtol=0.02)
    assert res.bse_mixing.shape == res.mixing_params.shape


def test_constant_and_equal_mixing():
    rng = np.random.default_rng(1)
    y = np.concatenate([rng.normal(-3, 1, 100), rng.normal(3, 1, 300)])
    res = EMGLM(y, np.ones((400, 1)), k=2).fit()
    p = res.proportions
    assert res.mixing_params.loc["Intercept", "comp2"] == pytest.approx(np.log(p["comp2"] / p["comp1"]))
    eq = EMGLM(y, np.ones((400, 1)), k=2, mixing="equal").fit()
    assert eq.mixing_params.empty and eq.bse_mixing.empty


def _separated(n=400, seed=3):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, n)
    df = pd.DataFrame({"s": s.astype(float), "x": rng.normal(size=n)})
    df["y"] = np.where(s == 1, 8 + df.x, -8 - df.x) + rng.normal(0, 1, n)
    return df


def test_separated_mixing_model_warns():
    df = _separated()
    with pytest.warns(MixingSeparationWarning, match="separate"):
        res = EMGLM.from_formula("y ~ x", df, k=2, concomitant="~ s").fit()
    assert np.abs(res.mixing_params.to_numpy()).max() > 10


def test_no_warning_without_separation(conc):
    df, _, _ = conc
    with warnings.catch_warnings():
        warnings.simplefilter("error", MixingSeparationWarning)
        EMGLM.from_formula("y ~ x", df, k=2, concomitant="~ w").fit()
