"""Issue 19 reproducers: start values, non-invertible information, extreme options.

Each test reproduces a probe that misbehaved in the release before these checks (a wrong
answer reported as converged, a LinAlgError, numpy's message instead of the option's name).
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

from emglm import EMGLM
from emglm.warnings import ConvergenceWarning, DegenerateComponentWarning


@pytest.fixture(scope="module")
def poisson_data():
    rng = np.random.default_rng(0)
    n = 200
    x = rng.uniform(-1, 1, n)
    z = rng.random(n) < 0.5
    X = np.column_stack([np.ones(n), x])
    y = rng.poisson(np.exp(np.where(z, 2 + x, 0.2 - x)))
    return y, X


def test_one_component_llf_equals_statsmodels(poisson_data):
    import emglm.safeguards as sg

    y, X = poisson_data
    m = EMGLM(y, X, k=2, family=sm.families.Poisson())
    ref = sm.GLM(y, X, family=sm.families.Poisson()).fit().llf
    assert sg.one_component_llf(m) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("start", [[[50.0, -50.0], [0.0, 0.0]], [[1e10, -1e10], [0.0, 0.0]]])
def test_far_start_params_refused(poisson_data, start):
    """Before: llf -52,363 with proportions [1, 0], reported as converged."""
    y, X = poisson_data
    m = EMGLM(y, X, k=2, family=sm.families.Poisson())
    with pytest.raises(ValueError, match="start_params: the log-likelihood at these start values"):
        m.fit(start_params=np.array(start))


def test_start_params_with_infinite_llf_refused(poisson_data):
    """Before: llf = -inf and NaN proportions (Gamma, start 1e10)."""
    y, X = poisson_data
    m = EMGLM(y + 0.5, X, k=2, family=sm.families.Gamma(sm.families.links.Log()))
    with pytest.raises(ValueError, match=r"start_params: the log-likelihood at these start values is -inf"):
        m.fit(start_params=np.array([[1e10, -1e10], [0.0, 0.0]]))
    # before: scipy's "f(a) and f(b) must have different signs" from a root finder
    with pytest.raises(ValueError, match="far below the one-component model"):
        m.fit(start_params=np.array([[50.0, -50.0], [0.0, 0.0]]))


def test_reasonable_start_params_accepted(poisson_data):
    y, X = poisson_data
    m = EMGLM(y, X, k=2, family=sm.families.Poisson())
    ref = m.fit()
    res = m.fit(start_params=ref.params.to_numpy() + 0.3)
    assert res.llf == pytest.approx(ref.llf, rel=1e-8)


def test_below_one_component_fit_warns(poisson_data, monkeypatch):
    """With the start check switched off, the bad start still cannot pass silently."""
    import emglm.safeguards as sg

    y, X = poisson_data
    m = EMGLM(y, X, k=2, family=sm.families.Poisson())
    monkeypatch.setattr(sg, "FAR_BELOW_PER_UNIT", np.inf)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = m.fit(start_params=np.array([[50.0, -50.0], [0.0, 0.0]]))
    llf1 = sm.GLM(y, X, family=sm.families.Poisson()).fit().llf
    assert res.llf < llf1 - 1.0  # the poor solution is reached...
    msgs = [str(w.message) for w in rec if issubclass(w.category, ConvergenceWarning)]
    assert any("below that of the one-component model" in s for s in msgs), msgs  # ...and reported


def test_good_fit_does_not_warn_below(poisson_data):
    y, X = poisson_data
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        EMGLM(y, X, k=2, family=sm.families.Poisson()).fit()
    assert not [w for w in rec if issubclass(w.category, ConvergenceWarning)]


# ------------------------------------------------------------------ covariance never raises
def _near_degenerate_gamma():
    # 7 identical responses among 20: a Gamma component collapses onto them
    rng = np.random.default_rng(17)
    x = rng.normal(size=20)
    y = np.r_[np.full(7, 2.0), rng.gamma(2, 1, 13)]
    X = np.column_stack([np.ones(20), x])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the residual-split starts of the first release reach the near-degenerate optimum
        return EMGLM(y, X, k=3, family=sm.families.Gamma(sm.families.links.Log())).fit(
            start="fit", n_starts=3, random_state=17, stop="llf")


def test_near_degenerate_fit_bse_and_summary_do_not_raise():
    """Before: LinAlgError 'Eigenvalues did not converge' from res.bse and summary()."""
    res = _near_degenerate_gamma()
    # the analytic information is finite here (two dispersions sit at the floor, a boundary:
    # their curvature is negative), so the covariance is a pseudo-inverse, with a warning
    with pytest.warns(DegenerateComponentWarning, match="not positive definite"):
        bse = res.bse
    assert np.isfinite(bse.to_numpy()).any()
    text = res.summary().as_text()
    assert "comp1" in text


def test_near_degenerate_numerical_information_non_finite_gives_nan(monkeypatch):
    # central differences of the score step past the floor and give non-finite entries:
    # the affected parameters get NaN, the others finite standard errors
    import functools

    from emglm import inference

    res = _near_degenerate_gamma()
    monkeypatch.setattr(inference, "observed_information",
                        functools.partial(inference.observed_information, method="numerical"))
    monkeypatch.setattr(inference, "supports_analytic", lambda mix: False)  # the numerical route
    with pytest.warns(DegenerateComponentWarning, match="non-finite entries"):
        bse = res.bse
    assert bse.isna().to_numpy().any() and np.isfinite(bse.to_numpy()).any()
    assert "nan" in res.summary().as_text()


def test_inverse_with_non_finite_entries_matches_finite_block():
    from emglm.inference import _inverse

    rng = np.random.default_rng(3)
    A = rng.normal(size=(5, 5))
    info = A @ A.T + 5 * np.eye(5)
    info[1, 3] = info[3, 1] = np.nan  # parameter 3's row and column are not finite
    info[3, 3] = np.inf
    with pytest.warns(DegenerateComponentWarning, match="2 of 5 parameter"):
        inv, ok = _inverse(info)
    assert ok is False
    good = [0, 2, 4]  # 1 shares a non-finite entry with 3: neither can be trusted
    # reference: the inverse of the finite block (those parameters given the others known)
    np.testing.assert_allclose(inv[np.ix_(good, good)], np.linalg.inv(info[np.ix_(good, good)]), rtol=1e-10)
    assert np.isnan(inv[3]).all() and np.isnan(inv[:, 3]).all()


def test_inverse_when_eigh_fails(monkeypatch):
    from emglm import inference

    def broken(A):
        raise np.linalg.LinAlgError("Eigenvalues did not converge")

    monkeypatch.setattr(inference.np.linalg, "eigh", broken)
    monkeypatch.setattr(inference, "_scipy_eigh", broken)
    with pytest.warns(DegenerateComponentWarning, match="did not converge"):
        inv, ok = inference._inverse(np.eye(3))
    assert np.isnan(inv).all() and ok is False


def test_inverse_of_badly_scaled_definite_matrix():
    from emglm.inference import _inverse

    rng = np.random.default_rng(4)
    A = rng.normal(size=(4, 4))
    M = A @ A.T + np.eye(4)
    d = np.array([1e-6, 1.0, 1e4, 1e8])
    info = M * d[:, None] * d[None, :]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # positive definite: no warning
        inv, ok = _inverse(info)
    assert ok is True
    # closed form: (D M D)^-1 = D^-1 M^-1 D^-1
    np.testing.assert_allclose(inv, np.linalg.inv(M) / d[:, None] / d[None, :], rtol=1e-8)


# ------------------------------------------------------------------ smaller options
@pytest.mark.parametrize("tol", [np.inf, np.nan, 0.0, -1e-8, "1e-8"])
def test_tol_refused(poisson_data, tol):
    y, X = poisson_data
    with pytest.raises(ValueError, match="tol must be a finite positive number"):
        EMGLM(y, X, k=2, family=sm.families.Poisson()).fit(tol=tol)


def test_negative_random_state_named(poisson_data):
    y, X = poisson_data
    with pytest.raises(ValueError, match="random_state must be None, a non-negative integer"):
        EMGLM(y, X, k=2, family=sm.families.Poisson()).fit(random_state=-1, start="random")


@pytest.mark.parametrize("y", [np.array(["1", "2", "3", "4"]), ["1.5", "2", "3", "4"]])
def test_numeric_strings_refused_as_response(y):
    with pytest.raises(TypeError, match=r"endog must be numeric \(the response must be numeric\)"):
        EMGLM(y, np.ones((4, 1)), k=1)


def test_numeric_strings_refused_in_exog():
    with pytest.raises(TypeError, match="exog must be numeric"):
        EMGLM(np.arange(4.0), np.array([["1"], ["2"], ["3"], ["4"]]), k=1)


@pytest.mark.parametrize("family", [sm.families.Gaussian(), sm.families.Gamma(sm.families.links.Log())])
def test_tiny_response_rejected(family):
    """Before: a Gaussian y * 1e-300 was fitted as two collapsed components."""
    rng = np.random.default_rng(1)
    y = np.abs(np.r_[rng.normal(-2, 1, 100), rng.normal(2, 1, 100)]) + 0.1
    with pytest.raises(ValueError, match="rescale the response"):
        EMGLM(y * 1e-300, np.ones((200, 1)), k=2, family=family)
    # above the limit (spread 1e-140): accepted, and the fit is the unscaled fit, rescaled (the
    # stopping rule is on the relative llf change, which depends on units: a tight tol here)
    r1 = EMGLM(y, np.ones((200, 1)), k=2).fit(tol=1e-14)
    r2 = EMGLM(y * 1e-140, np.ones((200, 1)), k=2).fit(tol=1e-14)
    np.testing.assert_allclose(r2.params.to_numpy(), r1.params.to_numpy() * 1e-140, rtol=1e-3)


def test_constant_response_still_accepted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = EMGLM(np.full(30, 1e-300), np.ones((30, 1)), k=1).fit()
    assert np.isfinite(res.llf)


@pytest.mark.parametrize("offset", [np.r_[800.0, np.zeros(19)], np.r_[1e300, np.zeros(19)]])
def test_offset_too_large_refused(offset):
    y = np.arange(20.0) % 4
    with pytest.raises(ValueError, match="offset/exposure: values too large in magnitude"):
        EMGLM(y, np.ones((20, 1)), k=1, family=sm.families.Poisson(), offset=offset)


def test_response_too_large_refused():
    y = np.r_[1e308, np.arange(19.0) % 4]
    with pytest.raises(ValueError, match="values up to 1e\\+308 are too large in magnitude.*rescale"):
        EMGLM(y, np.ones((20, 1)), k=1, family=sm.families.Poisson())
