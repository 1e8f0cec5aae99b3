"""The fast M-step against statsmodels (issue 5).

The component M-step is computed from weighted Gram products (not ``GLM.fit``); these tests
hold it equal to statsmodels ``GLM(..., freq_weights=w*T_j)``: one IRLS step equals
``fit(start_params=b0, maxiter=1)``, the converged weighted fit equals ``fit()`` to 1e-8,
and the per-row log-density equals ``family.loglike_obs``, for every family, with offsets,
exposure, frequency weights and binomial trials. No timings are asserted here.
"""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import optimize

from emglm import EMGLM
from emglm.families import FamilyAdapter
from emglm.linalg import grams

FAM = sm.families
LINKS = sm.families.links

# the Sqrt link for Poisson is deliberately non-canonical (statsmodels warns about its domain)
pytestmark = pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.DomainWarning")


def _case(name, rng, n=300):
    """(family, endog for EMGLM, y for statsmodels, X, trials, offset kwargs, eta)."""
    x1, x2 = rng.normal(size=n), rng.uniform(-1, 1, size=n)
    X = np.column_stack([np.ones(n), x1, x2])
    off = rng.normal(scale=0.2, size=n)
    expo = rng.uniform(0.5, 2.0, size=n)
    trials = np.ones(n)
    if name == "gaussian":
        fam, eta = FAM.Gaussian(), 1 + x1 + off
        y = eta + rng.normal(size=n)
        kw = {"offset": off}
    elif name == "poisson":
        fam, eta = FAM.Poisson(), 0.3 + 0.5 * x1 + np.log(expo)
        y = rng.poisson(np.exp(eta)).astype(float)
        kw = {"exposure": expo}
    elif name == "binomial01":
        fam, eta = FAM.Binomial(), 0.2 + x1 + off
        y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
        kw = {"offset": off}
    elif name == "binomial_trials":
        fam, eta = FAM.Binomial(), -0.3 + 0.8 * x1 + off
        trials = rng.integers(1, 12, size=n).astype(float)
        s = rng.binomial(trials.astype(int), 1 / (1 + np.exp(-eta))).astype(float)
        kw = {"offset": off}
        return fam, np.column_stack([s, trials - s]), np.column_stack([s, trials - s]), X, trials, kw, eta
    elif name == "binomial_probit":
        fam, eta = FAM.Binomial(LINKS.Probit()), 0.1 + 0.6 * x1 + off
        y = rng.binomial(1, 0.5 * (1 + np.tanh(eta))).astype(float)
        kw = {"offset": off}
    elif name == "gamma":
        fam, eta = FAM.Gamma(LINKS.Log()), 0.5 + 0.3 * x1 + np.log(expo)
        y = rng.gamma(2.0, np.exp(eta) / 2.0)
        kw = {"exposure": expo}
    elif name == "invgauss":
        fam, eta = FAM.InverseGaussian(LINKS.Log()), 0.3 + 0.2 * x1 + off
        y = rng.wald(np.exp(eta), 5.0)
        kw = {"offset": off}
    elif name == "negbin":
        fam, eta = FAM.NegativeBinomial(alpha=0.7), 1.0 + 0.4 * x1 + np.log(expo)
        mu = np.exp(eta)
        y = rng.negative_binomial(1 / 0.7, 1 / (1 + 0.7 * mu)).astype(float)
        kw = {"exposure": expo}
    elif name == "poisson_sqrt":
        fam, eta = FAM.Poisson(LINKS.Sqrt()), 2.0 + 0.3 * x1 + off
        y = rng.poisson(eta ** 2).astype(float)
        kw = {"offset": off}
    else:
        raise KeyError(name)
    return fam, y, y, X, trials, kw, eta


NAMES = ["gaussian", "poisson", "binomial01", "binomial_trials", "binomial_probit", "gamma",
         "invgauss", "negbin", "poisson_sqrt"]


def _model_and_weights(name, seed=5):
    rng = np.random.default_rng(seed)
    fam, endog, y_sm, X, trials, kw, eta = _case(name, rng)
    n = X.shape[0]
    w = rng.integers(1, 4, size=n).astype(float)
    T = rng.dirichlet([1.0, 1.0], size=n)
    model = EMGLM(endog, X, k=2, family=fam, weights=w, **kw)
    return model, fam, y_sm, X, w, T, kw


def _sm_glm(fam_template, y_sm, X, fw, kw):
    fam = type(fam_template)(link=fam_template.link) if not isinstance(fam_template, FAM.NegativeBinomial) \
        else FAM.NegativeBinomial(alpha=fam_template.alpha, link=fam_template.link)
    return sm.GLM(y_sm, X, family=fam, freq_weights=fw, **kw)


@pytest.mark.parametrize("name", NAMES)
def test_converged_mstep_equals_statsmodels_freq_weights(name):
    model, fam, y_sm, X, w, T, kw = _model_and_weights(name)
    eng = model.make_mixture()
    P = eng.unpack(eng.fit_from_posterior(T, tol=1e-14))
    for j in range(2):
        ref = _sm_glm(fam, y_sm, X, w * T[:, j], kw).fit(tol=1e-13, maxiter=200)
        np.testing.assert_allclose(P.beta[j], ref.params, rtol=1e-8, atol=1e-8)
    if eng.fam.has_scale:
        # weighted ML dispersion: the maximiser of sum_i w_i T_ij log f(y_i; mu_ij, phi)
        for j in range(2):
            mu = eng.fam.mean(eng.linear_predictors(P)[:, j])
            wt = w * T[:, j]
            f = lambda ls: -float(wt @ fam.loglike_obs(eng.y, mu, 1.0, np.exp(ls)))
            ls = optimize.minimize_scalar(f, bounds=(-15, 10), method="bounded",
                                          options={"xatol": 1e-11}).x
            np.testing.assert_allclose(P.scale[j], np.exp(ls), rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_label_start_fits_each_class_on_its_rows(name):
    # hard labels: each class is fitted on its own rows only; the fits are the weighted fits
    # of statsmodels with the other rows at weight 0, and equal the joint fit of the classes
    # that a shared term forces (every row in every pass)
    model, fam, y_sm, X, w, _, kw = _model_and_weights(name)
    n = X.shape[0]
    labels = np.random.default_rng(3).integers(0, 2, size=n)
    T = np.eye(2)[labels]
    eng = model.make_mixture()
    P = eng.unpack(eng.fit_from_posterior(T, tol=1e-14))
    for j in range(2):
        ref = _sm_glm(fam, y_sm, X, w * T[:, j], kw).fit(tol=1e-13, maxiter=200)
        np.testing.assert_allclose(P.beta[j], ref.params, rtol=1e-8, atol=1e-8)
    soft = np.where(T > 0, 1.0 - 1e-13, 1e-13)  # (every row weighs in both classes: joint fit)
    Q = eng.unpack(eng.fit_from_posterior(soft / soft.sum(axis=1, keepdims=True), tol=1e-14))
    np.testing.assert_allclose(P.beta, Q.beta, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(P.scale, Q.scale, rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_one_irls_step_equals_statsmodels_one_iteration(name):
    model, fam, y_sm, X, w, T, kw = _model_and_weights(name, seed=8)
    eng = model.make_mixture()
    rng = np.random.default_rng(1)
    ref0 = _sm_glm(fam, y_sm, X, w, kw).fit()
    B0 = ref0.params[None, :] + rng.normal(scale=0.05, size=(2, X.shape[1]))
    glm = eng.glm
    params = glm.pack(B0, np.zeros(0), np.ones(2))
    E, M = glm.linear_predictor(params, eng.rows), glm.mean(params, eng.rows)
    beta, _ = glm.irls_solve(eng.rows, E, M, eng.weights(T))
    for j in range(2):
        ref = _sm_glm(fam, y_sm, X, w * T[:, j], kw).fit(start_params=B0[j], maxiter=1)
        np.testing.assert_allclose(beta[j], ref.params, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_em_mstep_fixed_point_is_weighted_glm(name):
    """Iterating the one-step generalised M-step with T held fixed reaches GLM(freq_weights)."""
    model, fam, y_sm, X, w, T, kw = _model_and_weights(name, seed=13)
    eng = model.make_mixture()
    theta = eng.fit_from_posterior(T, maxiter=1)
    P0 = eng.unpack(theta)

    es = eng.estep(theta)
    for _ in range(200):
        es.T[...] = T  # hold the posterior fixed
        es.q = None  # its complete-data value belonged to the E-step's own posterior
        new = eng.mstep(theta, es=es)
        if np.max(np.abs(new - theta)) < 1e-13:
            break
        theta = new
        es = eng.estep(theta)
    P = eng.unpack(theta)
    assert P.beta.shape == P0.beta.shape
    for j in range(2):
        ref = _sm_glm(fam, y_sm, X, w * T[:, j], kw).fit(tol=1e-13, maxiter=200)
        np.testing.assert_allclose(P.beta[j], ref.params, rtol=1e-8, atol=1e-8)


def _sm_family_with_trials(fam, trials):
    if isinstance(fam, FAM.Binomial):
        fam = FAM.Binomial(link=fam.link)
        fam.n = trials
    return fam


@pytest.mark.parametrize("name", NAMES + ["tweedie"])
def test_loglike_equals_statsmodels_loglike_obs(name):
    rng = np.random.default_rng(21)
    if name == "tweedie":
        n = 200
        fam = FAM.Tweedie(var_power=1.5, link=LINKS.Log())
        eta = rng.normal(scale=0.5, size=n)
        y = np.where(rng.uniform(size=n) < 0.3, 0.0, rng.gamma(2.0, 1.0, size=n))
        trials = np.ones(n)
    else:
        fam, endog, _, X, trials, kw, eta = _case(name, rng)
        y = endog[:, 0] / trials if endog.ndim == 2 else endog
    fa = FamilyAdapter(fam, y, trials)
    mu = fa.mean(eta)
    ref_fam = _sm_family_with_trials(fam, trials)
    for scale in ([1.0] if not fa.has_scale else [0.3, 1.0, 2.5]):
        got = fa.loglike(eta, mu, scale)
        ref = ref_fam.loglike_obs(y, mu, 1.0, scale)
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


def test_binomial_logit_loglike_stable_for_large_eta():
    trials = np.array([5.0, 5.0, 1.0, 1.0, 20.0])
    y = np.array([5.0, 0.0, 1.0, 0.0, 7.0]) / trials
    eta = np.array([40.0, -40.0, 700.0, -700.0, 0.3])
    fa = FamilyAdapter(FAM.Binomial(), y, trials)
    with np.errstate(over="ignore"):
        got = fa.loglike(eta, fa.mean(eta), 1.0)
    s = y * trials
    ref = s * eta - trials * np.logaddexp(0.0, eta) + fa.const
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name", NAMES)
def test_irls_terms_match_working(name):
    rng = np.random.default_rng(4)
    fam, endog, _, X, trials, kw, eta = _case(name, rng)
    y = endog[:, 0] / trials if endog.ndim == 2 else endog
    fa = FamilyAdapter(fam, y, trials)
    off = rng.normal(scale=0.1, size=len(y))
    w0, z0 = fa.working(eta, off)
    w, u = fa.irls_terms(eta, fa.mean(eta), off)
    np.testing.assert_allclose(w, w0, rtol=1e-12)
    np.testing.assert_allclose(u, w0 * z0, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("n,block", [(50, 7), (4096, 4096), (10001, 4096), (3, 1000)])
def test_block_grams_equal_direct_products(n, block):
    rng = np.random.default_rng(n)
    D = rng.normal(size=(n, 4))
    W = rng.uniform(size=(3, n))
    U = rng.normal(size=(3, n))
    A, b = grams(D, W, U, block=block)
    for j in range(3):
        np.testing.assert_allclose(A[j], D.T @ (D * W[j][:, None]), rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(b[j], D.T @ U[j], rtol=1e-12, atol=1e-10)
        np.testing.assert_array_equal(A[j], A[j].T)


@pytest.mark.parametrize("name", ["poisson", "gaussian", "binomial_trials", "gamma"])
def test_estep_reusing_mstep_predictors_equals_fresh_estep(name):
    """The E-step that reuses the M-step's predictors and densities is the same E-step."""
    model, fam, y_sm, X, w, T, kw = _model_and_weights(name, seed=2)
    eng = model.make_mixture()
    theta = eng.fit_from_posterior(T, maxiter=2)
    for _ in range(3):
        theta = eng.mstep(theta)
        es = eng.estep(theta)
        fresh = model.make_mixture().estep(theta)
        np.testing.assert_allclose(es.llf, fresh.llf, rtol=1e-13)
        np.testing.assert_allclose(es.T, fresh.T, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(es.L, fresh.L, rtol=1e-12, atol=1e-12)
