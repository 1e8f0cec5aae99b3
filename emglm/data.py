"""Validation and preparation of the model's data, all done before any fitting work.

Every error names the offending argument or column. Rows with missing or non-finite
values are dropped (``missing="drop"``, with a count in a warning) or rejected
(``missing="raise"``). Inputs are copied, never modified.
"""

from __future__ import annotations

import numbers
import re
import warnings

import numpy as np
import pandas as pd
import statsmodels.genmod.families as smf

from .families import check_family
from .warnings import DroppedRowsWarning

__all__ = ["prepare_data", "check_k", "align_to_index", "check_formula_missing", "check_numeric_response",
           "check_finite_density", "MIXING_MODES", "MISSING_MODES", "SCALE_MODES"]

MIXING_MODES = ("estimate", "equal")
MISSING_MODES = ("drop", "raise", "none")
SCALE_MODES = ("component", "shared")


def check_k(k, nobs=None):
    """Validate the number of components.

    Examples
    --------
    >>> check_k(2, 10)
    2
    """
    if isinstance(k, bool) or not isinstance(k, (numbers.Integral, np.integer)):
        raise TypeError(f"k must be an integer number of components, got {k!r}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if nobs is not None and k > nobs:
        raise ValueError(f"k={k} exceeds the number of observations ({nobs})")
    return int(k)


def _names(obj, prefix, ncol):
    if isinstance(obj, pd.DataFrame):
        return [str(c) for c in obj.columns]
    if isinstance(obj, pd.Series) and obj.name is not None:
        return [str(obj.name)]
    return [prefix] if ncol == 1 else [f"{prefix}{i}" for i in range(ncol)]


def _to_float(name, obj):
    """``obj`` as a float array (a copy); TypeError naming the argument or column if not numeric.

    pandas nullable columns (``Int64``, ``Float64``, ``boolean``) become NaN where missing.
    """
    if isinstance(obj, pd.Series):
        obj = obj.to_frame()
        squeeze = True
    else:
        squeeze = False
    if isinstance(obj, pd.DataFrame):
        for col in obj.columns:
            dt = obj[col].dtype
            if not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)) \
                    or pd.api.types.is_complex_dtype(dt):
                raise TypeError(
                    f"{name}: column {str(col)!r} is not numeric (dtype {dt}); convert it or, for a "
                    "categorical variable, use a formula (C(...)) or dummy coding"
                )
        a = obj.to_numpy(dtype=float, na_value=np.nan)
        return a[:, 0] if squeeze else a
    arr = np.asarray(obj)
    if arr.dtype.kind in "USO" and arr.size:
        # numpy turns "1.5" into 1.5 silently: text is refused rather than guessed at
        flat = arr.ravel()
        text = flat[[isinstance(v, (str, bytes, np.str_, np.bytes_)) for v in flat]]
        if text.size:
            what = f"{name} must be numeric" + (" (the response must be numeric)" if name == "endog" else "")
            raise TypeError(f"{what}, got text values such as {str(text[0])!r}; convert them "
                            "to numbers first (e.g. with pandas.to_numeric)")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real-valued, got complex values")
    try:
        return np.array(arr, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric: {exc}") from None


def _as_2d(name, obj, n=None):
    if obj is None:
        return None
    try:
        a = _to_float(name, obj)
    except ValueError as exc:  # ragged nested sequences
        raise TypeError(f"{name} must be numeric: {exc}") from None
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be 1- or 2-dimensional, got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} has {a.shape[0]} rows but endog has {n}")
    # an array that owns its memory is already _to_float's copy; a view (of a data frame's
    # block, or a column made 2-d) is copied, so the user's data are never shared
    return a if a.base is None and a.flags.c_contiguous else np.array(a, order="C")


def _as_1d(name, obj, n):
    if obj is None:
        return None
    if isinstance(obj, str):
        raise TypeError(f"{name} must be an array of numbers (a column name only works with from_formula), got {obj!r}")
    if isinstance(obj, (pd.DataFrame,)) and obj.shape[1] == 1:
        obj = obj.iloc[:, 0]
    try:
        a = _to_float(name, obj)
    except ValueError as exc:
        raise TypeError(f"{name} must be numeric: {exc}") from None
    if a.ndim == 0:
        raise ValueError(f"{name} must be an array of length {n}, got a scalar")
    a = np.squeeze(a) if a.ndim > 1 and a.size == n else a
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name} must have length {n} (one value per row), got shape {np.shape(obj)}")
    return a.copy()


def _check_aligned(ref_name, ref, others):
    """pandas inputs must share the response's row index (as statsmodels requires)."""
    if not isinstance(ref, (pd.Series, pd.DataFrame)):
        return
    for name, obj in others:
        if isinstance(obj, (pd.Series, pd.DataFrame)) and not obj.index.equals(ref.index):
            raise ValueError(
                f"the index of {name} is not aligned with the index of {ref_name}; "
                "pass arrays or reindex so that rows match"
            )


def align_to_index(name, obj, ref_name, ref_index):
    """A pandas per-row option (offset, exposure, weights, groups) matched to the data's rows
    by index label, as pandas aligns; anything else is returned unchanged (by position).

    The option's index may list the rows in another order or hold more labels (a frame that
    was sorted or subset after the option was made). ValueError naming the option when a row
    label of the data is missing from its index, or either index repeats labels.

    Examples
    --------
    >>> import pandas as pd
    >>> off = pd.Series([1.0, 2.0, 3.0], index=[2, 0, 1])
    >>> align_to_index("offset", off, "data", pd.RangeIndex(3)).tolist()
    [2.0, 3.0, 1.0]
    >>> align_to_index("offset", off, "data", pd.Index([0, 1, 5]))
    Traceback (most recent call last):
    ...
    ValueError: offset: a pandas Series is matched to the rows of data by its index, and the indexes differ (1 of data's 3 row labels, e.g. '5', are not in the index of offset); reindex it, or pass offset.to_numpy() to pair values by position
    """
    if not isinstance(obj, (pd.Series, pd.DataFrame)) or ref_index is None:
        return obj
    if obj.index.equals(ref_index):
        return obj
    unique = obj.index.is_unique and ref_index.is_unique
    missing = ref_index[~ref_index.isin(obj.index)]
    if unique and len(missing) == 0:  # same labels in another order, or a superset: select
        return obj.reindex(ref_index)
    if len(missing):
        detail = (f"{len(missing)} of {ref_name}'s {len(ref_index)} row labels, e.g. {str(missing[0])!r}, "
                  f"are not in the index of {name}")
    else:
        detail = "an index has repeated labels"
    kind = "Series" if isinstance(obj, pd.Series) else "DataFrame"
    raise ValueError(
        f"{name}: a pandas {kind} is matched to the rows of {ref_name} by its index, and the "
        f"indexes differ ({detail}); reindex it, or pass {name}.to_numpy() to pair values by position"
    )


def _bad_columns(name, a, colnames):
    """Descriptions of the columns of ``a`` holding missing or non-finite values."""
    if a is None:
        return []
    a2 = a if a.ndim == 2 else a[:, None]
    out = []
    for j in range(a2.shape[1]):
        nb = int(np.sum(~np.isfinite(a2[:, j])))
        if nb:
            label = (f"{name} column {colnames[j]!r}" if colnames is not None and a2.shape[1] > 1
                     or colnames is not None and colnames[j] not in (name, "y", "x", "x0")
                     else name)
            out.append(f"{label}: {nb} value(s)")
    return out


_IDENT = re.compile(r"""Q\(\s*(['"])(.+?)\1\s*\)|([A-Za-z_][A-Za-z0-9_]*)""")


def check_formula_missing(data, formulas, missing):
    """Under ``missing="raise"`` (or ``"none"``), a ValueError naming the data columns used by
    the formulas that hold missing values (patsy's own error names only the formula term).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> df = pd.DataFrame({"y": [1.0, 2.0], "x": [np.nan, 1.0]})
    >>> check_formula_missing(df, ["y ~ x"], "raise")
    Traceback (most recent call last):
    ...
    ValueError: column 'x' has 1 missing value(s) (used by the formula); use missing='drop' to drop those rows
    """
    if missing == "drop":
        return
    used = []
    for f in formulas:
        if not isinstance(f, str):
            continue
        for m in _IDENT.finditer(f):
            name = m.group(2) if m.group(2) is not None else m.group(3)
            if name in data.columns and name not in used:
                used.append(name)
    bad = [(c, int(pd.isna(data[c]).sum())) for c in used]
    bad = [(c, nb) for c, nb in bad if nb]
    if bad:
        what = "; ".join(f"column {c!r} has {nb} missing value(s)" for c, nb in bad)
        raise ValueError(f"{what} (used by the formula); use missing='drop' to drop those rows")


def check_numeric_response(endog_info):
    """TypeError when a formula's response is not numeric (patsy coded it as categories).

    patsy turns a text or boolean response into one indicator column per level, which would
    otherwise surface as a confusing "endog has 2 columns" error, or for Binomial silently
    count the first level as the success.

    Examples
    --------
    >>> import pandas as pd, patsy
    >>> df = pd.DataFrame({"s": ["a", "b", "a"], "x": [1.0, 2.0, 3.0]})
    >>> y, _ = patsy.dmatrices("s ~ x", df)
    >>> check_numeric_response(y.design_info)
    Traceback (most recent call last):
    ...
    TypeError: endog: the response 's' is not numeric (read as categories ['a', 'b']); code it as numbers in the data or the formula, e.g. "I((s == 'b') * 1) ~ ..." for a 0/1 response
    """
    if endog_info is None:
        return
    for factor, info in endog_info.factor_infos.items():
        if info.type == "categorical":
            name = factor.name()
            levels = list(info.categories)
            if not levels or set(levels) <= {False, True}:
                example = f"I({name} * 1)"
            else:
                example = f"I(({name} == {levels[-1]!r}) * 1)"
            raise TypeError(
                f"endog: the response {name!r} is not numeric (read as categories {levels}); code it "
                f'as numbers in the data or the formula, e.g. "{example} ~ ..." for a 0/1 response')


#: largest response magnitude accepted: its square (and a few products) stay below overflow
MAX_RESPONSE = 1e150


def check_finite_density(family, y, trials, weights, name="endog", offset=None):
    """ValueError when the response is too large for the family's log-density; returns the
    :class:`emglm.families.FamilyAdapter` it made (its y-only constant computed).

    The constant-mean one-component model (its ML dispersion included) must have a finite
    log-likelihood; otherwise every fit would end at ``-inf`` (e.g. a Poisson count of
    1e308, whose ``log(y!)`` overflows, or Gaussian values near 1e200, whose squares do).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> check_finite_density(sm.families.Poisson(), np.array([1e308, 1.0]), np.ones(2), np.ones(2))
    Traceback (most recent call last):
    ...
    ValueError: endog: values up to 1e+308 are too large in magnitude for the computations (their squares overflow); rescale the response
    """
    from .families import FamilyAdapter

    big = float(np.max(np.abs(y))) if np.size(y) else 0.0
    if big > MAX_RESPONSE:
        # squares of such values (variances, Pearson residuals, Gram terms) overflow
        raise ValueError(f"{name}: values up to {big:.3g} are too large in magnitude for the "
                         f"computations (their squares overflow); rescale the response")
    fa = FamilyAdapter(family, y, trials)
    w = np.asarray(weights, dtype=float)
    with np.errstate(all="ignore"):
        ybar = float(w @ fa.y) / float(w.sum())
        if isinstance(family, smf.Binomial):
            ybar = min(max(ybar, 1e-10), 1.0 - 1e-10)
        elif not ybar > 0 and not isinstance(family, smf.Gaussian):
            ybar = 1e-10
        mu = np.full(fa.y.shape, ybar)
        eta = np.full(fa.y.shape, float(family.link(np.array([ybar]))[0]))  # (a constant)
        try:
            scale = fa.scale_mle([mu], [w]) if fa.has_scale else 1.0
            scale = scale if np.isfinite(scale) and scale > 0 else 1.0
            ll = float(w @ fa.loglike(eta, mu, scale))
        except (ValueError, ArithmeticError):
            ll = np.nan
    if not np.isfinite(ll) or not np.isfinite(ybar):
        raise ValueError(
            f"{name}: values too large in magnitude for the {type(family).__name__} log-density "
            "(the constant-mean model's log-likelihood is not finite); rescale the response"
        )
    if offset is None or not np.any(offset != 0):
        return fa
    # the same model with the offset (centred, as an intercept would absorb its mean)
    with np.errstate(all="ignore"):
        off = np.asarray(offset, dtype=float)
        e2 = eta + off - float(w @ off) / float(w.sum())
        mu2 = family.link.inverse(e2)
        try:
            ll2 = float(w @ fa.loglike(e2, mu2, scale))
        except (ValueError, ArithmeticError):
            ll2 = np.nan
    if not np.isfinite(ll2):
        raise ValueError(
            "offset/exposure: values too large in magnitude (the constant-mean model's "
            f"log-likelihood with this offset is not finite for the {type(family).__name__} family)"
        )
    return fa


def prepare_data(endog, exog, family, offset=None, exposure=None, weights=None, fixed=None,
                 concomitant=None, groups=None, missing="drop", k=1, index=None,
                 exog_names=None, fixed_names=None, concomitant_names=None, endog_names=None,
                 extra=None):
    """Validate and align all per-row inputs; returns a dict of clean arrays.

    Returns keys: endog (proportion for Binomial), trials, exog, offset, exposure,
    weights, fixed, concomitant, groups (codes), group_labels, index, names, n_dropped,
    extra (the per-row arrays a component family asked for, see ``extra_data``; missing
    values, NaN, drop the row like any other, infinite values are kept: they are bounds).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> d = prepare_data(np.array([1.0, 2.0, np.nan]), np.ones((3, 1)), sm.families.Poisson(),
    ...                  missing="drop")  # doctest: +SKIP
    """
    family = check_family(family)
    if missing not in MISSING_MODES:
        raise ValueError(f"missing must be one of {MISSING_MODES}, got {missing!r}")
    if endog is None:
        raise ValueError("endog is required")
    if exog is None:
        raise ValueError("exog is required (use a column of ones for an intercept-only model)")
    if index is None:
        index = endog.index if isinstance(endog, (pd.Series, pd.DataFrame)) else (
            exog.index if isinstance(exog, (pd.DataFrame, pd.Series)) else None)
    _check_aligned("endog", endog, [("exog", exog), ("fixed", fixed), ("concomitant", concomitant)])
    # per-row options given as pandas objects follow the data's rows by index label
    ref_name, ref = (("endog", endog) if isinstance(endog, (pd.Series, pd.DataFrame)) else
                     ("exog", exog) if isinstance(exog, (pd.Series, pd.DataFrame)) else (None, None))
    ref_index = None if ref is None else ref.index
    offset, exposure, weights, groups = (align_to_index(nm, v, ref_name, ref_index) for nm, v in
                                         (("offset", offset), ("exposure", exposure),
                                          ("weights", weights), ("groups", groups)))
    extra = {nm: align_to_index(nm, v, ref_name, ref_index) for nm, v in dict(extra or {}).items()}
    y = _as_2d("endog", endog)
    n = y.shape[0]
    if n == 0:
        raise ValueError("endog has no rows")
    X = _as_2d("exog", exog, n)
    if X.shape[1] == 0:
        raise ValueError("exog has no columns (use a column of ones for an intercept-only model)")
    if endog_names is None:
        endog_names = _names(endog, "y", y.shape[1])
    if exog_names is None:
        exog_names = _names(exog, "x", X.shape[1])
    if y.shape[1] == 2:
        if not isinstance(family, smf.Binomial):
            raise ValueError(
                f"endog has 2 columns ({', '.join(endog_names)}); two-column responses "
                "(successes, failures) are only for the Binomial family"
            )
    elif y.shape[1] != 1:
        raise ValueError(f"endog must have one column (or two for Binomial successes, failures), got {y.shape[1]}")
    off = _as_1d("offset", offset, n)
    expo = _as_1d("exposure", exposure, n)
    wts = _as_1d("weights", weights, n)
    U = _as_2d("fixed", fixed, n)
    Zc = _as_2d("concomitant", concomitant, n)
    ex = {name: _as_1d(name, v, n) for name, v in extra.items()}
    if groups is not None:
        g = groups.to_numpy() if isinstance(groups, (pd.Series, pd.Index)) else np.asarray(groups)
        if g.ndim != 1 or g.shape[0] != n:
            raise ValueError(f"groups must have length {n} (one label per row), got shape {np.shape(groups)}")
        g_missing = pd.isna(g)
    else:
        g = None
        g_missing = np.zeros(n, dtype=bool)

    # rows with missing or non-finite values, checked over every per-row input
    bad = ~np.all(np.isfinite(y), axis=1) | ~np.all(np.isfinite(X), axis=1) | g_missing
    for name, a in (("offset", off), ("exposure", expo), ("weights", wts)):
        if a is not None:
            bad |= ~np.isfinite(a)
    for a in (U, Zc):
        if a is not None:
            bad |= ~np.all(np.isfinite(a), axis=1)
    for a in ex.values():
        bad |= np.isnan(a)
    n_bad = int(bad.sum())
    if index is None:
        index = pd.RangeIndex(n)  # positions of the user's rows, kept through dropping
    if n_bad:
        if missing == "raise" or missing == "none":
            cols = []
            for name, a, obj in (("endog", y, endog), ("exog", X, exog), ("offset", off, offset),
                                 ("exposure", expo, exposure), ("weights", wts, weights),
                                 ("fixed", U, fixed), ("concomitant", Zc, concomitant)):
                colnames = {"endog": endog_names, "exog": exog_names}.get(name)
                if colnames is None and isinstance(obj, pd.DataFrame):
                    colnames = [str(c) for c in obj.columns]
                cols += _bad_columns(name, a, colnames)
            for name, a in ex.items():
                if np.isnan(a).any():
                    cols.append(f"{name}: {int(np.isnan(a).sum())} value(s)")
            if g_missing.any():
                cols.append(f"groups: {int(g_missing.sum())} value(s)")
            raise ValueError(
                f"{n_bad} row(s) contain missing or non-finite values ({'; '.join(cols)}); "
                "use missing='drop' to drop them"
            )
        keep = ~bad
        if keep.sum() == 0:
            raise ValueError("no rows left after dropping rows with missing or non-finite values")
        warnings.warn(f"dropped {n_bad} row(s) with missing or non-finite values", DroppedRowsWarning, stacklevel=4)
        y, X = y[keep], X[keep]
        off = off[keep] if off is not None else None
        expo = expo[keep] if expo is not None else None
        wts = wts[keep] if wts is not None else None
        U = U[keep] if U is not None else None
        Zc = Zc[keep] if Zc is not None else None
        g = g[keep] if g is not None else None
        ex = {name: a[keep] for name, a in ex.items()}
        if index is not None:
            index = index[keep]
        n = y.shape[0]
    if index is None:
        index = pd.RangeIndex(n)

    if wts is not None and np.any(wts < 0):
        raise ValueError(f"weights must be non-negative; found {int(np.sum(wts < 0))} negative value(s)")
    if wts is not None and not np.sum(wts) > 0:
        raise ValueError("weights sum to zero")
    if expo is not None and np.any(expo <= 0):
        raise ValueError(f"exposure must be positive; found {int(np.sum(expo <= 0))} value(s) <= 0")

    if y.shape[1] == 2:
        s, f = y[:, 0], y[:, 1]
        if np.any(s < 0):
            raise ValueError(f"endog: successes ({endog_names[0]}) must be non-negative; "
                             f"found {int(np.sum(s < 0))} negative value(s)")
        if np.any(f < 0):
            raise ValueError(
                f"endog: failures ({endog_names[1]}) must be non-negative; found {int(np.sum(f < 0))} "
                "row(s) with successes above trials (the two columns are successes and failures, "
                "not successes and trials)")
        trials = s + f
        if np.any(trials <= 0):
            raise ValueError(f"endog: {int(np.sum(trials <= 0))} row(s) have zero trials ({endog_names[0]} + {endog_names[1]} = 0)")
        yv = s / trials
    else:
        yv = y[:, 0]
        trials = np.ones(n)

    total_offset = np.zeros(n)
    if off is not None:
        total_offset += off
    if expo is not None:
        total_offset += np.log(expo)

    codes, labels = (None, None)
    if g is not None:
        codes, labels = pd.factorize(g, sort=True)
        labels = pd.Index(labels)
    check_k(k, n if g is None else len(labels))
    return dict(
        endog=yv, trials=trials, exog=X, offset=total_offset, raw_offset=off, exposure=expo,
        weights=np.ones(n) if wts is None else wts, fixed=U, concomitant=Zc,
        groups=codes, group_labels=labels, index=index, endog_names=endog_names,
        exog_names=list(exog_names), n_dropped=n_bad, extra=ex,
    )


def collinear_columns(D, names, rtol=1e-10):
    """Columns of ``D`` that are exact linear combinations of the others, by name.

    A pivoted QR of the columns scaled to unit length: a diagonal entry of R below ``rtol``
    times the largest marks a column spanned by the earlier (pivoted) ones. Returns a list of
    ``(name, [names it depends on])``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(5.0)
    >>> collinear_columns(np.column_stack([np.ones(5), x, 2 * x + 1]), ["const", "x", "z"])
    [('z', ['const', 'x'])]
    """
    from scipy import linalg

    from .linalg import rank_deficient

    D = np.asarray(D, dtype=float)
    if not rank_deficient(D):  # the usual case (a looser test): no copy of the design, no QR
        return []
    norms = np.sqrt(np.sum(D * D, axis=0))
    Ds = D / np.where(norms > 0, norms, 1.0)
    _, R, piv = linalg.qr(Ds, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    if d.size == 0 or d[0] == 0:
        return []
    rank = int(np.sum(d > rtol * d[0]))
    out = []
    for j in piv[rank:]:
        coef = linalg.lstsq(Ds[:, piv[:rank]], Ds[:, j])[0]
        deps = [names[piv[i]] for i in np.flatnonzero(np.abs(coef) > 1e-8)]
        out.append((names[j], deps))
    return out
