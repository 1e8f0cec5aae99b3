"""Bootstrap covariance of a fitted mixture and the bootstrap likelihood-ratio test for k.

* :func:`bootstrap_covariance` (``fit(cov_type="bootstrap")``): the nonparametric bootstrap
  of mixtools' ``boot.se`` and flexmix's ``boot``. Each replicate resamples the units (rows;
  whole groups for grouped data; with integer frequency weights the weighted copies of the
  rows), refits the mixture by EM started from the estimate, and relabels its components to
  those of the estimate by minimum-cost matching (:func:`match_components`). The covariance
  of the replicates estimates the covariance of ``theta``; ``conf_int(method="percentile")``
  gives percentile intervals.
* :func:`bootstrap_lrt` (``select_k(..., bootstrap=B)``): McLachlan's (1987) parametric
  bootstrap of the likelihood-ratio statistic for k against k - 1 components (mixtools'
  ``boot.comp``): data are simulated from the fitted (k-1)-component mixture, both models
  are refitted to each simulated set, and the p-value is the share of simulated statistics
  at least as large as the observed one, ``(1 + #{LR_b >= LR}) / (B + 1)``.

Replicates run in ``n_jobs`` worker processes (each fit in one thread), each with its own
random stream derived from ``random_state``, so the result does not depend on ``n_jobs``.

Examples
--------
>>> import numpy as np, statsmodels.api as sm
>>> from emglm import EMGLM
>>> rng = np.random.default_rng(0)
>>> y = rng.poisson(np.where(rng.random(200) < 0.5, 1.0, 8.0))
>>> res = EMGLM(y, np.ones((200, 1)), k=2, family=sm.families.Poisson()).fit(
...     cov_type="bootstrap", cov_kwds={"n_boot": 20, "random_state": 1})
>>> res.bse.shape, res.conf_int(method="percentile").shape
((1, 2), (3, 2))
"""

from __future__ import annotations

import multiprocessing
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
import statsmodels.genmod.families as smf
from scipy.optimize import linear_sum_assignment

from .cov_options import check_bootstrap_kwds, check_random_state  # noqa: F401 (re-exported)

__all__ = ["check_bootstrap_kwds", "bootstrap_covariance", "percentile_interval", "match_components",
           "simulate", "bootstrap_lrt"]

# ---------------------------------------------------------------------- data of a model
def _bundle(model):
    """The model's arrays and options: everything a replicate needs (picklable, no formulas)."""
    fam = model.family
    return dict(cls=type(model), family=fam, endog=model.endog, trials=model.trials, exog=model.exog, offset=model.offset,
                weights=model.freq_weights, fixed=model.fixed_exog, concomitant=model.concomitant_exog,
                groups=model.group_codes, point_mass=model.point_mass, mixing=model.mixing,
                scale=model.scale_mode, k=model.k, names=dict(exog=list(model.exog_names)),
                component_terms=getattr(model, "component_terms", None), shared_terms=getattr(model, "shared_terms", None),
                extra=getattr(model, "extra", None) or None,
                binomial_trials=isinstance(fam, smf.Binomial) and bool(np.any(model.trials != 1)))


def _model_from(b, rows=None, endog=None, weights=None, groups=None, k=None):
    """An EMGLM on rows ``rows`` of the bundle (optionally a new response, weights, groups)."""
    EMGLM = b["cls"]  # the model's own class: no import of the model layer from here

    def take(a):
        return a if rows is None or a is None else a[rows]

    y = take(b["endog"]) if endog is None else endog
    t = take(b["trials"])
    if b["binomial_trials"]:
        s = np.round(y * t)
        y = np.column_stack([s, t - s])
    return EMGLM(y, take(b["exog"]), b["k"] if k is None else k, family=b["family"], offset=take(b["offset"]),
                 weights=take(b["weights"]) if weights is None else weights, mixing=b["mixing"],
                 fixed=take(b["fixed"]), concomitant=take(b["concomitant"]),
                 groups=take(b["groups"]) if groups is None else groups, point_mass=b["point_mass"],
                 scale=b["scale"], missing="raise", names=b.get("names", {}),
                 extra=None if b.get("extra") is None else {nm: take(v) for nm, v in b["extra"].items()},
                 **({} if b.get("component_terms") is None else
                    dict(component_terms=b["component_terms"], shared_terms=b["shared_terms"])))


# ---------------------------------------------------------------------- engine adapter
def _refit(model, theta0, tol, maxiter):
    """EM from ``theta0`` on ``model``'s data: ``(engine, theta, llf, converged)``.

    The one place in this module that uses the fitted mixture and the EM directly
    (``model.make_mixture()`` and :func:`emglm.fitting.run_em`): a replicate must start from a
    full parameter vector, which ``fit(start_params=...)`` does not take.
    """
    from .fitting import run_em
    from .parallel import blas_limit

    eng = model.make_mixture()
    with blas_limit(1):
        out = run_em(eng, np.asarray(theta0, float), tol, maxiter, accelerate="squarem")
    return eng, np.asarray(out.params, float), float(out.objective), bool(out.converged)


def _relabel(eng, theta, theta_ref, gram):
    """``theta`` with its components in the labels of ``theta_ref`` (engine adapter: the
    layout's unpacking and the engine's permutation); also whether they moved."""
    if eng.keeps_order:  # different models per component: their labels are their models
        return theta, False
    P, Pref = eng.unpack(theta), eng.unpack(theta_ref)
    perm = match_components(P.beta, np.log(P.scale), Pref.beta, np.log(Pref.scale), gram)
    if np.all(perm == np.arange(perm.size)):
        return theta, False
    return eng.permute(theta, perm), True


def _row_posterior(eng, theta):
    """(n, K) posterior class probabilities of the rows at ``theta`` (engine adapter)."""
    return np.asarray(eng.estep(theta).T)


def match_components(beta, log_scale, beta_ref, log_scale_ref, gram):
    """Permutation of components that best matches a reference (minimum-cost assignment).

    The cost of giving component i the label of reference component j is the mean squared
    difference of their linear predictors over the design, ``(b_i - b_j)' G (b_i - b_j)``
    with ``G = X'WX / sum w``, plus the squared difference of their log dispersions.

    Returns
    -------
    perm : ndarray
        ``perm[j]`` is the component that takes label j.

    Examples
    --------
    >>> import numpy as np
    >>> match_components(np.array([[2.0], [0.0]]), np.zeros(2), np.array([[0.1], [1.9]]),
    ...                  np.zeros(2), np.eye(1))
    array([1, 0])
    """
    D = beta_ref[:, None, :] - beta[None, :, :]  # (j ref, i replicate, p)
    cost = np.einsum("jip,pq,jiq->ji", D, gram, D)
    cost = cost + (np.asarray(log_scale_ref)[:, None] - np.asarray(log_scale)[None, :]) ** 2
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(len(rows), dtype=int)
    perm[rows] = cols
    return perm


def _gram(b):
    X, w = b["exog"], b["weights"]
    return (X * w[:, None]).T @ X / w.sum()


# ---------------------------------------------------------------------- replicates in processes
_WORKER = {}


def _init_worker(task, bundle):
    _WORKER["task"], _WORKER["bundle"] = task, bundle


def _run_task(i, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            try:
                return i, _WORKER["task"](_WORKER["bundle"], np.random.default_rng(seed))
            except (ValueError, np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError) as exc:
                return i, ("failed", f"{type(exc).__name__}: {exc}")


def _map_replicates(task, bundle, seeds, n_jobs, progress, desc):
    """``[task(bundle, rng_b) for each seed]`` in ``n_jobs`` processes, in seed order."""
    from .warmup import progress_iter

    out = [None] * len(seeds)
    if n_jobs <= 1 or len(seeds) <= 1:
        _init_worker(task, bundle)
        try:
            for i in progress_iter(range(len(seeds)), progress, desc, total=len(seeds)):
                out[i] = _run_task(i, seeds[i])[1]
        finally:
            _WORKER.clear()
        return out
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=min(n_jobs, len(seeds)), mp_context=ctx, initializer=_init_worker,
                             initargs=(task, bundle)) as pool:
        futures = [pool.submit(_run_task, i, s) for i, s in enumerate(seeds)]
        for fut in progress_iter(as_completed(futures), progress, desc, total=len(futures)):
            i, value = fut.result()
            out[i] = value
    return out


def _seeds(random_state, n, *key):
    base = int(check_random_state(random_state).integers(0, 2**63 - 1))
    return np.random.SeedSequence([base, *key]).spawn(n)


# ---------------------------------------------------------------------- nonparametric bootstrap
def _resample(b, rng):
    """Rows, weights and group codes of one nonparametric resample."""
    w = b["weights"]
    if b["groups"] is None:
        n = w.size
        if np.all(w == np.round(w)):  # frequency weights: resample the copies
            counts = rng.multinomial(int(w.sum()), w / w.sum())
            rows = np.flatnonzero(counts)
            return rows, counts[rows].astype(float), None
        counts = rng.multinomial(n, np.full(n, 1.0 / n))
        rows = np.flatnonzero(counts)
        return rows, w[rows] * counts[rows], None
    g = b["groups"]
    G = int(g.max()) + 1
    order = np.argsort(g, kind="stable")
    starts = np.searchsorted(g[order], np.arange(G + 1))
    drawn = rng.integers(0, G, G)
    rows = np.concatenate([order[starts[u]:starts[u + 1]] for u in drawn])
    codes = np.repeat(np.arange(G), starts[drawn + 1] - starts[drawn])  # a group drawn twice is two groups
    return rows, w[rows], codes


def _boot_task(b, rng):
    rows, w, groups = _resample(b, rng)
    model = _model_from(b, rows, weights=w, groups=groups)
    eng, theta, llf, conv = _refit(model, b["theta"], b["tol"], b["maxiter"])
    if not (np.isfinite(llf) and np.all(np.isfinite(theta))):
        return ("failed", "non-finite log-likelihood")
    theta, relabelled = _relabel(eng, theta, b["theta"], b["gram"])
    return ("ok", theta, relabelled, conv)


def bootstrap_covariance(res, n_boot=200, random_state=None, n_jobs=1, progress=False, tol=1e-8, maxiter=1000):
    """Nonparametric bootstrap covariance of ``res.theta`` (``fit(cov_type="bootstrap")``).

    Returns
    -------
    dict
        ``cov`` (dim, dim), ``replicates`` (used replicates x dim, relabelled, flat ``theta``
        with log dispersions), ``n_boot``, ``n_ok``, ``n_failed``, ``n_relabelled``,
        ``n_unconverged``, ``failures`` (messages) and ``positive_definite``.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> y = np.r_[np.zeros(60), np.ones(60) * 5] + np.random.default_rng(0).normal(size=120)
    >>> res = EMGLM(y, np.ones((120, 1)), k=2).fit()
    >>> out = bootstrap_covariance(res, n_boot=10, random_state=0)
    >>> out["replicates"].shape, out["n_failed"]
    ((10, 5), 0)
    """
    b = _bundle(res.model)
    b.update(theta=np.asarray(res.theta, float), tol=tol, maxiter=maxiter, gram=_gram(b))
    seeds = _seeds(random_state, n_boot, 17)
    outs = _map_replicates(_boot_task, b, seeds, n_jobs, progress, "bootstrap")
    ok = [o for o in outs if o[0] == "ok"]
    failures = [o[1] for o in outs if o[0] == "failed"]
    dim = res.theta.size
    reps = np.array([o[1] for o in ok]).reshape(len(ok), dim)
    if len(ok) < 2:
        raise ValueError(f"bootstrap: only {len(ok)} of {n_boot} replicates could be fitted "
                         f"({failures[0] if failures else ''}); no covariance")
    if failures:
        warnings.warn(f"bootstrap: {len(failures)} of {n_boot} replicates failed and were left out "
                      f"(first: {failures[0]})", _warning_class(), stacklevel=4)
    cov = np.cov(reps, rowvar=False).reshape(dim, dim)
    return dict(cov=cov, oim=None, opg=None, positive_definite=bool(np.all(np.linalg.eigvalsh(cov) > 0)),
                replicates=reps, n_boot=n_boot, n_ok=len(ok), n_failed=len(failures),
                n_relabelled=int(sum(o[2] for o in ok)), n_unconverged=int(sum(not o[3] for o in ok)),
                failures=failures)


def _warning_class():
    from .warnings import ConvergenceWarning

    return ConvergenceWarning


def percentile_interval(res, alpha=0.05):
    """Bootstrap percentile intervals, labelled like ``res.conf_int()``.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> y = np.r_[np.zeros(60), np.ones(60) * 5] + np.random.default_rng(0).normal(size=120)
    >>> res = EMGLM(y, np.ones((120, 1)), k=2).fit(cov_type="bootstrap",
    ...                                            cov_kwds={"n_boot": 20, "random_state": 0})
    >>> list(percentile_interval(res).columns)
    ['lower', 'upper']
    """
    import pandas as pd

    if res.cov_type != "bootstrap":
        raise ValueError(f"method='percentile' needs fit(cov_type='bootstrap'); this fit has "
                         f"cov_type={res.cov_type!r}")
    reps = res.cov_details["replicates"]
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2], axis=0)
    s = res.dispersion_mask
    lo[s], hi[s] = np.exp(lo[s]), np.exp(hi[s])
    return pd.DataFrame({"lower": lo, "upper": hi}, index=res.params_flat.index)


# ---------------------------------------------------------------------- parametric bootstrap LRT
def simulate(family, mu, scale, trials, rng):
    """Draw responses with means ``mu`` and dispersion ``scale`` from a statsmodels family.

    Binomial responses are proportions of ``trials``. Raises ValueError for a family it
    cannot simulate.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> y = simulate(sm.families.Poisson(), np.full(20000, 3.0), 1.0, None, np.random.default_rng(0))
    >>> round(float(y.mean()), 1)
    3.0
    """
    mu = np.asarray(mu, float)
    scale = np.broadcast_to(np.asarray(scale, float), mu.shape)
    if isinstance(family, smf.Gaussian):
        return rng.normal(mu, np.sqrt(scale))
    if isinstance(family, smf.Poisson):
        return rng.poisson(mu).astype(float)
    if isinstance(family, smf.Binomial):
        t = np.ones_like(mu) if trials is None else np.asarray(trials, float)
        return rng.binomial(t.astype(np.int64), np.clip(mu, 0, 1)) / t
    if isinstance(family, smf.Gamma):
        return rng.gamma(1.0 / scale, mu * scale)
    if isinstance(family, smf.InverseGaussian):
        return rng.wald(mu, 1.0 / scale)
    if isinstance(family, smf.NegativeBinomial):
        a = family.alpha
        return rng.negative_binomial(1.0 / a, 1.0 / (1.0 + a * mu)).astype(float)
    if isinstance(family, smf.Tweedie):
        p = family.var_power
        if not 1 < p < 2:
            raise ValueError(f"family: cannot simulate Tweedie with var_power={p} (only 1 < p < 2)")
        lam = mu ** (2 - p) / (scale * (2 - p))
        N = rng.poisson(lam)
        shape = (2 - p) / (p - 1)
        out = np.zeros_like(mu)
        pos = N > 0
        out[pos] = rng.gamma(N[pos] * shape, scale[pos] * (p - 1) * mu[pos] ** (p - 1))
        return out
    raise ValueError(f"family: cannot simulate from {type(family).__name__}")


def _lrt_task(b, rng):
    """One simulated data set from the null fit; returns 2 (llf_alt - llf_null)."""
    prior, Mu = b["prior"], b["Mu"]
    K = prior.shape[1]
    u = rng.random(prior.shape[0])
    cls = np.minimum((u[:, None] > np.cumsum(prior, axis=1)).sum(axis=1), K - 1)  # one class per unit
    if b["groups"] is not None:
        cls = cls[b["groups"]]
    k0 = Mu.shape[1]
    rows = np.arange(Mu.shape[0])
    y = simulate(b["family"], Mu[rows, np.minimum(cls, k0 - 1)], b["scale_arr"][np.minimum(cls, k0 - 1)],
                 b["trials"], rng)
    if K > k0:
        y = np.where(cls == k0, b["point_mass"], y)
    null = _model_from(b, endog=y, k=k0)
    eng0, theta0, llf0, _ = _refit(null, b["theta"], b["tol"], b["maxiter"])
    alt = _model_from(b, endog=y, k=b["k_alt"])
    fit_kw = dict(b["fit_options"], n_jobs=1)
    llf1 = alt.fit(n_starts=b["n_starts"], random_state=rng, **fit_kw).llf
    # and from the null fit with one component split in two, so that the alternative is
    # searched at least around the null optimum (otherwise a poor local optimum of the
    # alternative would shrink the simulated statistics and make the test anti-conservative)
    fit_kw.pop("start", None)
    for T in _split_starts(_row_posterior(eng0, theta0), k0, b["k_alt"], rng):
        llf1 = max(llf1, alt.fit(start=T, **fit_kw).llf)
    if not (np.isfinite(llf0) and np.isfinite(llf1)):
        return ("failed", "non-finite log-likelihood")
    return ("ok", max(2.0 * (llf1 - llf0), 0.0))


def _split_starts(T0, k0, k1, rng):
    """Starting posteriors for k1 GLM components: null posterior T0 (n, K0) with component s
    split at random into k1 - k0 + 1 parts, for each s (a point mass column stays last)."""
    extra = k1 - k0
    for s in range(k0):
        u = rng.dirichlet(np.ones(extra + 1), size=T0.shape[0])  # (n, extra + 1)
        parts = T0[:, [s]] * u
        glm = [T0[:, j] for j in range(k0) if j != s]
        cols = glm + [parts[:, i] for i in range(extra + 1)] + [T0[:, j] for j in range(k0, T0.shape[1])]
        yield np.column_stack(cols)


def bootstrap_lrt(null, k_alt, lr, n_boot, random_state=None, n_jobs=1, progress=False, n_starts=5,
                  fit_options=None):
    """Parametric bootstrap p-value of the likelihood ratio of ``k_alt`` against the fit ``null``.

    Parameters
    ----------
    null : EMGLMResults
        The fit with fewer components (simulated from).
    k_alt : int
        Components of the alternative.
    lr : float
        Observed statistic ``2 (llf_alt - llf_null)``.
    n_boot : int
        Simulated data sets.
    random_state, n_jobs, progress
        Seed, worker processes, tqdm bar.
    n_starts : int
        Starts of each alternative fit (the null fit starts from the null estimate). The
        alternative is also fitted from the null fit with one component split in two, for
        each component, and the best is kept: the simulated fits are searched at least as
        thoroughly as the observed one, which errs towards larger p-values.
    fit_options : dict, optional
        ``tol``, ``maxiter``, ``accelerate``, ``start`` for the alternative fits.

    Returns
    -------
    dict with ``p_boot``, ``lr_boot`` (the simulated statistics) and ``n_failed``.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm import EMGLM
    >>> y = np.random.default_rng(0).poisson(3.0, 80)
    >>> m1 = EMGLM(y, np.ones((80, 1)), k=1, family=sm.families.Poisson()).fit()
    >>> m2 = EMGLM(y, np.ones((80, 1)), k=2, family=sm.families.Poisson()).fit()
    >>> out = bootstrap_lrt(m1, 2, 2 * (m2.llf - m1.llf), n_boot=4, random_state=0, n_starts=1)
    >>> 0 < out["p_boot"] <= 1
    True
    """
    m = null.model
    if np.any(m.freq_weights != 1):
        raise ValueError("bootstrap: the likelihood-ratio bootstrap needs unweighted rows (weights= given)")
    b = _bundle(m)
    fit_options = dict(fit_options or {})
    fit_options.pop("n_jobs", None)
    b.update(theta=np.asarray(null.theta, float), tol=fit_options.get("tol", 1e-8),
             maxiter=fit_options.get("maxiter", 1000), prior=np.asarray(null.prior, float),
             Mu=null.predict(which="components").to_numpy(), scale_arr=null.scale.to_numpy(),
             k_alt=int(k_alt), n_starts=int(n_starts), fit_options=fit_options)
    simulate(m.family, np.ones(1), 1.0, None, np.random.default_rng(0))  # unsupported family: fail now
    seeds = _seeds(random_state, n_boot, 29, int(k_alt))
    outs = _map_replicates(_lrt_task, b, seeds, n_jobs, progress, f"bootstrap LRT k={k_alt}")
    stats_ = np.array([o[1] for o in outs if o[0] == "ok"])
    n_failed = sum(o[0] != "ok" for o in outs)
    p = (1.0 + np.sum(stats_ >= lr)) / (stats_.size + 1.0)
    return dict(p_boot=float(p), lr_boot=stats_, n_failed=int(n_failed))
