"""The one-component GLM fitted to a model's data, once per model.

It serves two purposes: its residuals split the rows for the generated starts
(:mod:`emglm.fitting`), and its log-likelihood is the reference that start values and the
final fit are checked against (:mod:`emglm.safeguards`: a k-component mixture contains the
one-component model, so a fit ending below it stopped at a saddle point). Both use the same
fit, kept with the model (in a weak map, dropped with the model).

Examples
--------
>>> import numpy as np, statsmodels.api as sm
>>> from emglm import EMGLM
>>> y = np.array([0.0, 1, 1, 2, 3, 5, 8, 13])
>>> m = EMGLM(y, np.ones((8, 1)), k=2, family=sm.families.Poisson())
>>> base, theta1 = one_component_fit(m)
>>> bool(np.isclose(theta1[0], np.log(y.mean())))
True
"""

from __future__ import annotations

import weakref

import numpy as np

__all__ = ["one_component_fit", "one_component_llf", "is_fitted"]

# model -> (parameters, log-likelihood) of the one-component fit to all its rows
_FITS = weakref.WeakKeyDictionary()
# model -> parameters of its last one-component fit to a subsample: where the fit to all
# rows starts its IRLS (a few steps from there instead of several from the family's start)
_SUBSAMPLE = weakref.WeakKeyDictionary()


def one_component_fit(model, rows=None):
    """The one-component (k = 1) mixture and its complete fit, on ``rows`` (default all).

    The fit to all rows is made once per model; later calls rebuild only the mixture.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> m = EMGLM(np.arange(6.0), np.ones((6, 1)), k=2)
    >>> base, theta1 = one_component_fit(m)
    >>> base.k, round(float(theta1[0]), 6)  # the mean of the response
    (1, 2.5)
    """
    base = model.make_mixture(k=1, point_mass=None, mixing="equal", rows=rows)
    kept = _FITS.get(model) if rows is None else None
    if kept is not None:
        return base, kept[0].copy()
    warm = _SUBSAMPLE.get(model) if rows is None and base.glm is not None and len(base.components) == 1 else None
    with np.errstate(all="ignore"):
        theta1 = None if warm is None else base.fit_from_posterior(np.ones((base.n, 1)), start=warm)
    if theta1 is None or not np.all(np.isfinite(theta1)) or not np.isfinite(base.objective(theta1)):
        theta1 = base.fit_from_posterior(np.ones((base.n, 1)))
    if rows is None:
        _FITS[model] = (theta1.copy(), float(base.objective(theta1)))
    elif base.glm is not None and len(base.components) == 1:
        _SUBSAMPLE[model] = theta1.copy()
    return base, theta1


def one_component_llf(model):
    """Log-likelihood of the one-component GLM fitted to ``model``'s data.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm import EMGLM
    >>> y = np.array([0.0, 1, 1, 2, 3, 5, 8, 13])
    >>> m = EMGLM(y, np.ones((8, 1)), k=2, family=sm.families.Poisson())
    >>> ref = sm.GLM(y, np.ones((8, 1)), family=sm.families.Poisson()).fit().llf
    >>> bool(np.isclose(one_component_llf(m), ref))
    True
    """
    if model not in _FITS:
        one_component_fit(model)
    return _FITS[model][1]


def is_fitted(model):
    """Whether the one-component fit to all of ``model``'s rows has been made.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> m = EMGLM(np.arange(6.0), np.ones((6, 1)), k=2)
    >>> is_fitted(m), bool(np.isfinite(one_component_llf(m))), is_fitted(m)
    (False, True, True)
    """
    return model in _FITS
