"""Newton steps near the optimum (em.run's ``newton`` hook, fitting.newton_step).

EM converges linearly; once its iterates are close, one Newton step with the analytic
observed information and score does what several EM cycles would. The steps are checked
here against a direct maximisation and against fits without them; a step that would lower
the objective is refused.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import optimize

import emglm.fitting as fitting
from emglm import EMGLM, em


def _linkage_step(x):
    # Dempster, Laird and Rubin's genetic linkage example (em.py's docstring)
    y3 = 125 * (x[0] / 4) / (0.5 + x[0] / 4)
    return np.array([(34 + y3) / (72 + y3)])


def _linkage_llf(x):
    t = x[0]
    return 38 * np.log(0.5 - t / 2) + 34 * np.log(t / 4) + 125 * np.log(0.5 + t / 4)


def _linkage_newton(x):
    t, h = x[0], 1e-5
    g = (_linkage_llf([t + h]) - _linkage_llf([t - h])) / (2 * h)
    H = (_linkage_llf([t + h]) - 2 * _linkage_llf([t]) + _linkage_llf([t - h])) / h ** 2
    return np.array([t - g / H])


def test_newton_hook_reaches_the_maximum_in_fewer_map_evaluations():
    ref = optimize.minimize_scalar(lambda t: -_linkage_llf([t]), bounds=(0.01, 0.99), method="bounded",
                                   options={"xatol": 1e-12}).x
    for acc in (None, "squarem"):
        plain = em.run(_linkage_step, np.array([0.1]), objective=_linkage_llf, tol=1e-10, accelerate=acc)
        fast = em.run(_linkage_step, np.array([0.1]), objective=_linkage_llf, tol=1e-10, accelerate=acc,
                      newton=_linkage_newton)
        assert fast.converged and abs(fast.params[0] - ref) < 1e-9
        assert fast.n_iter < plain.n_iter
        assert np.all(np.diff(fast.objective_history) >= -1e-12)


def test_newton_point_that_lowers_the_objective_is_refused():
    calls = []

    def bad(x):
        calls.append(x.copy())
        return x + 0.3  # far off: lower llf

    out = em.run(_linkage_step, np.array([0.1]), objective=_linkage_llf, tol=1e-10, newton=bad)
    plain = em.run(_linkage_step, np.array([0.1]), objective=_linkage_llf, tol=1e-10)
    assert calls and len(calls) <= em.NEWTON_STEPS
    np.testing.assert_array_equal(out.params, plain.params)  # as if there were no hook
    assert out.n_iter == plain.n_iter


def _poisson_mixture(n=20000, seed=2):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, 2))])
    z = rng.integers(0, 3, n)
    B = np.array([[0.0, 0.3, -0.2], [1.2, -0.2, 0.2], [2.4, 0.1, 0.0]])
    y = rng.poisson(np.exp(np.einsum("ij,ij->i", X, B[z]))).astype(float)
    return X, y, z


@pytest.mark.parametrize("kind", ["poisson", "gaussian_concomitant", "binomial_point_mass"])
def test_fit_with_newton_steps_equals_tight_fit_without(kind, monkeypatch):
    X, y, z = _poisson_mixture()
    n = len(y)
    rng = np.random.default_rng(5)
    if kind == "poisson":
        model = lambda: EMGLM(y, X, k=3, family=sm.families.Poisson())  # noqa: E731
        start = z
    elif kind == "gaussian_concomitant":
        c = rng.standard_normal(n)
        yg = np.where(rng.random(n) < 1 / (1 + np.exp(-c)), X @ [1.0, 1.0, 0.0], X @ [-1.0, 0.0, 1.0])
        yg = yg + rng.standard_normal(n) * 0.7
        model = lambda: EMGLM(yg, X, k=2, concomitant=c[:, None])  # noqa: E731
        start = "fit"
    else:
        yb = (rng.random(n) < 1 / (1 + np.exp(-(X @ [0.5, 1.0, -1.0])))).astype(float)
        yb[rng.random(n) < 0.2] = 0.0
        model = lambda: EMGLM(yb, X, k=1, family=sm.families.Binomial(), point_mass=0.0)  # noqa: E731
        start = "fit"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with_newton = model().fit(start=start)
        monkeypatch.setattr(fitting, "NEWTON_MAX_PARAMS", 0)
        tight = model().fit(start=start, tol=1e-13)
        plain = model().fit(start=start)
    ref = tight.theta  # (coefficients, log dispersions, mixing logits)
    scale = np.abs(ref) + 1
    for res in (with_newton, plain):
        assert np.max(np.abs(res.theta - ref) / scale) < 1e-7
        assert res.llf >= tight.llf - 1e-8 * abs(tight.llf)
    assert with_newton.n_iter <= plain.n_iter


def test_newton_step_is_the_newton_step_of_a_numerical_hessian():
    X, y, z = _poisson_mixture(n=3000)
    res = EMGLM(y, X, k=3, family=sm.families.Poisson()).fit(start=z, tol=1e-12)
    mix, th = res.mixture, res.theta
    x = th + 1e-3 * np.random.default_rng(0).standard_normal(th.size)
    f = mix.objective
    h = 1e-4
    d = th.size
    g = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(d)])
    H = np.empty((d, d))
    for i, ei in enumerate(np.eye(d)):
        H[i] = [(f(x + h * ei + h * ej) - f(x + h * ei - h * ej) - f(x - h * ei + h * ej)
                 + f(x - h * ei - h * ej)) / (4 * h * h) for ej in np.eye(d)]
    expected = x - np.linalg.solve(H, g)
    got = fitting.newton_step(mix)(x)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
