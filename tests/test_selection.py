"""select_k: choosing the number of components by information criteria (issue 7)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import emglm
from emglm.warnings import ConvergenceWarning


@pytest.fixture(scope="module")
def poisson2():
    """Two well separated Poisson regressions (truth: k = 2)."""
    rng = np.random.default_rng(11)
    n = 800
    df = pd.DataFrame({"x": rng.uniform(-1, 1, n)})
    z = rng.random(n) < 0.4
    df["y"] = rng.poisson(np.exp(np.where(z, 2.0 + df.x, 0.3 - df.x)))
    return df


@pytest.fixture(scope="module")
def sel(poisson2):
    with warnings.catch_warnings():
        # k = 3 over-fits two components: EM crawls along a flat ridge (its `converged` is False)
        warnings.simplefilter("ignore", ConvergenceWarning)
        return emglm.select_k("y ~ x", poisson2, ks=[1, 2, 3], family=sm.families.Poisson(),
                              n_starts=3, random_state=0)


def test_table_layout_and_choice(sel):
    assert list(sel.table.columns) == ["k", "llf", "df", "aic", "bic", "icl", "converged"]
    assert sel.table["k"].tolist() == [1, 2, 3]
    assert sel.best_k == 2
    assert sel.best is sel.fits[2]
    assert sel[3] is sel.fits[3]
    assert "best k=2" in repr(sel)


def test_table_matches_closed_forms(sel, poisson2):
    t = sel.table.set_index("k")
    # free parameters: k x 2 coefficients + (k - 1) proportions, no Poisson dispersion
    assert t["df"].tolist() == [2, 5, 8]
    n = len(poisson2)
    np.testing.assert_allclose(t["aic"], -2 * t["llf"] + 2 * t["df"], rtol=1e-12)
    np.testing.assert_allclose(t["bic"], -2 * t["llf"] + np.log(n) * t["df"], rtol=1e-12)
    for k, res in sel.fits.items():
        T = res.posterior.to_numpy()
        ent = -np.sum(np.where(T > 0, T * np.log(np.where(T > 0, T, 1)), 0.0))
        assert t.loc[k, "icl"] == pytest.approx(t.loc[k, "bic"] + 2 * ent, rel=1e-10)
        assert t.loc[k, "llf"] == res.llf
    # ICL of one component has no entropy term
    assert t.loc[1, "icl"] == pytest.approx(t.loc[1, "bic"])
    # nested k: more components never lose likelihood at their best fits (allowing optimiser slack)
    assert t.loc[2, "llf"] > t.loc[1, "llf"] + 100
    assert t.loc[3, "llf"] >= t.loc[2, "llf"] - 1e-3


def test_k1_equals_statsmodels(sel, poisson2):
    ref = sm.GLM.from_formula("y ~ x", poisson2, family=sm.families.Poisson()).fit()
    assert sel.fits[1].llf == pytest.approx(ref.llf, rel=1e-9)
    np.testing.assert_allclose(sel.fits[1].params["comp1"].to_numpy(), ref.params.to_numpy(), atol=1e-7)


def test_best_recovers_truth(sel):
    p = sel.best.params
    np.testing.assert_allclose(p["comp1"], [0.3, -1.0], atol=0.15)
    np.testing.assert_allclose(p["comp2"], [2.0, 1.0], atol=0.15)
    assert sel.best.proportions["comp2"] == pytest.approx(0.4, abs=0.06)


def test_criteria_and_reproducibility(poisson2):
    fam = sm.families.Poisson()
    a = emglm.select_k("y ~ x", poisson2, ks=[1, 2], family=fam, criterion="icl", n_starts=2, random_state=5)
    b = emglm.select_k("y ~ x", poisson2, ks=[2], family=fam, criterion="aic", n_starts=2, random_state=5)
    assert a.criterion == "icl" and a.best_k == 2
    # a k's fit depends only on random_state and k, not on the other ks tried
    assert b.fits[2].llf == a.fits[2].llf
    np.testing.assert_array_equal(b.fits[2].params.to_numpy(), a.fits[2].params.to_numpy())


def test_gaussian_one_component_chosen_for_one_normal():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.normal(size=400)})
    df["y"] = 1 + 2 * df.x + rng.normal(size=400)
    sel = emglm.select_k("y ~ x", df, ks=range(1, 4), n_starts=2, random_state=1)
    assert sel.best_k == 1


def test_model_and_fit_options_pass_through(poisson2):
    fam = sm.families.Poisson()
    eq = emglm.select_k("y ~ x", poisson2, ks=[2], family=fam, mixing="equal", n_starts=1)
    assert eq.table.loc[0, "df"] == 4  # no proportion parameter with equal priors
    assert eq.best.model.mixing == "equal"
    with pytest.warns(ConvergenceWarning):
        short = emglm.select_k("y ~ x", poisson2, ks=[2], family=fam, maxiter=2, n_starts=1)
    assert not short.table.loc[0, "converged"]


def test_formula_environment_is_the_callers(poisson2):
    def shift(v):
        return v + 1.0

    sel = emglm.select_k("y ~ shift(x)", poisson2, ks=[1], family=sm.families.Poisson())
    assert "shift(x)" in sel.best.params.index


def test_progress_bar(poisson2, capsys):
    pytest.importorskip("tqdm")
    emglm.select_k("y ~ x", poisson2, ks=[1, 2], family=sm.families.Poisson(), n_starts=1, progress=True)
    assert "select_k" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(ks=[]), ValueError, "ks"),
    (dict(ks=[0, 1]), ValueError, "k must be at least 1"),
    (dict(ks=[2, 2]), ValueError, "repeat"),
    (dict(ks="ab"), TypeError, "k must be an integer"),
    (dict(ks=None), TypeError, "ks must be an iterable"),
    (dict(criterion="bic2"), ValueError, "criterion"),
    (dict(n_starts=0), ValueError, "n_starts"),
    (dict(k=2), TypeError, "ks, not k"),
])
def test_bad_arguments(poisson2, kwargs, exc, match):
    args = dict(ks=[1, 2])
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        emglm.select_k("y ~ x", poisson2, **args)


def test_dropped_rows_warned_once(poisson2):
    df = poisson2.copy()
    df.loc[:4, "x"] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        emglm.select_k("y ~ x", df, ks=[1, 2], family=sm.families.Poisson(), n_starts=1)
    dropped = [w for w in caught if issubclass(w.category, emglm.DroppedRowsWarning)]
    assert len(dropped) == 1
