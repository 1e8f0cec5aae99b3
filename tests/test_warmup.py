"""Warm-up starts: short EM runs on a subsample choose the full fit's start (issue 7)."""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

from emglm import EMGLM
from emglm.warmup import DEFAULTS, warmup_options


def crossing_lines(seed, n=3000):
    """Two Gaussian regressions through the origin with slopes +3 and -3.

    The default start (classes from quantiles of one-line residuals) splits rows by the
    sign of x * slope and lands in a poor local optimum (llf about 2000 below the MLE);
    random starts find the crossing lines.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    z = rng.random(n) < 0.5
    y = np.where(z, 3 * x, -3 * x) + rng.normal(0, 0.5, n)
    return y, np.column_stack([np.ones(n), x])


@pytest.fixture(scope="module")
def crossing():
    y, X = crossing_lines(0)
    model = EMGLM(y, X, k=2)
    # the single residual-quantile start (the default before screening) is the poor one
    return model, model.fit(start="fit"), model.fit(warmup=True, random_state=1)


def test_warmup_escapes_the_default_starts_local_optimum(crossing):
    model, plain, warm = crossing
    assert warm.llf > plain.llf + 1000
    # truth: intercepts 0, slopes -3 and +3 (components ordered by mean linear predictor,
    # which is about 0 for both: compare as a set of slopes), sd 0.5
    slopes = np.sort(warm.params.iloc[1].to_numpy())
    np.testing.assert_allclose(slopes, [-3, 3], atol=0.1)
    np.testing.assert_allclose(warm.params.iloc[0].to_numpy(), [0, 0], atol=0.1)
    np.testing.assert_allclose(np.sqrt(warm.scale.to_numpy()), [0.5, 0.5], atol=0.05)
    assert warm.converged


def test_warmup_reaches_the_best_of_many_random_full_starts(crossing):
    model, _, warm = crossing
    best = model.fit(start="random", n_starts=8, random_state=3)
    assert warm.llf == pytest.approx(best.llf, abs=1e-4)


def test_warmup_record(crossing):
    model, plain, warm = crossing
    info = warm.warmup
    assert plain.warmup is None
    assert info.n_starts == DEFAULTS["n_starts"] == 20
    assert info.subsample_size == 300  # 10% of 3000 rows
    assert info.maxiter == 20
    assert info.llf.shape == (20,) and info.n_iter.shape == (20,)
    assert np.all(info.n_iter <= 20) and np.all(info.n_iter >= 1)
    assert info.chosen == [int(np.argmax(info.llf))]
    assert warm.n_starts == 1
    # the subsample llf is about a tenth of the full one at the same optimum
    assert info.llf.max() == pytest.approx(warm.llf / 10, rel=0.15)


def test_reproducible_and_keep(crossing):
    model, _, warm = crossing
    again = model.fit(warmup=True, random_state=1)
    np.testing.assert_array_equal(again.warmup.llf, warm.warmup.llf)
    assert again.llf == warm.llf
    kept = model.fit(warmup=dict(n_starts=6, keep=3, subsample=500, maxiter=5), random_state=2)
    assert kept.n_starts == 3
    assert kept.warmup.subsample_size == 500
    order = np.argsort(-kept.warmup.llf, kind="stable")[:3]
    assert kept.warmup.chosen == [int(i) for i in order]


def test_small_data_uses_min_size():
    y, X = crossing_lines(4, n=300)
    res = EMGLM(y, X, k=2).fit(warmup=dict(n_starts=4, subsample=0.1), random_state=0)
    assert res.warmup.subsample_size == 200


def test_grouped_data_subsamples_whole_groups():
    rng = np.random.default_rng(5)
    G, m = 400, 5
    g = np.repeat(np.arange(G), m)
    cls = rng.random(G) < 0.5
    x = rng.uniform(-1, 1, G * m)
    y = rng.poisson(np.exp(np.where(cls[g], 1.5 + x, 0.2 - x)))
    X = np.column_stack([np.ones(G * m), x])
    model = EMGLM(y, X, k=2, family=sm.families.Poisson(), groups=g)
    res = model.fit(warmup=dict(n_starts=6, subsample=0.25, min_size=10), random_state=0)
    assert res.warmup.subsample_size == 100  # groups, not rows
    np.testing.assert_allclose(res.params.to_numpy(), [[0.2, 1.5], [-1, 1]], atol=0.15)
    assert res.llf == pytest.approx(model.fit().llf, abs=1e-3)


def test_point_mass_and_concomitant():
    rng = np.random.default_rng(6)
    n = 2000
    x = rng.uniform(-1, 1, n)
    zi = rng.random(n) < 1 / (1 + np.exp(-(-0.5 + 1.5 * x)))
    y = np.where(zi, 0, rng.poisson(np.exp(1.0 + 0.5 * x)))
    X = np.column_stack([np.ones(n), x])
    model = EMGLM(y, X, k=1, family=sm.families.Poisson(), point_mass=0.0, concomitant=X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = model.fit()
        warm = model.fit(warmup=dict(n_starts=5), random_state=0)
    assert warm.llf == pytest.approx(plain.llf, abs=1e-3)
    np.testing.assert_allclose(warm.params["comp1"].to_numpy(), [1.0, 0.5], atol=0.1)


def test_progress_bars(capsys):
    pytest.importorskip("tqdm")
    y, X = crossing_lines(7, n=600)
    EMGLM(y, X, k=2).fit(warmup=dict(n_starts=3, keep=2), progress=True, random_state=0)
    err = capsys.readouterr().err
    assert "warm-up" in err and "starts" in err


@pytest.mark.parametrize("warmup, exc, match", [
    ("yes", TypeError, "warmup must be"),
    (dict(n_start=3), ValueError, "unknown option"),
    (dict(n_starts=0), ValueError, "n_starts"),
    (dict(n_starts=2, keep=3), ValueError, "keep"),
    (dict(subsample=0.0), ValueError, "subsample"),
    (dict(subsample=1.5), ValueError, "subsample"),
    (dict(subsample="half"), ValueError, "subsample"),
    (dict(maxiter=True), ValueError, "maxiter"),
    (dict(tol=-1.0), ValueError, "tol"),
])
def test_bad_options(warmup, exc, match):
    with pytest.raises(exc, match=match):
        warmup_options(warmup)
    y, X = crossing_lines(8, n=100)
    with pytest.raises(exc, match=match):
        EMGLM(y, X, k=2).fit(warmup=warmup)


def test_options_defaults_and_conflict():
    assert warmup_options(None) is None and warmup_options(False) is None
    assert warmup_options(True) == DEFAULTS
    assert warmup_options(dict(subsample=1))["subsample"] == 1.0  # the whole data
    y, X = crossing_lines(9, n=100)
    with pytest.raises(ValueError, match="start_params"):
        EMGLM(y, X, k=2).fit(warmup=True, start_params=np.zeros((2, 2)))
