"""One formula per component: ``formula=["y ~ x", "y ~ x + z"]`` (Stata fmm's hybrid models).

Every formula has the same response. The model's design is the union of the formulas'
columns (a column that two formulas both build, such as ``x`` or ``Intercept``, appears
once); each component sees only the columns of its own formula. Terms named in ``fixed=``
must appear in the formulas: their coefficient is shared by the components whose formulas
contain them (and absent from the others).

In ``params`` a component's column has its own formula's terms; a term that is not in its
formula is NaN there (the union of the terms labels the rows, as a table of several
statsmodels models side by side leaves such cells empty).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy

__all__ = ["is_formula_list", "check_formula_list", "component_designs", "shared_terms", "union_matrix"]


def is_formula_list(formula) -> bool:
    """Whether ``formula`` is a list (or tuple) of formulas, one per component.

    Examples
    --------
    >>> is_formula_list(["y ~ x", "y ~ 1"]), is_formula_list("y ~ x")
    (True, False)
    """
    return isinstance(formula, (list, tuple))


def check_formula_list(formulas, k, family):
    """Validate one formula per component before any work; returns ``(formulas, k)``.

    ``k`` may be None (then the number of formulas); otherwise it must equal it, and so
    must the length of a list of families.

    Examples
    --------
    >>> check_formula_list(["y ~ x", "y ~ 1"], None, None)
    (['y ~ x', 'y ~ 1'], 2)
    >>> check_formula_list(["y ~ x", "y ~ 1"], 3, None)
    Traceback (most recent call last):
    ...
    ValueError: formula: a list of formulas needs one per component; got 2 for k=3
    """
    formulas = list(formulas)
    if not formulas:
        raise ValueError("formula: the list of formulas is empty; give one per component")
    for f in formulas:
        if not isinstance(f, str) or "~" not in f or not f.split("~")[0].strip():
            raise TypeError(f"formula: each formula of the list must be a string 'y ~ x1 + x2', got {f!r}")
    if k is None:
        k = len(formulas)
    elif isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer number of components, got {k!r}")
    if k != len(formulas):
        raise ValueError(f"formula: a list of formulas needs one per component; got {len(formulas)} for k={k}")
    if isinstance(family, (list, tuple)) and len(family) != len(formulas):
        raise ValueError(f"family: {len(family)} families for {len(formulas)} formulas; give one family per "
                         "formula (or one family for all)")
    return formulas, int(k)


def component_designs(formulas, data, na, eval_env):
    """Response, union design and each formula's column names and design info.

    Returns ``(y, y_info, X, terms, infos)``: ``y`` the response frame of the first formula
    (``y_info`` its design info), ``X``
    the union of the columns on the rows every formula can use, ``terms[c]`` the column
    names of formula ``c`` and ``infos`` the formulas' patsy design infos. A response that
    differs between formulas, or a column name that two formulas build differently, is a
    ValueError.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0], "x": [0.0, 1.0, 3.0], "z": [1.0, 0.0, 0.0]})
    >>> y, _, X, terms, _ = component_designs(["y ~ x", "y ~ z - 1"], df, patsy.NAAction(), patsy.EvalEnvironment([{}]))
    >>> list(X.columns), terms
    (['Intercept', 'x', 'z'], [['Intercept', 'x'], ['z']])
    """
    built = [patsy.dmatrices(f, data, NA_action=na, return_type="dataframe", eval_env=eval_env) for f in formulas]
    y0 = built[0][0]
    for f, (y, _) in zip(formulas[1:], built[1:]):
        if list(y.columns) != list(y0.columns):
            raise ValueError(f"formula: every formula must have the same response; {formulas[0]!r} has "
                             f"{', '.join(map(str, y0.columns))} and {f!r} has {', '.join(map(str, y.columns))}")
    keep = built[0][1].index
    for _, X in built[1:]:
        keep = keep.intersection(X.index, sort=False)
    keep = data.index[data.index.isin(keep)]
    Xs = [X.loc[keep] for _, X in built]
    X = union_matrix(Xs, formulas)
    y = y0.loc[keep]
    for f, (yc, _) in zip(formulas[1:], built[1:]):
        if not np.array_equal(yc.loc[keep].to_numpy(), y.to_numpy(), equal_nan=True):
            raise ValueError(f"formula: every formula must have the same response; {f!r} builds another one")
    return y, y0.design_info, X, [list(X_.columns) for X_ in Xs], [X_.design_info for _, X_ in built]


def union_matrix(Xs, formulas=None):
    """The columns of the design frames ``Xs`` side by side, each name once.

    Examples
    --------
    >>> a = pd.DataFrame({"Intercept": [1.0, 1.0], "x": [2.0, 3.0]})
    >>> list(union_matrix([a, a[["x"]]]).columns)
    ['Intercept', 'x']
    """
    cols = {}
    for c, X in enumerate(Xs):
        for name in X.columns:
            v = X[name].to_numpy(dtype=float)
            if name in cols:
                if not np.allclose(cols[name], v, rtol=1e-12, atol=0.0, equal_nan=True):
                    where = "" if formulas is None else f" ({formulas[c]!r})"
                    raise ValueError(f"formula: the column {name!r} is built differently by two formulas{where}; "
                                     "name the terms so that a name means one column")
                continue
            cols[name] = v
    return pd.DataFrame(cols, index=Xs[0].index)


def shared_terms(fixed, data, na, eval_env, terms):
    """Column names of the one-sided formula ``fixed`` (intercept dropped), each checked to
    appear in at least one component formula.

    Examples
    --------
    >>> df = pd.DataFrame({"x": [0.0, 1.0], "w": [1.0, 2.0]})
    >>> shared_terms("~ x", df, patsy.NAAction(), patsy.EvalEnvironment([{}]), [["x"], ["Intercept"]])
    ['x']
    >>> shared_terms("~ w", df, patsy.NAAction(), patsy.EvalEnvironment([{}]), [["x"], ["Intercept"]])
    Traceback (most recent call last):
    ...
    ValueError: fixed: term(s) ['w'] appear in none of the component formulas; a shared term is shared by the components whose formulas contain it
    """
    f = fixed.strip() if isinstance(fixed, str) else fixed
    if not isinstance(f, str):
        raise TypeError(f"fixed must be a one-sided formula string such as '~ z1 + z2', got {fixed!r}")
    if not f.startswith("~"):
        f = "~ " + f
    U = patsy.dmatrix(f, data, NA_action=na, return_type="dataframe", eval_env=eval_env)
    names = [c for c in U.columns if c != "Intercept"]
    if not names:
        raise ValueError("fixed: the formula has no terms besides the intercept")
    present = {t for ts in terms for t in ts}
    missing = [t for t in names if t not in present]
    if missing:
        raise ValueError(f"fixed: term(s) {missing} appear in none of the component formulas; a shared term "
                         "is shared by the components whose formulas contain it")
    return names
