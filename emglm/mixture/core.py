"""Mixture: components, a mixing model and the rows, behind one EM map.

The flat parameter vector is the components' vectors in order, then the mixing
coefficients; its layout is built from the parts' sizes. One EM iteration is

* the E-step (:meth:`Mixture.estep`): every component's per-row log-densities, plus the log
  prior, turned into posteriors and the log-likelihood in log space (log-sum-exp), in one
  pass over the blocks of rows (per group for grouped data);
* the M-step (:meth:`Mixture.mstep`): each component's generalised M-step from its posterior
  weights, and the mixing model's.

A component's M-step returns its Evaluation at the new parameters; the next E-step at those
parameters reuses it (a cache keyed by parameter values: recomputing gives the same numbers).
"""

from __future__ import annotations

import numpy as np

from ..layout import ParamLayout, Params
from .component import wq_block
from .glm import GLMComponent
from .pointmass import PointMass
from .rows import ordered_sum

__all__ = ["Mixture", "EStep", "order_classes"]


def order_classes(key, scale, pi):
    """Permutation sorting classes by ``key`` (ties to 1e-10 relative broken by ``scale``, then
    by the proportions ``pi``).

    Examples
    --------
    >>> order_classes(np.array([2.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.5]), np.ones(3)).tolist()
    [1, 2, 0]
    """
    keyv = np.round(key / (np.max(np.abs(key)) + 1e-300), 10)
    return np.lexsort((pi, scale, keyv))


def _lse_posterior(A):
    """Row log-sum-exp and posterior of the (K, m) array ``A`` of log joint densities, in place.

    ``A`` becomes the posterior (returned as an (m, K) view); written out because
    ``scipy.special.logsumexp`` makes several full-size copies. A column whose entries are
    all ``-inf`` gets ``ll = -inf`` and a NaN posterior.
    """
    m = A.max(axis=0)
    if not np.all(np.isfinite(m)):
        m[~np.isfinite(m)] = 0.0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        A -= m
        np.exp(A, out=A)
        s = A.sum(axis=0)
        A /= s
        ll = np.log(s)
    ll += m
    return ll, A.T


class EStep:
    """E-step at one parameter vector.

    Attributes
    ----------
    llf : float
        Observed-data log-likelihood.
    T : (n, K) row-level posterior; ``Tunit`` the unit-level one (groups, or rows).
    ll_unit : (units,) log-likelihood contribution of each unit (without its weight).
    evals : list of Evaluation, one per component.
    q : list of float or None
        Each component's ``sum_i w_i sum_j T_ij log f_ij`` (None when not computed).
    """

    def __init__(self, llf, T, Tunit, ll_unit, evals, q, slices):
        self.llf, self.T, self.Tunit, self.ll_unit = llf, T, Tunit, ll_unit
        self.evals, self.q, self._slices = evals, q, slices

    @property
    def L(self):
        """(n, K) per-row log-densities."""
        return np.vstack([ev.logpdf for ev in self.evals]).T

    @property
    def Eta(self):
        """(n, k) linear predictors of the GLM component."""
        return self.evals[0].E.T

    @property
    def Mu(self):
        """(n, k) means of the GLM component."""
        return self.evals[0].M.T


class Mixture:
    """A finite mixture: components (covering K classes), a mixing model and the rows.

    Parameters
    ----------
    components : list of Component
        The first is the regression component (a :class:`GLMComponent` or a user component);
        a :class:`PointMass`, if any, comes last.
    mixing : Mixing
    rows : Rows

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.mixture import Rows, GLMComponent, make_mixing
    >>> rng = np.random.default_rng(0)
    >>> y = rng.poisson(np.where(rng.random(400) < 0.5, 1.0, 8.0)).astype(float)
    >>> rows = Rows(y, np.ones((400, 1)))
    >>> mix = Mixture([GLMComponent(sm.families.Poisson(), rows, 2)], make_mixing("estimate", 2), rows)
    >>> T = np.column_stack([y < 4, y >= 4]).astype(float)
    >>> theta = mix.fit_from_posterior(T)
    >>> bool(mix.objective(mix.fixed_point(theta)) >= mix.objective(theta))
    True
    """

    def __init__(self, components, mixing, rows):
        self.components = list(components)
        self.mixing = mixing
        self.rows = rows
        sizes = [c.n_params for c in self.components]
        ends = np.cumsum([0] + sizes)
        self._param_slices = [slice(int(a), int(b)) for a, b in zip(ends[:-1], ends[1:])]
        self._gamma_slice = slice(int(ends[-1]), int(ends[-1]) + mixing.n_params)
        cls = [c.n_classes for c in self.components]
        cends = np.cumsum([0] + cls)
        self._class_slices = [slice(int(a), int(b)) for a, b in zip(cends[:-1], cends[1:])]
        self.K = int(cends[-1])
        self.k = sum(c.n_classes for c in self.components if c.is_regression)
        self._cache = {}
        self._memo = [None] * len(self.components)
        g = self.components[0]
        #: the regression components (several when each component is its own model)
        self.regression = [c for c in self.components if c.is_regression]
        self.glm = g if isinstance(g, GLMComponent) and len(self.regression) == 1 else None
        #: whether the classes keep the order given (different models, or designs of their own)
        self.keeps_order = len(self.regression) > 1 or any(getattr(c, "keeps_order", False) for c in self.regression)
        pm = [c for c in self.components if isinstance(c, PointMass)]
        self.point_mass = pm[0].value if pm else None
        if self.glm is not None:
            self.layout = ParamLayout(self.k, rows.p, rows.q, g.n_scale, self.K, mixing.r, mixing.estimate)
        else:
            self.layout = None

    # ------------------------------------------------------------------ shapes
    @property
    def size(self):
        """Length of the flat parameter vector."""
        return self._gamma_slice.stop

    @property
    def n_jobs(self):
        return self.rows.n_jobs

    @n_jobs.setter
    def n_jobs(self, v):
        self.rows.n_jobs = v

    @property
    def G(self):
        return self.rows.G

    @property
    def n(self):
        return self.rows.n

    @property
    def groups(self):
        return self.rows.groups

    @property
    def unit_w(self):
        return self.rows.unit_w

    @property
    def w(self):
        return self.rows.w

    @property
    def y(self):
        return self.rows.y

    @property
    def equal(self):
        return not self.mixing.estimate

    # the GLM component's family adapter and the design, for the GLM-specific layers
    # (inference, prediction, residuals) that work on one GLM component
    @property
    def fam(self):
        return self.glm.fam

    @property
    def X(self):
        return self.rows.X

    @property
    def U(self):
        return self.rows.U

    @property
    def Z(self):
        return self.rows.Z

    @property
    def p(self):
        return self.rows.p

    @property
    def q(self):
        return self.rows.q

    @property
    def r(self):
        return self.mixing.r

    @property
    def offset(self):
        return self.rows.offset

    def component_params(self, theta):
        """Each component's slice of ``theta``."""
        theta = np.asarray(theta, dtype=float)
        return [theta[s] for s in self._param_slices]

    def class_slice(self, c):
        """Columns of the (n, K) posterior that belong to component ``c``."""
        return self._class_slices[c]

    def param_slice(self, c):
        """Entries of ``theta`` that belong to component ``c``."""
        return self._param_slices[c]

    @property
    def gamma_slice(self):
        return self._gamma_slice

    def gamma(self, theta):
        return self.mixing.unpack(np.asarray(theta, dtype=float)[self._gamma_slice])

    def unpack(self, theta) -> Params:
        """GLM view of ``theta``: ``Params(beta, delta, scale, gamma)``."""
        beta, delta, scale = self.glm.unpack(self.component_params(theta)[0])
        return Params(beta, delta, scale, self.gamma(theta))

    def pack(self, P) -> np.ndarray:
        return self.join([self.glm.pack(P.beta, P.delta, P.scale)] +
                         [np.zeros(0)] * (len(self.components) - 1), P.gamma)

    def join(self, parts, gamma):
        """Flat vector from the components' parameters and the mixing coefficients."""
        g = np.asarray(gamma, dtype=float).ravel() if self.mixing.estimate else np.zeros(0)
        return np.concatenate([np.asarray(p, dtype=float).ravel() for p in parts] + [g])

    def log_prior(self, P_or_theta):
        gamma = P_or_theta.gamma if isinstance(P_or_theta, Params) else self.gamma(P_or_theta)
        return self.mixing.log_prior(gamma, self.rows)

    # ------------------------------------------------------------------ E-step
    def clear_cache(self):
        """Forget the cached E-step and the components' last evaluations (timing runs)."""
        self._cache.clear()
        self._memo = [None] * len(self.components)

    def estep(self, theta):
        """E-step at ``theta`` (cached by value for the last vector)."""
        theta = np.asarray(theta, dtype=float)
        key = theta.tobytes()
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        # one cached E-step: dropping the previous one first keeps peak memory near two
        # E-steps' worth of (K, n) arrays (the EM driver never goes back)
        self._cache.clear()
        rows = self.rows
        evals = [c.evaluate(p, rows, reuse=m)
                 for c, p, m in zip(self.components, self.component_params(theta), self._memo)]
        self._memo = [None] * len(self.components)
        lp = self.log_prior(theta)
        if rows.groups is None:
            llf, T, ll, q = self._posterior_pass(evals, np.ascontiguousarray(lp.T))
            Tunit = T
        else:
            L = np.vstack([ev.logpdf for ev in evals]).T
            Lg = rows.unit_sum(np.where(np.isfinite(L), L, -1e300))
            Lg[Lg < -1e299] = -np.inf
            ll, Tunit = _lse_posterior(np.ascontiguousarray((Lg + lp).T))
            T = Tunit[rows.groups]
            llf = float(ll.sum())
            q = None
        if not np.isfinite(llf):
            llf = -np.inf
        out = EStep(llf, T, Tunit, ll, evals, q, self._class_slices)
        self._cache[key] = out
        return out

    def _posterior_pass(self, evals, lp):
        """Posterior, row log-likelihoods and per-component ``sum w T log f`` in one pass."""
        rows, K, n = self.rows, self.K, self.rows.n
        T, ll = rows.buffers.empty((K, n)), rows.buffers.empty(n)
        lp_rows = lp.shape[1] == n
        w, unit = rows.w, rows.unit_weights
        cs = self._class_slices
        nc = len(evals)

        def block(s, e):
            Tb = T[:, s:e]
            # log-densities made (or read) block by block: no whole (K, n) copy of them
            Lb = [ev.logpdf_block(s, e) for ev in evals]
            for c in range(nc):
                Tb[cs[c]] = Lb[c]
            Tb += lp[:, s:e] if lp_rows else lp
            ll[s:e] = _lse_posterior(Tb)[0]
            return [wq_block(Tb[cs[c]] if unit else Tb[cs[c]] * w[s:e], Lb[c]) for c in range(nc)]

        parts = rows.map_blocks(block)
        q = [ordered_sum(b[c] for b in parts) for c in range(nc)]
        llf = float(ll.sum()) if unit else float(w @ ll)
        return llf, T.T, ll, q

    def objective(self, theta):
        """Observed-data log-likelihood ``sum_i w_i log sum_j pi_ij f_ij``."""
        return self.estep(theta).llf

    # ------------------------------------------------------------------ M-step
    def weights(self, T, c=0):
        """(n_classes, n) M-step weights ``w_i T_ij`` of component ``c``'s classes."""
        Tk = np.asarray(T)[:, self._class_slices[c]].T
        if self.rows.unit_weights:
            return Tk if Tk.flags.c_contiguous else np.ascontiguousarray(Tk)
        return Tk * self.rows.w

    def mstep(self, theta, es=None):
        """One generalised M-step from ``theta`` with the posterior of ``es`` (E-step at theta)."""
        es = self.estep(theta) if es is None else es
        parts, memo = [], []
        for c, (comp, p) in enumerate(zip(self.components, self.component_params(theta))):
            q0 = None if es.q is None else es.q[c]
            new, ev = comp.mstep(p, self.weights(es.T, c), es.evals[c], self.rows, q0=q0)
            parts.append(new)
            memo.append(ev)
        gamma = self.mixing.mstep(self.gamma(theta), es.Tunit, self.rows)
        self._memo = memo
        return self.join(parts, gamma)

    def fixed_point(self, theta):
        """The EM map: E-step at ``theta`` then one generalised M-step."""
        return self.mstep(theta)

    def fit_from_posterior(self, T, **options):
        """Parameters maximising the complete-data log-likelihood given posterior ``T`` (n, K).

        Complete weighted fits of every component and of the mixing model (the starting
        values of a start); ``options`` (such as ``maxiter``, ``tol``) go to the components'
        :meth:`~emglm.mixture.Component.fit`.
        """
        T = np.asarray(T, dtype=float)
        parts = [comp.fit(self.weights(T, c), self.rows, **options) for c, comp in enumerate(self.components)]
        Tunit = T if self.rows.groups is None else self.rows.unit_mean(T)
        return self.join(parts, self.mixing.fit(Tunit, self.rows))

    def information_and_score(self, theta):
        """Observed information and score at ``theta`` (one pass over the rows), or None when
        a component does not supply second derivatives (see
        :func:`emglm.information.information_and_score`).

        Examples
        --------
        >>> import numpy as np, statsmodels.api as sm
        >>> from emglm import EMGLM
        >>> y = np.array([0.0, 1, 1, 2, 3, 5, 8, 13])
        >>> mix = EMGLM(y, np.ones((8, 1)), k=2, family=sm.families.Poisson()).make_mixture()
        >>> info, score = mix.information_and_score(np.array([0.0, 2.0, 0.0]))
        >>> info.shape, score.shape
        ((3, 3), (3,))
        """
        from ..information import information_and_score, supports_analytic

        return information_and_score(self, theta) if supports_analytic(self) else None

    # ------------------------------------------------------------------ GLM conveniences
    def linear_predictors(self, P_or_theta):
        """(n, k) linear predictors of the GLM component (offset and shared terms included)."""
        if isinstance(P_or_theta, Params):
            p = self.glm.pack(P_or_theta.beta, P_or_theta.delta, P_or_theta.scale)
        else:
            p = self.component_params(P_or_theta)[0]
        return self.glm.linear_predictor(p, self.rows).T

    # ------------------------------------------------------------------ ordering
    def order(self, theta):
        """Permutation putting the regression classes in increasing order of their key
        (weighted mean linear predictor, offset excluded, for GLMs); ties (to 1e-10 relative)
        are broken by dispersion, then by proportion. A point mass stays last."""
        if self.keeps_order:  # different models: kept in the order they were given
            return np.arange(self.k)
        comp, p = self.components[0], self.component_params(theta)[0]
        k = comp.n_classes
        pi = np.exp(self.log_prior(theta)).mean(axis=0)[:k]
        return order_classes(comp.order_key(p, self.rows), comp.scale(p), pi)

    def remember(self, c, ev):
        """Keep component ``c``'s Evaluation ``ev`` for the next E-step, which reuses it when
        its parameters match (a backend that runs the M-step's trials itself)."""
        self._memo[c] = ev

    def permute(self, theta, perm):
        """Reorder the regression classes of ``theta`` by ``perm`` (a point mass stays last)."""
        if self.keeps_order:
            if np.array_equal(perm, np.arange(self.k)):
                return np.asarray(theta, dtype=float)
            raise ValueError("the components of a model with a family per component keep their order")
        parts = self.component_params(theta)
        parts[0] = self.components[0].permute(parts[0], perm)
        order = np.concatenate([perm, np.arange(self.components[0].n_classes, self.K)])
        return self.join(parts, self.mixing.permute(self.gamma(theta), order))
