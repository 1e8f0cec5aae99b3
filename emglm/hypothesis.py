"""Tests of linear restrictions on the parameters: ``t_test``, ``wald_test``, ``f_test``.

The restrictions ``R theta = q`` act on the flat parameter vector in the order of
``res.cov_params()`` (dispersions on their natural scale). Each parameter is named
``component:term``, e.g. ``comp1:x``, ``comp2:Intercept``, ``shared:w``, ``comp1:scale``
and ``mixing:comp2:Intercept`` (the mixing logit of ``comp2`` against the first class), so
restrictions can be written as strings as in statsmodels: ``"comp1:x = comp2:x"`` or
``"comp1:x - comp2:x = 0, comp1:Intercept = comp2:Intercept"``. Strings are parsed by
patsy's linear-constraint parser; results are statsmodels ``ContrastResults``.

With ``cov_type="bootstrap"`` the tests use the bootstrap covariance (a Wald test with
bootstrap standard errors).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from emglm import EMGLM
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"x": rng.normal(size=400)})
>>> df["y"] = np.where(rng.random(400) < 0.5, -2 + df.x, 2 + df.x) + rng.normal(0, 0.5, 400)
>>> res = EMGLM.from_formula("y ~ x", df, k=2).fit()
>>> tt = res.t_test("comp1:x = comp2:x")   # the slope is the same in both classes
>>> bool(tt.pvalue > 0.05)
True
>>> bool(res.wald_test("comp1:Intercept = comp2:Intercept").pvalue < 1e-10)
True
"""

from __future__ import annotations

import numpy as np
from statsmodels.stats.contrast import ContrastResults

__all__ = ["param_names", "linear_restriction", "t_test", "wald_test", "f_test"]


def param_names(res):
    """Flat names ``component:term`` of the parameters, in ``cov_params()`` order.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> y = np.r_[np.zeros(50), np.ones(50) * 5] + np.random.default_rng(0).normal(size=100)
    >>> param_names(EMGLM(y, np.ones((100, 1)), k=2).fit())
    ['comp1:x', 'comp2:x', 'comp1:scale', 'comp2:scale', 'mixing:comp2:Intercept']
    """
    return [f"{c}:{t}" for c, t in res.cov_params().index]


def linear_restriction(res, r_matrix, q_matrix=None):
    """``(R, q)`` of a restriction given as a string, a list of strings, an array or a tuple.

    Parameters
    ----------
    res : EMGLMResults
    r_matrix : str, list of str, array_like or tuple ``(R, q)``
        Strings name parameters as in :func:`param_names`; an array has one column per
        parameter.
    q_matrix : array_like, optional
        Right-hand side for an array ``r_matrix`` (default zeros).

    Returns
    -------
    R : ndarray (J, dim), q : ndarray (J,)

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> y = np.r_[np.zeros(50), np.ones(50) * 5] + np.random.default_rng(0).normal(size=100)
    >>> res = EMGLM(y, np.ones((100, 1)), k=2).fit()
    >>> R, q = linear_restriction(res, "comp1:scale = comp2:scale")
    >>> R.tolist(), q.tolist()
    ([[0.0, 0.0, 1.0, -1.0, 0.0]], [0.0])
    """
    names = param_names(res)
    dim = len(names)
    if isinstance(r_matrix, str) or (isinstance(r_matrix, (list, tuple)) and r_matrix
                                     and all(isinstance(s, str) for s in r_matrix)):
        if q_matrix is not None:
            raise ValueError("q_matrix: give the right-hand side inside the restriction string")
        import patsy

        try:
            lc = patsy.DesignInfo(names).linear_constraint(r_matrix)
        except patsy.PatsyError as exc:
            raise ValueError(f"r_matrix: cannot parse {r_matrix!r}: {exc}. Parameters are named "
                             f"{', '.join(names)}") from None
        return np.asarray(lc.coefs, float), np.asarray(lc.constants, float).ravel()
    if isinstance(r_matrix, tuple) and len(r_matrix) == 2 and q_matrix is None:
        r_matrix, q_matrix = r_matrix
    try:
        R = np.atleast_2d(np.asarray(r_matrix, dtype=float))
    except (TypeError, ValueError):
        raise TypeError(f"r_matrix must be a string, a list of strings or a numeric array, "
                        f"got {type(r_matrix).__name__}") from None
    if R.ndim != 2 or R.shape[1] != dim:
        raise ValueError(f"r_matrix must have {dim} columns (one per parameter: {', '.join(names)}), "
                         f"got shape {R.shape}")
    q = np.zeros(R.shape[0]) if q_matrix is None else np.asarray(q_matrix, dtype=float).ravel()
    if q.shape != (R.shape[0],):
        raise ValueError(f"q_matrix must have {R.shape[0]} values (one per row of r_matrix), got {q.size}")
    if not (np.all(np.isfinite(R)) and np.all(np.isfinite(q))):
        raise ValueError("r_matrix and q_matrix must be finite")
    return R, q


def _estimates(res, cov_p=None):
    """Parameter vector and covariance (``cov_params()`` order), checked for use in tests."""
    b = res.params_flat.to_numpy()
    V = res.cov_params().to_numpy() if cov_p is None else np.asarray(cov_p, dtype=float)
    if V.shape != (b.size, b.size):
        raise ValueError(f"cov_p must be ({b.size}, {b.size}), got {V.shape}")
    if not np.all(np.isfinite(V)):
        raise ValueError(f"no covariance of the estimates (cov_type={res.cov_type!r}): fit with "
                         "cov_type='oim' (or 'opg', 'robust', 'cluster', 'bootstrap') to test")
    return b, V


def t_test(res, r_matrix, q_matrix=None, cov_p=None):
    """z tests of each row of ``R theta = q`` (see :meth:`EMGLMResults.t_test`).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> y = np.r_[np.zeros(60), np.ones(60) * 5] + np.random.default_rng(0).normal(size=120)
    >>> res = EMGLM(y, np.ones((120, 1)), k=2).fit()
    >>> t_test(res, "comp2:x - comp1:x = 5").summary_frame().shape
    (1, 6)
    """
    R, q = linear_restriction(res, r_matrix, q_matrix)
    b, V = _estimates(res, cov_p)
    effect = R @ b
    sd = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", R, V, R), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = (effect - q) / sd
    out = ContrastResults(effect=effect, statistic=stat, sd=sd, df_denom=res.df_resid,
                          distribution="norm")
    if isinstance(r_matrix, str) or (isinstance(r_matrix, (list, tuple)) and r_matrix
                                     and all(isinstance(s, str) for s in r_matrix)):
        labels = [s.strip() for s in (r_matrix.split(",") if isinstance(r_matrix, str) else r_matrix)]
        if len(labels) == effect.size:
            out.c_names = labels
    return out


def wald_test(res, r_matrix, q_matrix=None, cov_p=None, use_f=False, scalar=True):
    """Joint Wald test of ``R theta = q`` (see :meth:`EMGLMResults.wald_test`).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> y = np.r_[np.zeros(60), np.ones(60) * 5] + np.random.default_rng(0).normal(size=120)
    >>> res = EMGLM(y, np.ones((120, 1)), k=2).fit()
    >>> int(wald_test(res, "comp1:x = 0, comp2:x = 5").df_denom)
    2
    """
    if not scalar:
        raise ValueError("scalar: only scalar=True (statsmodels' future default) is supported")
    R, q = linear_restriction(res, r_matrix, q_matrix)
    b, V = _estimates(res, cov_p)
    d = R @ b - q
    RVR = R @ V @ R.T
    J = int(np.linalg.matrix_rank(RVR))
    if J < R.shape[0]:
        import warnings

        from statsmodels.tools.sm_exceptions import ValueWarning

        warnings.warn(f"covariance of the {R.shape[0]} restrictions has rank {J}: the test uses "
                      "a pseudo-inverse and that many degrees of freedom", ValueWarning, stacklevel=3)
    stat = float(d @ np.linalg.pinv(RVR) @ d)
    if use_f:
        return ContrastResults(F=stat / J, df_denom=res.df_resid, df_num=J)
    return ContrastResults(chi2=stat, df_denom=J, statistic=stat, distribution="chi2", distargs=(J,))


def f_test(res, r_matrix, q_matrix=None, cov_p=None):
    """F form of :func:`wald_test`: ``F = W / J`` on ``(J, df_resid)`` degrees of freedom.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> y = np.r_[np.zeros(60), np.ones(60) * 5] + np.random.default_rng(0).normal(size=120)
    >>> res = EMGLM(y, np.ones((120, 1)), k=2).fit()
    >>> int(f_test(res, "comp1:scale = comp2:scale").df_num)
    1
    """
    return wald_test(res, r_matrix, q_matrix, cov_p, use_f=True)

