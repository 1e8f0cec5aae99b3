"""The Component interface: what one kind of mixture component supplies to the EM.

A component covers ``n_classes`` mixture classes of one kind (a GLM component covers the
k classes that share its family, design and shared terms; a point mass covers one). It
owns a flat parameter vector of ``n_params`` entries and supplies

* :meth:`Component.evaluate`: its per-row log-densities at its parameters (an
  :class:`Evaluation` whose ``logpdf`` is (n_classes, n));
* :meth:`Component.mstep`: a generalised M-step from posterior weights, written as sums over
  the blocks of :class:`~emglm.mixture.rows.Rows` (it must not lower the weighted
  complete-data log-likelihood ``sum_ij W_ij log f_ij``);
* :meth:`Component.fit`: a complete weighted fit (the starting values of a start);
* :meth:`Component.score_rows`: per-row posterior-weighted scores (Fisher's identity) for
  standard errors;
* :meth:`Component.coef_table`, :meth:`Component.scale`, :meth:`Component.mean`: what results,
  predictions and residuals report.

:class:`SimpleComponent` turns a component that is written one class at a time (a per-row
log-density and a weighted maximum-likelihood fit) into a full :class:`Component`; a new
kind of component is then one short module (see ``tests/test_toy_component.py``).
"""

from __future__ import annotations

import abc

import numpy as np

__all__ = ["Component", "ComponentFamily", "Evaluation", "SimpleComponent"]


class Evaluation:
    """A component's row-level quantities at one parameter vector.

    ``logpdf`` is the (n_classes, n) array of per-row log-densities. ``key`` identifies the
    parameters it was computed at, so that a later call at the same parameters can reuse it
    (an optimisation only: recomputing gives the same numbers). Components may attach more
    arrays (a GLM keeps its linear predictors and means).
    """

    def __init__(self, logpdf, key=None, **extra):
        self.logpdf = logpdf
        self.key = key
        self.__dict__.update(extra)

    def logpdf_block(self, s, e):
        """(n_classes, e - s) log-densities of rows ``s:e`` (a component may make them here)."""
        return self.logpdf[:, s:e]


def wq_block(W, L):
    """``sum_j W_j . L_j`` for (m, b) weights and log-densities, with ``0 * -inf = 0``.

    Returns ``-inf`` when the sum is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> float(wq_block(np.array([[1.0, 0.0]]), np.array([[-2.0, -np.inf]])))
    -2.0
    """
    total = 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        for j in range(W.shape[0]):
            v = float(np.dot(W[j], L[j]))  # (releases the GIL, unlike @)
            if not np.isfinite(v):  # 0 * -inf where a row has no density under class j
                v = float(np.dot(W[j], np.where(W[j] > 0, L[j], 0.0)))
            total += v
    return total if np.isfinite(total) else -np.inf


class Component(abc.ABC):
    """One kind of mixture component covering ``n_classes`` classes (abstract).

    Subclasses set ``n_classes`` and implement the abstract methods; parameters are flat
    float vectors of length :attr:`n_params` (unconstrained: log dispersions, not
    dispersions, so that extrapolation and numerical derivatives stay in the domain).
    """

    #: number of mixture classes this component covers
    n_classes: int = 1
    #: whether the component has GLM-style linear predictors (ordering, pooling)
    has_linear_predictor: bool = False
    #: whether the component's classes are counted as regression components (``k``);
    #: a point mass is not
    is_regression: bool = True

    @property
    @abc.abstractmethod
    def n_params(self) -> int:
        """Length of the component's flat parameter vector."""

    @abc.abstractmethod
    def param_labels(self, class_names):
        """(owner, name) label of every flat parameter; owner a class name or ``"shared"``."""

    @abc.abstractmethod
    def evaluate(self, params, rows, reuse=None) -> Evaluation:
        """Per-row log-densities at ``params`` (``reuse``: a previous Evaluation, if any)."""

    @abc.abstractmethod
    def mstep(self, params, weights, ev, rows, q0=None):
        """One generalised M-step: returns ``(new_params, Evaluation or None)``.

        ``weights`` is (n_classes, n), the frequency weight times the posterior of each
        class; ``ev`` the Evaluation at ``params``; ``q0`` the current weighted
        complete-data log-likelihood ``sum W * logpdf`` when known. The returned
        Evaluation (at the new parameters) may be handed back to :meth:`evaluate`.
        """

    @abc.abstractmethod
    def fit(self, weights, rows, **options):
        """Complete weighted maximum-likelihood fit for posterior weights (n_classes, n).

        ``options`` (such as ``maxiter`` and ``tol``) may be used or ignored.
        """

    def score_rows(self, params, ev, weights, rows):
        """(n, n_params) posterior-weighted per-row scores ``sum_j T_ij d log f_ij / d params``.

        ``weights`` is the (n_classes, n) posterior (without frequency weights). The default
        differentiates :meth:`evaluate` numerically (central differences); components with
        analytic scores override it.
        """
        params = np.asarray(params, dtype=float)
        out = np.zeros((rows.n, params.size))
        h = np.finfo(float).eps ** (1.0 / 3.0) * np.maximum(np.abs(params), 1.0)
        for i in range(params.size):
            up, dn = params.copy(), params.copy()
            up[i] += h[i]
            dn[i] -= h[i]
            with np.errstate(all="ignore"):
                d = (self.evaluate(up, rows).logpdf - self.evaluate(dn, rows).logpdf) / (2 * h[i])
                out[:, i] = np.sum(np.where(weights > 0, weights * d, 0.0), axis=0)
        return out

    def coef_table(self, params):
        """``(row_names, values)`` with values (len(row_names), n_classes) for ``params``."""
        return [], np.zeros((0, self.n_classes))

    def scale(self, params):
        """(n_classes,) dispersion of each class (ones when there is none)."""
        return np.ones(self.n_classes)

    def log_scale_mask(self):
        """Boolean mask of the parameters that are log dispersions (reported exponentiated)."""
        return np.zeros(self.n_params, dtype=bool)

    def mean(self, params, rows):
        """(n_classes, n) mean of the response under each class."""
        raise NotImplementedError(f"{type(self).__name__} does not supply means")

    def cdf(self, params, rows):
        """``(F(y), F(y-))``, each (n_classes, n): the distribution function at the response
        and just below it (equal for continuous responses), for quantile residuals."""
        raise NotImplementedError(f"quantile residuals are not available for {type(self).__name__} "
                                  "(no distribution function)")

    def moments(self, params, rows):
        """Mean and variance of the response under each class, each (n_classes, n)."""
        raise NotImplementedError(f"{type(self).__name__} does not supply moments")

    def order_key(self, params, rows):
        """(n_classes,) value by which classes of this component are put in order."""
        return np.arange(self.n_classes, dtype=float)

    def permute(self, params, perm):
        """Parameters with the classes reordered by ``perm``."""
        return params

    def check_response(self, y, name="endog"):
        """Raise ValueError when the response is outside the component's support."""

    def diagnose(self, params, ev, T, rows, names):
        """Messages describing degenerate classes at ``params`` (empty when none)."""
        return []


class SimpleComponent(Component):
    """A component written one class at a time, made vectorised over ``n_classes`` classes.

    Subclasses implement three methods on one class's parameter vector (length
    :attr:`n_params_class`): :meth:`logpdf_class` (per-row log-density), :meth:`fit_class`
    (weighted maximum likelihood, started from given parameters) and optionally
    :meth:`mean_class`. The M-step is ``fit_class`` started from the current parameters and
    accepted only if it does not lower the class's weighted log-likelihood.

    Parameters
    ----------
    n_classes : int
    names : list of str
        Names of one class's parameters.
    """

    def __init__(self, n_classes, names):
        self.n_classes = int(n_classes)
        self.names = list(names)

    @property
    def n_params_class(self):
        return len(self.names)

    @property
    def n_params(self):
        return self.n_classes * self.n_params_class

    def param_labels(self, class_names):
        return [(c, nm) for c in class_names for nm in self.names]

    def _split(self, params):
        return np.asarray(params, dtype=float).reshape(self.n_classes, self.n_params_class)

    @abc.abstractmethod
    def logpdf_class(self, params, rows):
        """(n,) per-row log-density of one class with parameters ``params``."""

    @abc.abstractmethod
    def fit_class(self, weights, rows, start=None):
        """Parameters maximising ``sum_i weights_i logpdf_class(params)_i``."""

    def mean_class(self, params, rows):
        raise NotImplementedError(f"{type(self).__name__} does not supply means")

    def evaluate(self, params, rows, reuse=None):
        key = np.asarray(params, dtype=float).tobytes()
        if reuse is not None and reuse.key == key:
            return reuse
        P = self._split(params)
        return Evaluation(np.stack([self.logpdf_class(P[j], rows) for j in range(self.n_classes)]), key)

    def mstep(self, params, weights, ev, rows, q0=None):
        P = self._split(params).copy()
        for j in range(self.n_classes):
            old = wq_block(weights[j:j + 1], ev.logpdf[j:j + 1])
            cand = np.asarray(self.fit_class(weights[j], rows, start=P[j]), dtype=float)
            new = wq_block(weights[j:j + 1], self.logpdf_class(cand, rows)[None, :])
            if np.all(np.isfinite(cand)) and new >= old:
                P[j] = cand
        return P.ravel(), None

    def fit(self, weights, rows, **options):
        return np.concatenate([np.asarray(self.fit_class(weights[j], rows), dtype=float)
                               for j in range(self.n_classes)])

    def coef_table(self, params):
        return list(self.names), self._split(params).T.copy()

    def mean(self, params, rows):
        P = self._split(params)
        return np.stack([self.mean_class(P[j], rows) for j in range(self.n_classes)])

    def order_key(self, params, rows):
        try:
            m = self.mean(params, rows)
        except NotImplementedError:
            return self._split(params)[:, 0].copy()
        return (m @ rows.w) / rows.w.sum()

    def permute(self, params, perm):
        return self._split(params)[np.asarray(perm)].ravel()


class ComponentFamily(abc.ABC):
    """What ``family=`` accepts besides a statsmodels family: a maker of components.

    A statsmodels family describes one GLM; a ComponentFamily describes any other kind of
    component. The model calls :meth:`make_component` with its data (a
    :class:`~emglm.mixture.rows.Rows`) and the number of classes, and everything else (starts,
    EM, standard errors, ordering of the classes) is generic.
    """

    #: short name shown in summaries
    name = "Component"
    #: whether the components have a dispersion reported as ``scale``
    has_scale = False

    @abc.abstractmethod
    def make_component(self, rows, k, scale="component", var_floor=None) -> Component:
        """The component of ``k`` classes bound to ``rows``."""

    def check_endog(self, y, name="endog"):
        """Raise ValueError (naming ``name``) when ``y`` is outside the support."""

    def extra_data(self):
        """Further per-row data the components need, ``{name: column name or array}``.

        The model takes each (a column of the formula's data frame, or an array of one value
        per row), drops rows where it is missing together with the others, and hands the
        cleaned arrays to the components as ``rows.extra[name]``. Default: none.
        """
        return {}

    def prepare_endog(self, endog, endog_info=None):
        """``(response, family)`` before the numeric checks: a hook for categorical responses.

        ``endog_info`` is the formula's response design (patsy codes a categorical response
        as one indicator column per level) or None for arrays. The returned family may be a
        copy of this one that knows the response's levels. Default: both unchanged.
        """
        return endog, self

    def check_data(self, y, extra, name="endog"):
        """Raise ValueError when the response or the extra data are invalid (before any work).

        Default: :meth:`check_endog` on the response.
        """
        self.check_endog(y, name)

    def __repr__(self):
        return f"{type(self).__name__}()"
