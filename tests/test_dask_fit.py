"""Fits on a dask cluster equal the in-memory fits of the same data.

A LocalCluster of two worker processes (one thread each) is shared by the module's tests.
Every model is fitted twice, on the dask DataFrame and on its pandas frame, and the answers
compared: llf to 1e-7 relative, params to 1e-5, standard errors to 1e-4 relative, predictions
and per-row quantities to 1e-6. Both fits run to a tight tolerance so that the comparison
measures the implementations, not the stopping rule.
"""

import logging
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

dd = pytest.importorskip("dask.dataframe", reason="fits on a cluster need dask (pip install 'emglm[dask]')")
distributed = pytest.importorskip("distributed", reason="fits on a cluster need dask.distributed")

from emglm import EMGLM, load  # noqa: E402
from emglm.dask_model import DaskEMGLM  # noqa: E402

TOL = 1e-10


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def frame(n=1200, seed=0, groups=None):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n),
                       "g": rng.choice(["a", "b", "c"], n), "e": rng.uniform(0.5, 2.0, n),
                       "m": rng.integers(1, 8, n).astype(float)})
    if groups is not None:
        df["id"] = np.repeat(np.arange(n // groups), groups)
        lab = rng.random(n // groups) < 0.4
        df["zg"] = np.repeat(rng.normal(size=n // groups), groups)
        cls = np.repeat(lab, groups)
    else:
        cls = rng.random(n) < 1.0 / (1.0 + np.exp(-(-0.4 + 1.2 * df.z)))
    df["cls"] = cls
    return df, rng


def compare(client, formula, df, npartitions=3, fit_kw=None, **kw):
    ddf = dd.from_pandas(df, npartitions=npartitions)
    fit_kw = dict(tol=TOL, **(fit_kw or {}))
    res = EMGLM.from_formula(formula, ddf, **kw).fit(**fit_kw)
    loc = EMGLM.from_formula(formula, df, **kw).fit(**fit_kw)
    assert type(res).__name__ == "DaskEMGLMResults" and isinstance(res.model, EMGLM)
    assert abs(res.llf - loc.llf) <= 1e-7 * abs(loc.llf)
    np.testing.assert_allclose(res.params.to_numpy(), loc.params.to_numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(res.bse.to_numpy(), loc.bse.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(res.proportions, loc.proportions, atol=1e-6)
    np.testing.assert_allclose(res.bse_proportions, loc.bse_proportions, rtol=1e-4)
    assert res.nobs == loc.nobs and res.df_model == loc.df_model
    assert abs(res.bic - loc.bic) <= 1e-6 * abs(loc.bic)
    post = res.posterior.compute()
    np.testing.assert_allclose(post.to_numpy(), loc.posterior.loc[post.index].to_numpy(), atol=1e-6)
    fitted = res.fittedvalues.compute()
    np.testing.assert_allclose(fitted.to_numpy(), loc.fittedvalues.loc[fitted.index].to_numpy(), rtol=1e-6)
    for name in ("entropy", "deviance", "pearson_chi2", "llf_pooled"):
        assert abs(getattr(res, name) - getattr(loc, name)) <= 1e-6 * (abs(getattr(loc, name)) + 1), name
    return res, loc, ddf


def test_poisson_exposure_and_categorical(client):
    df, rng = frame()
    c = df.cls
    eta = np.where(c, 0.2 + 0.5 * df.x + 0.3 * (df.g == "b"), 1.6 - 0.3 * df.x - 0.2 * (df.g == "c"))
    df["y"] = rng.poisson(df.e * np.exp(eta))
    res, loc, ddf = compare(client, "y ~ x + C(g)", df, k=2, family=sm.families.Poisson(), exposure="e")
    assert list(res.params.index) == list(loc.params.index)
    pred = res.predict(ddf, exposure="e").compute()
    np.testing.assert_allclose(pred.to_numpy(), loc.predict(df, exposure=df.e).loc[pred.index].to_numpy(),
                               rtol=1e-6)
    train = res.predict().compute()
    np.testing.assert_allclose(train.to_numpy(), loc.predict().loc[train.index].to_numpy(), rtol=1e-6)
    # predictions on new pandas rows need no cluster
    np.testing.assert_allclose(res.predict(df.head(20), exposure=df.e.head(20)),
                               loc.predict(df.head(20), exposure=df.e.head(20)), rtol=1e-6)
    assert "Poisson" in str(res.summary())
    np.testing.assert_allclose(res.conf_int().to_numpy(), loc.conf_int().to_numpy(), atol=1e-4)
    assert abs(res.t_test("comp1:x = comp2:x").pvalue - loc.t_test("comp1:x = comp2:x").pvalue) < 1e-6
    with pytest.raises(NotImplementedError, match="dask"):
        res.get_margeff()
    # a level the fit never saw: the error names the column
    new = dd.from_pandas(df.head(40).assign(g="d"), npartitions=2)
    with pytest.raises(ValueError, match="column 'g'"):
        res.predict(new, exposure="e").compute()


def test_gaussian(client):
    df, rng = frame(seed=1)
    df["y"] = np.where(df.cls, 1 + 2 * df.x, -2 - df.x) + rng.normal(0, np.where(df.cls, 0.5, 1.0))
    res, loc, _ = compare(client, "y ~ x", df, k=2)
    np.testing.assert_allclose(res.scale, loc.scale, rtol=1e-6)
    resid = res.resid_pearson.compute()
    np.testing.assert_allclose(resid.to_numpy(), loc.resid_pearson.loc[resid.index].to_numpy(), atol=1e-6)
    # frequency weights given as a dask Series partitioned like the frame
    ddf = dd.from_pandas(df, npartitions=3)
    wres = EMGLM.from_formula("y ~ x", ddf, k=2, weights=ddf["m"]).fit(tol=TOL)
    wloc = EMGLM.from_formula("y ~ x", df, k=2, weights=df["m"]).fit(tol=TOL)
    assert wres.nobs == wloc.nobs == df.m.sum()
    assert abs(wres.llf - wloc.llf) <= 1e-7 * abs(wloc.llf)
    np.testing.assert_allclose(wres.params.to_numpy(), wloc.params.to_numpy(), atol=1e-5)
    np.testing.assert_allclose(wres.bse.to_numpy(), wloc.bse.to_numpy(), rtol=1e-4)


def test_binomial_with_trials(client):
    df, rng = frame(seed=2)
    p = 1 / (1 + np.exp(-np.where(df.cls, -1 + df.x, 1.5 - 0.5 * df.x)))
    df["s"] = rng.binomial(df.m.astype(int), p).astype(float)
    df["f"] = df.m - df.s
    compare(client, "s + f ~ x", df, k=2, family=sm.families.Binomial())


def test_concomitant(client):
    df, rng = frame(seed=3)
    df["y"] = rng.poisson(np.exp(np.where(df.cls, 0.3 + 0.4 * df.x, 1.8 - 0.2 * df.x)))
    res, loc, _ = compare(client, "y ~ x", df, k=2, family=sm.families.Poisson(), concomitant="~ z")
    np.testing.assert_allclose(res.mixing_params.to_numpy(), loc.mixing_params.to_numpy(), atol=1e-5)
    np.testing.assert_allclose(res.bse_mixing.to_numpy(), loc.bse_mixing.to_numpy(), rtol=1e-4)


def test_groups_with_shared_term(client):
    df, rng = frame(n=1200, seed=4, groups=6)
    df["y"] = rng.poisson(np.exp(np.where(df.cls, 0.2 + 0.6 * df.x, 1.5 - 0.2 * df.x) + 0.3 * df.z))
    # every group in one partition: the frame is sorted by group and split at group borders
    ddf_parts = 4
    res, loc, _ = compare(client, "y ~ x", df, npartitions=ddf_parts, k=2, family=sm.families.Poisson(),
                          groups="id", fixed="~ z")
    assert res.n_groups == loc.n_groups == 200
    assert "z" in res.params.index


def test_point_mass_equal_mixing_and_robust(client):
    df, rng = frame(seed=5)
    y = rng.poisson(np.exp(1.0 + 0.5 * df.x))
    df["y"] = np.where(df.cls, 0, y)
    compare(client, "y ~ x", df, k=1, family=sm.families.Poisson(), point_mass=0.0,
            fit_kw={"cov_type": "robust"})
    df2, rng = frame(seed=6)
    df2["y"] = np.where(df2.cls, 1 + df2.x, -1 - df2.x) + rng.normal(0, 0.5, len(df2))
    compare(client, "y ~ x", df2, k=2, mixing="equal", scale="shared")


def test_save_load_and_pickle(client, tmp_path):
    df, rng = frame(seed=7)
    df["y"] = rng.poisson(np.exp(np.where(df.cls, 0.2, 1.8) + 0.3 * df.x))
    res = EMGLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=2), k=2,
                             family=sm.families.Poisson()).fit()
    path = tmp_path / "fit.emglm"
    res.save(path)
    back = load(path)
    np.testing.assert_allclose(back.params, res.params)
    np.testing.assert_allclose(back.bse, res.bse)
    np.testing.assert_allclose(back.predict(df.head(5)), res.predict(df.head(5)))
    copy = pickle.loads(pickle.dumps(res))
    np.testing.assert_allclose(copy.params, res.params)
    with pytest.raises(ValueError, match="cluster"):
        copy.posterior
    model = pickle.loads(pickle.dumps(res.dask_model))
    with pytest.raises(ValueError, match="rows"):
        model.fit()


def test_errors_before_any_work(client):
    df, rng = frame(seed=8)
    df["y"] = rng.poisson(2.0, len(df)).astype(float)
    ddf = dd.from_pandas(df, npartitions=2)
    with pytest.raises(TypeError, match="family"):
        EMGLM.from_formula("y ~ x", ddf, k=2, family="poisson")
    with pytest.raises(ValueError, match="Tweedie"):
        EMGLM.from_formula("y ~ x", ddf, k=2, family=sm.families.Tweedie())
    model = EMGLM.from_formula("y ~ x", ddf, k=2, family=sm.families.Poisson())
    with pytest.raises(ValueError, match="start"):
        model.fit(start=np.zeros(len(df), dtype=int))
    with pytest.raises(ValueError, match="cov_type"):
        model.fit(cov_type="cluster")
    bad = df.assign(y=-df.y - 1)
    with pytest.raises(ValueError, match="y"):
        EMGLM.from_formula("y ~ x", dd.from_pandas(bad, npartitions=2), k=2, family=sm.families.Poisson())
    # a group spread over two partitions
    df["id"] = np.arange(len(df)) % 10
    with pytest.raises(ValueError, match="groups"):
        EMGLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=2), k=2, family=sm.families.Poisson(),
                           groups="id")
    # a Series partitioned differently from the data
    with pytest.raises(ValueError, match="exposure"):
        EMGLM.from_formula("y ~ x", ddf, k=2, family=sm.families.Poisson(),
                           exposure=dd.from_pandas(df.e, npartitions=3))


def test_dask_model_is_what_from_formula_returns(client):
    df, rng = frame(seed=9)
    df["y"] = rng.normal(size=len(df))
    m = EMGLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=2), k=1)
    assert isinstance(m, DaskEMGLM)
    res = m.fit()
    loc = sm.OLS(df.y, sm.add_constant(df.x)).fit()
    np.testing.assert_allclose(res.params.to_numpy()[:, 0], loc.params.to_numpy(), rtol=1e-8)


def test_far_from_zero_covariate_and_collinear_columns(client):
    from emglm.warnings import CollinearityWarning

    df, rng = frame(seed=10)
    df["t"] = df.x + 1.7e9  # a timestamp-like covariate: its slope must survive
    df["y"] = rng.poisson(np.exp(np.where(df.cls, 0.2 + 0.6 * df.x, 1.6 - 0.3 * df.x)))
    kw = dict(k=2, family=sm.families.Poisson())
    res = EMGLM.from_formula("y ~ t", dd.from_pandas(df, npartitions=3), **kw).fit(tol=TOL)
    loc = EMGLM.from_formula("y ~ t", df, **kw).fit(tol=TOL)
    assert abs(res.llf - loc.llf) <= 1e-7 * abs(loc.llf)
    # the slopes to 1e-5; the intercepts (extrapolated to t = 0, about 1e9) to 1e-6 relative
    np.testing.assert_allclose(res.params.loc["t"], loc.params.loc["t"], atol=1e-5)
    np.testing.assert_allclose(res.params.loc["Intercept"], loc.params.loc["Intercept"], rtol=1e-6)
    np.testing.assert_allclose(res.bse.loc["t"], loc.bse.loc["t"], rtol=1e-4)
    assert res.params.loc["t"].abs().min() > 0.2
    df["z"] = 2 * df.x + 1
    with pytest.warns(CollinearityWarning, match="z is a linear combination of Intercept, x"):
        EMGLM.from_formula("y ~ x + z", dd.from_pandas(df, npartitions=3), k=2, family=sm.families.Poisson())
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollinearityWarning)  # none for independent columns
        EMGLM.from_formula("y ~ x + t", dd.from_pandas(df.assign(t=df.z * 0 + rng.normal(size=len(df)) + 1e6),
                                                   npartitions=3), k=2, family=sm.families.Poisson())


def test_rows_not_persisted_give_the_same_fit(client, tmp_path):
    df, rng = frame(n=600, seed=11)
    df["y"] = rng.poisson(np.exp(np.where(df.cls, 0.2 + 0.5 * df.x, 1.6 - 0.3 * df.x)))
    folder = tmp_path / "parquet"
    dd.from_pandas(df, npartitions=3).to_parquet(folder)
    kw = dict(k=2, family=sm.families.Poisson())
    kept = EMGLM.from_formula("y ~ x", dd.read_parquet(folder), **kw).fit(tol=TOL)
    model = EMGLM.from_formula("y ~ x", dd.read_parquet(folder), persist=False, **kw)
    assert not model.rows.persist
    reread = model.fit(tol=TOL)
    assert abs(reread.llf - kept.llf) <= 1e-9 * abs(kept.llf)
    np.testing.assert_allclose(reread.params.to_numpy(), kept.params.to_numpy(), atol=1e-7)
    np.testing.assert_allclose(reread.bse.to_numpy(), kept.bse.to_numpy(), rtol=1e-6)
    post = reread.posterior.compute()
    np.testing.assert_allclose(post.to_numpy(), kept.posterior.compute().loc[post.index].to_numpy(), atol=1e-8)
