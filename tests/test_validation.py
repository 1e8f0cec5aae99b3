"""Bad input gets a ValueError or TypeError naming the argument or column, before any fitting.

Each row of the tables below is also listed in docs/reliability.md.
"""

import warnings

import numpy as np
import pandas as pd
import patsy
import pytest
import statsmodels.api as sm

from emglm import EMGLM, DroppedRowsWarning

N = 20
RNG = np.random.default_rng(0)
Y = RNG.poisson(3, N).astype(float)
X = np.column_stack([np.ones(N), RNG.normal(size=N)])
P = sm.families.Poisson()


def ones(n=N):
    return np.ones(n)


# (id, callable building the model, exception, regex the message must match)
MODEL_CASES = [
    ("k zero", lambda: EMGLM(Y, X, k=0, family=P), ValueError, r"k must be at least 1"),
    ("k float", lambda: EMGLM(Y, X, k=2.0, family=P), TypeError, r"k must be an integer"),
    ("k string", lambda: EMGLM(Y, X, k="2", family=P), TypeError, r"k must be an integer"),
    ("k bool", lambda: EMGLM(Y, X, k=True, family=P), TypeError, r"k must be an integer"),
    ("k above nobs", lambda: EMGLM(Y, X, k=N + 1, family=P), ValueError, r"k=21 exceeds the number of observations \(20\)"),
    ("family string", lambda: EMGLM(Y, X, k=2, family="poisson"), TypeError, r"family must be a statsmodels family instance"),
    ("family class", lambda: EMGLM(Y, X, k=2, family=sm.families.Poisson), TypeError, r"not the class Poisson"),
    ("mixing", lambda: EMGLM(Y, X, k=2, family=P, mixing="fixed"), ValueError, r"mixing must be one of"),
    ("missing", lambda: EMGLM(Y, X, k=2, family=P, missing="ignore"), ValueError, r"missing must be one of"),
    ("scale", lambda: EMGLM(Y, X, k=2, family=P, scale="pooled"), ValueError, r"scale must be one of"),
    ("point_mass", lambda: EMGLM(Y, X, k=2, family=P, point_mass="0"), TypeError, r"point_mass must be a finite number"),
    ("unknown keyword", lambda: EMGLM(Y, X, k=2, family=P, bogus=1), TypeError, r"unexpected keyword argument\(s\): bogus"),
    # response domain
    ("negative count", lambda: EMGLM(np.r_[-1.0, Y[1:]], X, k=2, family=P), ValueError, r"Poisson responses must be non-negative.*1 negative"),
    ("negative NB count", lambda: EMGLM(np.r_[-1.0, Y[1:]], X, k=2, family=sm.families.NegativeBinomial()), ValueError, r"NegativeBinomial responses must be non-negative"),
    ("binomial above 1", lambda: EMGLM(np.r_[2.0, np.zeros(N - 1)], X, k=2, family=sm.families.Binomial()), ValueError, r"proportions in \[0, 1\].*1 value"),
    ("binomial below 0", lambda: EMGLM(np.r_[-0.5, np.zeros(N - 1)], X, k=2, family=sm.families.Binomial()), ValueError, r"proportions in \[0, 1\]"),
    ("successes above trials", lambda: EMGLM(np.column_stack([np.full(N, 5.0), np.r_[-1.0, np.ones(N - 1)]]), X, k=2, family=sm.families.Binomial()), ValueError, r"failures .* 1 row\(s\) with successes above trials"),
    ("negative successes", lambda: EMGLM(np.column_stack([np.r_[-1.0, np.ones(N - 1)], np.ones(N)]), X, k=2, family=sm.families.Binomial()), ValueError, r"successes .* must be non-negative"),
    ("zero trials", lambda: EMGLM(np.column_stack([np.r_[0.0, np.ones(N - 1)], np.r_[0.0, np.ones(N - 1)]]), X, k=2, family=sm.families.Binomial()), ValueError, r"zero trials"),
    ("two columns not binomial", lambda: EMGLM(np.ones((N, 2)), X, k=2, family=P), ValueError, r"only for the Binomial family"),
    ("gamma zero", lambda: EMGLM(np.r_[0.0, Y[1:] + 1], X, k=2, family=sm.families.Gamma()), ValueError, r"Gamma responses must be positive"),
    ("inverse gaussian negative", lambda: EMGLM(np.r_[-1.0, Y[1:] + 1], X, k=2, family=sm.families.InverseGaussian()), ValueError, r"InverseGaussian responses must be positive"),
    ("tweedie negative", lambda: EMGLM(np.r_[-1.0, Y[1:]], X, k=2, family=sm.families.Tweedie(var_power=1.5)), ValueError, r"Tweedie responses must be non-negative"),
    # missing values under missing="raise"
    ("nan endog raise", lambda: EMGLM(np.r_[np.nan, Y[1:]], X, k=2, family=P, missing="raise"), ValueError, r"1 row\(s\) contain missing.*endog: 1 value"),
    ("inf exog raise", lambda: EMGLM(Y, np.column_stack([ones(), np.r_[np.inf, X[1:, 1]]]), k=2, family=P, missing="raise"), ValueError, r"exog column 'x1': 1 value"),
    ("nan exog frame column raise", lambda: EMGLM(Y, pd.DataFrame({"const": ones(), "dose": np.r_[np.nan, X[1:, 1]]}), k=2, family=P, missing="raise"), ValueError, r"exog column 'dose'"),
    ("nan offset raise", lambda: EMGLM(Y, X, k=2, family=P, offset=np.r_[np.nan, np.zeros(N - 1)], missing="raise"), ValueError, r"offset: 1 value"),
    ("nan groups raise", lambda: EMGLM(Y, X, k=2, family=P, groups=np.r_[np.nan, np.arange(N - 1.0)], missing="raise"), ValueError, r"groups: 1 value"),
    ("all rows missing", lambda: EMGLM(np.full(N, np.nan), X, k=1, family=P), ValueError, r"no rows left"),
    # weights, offset, exposure, groups
    ("negative weights", lambda: EMGLM(Y, X, k=2, family=P, weights=np.r_[-1.0, ones(N - 1)]), ValueError, r"weights must be non-negative; found 1 negative"),
    ("zero weights", lambda: EMGLM(Y, X, k=1, family=P, weights=np.zeros(N)), ValueError, r"weights sum to zero"),
    ("offset length", lambda: EMGLM(Y, X, k=2, family=P, offset=ones(N - 1)), ValueError, r"offset must have length 20"),
    ("offset 2-d", lambda: EMGLM(Y, X, k=2, family=P, offset=np.ones((N, 2))), ValueError, r"offset must have length 20"),
    ("offset scalar", lambda: EMGLM(Y, X, k=2, family=P, offset=1.0), ValueError, r"offset must be an array of length 20"),
    ("offset column name without formula", lambda: EMGLM(Y, X, k=2, family=P, offset="t"), TypeError, r"offset must be an array of numbers"),
    ("exposure length", lambda: EMGLM(Y, X, k=2, family=P, exposure=ones(N + 1)), ValueError, r"exposure must have length 20"),
    ("exposure zero", lambda: EMGLM(Y, X, k=2, family=P, exposure=np.r_[0.0, ones(N - 1)]), ValueError, r"exposure must be positive; found 1"),
    ("exposure negative", lambda: EMGLM(Y, X, k=2, family=P, exposure=-ones()), ValueError, r"exposure must be positive"),
    ("weights length", lambda: EMGLM(Y, X, k=2, family=P, weights=ones(3)), ValueError, r"weights must have length 20"),
    ("groups length", lambda: EMGLM(Y, X, k=2, family=P, groups=np.arange(N - 1)), ValueError, r"groups must have length 20"),
    ("k above groups", lambda: EMGLM(Y, X, k=3, family=P, groups=np.arange(N) % 2), ValueError, r"k=3 exceeds the number of observations \(2\)"),
    ("concomitant varies in group", lambda: EMGLM(Y, X, k=2, family=P, groups=np.arange(N) % 4, concomitant=np.arange(N.__float__())), ValueError, r"constant within each group"),
    # designs
    ("exog rows", lambda: EMGLM(Y, X[:-1], k=2, family=P), ValueError, r"exog has 19 rows but endog has 20"),
    ("exog no columns", lambda: EMGLM(Y, np.ones((N, 0)), k=2, family=P), ValueError, r"exog has no columns"),
    ("exog 3-d", lambda: EMGLM(Y, np.ones((N, 2, 2)), k=2, family=P), ValueError, r"exog must be 1- or 2-dimensional"),
    ("exog strings", lambda: EMGLM(Y, np.array([["a", "b"]] * N), k=2, family=P), TypeError, r"exog must be numeric"),
    ("exog ragged", lambda: EMGLM(Y, [[1.0, 2.0], [1.0]] * 10, k=2, family=P), TypeError, r"exog must be numeric"),
    ("exog object column", lambda: EMGLM(Y, pd.DataFrame({"dose": ["a"] * N}), k=2, family=P), TypeError, r"exog: column 'dose' is not numeric"),
    ("exog categorical column", lambda: EMGLM(Y, pd.DataFrame({"arm": pd.Categorical(["a", "b"] * 10)}), k=2, family=P), TypeError, r"column 'arm' is not numeric.*C\(\.\.\.\)"),
    ("endog complex", lambda: EMGLM(Y + 1j, X, k=1, family=P), TypeError, r"endog must be real-valued"),
    ("endog strings", lambda: EMGLM(np.array(["a"] * N), X, k=1, family=P), TypeError, r"endog must be numeric"),
    ("endog three columns", lambda: EMGLM(np.ones((N, 3)), X, k=2, family=P), ValueError, r"endog must have one column"),
    ("endog empty", lambda: EMGLM(np.array([]), np.ones((0, 1)), k=1, family=P), ValueError, r"endog has no rows"),
    ("endog None", lambda: EMGLM(None, X, k=1, family=P), ValueError, r"endog is required"),
    ("exog None", lambda: EMGLM(Y, None, k=1, family=P), ValueError, r"exog is required"),
    ("fixed rows", lambda: EMGLM(Y, X, k=2, family=P, fixed=np.ones((N - 1, 1))), ValueError, r"fixed has 19 rows"),
    ("concomitant rows", lambda: EMGLM(Y, X, k=2, family=P, concomitant=np.ones((N - 1, 1))), ValueError, r"concomitant has 19 rows"),
    ("pandas index not aligned", lambda: EMGLM(pd.Series(Y), pd.DataFrame(X, index=np.arange(N) + 5), k=2, family=P), ValueError, r"index of exog is not aligned"),
]


@pytest.mark.parametrize("build, exc, pattern", [c[1:] for c in MODEL_CASES], ids=[c[0] for c in MODEL_CASES])
def test_model_construction_errors(build, exc, pattern):
    with pytest.raises(exc, match=pattern):
        build()


def _model(k=2):
    return EMGLM(Y, X, k=k, family=P)


FIT_CASES = [
    ("start label out of range", dict(start=np.full(N, 2)), ValueError, r"labels must lie in 0\.\.1, got range 2\.\.2"),
    ("start label negative", dict(start=np.full(N, -1)), ValueError, r"labels must lie in 0\.\.1"),
    ("start length", dict(start=np.zeros(N - 1, int)), ValueError, r"label vector must have length nobs=20"),
    ("start non-integer labels", dict(start=np.full(N, 0.5)), ValueError, r"labels must be integers"),
    ("start posterior shape", dict(start=np.ones((N, 3)) / 3), ValueError, r"posterior matrix must have shape \(20, 2\)"),
    ("start posterior rows", dict(start=np.full((N, 2), 0.7)), ValueError, r"sum to one"),
    ("start 3-d", dict(start=np.ones((N, 2, 1))), ValueError, r"label vector or a posterior matrix"),
    ("start unknown string", dict(start="kmeans"), ValueError, r"start must be 'screen', 'fit', 'random'"),
    ("start_params shape", dict(start_params=np.ones((3, 2))), ValueError, r"start_params must be shaped like params"),
    ("start_params nan", dict(start_params=np.full((2, 2), np.nan)), ValueError, r"start_params must be finite"),
    ("random_state", dict(random_state="a"), TypeError, r"random_state must be None"),
    ("tol", dict(tol=-1.0), ValueError, r"tol must be a finite positive number"),
    ("maxiter", dict(maxiter=0), ValueError, r"maxiter must be a positive integer"),
    ("n_starts", dict(n_starts=0), ValueError, r"n_starts must be a positive integer"),
    ("accelerate", dict(accelerate="aitken"), ValueError, r"accelerate must be None or 'squarem'"),
    ("min_proportion range", dict(min_proportion=1.5), ValueError, r"min_proportion must lie in \[0, 1\)"),
    ("min_proportion type", dict(min_proportion="0.1"), TypeError, r"min_proportion must be a number"),
    ("unknown fit keyword", dict(maxit=10), TypeError, r"unexpected keyword argument\(s\): maxit"),
]


@pytest.mark.parametrize("kwargs, exc, pattern", [c[1:] for c in FIT_CASES], ids=[c[0] for c in FIT_CASES])
def test_fit_argument_errors(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        _model().fit(**kwargs)


def test_drop_reports_count():
    y = np.r_[np.nan, np.inf, Y[2:]]
    Xb = X.copy()
    Xb[5, 1] = np.nan
    with pytest.warns(DroppedRowsWarning, match=r"dropped 3 row\(s\)"):
        m = EMGLM(y, Xb, k=1, family=P)
    assert m.nobs == N - 3 and m.n_dropped == 3
    assert list(m.row_index) == [i for i in range(N) if i not in (0, 1, 5)]


def test_drop_nullable_pandas_column():
    ys = pd.Series(Y.astype(int), dtype="Int64")
    ys[3] = pd.NA
    with pytest.warns(DroppedRowsWarning, match=r"dropped 1 row"):
        m = EMGLM(ys, pd.DataFrame(X, columns=["const", "x"]), k=1, family=P)
    assert m.nobs == N - 1 and 3 not in m.row_index


# ------------------------------------------------------------------ formula models
def _frame():
    df = pd.DataFrame({"y": Y.copy(), "x": X[:, 1].copy(), "z": RNG.normal(size=N)})
    df.loc[2, "y"] = np.nan
    df.loc[7, "z"] = np.nan
    return df


@pytest.mark.parametrize("missing", ["raise", "none"])
def test_formula_missing_raise_names_column(missing):
    df = _frame()
    with pytest.raises(ValueError, match=r"column 'y' has 1 missing value\(s\)") as ei:
        EMGLM.from_formula("y ~ x", df, k=1, family=P, missing=missing)
    assert "'z'" not in str(ei.value)  # z is not used by the formula
    with pytest.raises(ValueError, match=r"column 'z' has 1 missing"):
        EMGLM.from_formula("y ~ x", df.fillna({"y": 1.0}), k=2, family=P, missing=missing, concomitant="~ z")
    with pytest.raises(ValueError, match=r"column 'z' has 1 missing"):
        EMGLM.from_formula("y ~ np.log(x + 10) + Q('z')", df.fillna({"y": 1.0}), k=1, family=P, missing=missing)


def test_formula_missing_drop_counts():
    with pytest.warns(DroppedRowsWarning, match=r"dropped 2 row"):
        m = EMGLM.from_formula("y ~ x", _frame(), k=2, family=P, concomitant="~ z")
    assert m.nobs == N - 2


def test_formula_inf_raise_names_column():
    df = _frame().fillna(1.0)
    df.loc[4, "x"] = np.inf
    with pytest.raises(ValueError, match=r"exog column 'x': 1 value"):
        EMGLM.from_formula("y ~ x", df, k=1, family=P, missing="raise")


def test_formula_unknown_column_is_patsy_error():
    with pytest.raises(patsy.PatsyError, match=r"name 'dose' is not defined"):
        EMGLM.from_formula("y ~ dose", _frame(), k=1, family=P)


def test_formula_column_arguments():
    df = _frame().fillna(1.0)
    with pytest.raises(KeyError, match=r"exposure: column 'time' not found"):
        EMGLM.from_formula("y ~ x", df, k=1, family=P, exposure="time")
    with pytest.raises(ValueError, match=r"weights must have length 20"):
        EMGLM.from_formula("y ~ x", df, k=1, family=P, weights=np.ones(3))
    with pytest.raises(TypeError, match=r"data must be a pandas DataFrame"):
        EMGLM.from_formula("y ~ x", [1, 2, 3], k=1, family=P)
    with pytest.raises(TypeError, match=r"formula must be a string"):
        EMGLM.from_formula(None, df, k=1, family=P)


def test_errors_come_before_any_work(monkeypatch):
    """Bad fit arguments raise before a single E-step runs."""
    from emglm.mixture import Mixture

    calls = []
    orig = Mixture.estep
    monkeypatch.setattr(Mixture, "estep", lambda self, th: calls.append(1) or orig(self, th))
    m = _model()
    for kwargs in (dict(start=np.full(N, 5)), dict(tol=0.0), dict(min_proportion=2.0)):
        with pytest.raises(ValueError):
            m.fit(**kwargs)
    assert calls == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(maxiter=3)
    assert calls
