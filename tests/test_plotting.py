"""Plots render with the Agg backend and show what they claim (issue 7)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import statsmodels.api as sm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from emglm import EMGLM  # noqa: E402
from emglm import plotting  # noqa: E402


@pytest.fixture(scope="module")
def res():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.uniform(-1, 1, 500), "w": rng.normal(size=500)})
    z = rng.random(500) < 0.4
    df["y"] = rng.poisson(np.exp(np.where(z, 2 + df.x, 0.2 - df.x) + 0.3 * df.w))
    return EMGLM.from_formula("y ~ x", df, k=2, family=sm.families.Poisson(), fixed="~ w").fit()


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_plot_posterior_both(res):
    fig = res.plot_posterior()
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4  # 2 components x (by row, rootogram)
    left, right = fig.axes[0], fig.axes[1]
    assert left.get_xlabel() == "row" and left.get_ylabel() == "posterior probability"
    assert right.get_ylabel() == "sqrt(count)"
    assert "comp1" in left.get_title() and "rootogram" in right.get_title()
    # the plotted points are the posterior column
    xs, ys = left.lines[0].get_data()
    np.testing.assert_array_equal(ys, res.posterior["comp1"].to_numpy()[xs])
    # rootogram bars are square roots of histogram counts of posteriors >= 1e-4
    v = res.posterior["comp2"].to_numpy()
    counts, _ = np.histogram(v[v >= 1e-4], bins=np.linspace(0, 1, 21))
    heights = [p.get_height() for p in fig.axes[3].patches]
    np.testing.assert_allclose(heights, np.sqrt(counts))


def test_plot_posterior_single_axes_kinds(res):
    fig, ax = plt.subplots()
    out = res.plot_posterior(kind="index", ax=ax)
    assert out is fig and len(fig.axes) == 1
    assert len(ax.lines) == 2 and ax.get_legend() is not None
    fig2, ax2 = plt.subplots()
    res.plot_posterior(kind="rootogram", component="comp2", ax=ax2)
    assert len(ax2.patches) == 20 and "comp2" in ax2.get_title()
    assert len(res.plot_posterior(kind="rootogram").axes) == 2
    assert len(res.plot_posterior(component=1).axes) == 2
    # thinning keeps at most max_points rows in the index plot
    xs, _ = res.plot_posterior(kind="index", max_points=50).axes[0].lines[0].get_data()
    assert len(xs) == 50 and xs[0] == 0 and xs[-1] == 499


def test_plot_params(res):
    fig = res.plot_params()
    ax = fig.axes[0]
    assert len(fig.axes) == 1
    assert ax.get_xlabel() == "coefficient"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Intercept", "x", "w (shared)"]
    # every estimate appears as a point: both components' own terms, the shared term once
    pts = []
    for line in ax.lines:
        x, y = line.get_data()
        if len(x) and line.get_marker() == "o":
            pts.extend(np.asarray(x, float))
    expected = list(res.params.loc[["Intercept", "x"]].to_numpy().ravel()) + [res.params.loc["w", "comp1"]]
    np.testing.assert_allclose(np.sort(pts), np.sort(expected))
    if hasattr(res, "conf_int"):
        assert "95% intervals" in ax.get_title()
        # the horizontal bars span exactly the confidence intervals
        ci = res.conf_int(alpha=0.05)
        segs = [seg for cont in ax.containers for seg in cont.lines[2][0].get_segments()]
        got = np.sort(np.array([[s[0][0], s[1][0]] for s in segs]), axis=0)
        own = ci.loc[[(c, t) for c in ("comp1", "comp2") for t in ("Intercept", "x")]]
        want = np.vstack([own.to_numpy(), ci.loc[[("shared", "w")]].to_numpy()])
        np.testing.assert_allclose(got, np.sort(want, axis=0))
    fig2, ax2 = plt.subplots()
    assert res.plot_params(alpha=0.1, ax=ax2) is fig2
    with pytest.raises(ValueError, match="alpha"):
        res.plot_params(alpha=2.0)


def test_plot_convergence(res):
    fig = res.plot_convergence()
    ax = fig.axes[0]
    assert ax.get_ylabel() == "log-likelihood" and "iterate" in ax.get_xlabel()
    _, ys = ax.lines[0].get_data()
    np.testing.assert_array_equal(ys, res.llf_history)
    assert ys[-1] == pytest.approx(res.llf)
    gap = res.plot_convergence(kind="gap").axes[0]
    assert gap.get_ylabel().startswith("log10")
    _, g = gap.lines[0].get_data()
    # EM converges linearly: the log gap falls steadily
    assert g[0] > g[-1] + 2
    with pytest.raises(ValueError, match="kind"):
        res.plot_convergence(kind="bad")


def test_plot_diagnostics(res):
    fig = res.plot_diagnostics(random_state=0)
    assert len(fig.axes) == 4
    titles = [a.get_title() for a in fig.axes]
    assert titles == ["Residuals vs fitted", "Normal QQ plot", "Observed vs fitted", "Classification uncertainty"]
    assert "marginal mean" in fig.axes[0].get_xlabel()
    assert "residual" in fig.axes[0].get_ylabel()
    # observed vs fitted holds the data, against the marginal mean (no posterior)
    xs, ys = fig.axes[2].lines[0].get_data()
    np.testing.assert_allclose(xs, res.predict(which="mean").to_numpy())
    np.testing.assert_allclose(ys, res.model.endog)
    # entropy histogram counts every row
    assert sum(p.get_height() for p in fig.axes[3].patches) == len(res.posterior)
    # QQ: residuals of a correct model are roughly standard normal
    osm, osr = fig.axes[1].lines[0].get_data()
    assert np.corrcoef(osm, osr)[0, 1] > 0.95


def test_bad_arguments(res):
    with pytest.raises(ValueError, match="kind"):
        res.plot_posterior(kind="pie")
    with pytest.raises(ValueError, match="component"):
        res.plot_posterior(component="comp9")
    with pytest.raises(ValueError, match="ax can only"):
        res.plot_posterior(ax=plt.subplots()[1])
    with pytest.raises(TypeError, match="ax must be"):
        plotting.plot_convergence(res, ax="axes")


def test_figure_png_roundtrip(res, tmp_path):
    path = tmp_path / "post.png"
    res.plot_posterior().savefig(path, dpi=50)
    assert path.stat().st_size > 1000


# ---------------------------------------------------------------- issue 18
@pytest.fixture(scope="module")
def pois_mix():
    rng = np.random.default_rng(5)
    n = 3000
    x = rng.uniform(-1, 1, n)
    z = rng.random(n) < 0.4
    df = pd.DataFrame({"x": x, "y": rng.poisson(np.exp(np.where(z, 2 + x, 0.3 - x)))})
    return EMGLM.from_formula("y ~ x", df, k=2, family=sm.families.Poisson()).fit(random_state=0)


def test_residuals_vs_fitted_shows_no_trend_on_a_correct_model(pois_mix):
    """Quantile residuals of a correctly specified mixture are independent of x, so they are
    uncorrelated with the marginal mean; against the posterior-pooled fit (which has seen y)
    they would correlate strongly (about 0.57 here)."""
    res = pois_mix
    fig = res.plot_diagnostics(random_state=0)
    xs, r = fig.axes[0].lines[0].get_data()
    np.testing.assert_allclose(xs, res.predict().to_numpy())
    # |corr| below 3 standard errors of a zero correlation
    assert abs(np.corrcoef(xs, r)[0, 1]) < 3 / np.sqrt(len(r))
    assert np.corrcoef(res.fittedvalues, r)[0, 1] > 0.3  # what the pooled fit would have shown
    plt.close("all")


def test_mixture_pearson_fallback_for_tweedie():
    rng = np.random.default_rng(2)
    n = 400
    x = rng.uniform(0, 1, n)
    mu = np.exp(np.where(rng.random(n) < 0.5, 1 + x, -x))
    y = rng.poisson(mu) * rng.gamma(2.0, 0.5, n)  # compound Poisson-gamma, zeros included
    res = EMGLM(y, np.column_stack([np.ones(n), x]), k=2, family=sm.families.Tweedie(var_power=1.5)).fit()
    fig = res.plot_diagnostics(random_state=0)
    xs, r = fig.axes[0].lines[0].get_data()
    assert fig.axes[0].get_ylabel() == "mixture Pearson residual"
    np.testing.assert_allclose(xs, res.predict().to_numpy())
    assert np.all(np.isfinite(r))
    plt.close("all")


def test_convergence_ticks_are_whole_iterates_and_title_matches_summary(res):
    fig = res.plot_convergence()
    ax = fig.axes[0]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    summary_iters = [line for line in res.summary().as_text().splitlines() if "EM iterations:" in line]
    n_iter = summary_iters[0].split("EM iterations:")[1].split()[0]
    assert f"{n_iter} iterations" in ax.get_title()
    assert f"{len(res.llf_history) - 1} accepted iterates" in ax.get_title()
    plt.close("all")
