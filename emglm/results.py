"""Results of an EMGLM fit: parameters, posteriors, likelihoods and criteria."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

__all__ = ["EMGLMResults"]


class EMGLMResults:
    """Results of :meth:`EMGLM.fit`.

    Components are ordered by increasing weighted mean linear predictor (offset excluded)
    over the training rows, ties broken by dispersion then proportion; a point mass is
    always last. Two fits reaching the same optimum therefore print the same table.

    Attributes
    ----------
    params : DataFrame
        Coefficients, rows = design terms (component terms, then shared ``fixed`` terms,
        which repeat across columns), columns = components (``comp1``...; a point-mass
        column has no coefficients and holds NaN).
    proportions : Series
        Mixing proportions (with concomitant variables: their average over units).
    scale : Series
        Dispersion of each GLM component (1 for Poisson, Binomial, NegativeBinomial).
    llf : float
        Observed-data log-likelihood ``sum_i w_i log sum_j pi_ij f_ij``.
    llf_history : ndarray
        llf at every accepted EM iterate (never decreasing beyond round-off).
    posterior : DataFrame
        Posterior class probabilities, index aligned with the rows used.
    llf_pooled : float
        ``sum_i w_i log f(y_i; mu_pooled_i)``, the figure emax.glm reports.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(3)
    >>> X = np.ones((200, 1))
    >>> y = np.concatenate([rng.normal(-3, 1, 100), rng.normal(3, 1, 100)])
    >>> res = EMGLM(y, X, k=2).fit()
    >>> np.round(res.proportions.to_numpy(), 2)
    array([0.5, 0.5])
    """

    def __init__(self, model, engine, theta, em_result, n_starts=1):
        self.model = model
        self._engine = engine
        self.theta = np.asarray(theta, dtype=float)
        self._em = em_result
        self.n_iter = int(em_result.n_iter)
        self.converged = bool(em_result.converged)
        self.llf_history = np.asarray(em_result.objective_history, dtype=float)
        self.n_starts = n_starts
        es = engine.estep(self.theta)
        self._es = es
        self.llf = float(es.llf)
        self.nobs = model.nobs
        self.k = model.k
        self.n_groups = model.n_groups
        self.family = model.family

    # ------------------------------------------------------------------ parameters
    @property
    def _P(self):
        return self._engine.unpack(self.theta)

    @property
    def component_names(self):
        return self.model.component_names

    @property
    def param_names(self):
        """Row labels of ``params``: component terms, then shared terms."""
        return list(self.model.exog_names) + list(self.model.fixed_names)

    @cached_property
    def params(self):
        P = self._P
        k, K = self.k, self._engine.K
        vals = np.full((len(self.param_names), K), np.nan)
        vals[: P.beta.shape[1], :k] = P.beta.T
        if P.delta.size:
            vals[P.beta.shape[1]:, :k] = P.delta[:, None]
        return pd.DataFrame(vals, index=self.param_names, columns=self.component_names)

    @cached_property
    def prior(self):
        """Prior class probabilities per unit (row, or group), (units, K)."""
        lp = self._engine.log_prior(self._P)
        return np.broadcast_to(np.exp(lp), (self._engine.G, self._engine.K))

    @cached_property
    def proportions(self):
        uw = self._engine.unit_w
        pi = (uw @ self.prior) / uw.sum()
        return pd.Series(pi, index=self.component_names, name="proportion")

    @cached_property
    def scale(self):
        return pd.Series(self._P.scale, index=self.component_names[: self.k], name="scale")

    @cached_property
    def posterior(self):
        return pd.DataFrame(self._es.T, index=self.model.row_index, columns=self.component_names)

    # ------------------------------------------------------------------ criteria
    @property
    def df_model(self):
        """Number of free parameters (coefficients, dispersions, mixing parameters)."""
        return int(self._engine.layout.size)

    @property
    def nobs_effective(self):
        """The n in BIC: the number of groups for grouped data, else the (weighted) nobs."""
        return float(self.n_groups) if self.n_groups is not None else float(self.nobs)

    @property
    def aic(self):
        return -2.0 * self.llf + 2.0 * self.df_model

    @property
    def bic(self):
        return -2.0 * self.llf + np.log(self.nobs_effective) * self.df_model

    @property
    def entropy(self):
        """Classification entropy ``-sum_u w_u sum_j T_uj log T_uj`` (units: rows or groups)."""
        Tu = self._es.Tunit
        with np.errstate(divide="ignore", invalid="ignore"):
            e = -np.where(Tu > 0, Tu * np.log(Tu), 0.0).sum(axis=1)
        return float(self._engine.unit_w @ e)

    @property
    def icl(self):
        """ICL: BIC plus twice the classification entropy."""
        return self.bic + 2.0 * self.entropy

    # ------------------------------------------------------------------ pooled predictions
    def _pooled(self, T, Eta, scale):
        """Pooled linear predictor, mean and dispersion (seed: theta_pooled = sum_j T_ij eta_ij).

        The pooling runs over the GLM components with the posterior renormalised among them
        (a point mass has no linear predictor). The pooled dispersion is the harmonic
        posterior-weighted mean ``1 / sum_j (T_ij / phi_j)`` (exact for Gaussian geometric
        pooling).
        """
        k = self.k
        Tg = T[:, :k]
        s = Tg.sum(axis=1, keepdims=True)
        Tg = np.divide(Tg, s, out=np.full_like(Tg, 1.0 / k), where=s > 0)
        eta = np.sum(Tg * Eta, axis=1)
        mu = self._engine.fam.mean(eta)
        phi = 1.0 / np.sum(Tg / scale[None, :], axis=1)
        return eta, mu, phi

    @cached_property
    def _pooled_train(self):
        return self._pooled(self._es.T, self._es.Eta, self._P.scale)

    @property
    def fittedvalues(self):
        """Pooled mean ``mu_i = g^-1(sum_j T_ij eta_ij)`` on the training rows."""
        return pd.Series(self._pooled_train[1], index=self.model.row_index, name="fitted")

    @cached_property
    def llf_pooled(self):
        eta, mu, phi = self._pooled_train
        ll = self._engine.fam.loglike(eta, mu, phi)
        return float(self.model.freq_weights @ ll)

    # ------------------------------------------------------------------ plots (emglm.plotting)
    def plot_posterior(self, **kwargs):
        """Posterior probabilities by row and their rootogram; see :func:`emglm.plotting.plot_posterior`."""
        from .plotting import plot_posterior

        return plot_posterior(self, **kwargs)

    def plot_params(self, alpha=0.05, ax=None):
        """Coefficients with intervals, components side by side; see :func:`emglm.plotting.plot_params`."""
        from .plotting import plot_params

        return plot_params(self, alpha=alpha, ax=ax)

    def plot_convergence(self, kind="llf", ax=None):
        """Log-likelihood by EM iteration; see :func:`emglm.plotting.plot_convergence`."""
        from .plotting import plot_convergence

        return plot_convergence(self, kind=kind, ax=ax)

    def plot_diagnostics(self, random_state=None, **kwargs):
        """Residual, QQ, observed-vs-fitted and entropy panels; see :func:`emglm.plotting.plot_diagnostics`."""
        from .plotting import plot_diagnostics

        return plot_diagnostics(self, random_state=random_state, **kwargs)

    def __repr__(self):
        return (f"<EMGLMResults: {self.model.family_name} mixture, k={self.k}, "
                f"llf={self.llf:.4f}, converged={self.converged}>")
