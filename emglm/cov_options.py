"""Validation of fit options shared by several modules: the covariance type and its options
(``cov_type``, ``cov_kwds``) and ``random_state``. All checks run before any work."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["COV_TYPES", "check_cov_type", "check_cov_kwds", "check_bootstrap_kwds", "check_random_state"]

COV_TYPES = ("oim", "opg", "robust", "cluster", "bootstrap", "none")


def check_cov_type(cov_type):
    """Validate ``cov_type`` (raised before any fitting work).

    Examples
    --------
    >>> check_cov_type("robust")
    'robust'
    """
    if not isinstance(cov_type, str) or cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    return cov_type


def check_cov_kwds(cov_type, cov_kwds, model):
    """Validate ``cov_kwds`` for ``cov_type`` against ``model`` (raised before any fitting work).

    ``"cluster"``: ``groups`` (required), one label per row used by the model (an array of
    that length, or a pandas Series indexed like the model's data, which may hold extra
    rows, e.g. those dropped for missing values), and ``use_correction`` (default True, the
    small-sample factor ``G/(G-1) (N-1)/(N-K)``). ``"bootstrap"``: see
    :func:`emglm.bootstrap.check_bootstrap_kwds`. Other covariance types take none.

    Returns
    -------
    dict
        The normalised options; for ``"cluster"`` the integer cluster code of every row
        (``codes``), the number of clusters (``n_clusters``) and ``use_correction``.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> m = EMGLM(np.arange(6.0), np.ones((6, 1)), k=1)
    >>> check_cov_kwds("cluster", {"groups": [0, 0, 1, 1, 2, 2]}, m)["n_clusters"]
    3
    """
    check_cov_type(cov_type)
    if cov_kwds is None:
        cov_kwds = {}
    if not isinstance(cov_kwds, dict):
        raise TypeError(f"cov_kwds must be a dict or None, got {type(cov_kwds).__name__}")
    if cov_type == "bootstrap":
        return check_bootstrap_kwds(cov_kwds)
    if cov_type != "cluster":
        if cov_kwds:
            raise ValueError(f"cov_kwds: cov_type={cov_type!r} takes no options, got "
                             f"{', '.join(sorted(cov_kwds))}")
        return {}
    unknown = set(cov_kwds) - {"groups", "use_correction"}
    if unknown:
        raise ValueError(f"cov_kwds: unknown option(s) for cov_type='cluster': {', '.join(sorted(unknown))}")
    if cov_kwds.get("groups") is None:
        raise ValueError("cov_kwds: cov_type='cluster' needs cov_kwds={'groups': labels}, one label per row")
    codes = _cluster_codes(cov_kwds["groups"], model)
    return dict(codes=codes, n_clusters=int(codes.max()) + 1,
                use_correction=bool(cov_kwds.get("use_correction", True)))


def _cluster_codes(groups, model):
    import pandas as pd

    n = model.exog.shape[0]
    if isinstance(groups, pd.Series) and len(groups) != n:
        missing = ~model.row_index.isin(groups.index)
        if missing.any():
            raise ValueError(f"cov_kwds['groups']: the Series lacks {int(missing.sum())} row label(s) "
                             "of the model's data")
        groups = groups.loc[model.row_index]
    g = np.asarray(groups)
    if g.ndim != 1 or g.shape[0] != n:
        raise ValueError(f"cov_kwds['groups'] must have one label per row used ({n}), got shape {g.shape}")
    if pd.isna(g).any():
        raise ValueError(f"cov_kwds['groups'] has {int(pd.isna(g).sum())} missing label(s)")
    codes = pd.factorize(g, sort=True)[0]
    if codes.max() < 1:
        raise ValueError("cov_kwds['groups'] must have at least two clusters")
    if model.group_codes is not None:  # a model group (one latent class) must lie in one cluster
        per_group = pd.Series(codes).groupby(model.group_codes).nunique()
        if per_group.max() > 1:
            raise ValueError("cov_kwds['groups']: each group of the model (groups=) must lie within "
                             f"one cluster; {int((per_group > 1).sum())} group(s) span several")
    return codes


_BOOT_DEFAULTS = dict(n_boot=200, random_state=None, n_jobs=1, progress=False, tol=1e-8, maxiter=1000)


def check_jobs(n_jobs, name="n_jobs"):
    from .parallel import available_cores

    if n_jobs is None or (isinstance(n_jobs, (int, np.integer)) and not isinstance(n_jobs, bool)
                          and int(n_jobs) == -1):
        return available_cores()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"{name} must be a positive integer, -1 or None (all cores), got {n_jobs!r}")
    return int(n_jobs)


def check_bootstrap_kwds(cov_kwds):
    """Validate the options of ``cov_type="bootstrap"`` (before any work).

    ``n_boot`` (200) replicates, ``random_state`` (None, an integer or a numpy Generator),
    ``n_jobs`` (1; worker processes, -1 or None for every core), ``progress`` (False; a tqdm
    bar), ``tol`` (1e-8) and ``maxiter`` (1000) of each replicate's EM.

    Examples
    --------
    >>> check_bootstrap_kwds({"n_boot": 50})["n_boot"]
    50
    """
    unknown = set(cov_kwds) - set(_BOOT_DEFAULTS)
    if unknown:
        raise ValueError(f"cov_kwds: unknown option(s) for cov_type='bootstrap': {', '.join(sorted(unknown))} "
                         f"(allowed: {', '.join(_BOOT_DEFAULTS)})")
    out = dict(_BOOT_DEFAULTS, **cov_kwds)
    nb = out["n_boot"]
    if isinstance(nb, bool) or not isinstance(nb, (numbers.Integral, np.integer)) or nb < 2:
        raise ValueError(f"cov_kwds['n_boot'] must be an integer >= 2, got {nb!r}")
    out["n_boot"] = int(nb)
    out["n_jobs"] = check_jobs(out["n_jobs"], "cov_kwds['n_jobs']")
    if not (isinstance(out["tol"], numbers.Real) and out["tol"] > 0):
        raise ValueError(f"cov_kwds['tol'] must be a positive number, got {out['tol']!r}")
    mi = out["maxiter"]
    if isinstance(mi, bool) or not isinstance(mi, (numbers.Integral, np.integer)) or mi < 1:
        raise ValueError(f"cov_kwds['maxiter'] must be a positive integer, got {mi!r}")
    rs = out["random_state"]
    if not (rs is None or isinstance(rs, np.random.Generator)
            or isinstance(rs, (numbers.Integral, np.integer)) and not isinstance(rs, bool)):
        raise TypeError(f"cov_kwds['random_state'] must be None, an integer or a numpy Generator, got {rs!r}")
    out["progress"] = bool(out["progress"])
    return out


def check_random_state(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None or isinstance(random_state, (numbers.Integral, np.integer)):
        return np.random.default_rng(random_state)
    raise TypeError(f"random_state must be None, an integer or a numpy Generator, got {random_state!r}")
