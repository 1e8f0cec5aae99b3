"""Plots of a fitted mixture (matplotlib, imported only when a plot is drawn).

Each function takes an :class:`EMGLMResults` and returns a matplotlib Figure; those that
draw a single axes accept ``ax=`` to draw into an existing one. The results object has the
same functions as methods (``res.plot_posterior()``...).

* :func:`plot_posterior`: posterior class probabilities against row index (emax.glm's
  ``plot_probabilities``) and their rootogram (flexmix's ``plot`` of a fit).
* :func:`plot_params`: coefficients with confidence intervals, components side by side.
* :func:`plot_convergence`: log-likelihood by EM iteration.
* :func:`plot_diagnostics`: quantile residuals against the marginal mean, their normal QQ
  plot, observed response against the marginal mean, posterior entropy.

What each plot uses: the diagnostics are built from quantities that do not look at the
response row by row, so that a correct model shows no pattern: the marginal mean
``E(y | x) = sum_j pi_ij mu_ij`` (``res.predict()``, prior class probabilities) and the
randomized quantile residuals of the mixture distribution (``res.resid_quantile()``, prior
class probabilities as well). Only the posterior plot and the entropy panel show the
posterior, which is what they are about.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_posterior", "plot_params", "plot_convergence", "plot_diagnostics"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # optional dependency
        raise ImportError("plotting needs matplotlib: python -m pip install matplotlib "
                          "(or the 'plot' extra of emglm)") from exc
    return plt


def _figure(ax, **kwargs):
    """The figure to draw in: ``ax``'s, or a new one (through pyplot, so notebooks show it)."""
    if ax is not None:
        return ax.figure, ax
    plt = _pyplot()
    fig = plt.figure(**kwargs)
    return fig, fig.add_subplot(1, 1, 1)


def _colors(K):
    plt = _pyplot()
    cyc = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0", "C1", "C2"])
    return [cyc[j % len(cyc)] for j in range(K)]


def _check_ax(ax):
    if ax is not None and not hasattr(ax, "figure"):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")


def _thin(n, max_points):
    """Evenly spaced row positions (all rows when n <= max_points): keeps huge plots light."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def plot_posterior(res, kind="both", component=None, bins=20, eps=1e-4, max_points=20000, ax=None):
    """Posterior class probabilities: against row index, and their rootogram.

    Parameters
    ----------
    res : EMGLMResults
    kind : {"both", "index", "rootogram"}
        ``"both"``: one row of panels per component, posterior against row index (as emax.glm's
        ``plot_probabilities``) and its rootogram; ``"index"``: all components on one axes;
        ``"rootogram"``: histogram of each component's posterior with the square root of the
        counts on the vertical axis (flexmix's plot), rows with posterior below ``eps``
        left out so that the well-classified mass does not swamp the rest.
    component : int or str, optional
        Only this component (position 0..K-1 or a name such as ``"comp2"``).
    bins : int
        Histogram bins on [0, 1].
    eps : float
        Rootogram threshold (flexmix's default 1e-4).
    max_points : int
        At most this many evenly spaced rows in the index plot.
    ax : matplotlib Axes, optional
        Draw into this axes (``kind="index"``, or ``kind="rootogram"`` with one component).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> y = np.concatenate([rng.normal(-2, 1, 150), rng.normal(2, 1, 150)])
    >>> res = EMGLM(y, np.ones((300, 1)), k=2).fit()
    >>> len(res.plot_posterior().axes)
    4
    """
    if kind not in ("both", "index", "rootogram"):
        raise ValueError(f"kind must be 'both', 'index' or 'rootogram', got {kind!r}")
    _check_ax(ax)
    T = res.posterior
    names = list(T.columns)
    if component is None:
        cols = list(range(len(names)))
    else:
        if isinstance(component, str):
            if component not in names:
                raise ValueError(f"component must be one of {names} or a position, got {component!r}")
            cols = [names.index(component)]
        elif isinstance(component, (int, np.integer)) and 0 <= component < len(names):
            cols = [int(component)]
        else:
            raise ValueError(f"component must be one of {names} or a position 0..{len(names) - 1}, got {component!r}")
    if ax is not None and (kind == "both" or (kind == "rootogram" and len(cols) > 1)):
        raise ValueError("ax can only be given with kind='index', or kind='rootogram' and one component")
    Tv = T.to_numpy()
    colors = _colors(len(names))
    rows = _thin(Tv.shape[0], max_points)
    edges = np.linspace(0.0, 1.0, bins + 1)

    def index_panel(a, js):
        for j in js:
            a.plot(rows, Tv[rows, j], ".", ms=2, color=colors[j], label=names[j], rasterized=len(rows) > 2000)
        a.set_ylim(-0.03, 1.03)
        a.set_xlabel("row")
        a.set_ylabel("posterior probability")
        if len(js) > 1:
            a.legend(loc="best", markerscale=4, fontsize="small")

    def root_panel(a, j):
        v = Tv[:, j]
        counts, _ = np.histogram(v[v >= eps], bins=edges)
        a.bar(edges[:-1], np.sqrt(counts), width=np.diff(edges), align="edge", color=colors[j],
              edgecolor="white")
        a.set_xlim(0, 1)
        a.set_xlabel("posterior probability")
        a.set_ylabel("sqrt(count)")

    if kind == "index":
        fig, a = _figure(ax, figsize=(7, 3.5))
        index_panel(a, cols)
        a.set_title("Posterior probabilities")
        return fig
    if kind == "rootogram":
        if ax is not None:
            fig, a = _figure(ax)
            root_panel(a, cols[0])
            a.set_title(f"Rootogram: {names[cols[0]]}")
            return fig
        plt = _pyplot()
        fig = plt.figure(figsize=(3.2 * len(cols), 3))
        for i, j in enumerate(cols):
            a = fig.add_subplot(1, len(cols), i + 1)
            root_panel(a, j)
            a.set_title(names[j])
        fig.tight_layout()
        return fig
    plt = _pyplot()
    fig = plt.figure(figsize=(9, 2.4 * len(cols) + 0.4))
    for i, j in enumerate(cols):
        a = fig.add_subplot(len(cols), 2, 2 * i + 1)
        index_panel(a, [j])
        a.set_title(f"{names[j]}: posterior by row")
        b = fig.add_subplot(len(cols), 2, 2 * i + 2)
        root_panel(b, j)
        b.set_title(f"{names[j]}: rootogram")
    fig.tight_layout()
    return fig


def _intervals(res, alpha):
    """Lower/upper bounds shaped like params, or None when intervals are not available."""
    conf_int = getattr(res, "conf_int", None)
    if conf_int is None:
        return None
    try:
        ci = conf_int(alpha=alpha)
    except NotImplementedError:
        return None
    params = res.params
    lo = np.full(params.shape, np.nan)
    hi = np.full(params.shape, np.nan)
    for ci_i, (comp, term) in enumerate(ci.index):
        if term not in params.index:
            continue  # mixing (gamma) rows
        r = params.index.get_loc(term)
        if comp in params.columns:
            cols = [params.columns.get_loc(comp)]
        elif comp == "shared":  # a fixed term: one interval, the same for every component
            cols = list(range(params.shape[1]))
        else:
            continue
        for c in cols:
            lo[r, c], hi[r, c] = ci.iloc[ci_i]["lower"], ci.iloc[ci_i]["upper"]
    return lo, hi


def plot_params(res, alpha=0.05, ax=None):
    """Coefficients with (1 - alpha) confidence intervals, components side by side.

    One row per term; each component's estimate is a marker (offset vertically so that
    components do not overlap) with its interval from ``res.conf_int(alpha)`` as a
    horizontal bar. Shared (``fixed``) terms are drawn once. A point-mass component has no
    coefficients and is left out.

    Parameters
    ----------
    res : EMGLMResults
    alpha : float
        Intervals at level 1 - alpha.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> y = np.concatenate([rng.normal(-2, 1, 150), rng.normal(2, 1, 150)])
    >>> fig = EMGLM(y, np.ones((300, 1)), k=2).fit().plot_params()
    >>> fig.axes[0].get_xlabel()
    'coefficient'
    """
    if not (isinstance(alpha, float) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    _check_ax(ax)
    params = res.params
    comps = [c for c in params.columns if not params[c].isna().all()]
    terms = list(params.index)
    fixed = set(getattr(res.model, "fixed_names", []) or [])
    bounds = _intervals(res, alpha)
    fig, a = _figure(ax, figsize=(7, max(3.0, 1.0 + 0.55 * len(terms) * max(1, len(comps)) ** 0.5)))
    colors = _colors(len(params.columns))
    width = 0.6
    for ci, comp in enumerate(comps):
        c = params.columns.get_loc(comp)
        off = (ci - (len(comps) - 1) / 2) * width / max(len(comps), 1)
        ys, xs, los, his = [], [], [], []
        for r, term in enumerate(terms):
            if term in fixed and ci > 0:
                continue  # shared coefficient: same in every component
            ys.append(r + (0.0 if term in fixed else off))
            xs.append(params.iloc[r, c])
            if bounds is not None:
                los.append(bounds[0][r, c])
                his.append(bounds[1][r, c])
        xs = np.asarray(xs)
        if bounds is not None:
            err = np.vstack([xs - np.asarray(los), np.asarray(his) - xs])
            a.errorbar(xs, ys, xerr=err, fmt="o", color=colors[c], capsize=3, label=comp)
        else:
            a.plot(xs, ys, "o", color=colors[c], label=comp)
    a.axvline(0.0, color="0.6", lw=0.8, zorder=0)
    a.set_yticks(range(len(terms)))
    a.set_yticklabels([t + (" (shared)" if t in fixed else "") for t in terms])
    a.set_ylim(len(terms) - 0.5, -0.5)  # first term on top, as in the params table
    a.set_xlabel("coefficient")
    level = f"{100 * (1 - alpha):g}% intervals" if bounds is not None else "no intervals available"
    a.set_title(f"Coefficients ({level})")
    a.legend(loc="best", fontsize="small")
    if ax is None:
        fig.tight_layout()
    return fig


def plot_convergence(res, kind="llf", ax=None):
    """Log-likelihood by EM iteration.

    Parameters
    ----------
    res : EMGLMResults
    kind : {"llf", "gap"}
        ``"llf"``: the log-likelihood of each accepted iterate; ``"gap"``: log10 of its
        distance to the final value, where a straight line is linear convergence with
        slope log10(rate).

    The horizontal axis counts accepted iterates (0 = the start). The title gives the same
    number of iterations as ``summary()`` ("EM iterations", evaluations of the EM map): plain
    EM accepts one iterate per evaluation, a SQUAREM cycle (the default) uses two or three
    evaluations per accepted iterate.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> y = np.concatenate([rng.normal(-2, 1, 150), rng.normal(2, 1, 150)])
    >>> fig = EMGLM(y, np.ones((300, 1)), k=2).fit().plot_convergence()
    >>> fig.axes[0].get_ylabel()
    'log-likelihood'
    """
    if kind not in ("llf", "gap"):
        raise ValueError(f"kind must be 'llf' or 'gap', got {kind!r}")
    _check_ax(ax)
    h = np.asarray(res.llf_history, dtype=float)
    fig, a = _figure(ax, figsize=(6, 3.5))
    it = np.arange(len(h))
    if kind == "llf":
        a.plot(it, h, "-o", ms=3)
        a.set_ylabel("log-likelihood")
    else:
        gap = h[-1] - h[:-1]
        keep = gap > 0
        a.plot(it[:-1][keep], np.log10(gap[keep]), "-o", ms=3)
        a.set_ylabel("log10(final llf - llf)")
    from matplotlib.ticker import MaxNLocator

    a.xaxis.set_major_locator(MaxNLocator(integer=True))  # iterates are counted in whole numbers
    # summary()'s "EM iterations" counts evaluations of the EM map; with SQUAREM one accepted
    # iterate costs up to three of them, so both counts are given
    a.set_xlabel("accepted iterate")
    state = "converged" if res.converged else "not converged"
    a.set_title(f"EM {state}: {res.n_iter} iterations (EM map evaluations), {len(h) - 1} accepted iterates",
                fontsize="medium")
    if ax is None:
        fig.tight_layout()
    return fig


def _residuals(res, random_state):
    """Randomized quantile residuals when the family has a distribution function, else
    Pearson residuals standardised by each row's mixture mean and variance (prior
    probabilities); both have mean 0 and variance 1 under the model."""
    try:
        return np.asarray(res.resid_quantile(random_state=random_state), dtype=float), "quantile residual"
    except NotImplementedError:
        pass
    from .residuals import mixture_moments

    m = res.model
    prior = res.predict(which="prior").to_numpy()
    mean, var = mixture_moments(res.mixture, res.theta, prior)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (np.asarray(m.endog, dtype=float) - mean) / np.sqrt(var)
    return r, "mixture Pearson residual"


def plot_diagnostics(res, random_state=None, max_points=20000):
    """Four diagnostic panels of a fit.

    Top left: quantile residuals (Dunn and Smyth's randomized quantile residuals of the
    mixture, ``res.resid_quantile``; for families without a distribution function, Pearson
    residuals standardised by the mixture's mean and variance) against the marginal mean
    ``res.predict()``; top right: their normal QQ plot (standard normal when the model is
    right); bottom left: observed response against the marginal mean with the identity line;
    bottom right: histogram of each row's posterior entropy divided by log K (0 = classified
    with certainty, 1 = no information).

    Neither the residuals nor the marginal mean use the posterior, so under a correct model
    the residuals show no trend against the marginal mean. (The pooled ``fittedvalues`` use
    the posterior, which has seen the response: plotted against ``y`` they hug the diagonal
    whatever the model.)

    Parameters
    ----------
    res : EMGLMResults
    random_state : int, numpy Generator or None
        For the randomization of discrete responses' quantile residuals.
    max_points : int
        At most this many evenly spaced rows in the scatter plots.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> y = np.concatenate([rng.normal(-2, 1, 150), rng.normal(2, 1, 150)])
    >>> len(EMGLM(y, np.ones((300, 1)), k=2).fit().plot_diagnostics(random_state=0).axes)
    4
    """
    from scipy import stats

    plt = _pyplot()
    r, rlabel = _residuals(res, random_state)
    mu = np.asarray(res.predict(which="mean"), dtype=float)
    y = np.asarray(res.model.endog, dtype=float)
    T = np.asarray(res.posterior, dtype=float)
    K = T.shape[1]
    fig = plt.figure(figsize=(9, 7))
    axs = [fig.add_subplot(2, 2, i + 1) for i in range(4)]
    rows = _thin(len(r), max_points)
    raster = len(rows) > 2000
    a = axs[0]
    a.plot(mu[rows], r[rows], ".", ms=3, alpha=0.6, rasterized=raster)
    a.axhline(0.0, color="0.5", lw=0.8)
    a.set_xlabel("marginal mean (predict())")
    a.set_ylabel(rlabel)
    a.set_title("Residuals vs fitted")
    a = axs[1]
    ok = np.isfinite(r)
    (osm, osr), (slope, icpt, _) = stats.probplot(r[ok], dist="norm")
    sub = _thin(len(osm), max_points)
    a.plot(osm[sub], osr[sub], ".", ms=3, rasterized=raster)
    lim = np.array([osm.min(), osm.max()])
    a.plot(lim, lim, color="C3", lw=1, label="y = x")
    a.set_xlabel("standard normal quantile")
    a.set_ylabel(f"{rlabel} (ordered)")
    a.set_title("Normal QQ plot")
    a.legend(loc="upper left", fontsize="small")
    a = axs[2]
    a.plot(mu[rows], y[rows], ".", ms=3, alpha=0.6, rasterized=raster)
    lo, hi = np.nanmin([mu.min(), y.min()]), np.nanmax([mu.max(), y.max()])
    a.plot([lo, hi], [lo, hi], color="C3", lw=1)
    a.set_xlabel("marginal mean (predict())")
    a.set_ylabel(f"observed {res.model.endog_name}")
    a.set_title("Observed vs fitted")
    a = axs[3]
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(T > 0, T * np.log(T), 0.0).sum(axis=1)
    ent = ent / np.log(K) if K > 1 else ent
    a.hist(ent, bins=np.linspace(0, 1, 21), color="C2", edgecolor="white")
    a.set_xlabel("posterior entropy / log K")
    a.set_ylabel("rows")
    a.set_title("Classification uncertainty")
    fig.tight_layout()
    return fig
