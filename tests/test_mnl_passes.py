"""Fused blocked passes of the concomitant multinomial logit (emglm/mixture/mnl.py) against the
whole-array reference in emglm/mixing.py, against finite differences of the objective, and
for the same numbers with any number of threads."""

import numpy as np
import pytest
import statsmodels.api as sm

from emglm import EMGLM
from emglm import mixing as ref
from emglm.mixture import mnl
from emglm.mixture.mixing import ConcomitantMixing


def _problem(n=20000, K=3, r=3, seed=0):
    rng = np.random.default_rng(seed)
    Z = np.column_stack([np.ones(n), rng.normal(size=(n, r - 1))])
    gamma = rng.normal(0, 0.7, (K - 1, r))
    T = rng.dirichlet(np.ones(K), size=n)
    uw = rng.integers(1, 4, n).astype(float)
    return Z, gamma, T, uw


def test_log_prior_equals_logsumexp_reference():
    Z, gamma, T, uw = _problem()
    np.testing.assert_allclose(mnl.log_prior(gamma, Z), ref.log_prior(gamma, Z, 3), rtol=0, atol=1e-13)


def test_log_prior_with_huge_logits():
    # a logit beyond exp's range takes the shifted route; probabilities stay exact
    Z = np.column_stack([np.ones(4), [0.0, 1.0, -1.0, 2.0]])
    gamma = np.array([[0.0, 800.0], [1.0, -900.0]])
    lp = mnl.log_prior(gamma, Z)
    np.testing.assert_allclose(lp, ref.log_prior(gamma, Z, 3), rtol=0, atol=1e-12)
    assert np.all(np.isfinite(lp))


def test_newton_pass_gradient_and_information_by_finite_differences():
    Z, gamma, T, uw = _problem(n=3000)
    q, g, H = mnl.newton_pass(gamma, Z, T, uw)
    f = lambda v: ref._mnl_objective(v.reshape(gamma.shape), Z, T, uw)  # noqa: E731
    th = gamma.ravel()
    assert q == pytest.approx(f(th), rel=1e-13)
    h = 1e-5
    E = np.eye(th.size) * h
    fd_g = np.array([(f(th + e) - f(th - e)) / (2 * h) for e in E])
    np.testing.assert_allclose(g, fd_g, rtol=1e-7, atol=1e-6)
    # minus the Hessian: central differences of the analytic gradient
    fd_H = -np.column_stack([(mnl.newton_pass((th + e).reshape(gamma.shape), Z, T, uw)[1]
                              - mnl.newton_pass((th - e).reshape(gamma.shape), Z, T, uw)[1]) / (2 * h)
                             for e in E])
    np.testing.assert_allclose(H, fd_H, rtol=1e-6, atol=1e-6 * np.abs(H).max())
    assert mnl.objective_pass(gamma, Z, T, uw) == pytest.approx(q, rel=1e-14)


@pytest.mark.parametrize("n_steps", [1, 3, 50])
def test_mstep_equals_whole_array_reference(n_steps):
    Z, gamma, T, uw = _problem()
    start = np.zeros_like(gamma)
    g_new, lp = mnl.mstep(start, Z, T, uw, n_steps=n_steps)
    g_ref = ref.mstep_concomitant(start, Z, T, uw, n_steps=n_steps)
    np.testing.assert_allclose(g_new, g_ref, rtol=0, atol=1e-10)
    # the log prior handed to the next E-step is the one at the new coefficients
    np.testing.assert_allclose(lp, ref.log_prior(g_new, Z, 3), rtol=0, atol=1e-13)


def test_passes_identical_for_any_number_of_threads(monkeypatch):
    import emglm.parallel

    monkeypatch.setattr(emglm.parallel, "MIN_ROWS_PER_THREAD", 0)  # (threads for 50000 rows too)
    Z, gamma, T, uw = _problem(n=50000)
    one = mnl.newton_pass(gamma, Z, T, uw, n_jobs=1)
    two = mnl.newton_pass(gamma, Z, T, uw, n_jobs=2)
    assert one[0] == two[0]
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_array_equal(one[2], two[2])
    np.testing.assert_array_equal(mnl.mstep(gamma, Z, T, uw, 5, n_jobs=1)[0],
                                  mnl.mstep(gamma, Z, T, uw, 5, n_jobs=2)[0])


class _OldConcomitant(ConcomitantMixing):
    """The whole-array multinomial logit of emglm/mixing.py (the reference)."""

    def log_prior(self, gamma, rows=None, Z=None):
        return ref.log_prior(gamma, rows.Z if Z is None else Z, self.K)

    def mstep(self, gamma, Tunit, rows, n_steps=1):
        return ref.mstep_concomitant(gamma, rows.Z, Tunit, rows.unit_w, n_steps=n_steps)


@pytest.mark.parametrize("grouped", [False, True])
def test_fit_equals_whole_array_mixing(grouped, monkeypatch):
    rng = np.random.default_rng(4)
    n = 3000
    G = n // 3
    x = rng.normal(size=n)
    g = np.repeat(np.arange(G), 3) if grouped else None
    zc = rng.normal(size=G if grouped else n)
    zr = zc[g] if grouped else zc
    p2 = 1 / (1 + np.exp(-(0.2 + 1.2 * zr)))
    cls = rng.random(G if grouped else n) < (p2[::3] if grouped else p2)
    cls = cls[g] if grouped else cls
    y = rng.poisson(np.exp(np.where(cls, 1.6 + 0.4 * x, 0.2 - 0.3 * x)))
    X = np.column_stack([np.ones(n), x])
    conc = np.column_stack([np.ones(n), zr])
    new = EMGLM(y, X, k=2, family=sm.families.Poisson(), concomitant=conc, groups=g).fit(tol=1e-12)
    import emglm.mixture.mixing as mm

    monkeypatch.setattr(mm, "ConcomitantMixing", _OldConcomitant)
    old = EMGLM(y, X, k=2, family=sm.families.Poisson(), concomitant=conc, groups=g).fit(tol=1e-12)
    assert isinstance(old.mixture.mixing, _OldConcomitant)
    assert type(new.mixture.mixing) is ConcomitantMixing
    np.testing.assert_allclose(new.theta, old.theta, rtol=0, atol=1e-10)
    assert new.llf == pytest.approx(old.llf, rel=1e-13)


def test_cached_log_prior_is_read_only_and_not_pickled():
    import pickle

    Z, gamma, T, uw = _problem(n=100)

    class R:  # the two attributes the mixing model reads
        pass

    rows = R()
    rows.Z, rows.unit_w, rows.n_jobs = Z, uw, 1
    mix = ConcomitantMixing(3, Z.shape[1])
    g = mix.mstep(np.zeros_like(gamma), T, rows)
    lp = mix.log_prior(g, rows)
    assert lp is mix.log_prior(g, rows)  # the M-step's log prior, reused
    with pytest.raises(ValueError):
        lp[0, 0] = 0.0
    np.testing.assert_allclose(lp, ref.log_prior(g, Z, 3), atol=1e-13)
    state = pickle.loads(pickle.dumps(mix)).__dict__
    assert "_cached" not in state and "_zt" not in state
