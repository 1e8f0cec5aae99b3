"""Is k too large? A smaller mixture, found cheaply, whose BIC is below the fit's.

A fit with more components than the data support does not end anywhere special: EM
splits a class in two, or puts a component on a handful of rows, and stops where nothing
nearby is better. Removing one component *without refitting* (the other proportions
renormalised) is often not enough to show it: the remaining components were fitted on the
assumption that the removed one takes its rows. So the search is:

1. For every component ``j`` the log-likelihood of the mixture without it, with nothing
   refitted, in closed form from the fit's posterior: the mixture density without ``j``
   is ``f (1 - T_uj) / (1 - pi_uj)`` (``f`` the mixture density, ``T`` the posterior,
   ``pi`` the prior of unit ``u``). One pass over the units, no densities recomputed.
2. The component whose removal costs least is removed: the other components keep their
   parameters and proportions (renormalised), which spreads its posterior shares over the
   others (for models other than GLMs, each is fitted to that posterior by one IRLS
   solve), and a few EM iterations follow,
   stopping as soon as its BIC is below the fit's, or once the remaining iterations cannot
   get there at the current rate of increase (``MAX_ITER`` at most). The fit's cached
   E-step is dropped first (it is made again when asked for), so that the search does not
   raise the fit's peak memory.

For k = 2 the smaller mixture is the one-component GLM, whose fit is made anyway (the
reference of :mod:`emglm.safeguards`): nothing more is fitted.

Every mixture met on the way is a real (k-1)-component mixture and its log-likelihood is
computed exactly, so a hint is never a guess: the maximum-likelihood (k-1)-component fit
has a log-likelihood at least as large, hence a BIC at least as low. For data with k
well-separated classes, removing any component costs a log-likelihood that grows with the
number of rows, the refit recovers only part of it and the search stops after one EM
iteration. The whole search costs about four EM iterations of the fit.

Examples
--------
>>> import numpy as np, warnings
>>> from emglm import EMGLM
>>> rng = np.random.default_rng(0)
>>> y = np.r_[rng.normal(-2, 1, 150), rng.normal(2, 1, 150)]
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     res = EMGLM(y, np.ones((300, 1)), k=6).fit()
>>> smaller = smaller_mixture(res.mixture, res.theta, res.model)
>>> smaller.mixture.k, bool(smaller.bic < res.bic)
(5, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fitting import reduced_posterior, run_em
from .layout import Params

__all__ = ["MAX_ITER", "SmallerMixture", "smaller_mixture", "fewer_components_hint"]

#: EM iterations at most on the smaller mixture (each costs one iteration of the fit)
MAX_ITER = 5
#: checked IRLS steps of each component's weighted fit to the posterior without the removed
#: component (models other than GLMs), after its first solve from the starting means: the fit
#: is only a start for the EM iterations, which refine it (a converged fit costs more)
REFIT_ITER = 0


@dataclass
class SmallerMixture:
    """A (k-1)-component mixture whose BIC is below that of the k-component fit.

    Attributes
    ----------
    mixture : emglm.mixture.Mixture
    theta : ndarray
        Its parameters (``mixture.objective(theta) == llf``).
    llf, bic : float
        Its log-likelihood and BIC.
    bic_k : float
        BIC of the k-component fit.
    removed : int or None
        Index of the component removed from the fit (in the fit's order); None when the
        smaller mixture is the one-component GLM.
    n_iter : int
        EM iterations run on the smaller mixture after its first fit.
    """

    mixture: object
    theta: np.ndarray
    llf: float
    bic: float
    bic_k: float
    removed: int
    n_iter: int


def removal_losses(mix, theta):
    """Log-likelihood lost by removing each regression class with nothing refitted, (k,).

    The other proportions are renormalised.

    Examples
    --------
    >>> import numpy as np, warnings
    >>> from emglm import EMGLM
    >>> y = np.r_[np.linspace(-1, 1, 50), np.linspace(9, 11, 50)]
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     res = EMGLM(y, np.ones((100, 1)), k=2).fit()
    >>> bool(np.all(removal_losses(res.mixture, res.theta) > 100))
    True
    """
    es = mix.estep(theta)
    Tu = np.asarray(es.Tunit)
    lp = mix.log_prior(theta)
    uw = mix.unit_w
    loss = np.empty(mix.k)
    tiny = np.finfo(float).tiny
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(mix.k):
            # log f_without_j = log f + log(1 - T_j) - log(1 - pi_j), unit by unit; 1 - T_j
            # summed from the other classes (exact where T_j rounds to 1), held above the
            # smallest float (a unit held by j alone costs about 708 nats, not infinitely
            # many); one array of the units' length at a time (peak memory)
            others = [c for c in range(mix.K) if c != j]
            rest = Tu[:, others[0]].copy()
            for c in others[1:]:
                rest += Tu[:, c]
            np.log(np.maximum(rest, tiny, out=rest), out=rest)
            if lp.shape[0] == 1:  # constant proportions
                loss[j] = float(uw.sum()) * np.log1p(-np.exp(lp[0, j])) - uw @ rest
            else:
                loss[j] = uw @ np.log1p(-np.exp(lp[:, j])) - uw @ rest
    return np.where(np.isnan(loss), np.inf, loss)


def _without(mix, theta, j, small):
    """Parameters of ``small`` (k-1 components): the fit's without class ``j``, the other
    proportions renormalised (multinomial logits: class j's logit dropped). Its posterior is
    the fit's with j's share spread over the others in proportion, and its log-likelihood
    the fit's minus ``removal_losses(...)[j]`` (with estimated proportions)."""
    P = mix.unpack(theta)
    keep = [c for c in range(mix.k) if c != j]
    gamma = small.mixing.start()
    if small.mixing.estimate:
        full = np.delete(np.vstack([np.zeros((1, P.gamma.shape[1])), P.gamma]), j, axis=0)
        gamma = full[1:] - full[0]  # (logits against the first remaining class)
    return small.pack(Params(P.beta[keep], P.delta, P.scale[keep], gamma))


def _n_bic(mix, model):
    return float(model.n_groups) if model.n_groups is not None else float(np.sum(mix.w))


def smaller_mixture(mix, theta, model, max_iter=MAX_ITER):
    """A (k-1)-component mixture with a lower BIC than the fit ``(mix, theta)``, or None.

    See the module description for the search; it costs one pass over the units, a short
    weighted fit of the smaller mixture and at most ``max_iter`` EM iterations.

    Parameters
    ----------
    mix : emglm.mixture.Mixture
        The fitted mixture.
    theta : ndarray
        Its estimate.
    model : EMGLM
        The model of the fit (with the fit's ``k``).
    max_iter : int

    Returns
    -------
    SmallerMixture or None

    Examples
    --------
    >>> import numpy as np, warnings
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(1)
    >>> y = np.r_[rng.normal(-4, 1, 200), rng.normal(4, 1, 200)]
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     res = EMGLM(y, np.ones((400, 1)), k=2).fit()
    >>> smaller_mixture(res.mixture, res.theta, res.model) is None
    True
    """
    k = mix.k
    if k < 2 or len(mix.regression) != 1 or getattr(model, "component_terms", None) is not None:
        return None  # (a model or a formula per component: none can be dropped)
    es = mix.estep(theta)
    if not np.isfinite(es.llf):
        return None
    log_n = np.log(_n_bic(mix, model))
    bic_k = -2.0 * float(es.llf) + log_n * mix.size
    if mix.K == 2 and mix.glm is not None:
        # one GLM fewer is the one-component GLM (the reference of the checks), fitted with
        # the fit's E-step let go (peak memory)
        from .one_component import is_fitted, one_component_fit, one_component_llf

        if not is_fitted(model):
            es = None
            mix.clear_cache()
        llf1 = one_component_llf(model)
        df1 = mix.p + mix.q + (1 if mix.glm.has_scale else 0)
        if not (np.isfinite(llf1) and -2.0 * llf1 + log_n * df1 < bic_k):
            return None
        base, theta1 = one_component_fit(model)
        return SmallerMixture(base, theta1, llf1, -2.0 * llf1 + log_n * base.size, bic_k, None, 0)
    losses = removal_losses(mix, theta)
    j = int(np.argmin(losses))
    if not np.isfinite(losses[j]):
        return None
    T = None if mix.glm is not None else reduced_posterior(es.T, [c for c in range(mix.K) if c != j])
    # the fit's E-step (posteriors, densities: about 2.5 times the design for k=3) is dropped
    # while the smaller mixture is fitted, and made again when asked for (one E-step), so
    # that the hint does not raise the fit's peak memory
    es = None
    mix.clear_cache()
    glm = mix.glm
    small = model.make_mixture(k=k - 1, var_floor=glm.var_floor if glm is not None else None,
                               standardisation=glm.standardisation if glm is not None else None)
    need = -(bic_k - log_n * small.size) / 2.0  # the llf whose BIC equals the fit's
    with np.errstate(all="ignore"):
        # GLM classes: the fit's other classes as they are; other models: one weighted fit
        # of each to the posterior without class j
        theta0 = _without(mix, theta, j, small) if T is None else small.fit_from_posterior(T, maxiter=REFIT_ITER)
        del T
        llf0 = float(small.objective(theta0))
    if not np.isfinite(llf0):
        return None
    if llf0 > need:
        return SmallerMixture(small, theta0, llf0, -2.0 * llf0 + log_n * small.size, bic_k, j, 0)

    track = {"llf": llf0, "it": 0, "ok": False}

    def enough(th):
        # stop once below the fit's BIC, or when the remaining iterations at the current
        # increase (EM's increases shrink) cannot reach it
        ll = float(small.objective(th))
        gain, track["llf"] = ll - track["llf"], ll
        track["it"] += 1
        track["ok"] = ll > need
        return track["ok"] or (need - ll) > (max_iter - track["it"]) * max(gain, 0.0)

    with np.errstate(all="ignore"):
        out = run_em(small, theta0, 1e-12, max_iter, keep_history=False, stop="llf", callback=enough)
    if not track["ok"]:
        return None
    llf = float(small.objective(out.params))
    return SmallerMixture(small, out.params, llf, -2.0 * llf + log_n * small.size, bic_k, j, track["it"])


def fewer_components_hint(mix, theta, model, names=None):
    """Messages saying that BIC prefers fewer components (empty when no smaller mixture
    with a lower BIC was found; see :func:`smaller_mixture`).

    Examples
    --------
    >>> import numpy as np, warnings
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[rng.normal(-2, 1, 150), rng.normal(2, 1, 150)]
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     res = EMGLM(y, np.ones((300, 1)), k=6).fit()
    >>> msgs = fewer_components_hint(res.mixture, res.theta, res.model)
    >>> "BIC prefers fewer than k=6 components" in msgs[0]
    True
    """
    try:
        found = smaller_mixture(mix, theta, model)
    except (np.linalg.LinAlgError, ArithmeticError, ValueError):
        # a smaller mixture that cannot be fitted gives no hint; the fit itself stands
        return []
    if found is None:
        return []
    names = names or [f"comp{j + 1}" for j in range(mix.k)]
    it = found.n_iter
    bics = f"BIC {found.bic:.6g}, below this fit's {found.bic_k:.6g}"
    if found.removed is None:
        what = f"the one-component model has {bics}"
    else:
        runs = f" ({it} EM iteration{'s' if it > 1 else ''})" if it else ""
        what = (f"removing {names[found.removed]} and refitting the others{runs} gives a "
                f"{mix.k - 1}-component mixture with {bics} (the maximum-likelihood fit with "
                f"k={mix.k - 1} does at least as well)")
    return [f"BIC prefers fewer than k={mix.k} components: {what}; compare fits with fewer components "
            "(emglm.select_k or the bic of each fit)"]
