"""Choosing the number of components: fit a range of k and compare information criteria.

The analogue of flexmix's ``stepFlexmix``: every k in ``ks`` is fitted (with ``n_starts``
starts each, the best kept) and the table of log-likelihoods and AIC, BIC and ICL says which
k to keep.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd

from .data import check_k
from .warmup import progress_iter
from .warnings import ModelWarning

__all__ = ["select_k", "SelectKResult", "CRITERIA"]

CRITERIA = ("bic", "aic", "icl")

#: keyword arguments of select_k that belong to EMGLM.fit rather than to the model
_FIT_OPTIONS = ("start", "tol", "maxiter", "accelerate", "warmup", "n_jobs")


class SelectKResult:
    """What :func:`select_k` returns.

    Attributes
    ----------
    table : DataFrame
        One row per k (in the order given): ``k, llf, df, aic, bic, icl, converged``.
    criterion : str
        The criterion used to choose (smaller is better).
    best_k : int
        The chosen number of components.
    best : EMGLMResults
        The fit for ``best_k``.
    fits : dict
        ``{k: EMGLMResults}`` for every k.
    """

    def __init__(self, table, fits, criterion):
        self.table = table
        self.fits = fits
        self.criterion = criterion
        vals = table.set_index("k")[criterion]
        self.best_k = int(vals.idxmin())
        self.best = fits[self.best_k]

    def __getitem__(self, k):
        return self.fits[k]

    def __repr__(self):
        return (f"<SelectKResult: best k={self.best_k} by {self.criterion.upper()}>\n"
                f"{self.table.to_string(index=False)}")


def _check_ks(ks):
    if isinstance(ks, (numbers.Integral, np.integer)) and not isinstance(ks, bool):
        ks = [ks]
    try:
        ks = list(ks)
    except TypeError:
        raise TypeError(f"ks must be an iterable of integers (e.g. range(1, 5)), got {ks!r}") from None
    if not ks:
        raise ValueError("ks must contain at least one number of components")
    for k in ks:
        check_k(k)
    if len(set(ks)) != len(ks):
        raise ValueError(f"ks must not repeat a number of components, got {ks}")
    return [int(k) for k in ks]


def select_k(formula, data, ks=range(1, 5), family=None, criterion="bic", n_starts=5,
             random_state=None, progress=False, bootstrap=None, **model_options):
    """Fit mixtures with each number of components in ``ks`` and choose k by a criterion.

    Parameters
    ----------
    formula : str
        R-style formula, as for :meth:`EMGLM.from_formula`.
    data : DataFrame
    ks : iterable of int
        Numbers of components to try (default 1 to 4).
    family : statsmodels family instance, optional
        Default Gaussian.
    criterion : {"bic", "aic", "icl"}
        Smaller is better; ICL (BIC plus twice the classification entropy) favours
        well-separated components.
    n_starts : int
        Starts per k (the best by llf is kept); k = 1 needs only one.
    random_state : int, numpy Generator or None
        One random seed for the whole run: each k gets its own stream derived from it, so a
        given k's fit does not depend on which other ks were tried.
    progress : bool
        Show a tqdm progress bar over the ks (and over bootstrap replicates; needs tqdm).
    bootstrap : int, optional
        Number of parametric bootstrap replicates of the likelihood-ratio test of each k
        against the previous one in ``ks`` (McLachlan 1987; mixtools' ``boot.comp``): adds
        the columns ``lr`` (``2 (llf_k - llf_prev)``) and ``p_boot`` to the table (NaN in
        the first row). ``ks`` must then increase. Replicates run in ``n_jobs`` processes;
        see :func:`emglm.bootstrap.bootstrap_lrt`.
    **model_options
        Passed to :meth:`EMGLM.from_formula` (``offset``, ``exposure``, ``weights``,
        ``mixing``, ``concomitant``, ``fixed``, ``groups``, ``point_mass``, ``scale``...);
        ``start``, ``tol``, ``maxiter``, ``accelerate``, ``warmup`` and ``n_jobs`` go to
        :meth:`EMGLM.fit`.

    Returns
    -------
    SelectKResult
        ``.table`` (k, llf, df, aic, bic, icl, converged), ``.best``, ``.best_k``, ``.fits``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, statsmodels.api as sm
    >>> import emglm
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.uniform(-1, 1, 600)})
    >>> df["y"] = rng.poisson(np.exp(np.where(rng.random(600) < 0.5, 2 + df.x, 0.2 - df.x)))
    >>> sel = emglm.select_k("y ~ x", df, ks=[1, 2, 3], family=sm.families.Poisson(),
    ...                      random_state=0)
    >>> sel.best_k
    2
    >>> list(sel.table.columns)
    ['k', 'llf', 'df', 'aic', 'bic', 'icl', 'converged']
    """
    from .cov_options import check_random_state
    from .model import EMGLM

    ks = _check_ks(ks)
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if isinstance(n_starts, bool) or not isinstance(n_starts, (numbers.Integral, np.integer)) or n_starts < 1:
        raise ValueError(f"n_starts must be a positive integer, got {n_starts!r}")
    if "k" in model_options:
        raise TypeError("select_k: pass the numbers of components as ks, not k")
    if bootstrap is not None:
        if isinstance(bootstrap, bool) or not isinstance(bootstrap, (numbers.Integral, np.integer)) or bootstrap < 1:
            raise ValueError(f"bootstrap must be a positive integer (replicates) or None, got {bootstrap!r}")
        if any(b <= a for a, b in zip(ks, ks[1:])):
            raise ValueError(f"ks must increase for the bootstrap test of k against the previous k, got {ks}")
        if model_options.get("weights") is not None:
            raise ValueError("bootstrap: the likelihood-ratio bootstrap needs unweighted rows (weights= given)")
    fit_options = {name: model_options.pop(name) for name in _FIT_OPTIONS if name in model_options}
    if "eval_env" not in model_options:
        import patsy

        # formula terms such as np.log(x) or user functions resolve in the caller's namespace
        model_options["eval_env"] = patsy.EvalEnvironment.capture(1)
    rng = check_random_state(random_state)
    # one stream per k from (base, k): a k's fit depends on random_state and k only
    base = int(rng.integers(0, 2**63 - 1))
    fits, rows = {}, []
    for k in progress_iter(ks, progress, "select_k", total=len(ks)):
        seed = np.random.SeedSequence([base, k])
        with warnings.catch_warnings():
            # the formula's dropped-rows warning would repeat once per k: show it once
            if fits:
                from .warnings import DroppedRowsWarning

                warnings.simplefilter("ignore", DroppedRowsWarning)
            model = EMGLM.from_formula(formula, data, k=k, family=family, **model_options)
        with warnings.catch_warnings():
            # the table compares the criteria itself: the per-fit "BIC prefers fewer" hint is noise
            warnings.filterwarnings("ignore", message="BIC prefers fewer", category=ModelWarning)
            res = model.fit(n_starts=1 if k == 1 else n_starts, random_state=np.random.default_rng(seed),
                            **fit_options)
        fits[k] = res
        rows.append(dict(k=k, llf=res.llf, df=res.df_model, aic=res.aic, bic=res.bic,
                         icl=res.icl, converged=res.converged))
    table = pd.DataFrame(rows, columns=["k", "llf", "df", "aic", "bic", "icl", "converged"])
    if bootstrap is not None:
        table["lr"], table["p_boot"] = _bootstrap_column(fits, ks, bootstrap, base, n_starts, progress,
                                                         fit_options)
    return SelectKResult(table, fits, criterion)


def _bootstrap_column(fits, ks, n_boot, base, n_starts, progress, fit_options):
    """Observed LR and bootstrap p-value of each k against the previous k (NaN for the first)."""
    from .bootstrap import bootstrap_lrt
    from .cov_options import check_jobs

    n_jobs = check_jobs(fit_options.get("n_jobs", 1))
    lr, pb = [np.nan], [np.nan]
    for k0, k1 in zip(ks, ks[1:]):
        stat = max(2.0 * (fits[k1].llf - fits[k0].llf), 0.0)
        # the stream of a test depends on random_state and k only
        seed = int(np.random.default_rng(np.random.SeedSequence([base, k1, 7])).integers(0, 2**63 - 1))
        out = bootstrap_lrt(fits[k0], k1, stat, n_boot, random_state=seed, n_jobs=n_jobs, progress=progress,
                            n_starts=n_starts, fit_options=fit_options)
        lr.append(stat)
        pb.append(out["p_boot"])
    return lr, pb
