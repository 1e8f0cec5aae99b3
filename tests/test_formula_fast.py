"""The direct design build for plain numeric formulas equals patsy's, bit for bit."""

import numpy as np
import pandas as pd
import patsy
import pytest
import statsmodels.api as sm

from emglm import EMGLM
from emglm import formula as formula_mod
from emglm.formula_fast import numeric_dmatrices

ENV = patsy.EvalEnvironment([{"np": np}])


def frame(n=40, seed=0, index=None):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "y": rng.poisson(3.0, n).astype(float),
        "x1": rng.standard_normal(n),
        "x2": rng.standard_normal(n) * 1e6 + 1.7e9,
        "x3": -rng.standard_normal(n) * 1e-12,
        "xi": rng.integers(-5, 5, n),
        "xu": rng.integers(0, 2**40, n).astype(np.uint64),
        "xf32": rng.standard_normal(n).astype(np.float32),
        "yi": rng.poisson(2.0, n),
        "b": rng.integers(0, 2, n).astype(bool),
        "g": rng.choice(["a", "b", "c"], n),
        "xna": np.where(rng.uniform(size=n) < 0.1, np.nan, 1.0),
        "nullable": pd.array(rng.integers(0, 3, n), dtype="Int64"),
    })
    df.loc[3, "x1"] = -0.0
    if index is not None:
        df.index = index
    return df


def patsy_frames(formula, df, na_drop, one_sided):
    na = patsy.NAAction(on_NA="drop" if na_drop else "raise")
    if one_sided:
        return patsy.dmatrix(formula, df, NA_action=na, return_type="dataframe", eval_env=ENV)
    return patsy.dmatrices(formula, df, NA_action=na, return_type="dataframe", eval_env=ENV)


def assert_same(fast, ref):
    fast = fast if isinstance(fast, tuple) else (fast,)
    ref = ref if isinstance(ref, (tuple, list)) else (ref,)
    assert len(fast) == len(ref)
    for a, b in zip(fast, ref):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        # bit for bit, the signs of zeros included
        assert np.array_equal(a.to_numpy().view(np.int64), b.to_numpy().view(np.int64))
        assert a.design_info.column_names == b.design_info.column_names
        assert a.design_info.term_names == b.design_info.term_names
        assert a.design_info.describe() == b.design_info.describe()


PLAIN = ["y ~ x1", "y ~ x1 + x2 + x3", "y ~ 0 + x1", "y ~ x1 - 1", "y ~ 1 + x1", "y ~ x2 + x1",
         "y ~ x1 + x1", "y ~ x1 + x2 - x1", "y ~ (x1 + x2)", "y ~ x1 + x2 + 1", "yi ~ xi + xu",
         "y ~ xf32 + xi", "y ~ 1", "y ~ x3 + 0 + x2", "y~x1+x2"]
OTHER = ["y ~ np.log(x2)", "y ~ C(xi)", "y ~ b", "y ~ g + x1", "y ~ x1:x2", "y ~ x1 * x2",
         "y ~ I(x1 + x2)", "np.log(y + 1) ~ x1", "y ~ xna", "xna ~ x1", "y ~ nullable", "y ~ 0",
         "y ~ x1 + zz"]


@pytest.mark.parametrize("na_drop", [True, False])
@pytest.mark.parametrize("formula", PLAIN)
def test_plain_formulas_equal_patsy(formula, na_drop):
    df = frame()
    fast = numeric_dmatrices(formula, df, ENV, na_drop=na_drop)
    assert fast is not None  # the direct build was taken
    assert_same(fast, patsy_frames(formula, df, na_drop, False))


@pytest.mark.parametrize("formula", PLAIN[:10])
def test_one_sided_equal_patsy(formula):
    df = frame()
    rhs = "~" + formula.split("~", 1)[1]
    fast = numeric_dmatrices(rhs, df, ENV, one_sided=True)
    assert fast is not None
    assert_same(fast, patsy_frames(rhs, df, True, True))
    assert numeric_dmatrices(rhs, df, ENV) is None  # a one-sided formula is not a two-sided one


@pytest.mark.parametrize("formula", OTHER)
def test_other_formulas_go_to_patsy(formula):
    df = frame()
    assert numeric_dmatrices(formula, df, ENV) is None
    # and the model's build (through patsy) still equals patsy's own matrices
    try:
        ref = patsy_frames(formula, df, True, False)
    except patsy.PatsyError:
        return
    na = patsy.NAAction(on_NA="drop")
    assert_same(formula_mod._dmatrices(formula, df, na, True, ENV), ref)


def test_random_formulas_equal_patsy():
    """Many formulas: random subsets and orders of the numeric columns, with and without
    the intercept, on frames with other index types."""
    rng = np.random.default_rng(1)
    cols = ["x1", "x2", "x3", "xi", "xu", "xf32"]
    indexes = [None, pd.Index(np.arange(40) * 3 + 7), pd.Index([f"r{i}" for i in range(40)]),
               pd.date_range("2020-01-01", periods=40)]
    for trial in range(60):
        df = frame(seed=trial, index=indexes[trial % len(indexes)])
        terms = list(rng.choice(cols, size=rng.integers(1, len(cols) + 1), replace=False))
        lhs = rng.choice(["y", "yi", "x1"])
        icpt = rng.choice(["", "0 + ", "1 + ", " - 1"])
        rhs = " + ".join(terms)
        formula = f"{lhs} ~ {icpt}{rhs}" if icpt != " - 1" else f"{lhs} ~ {rhs} - 1"
        fast = numeric_dmatrices(formula, df, ENV)
        assert fast is not None, formula
        assert_same(fast, patsy_frames(formula, df, True, False))


def test_column_shadows_a_namespace_name():
    # patsy looks names up in the data first; so does the direct build
    df = frame()
    df["np"] = df["x1"] * 2
    env = patsy.EvalEnvironment([{"np": np, "x1": np.zeros(40)}])
    fast = numeric_dmatrices("y ~ np + x1", df, env)
    ref = patsy.dmatrices("y ~ np + x1", df, return_type="dataframe", eval_env=env)
    assert_same(fast, ref)


def test_a_column_named_intercept_goes_to_patsy():
    df = frame()
    df["Intercept"] = df["x1"]
    assert numeric_dmatrices("y ~ Intercept", df, ENV) is None
    # patsy refuses the clash of names; the build says so too instead of a wrong matrix
    na = patsy.NAAction(on_NA="drop")
    with pytest.raises(ValueError, match="column_names"):
        patsy_frames("y ~ Intercept", df, True, False)
    with pytest.raises(ValueError, match="column_names"):
        formula_mod._dmatrices("y ~ Intercept", df, na, True, ENV)


def test_duplicated_column_labels_go_to_patsy():
    df = frame()[["y", "x1", "x2"]]
    df.columns = ["y", "x1", "x1"]
    assert numeric_dmatrices("y ~ x1", df, ENV) is None


def _force_patsy(monkeypatch):
    import emglm.formula_fast as ff

    monkeypatch.setattr(ff, "numeric_dmatrices", lambda *a, **k: None)


def test_model_equal_with_and_without_direct_build(monkeypatch):
    """from_formula (design, names, fit, prediction on new data) is the same either way."""
    rng = np.random.default_rng(3)
    n = 600
    df = pd.DataFrame({"x": rng.standard_normal(n), "w": rng.standard_normal(n), "z": rng.standard_normal(n)})
    lab = rng.integers(0, 2, n)
    df["y"] = rng.poisson(np.exp(np.where(lab == 1, 2.0 + 0.5 * df.x, 0.3 - 0.5 * df.x)))
    kw = dict(k=2, family=sm.families.Poisson(), concomitant="~ z")
    fast = EMGLM.from_formula("y ~ x + w", df, **kw)
    new = df.iloc[:25].copy()
    res_fast = fast.fit(start=lab, maxiter=50)
    _force_patsy(monkeypatch)
    slow = EMGLM.from_formula("y ~ x + w", df, **kw)
    res_slow = slow.fit(start=lab, maxiter=50)
    assert np.array_equal(fast.exog, slow.exog) and np.array_equal(fast.endog, slow.endog)
    assert np.array_equal(fast.concomitant_exog, slow.concomitant_exog)
    assert fast.exog_names == slow.exog_names and fast.concomitant_names == slow.concomitant_names
    assert res_fast.llf == res_slow.llf
    pd.testing.assert_frame_equal(res_fast.params, res_slow.params, check_exact=True)
    pd.testing.assert_frame_equal(pd.DataFrame(res_fast.predict(new)), pd.DataFrame(res_slow.predict(new)),
                                  check_exact=True)


def test_model_does_not_share_the_users_columns():
    df = pd.DataFrame({"y": [1.0, 2.0, 4.0, 3.0, 6.0, 5.0], "x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    before = df.copy()
    m = EMGLM.from_formula("y ~ x", df, k=1)
    m.exog[:, 1] = -1.0
    m.endog[:] = -1.0
    pd.testing.assert_frame_equal(df, before)
