"""Bootstrap covariance, percentile intervals, component matching, simulation from a fitted
family and the parametric bootstrap likelihood-ratio test for the number of components."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

import emglm
from emglm import EMGLM
from emglm.bootstrap import _bundle, _resample, bootstrap_lrt, match_components, simulate

FAM = sm.families


def _separated(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, n)  # bounded covariate: no high-leverage rows
    z = rng.random(n) < 0.4
    y = rng.poisson(np.exp(np.where(z, 2.2 + 0.4 * x, 0.1 - 0.5 * x)))
    return EMGLM(y, np.column_stack([np.ones(n), x]), k=2, family=FAM.Poisson())


def test_bootstrap_se_agree_with_observed_information():
    m = _separated()
    oim = m.fit(tol=1e-10)
    boot = m.fit(tol=1e-10, cov_type="bootstrap", cov_kwds={"n_boot": 200, "random_state": 3})
    ratio = boot._bse_flat / oim._bse_flat
    assert np.all((ratio > 0.7) & (ratio < 1.3)), ratio
    out = boot._cov
    assert out["n_boot"] == 200 and out["n_ok"] + out["n_failed"] == 200
    assert out["replicates"].shape == (out["n_ok"], oim.theta.size)
    # replicates are centred on the estimate (no label switching left in them)
    mean = out["replicates"].mean(axis=0)
    assert np.all(np.abs(mean - boot.theta) < 0.5 * boot._bse_flat)
    text = boot.summary().as_text()
    assert "bootstrap" in text and "relabelled" in text and "failed" in text
    # percentile intervals: quantiles of the replicates; dispersion-free Poisson, logit exact
    ci = boot.conf_int(method="percentile", alpha=0.1)
    np.testing.assert_allclose(ci["lower"].to_numpy(), np.quantile(out["replicates"], 0.05, axis=0))
    assert list(ci.index) == list(boot.cov_params().index)
    # the tests of restrictions use the bootstrap covariance
    tt = boot.t_test("comp1:x1 = comp2:x1")
    V = boot.cov_params().to_numpy()
    np.testing.assert_allclose(tt.sd, np.sqrt(V[1, 1] + V[3, 3] - 2 * V[1, 3]), rtol=1e-10)


def test_bootstrap_progress_bar(capsys):
    pytest.importorskip("tqdm")
    res = _separated(100, seed=3).fit(cov_type="bootstrap",
                                      cov_kwds={"n_boot": 3, "random_state": 0, "progress": True})
    assert np.all(np.isfinite(res.bse.to_numpy()))
    assert "bootstrap" in capsys.readouterr().err  # tqdm writes its bar, labelled, to stderr


def test_bootstrap_independent_of_n_jobs():
    m = _separated(120, seed=1)
    kw = {"n_boot": 12, "random_state": 5}
    a = m.fit(cov_type="bootstrap", cov_kwds=dict(kw, n_jobs=1))
    b = m.fit(cov_type="bootstrap", cov_kwds=dict(kw, n_jobs=2))
    np.testing.assert_array_equal(a._cov["replicates"], b._cov["replicates"])


def test_bootstrap_grouped_concomitant_point_mass():
    # groups resampled whole, concomitant variables and a point mass carried along
    rng = np.random.default_rng(9)
    G = 80
    g = np.repeat(np.arange(G), 3)
    n = g.size
    zc = rng.normal(size=G)
    cls = (rng.random(G) < 1 / (1 + np.exp(-(0.3 + zc))))[g]
    zero = (rng.random(G) < 0.2)[g]  # whole groups in the point mass
    x = rng.normal(size=n)
    y = np.where(zero, 0, rng.poisson(np.exp(np.where(cls, 2.0 + 0.3 * x, 0.3 - 0.3 * x))))
    m = EMGLM(y, np.column_stack([np.ones(n), x]), k=2, family=FAM.Poisson(), groups=g, point_mass=0,
              concomitant=np.column_stack([np.ones(n), zc[g]]))
    oim = m.fit(tol=1e-10)
    res = m.fit(tol=1e-10, cov_type="bootstrap", cov_kwds={"n_boot": 40, "random_state": 0})
    out = res.cov_details
    assert out["n_ok"] >= 36 and np.all(np.isfinite(res.cov_theta))
    ratio = res._bse_flat / oim._bse_flat
    assert np.all((ratio > 0.4) & (ratio < 2.5)), ratio  # 40 replicates: a loose check
    assert "resampling groups" in res.summary().as_text()


def test_percentile_interval_of_dispersion_and_errors():
    rng = np.random.default_rng(2)
    y = np.r_[rng.normal(0, 1, 80), rng.normal(6, 1, 80)]
    m = EMGLM(y, np.ones((160, 1)), k=2)
    res = m.fit(cov_type="bootstrap", cov_kwds={"n_boot": 30, "random_state": 0})
    ci = res.conf_int(method="percentile")
    reps = res.cov_details["replicates"]
    # dispersions: exp of the quantiles of the log dispersion = quantiles of the dispersion
    np.testing.assert_allclose(ci.loc[("comp1", "scale"), "upper"], np.exp(np.quantile(reps[:, 2], 0.975)),
                               rtol=1e-12)
    assert np.sum(np.exp(reps[:, 2]) <= ci.loc[("comp1", "scale"), "upper"]) == 29
    with pytest.raises(ValueError, match="method='percentile' needs fit"):
        m.fit().conf_int(method="percentile")
    with pytest.raises(ValueError, match="method must be"):
        res.conf_int(method="bca")
    with pytest.raises(ValueError, match=r"cov_kwds\['n_boot'\] must be an integer >= 2"):
        m.fit(cov_type="bootstrap", cov_kwds={"n_boot": 1})
    with pytest.raises(ValueError, match="unknown option"):
        m.fit(cov_type="bootstrap", cov_kwds={"B": 10})
    with pytest.raises(TypeError, match="random_state"):
        m.fit(cov_type="bootstrap", cov_kwds={"random_state": "a"})
    with pytest.raises(ValueError, match="n_jobs"):
        m.fit(cov_type="bootstrap", cov_kwds={"n_jobs": 0})


def test_match_components_undoes_a_permutation():
    rng = np.random.default_rng(0)
    beta = rng.normal(size=(4, 3))
    ls = rng.normal(size=4)
    G = np.cov(rng.normal(size=(50, 3)), rowvar=False)
    perm = np.array([2, 0, 3, 1])
    noisy = beta[perm] + rng.normal(0, 0.01, (4, 3))
    back = match_components(noisy, ls[perm], beta, ls, G)
    np.testing.assert_allclose(noisy[back], beta, atol=0.05)
    np.testing.assert_array_equal(perm[back], np.arange(4))


def test_bootstrap_relabels_swapped_replicates(monkeypatch):
    # replicate fits that come back with their components swapped are put back in the labels
    # of the estimate: the bootstrap equals the one without swaps and counts them
    import emglm.bootstrap as eb

    m = _separated(150, seed=2)
    kw = {"n_boot": 10, "random_state": 4}
    plain = m.fit(cov_type="bootstrap", cov_kwds=kw)
    _ = plain.cov_theta  # computed on first use: now, before the patch
    refit = eb._refit
    calls = []

    def swapped(model, theta0, tol, maxiter):
        eng, theta, llf, conv = refit(model, theta0, tol, maxiter)
        calls.append(1)
        if len(calls) % 2:  # every other replicate
            theta = eng.permute(theta, np.array([1, 0]))
        return eng, theta, llf, conv

    monkeypatch.setattr(eb, "_refit", swapped)
    res = m.fit(cov_type="bootstrap", cov_kwds=kw)
    np.testing.assert_allclose(res.cov_details["replicates"], plain._cov["replicates"], rtol=1e-12, atol=1e-14)
    assert res.cov_details["n_relabelled"] == 5 and plain._cov["n_relabelled"] == 0


def test_resample_groups_whole_and_weight_copies():
    rng = np.random.default_rng(0)
    n = 60
    g = np.repeat(np.arange(15), 4)
    m = EMGLM(rng.poisson(3, n), np.ones((n, 1)), k=2, family=FAM.Poisson(), groups=g)
    b = _bundle(m)
    rows, w, codes = _resample(b, np.random.default_rng(1))
    assert rows.size == n and codes.max() == 14
    for c in range(15):  # each new group is one whole original group
        orig = np.unique(g[rows[codes == c]])
        assert orig.size == 1 and np.sum(codes == c) == 4
    fw = rng.integers(1, 4, n).astype(float)
    b = _bundle(EMGLM(rng.poisson(3, n), np.ones((n, 1)), k=1, family=FAM.Poisson(), weights=fw))
    rows, w, codes = _resample(b, np.random.default_rng(1))
    assert codes is None and w.sum() == fw.sum() and np.all(w == np.round(w))


@pytest.mark.parametrize("family,mu,scale,var", [
    (FAM.Gaussian(), 2.0, 1.5, lambda m, s: s),
    (FAM.Poisson(), 3.0, 1.0, lambda m, s: m),
    (FAM.Gamma(FAM.links.Log()), 2.0, 0.5, lambda m, s: s * m ** 2),
    (FAM.InverseGaussian(), 1.5, 0.4, lambda m, s: s * m ** 3),
    (FAM.NegativeBinomial(alpha=0.5), 4.0, 1.0, lambda m, s: m + 0.5 * m ** 2),
    (FAM.Tweedie(var_power=1.5), 2.0, 0.8, lambda m, s: s * m ** 1.5),
])
def test_simulate_moments(family, mu, scale, var):
    y = simulate(family, np.full(200000, mu), scale, None, np.random.default_rng(0))
    assert abs(y.mean() - mu) < 4 * np.sqrt(var(mu, scale) / y.size)
    np.testing.assert_allclose(y.var(), var(mu, scale), rtol=0.05)


def test_simulate_binomial_trials():
    t = np.full(100000, 5.0)
    y = simulate(FAM.Binomial(), np.full(t.size, 0.3), 1.0, t, np.random.default_rng(0))
    np.testing.assert_allclose(y.mean(), 0.3, atol=0.005)
    assert np.allclose(y * 5, np.round(y * 5))


def test_bootstrap_lrt_deterministic_and_checked():
    rng = np.random.default_rng(0)
    y = rng.poisson(3.0, 100)
    X = np.ones((100, 1))
    m1 = EMGLM(y, X, k=1, family=FAM.Poisson()).fit()
    m2 = EMGLM(y, X, k=2, family=FAM.Poisson()).fit(n_starts=2, random_state=0)
    lr = 2 * (m2.llf - m1.llf)
    a = bootstrap_lrt(m1, 2, lr, n_boot=6, random_state=1, n_starts=2, n_jobs=1)
    b = bootstrap_lrt(m1, 2, lr, n_boot=6, random_state=1, n_starts=2, n_jobs=2)
    np.testing.assert_array_equal(a["lr_boot"], b["lr_boot"])
    assert a["p_boot"] == (1 + np.sum(a["lr_boot"] >= lr)) / 7
    df = pd.DataFrame({"y": y})
    with pytest.raises(ValueError, match="bootstrap must be a positive integer"):
        emglm.select_k("y ~ 1", df, ks=[1, 2], bootstrap=0)
    with pytest.raises(ValueError, match="ks must increase"):
        emglm.select_k("y ~ 1", df, ks=[2, 1], bootstrap=5)
    with pytest.raises(ValueError, match="unweighted"):
        emglm.select_k("y ~ 1", df, ks=[1, 2], bootstrap=5, weights=np.full(100, 2.0))


@pytest.mark.slow
def test_bootstrap_lrt_two_class_data():
    """Two-class Poisson regression: 2 against 1 is rejected, 3 against 2 is not."""
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame({"x": rng.uniform(-1, 1, n)})
    z = rng.random(n) < 0.5
    df["y"] = rng.poisson(np.exp(np.where(z, 2 + df.x, 0.5 - df.x)))
    sel = emglm.select_k("y ~ x", df, ks=[1, 2, 3], family=FAM.Poisson(), n_starts=3, random_state=0,
                         bootstrap=29, n_jobs=2)
    t = sel.table.set_index("k")
    assert list(sel.table.columns[-2:]) == ["lr", "p_boot"]
    assert np.isnan(t.loc[1, "p_boot"])
    assert t.loc[2, "p_boot"] <= 0.04
    assert t.loc[3, "p_boot"] >= 0.05
    np.testing.assert_allclose(t.loc[2, "lr"], 2 * (t.loc[2, "llf"] - t.loc[1, "llf"]))


@pytest.mark.slow
def test_percentile_interval_coverage_monte_carlo():
    """60 data sets x 99 replicates: 90% percentile intervals of the coefficients and the
    mixing logit cover the truth between 80% and 97% of the time (pooled), each parameter's
    at least 75% of the time."""
    rng = np.random.default_rng(77)
    n = 250
    truth = np.array([0.1, -0.5, 2.2, 0.4, np.log(0.4 / 0.6)])
    hits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(60):
            # a bounded covariate: with normal x a few high-leverage rows carry the slope of
            # the high-count class, and the pairs bootstrap (like the sandwich) then under-covers
            x = rng.uniform(-1.5, 1.5, n)
            z = rng.random(n) < 0.4
            y = rng.poisson(np.exp(np.where(z, truth[2] + truth[3] * x, truth[0] + truth[1] * x)))
            res = EMGLM(y, np.column_stack([np.ones(n), x]), k=2, family=FAM.Poisson()).fit(
                tol=1e-10, cov_type="bootstrap", cov_kwds={"n_boot": 99, "random_state": r, "n_jobs": 2})
            ci = res.conf_int(alpha=0.1, method="percentile").to_numpy()
            hits.append((ci[:, 0] <= truth) & (truth <= ci[:, 1]))
    cover = np.mean(hits)
    assert 0.80 <= cover <= 0.97, (cover, np.mean(hits, axis=0))
    assert np.all(np.mean(hits, axis=0) >= 0.75), np.mean(hits, axis=0)
