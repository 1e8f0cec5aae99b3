"""Bundled data sets: values against their published sources, fresh copies, simulated truth."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import emglm
from emglm import datasets

LOADERS = [
    datasets.load_pension,
    datasets.load_bulls,
    datasets.load_warpbreaks,
    datasets.load_simulated,
]


@pytest.mark.parametrize("loader", LOADERS, ids=lambda f: f.__name__)
def test_loader_returns_fresh_frame_with_documentation(loader):
    a = loader()
    assert isinstance(a, pd.DataFrame) and len(a) > 0
    a.iloc[0, 0] = -999  # mutating one copy must not leak into the next call
    b = loader()
    assert b.iloc[0, 0] != -999
    doc = loader.__doc__
    assert "Source" in doc and "Examples" in doc and ">>>" in doc


def test_reachable_as_attribute_of_package():
    assert emglm.datasets.load_pension is datasets.load_pension


def test_pension_matches_seed_table():
    df = datasets.load_pension()
    assert list(df.columns) == ["children", "widows"]
    assert df["children"].tolist() == list(range(7))
    assert df["widows"].tolist() == [3062, 587, 284, 103, 33, 4, 2]


def test_bulls_matches_seed_table_and_anova():
    df = datasets.load_bulls()
    assert list(df.columns) == ["bull", "percentage"]
    assert df.groupby("bull").size().tolist() == [5, 2, 7, 5, 7, 9]
    assert df.loc[df.bull == 6, "percentage"].tolist() == [35, 68, 59, 38, 57, 76, 57, 29, 60]
    # the seed's one-way ANOVA table: SS bull 3322.059, SS error 7200.341, total 10522.400
    g = df.groupby("bull")["percentage"]
    grand = df["percentage"].mean()
    ss_b = float((g.size() * (g.mean() - grand) ** 2).sum())
    ss_w = float(((df["percentage"] - g.transform("mean")) ** 2).sum())
    assert ss_b == pytest.approx(3322.059, abs=0.001)
    assert ss_w == pytest.approx(7200.341, abs=0.001)
    assert ss_b + ss_w == pytest.approx(10522.400, abs=0.001)
    assert ss_w / 29 == pytest.approx(248.29, abs=0.01)


def test_warpbreaks_published_summaries():
    df = datasets.load_warpbreaks()
    assert df.shape == (54, 3)
    assert list(df.columns) == ["breaks", "wool", "tension"]
    assert df["breaks"].sum() == 1520
    assert df["breaks"].mean() == pytest.approx(28.148, abs=5e-4)
    assert list(df["tension"].cat.categories) == ["L", "M", "H"]
    assert list(df["wool"].cat.categories) == ["A", "B"]
    assert (df.groupby(["wool", "tension"], observed=True).size() == 9).all()
    means = df.groupby(["wool", "tension"], observed=True)["breaks"].mean().round(2)
    expected = {("A", "L"): 44.56, ("A", "M"): 24.00, ("A", "H"): 24.56,
                ("B", "L"): 28.22, ("B", "M"): 28.78, ("B", "H"): 18.78}
    for key, val in expected.items():
        assert means[key] == pytest.approx(val, abs=0.005)
    # first and last rows of R's data frame
    assert df.iloc[0].tolist() == [26, "A", "L"]
    assert df.iloc[-1].tolist() == [28, "B", "H"]


def test_warpbreaks_poisson_glm_deviance():
    # R: glm(breaks ~ wool + tension, poisson) has residual deviance 210.39 on 50 df
    df = datasets.load_warpbreaks()
    fit = sm.GLM.from_formula("breaks ~ wool + tension", df, family=sm.families.Poisson()).fit()
    assert fit.deviance == pytest.approx(210.39, abs=0.01)
    assert fit.df_resid == 50


def test_simulated_truth_layout():
    truth = datasets.simulated_truth()
    assert truth["n"] == 500
    assert truth["proportions"].tolist() == [0.6, 0.4]
    assert truth["params"].shape == (2, 2)
    assert list(truth["params"].columns) == ["comp1", "comp2"]


def test_simulated_is_consistent_with_truth():
    df = datasets.load_simulated()
    truth = datasets.simulated_truth()
    assert df.shape == (500, 3)
    assert df["x"].between(-1, 1).all()
    assert set(df["component"]) == {1, 2}
    # latent class proportion within 3 binomial standard errors of 0.6
    p1 = (df["component"] == 1).mean()
    assert abs(p1 - 0.6) < 3 * np.sqrt(0.24 / 500)
    # Poisson GLM on each true class recovers the true coefficients within 3 SE
    for j, comp in enumerate(["comp1", "comp2"], start=1):
        sub = df[df["component"] == j]
        fit = sm.GLM.from_formula("y ~ x", sub, family=sm.families.Poisson()).fit()
        z = (fit.params.values - truth["params"][comp].values) / fit.bse.values
        assert np.all(np.abs(z) < 3), (comp, fit.params.values)


def test_simulate_recipe_shape_and_errors():
    d = datasets.simulate_poisson_mixture(n=20, seed=3)
    assert list(d.columns) == ["y", "x", "component"]
    assert len(d) == 20 and (d["y"] >= 0).all()
    pd.testing.assert_frame_equal(d, datasets.simulate_poisson_mixture(n=20, seed=3))
    with pytest.raises(ValueError, match="n"):
        datasets.simulate_poisson_mixture(n=0)
