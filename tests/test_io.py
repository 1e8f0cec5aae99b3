"""res.save(path, remove_data=...) and emglm.load(path)."""

import io
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import emglm
from emglm import EMGLM
from emglm.io import DataFreeResults, DataRemovedError


@pytest.fixture(scope="module")
def formula_fit():
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"x": rng.uniform(-1, 1, n), "arm": rng.choice(list("abc"), n), "z": rng.normal(size=n)})
    df["y"] = rng.poisson(np.exp(np.where(rng.random(n) < 0.5, 2 + df.x, -df.x)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = EMGLM.from_formula("y ~ center(x) + C(arm) + np.log(x + 2)", df, k=2,
                                 family=sm.families.Poisson(), concomitant="~ z").fit()
    return res, df


@pytest.fixture(scope="module")
def array_fit():
    rng = np.random.default_rng(1)
    y = np.r_[rng.normal(-2, 1, 150), rng.normal(2, 1.5, 150)]
    X = np.column_stack([np.ones(300), rng.normal(size=300)])
    return EMGLM(y, X, k=2).fit()


def _roundtrip(res, tmp_path, remove_data):
    p = tmp_path / f"fit_{remove_data}.emglm"
    res.save(p, remove_data=remove_data)
    return emglm.load(str(p)), p


@pytest.mark.parametrize("remove_data", [False, True])
def test_roundtrip_formula_model(formula_fit, tmp_path, remove_data):
    res, df = formula_fit
    r2, _ = _roundtrip(res, tmp_path, remove_data)
    assert isinstance(r2, emglm.EMGLMResults)
    pd.testing.assert_frame_equal(r2.params, res.params)
    pd.testing.assert_frame_equal(r2.bse, res.bse)
    pd.testing.assert_frame_equal(r2.pvalues, res.pvalues)
    pd.testing.assert_frame_equal(r2.cov_params(), res.cov_params())
    pd.testing.assert_frame_equal(r2.conf_int(), res.conf_int())
    pd.testing.assert_series_equal(r2.proportions, res.proportions)
    for name in ("llf", "aic", "bic", "icl", "entropy", "df_model", "nobs", "converged", "n_iter"):
        assert getattr(r2, name) == getattr(res, name), name
    assert r2.summary().as_text() == res.summary().as_text()
    new = df.iloc[:7]
    for which in ("pooled", "mean", "components", "posterior"):
        kw = {"endog": new} if which in ("pooled", "posterior") else {}
        np.testing.assert_allclose(np.asarray(r2.predict(new, which=which, **kw)),
                                   np.asarray(res.predict(new, which=which, **kw)))
    if not remove_data:
        pd.testing.assert_frame_equal(r2.posterior, res.posterior)
        pd.testing.assert_series_equal(r2.resid_pearson, res.resid_pearson)
        pd.testing.assert_frame_equal(r2.model.data, df)


def test_remove_data_drops_rows_and_is_small(formula_fit, tmp_path):
    res, df = formula_fit
    _, p_full = _roundtrip(res, tmp_path, False)
    r2, p_small = _roundtrip(res, tmp_path, True)
    assert isinstance(r2, DataFreeResults)
    assert p_small.stat().st_size < p_full.stat().st_size / 3
    assert r2.model.endog.size == 0 and r2.model.exog.shape == (0, res.model.exog.shape[1])
    assert r2.model.data is None
    for name in ("posterior", "fittedvalues", "resid_pearson", "resid_response", "resid_deviance"):
        with pytest.raises(DataRemovedError, match="remove_data=True"):
            getattr(r2, name)
    with pytest.raises(DataRemovedError):
        r2.predict()
    with pytest.raises(DataRemovedError):
        r2.resid_quantile()
    # the original results keep their data
    assert res.posterior.shape == (len(df), 2) and res.model.data is df


def test_array_model_file_objects(array_fit):
    buf = io.BytesIO()
    array_fit.save(buf)
    buf.seek(0)
    r2 = emglm.load(buf)
    np.testing.assert_array_equal(r2.theta, array_fit.theta)
    np.testing.assert_array_equal(r2.posterior.to_numpy(), array_fit.posterior.to_numpy())
    Xn = np.array([[1.0, 0.5], [1.0, -1.0]])
    np.testing.assert_allclose(r2.predict(Xn), array_fit.predict(Xn))
    buf = io.BytesIO()
    array_fit.save(buf, remove_data=True)
    buf.seek(0)
    r3 = emglm.load(buf)
    np.testing.assert_allclose(r3.predict(Xn), array_fit.predict(Xn))
    np.testing.assert_allclose(r3.predict(Xn, which="posterior", endog=np.array([-2.0, 2.0])),
                               array_fit.predict(Xn, which="posterior", endog=np.array([-2.0, 2.0])))


def test_loaded_results_refit(array_fit, tmp_path):
    """The loaded model is a working model: fitting it again reaches the same optimum."""
    r2, _ = _roundtrip(array_fit, tmp_path, False)
    again = r2.model.fit()
    assert again.llf == pytest.approx(array_fit.llf, rel=1e-10)


def test_bad_arguments(array_fit, tmp_path):
    with pytest.raises(TypeError, match="remove_data must be True or False"):
        array_fit.save(tmp_path / "x.emglm", remove_data="yes")
    with pytest.raises(TypeError, match="fname must be a path"):
        array_fit.save(42)
    p = tmp_path / "other.pickle"
    p.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match=r"pickle-based .*load it with emglm.load\(path, allow_pickle=True\)"):
        emglm.load(p)
    with pytest.raises(TypeError, match="does not hold emglm results"):
        emglm.load(p, allow_pickle=True)
    with pytest.raises(FileNotFoundError):
        emglm.load(tmp_path / "missing.emglm")
    with pytest.raises(TypeError, match="allow_pickle must be True or False"):
        emglm.load(p, allow_pickle="yes")
