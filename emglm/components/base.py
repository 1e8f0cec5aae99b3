"""What the components of :mod:`emglm.components` share: a Newton fit and a family base.

Every model here is a :class:`~emglm.mixture.SimpleComponent` whose subclass supplies, for
one class, the per-row log-density and its per-row gradient with respect to that class's
(unconstrained) parameters (:meth:`NewtonComponent.loglike_grad`). From that:

* the weighted fit is Newton's method on ``sum_i w_i log f_i`` with step halving (a step is
  taken only when it raises the weighted log-likelihood, so an M-step started from the
  current parameters never lowers it); the Hessian is the model's own when it has one,
  otherwise a central difference of the analytic weighted gradient;
* the scores for standard errors are the analytic per-row gradients, weighted by the
  posterior (Fisher's identity).

:class:`LinearScaleComponent` covers models with one linear predictor ``eta = X beta +
offset`` and a few scalar parameters (a log scale, a log precision): the model supplies the
per-row log-density and its derivatives with respect to ``eta`` and the scalars, and the
Hessian is built from per-row second derivatives in those few quantities (differences of
the analytic first derivatives), so its cost does not grow with the number of regressors.
"""

from __future__ import annotations

import abc

import numpy as np

from ..mixture.component import ComponentFamily, Evaluation, SimpleComponent, wq_block

__all__ = ["NewtonComponent", "LinearScaleComponent", "ResponseFamily", "newton_maximize",
           "design_names", "trigamma"]

#: Newton steps of one M-step (a generalised M-step: the step raises the weighted
#: log-likelihood; the EM iterations do the rest, and near the optimum one Newton step is
#: almost the exact M-step)
MSTEP_NEWTON = 1


def design_names(rows, cols=None):
    """Names of the design columns ``cols`` (``x0, x1, ...`` when the rows carry none).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm.mixture import Rows
    >>> design_names(Rows(np.zeros(2), np.ones((2, 2))))
    ['x0', 'x1']
    """
    names = rows.exog_names if rows.exog_names is not None else [f"x{i}" for i in range(rows.p)]
    return [names[i] for i in (range(rows.p) if cols is None else cols)]


def trigamma(x):
    """The trigamma function ``psi'(x)`` for ``x > 0``, vectorised (a few times faster than
    ``scipy.special.polygamma(1, x)``, which goes through the Hurwitz zeta function).

    The recurrence ``psi'(x) = psi'(x + 1) + 1 / x^2`` moves every argument to 8 or above,
    where the asymptotic series to the ``x^-13`` term is accurate to about 1e-13 relative.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import special
    >>> x = np.array([0.01, 0.7, 3.0, 25.0, 1e6])
    >>> bool(np.allclose(trigamma(x), special.polygamma(1, x), rtol=1e-12, atol=0))
    True
    >>> round(float(trigamma(1.0)), 12) == round(np.pi ** 2 / 6, 12)
    True
    """
    x = np.asarray(x, dtype=float)
    shape, x = x.shape, x.ravel()
    z, out = x.copy(), np.zeros(x.shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(8):  # every x >= 0 ends at 8 or above (in-place passes: cheap)
            low = z < 8.0
            t = z * z
            np.divide(low, t, out=t)
            out += t
            z += low
        r = 1.0 / z
        r2 = r * r
        out += r + 0.5 * r2 + r * r2 * (1.0 / 6.0 + r2 * (-1.0 / 30.0 + r2 * (1.0 / 42.0 + r2 * (
            -1.0 / 30.0 + r2 * (5.0 / 66.0 - r2 * 691.0 / 2730.0)))))
    return np.where(x > 0, out, np.where(x == 0, np.inf, np.nan)).reshape(shape)


def newton_maximize(fun, grad_hess, x0, maxiter=100, tol=1e-10, f0=None):
    """Maximise ``fun`` by Newton's method with step halving, from ``x0``.

    ``grad_hess(x)`` returns the gradient and Hessian; a Hessian that is not negative
    definite is shifted (Levenberg) until it is. A step is accepted only when ``fun`` does
    not decrease, so the result is never worse than ``x0`` (``f0``: ``fun(x0)`` when known).

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda x: -np.sum((x - 3.0) ** 2)
    >>> gh = lambda x: (-2 * (x - 3.0), -2 * np.eye(x.size))
    >>> newton_maximize(f, gh, np.zeros(2)).round(6).tolist()
    [3.0, 3.0]
    """
    x = np.array(x0, dtype=float)
    f0 = fun(x) if f0 is None else f0
    for _ in range(maxiter):
        g, H = grad_hess(x)
        if not np.all(np.isfinite(g)) or not np.all(np.isfinite(H)):
            break
        A = -0.5 * (H + H.T)
        d = np.diag(A)
        lam = 0.0
        scale = np.maximum(np.abs(d), 1e-12)
        for _ in range(60):
            try:
                L = np.linalg.cholesky(A + lam * np.diag(scale))
                break
            except np.linalg.LinAlgError:
                lam = 1e-8 if lam == 0.0 else lam * 10.0
        else:
            break
        step = np.linalg.solve(L.T, np.linalg.solve(L, g))
        t = 1.0
        while True:
            cand = x + t * step
            with np.errstate(all="ignore"):
                f1 = fun(cand)
            if np.isfinite(f1) and f1 >= f0:
                break
            t /= 2.0
            if t < 1e-12:
                return x
        x, gain = cand, f1 - f0
        f0 = f1
        if np.max(np.abs(t * step)) < tol or gain < tol * 1e-3 * (1.0 + abs(f0)):
            break
    return x


class NewtonComponent(SimpleComponent):
    """A :class:`SimpleComponent` fitted by Newton's method from analytic per-row gradients.

    Subclasses implement :meth:`loglike_grad` and :meth:`start_class`; optionally
    :meth:`hessian` (the default differences the weighted gradient).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm.mixture import Rows
    >>> from emglm.components import OrderedLogit
    >>> comp = OrderedLogit().make_component(Rows(np.array([0.0, 1.0, 1.0, 2.0]), np.arange(4.0)[:, None]), 1)
    >>> isinstance(comp, NewtonComponent), comp.names
    (True, ['x0', 'cut1', 'log_dcut2'])
    """

    @abc.abstractmethod
    def loglike_grad(self, params, rows, grad=True):
        """``(logpdf (n,), gradient (n, n_params_class) or None)`` of one class."""

    @abc.abstractmethod
    def start_class(self, weights, rows):
        """Starting parameters of a complete weighted fit."""

    def logpdf_class(self, params, rows):
        return self.loglike_grad(params, rows, grad=False)[0]

    def weighted_grad(self, params, weights, rows):
        """Gradient of ``sum_i w_i log f_i`` (models may avoid forming the per-row gradients)."""
        return weights @ self.loglike_grad(params, rows)[1]

    def hessian(self, params, weights, rows):
        """Hessian of ``sum_i w_i log f_i`` (central differences of the analytic gradient)."""
        d = params.size
        H = np.empty((d, d))
        h = 1e-6 * np.maximum(np.abs(params), 1.0)
        for i in range(d):
            up, dn = params.copy(), params.copy()
            up[i] += h[i]
            dn[i] -= h[i]
            H[:, i] = (weights @ self.loglike_grad(up, rows)[1] - weights @ self.loglike_grad(dn, rows)[1]) / (2 * h[i])
        return 0.5 * (H + H.T)

    def _weighted(self, weights, rows):
        last = {}

        def fun(b):
            lp = self.logpdf_class(b, rows)
            last["x"], last["lp"] = b.copy(), lp
            return wq_block(weights[None, :], lp[None, :])

        def grad_hess(b):
            return self.weighted_grad(b, weights, rows), self.hessian(b, weights, rows)

        return fun, grad_hess, last

    def fit_class(self, weights, rows, start=None, maxiter=100):
        x0 = self.start_class(weights, rows) if start is None else np.asarray(start, dtype=float)
        fun, gh, _ = self._weighted(weights, rows)
        return newton_maximize(fun, gh, x0, maxiter=maxiter)

    def mstep(self, params, weights, ev, rows, q0=None):
        P = self._split(params).copy()
        L = np.array(ev.logpdf, dtype=float, copy=True)
        for j in range(self.n_classes):
            fun, gh, last = self._weighted(weights[j], rows)
            f0 = wq_block(weights[j:j + 1], ev.logpdf[j:j + 1])
            cand = newton_maximize(fun, gh, P[j], maxiter=MSTEP_NEWTON, f0=f0)
            if np.all(np.isfinite(cand)) and not np.array_equal(cand, P[j]):
                lp = last["lp"] if np.array_equal(last.get("x"), cand) else self.logpdf_class(cand, rows)
                if wq_block(weights[j:j + 1], lp[None, :]) >= f0:
                    P[j], L[j] = cand, lp
        new = P.ravel()
        # the log-densities at the new parameters, for the next E-step to reuse
        return new, Evaluation(L, new.tobytes())

    def score_rows(self, params, ev, weights, rows):
        P = self._split(params)
        d = self.n_params_class
        out = np.zeros((rows.n, self.n_params))
        for j in range(self.n_classes):
            G = self.loglike_grad(P[j], rows)[1]
            out[:, j * d:(j + 1) * d] = np.where(weights[j][:, None] > 0, weights[j][:, None] * G, 0.0)
        return out


class LinearScaleComponent(NewtonComponent):
    """One linear predictor ``eta = X beta + offset`` and ``m`` scalar parameters.

    Subclasses implement :meth:`row_derivs`: the per-row log-density and its derivatives
    with respect to ``eta`` and each scalar (an (n, 1 + m) array), given ``eta`` and the
    scalars. Parameters are ``beta`` then the scalars, labelled ``scalar_names``.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm.mixture import Rows
    >>> from emglm.components import LogNormal
    >>> comp = LogNormal().make_component(Rows(np.array([1.0, 2.0]), np.ones((2, 1))), 1)
    >>> isinstance(comp, LinearScaleComponent), comp.names
    (True, ['x0', 'log_sigma'])
    """

    scalar_names: tuple = ()

    def __init__(self, rows, k, family=None):
        self.family = family
        self.xnames = design_names(rows)
        super().__init__(k, self.xnames + list(self.scalar_names))

    @abc.abstractmethod
    def row_derivs(self, eta, s, rows, grad=True):
        """``(logpdf (n,), D (n, 1 + m) or None)``: derivatives in ``eta`` and the scalars ``s``."""

    def _eta(self, params, rows):
        # the last linear predictor is kept: the gradient and the Hessian of a Newton step,
        # and the log-densities at the accepted point, are taken at the same parameters
        key = np.asarray(params[:rows.p], dtype=float).tobytes()
        memo = self.__dict__.get("_eta_memo")
        if memo is not None and memo[0] is rows and memo[1] == key:
            return memo[2]
        eta = rows.X @ params[:rows.p] + rows.offset
        self._eta_memo = (rows, key, eta)
        return eta

    def __getstate__(self):
        state = dict(self.__dict__)
        for name in ("_eta_memo", "_lsf_memo"):  # caches of the last evaluation, not state
            state.pop(name, None)
        return state

    def loglike_grad(self, params, rows, grad=True):
        params = np.asarray(params, dtype=float)
        s = params[rows.p:]
        with np.errstate(all="ignore"):
            ll, D = self.row_derivs(self._eta(params, rows), s, rows, grad)
        if not grad:
            return ll, None
        return ll, np.hstack([rows.X * D[:, :1], D[:, 1:]])

    def weighted_grad(self, params, weights, rows):
        params = np.asarray(params, dtype=float)
        with np.errstate(all="ignore"):
            D = self.row_derivs(self._eta(params, rows), params[rows.p:], rows)[1]
        wD = weights[:, None] * D
        return np.r_[rows.X.T @ wD[:, 0], wD[:, 1:].sum(axis=0)]

    def row_second(self, eta, s, rows):
        """(n, 1 + m, 1 + m) per-row second derivatives in ``eta`` and the scalars, or None
        (then central differences of :meth:`row_derivs`)."""
        return None

    def row_second_numeric(self, eta, s, rows):
        """Per-row second derivatives by central differences of the analytic first ones."""
        m1 = 1 + s.size
        D2 = np.empty((rows.n, m1, m1))
        for b in range(m1):
            h = 1e-5 * (np.maximum(1.0, np.abs(eta)) if b == 0 else max(1.0, abs(s[b - 1])))
            e_up, e_dn, s_up, s_dn = eta, eta, s.copy(), s.copy()
            if b == 0:
                e_up, e_dn = eta + h, eta - h
            else:
                s_up[b - 1] += h
                s_dn[b - 1] -= h
            with np.errstate(all="ignore"):
                diff = self.row_derivs(e_up, s_up, rows)[1] - self.row_derivs(e_dn, s_dn, rows)[1]
                D2[:, :, b] = diff / (2 * h[:, None] if b == 0 else 2 * h)
        return 0.5 * (D2 + D2.transpose(0, 2, 1))

    def hessian(self, params, weights, rows):
        params = np.asarray(params, dtype=float)
        eta, s = self._eta(params, rows), params[rows.p:]
        m1 = 1 + s.size
        with np.errstate(all="ignore"):
            D2 = self.row_second(eta, s, rows)
        if D2 is None:
            D2 = self.row_second_numeric(eta, s, rows)
        wD = D2 * weights[:, None, None]
        wD = np.where(np.isfinite(wD), wD, 0.0)
        X, p = rows.X, rows.p
        H = np.empty((p + m1 - 1, p + m1 - 1))
        H[:p, :p] = (X * wD[:, 0, 0][:, None]).T @ X
        H[:p, p:] = X.T @ wD[:, 0, 1:]
        H[p:, :p] = H[:p, p:].T
        H[p:, p:] = wD[:, 1:, 1:].sum(axis=0)
        return H

    def mean_class(self, params, rows):
        raise NotImplementedError(f"{type(self).__name__} does not supply means")

    def coef_table(self, params):
        return list(self.names), self._split(params).T.copy()


class ResponseFamily(ComponentFamily):
    """Base of the families in :mod:`emglm.components`: a name and a component class.

    Examples
    --------
    >>> from emglm.components import Weibull
    >>> isinstance(Weibull(), ResponseFamily), Weibull(status="died")
    (True, Weibull(status='died'))
    """

    component_class = None

    def make_component(self, rows, k, scale="component", var_floor=None):
        return self.component_class(rows, k, self)

    def __eq__(self, other):
        return type(self) is type(other) and repr(self) == repr(other)

    def __hash__(self):
        return hash(repr(self))
