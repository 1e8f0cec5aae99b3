"""Analytic derivatives of every component model against finite differences.

The per-row gradients (the scores behind standard errors and the Newton steps) must equal
central differences of the log-density, and the analytic Hessians (ordinal, multinomial,
censored location-scale models) central differences of those gradients.
"""

import numpy as np
import pytest
from statsmodels.tools.numdiff import approx_fprime

from emglm.components import (Beta, Exponential, LogNormal, MNLogit, OrderedLogit, OrderedProbit, Tobit,
                              TruncatedNegativeBinomial, TruncatedPoisson, Weibull)
from emglm.components.base import NewtonComponent
from emglm.mixture import Rows

rng = np.random.default_rng(0)
N = 300
X = np.column_stack([np.ones(N), rng.normal(size=N)])
Y = np.clip(rng.normal(1.0, 1.0, N), 0.0, 2.0)
STATUS = {"status": (rng.random(N) < 0.7).astype(float)}
CODES = rng.integers(0, 4, N).astype(float)
COUNTS = rng.poisson(3.0, N).astype(float) + 3.0

CASES = [
    (Tobit(lower=0.0, upper=2.0), Y, X, {}, [0.3, 0.2, -0.1]),
    (Weibull(status="s"), np.exp(Y), X, STATUS, [0.3, 0.2, -0.4]),
    (LogNormal(status="s"), np.exp(Y), X, STATUS, [0.3, 0.2, -0.4]),
    (Exponential(status="s"), np.exp(Y), X, STATUS, [0.3, 0.2]),
    (OrderedLogit(), CODES, X[:, 1:], {}, [0.4, -1.0, 0.2, -0.3]),
    (OrderedProbit(), CODES, X[:, 1:], {}, [0.4, -1.0, 0.2, -0.3]),
    (MNLogit(), CODES, X, {}, [0.1, 0.3, -0.2, 0.5, 0.4, -0.6]),
    (TruncatedPoisson(truncation=2), COUNTS, X, {}, [1.2, 0.1]),
    (TruncatedNegativeBinomial(truncation=2), COUNTS, X, {}, [1.2, 0.1, -1.0]),
    (Beta(), (Y + 0.1) / 2.2, X, {}, [-0.2, 0.3, 2.0]),
]


@pytest.mark.parametrize("family, y, X_, extra, p", CASES, ids=[repr(c[0]) for c in CASES])
def test_gradient_and_hessian_equal_finite_differences(family, y, X_, extra, p):
    rows = Rows(y, X_, extra=extra)
    _, fam = family.prepare_endog(y)
    comp = fam.make_component(rows, 1)
    p = np.asarray(p, dtype=float)
    w = rng.random(N)
    grad = w @ comp.loglike_grad(p, rows)[1]
    num = approx_fprime(p, lambda b: w @ comp.logpdf_class(b, rows), centered=True)
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(comp.weighted_grad(p, w, rows), grad, rtol=1e-12, atol=1e-10)
    H = comp.hessian(p, w, rows)
    Hnum = NewtonComponent.hessian(comp, p, w, rows)  # differences of the analytic gradient
    np.testing.assert_allclose(H, Hnum, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family, s", [(TruncatedPoisson(), []), (TruncatedPoisson(truncation=1), []),
                                       (TruncatedNegativeBinomial(), [np.log(0.7)]),
                                       (TruncatedNegativeBinomial(truncation=1), [np.log(0.4)]),
                                       (Beta(), [1.3])], ids=repr)
def test_analytic_row_second_derivatives_equal_differences_of_the_gradient(family, s):
    # per-row second derivatives in the linear predictor and the log scalar, row by row
    y = (Y + 0.1) / 2.2 if isinstance(family, Beta) else COUNTS
    rows = Rows(y, X)
    comp = family.make_component(rows, 1)
    eta, s = rng.normal(0.5, 0.8, N), np.asarray(s, dtype=float)
    D2 = comp.row_second(eta, s, rows)
    assert D2 is not None and D2.shape == (N, 1 + s.size, 1 + s.size)
    np.testing.assert_allclose(D2, comp.row_second_numeric(eta, s, rows), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("family, la", [(TruncatedPoisson(), 0.0), (TruncatedNegativeBinomial(), np.log(0.3)),
                                        (TruncatedNegativeBinomial(), np.log(5.0))], ids=repr)
def test_tail_above_zero_equals_the_incomplete_gamma_and_beta_functions(family, la):
    from scipy import special

    comp = family.make_component(Rows(COUNTS, X), 1)
    eta = np.linspace(-30.0, 6.0, 400)  # means from 1e-13 (a tail near mu) to 400 (a tail near 1)
    mu, r = np.exp(eta), np.exp(-la)
    ref = (np.log(special.betainc(1.0, r, mu / (r + mu))) if comp.nb else np.log(special.gammainc(1.0, mu)))
    np.testing.assert_allclose(comp._logsf(0, eta, la), ref, rtol=1e-10, atol=1e-14)
