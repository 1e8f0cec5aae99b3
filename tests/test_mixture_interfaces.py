"""The Component and Rows seams: an M-step written as sums over rows gives the same answer
when the rows are split into partitions and the partitions' sums are added (what a
distributed backend does), and the E-step of the generic Mixture matches a hand computation."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import logsumexp

from emglm.mixture import GLMComponent, Mixture, PointMass, Rows, make_mixing
from emglm.mixture.component import wq_block

FAM = sm.families


def _data(family, n=900, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.uniform(-1, 1, n), rng.normal(size=n)])
    z = rng.random(n) < 0.4
    eta = np.where(z, 1.0 + X[:, 1], -0.5 - X[:, 1] + 0.3 * X[:, 2])
    if isinstance(family, FAM.Poisson):
        y = rng.poisson(np.exp(eta)).astype(float)
    elif isinstance(family, FAM.Gamma):
        y = rng.gamma(2.0, np.exp(eta) / 2.0)
    else:
        y = eta + rng.normal(0, 0.5, n)
    w = rng.integers(1, 4, n).astype(float)
    off = rng.normal(0, 0.1, n)
    U = rng.normal(size=(n, 1))
    T = np.column_stack([z * 0.8 + 0.1, 1 - (z * 0.8 + 0.1)])
    return y, X, w, off, U, T


@pytest.mark.parametrize("family", [FAM.Poisson(), FAM.Gamma(link=FAM.links.Log()), FAM.Gaussian()],
                         ids=["poisson", "gamma", "gaussian"])
@pytest.mark.parametrize("scale", ["component", "shared"])
def test_mstep_from_partition_sums_equals_in_memory(family, scale):
    y, X, w, off, U, T = _data(family)
    rows = Rows(y, X, off, w, fixed=U)
    comp = GLMComponent(family, rows, 2, scale=scale)
    W = T.T * w
    params = comp.fit(W, rows, maxiter=1)  # a point away from the optimum
    ev = comp.evaluate(params, rows)
    expect, _ = comp.mstep(params, W, ev, rows)

    cut = 400
    parts = []
    for sl in (slice(0, cut), slice(cut, None)):
        r = Rows(y[sl], X[sl], off[sl], w[sl], fixed=U[sl])
        c = GLMComponent(family, r, 2, scale=scale)
        Wp = np.ascontiguousarray(W[:, sl])
        parts.append((r, c, Wp, c.evaluate(params, r)))

    def add(values):
        total = values[0]
        if total is None:  # no dispersion to update
            return None
        for v in values[1:]:
            total = [tuple(a + b for a, b in zip(x, y)) for x, y in zip(total, v)] if isinstance(total, list) \
                else tuple(a + b for a, b in zip(total, v)) if isinstance(total, tuple) else total + v
        return total

    stats = add([c.mstep_stats(params, Wp, e, r) for r, c, Wp, e in parts])
    cand = comp.mstep_candidate(params, stats)
    q0 = sum(wq_block(Wp, e.logpdf) for r, c, Wp, e in parts)
    new, evs = params, [e for *_, e in parts]
    if comp.exact_step:
        new = cand
        evs = [c.evaluate(cand, r) for r, c, Wp, e in parts]
    else:
        t = 1.0
        for _ in range(40):
            trial = params + t * (cand - params)
            vals = [c.step_value(trial, Wp, r) for r, c, Wp, e in parts]
            if sum(v[0] for v in vals) >= q0 - 1e-10 * (abs(q0) + 1):
                new, evs = trial, [v[1] for v in vals]
                break
            t *= 0.5
    sstats = add([c.scale_stats(new, Wp, e, r) for (r, c, Wp, _), e in zip(parts, evs)])
    got = comp.scale_update(new, sstats)
    np.testing.assert_allclose(got, expect, rtol=1e-10, atol=1e-12)


def test_estep_matches_hand_computation_with_point_mass():
    rng = np.random.default_rng(4)
    n = 300
    y = np.where(rng.random(n) < 0.3, 0.0, rng.poisson(3.0, n)).astype(float)
    X = np.ones((n, 1))
    rows = Rows(y, X)
    mix = Mixture([GLMComponent(FAM.Poisson(), rows, 1), PointMass(0.0, rows)], make_mixing("estimate", 2), rows)
    theta = np.array([np.log(3.0), np.log(0.3 / 0.7)])
    es = mix.estep(theta)
    lf = -3.0 + y * np.log(3.0) - np.array([np.sum(np.log(np.arange(1, v + 1))) for v in y])
    L = np.column_stack([lf + np.log(0.7), np.where(y == 0, 0.0, -np.inf) + np.log(0.3)])
    ll = logsumexp(L, axis=1)
    assert es.llf == pytest.approx(ll.sum(), rel=1e-12)
    np.testing.assert_allclose(es.T, np.exp(L - ll[:, None]), atol=1e-12)
    assert mix.size == 2 and mix.K == 2 and mix.k == 1
