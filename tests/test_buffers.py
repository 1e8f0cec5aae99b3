"""Reused work arrays of the row passes (emglm.mixture.buffers): an array still referred to
anywhere is never handed out again, a fit gives the same numbers with and without reuse, and
nothing is kept once the fit has ended."""

import contextlib
import warnings

import numpy as np
import statsmodels.api as sm

import emglm.mixture.buffers as buffers
from emglm import EMGLM
from emglm.mixture.buffers import Buffers, reuse_during


def test_array_or_any_view_of_it_held_is_not_reused():
    buf = Buffers()
    with reuse_during():
        a = buf.empty((3, 100))
        a[:] = 1.0
        view = a.T[:, 1]  # a view of a view: refers to the owner too
        del a
        b = buf.empty((3, 100))
        b[:] = 2.0
        assert np.all(view == 1.0)  # not overwritten: the first array was still in use
        del view
        c = buf.empty((3, 100))  # now free again: handed out
        c[:] = 3.0
        assert np.all(b == 2.0)
        kept = {id(e[0]) for e in buf._entries}
        assert id(c.base) in kept and id(b.base) in kept


def test_outside_a_fit_nothing_is_kept():
    buf = Buffers()
    a = buf.empty((2, 5))
    assert a.base is None and not buf._entries  # plain np.empty
    with reuse_during():
        buf.empty((2, 5))
        assert buf._entries
    assert not buf._entries  # let go when the last fit ends


def test_fit_identical_with_and_without_reuse_and_nothing_kept_after():
    rng = np.random.default_rng(4)
    n = 30_000
    X = np.column_stack([np.ones(n), rng.standard_normal((n, 2))])
    z = rng.integers(0, 3, n)
    B = np.array([[0.0, 0.3, -0.2], [1.5, -0.2, 0.2], [3.0, 0.1, 0.0]])
    y = rng.poisson(np.exp(np.einsum("ij,ij->i", X, B[z]))).astype(float)
    fits = []
    orig = buffers.reuse_during
    try:
        for reuse in (True, False):
            buffers.reuse_during = orig if reuse else contextlib.nullcontext
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = EMGLM(y, X, k=3, family=sm.families.Poisson()).fit(n_starts=3)
            fits.append((res.llf, res.params.to_numpy(), res.posterior.to_numpy(), res.bse.to_numpy()))
    finally:
        buffers.reuse_during = orig
    for a, b in zip(*fits):
        np.testing.assert_array_equal(a, b)
    assert len(buffers._HOLDING) == 0
