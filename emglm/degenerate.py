"""Hard data: dispersion floor, degenerate-component diagnostics and ``min_proportion``.

A mixture likelihood is unbounded or flat in several ways that real data reach:

* **Collapse.** A Gaussian (Gamma, inverse Gaussian, Tweedie) component that sits on a few
  repeated responses drives its dispersion to zero and the likelihood to infinity. Every
  dispersion is held at or above a floor of ``VAR_FLOOR_REL`` (1e-8) times the dispersion
  of the constant-mean one-component model (``var(y)`` for Gaussian), so the fit stays
  finite; the constrained M-step ``max(phi_mle, floor)`` still never lowers the likelihood
  because each family's likelihood is unimodal in its dispersion.
* **Separation.** A Binomial (or count) component whose rows are perfectly separated by the
  covariates has coefficients running off to infinity; EM stops once the likelihood stops
  moving, with large but finite coefficients and fitted means numerically 0 or 1.
* **Vanishing or unsupported components.** A component whose proportion falls towards zero,
  or that holds fewer effective rows than it has parameters, or that duplicates another one
  (the data support fewer components than ``k``).

Each case is reported after the fit in one :class:`~emglm.warnings.DegenerateComponentWarning`
naming the components. ``fit(min_proportion=c)`` (flexmix's ``minprior``) goes further:
whenever a GLM component's share ``sum_i w_i T_ij / sum_i w_i`` falls below ``c`` during EM,
it is removed (with a warning), the remaining posteriors are renormalised and EM continues
with one component fewer. The fitted ``res.model`` then has the smaller ``k``; the model
object the user built is not changed. ``llf_history`` is that of the final, reduced run.

Examples
--------
>>> import numpy as np, warnings
>>> from emglm import EMGLM
>>> rng = np.random.default_rng(0)
>>> y = np.concatenate([rng.normal(0, 1, 100), np.full(20, 4.0)])  # 20 identical values
>>> with warnings.catch_warnings(record=True) as w:
...     warnings.simplefilter("always")
...     res = EMGLM(y, np.ones((120, 1)), k=2).fit()
>>> bool(np.isfinite(res.llf)), any("floor" in str(x.message) for x in w)
(True, True)
"""

from __future__ import annotations

import copy
import warnings

import numpy as np

from .warnings import DegenerateComponentWarning

__all__ = ["VAR_FLOOR_REL", "dispersion_floor", "floor_from_scale", "diagnose", "warn_degenerate", "check_min_proportion"]

#: Dispersion floor relative to the constant-mean model's dispersion.
VAR_FLOOR_REL = 1e-8



def dispersion_floor(fam, w, rel=VAR_FLOOR_REL):
    """Lower bound for component dispersions: ``rel`` times the constant-mean model's.

    Parameters
    ----------
    fam : FamilyAdapter
    w : ndarray
        Frequency weights.
    rel : float

    Returns
    -------
    float or None
        None for families without a dispersion (Poisson, Binomial, NegativeBinomial).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.families import FamilyAdapter
    >>> fa = FamilyAdapter(sm.families.Gaussian(), np.array([0.0, 2.0]), np.ones(2))
    >>> dispersion_floor(fa, np.ones(2), rel=0.5)
    0.5
    """
    if not fam.has_scale:
        return None
    w = np.asarray(w, dtype=float)
    ybar = float(w @ fam.y) / float(w.sum())
    with np.errstate(all="ignore"):
        try:
            phi0 = fam.scale_mle([np.full(fam.y.shape, ybar)], [w])
        except (ValueError, FloatingPointError, ArithmeticError):
            phi0 = np.nan
    return floor_from_scale(phi0, rel)


def floor_from_scale(phi0, rel=VAR_FLOOR_REL):
    """The dispersion floor from the constant-mean model's dispersion ``phi0`` (computed in
    memory by :func:`dispersion_floor`, or from sums over partitions).

    Examples
    --------
    >>> floor_from_scale(2.0, rel=0.5), floor_from_scale(float("nan"), rel=0.5)
    (1.0, 0.5)
    """
    if not (np.isfinite(phi0) and phi0 > 0):
        phi0 = 1.0  # constant response: any positive floor keeps the density finite
    return float(rel * phi0)


def diagnose(mix, theta, names=None):
    """Messages describing degenerate components at ``theta`` (empty when none).

    Each component checks its own classes (for GLMs: dispersion at the floor, fewer
    effective rows than parameters, fitted means numerically at the boundary among the rows
    it holds (separation), and classes that coincide with another one).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> y = np.r_[np.linspace(-2, 2, 50), np.linspace(8, 12, 50)]
    >>> res = EMGLM(y, np.ones((100, 1)), k=2).fit()
    >>> diagnose(res.mixture, res.theta)
    []
    """
    es = mix.estep(theta)
    names = names or [f"comp{j + 1}" for j in range(mix.k)]
    msgs = []
    for c, (comp, p) in enumerate(zip(mix.components, mix.component_params(theta))):
        sl = mix.class_slice(c)
        T = np.asarray(es.T)[:, sl]
        msgs += comp.diagnose(p, es.evals[c], T, mix.rows, names[sl.start:sl.stop])
    return msgs


def warn_degenerate(msgs, stacklevel=3):
    """Issue one DegenerateComponentWarning listing ``msgs`` (nothing when empty)."""
    if msgs:
        warnings.warn("degenerate mixture component(s): " + "; ".join(msgs),
                      DegenerateComponentWarning, stacklevel=stacklevel)


def check_min_proportion(min_proportion):
    """Validate ``fit(min_proportion=...)``: None or a number in [0, 1).

    Examples
    --------
    >>> check_min_proportion(0.05)
    0.05
    """
    if min_proportion is None:
        return None
    if isinstance(min_proportion, bool) or not isinstance(min_proportion, (int, float, np.floating, np.integer)):
        raise TypeError(f"min_proportion must be a number in [0, 1) or None, got {min_proportion!r}")
    if not (0.0 <= float(min_proportion) < 1.0):
        raise ValueError(f"min_proportion must lie in [0, 1), got {min_proportion!r}")
    return float(min_proportion)


def reduced_model(model, k):
    """A shallow copy of ``model`` with ``k`` components (arrays shared, never modified)."""
    if k == model.k:
        return model
    m = copy.copy(model)
    m.k = int(k)
    return m
