"""The generic EM driver :func:`emglm.em.run` on maps with known fixed points and rates."""

import numpy as np
import pytest

from emglm import em


def _linear_map(A, b):
    """x -> A x + b: fixed point (I - A)^{-1} b, linear rate = spectral radius of A."""
    A = np.asarray(A, float)
    b = np.asarray(b, float)
    return (lambda x: A @ x + b), np.linalg.solve(np.eye(len(b)) - A, b)


class Counter:
    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, x):
        self.calls += 1
        return self.f(x)


def test_plain_em_fixed_point_history_and_rate():
    A = np.array([[0.6, 0.1], [0.1, 0.3]])
    f, xstar = _linear_map(A, [1.0, 2.0])
    fp = Counter(f)
    out = em.run(fp, [0.0, 0.0], tol=1e-13, maxiter=500)
    assert out.converged
    np.testing.assert_allclose(out.params, xstar, atol=1e-11)
    assert out.n_iter == fp.calls == len(out.history) - 1
    np.testing.assert_array_equal(out.history[0], [0.0, 0.0])
    # plain EM iterates are exactly x_{t+1} = F(x_t)
    for a, b in zip(out.history[:-1], out.history[1:]):
        np.testing.assert_allclose(b, f(a), rtol=0, atol=1e-15)
    assert out.rate == pytest.approx(max(abs(np.linalg.eigvalsh(A))), abs=1e-6)
    assert out.objective is None and out.objective_history == []
    assert out.n_fallback == 0


def test_estimate_rate_geometric_and_noise():
    h = [np.array([2.0 + 0.3 ** t]) for t in range(40)]  # later steps drown in rounding
    assert em.estimate_rate(h) == pytest.approx(0.3, rel=1e-5)
    assert np.isnan(em.estimate_rate(h[:2]))
    assert np.isnan(em.estimate_rate([np.ones(2)] * 5))


def test_squarem_solves_scalar_linear_map_exactly():
    # for x -> a x + b, r = (a-1)(x-x*), v = (a-1)^2 (x-x*), and the step length
    # |r|/|v| = 1/(1-a) lands exactly on x*; the adaptive bound (1, 4, 16, 64, ...) lets
    # it through on the fourth cycle for a = 0.95 (step 20)
    f, xstar = _linear_map([[0.95]], [1.0])
    fp = Counter(f)
    out = em.run(fp, [0.0], tol=1e-12, accelerate="squarem")
    assert out.converged
    assert out.params[0] == pytest.approx(xstar[0], abs=1e-10)
    assert out.n_iter == fp.calls
    assert out.n_fallback == 0
    plain = em.run(f, [0.0], tol=1e-12)
    assert plain.params[0] == pytest.approx(xstar[0], abs=1e-9)
    assert out.n_iter <= 18 and 20 * out.n_iter < plain.n_iter
    # the rate of the EM map itself is still measured inside the SQUAREM cycles
    assert out.rate == pytest.approx(0.95, abs=1e-8)


def test_squarem_with_objective_takes_the_full_step():
    # with an objective to guard monotonicity the step length is not bounded: the scalar
    # linear map is solved by the first extrapolation (2 EM steps + 1 stabilising step),
    # and the next cycle confirms convergence
    f, xstar = _linear_map([[0.95]], [1.0])
    fp = Counter(f)
    out = em.run(fp, [0.0], objective=lambda x: -(x[0] - xstar[0]) ** 2, tol=1e-14,
                 accelerate="squarem")
    assert out.converged and out.n_fallback == 0
    assert out.params[0] == pytest.approx(xstar[0], abs=1e-10)
    assert abs(out.history[1][0] - xstar[0]) < 1e-10
    assert out.n_iter == fp.calls <= 6


def test_squarem_step_bound_tames_wild_extrapolation():
    # normal sample, 80% missing, no objective and no domain: the unbounded SqS3 step
    # overshoots to negative variances and takes hundreds of evaluations; bounded, it
    # beats plain EM
    rng = np.random.default_rng(580)
    n, ys = 40, rng.normal(10.0, 2.0, 8)
    m = len(ys)

    def step(x):
        mu, s2 = x
        mu1 = (ys.sum() + (n - m) * mu) / n
        return np.array([mu1, ((ys ** 2).sum() + (n - m) * (s2 + mu ** 2)) / n - mu1 ** 2])

    plain = em.run(step, [0.0, 1.0], tol=1e-12, maxiter=5000)
    sq = em.run(step, [0.0, 1.0], tol=1e-12, maxiter=5000, accelerate="squarem")
    mle = [ys.mean(), ys.var()]
    np.testing.assert_allclose(sq.params, mle, rtol=1e-9)
    np.testing.assert_allclose(plain.params, mle, rtol=1e-9)
    assert 3 * sq.n_iter < plain.n_iter


def test_squarem_counts_every_map_evaluation_with_objective():
    A = np.array([[0.9, 0.05], [0.05, 0.5]])
    f, xstar = _linear_map(A, [1.0, -1.0])
    H = np.eye(2) - A  # a concave quadratic whose maximiser is x*

    def objective(x):
        d = x - xstar
        return -0.5 * d @ H @ d

    fp = Counter(f)
    out = em.run(fp, [5.0, 5.0], objective=objective, tol=1e-14, accelerate="squarem",
                 maxiter=1000)
    assert out.n_iter == fp.calls
    assert len(out.objective_history) == len(out.history)
    assert out.objective == out.objective_history[-1]
    assert np.all(np.diff(out.objective_history) >= -1e-12)
    np.testing.assert_allclose(out.params, xstar, atol=1e-6)


def test_squarem_falls_back_when_leaving_domain():
    # a probability converging to 0.999 with a rate that falls as it approaches: the
    # extrapolation from the slow early steps overshoots beyond 1, outside the domain
    target = 1 - 1e-3

    def step(x):
        e = target - x[0]
        return np.array([target - e * (0.5 + 0.49 * e)])

    outside = []

    def in_domain(x):
        ok = 0 < x[0] < 1
        if not ok:
            outside.append(x[0])
        return ok

    out = em.run(step, [0.001], tol=1e-12, accelerate="squarem", in_domain=in_domain,
                 maxiter=5000)
    assert out.converged
    assert len(outside) >= 1 and out.n_fallback >= 1
    assert all(0 < h[0] < 1 for h in out.history)  # never accepted
    assert out.params[0] == pytest.approx(target, abs=1e-9)
    plain = em.run(step, [0.001], tol=1e-12)
    assert out.n_iter < plain.n_iter


def test_squarem_rejects_objective_decrease():
    def step(x):  # converges to 1 from above; extrapolations overshoot below 1
        return np.array([1.0 + 0.9 * (x[0] - 1.0) + 0.05 * (x[0] - 1.0) ** 2])

    def objective(x):  # a cliff just below the fixed point
        return -abs(x[0] - 1.0) - (50.0 if x[0] < 1.0 else 0.0)

    out = em.run(step, [1.5], objective=objective, tol=1e-12, maxiter=5000,
                 accelerate="squarem")
    assert out.n_fallback > 0
    assert np.all(np.diff(out.objective_history) >= 0)
    assert all(h[0] >= 1.0 for h in out.history)


def test_maxiter_stops_without_convergence():
    # two rates: SQUAREM cannot remove both in one cycle
    f, _ = _linear_map([[0.999, 0.0], [0.0, 0.5]], [1.0, 1.0])
    for acc in (None, "squarem"):
        fp = Counter(f)
        out = em.run(fp, [0.0, 0.0], tol=1e-15, maxiter=7, accelerate=acc)
        assert not out.converged
        assert out.n_iter == fp.calls <= 7


def test_keep_history_false_keeps_first_and_last():
    f, xstar = _linear_map([[0.5]], [1.0])
    out = em.run(f, [0.0], tol=1e-12, keep_history=False)
    assert len(out.history) == 2
    np.testing.assert_allclose(out.history[-1], out.params)
    assert out.rate == pytest.approx(0.5, abs=1e-6)


def test_objective_stop_rule_is_relative():
    # objective EM-like: f(x_t) = -c * 0.5^t (distance to the optimum halves); the rule
    # |f_t - f_{t-1}| <= tol (|f_{t-1}| + 1) first holds when c 0.5^t <= tol (c 0.5^(t-1) + 1)
    c = 1000.0
    out = em.run(lambda x: 0.5 * x, [1.0], objective=lambda x: -c * x[0], tol=1e-6, stop="llf")
    t = len(out.objective_history) - 1
    f = np.asarray(out.objective_history)
    assert abs(f[t] - f[t - 1]) <= 1e-6 * (abs(f[t - 1]) + 1)
    assert abs(f[t - 1] - f[t - 2]) > 1e-6 * (abs(f[t - 2]) + 1)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(accelerate="aitken"), ValueError, "accelerate"),
        (dict(maxiter=0), ValueError, "maxiter"),
        (dict(tol=0.0), ValueError, "tol"),
        (dict(x0=[np.nan]), ValueError, "x0"),
        (dict(x0=[]), ValueError, "x0"),
        (dict(in_domain=3), TypeError, "in_domain"),
        (dict(fixed_point=None), TypeError, "fixed_point"),
        (dict(fixed_point=lambda x: np.zeros(2)), ValueError, "shape"),
        (dict(stop="newton"), ValueError, "stop must be one of"),
        (dict(stop=None), ValueError, "stop must be one of"),
        (dict(stop="llf"), ValueError, "stop='llf' needs an objective"),
    ],
)
def test_argument_errors(kwargs, exc, match):
    args = dict(fixed_point=lambda x: 0.5 * x, x0=[1.0])
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        em.run(args.pop("fixed_point"), args.pop("x0"), **args)


# ---------------------------------------------------------------------------- stopping rules

@pytest.mark.parametrize("rate", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_aitken_rule_bounds_the_distance_to_the_fixed_point(rate, accelerate):
    # two coordinates contracting at different rates towards a known fixed point: the
    # default rule must leave every coordinate within about tol * (|x*| + 1) of it, while
    # the last-step rule on the parameters stops (1 - r) / r times too early
    A = np.diag([rate, 0.3])
    f, xstar = _linear_map(A, [1.0, 2.0])
    tol = 1e-8
    out = em.run(f, [-5.0, -10.0], tol=tol, maxiter=20000, accelerate=accelerate)
    assert out.converged
    err = np.abs(out.params - xstar) / (np.abs(xstar) + 1)
    assert err.max() <= 3 * tol
    assert out.error_bound <= tol
    if accelerate is None:
        assert out.rate == pytest.approx(rate, rel=1e-3)
        steps = em.run(f, [-5.0, -10.0], tol=tol, maxiter=20000, stop="params")
        if rate >= 0.9:  # the step rule leaves an error about r / (1 - r) times its step
            assert np.max(np.abs(steps.params - xstar) / (np.abs(xstar) + 1)) > 3 * tol


def test_aitken_rule_with_objective_checks_the_llf_limit():
    # a concave quadratic objective maximised by the fixed point of a slow linear map: the
    # llf rule stops far from x*, the Aitken rule within tol
    A = np.array([[0.95, 0.02], [0.02, 0.6]])
    f, xstar = _linear_map(A, [1.0, -1.0])
    H = 1000 * (np.eye(2) - A)

    def objective(x):
        d = x - xstar
        return -5000.0 - 0.5 * d @ H @ d

    llf = em.run(f, [3.0, 3.0], objective=objective, tol=1e-8, stop="llf", maxiter=10000)
    ait = em.run(f, [3.0, 3.0], objective=objective, tol=1e-8, maxiter=10000)
    assert np.max(np.abs(llf.params - xstar)) > 1e-4
    assert np.max(np.abs(ait.params - xstar) / (np.abs(xstar) + 1)) < 3e-8
    assert ait.n_iter > llf.n_iter


def test_rounding_noise_ends_the_run():
    # a map that converges to 1 but adds rounding-level noise: tol below the noise must not
    # spin until maxiter
    rng = np.random.default_rng(0)

    def f(x):
        return 0.5 * x + 0.5 + rng.normal(0, 1e-13, x.shape)

    out = em.run(f, [0.0, 5.0], tol=1e-18, maxiter=5000)
    assert out.converged and out.n_iter < 200
    np.testing.assert_allclose(out.params, 1.0, atol=1e-11)


def test_callable_stop_rule_sees_the_state():
    seen = []

    def rule(state):
        seen.append(state)
        return state.n_iter >= 4

    f, _ = _linear_map([[0.5]], [1.0])
    out = em.run(f, [0.0], objective=lambda x: -(x[0] - 2.0) ** 2, tol=1e-3, stop=rule)
    assert out.converged and out.n_iter == 4 and len(seen) == 4
    s = seen[-1]
    np.testing.assert_array_equal(s.params, out.params)
    np.testing.assert_array_equal(s.previous, out.history[-2])
    assert s.objective == out.objective and s.previous_objective == out.objective_history[-2]
    assert s.tol == 1e-3 and s.rate == pytest.approx(0.5)


def test_maxiter_end_is_not_converged_for_every_rule():
    f, _ = _linear_map([[0.999]], [1.0])
    for stop in ("aitken", "llf", "params", lambda s: False):
        out = em.run(f, [0.0], objective=lambda x: -(x[0] - 1000.0) ** 2, tol=1e-12, maxiter=10,
                     stop=stop)
        assert not out.converged and out.n_iter == 10


def test_aitken_rule_stops_when_parameters_drift_on_a_flat_objective():
    # the second coordinate moves by a constant step and the objective ignores it (a
    # direction the likelihood does not identify): the run ends once the objective is
    # unchanged for three iterates instead of spinning until maxiter
    def f(x):
        return np.array([0.5 * x[0] + 0.5, x[1] + 1e-3])

    for acc in (None, "squarem"):
        out = em.run(f, [0.0, 0.0], objective=lambda x: -(x[0] - 1.0) ** 2, tol=1e-8, maxiter=5000,
                     accelerate=acc)
        assert out.converged and out.n_iter < 200
        assert out.params[0] == pytest.approx(1.0, abs=1e-7)
