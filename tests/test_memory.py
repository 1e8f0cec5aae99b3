"""Memory of a fit: per-row arrays made block by block or released, with the same numbers."""

import pickle
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import gammaln

from emglm import EMGLM
from emglm.fitting import start_vectors
from emglm.linalg import row_blocks
from emglm.mixture.glm_passes import GLMEvaluation
from emglm.fewer_components import fewer_components_hint
from emglm.screening import screen
from emglm.starts import diverse_posteriors, initial_posteriors, iter_posteriors


def poisson_k(n, k, seed=0, p=5):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])
    B = np.column_stack([np.linspace(0.0, 3.0, k), rng.normal(scale=0.2, size=(k, p - 1))])
    z = rng.integers(0, k, n)
    y = rng.poisson(np.exp(np.einsum("ij,ij->i", X, B[z]))).astype(float)
    return X, y, z


def test_glm_evaluation_equals_direct_computation_and_survives_release():
    X, y, z = poisson_k(3000, 3)
    offset = np.linspace(-0.1, 0.1, 3000)
    model = EMGLM(y, X, k=3, family=sm.families.Poisson(), offset=offset)
    mix = model.make_mixture()
    theta = start_vectors(model, mix, z, None, 1, np.random.default_rng(0))[0]
    comp, p = mix.glm, mix.component_params(theta)[0]
    ev = comp.evaluate(p, mix.rows)
    beta = comp.unpack(p)[0]
    E = beta @ X.T + offset
    L = y * E - np.exp(E) - gammaln(y + 1.0)
    np.testing.assert_allclose(ev.E, E, rtol=1e-13)
    np.testing.assert_allclose(ev.M, np.exp(E), rtol=1e-13)
    np.testing.assert_allclose(ev.logpdf, L, rtol=1e-12, atol=1e-12)
    blocks = np.hstack([ev.logpdf_block(s, e) for s, e in row_blocks(3000, 700)])
    np.testing.assert_array_equal(blocks, ev.logpdf)
    before = (ev.E.copy(), ev.M.copy(), ev.logpdf.copy())
    ev.release()
    for a, b in zip(before, (ev.E, ev.M, ev.logpdf)):
        np.testing.assert_array_equal(a, b)  # remade with the same operations: identical


def test_em_step_after_release_is_unchanged():
    """An M-step from an evaluation that has let go of its arrays (and remakes them) gives the
    same parameters as from a fresh one."""
    X, y, z = poisson_k(2000, 2, seed=3)
    model = EMGLM(y, X, k=2, family=sm.families.Poisson())
    mix = model.make_mixture()
    theta = start_vectors(model, mix, z, None, 1, np.random.default_rng(0))[0]
    comp, p = mix.glm, mix.component_params(theta)[0]
    W = np.vstack([(z == 0) * 0.9 + 0.05, (z == 1) * 0.9 + 0.05])
    fresh = comp.mstep(p, W, comp.evaluate(p, mix.rows), mix.rows)[0]
    ev = comp.evaluate(p, mix.rows)
    ev.release()
    assert isinstance(ev, GLMEvaluation)
    np.testing.assert_array_equal(comp.mstep(p, W, ev, mix.rows)[0], fresh)


def _peak(f):
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    f()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def test_peak_memory_at_k8_and_with_ten_starts():
    """k = 8: a fit holds the posterior and the arrays of one coefficient vector at a time
    (before, every (k, n) array was kept: 14-17 times the design), and ten starts cost
    little more than one (each posterior is turned into parameters before the next is made)."""
    X, y, _ = poisson_k(120_000, 8)
    model = EMGLM(y, X, k=8, family=sm.families.Poisson())
    # besides the per-row arrays, a fixed allowance for one block's temporaries of the Gram
    # pass (k p + k rows of SWEEP_ROWS entries, and the block's copy): negligible at large n
    from emglm.mixture.rows import SWEEP_ROWS

    allowance = 2 * (8 * 5 + 8) * SWEEP_ROWS * 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(start="fit", maxiter=1)  # the model's own per-row data, made once, not counted
        one = _peak(lambda: model.fit(start="fit", maxiter=4))
        ten = _peak(lambda: model.fit(start="fit", n_starts=10, maxiter=4))
    assert one <= 8 * X.nbytes + allowance, one / X.nbytes
    assert ten <= 1.2 * one, ten / one


def test_iter_posteriors_gives_the_same_starts():
    X, y, z = poisson_k(500, 3)
    mix = EMGLM(y, X, k=3, family=sm.families.Poisson()).make_mixture()
    resid = np.random.default_rng(1).standard_normal(500)
    for start in ("fit", "random"):
        a = initial_posteriors(mix, start, 7, np.random.default_rng(5), base_resid=resid)
        b = list(iter_posteriors(mix, start, 7, np.random.default_rng(5), base_resid=resid))
        assert len(a) == len(b) == 7
        for Ta, Tb in zip(a, b):
            np.testing.assert_array_equal(Ta, Tb)


def test_screening_releases_posteriors_and_keeps_its_result():
    X, y, z = poisson_k(1500, 2, seed=2)
    model = EMGLM(y, X, k=2, family=sm.families.Poisson())
    mix = model.make_mixture()
    resid = (y - y.mean()) / y.std()
    from emglm.fitting import run_em

    def run(theta, short, rule, tol):
        return run_em(mix, theta, tol, short or 500, "squarem", keep_history=False, stop=rule)

    def finish(theta):
        return None, run_em(mix, theta, 1e-8, 500, "squarem", stop="aitken")

    starts = diverse_posteriors(mix, 6, np.random.default_rng(0), resid)
    as_tuple = tuple(starts)  # a tuple is not released: the reference run
    ref = screen(as_tuple, mix.fit_from_posterior, run, finish, keep=2)
    out = screen(starts, mix.fit_from_posterior, run, finish, keep=2)
    assert all(T is None for _, T in starts)
    assert [kd for kd, _ in starts] == [kd for kd, _ in as_tuple]
    assert out.result.objective == ref.result.objective
    pd.testing.assert_frame_equal(out.table, ref.table)


def test_bic_hint_block_by_block_equals_whole_arrays():
    rng = np.random.default_rng(0)
    y = np.r_[rng.normal(-2, 1, 150), rng.normal(2, 1, 150)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = EMGLM(y, np.ones((300, 1)), k=6).fit(start="fit")
    mix, theta, model = res.mixture, res.theta, res.model
    mix.rows.blocks = [(0, 300)]
    mix.clear_cache()
    whole = fewer_components_hint(mix, theta, model)
    mix.rows.blocks = row_blocks(300, 37)
    mix.clear_cache()
    blocked = fewer_components_hint(mix, theta, model)
    assert whole and blocked == whole
    # (the losses it starts from equal scipy's whole-array logsumexp:
    # tests/test_fewer_components.py::test_removal_losses_match_scipy)


def test_model_rows_are_shared_and_not_pickled():
    X, y, z = poisson_k(400, 2)
    model = EMGLM(y, X, k=2, family=sm.families.Poisson())
    r1 = model.make_mixture().rows
    assert model.make_mixture(k=1, mixing="equal").rows is r1  # no concomitant variables: one Rows
    state = pickle.loads(pickle.dumps(model))
    assert "_rows_cache" not in state.__dict__
    res_a = model.fit(start=z)
    res_b = state.fit(start=z)
    assert res_a.llf == res_b.llf


def test_array_inputs_are_copied_not_shared():
    X, y, z = poisson_k(300, 2)
    Xdf = pd.DataFrame(X, columns=list("abcde"))
    ys = pd.Series(y.copy())
    model = EMGLM(ys, Xdf, k=2, family=sm.families.Poisson())
    model.exog[:] = 0.0
    model.endog[:] = 0.0
    np.testing.assert_array_equal(Xdf.to_numpy(), X)
    np.testing.assert_array_equal(ys.to_numpy(), y)
    assert model.exog.flags.c_contiguous


@pytest.mark.parametrize("family", [sm.families.Binomial(), sm.families.Gaussian(),
                                    sm.families.Gamma(sm.families.links.Log())])
def test_fit_unchanged_by_releasing_arrays(family, monkeypatch):
    """The fit does not depend on whether the M-step lets go of its evaluation's arrays."""
    rng = np.random.default_rng(4)
    n = 2000
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    z = rng.integers(0, 2, n)
    eta = np.where(z == 1, 1.0 + 0.5 * X[:, 1], -0.5 - 0.5 * X[:, 1])
    if isinstance(family, sm.families.Binomial):
        y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    elif isinstance(family, sm.families.Gaussian):
        y = eta + rng.normal(0, 0.5, n)
    else:
        y = rng.gamma(3.0, np.exp(eta) / 3.0)
    model = EMGLM(y, X, k=2, family=family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        released = model.fit(start=z)
        monkeypatch.setattr(GLMEvaluation, "release", lambda self: None)
        kept = EMGLM(y, X, k=2, family=family).fit(start=z)
    assert released.llf == kept.llf
    np.testing.assert_array_equal(released.params.to_numpy(), kept.params.to_numpy())
