"""SQUAREM acceleration of mixture fits (issue 5).

SQUAREM (the default of ``fit``) must never lower the log-likelihood along the accepted
iterates, must reach the optimum plain EM reaches, and on a slow-converging fit
(overlapping components) must need at least three times fewer evaluations of the EM map
than plain EM for the same llf. Evaluation counts are deterministic; no timings here.
"""

import numpy as np
import pytest
import statsmodels.api as sm

from emglm import EMGLM, em
from emglm.fitting import start_vectors

FAM = sm.families


def _X(rng, n, p=3):
    return np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])


def _gaussian_overlap(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    X = _X(rng, n)
    z = rng.choice(2, size=n, p=[0.45, 0.55])
    B = np.array([[0.0, 0.5, -0.3], [0.8, 0.3, -0.1]])
    y = np.einsum("ij,ij->i", X, B[z]) + rng.standard_normal(n) * np.array([1.0, 0.8])[z]
    return EMGLM(y, X, k=2)


def _poisson_overlap(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    X = _X(rng, n)
    z = rng.choice(2, size=n, p=[0.4, 0.6])
    B = np.array([[0.5, 0.3, 0.0], [1.3, 0.1, 0.2]])
    y = rng.poisson(np.exp(np.einsum("ij,ij->i", X, B[z])))
    return EMGLM(y, X, k=2, family=FAM.Poisson())


def _binomial_overlap(n=3000, seed=2):
    rng = np.random.default_rng(seed)
    X = _X(rng, n)
    z = rng.choice(2, size=n)
    B = np.array([[-0.5, 0.5, 0.0], [0.4, 0.3, 0.3]])
    s = rng.binomial(6, 1 / (1 + np.exp(-np.einsum("ij,ij->i", X, B[z]))))
    return EMGLM(np.column_stack([s, 6 - s]), X, k=2, family=FAM.Binomial())


def _zip_concomitant(n=2000, seed=3):
    """Poisson k=2 with a point mass at zero and concomitant mixing: a structured fit."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    w = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    logits = np.column_stack([np.zeros(n), 0.3 + 0.8 * w, -0.5 + 0.2 * w])
    pr = np.exp(logits - logits.max(axis=1, keepdims=True))
    pr /= pr.sum(axis=1, keepdims=True)
    z = (rng.uniform(size=n)[:, None] > np.cumsum(pr, axis=1)).sum(axis=1)
    mu = np.where(z == 0, np.exp(0.2 + 0.3 * x), np.exp(1.5 - 0.2 * x))
    y = np.where(z == 2, 0, rng.poisson(mu))
    Z = np.column_stack([np.ones(n), w])
    return EMGLM(y, X, k=2, family=FAM.Poisson(), point_mass=0, concomitant=Z)


MODELS = {"gaussian": _gaussian_overlap, "poisson": _poisson_overlap,
          "binomial": _binomial_overlap, "zip_concomitant": _zip_concomitant}


@pytest.fixture(scope="module", params=sorted(MODELS))
def fits(request):
    model = MODELS[request.param]()
    sq = model.fit(accelerate="squarem", tol=1e-11, maxiter=5000)
    plain = model.fit(accelerate=None, tol=1e-11, maxiter=20000)
    return request.param, model, sq, plain


def test_squarem_never_lowers_llf(fits):
    _, _, sq, _ = fits
    h = sq.llf_history
    assert len(h) > 2
    assert np.all(np.diff(h) >= -1e-10 * (np.abs(h[:-1]) + 1))


def test_squarem_reaches_plain_em_optimum(fits):
    name, model, sq, plain = fits
    assert sq.converged
    # never a lower llf than plain EM at the same tolerance, and the same optimum
    assert sq.llf >= plain.llf - 1e-9 * abs(plain.llf)
    np.testing.assert_allclose(sq.llf, plain.llf, rtol=1e-7)
    tight = 5e-3 if name != "zip_concomitant" else 2e-2
    np.testing.assert_allclose(sq.params.to_numpy(), plain.params.to_numpy(), atol=tight)
    np.testing.assert_allclose(sq.proportions.to_numpy(), plain.proportions.to_numpy(), atol=tight)


def test_default_fit_is_squarem():
    model = _gaussian_overlap(n=1500)
    a = model.fit(tol=1e-9)
    b = model.fit(tol=1e-9, accelerate="squarem")
    assert a.n_iter == b.n_iter
    np.testing.assert_array_equal(a.params.to_numpy(), b.params.to_numpy())


def _evals_to_reach(model, accelerate, target, maxiter):
    eng = model.make_mixture()
    theta0 = start_vectors(model, eng, "fit", None, 1, np.random.default_rng(0))[0]
    count = [0]
    reached = [None]

    def fp(th):
        count[0] += 1
        return eng.fixed_point(th)

    def obj(th):
        f = eng.objective(th)
        if reached[0] is None and f >= target:
            reached[0] = count[0]
        return f

    out = em.run(fp, theta0, objective=obj, tol=1e-14, maxiter=maxiter, accelerate=accelerate,
                 keep_history=False)
    return reached[0], out


@pytest.mark.parametrize("make", [_gaussian_overlap, _binomial_overlap])
def test_squarem_needs_three_times_fewer_map_evaluations(make):
    model = make()
    _, long_sq = _evals_to_reach(model, "squarem", np.inf, 3000)
    llf_star = long_sq.objective
    target = llf_star - 1e-9 * abs(llf_star)
    n_sq, _ = _evals_to_reach(model, "squarem", target, 3000)
    n_em, out_em = _evals_to_reach(model, None, target, 20000)
    assert n_sq is not None and n_em is not None
    assert out_em.objective <= llf_star + 1e-9 * abs(llf_star)  # plain EM finds no better point
    assert n_em >= 3 * n_sq


def test_squarem_safeguard_rejects_a_decrease():
    """Extrapolations that would lower the objective fall back to the plain EM step."""

    def step(x):  # converges to 1 from above; the extrapolation overshoots below 1
        return np.array([1.0 + 0.9 * (x[0] - 1.0) + 0.05 * (x[0] - 1.0) ** 2])

    def objective(x):  # a cliff below the fixed point
        return -abs(x[0] - 1.0) - (50.0 if x[0] < 1.0 else 0.0)

    out = em.run(step, np.array([1.5]), objective=objective, tol=1e-12, maxiter=5000,
                 accelerate="squarem")
    assert out.n_fallback > 0
    h = np.asarray(out.objective_history)
    assert np.all(np.diff(h) >= 0)
    assert out.converged and abs(out.params[0] - 1.0) < 1e-6
