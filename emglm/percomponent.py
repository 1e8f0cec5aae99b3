"""A model per component: ``family=[f1, ..., fk]``, one family for each mixture component.

Each entry is a statsmodels family (a GLM component of one class) or a
:class:`~emglm.mixture.ComponentFamily` (for instance from :mod:`emglm.components`). The
components keep the order given (component j is family j): they are different models, so
there is nothing to sort them by. The response must suit every family; the extra per-row
data the families ask for (a censoring status...) are gathered under their names.
With a list of families and one formula, shared terms (``fixed=``) are refused (a
formula per component says which components share a term: :mod:`emglm.formula_list`);
the removal of small components (``min_proportion``) is refused in both cases.
"""

from __future__ import annotations

import numpy as np

__all__ = ["is_family_list", "check_family_list", "prepare_family_list_endog", "family_list_name", "family_list_extra",
           "check_family_list_data", "make_components", "make_design_components", "fit_all_assignments"]


def is_family_list(family) -> bool:
    """Whether ``family`` is a list (or tuple) of families, one per component.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> is_family_list([sm.families.Poisson(), sm.families.Gaussian()])
    True
    """
    return isinstance(family, (list, tuple))


def check_family_list(families, k, fixed=None):
    """Validate a family per component (before any work); returns them as a tuple.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> check_family_list([sm.families.Poisson()], 2)
    Traceback (most recent call last):
    ...
    ValueError: family: a list of families needs one per component; got 1 for k=2
    """
    from .families import check_family

    if len(families) != k:
        raise ValueError(f"family: a list of families needs one per component; got {len(families)} for k={k}")
    if fixed is not None:
        raise ValueError("fixed: with a family per component, give a formula per component (from_formula with "
                         "a list of formulas): a shared term is shared by the components whose formulas contain it")
    return tuple(check_family(f) for f in families)


def prepare_family_list_endog(families, endog, endog_info=None):
    """``(response, families)`` after each component family's preparation of the response
    (a categorical response becomes codes; the families come back knowing its levels).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm.components import OrderedLogit
    >>> y, fams = prepare_family_list_endog([OrderedLogit(), OrderedLogit()], np.array([0.0, 2.0, 1.0]))
    >>> fams[1].levels
    ['0', '1', '2']
    """
    from .families import is_component_family

    prepared = [f.prepare_endog(endog, endog_info) if is_component_family(f) else (endog, f) for f in families]
    changed = [e for e, _ in prepared if e is not endog]
    return (changed[0] if changed else endog), tuple(f for _, f in prepared)


def family_list_name(families):
    """``"Poisson + Weibull"``: the families' names joined.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> family_list_name([sm.families.Poisson(), sm.families.Gaussian()])
    'Poisson + Gaussian'
    """
    from .families import family_name

    return " + ".join(family_name(f) for f in families)


def family_list_extra(families):
    """The extra per-row data of all the component families, ``{name: column or array}``.

    Examples
    --------
    >>> family_list_extra([])
    {}
    """
    from .families import is_component_family

    out = {}
    for f in families:
        if not is_component_family(f):
            continue
        for name, v in f.extra_data().items():
            if name in out and not (out[name] is v or (isinstance(v, str) and out[name] == v)
                                    or np.array_equal(np.asarray(out[name]), np.asarray(v))):
                raise ValueError(f"family: the components ask for different {name!r} data; give them the same")
            out[name] = v
    return out


def check_family_list_data(families, y, trials, weights, extra, offset, name):
    """Each family's own checks of the response (and extra data), before any work.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.components import Weibull
    >>> y = np.array([1.0, -2.0])
    >>> check_family_list_data([sm.families.Gaussian(), Weibull()], y, np.ones(2), np.ones(2), {},
    ...                        np.zeros(2), "y")
    Traceback (most recent call last):
    ...
    ValueError: y: survival times must be positive; 1 value(s) are not
    """
    from .data import check_finite_density
    from .families import FamilyAdapter, is_component_family

    for f in families:
        if is_component_family(f):
            f.check_data(y, extra, name)
        else:
            FamilyAdapter(f, y, trials).check_endog(name)
            check_finite_density(f, y, trials, weights, name, offset=offset)


def make_components(families, rows, k, scale="component"):
    """One component per family (``k`` families), or the first family's alone (``k = 1``,
    the one-class fit that starting values split).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.mixture import Rows
    >>> from emglm.components import Weibull
    >>> comps = make_components([sm.families.Gamma(), Weibull()], Rows(np.array([1.0, 2.0]), np.ones((2, 1))), 2)
    >>> [type(c).__name__ for c in comps]
    ['GLMComponent', 'AFTComponent']
    """
    from .families import is_component_family
    from .mixture import GLMComponent

    if k not in (1, len(families)):
        raise ValueError(f"a model with a family per component has {len(families)} components, not {k}")
    use = families if k == len(families) else families[:1]
    return [f.make_component(rows, 1, scale=scale, var_floor=None) if is_component_family(f)
            else GLMComponent(f, rows, 1, scale=scale, var_floor=None) for f in use]


def _maker(family, scale):
    from .families import is_component_family
    from .mixture import GLMComponent

    if is_component_family(family):
        return lambda r: family.make_component(r, 1, scale=scale, var_floor=None)
    return lambda r: GLMComponent(family, r, 1, scale=scale, var_floor=None)


def make_design_components(families, rows, k, terms, shared=(), scale="component"):
    """Components with a design of their own (one formula per component).

    ``terms[c]`` names the columns of ``rows.X`` (the union of the formulas' columns) in
    component ``c``'s formula; ``shared`` the terms whose coefficient is shared by the
    components whose formulas contain them. Without shared terms each component is its own
    :class:`~emglm.mixture.DesignGroup`; with them one group holds all (so that the classes
    keep the order of the formulas). ``k = 1`` gives the first component alone (the
    one-class fit that starting values split), its shared terms as its own.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.mixture import Rows
    >>> rows = Rows(np.array([1.0, 2.0, 4.0]), np.column_stack([np.ones(3), np.arange(3.0)]),
    ...             exog_names=["Intercept", "x"])
    >>> comps = make_design_components([sm.families.Poisson()] * 2, rows, 2, [["Intercept"], ["Intercept", "x"]])
    >>> [c.n_params for c in comps]
    [1, 2]
    """
    from .mixture import DesignGroup

    if k not in (1, len(families)):
        raise ValueError(f"a model with a formula per component has {len(families)} components, not {k}")
    names = list(rows.exog_names)
    use = range(k)
    shared = [t for t in shared if k > 1 and sum(t in terms[c] for c in use) > 0]
    own = [[names.index(t) for t in terms[c] if t not in shared] for c in use]
    tied = [[(names.index(t), b) for b, t in enumerate(shared) if t in terms[c]] for c in use]
    makers = [_maker(families[c], scale) for c in use]
    if shared:
        return [DesignGroup(makers, rows, own, tied, shared)]
    return [DesignGroup([mk], rows, [cols], [[]], []) for mk, cols in zip(makers, own)]


def fit_all_assignments(mix, T, max_k=3):
    """Complete fits from the posterior ``T`` (n, K), one per assignment of its regression
    columns to the components (all ``k!`` of them for ``k <= max_k``): each is a start.

    A split of the rows by residuals says which rows belong together, not which model they
    suit; with a different model per component every assignment is a different start, and
    the fit keeps the one with the highest llf. With one kind of component (or larger k)
    this is ``[mix.fit_from_posterior(T)]``.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> mix = EMGLM(np.arange(1.0, 7.0), np.ones((6, 1)), k=2).make_mixture()
    >>> T = np.repeat([[1.0, 0.0], [0.0, 1.0]], 3, axis=0)
    >>> len(fit_all_assignments(mix, T))
    1
    """
    import itertools

    k = mix.k
    if not mix.keeps_order or k > max_k:
        return [mix.fit_from_posterior(T)]
    out = []
    for perm in itertools.permutations(range(k)):
        Tp = np.array(T, dtype=float, copy=True)
        Tp[:, :k] = T[:, list(perm)]
        out.append(mix.fit_from_posterior(Tp))
    return out
