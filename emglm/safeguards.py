"""Checks that keep careless or extreme input from producing a confident wrong answer.

* :func:`check_tol`, :func:`check_random_state_value`: ``fit`` options that are numbers but
  not usable ones (``tol=inf``, a negative seed) are refused naming the option.
* :func:`check_response_spread`: a response whose spread is so small that the dispersion
  (a variance, in the response's units squared) cannot be held in floating point is
  refused with a "rescale the response" error before any work.
* :func:`check_start_values`: a start whose log-likelihood is not finite, or given start
  values whose log-likelihood is far below the one-component model's, cannot lead EM to a
  sensible optimum (a component empties at once and never comes back): given start values
  are refused with a ValueError naming ``start_params``; generated starts are dropped.
* :func:`fit_one_component_reference`: that reference, fitted before the mixture when the
  start values are checked against it (see :mod:`emglm.one_component`: the starts use the
  same fit).
* :func:`warn_below_one_component`: a k-component mixture nests the one-component GLM (all
  components equal), so a fit ending below the one-component log-likelihood stopped at a
  saddle point or an emptied component, not at a maximum. It is reported with a
  :class:`~emglm.warnings.ConvergenceWarning` even when the stopping rule was met.

Examples
--------
>>> import numpy as np
>>> check_tol(1e-8)
1e-08
>>> check_tol(np.inf)
Traceback (most recent call last):
...
ValueError: tol must be a finite positive number, got inf
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import statsmodels.genmod.families as smf

from .one_component import one_component_llf
from .warnings import ConvergenceWarning

__all__ = ["check_tol", "check_random_state_value", "check_response_spread", "one_component_llf",
           "fit_one_component_reference",
           "check_start_values", "warn_below_one_component", "FAR_BELOW_PER_UNIT"]

#: Given start values whose log-likelihood is below the one-component model's by more than
#: this many nats per unit (row, or group) are refused: every row is then e**10 times less
#: likely on average than under a single GLM, i.e. the start puts components far from the data.
FAR_BELOW_PER_UNIT = 10.0

# the dispersion floor is this fraction of the constant-mean model's dispersion (see
# emglm.degenerate.VAR_FLOOR_REL); it must stay a normal float
_FLOOR_REL = 1e-8


def check_tol(tol):
    """``tol`` as a float; ValueError naming ``tol`` unless finite and positive.

    Examples
    --------
    >>> check_tol(1e-6)
    1e-06
    """
    if isinstance(tol, bool) or not isinstance(tol, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"tol must be a finite positive number, got {tol!r}")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite positive number, got {tol!r}")
    return float(tol)


def check_random_state_value(random_state):
    """ValueError naming ``random_state`` for a negative integer seed (numpy's own message
    does not say which argument it was).

    Examples
    --------
    >>> check_random_state_value(-1)
    Traceback (most recent call last):
    ...
    ValueError: random_state must be None, a non-negative integer or a numpy Generator, got -1
    """
    if isinstance(random_state, (numbers.Integral, np.integer)) and not isinstance(random_state, bool) \
            and random_state < 0:
        raise ValueError("random_state must be None, a non-negative integer or a numpy Generator, "
                         f"got {random_state!r}")
    return random_state


_SCALED = (smf.Gaussian, smf.Gamma, smf.InverseGaussian, smf.Tweedie)


def check_response_spread(family, y, weights, name="endog"):
    """ValueError when the response is too concentrated for its dispersion to be represented.

    For families with a dispersion, the dispersion floor against collapsing components is
    ``1e-8`` times the constant-mean model's dispersion (``var(y)`` for Gaussian), which
    must be a normal float: the weighted standard deviation of ``y`` must be at least
    ``sqrt(tiny / 1e-8)`` (about 1.5e-150). A constant response (spread zero) is left to
    the degenerate-component diagnostics.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> check_response_spread(sm.families.Gaussian(), np.array([1e-300, 3e-300, 2e-300]), np.ones(3))
    Traceback (most recent call last):
    ...
    ValueError: endog: the response's spread (standard deviation 8.16e-301) is too small for the Gaussian dispersion to be represented in floating point; rescale the response (e.g. multiply it by 1e+301)
    """
    if not isinstance(family, _SCALED):
        return
    y = np.asarray(y, dtype=float)
    w = np.asarray(weights, dtype=float)
    top = float(np.max(np.abs(y))) if y.size else 0.0
    if not (top > 0 and np.isfinite(top)):
        return
    ys = y / top  # computed in units of the largest value: squares of tiny numbers underflow
    m = float(w @ ys) / float(w.sum())
    sd = top * float(np.sqrt(max(float(w @ (ys - m) ** 2) / float(w.sum()), 0.0)))
    if sd == 0.0:
        return
    limit = np.sqrt(np.finfo(float).tiny / _FLOOR_REL)
    if sd < limit:
        factor = 10.0 ** np.ceil(-np.log10(sd))
        raise ValueError(
            f"{name}: the response's spread (standard deviation {sd:.3g}) is too small for the "
            f"{type(family).__name__} dispersion to be represented in floating point; rescale the "
            f"response (e.g. multiply it by {factor:.0e})"
        )


def _nested(model):
    # with equal priors a point mass holds a fixed share: the one-component GLM is then
    # not a special case of the mixture
    return not (model.point_mass is not None and model.mixing == "equal")


def fit_one_component_reference(model):
    """Fit the one-component reference of the checks now, if they will need it.

    Called before a fit whose starts are checked against it (``start_params``), while the
    mixture's arrays do not exist yet (peak memory); otherwise the reference is fitted after
    the fit, once the fit's E-step has been let go, and the generated starts reuse the same fit.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> m = EMGLM(np.arange(6.0), np.ones((6, 1)), k=2)
    >>> fit_one_component_reference(m) == one_component_llf(m)
    True
    """
    return one_component_llf(model) if _nested(model) else None


def check_start_values(model, mix, thetas, given):
    """The starting vectors EM may use; refuses or drops those it cannot work from.

    Parameters
    ----------
    model : EMGLM
    mix : emglm.mixture.Mixture
        The model's mixture (its ``objective`` is the log-likelihood).
    thetas : list of ndarray
    given : bool
        Whether the starts come from the user's ``start_params``: those are refused with a
        ValueError when their log-likelihood is not finite or is far below the
        one-component model's; generated starts with a non-finite log-likelihood are dropped.

    Returns
    -------
    list of ndarray

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> y = rng.poisson(np.r_[np.full(50, 1.0), np.full(50, 8.0)])
    >>> m = EMGLM(y, np.ones((100, 1)), k=2, family=sm.families.Poisson())
    >>> m.fit(start_params=[[50.0, -50.0]])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: start_params: the log-likelihood at these start values is -2.58e+04, far below the one-component model's -348.184 (by 254 per observation): ...
    """
    with np.errstate(all="ignore"):
        llfs = [float(mix.objective(th)) for th in thetas]
    if given:
        llf0 = llfs[0]
        if not np.isfinite(llf0):
            raise ValueError(
                f"start_params: the log-likelihood at these start values is {llf0}: some rows "
                "are impossible under every component; give values nearer the data (e.g. the "
                "params of an earlier fit) or leave start_params out"
            )
        if _nested(model):
            llf1 = one_component_llf(model)
            units = float(np.sum(mix.unit_w))
            if llf0 < llf1 - FAR_BELOW_PER_UNIT * units:
                raise ValueError(
                    f"start_params: the log-likelihood at these start values is {llf0:.3g}, far "
                    f"below the one-component model's {llf1:.6g} (by {(llf1 - llf0) / units:.3g} per "
                    "observation): the start puts components far from the data, where they empty "
                    "at once; give values nearer the data (e.g. the params of an earlier fit) or "
                    "leave start_params out"
                )
        return list(thetas)
    keep = [th for th, ll in zip(thetas, llfs) if np.isfinite(ll)]
    if not keep:
        raise ValueError("no start has a finite log-likelihood: every start makes some rows impossible "
                         "under every component; check the response against the family")
    return keep


def warn_below_one_component(model, llf, tol, stacklevel=3):
    """ConvergenceWarning when a fit ends below the one-component model's log-likelihood.

    Returns True when it warned.

    Examples
    --------
    >>> import numpy as np, warnings
    >>> from emglm import EMGLM
    >>> y = np.r_[np.zeros(10), np.ones(10) * 4] + np.arange(20) % 3
    >>> m = EMGLM(y, np.ones((20, 1)), k=2)
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     warn_below_one_component(m, -1e6, 1e-8)
    True
    >>> "below that of the one-component model" in str(w[0].message)
    True
    """
    if not _nested(model):
        return False
    llf1 = one_component_llf(model)
    if not np.isfinite(llf1):
        return False
    margin = max(float(tol), 1e-6) * max(1.0, abs(llf1))
    if np.isfinite(llf) and llf >= llf1 - margin:
        return False
    warnings.warn(
        f"the fitted log-likelihood ({llf:.6g}) is below that of the one-component model "
        f"({llf1:.6g}), which every k-component mixture contains: EM stopped at a saddle point "
        "or an emptied component, not at a maximum; try other starts (n_starts, start='fit', "
        "warmup) or start values nearer the data",
        ConvergenceWarning, stacklevel=stacklevel,
    )
    return True
