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
    starts : DataFrame
        What the starts found, one row per start (:func:`emglm.screening.starts_table`):
        kind, short-run and converged llf, iterations, and which distinct optimum each
        reached (1 = the best).
    cov_type : str
        Covariance of the estimates ("oim", "opg", "robust" or "none"), computed on first
        use of ``bse``, ``cov_params()``, ``conf_int()`` or ``summary()`` (:mod:`emglm.inference`).
    bse, tvalues, pvalues : DataFrame
        Shaped like ``params`` (z statistics and normal p-values); shared terms repeat.
    bse_proportions, bse_scale : Series
        Delta-method standard errors of ``proportions`` and ``scale``.
    resid_response, resid_pearson, resid_deviance : Series
        GLM residuals at the pooled mean (:mod:`emglm.residuals`); see also
        ``resid_quantile()``, ``deviance``, ``pearson_chi2`` and ``dispersion_test()``.

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

    def __init__(self, model, engine, theta, em_result, n_starts=1, cov_type="oim"):
        from .inference import check_cov_type

        self.cov_type = check_cov_type(cov_type)
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

    # ------------------------------------------------------------------ inference
    @cached_property
    def _theta_labels(self):
        """(component, term) label of every entry of the flat ``theta``.

        Coefficients ``(compj, term)``; shared terms ``("shared", term)``; dispersions
        ``(compj, "scale")`` or ``("shared", "scale")``; mixing logits (versus the first
        class) ``("mixing", "compj:term")`` with term ``Intercept`` for constant proportions.
        """
        m, lay = self.model, self._engine.layout
        comps = list(self.component_names)
        labels = [(c, t) for c in comps[: self.k] for t in m.exog_names]
        labels += [("shared", t) for t in m.fixed_names]
        if lay.n_scale == 1:
            labels.append(("shared", "scale"))
        elif lay.n_scale:
            labels += [(c, "scale") for c in comps[: self.k]]
        if lay.n_gamma:
            znames = list(m.concomitant_names) if self._engine.Z is not None else ["Intercept"]
            labels += [("mixing", f"{c}:{t}") for c in comps[1:] for t in znames]
        return labels

    @cached_property
    def _cov(self):
        from .inference import covariance

        out = covariance(self._engine, self.theta, self.cov_type)
        self._es = self._engine.estep(self.theta)
        self._cov_pd = out["positive_definite"]
        return out

    @property
    def cov_theta(self):
        """Covariance of the flat ``theta`` (log dispersions and mixing logits), ndarray."""
        return self._cov["cov"]

    @cached_property
    def _scale_mask(self):
        lay = self._engine.layout
        mask = np.zeros(lay.size, dtype=bool)
        mask[lay.slices[2]] = True
        return mask

    @cached_property
    def _reported_params(self):
        """Estimates labelled like ``cov_params`` (dispersions exponentiated)."""
        v = self.theta.copy()
        v[self._scale_mask] = np.exp(v[self._scale_mask])
        return pd.Series(v, index=pd.MultiIndex.from_tuples(self._theta_labels, names=["component", "term"]))

    def cov_params(self):
        """Covariance of all parameters together, a DataFrame labelled (component, term).

        Rows/columns: each component's coefficients ``(compj, term)``, shared coefficients
        ``("shared", term)``, dispersions ``(compj, "scale")`` (or ``("shared", "scale")``)
        by the delta method from the log dispersion, and mixing logits versus the first
        class ``("mixing", "compj:term")``. ``cov_type`` (given to ``fit``) chooses the
        observed information ("oim"), outer product of scores ("opg"), sandwich ("robust")
        or none (NaN). Computed on first use and cached.
        """
        J = np.where(self._scale_mask, np.exp(self.theta), 1.0)
        cov = self.cov_theta * J[:, None] * J[None, :]
        idx = self._reported_params.index
        return pd.DataFrame(cov, index=idx, columns=idx)

    def _like_params(self, flat):
        """Place a flat (theta-ordered) vector of per-coefficient values into a params-shaped frame."""
        lay, k = self._engine.layout, self.k
        out = np.full(self.params.shape, np.nan)
        sb, sd, _, _ = lay.slices
        out[: lay.p, :k] = flat[sb].reshape(k, lay.p).T
        if lay.q:
            out[lay.p:, :k] = flat[sd][:, None]
        return pd.DataFrame(out, index=self.params.index, columns=self.params.columns)

    @cached_property
    def _bse_flat(self):
        return np.sqrt(np.maximum(np.diag(self.cov_theta), 0.0))

    @cached_property
    def bse(self):
        """Standard errors shaped like ``params`` (NaN only in a point-mass column)."""
        return self._like_params(self._bse_flat)

    @cached_property
    def tvalues(self):
        """z statistics ``params / bse``, shaped like ``params``."""
        return self.params / self.bse

    @cached_property
    def pvalues(self):
        """Two-sided normal p-values of ``tvalues``."""
        from scipy import stats

        t = self.tvalues
        return pd.DataFrame(2.0 * stats.norm.sf(np.abs(t.to_numpy())), index=t.index, columns=t.columns)

    def conf_int(self, alpha=0.05):
        """Wald intervals for every row of ``cov_params`` (columns ``lower``, ``upper``).

        Dispersion intervals are ``exp`` of the interval of the log dispersion (always
        positive); the others are ``estimate -/+ z * se``.
        """
        from scipy import stats

        if not (isinstance(alpha, (float, int)) and 0 < alpha < 1):
            raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
        z = stats.norm.ppf(1 - alpha / 2)
        lo = self.theta - z * self._bse_flat
        hi = self.theta + z * self._bse_flat
        s = self._scale_mask
        lo[s], hi[s] = np.exp(lo[s]), np.exp(hi[s])
        return pd.DataFrame({"lower": lo, "upper": hi}, index=self._reported_params.index)

    @cached_property
    def bse_scale(self):
        """Standard errors of the dispersions (delta method; NaN when not estimated)."""
        lay = self._engine.layout
        se = np.full(self.k, np.nan)
        if lay.n_scale:
            sl = self._bse_flat[lay.slices[2]]
            se = self._P.scale * np.broadcast_to(sl, (self.k,))
        return pd.Series(se, index=self.component_names[: self.k], name="bse_scale")

    @cached_property
    def bse_proportions(self):
        """Standard errors of ``proportions`` by the delta method (NaN for ``mixing="equal"``)."""
        eng, lay = self._engine, self._engine.layout
        K = eng.K
        if not lay.n_gamma:
            return pd.Series(np.full(K, np.nan), index=self.component_names, name="bse_proportion")
        Z = np.ones((eng.G, 1)) if eng.Z is None else eng.Z
        pi = np.asarray(self.prior)
        uw = eng.unit_w / eng.unit_w.sum()
        J = np.zeros((K, lay.n_gamma))
        r = lay.r
        for j in range(K):
            for l in range(1, K):
                c = uw * pi[:, j] * ((j == l) - pi[:, l])
                J[j, (l - 1) * r: l * r] = c @ Z
        V = self.cov_theta[lay.slices[3], lay.slices[3]]
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", J, V, J), 0.0))
        return pd.Series(se, index=self.component_names, name="bse_proportion")

    # ------------------------------------------------------------------ summary
    def summary(self, alpha=0.05, title=None):
        """statsmodels ``Summary``: header, a coefficient table per component, shared and
        mixing coefficients, proportions and dispersions (``as_text``/``as_html``/``as_latex``).

        Examples
        --------
        >>> import numpy as np
        >>> from emglm import EMGLM
        >>> rng = np.random.default_rng(0)
        >>> y = np.concatenate([rng.normal(-2, 1, 150), rng.normal(2, 1, 150)])
        >>> print(EMGLM(y, np.ones((300, 1)), k=2).fit().summary().tables[1].title)
        Component comp1 (proportion 0.4964)
        """
        from .summary import build_summary

        return build_summary(self, alpha=alpha, title=title)

    def _repr_html_(self):
        return self.summary().as_html()

    def __str__(self):
        return self.summary().as_text()

    # ------------------------------------------------------------------ predict
    def predict(self, exog=None, which="pooled", offset=None, exposure=None, *, endog=None,
                fixed=None, concomitant=None, groups=None):
        """Predictions on the training rows or on new data.

        Parameters
        ----------
        exog : DataFrame or array_like, optional
            New data. For formula models a DataFrame to which the formulas are re-applied
            (categorical codings, transforms; a subset of the training levels is fine); the
            response, if its columns are present, is used for posteriors. For array models
            the component design (then pass ``fixed``/``concomitant`` designs when the model
            has them, and ``endog`` for posteriors). None: the training rows.
        which : str
            ``"pooled"``: the seed's pooled mean ``g^-1(sum_j T_ij eta_ij)``, T the posterior
            when the response is known (training rows, or a frame containing it) and the
            prior proportions otherwise (GLM components only, renormalised); ``"linear"``:
            the pooled ``sum_j T_ij eta_ij``; ``"mean"``: the mixture mean
            ``sum_j pi_ij mu_ij`` (point mass included); ``"components"``: (n, k) frame of
            ``mu_ij``; ``"posterior"``: (n, K) posterior (needs the response); ``"class"``:
            most probable class (posterior, or prior without response), a categorical Series.
        offset, exposure : array_like or column name, optional
            For new data; as in statsmodels they default to none (zero offset) when ``exog``
            is given, and to the model's own on the training rows.
        endog, fixed, concomitant, groups : optional
            Response, shared-term design, concomitant design and group labels of new array
            data (``groups``: a column name for formula frames).

        Returns
        -------
        Series or DataFrame indexed like the rows predicted.

        Examples
        --------
        >>> import numpy as np, pandas as pd, statsmodels.api as sm
        >>> from emglm import EMGLM
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"x": rng.uniform(-1, 1, 400)})
        >>> df["y"] = rng.poisson(np.exp(np.where(rng.random(400) < 0.5, 2 + df.x, -df.x)))
        >>> res = EMGLM.from_formula("y ~ x", df, k=2, family=sm.families.Poisson()).fit()
        >>> bool(np.allclose(res.predict(), res.fittedvalues))
        True
        >>> res.predict(pd.DataFrame({"x": [0.0]}), which="components").shape
        (1, 2)
        """
        from .prediction import predict

        return predict(self, exog, which, offset, exposure, endog=endog, fixed=fixed,
                       concomitant=concomitant, groups=groups)

    # ------------------------------------------------------------------ residuals
    @cached_property
    def _prior_rows(self):
        """(n, K) prior class probabilities of each training row."""
        pr = np.asarray(self.prior)
        return pr[self._engine.groups] if self._engine.groups is not None else pr

    @property
    def _resid_index(self):
        return self.model.row_index

    @cached_property
    def resid_response(self):
        """``trials * (y - mu)`` against the pooled mean (statsmodels' definition)."""
        m = self.model
        return pd.Series(m.trials * (m.endog - self._pooled_train[1]), index=self._resid_index,
                         name="resid_response")

    @cached_property
    def resid_pearson(self):
        """``sqrt(trials) (y - mu) / sqrt(V(mu))`` against the pooled mean (not divided by a dispersion)."""
        m = self.model
        mu = self._pooled_train[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.sqrt(m.trials) * (m.endog - mu) / np.sqrt(m.family.variance(mu))
        return pd.Series(r, index=self._resid_index, name="resid_pearson")

    @cached_property
    def resid_deviance(self):
        """``sign(y - mu) sqrt(unit deviance)`` against the pooled mean (scale 1, trials included).

        ``sum_i w_i resid_deviance_i**2`` equals :attr:`deviance` (frequency weights count
        copies of a row, as in statsmodels).
        """
        from .residuals import unit_deviance

        m = self.model
        mu = self._pooled_train[1]
        d = unit_deviance(m.family, m.endog, mu, m.trials)
        return pd.Series(np.sign(m.endog - mu) * np.sqrt(np.maximum(d, 0.0)), index=self._resid_index,
                         name="resid_deviance")

    @property
    def deviance(self):
        """Pooled deviance ``sum_i w_i d(y_i, mu_i)`` (unit deviances at the pooled mean)."""
        return float(self.model.freq_weights @ (self.resid_deviance.to_numpy() ** 2))

    @property
    def pearson_chi2(self):
        """``sum_i w_i resid_pearson_i**2`` against the pooled mean."""
        return float(self.model.freq_weights @ (self.resid_pearson.to_numpy() ** 2))

    def resid_quantile(self, random_state=None):
        """Randomized quantile residuals of the mixture (Dunn and Smyth 1996).

        ``Phi^-1(u_i)`` with ``u_i = F(y_i)`` for the row's mixture distribution function
        ``F = sum_j pi_ij F_j`` (prior proportions), drawn uniformly between ``F(y_i-)`` and
        ``F(y_i)`` for discrete responses or a point mass. Standard normal under the model.

        Parameters
        ----------
        random_state : None, int or numpy Generator
            Randomization of discrete responses.

        Returns
        -------
        Series
        """
        from .residuals import quantile_residuals

        m, es = self.model, self._es
        r = quantile_residuals(m.family, m.endog, m.trials, np.asarray(es.Mu), self._P.scale,
                               self._prior_rows, m.point_mass, random_state)
        return pd.Series(r, index=self._resid_index, name="resid_quantile")

    @property
    def df_resid(self):
        """``nobs_effective - df_model``."""
        return self.nobs_effective - self.df_model

    def dispersion_test(self, method="mixture"):
        """Pearson chi-square test of the dispersion.

        Parameters
        ----------
        method : {"mixture", "pooled"}
            ``"mixture"``: residuals standardised by each row's mixture mean and variance
            (prior proportions), which have variance 1 under the model; ``"pooled"``: Pearson
            residuals at the pooled mean divided by the pooled dispersion (emax.glm's view;
            descriptive, the posterior uses the response).

        Returns
        -------
        DispersionTest
            ``statistic`` (sum of weighted squared residuals), ``df_resid`` (nobs minus the
            number of parameters), ``dispersion`` (statistic / df_resid; 1 when the model's
            dispersion is right), ``pvalue_over`` and ``pvalue_under`` (chi-square tails).
        """
        from .residuals import dispersion_test, mixture_moments

        m = self.model
        if method == "mixture":
            mean, var = mixture_moments(m.family, m.trials, np.asarray(self._es.Mu), self._P.scale,
                                        self._prior_rows, m.point_mass)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = (m.endog - mean) / np.sqrt(var)
        elif method == "pooled":
            r = self.resid_pearson.to_numpy() / np.sqrt(self._pooled_train[2])
        else:
            raise ValueError(f"method must be 'mixture' or 'pooled', got {method!r}")
        return dispersion_test(r, m.freq_weights, float(m.freq_weights.sum()) - self.df_model, method)

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

    def save(self, fname, remove_data=False):
        """Pickle these results to ``fname`` (path or binary file); reload with :func:`emglm.load`.

        ``remove_data=True`` drops the per-row arrays (data, posteriors, E-step) and keeps
        parameters, standard errors, criteria, ``summary()`` and prediction on new data;
        see :mod:`emglm.io`. Loading a pickle runs code: only load files you trust.

        Examples
        --------
        >>> import io, numpy as np, emglm
        >>> res = emglm.EMGLM(np.arange(40.0) % 5, np.ones((40, 1)), k=1).fit()
        >>> buf = io.BytesIO(); res.save(buf, remove_data=True); _ = buf.seek(0)
        >>> emglm.load(buf).params.equals(res.params)
        True
        """
        from .io import save

        save(self, fname, remove_data=remove_data)

    def __repr__(self):
        return (f"<EMGLMResults: {self.model.family_name} mixture, k={self.k}, "
                f"llf={self.llf:.4f}, converged={self.converged}>")
