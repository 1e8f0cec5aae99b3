"""Formula front-end: patsy design matrices for the response, components, shared terms and
concomitant variables, aligned on the rows every piece can use.

The design infos are kept on the model so that ``predict(exog=new_frame)`` re-applies the
same transformations and categorical codings to new data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy

__all__ = ["build_from_formula", "resolve_eval_env", "Design"]


class Design:
    """Patsy design infos of a formula model, for transforming new data.

    Attributes
    ----------
    endog, exog, fixed, concomitant : patsy.DesignInfo or None
    fixed_columns : list of int
        Columns of the ``fixed`` design kept (its intercept is dropped: the components
        carry their own intercepts).
    """

    def __init__(self, endog, exog, fixed=None, fixed_columns=None, concomitant=None, component_exog=None,
                 exog_names=None):
        self.endog = endog
        self.exog = exog
        self.fixed = fixed
        self.fixed_columns = fixed_columns
        self.concomitant = concomitant
        #: one design info per component formula (a formula per component), else None
        self.component_exog = component_exog
        #: the union design's column names (a formula per component), else None
        self.exog_names = exog_names

    # patsy's design infos refuse pickling; their content (terms, categorical levels,
    # stateful-transform state) is stored as plain data instead (emglm.design_state)
    _INFOS = ("endog", "exog", "fixed", "concomitant", "component_exog")

    def __getstate__(self):
        from .design_state import encode

        state = dict(self.__dict__)
        memo = {}
        state["_encoded_infos"] = {name: encode(state.pop(name, None), memo) for name in self._INFOS}
        return state

    def __setstate__(self, state):
        state = dict(state)
        encoded = state.pop("_encoded_infos", None)
        if encoded is not None:  # files written before this format hold the infos themselves
            from .design_state import decode

            memo = {}
            state.update({name: decode(v, memo) for name, v in encoded.items()})
        self.__dict__.update(state)

    def _build(self, info, data, na_drop=False):
        action = patsy.NAAction(on_NA="drop" if na_drop else "raise", NA_types=[])
        (m,) = patsy.build_design_matrices([info], data, NA_action=action, return_type="dataframe")
        return m

    def exog_matrix(self, data):
        """Component design for new data (the union of the formulas' columns for a formula
        per component)."""
        if getattr(self, "component_exog", None) is None:
            return self._build(self.exog, data)
        from .formula_list import union_matrix

        return union_matrix([self._build(info, data) for info in self.component_exog])[self.exog_names]

    def fixed_matrix(self, data):
        if self.fixed is None:
            return None
        return self._build(self.fixed, data).iloc[:, self.fixed_columns]

    def concomitant_matrix(self, data):
        if self.concomitant is None:
            return None
        return self._build(self.concomitant, data)

    def endog_matrix(self, data):
        """Response for new data (None when its columns are absent)."""
        try:
            return self._build(self.endog, data)
        except (patsy.PatsyError, KeyError, NameError):
            return None


def _one_sided(name, f):
    if not isinstance(f, str):
        raise TypeError(f"{name} must be a one-sided formula string such as '~ z1 + z2', got {f!r}")
    f = f.strip()
    if not f.startswith("~"):
        f = "~ " + f
    return f


def _column_or_array(name, v, data, user_index=None):
    """A column name of ``data`` or a per-row array; returned as a Series on data's index.

    A pandas Series is matched to the rows by index label (``user_index``: the index of the
    user's frame), as pandas aligns; an array pairs with the rows by position.
    """
    if v is None:
        return None
    if isinstance(v, str):
        if v not in data.columns:
            raise KeyError(f"{name}: column {v!r} not found in data")
        return data[v]
    if isinstance(v, pd.Series):
        from .data import align_to_index

        v = align_to_index(name, v, "data", data.index if user_index is None else user_index)
        return pd.Series(v.to_numpy(), index=data.index, name=v.name)
    a = np.asarray(v)
    if a.ndim != 1 or a.shape[0] != len(data):
        raise ValueError(f"{name} must have length {len(data)} (one value per row of data), got shape {a.shape}")
    return pd.Series(a, index=data.index)


def resolve_eval_env(eval_env, depth=0):
    """``eval_env`` as a patsy EvalEnvironment (statsmodels' convention).

    An int counts frames above the caller of the function calling this one (``depth`` extra
    frames in between): 0 is that caller's namespace, -1 an empty namespace. A
    ``patsy.EvalEnvironment`` is used as given; anything else is a TypeError.

    Examples
    --------
    >>> resolve_eval_env(-1).namespace.get("np") is None
    True
    >>> resolve_eval_env("x")
    Traceback (most recent call last):
    ...
    TypeError: eval_env must be an int (frame depth) or a patsy.EvalEnvironment, got 'x'
    """
    if isinstance(eval_env, patsy.EvalEnvironment):
        return eval_env
    if isinstance(eval_env, bool) or not isinstance(eval_env, (int, np.integer)):
        raise TypeError(f"eval_env must be an int (frame depth) or a patsy.EvalEnvironment, got {eval_env!r}")
    if eval_env == -1:
        return patsy.EvalEnvironment([{}])
    if eval_env < -1:
        raise ValueError(f"eval_env must be -1 (no namespace) or a frame depth >= 0, got {eval_env}")
    # frame 0 is this function; 1 its caller; the caller's caller is the one meant by 0
    return patsy.EvalEnvironment.capture(int(eval_env) + 2 + depth)


def build_from_formula(cls, formula, data, k, family=None, offset=None, exposure=None, weights=None,
                       mixing="estimate", missing="drop", concomitant=None, groups=None, fixed=None,
                       point_mass=None, scale="component", eval_env=0, **kwargs):
    """Build ``cls`` (EMGLM) from formulas; see :meth:`EMGLM.from_formula`.

    Examples
    --------
    >>> import pandas as pd
    >>> from emglm import EMGLM
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 5.0], "x": [0.0, 1.0, 2.0, 3.0]})
    >>> EMGLM.from_formula("y ~ x", df, k=1).exog_names
    ['Intercept', 'x']
    """
    from .formula_list import check_formula_list, is_formula_list

    formulas = None
    if is_formula_list(formula):  # one formula per component
        formulas, k = check_formula_list(formula, k, family)
        if family is not None and not isinstance(family, (list, tuple)):
            family = [family] * k
        elif family is None:
            import statsmodels.api as sm

            family = [sm.families.Gaussian() for _ in range(k)]
    elif not isinstance(formula, str) or "~" not in formula:
        raise TypeError(f"formula must be a string 'y ~ x1 + x2', got {formula!r}")
    elif k is None and isinstance(family, (list, tuple)):
        k = len(family)  # a family per component: k is the number of families
    if not isinstance(data, pd.DataFrame):
        if isinstance(data, dict):
            data = pd.DataFrame(data)
        else:
            raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if missing not in ("drop", "raise", "none"):
        raise ValueError(f"missing must be one of ('drop', 'raise', 'none'), got {missing!r}")
    user_index = data.index
    if not data.index.is_unique:
        # align by position; the user's frame is not touched
        data = data.reset_index(drop=True)
    eval_env = resolve_eval_env(eval_env)
    na = patsy.NAAction(on_NA="drop" if missing == "drop" else "raise")
    from .data import check_formula_missing

    check_formula_missing(data, list(formulas or [formula]) + [fixed, concomitant], missing)  # names the column

    component_exog = None
    if formulas is not None:
        from .formula_list import component_designs, shared_terms

        y, y_info, X, terms, component_exog = component_designs(formulas, data, na, eval_env)
        x_info = component_exog[0]
        kwargs["component_terms"] = terms
        kwargs["shared_terms"] = [] if fixed is None else shared_terms(fixed, data, na, eval_env, terms)
        fixed = None  # the shared terms are columns of the component formulas
    else:
        y, X = patsy.dmatrices(formula, data, NA_action=na, return_type="dataframe", eval_env=eval_env)
        y_info, x_info = y.design_info, X.design_info
    pieces = [y.index]
    U = Z = None
    fixed_info = fixed_cols = conc_info = None
    if fixed is not None:
        U = patsy.dmatrix(_one_sided("fixed", fixed), data, NA_action=na, return_type="dataframe",
                          eval_env=eval_env)
        fixed_info = U.design_info
        fixed_cols = [i for i, c in enumerate(U.columns) if c != "Intercept"]
        U = U.iloc[:, fixed_cols]
        clash = sorted(set(U.columns) & set(X.columns))
        if clash:
            raise ValueError(f"fixed: term(s) {clash} also appear in the component formula")
        if U.shape[1] == 0:
            raise ValueError("fixed: the formula has no terms besides the intercept")
        pieces.append(U.index)
    if concomitant is not None:
        Z = patsy.dmatrix(_one_sided("concomitant", concomitant), data, NA_action=na,
                          return_type="dataframe", eval_env=eval_env)
        conc_info = Z.design_info
        pieces.append(Z.index)
    extra = {name: _column_or_array(name, v, data, user_index) for name, v in
             (("offset", offset), ("exposure", exposure), ("weights", weights), ("groups", groups))}
    # per-row data a component family asks for (a censoring status, bounds), by column name
    from .percomponent import family_list_extra, is_family_list

    wanted = (family_list_extra(family) if is_family_list(family)
              else family.extra_data() if callable(getattr(family, "extra_data", None)) else {})
    comp_extra = {name: _column_or_array(name, v, data) for name, v in wanted.items()}

    keep = pieces[0]
    for idx in pieces[1:]:
        keep = keep.intersection(idx, sort=False)
    if len(keep) < len(pieces[0]) or any(len(p) != len(keep) for p in pieces):
        keep = data.index[data.index.isin(keep)]
    y, X = y.loc[keep], X.loc[keep]
    U = U.loc[keep] if U is not None else None
    Z = Z.loc[keep] if Z is not None else None
    extra = {name: (s.loc[keep] if s is not None else None) for name, s in extra.items()}
    comp_extra = {name: s.loc[keep] for name, s in comp_extra.items()}
    if comp_extra:
        kwargs["extra"] = comp_extra

    design = Design(y_info, x_info, fixed_info, fixed_cols, conc_info, component_exog=component_exog,
                    exog_names=None if component_exog is None else list(X.columns))
    names = dict(exog=list(X.columns), endog=list(y.columns),
                 fixed=list(U.columns) if U is not None else None,
                 concomitant=list(Z.columns) if Z is not None else None)
    n_formula_dropped = len(data) - len(keep)
    model = cls(y, X, k, family=family, offset=extra["offset"], exposure=extra["exposure"],
                weights=extra["weights"], mixing=mixing, missing=missing, fixed=U, concomitant=Z,
                groups=extra["groups"], point_mass=point_mass, scale=scale, formula=formula,
                design=design, names=names, **kwargs)
    if n_formula_dropped:
        import warnings

        from .warnings import DroppedRowsWarning

        warnings.warn(f"dropped {n_formula_dropped} row(s) with missing values in the formula's columns",
                      DroppedRowsWarning, stacklevel=3)
        model.n_dropped += n_formula_dropped
    model.data = data
    return model
