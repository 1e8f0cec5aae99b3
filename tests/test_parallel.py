"""Row passes in blocks and threads: the same numbers as one whole-array pass, whatever n_jobs."""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import emglm.mixture.rows as engine_mod
from emglm import EMGLM
from emglm.parallel import available_cores, check_n_jobs, map_blocks

FAM = sm.families


def _problem(kind, n=6000, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    z = rng.uniform(size=n) < 0.4
    kw = {}
    if kind == "poisson_offset_weights":
        off = rng.normal(scale=0.2, size=n)
        y = rng.poisson(np.exp(np.where(z, 0.2 + 0.5 * x, 1.5 - 0.3 * x) + off)).astype(float)
        kw = dict(family=FAM.Poisson(), offset=off, weights=rng.integers(1, 3, size=n).astype(float))
    elif kind == "gaussian_point_mass":
        y = np.where(rng.uniform(size=n) < 0.2, 0.0, np.where(z, 1 + x, -1 - 2 * x) + rng.normal(size=n))
        kw = dict(family=FAM.Gaussian(), point_mass=0.0)
    elif kind == "binomial_concomitant":
        w = rng.normal(size=n)
        zc = rng.uniform(size=n) < 1 / (1 + np.exp(-(0.3 + 1.2 * w)))
        pr = 1 / (1 + np.exp(-np.where(zc, -1 + x, 1 - x)))
        s = rng.binomial(6, pr).astype(float)
        y = np.column_stack([s, 6 - s])
        kw = dict(family=FAM.Binomial(), concomitant=np.column_stack([np.ones(n), w]))
    elif kind == "gamma_groups":
        g = np.repeat(np.arange(n // 6), 6)
        zg = rng.uniform(size=n // 6)[g] < 0.5
        mu = np.exp(np.where(zg, 0.5 + 0.3 * x, 1.5 - 0.2 * x))
        y = rng.gamma(3.0, mu / 3.0)
        kw = dict(family=FAM.Gamma(FAM.links.Log()), groups=g)
    return EMGLM(y, X, k=2, **kw)


@pytest.fixture(autouse=True)
def _threads_for_small_passes(monkeypatch):
    # these problems are small: without this every pass would stay in one thread and the
    # comparisons across n_jobs would compare one-thread fits
    import emglm.parallel

    monkeypatch.setattr(emglm.parallel, "MIN_ROWS_PER_THREAD", 0)


KINDS = ["poisson_offset_weights", "gaussian_point_mass", "binomial_concomitant", "gamma_groups"]


@pytest.mark.parametrize("kind", KINDS)
def test_fit_identical_for_any_number_of_threads(kind, monkeypatch):
    # small blocks so that 6000 rows make many of them, shared out unevenly over threads
    monkeypatch.setattr(engine_mod, "SWEEP_ROWS", 701)
    fits = []
    for n_jobs in (1, 2, 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.append(_problem(kind).fit(n_jobs=n_jobs, maxiter=60))
    for res in fits[1:]:
        np.testing.assert_array_equal(res.theta, fits[0].theta)
        assert res.llf == fits[0].llf
        np.testing.assert_array_equal(res.bse, fits[0].bse)


@pytest.mark.parametrize("kind", KINDS)
def test_blocked_passes_equal_one_whole_array_pass(kind, monkeypatch):
    """E-step, M-step and weighted fit in blocks of 701 rows (two threads) against one block."""
    model = _problem(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(maxiter=5, n_jobs=1)
    theta = res.theta
    out = {}
    for rows, n_jobs in ((10 ** 9, 1), (701, 2)):
        monkeypatch.setattr(engine_mod, "SWEEP_ROWS", rows)
        model.n_jobs = n_jobs
        eng = model.make_mixture()
        assert len(eng.rows.blocks) == (1 if rows > 10 ** 6 else -(-eng.n // rows))
        es = eng.estep(theta)
        new = eng.mstep(theta, es=es)
        es_new = eng.estep(new)
        full = eng.fit_from_posterior(es.T)
        out[rows] = (es.llf, es.T.copy(), es.L.copy(), new, es_new.llf, es_new.T.copy(), full)
    a, b = out[10 ** 9], out[701]
    assert a[0] == pytest.approx(b[0], rel=1e-13)
    np.testing.assert_allclose(b[1], a[1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b[2], a[2], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b[3], a[3], rtol=1e-9, atol=1e-11)
    assert a[4] == pytest.approx(b[4], rel=1e-12)
    np.testing.assert_allclose(b[5], a[5], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b[6], a[6], rtol=1e-8, atol=1e-10)


def test_mstep_q_from_estep_equals_direct_sum():
    """The complete-data value the E-step hands the M-step is sum_i w_i sum_j T_ij log f_ij."""
    model = _problem("poisson_offset_weights")
    eng = model.make_mixture()
    theta = eng.fit_from_posterior(np.full((eng.n, 2), 0.5))
    es = eng.estep(theta)
    direct = float(np.sum(model.freq_weights[:, None] * es.T[:, :2] * es.L[:, :2]))
    assert es.q[0] == pytest.approx(direct, rel=1e-12)


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_n_jobs_validated_before_any_work(bad):
    model = _problem("poisson_offset_weights", n=50)
    with pytest.raises(ValueError, match="n_jobs"):
        model.fit(n_jobs=bad)


def test_check_n_jobs_caps_at_available_cores():
    assert check_n_jobs(None) == available_cores()
    assert check_n_jobs(-1) == available_cores()
    assert check_n_jobs(10 ** 6) == available_cores()


def test_map_blocks_keeps_block_order_and_quiet_errstate():
    blocks = [(s, s + 3) for s in range(0, 30, 3)]

    def fn(s, e):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a numpy RuntimeWarning would raise here
            np.log(np.zeros(1))
        return s

    assert map_blocks(fn, blocks, n_jobs=3) == [s for s, _ in blocks]


def test_select_k_passes_n_jobs_to_fit(monkeypatch):
    import pandas as pd

    from emglm import select_k

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=60)})
    df["y"] = rng.poisson(np.exp(0.5 + 0.3 * df["x"]))
    with pytest.raises(ValueError, match="n_jobs"):
        select_k("y ~ x", df, ks=[1], family=FAM.Poisson(), n_jobs=0)
    monkeypatch.setattr(engine_mod, "SWEEP_ROWS", 7)  # several blocks in 60 rows
    one = select_k("y ~ x", df, ks=[1, 2], family=FAM.Poisson(), n_jobs=1, random_state=0, n_starts=2)
    two = select_k("y ~ x", df, ks=[1, 2], family=FAM.Poisson(), n_jobs=2, random_state=0, n_starts=2)
    np.testing.assert_array_equal(one.table[["llf", "bic"]].to_numpy(), two.table[["llf", "bic"]].to_numpy())


def _fit_llf_in_child(_):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _problem("poisson_offset_weights").fit(n_jobs=2, maxiter=20).llf


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_threads_work_in_a_forked_child(monkeypatch):
    """A fit in the parent creates the thread pool; a forked child must not hand work to it."""
    import multiprocessing

    monkeypatch.setattr(engine_mod, "SWEEP_ROWS", 701)
    parent = _fit_llf_in_child(None)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(_fit_llf_in_child, (None,)).get(timeout=120)
    assert child == parent


def test_large_weighted_and_dispersion_fits_identical_for_any_n_jobs():
    """Above 1e4 rows a threaded BLAS splits long dot products (w @ ll, dispersion sums)."""
    rng = np.random.default_rng(5)
    n = 30_000
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    z = rng.uniform(size=n) < 0.5
    y = rng.gamma(3.0, np.exp(np.where(z, 0.5 + 0.3 * x, 1.5 - 0.2 * x)) / 3.0)
    w = rng.integers(1, 4, size=n).astype(float)
    fits = []
    for n_jobs in (1, 2):
        model = EMGLM(y, X, k=2, family=FAM.Gamma(FAM.links.Log()), weights=w)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.append(model.fit(n_jobs=n_jobs, maxiter=30))
    np.testing.assert_array_equal(fits[1].theta, fits[0].theta)
    assert fits[1].llf == fits[0].llf


def test_blas_limit_restored_when_fits_overlap_out_of_order():
    from threadpoolctl import threadpool_info

    from emglm.parallel import blas_limit

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    a = blas_limit()
    b = blas_limit()
    a.__enter__()
    b.__enter__()
    assert all(t == 1 for t in blas_threads())
    a.__exit__(None, None, None)  # the first fit ends while the second still runs
    assert all(t == 1 for t in blas_threads())
    b.__exit__(None, None, None)
    assert blas_threads() == before


def test_gamma_loglike_equals_statsmodels_outside_the_mean_space():
    from emglm.families import FamilyAdapter

    y = np.array([1.0, 2.0, 0.5, 3.0, 1.5])
    mu = np.array([0.5, -0.5, 1e-300, np.inf, 3.0])
    fam = FAM.Gamma()
    fa = FamilyAdapter(fam, y, np.ones(5))
    scale = np.array([0.5, 1.0, 2.0, 0.7, 1.3])
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(fa.loglike(np.zeros(5), mu, scale), fam.loglike_obs(y, mu, 1.0, scale),
                                   rtol=1e-12)


def test_results_saved_by_release_0_1_0_still_load():
    """Files of the first release (numerical core pickled as ``emglm.engine``) load; their
    mixture is rebuilt from the saved model and gives the llf and SEs of a fresh fit."""
    import pathlib

    import pandas as pd

    import emglm

    here = pathlib.Path(__file__).parent / "data"
    df = pd.read_csv(here / "results_v0_1_0.csv")
    # the first release's procedure: one residual-split start, relative-llf stopping rule
    fresh = emglm.EMGLM.from_formula("y ~ x + C(g)", df, k=2, family=FAM.Poisson()).fit(
        start="fit", stop="llf", random_state=0)
    old = emglm.load(here / "results_v0_1_0.pkl", allow_pickle=True)  # a pickle: trusted file
    assert old.llf == pytest.approx(fresh.llf, rel=1e-10)
    assert old.mixture.estep(old.theta).llf == pytest.approx(fresh.llf, rel=1e-10)
    np.testing.assert_allclose(old.params.to_numpy(), fresh.params.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(old.bse.to_numpy(), fresh.bse.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(old.predict(df.iloc[:5]), fresh.predict(df.iloc[:5]), rtol=1e-6)
    nodata = emglm.load(here / "results_v0_1_0_nodata.pkl", allow_pickle=True)
    np.testing.assert_allclose(nodata.bse.to_numpy(), fresh.bse.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(nodata.predict(df.iloc[:5]), fresh.predict(df.iloc[:5]), rtol=1e-6)

