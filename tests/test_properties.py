"""Property-based tests (hypothesis): EM ascent and finite outputs over families, k, sizes
and weights; a fuzz test of malformed inputs expecting only ValueError or TypeError."""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emglm import EMGLM

FAMILIES = ["gaussian", "poisson", "binomial", "gamma", "negbin"]


def _simulate(family, n, k_true, seed, weighted):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    cls = rng.integers(0, k_true, n)
    eta = np.array([0.5, -0.5, 1.0])[cls] + np.array([1.0, -1.0, 0.3])[cls] * x
    if family == "gaussian":
        y, fam = eta + rng.normal(0, 0.5, n), sm.families.Gaussian()
    elif family == "poisson":
        y, fam = rng.poisson(np.exp(eta)), sm.families.Poisson()
    elif family == "binomial":
        t = rng.integers(1, 6, n)
        s = rng.binomial(t, 1 / (1 + np.exp(-2 * eta)))
        y, fam = np.column_stack([s, t - s]), sm.families.Binomial()
    elif family == "gamma":
        y, fam = rng.gamma(3.0, np.exp(eta) / 3.0), sm.families.Gamma(sm.families.links.Log())
    else:
        y, fam = rng.negative_binomial(2, 2 / (2 + np.exp(eta))), sm.families.NegativeBinomial(alpha=0.5)
    w = rng.integers(1, 4, n).astype(float) if weighted else None
    return y, np.column_stack([np.ones(n), x]), fam, w


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family=st.sampled_from(FAMILIES), k=st.integers(1, 3), n=st.integers(15, 120),
       k_true=st.integers(1, 3), seed=st.integers(0, 2**31 - 1), weighted=st.booleans(),
       start=st.sampled_from(["fit", "random"]), accelerate=st.sampled_from([None, "squarem"]))
def test_em_ascent_and_finite_outputs(family, k, n, k_true, seed, weighted, start, accelerate):
    y, X, fam, w = _simulate(family, n, k_true, seed, weighted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = EMGLM(y, X, k=k, family=fam, weights=w).fit(start=start, random_state=seed, maxiter=150,
                                                           accelerate=accelerate)
    h = res.llf_history
    assert np.all(np.isfinite(h))
    assert np.all(np.diff(h) >= -1e-8 * (1.0 + np.abs(h[:-1]))), np.diff(h).min()
    assert res.llf == pytest.approx(h[-1], rel=1e-12, abs=1e-12)
    T = res.posterior.to_numpy()
    assert np.all(np.isfinite(T)) and np.all(T >= 0) and np.allclose(T.sum(axis=1), 1.0)
    assert np.all(np.isfinite(res.params.to_numpy()))
    assert np.isclose(res.proportions.sum(), 1.0) and np.all(res.proportions >= 0)
    assert np.all(np.isfinite(res.scale)) and np.all(res.scale > 0)
    assert np.all(np.isfinite(res.fittedvalues))
    assert np.isfinite(res.aic) and np.isfinite(res.bic) and np.isfinite(res.icl)


# ------------------------------------------------------------------ fuzz
N = 12
_ok_y = np.arange(N, dtype=float) % 4
_ok_X = np.column_stack([np.ones(N), np.linspace(-1, 1, N)])

bad_values = st.sampled_from([np.nan, np.inf, -np.inf, -1.0, 0.0, 1e308, -1e308, 0.5, 2.0])
shapes = st.sampled_from([(N,), (N - 1,), (N + 3,), (N, 1), (N, 2), (N, 3), (1,), (), (0,), (N, 2, 2)])


@st.composite
def malformed(draw):
    kind = draw(st.sampled_from(["value", "shape", "type", "k", "option"]))
    args = dict(endog=_ok_y.copy(), exog=_ok_X.copy(), k=2, family=sm.families.Poisson())
    target = draw(st.sampled_from(["endog", "exog", "offset", "exposure", "weights", "groups", "start"]))
    if kind == "value":
        arr = _ok_y.copy() if target != "exog" else _ok_X.copy()
        idx = draw(st.integers(0, N - 1))
        arr.flat[idx] = draw(bad_values)
        val = arr
    elif kind == "shape":
        val = np.ones(draw(shapes))
    elif kind == "type":
        val = draw(st.sampled_from(["abc", object(), [["a", 1]] * N, np.array(["x"] * N), {"a": 1}, 1 + 2j,
                                    np.ones(N) * 1j, [[1, 2], [3]]]))
    elif kind == "k":
        args["k"] = draw(st.sampled_from([0, -1, 1.5, "2", None, N + 1, True, np.int64(100)]))
        target, val = None, None
    else:
        opt = draw(st.sampled_from(["family", "mixing", "missing", "scale", "point_mass"]))
        args[opt] = draw(st.sampled_from(["x", 3, None, np.nan, sm.families.Poisson]))
        target, val = None, None
    fam = draw(st.sampled_from([sm.families.Poisson(), sm.families.Binomial(), sm.families.Gamma(),
                                sm.families.Gaussian()]))
    if "family" not in args or isinstance(args["family"], sm.families.Poisson):
        args["family"] = fam
    start = None
    if target == "start":
        start = val
    elif target is not None:
        args[target] = val
    missing = draw(st.sampled_from(["drop", "raise"]))
    args.setdefault("missing", missing)
    return args, start


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=malformed())
def test_fuzz_malformed_inputs_raise_only_documented_errors(case):
    args, start = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = EMGLM(**args)
            res = model.fit(maxiter=20) if start is None else model.fit(start=start, maxiter=20)
        except (ValueError, TypeError):
            return
    # accepted input: the answer must be finite
    assert np.isfinite(res.llf)
    assert np.all(np.isfinite(res.posterior.to_numpy()))
    assert np.all(np.isfinite(res.params.iloc[:, : res.k].to_numpy()))
