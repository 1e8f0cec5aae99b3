"""Results of an EMGLM fit: parameters, posteriors, likelihoods and criteria."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from .concomitant import MixingParamsMixin
from .postestimation import PostEstimation
from .results_residuals import ResidualsMixin

__all__ = ["EMGLMResults"]



class EMGLMResults(ResidualsMixin, MixingParamsMixin, PostEstimation):
    """Results of :meth:`EMGLM.fit`.

    Tests, predictions with standard errors, marginal effects and class means
    (``t_test``, ``wald_test``, ``f_test``, ``get_prediction``, ``get_margeff``,
    ``class_means``, ``class_probabilities``) come from
    :class:`emglm.postestimation.PostEstimation`.

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
        Covariance of the estimates ("oim", "opg", "robust", "cluster", "bootstrap" or
        "none"), computed on first use of ``bse``, ``cov_params()``, ``conf_int()``,
        ``summary()`` or a test (:mod:`emglm.inference`, :mod:`emglm.bootstrap`).
    cov_kwds : dict
        The options of that covariance (cluster codes; bootstrap replicates and seed).
    bse, tvalues, pvalues : DataFrame
        Shaped like ``params`` (z statistics and normal p-values); shared terms repeat.
    bse_proportions, bse_scale : Series
        Delta-method standard errors of ``proportions`` and ``scale``.
    mixing_params, bse_mixing : DataFrame
        Multinomial-logit coefficients of the mixing model (terms x components, against
        ``comp1``) and their standard errors.
    fittedvalues : Series
        Pooled mean ``g^-1(sum_j T_ij eta_ij)`` with the posterior ``T`` (it has seen the
        response); ``predict()`` gives the marginal mean from the covariates alone.
    resid_response, resid_pearson, resid_deviance : Series
        GLM residuals at the pooled mean ``fittedvalues`` (emax.glm's definitions; they use
        the posterior, hence the response, and are descriptive); see also
        ``resid_quantile()`` (the mixture's own distribution with prior class
        probabilities: standard normal under the model), ``deviance``, ``pearson_chi2`` and
        ``dispersion_test()``.

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

    def __init__(self, model, engine, theta, em_result, n_starts=1, cov_type="oim", cov_kwds=None):
        from .cov_options import check_cov_kwds

        self.cov_type = cov_type
        self.cov_kwds = check_cov_kwds(cov_type, cov_kwds, model)
        self.model = model
        self.mixture = engine
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
        return self.mixture.unpack(self.theta)

    @property
    def em_result(self):
        """The EM driver's record (:class:`emglm.em.EMResult`): iterations, convergence, the
        llf and parameter vectors of the accepted iterates, the estimated rate."""
        return self._em

    @property
    def unpacked(self):
        """The estimate as ``Params(beta (k, p), delta (q,), scale (k,), gamma (K-1, r))``."""
        return self._P

    @property
    def e_step(self):
        """The E-step at the estimate (:class:`emglm.mixture.EStep`: posteriors, llf, ...)."""
        if self._es is None:
            self._es = self.mixture.estep(self.theta)
        return self._es

    @property
    def component_names(self):
        return self.model.component_names

    @property
    def _coef_table(self):
        mix = self.mixture
        tables = []
        for c, p in zip(mix.components, mix.component_params(self.theta)):
            if not c.is_regression:
                continue
            names, vals = c.coef_table(p)
            if names is None:  # a GLM: its design's terms, then shared terms
                names = list(self.model.exog_names) + list(self.model.fixed_names)
            tables.append((list(names), vals))
        if len(tables) == 1:
            return tables[0]
        # a model per component: the union of their rows (NaN where a model has no such term)
        union = list(dict.fromkeys(nm for names, _ in tables for nm in names))
        out = np.full((len(union), self.k), np.nan)
        j = 0
        for names, vals in tables:
            for i, nm in enumerate(names):
                out[union.index(nm), j:j + vals.shape[1]] = vals[i]
            j += vals.shape[1]
        return union, out

    @property
    def param_names(self):
        """Row labels of ``params``: component terms, then shared terms."""
        return self._coef_table[0]

    @cached_property
    def params(self):
        names, cvals = self._coef_table
        k, K = self.k, self.mixture.K
        vals = np.full((len(names), K), np.nan)
        vals[:, :k] = cvals
        return pd.DataFrame(vals, index=names, columns=self.component_names)

    @cached_property
    def prior(self):
        """Prior class probabilities per unit (row, or group), (units, K)."""
        lp = self.mixture.log_prior(self.theta)
        return np.broadcast_to(np.exp(lp), (self.mixture.G, self.mixture.K))

    @cached_property
    def proportions(self):
        uw = self.mixture.unit_w
        pi = (uw @ self.prior) / uw.sum()
        return pd.Series(pi, index=self.component_names, name="proportion")

    @cached_property
    def scale(self):
        mix = self.mixture
        sc = np.concatenate([c.scale(p) for c, p in zip(mix.components, mix.component_params(self.theta))
                             if c.is_regression])
        return pd.Series(sc, index=self.component_names[: self.k], name="scale")

    @cached_property
    def posterior(self):
        return pd.DataFrame(self.e_step.T, index=self.model.row_index, columns=self.component_names)

    # ------------------------------------------------------------------ criteria
    @property
    def df_model(self):
        """Number of free parameters (coefficients, dispersions, mixing parameters)."""
        return int(self.mixture.size)

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
        from .residuals import classification_entropy

        return classification_entropy(self.e_step.Tunit, self.mixture.unit_w)

    @property
    def icl(self):
        """ICL: BIC plus twice the classification entropy."""
        return self.bic + 2.0 * self.entropy

    # ------------------------------------------------------------------ pooled predictions
    def pooled(self, T, Eta, scale):
        """Pooled linear predictor, mean and dispersion for posteriors ``T`` and linear predictors ``Eta``.

        With a canonical link, pooling the component densities geometrically with weights
        ``T_ij`` gives a density of the same family with natural parameter
        ``theta_pooled = sum_j T_ij eta_ij``.

        The pooling runs over the GLM components with the posterior renormalised among them
        (a point mass has no linear predictor). The pooled dispersion is the harmonic
        posterior-weighted mean ``1 / sum_j (T_ij / phi_j)`` (exact for Gaussian geometric
        pooling).
        """
        from .residuals import pooled_predictor

        return pooled_predictor(T, Eta, scale, self.k, self.mixture.fam)

    @cached_property
    def _pooled_train(self):
        if self.mixture.glm is None:
            raise NotImplementedError(
                "fittedvalues, llf_pooled and the response, Pearson and deviance residuals pool the linear "
                f"predictors of one GLM, which {self.model.family_name} components do not have; use "
                "predict() (the marginal mean) and resid_quantile()")
        return self.pooled(self.e_step.T, self.e_step.Eta, self._P.scale)

    @property
    def fittedvalues(self):
        """Pooled mean ``mu_i = g^-1(sum_j T_ij eta_ij)`` on the training rows.

        ``T`` is the posterior, which has seen ``y_i``: this is a description of the fitted
        rows (emax.glm's fitted values), not a prediction; ``y`` plotted against it hugs the
        diagonal by construction. The prediction from the covariates alone is
        ``predict(which="mean")`` (the marginal mean), which the diagnostic plots use.
        """
        return pd.Series(self._pooled_train[1], index=self.model.row_index, name="fitted")

    @cached_property
    def llf_pooled(self):
        eta, mu, phi = self._pooled_train
        ll = self.mixture.fam.loglike(eta, mu, phi)
        return float(self.model.freq_weights @ ll)

    # ------------------------------------------------------------------ inference
    @cached_property
    def _theta_labels(self):
        """(component, term) label of every entry of the flat ``theta``.

        Coefficients ``(compj, term)``; shared terms ``("shared", term)``; dispersions
        ``(compj, "scale")`` or ``("shared", "scale")``; mixing logits (versus the first
        class) ``("mixing", "compj:term")`` with term ``Intercept`` for constant proportions.
        """
        m, mix = self.model, self.mixture
        comps = list(self.component_names)
        labels = []
        for c, comp in enumerate(mix.components):
            sl = mix.class_slice(c)
            own = (comp.param_labels(comps[sl], m.exog_names, m.fixed_names) if hasattr(comp, "score_pieces")
                   else comp.param_labels(comps[sl]))  # (a GLM is named by the design's terms)
            one = comp.n_classes == 1 and comp.is_regression and mix.keeps_order  # "shared" by one class
            labels += [(comps[sl][0] if one and o == "shared" else o, t) for o, t in own]
        if mix.mixing.n_params:
            znames = list(m.concomitant_names) if mix.mixing.name == "concomitant" else ["Intercept"]
            labels += [("mixing", f"{c}:{t}") for c in comps[1:] for t in znames]
        return labels

    @cached_property
    def _cov(self):
        kw = getattr(self, "cov_kwds", None) or {}
        if self.cov_type == "bootstrap":
            from .bootstrap import bootstrap_covariance

            out = bootstrap_covariance(self, **kw)
        else:
            from .inference import covariance

            out = covariance(self.mixture, self.theta, self.cov_type, kw)
        self._cov_pd = out["positive_definite"]
        return out

    @property
    def cov_details(self):
        """What the covariance computation returned: ``cov`` (of the flat ``theta``), the
        observed information ``oim`` and outer product ``opg`` when computed, whether the
        inverted matrix was positive definite, and for the bootstrap its replicates."""
        return self._cov

    @property
    def dispersion_mask(self):
        """Boolean array over ``params_flat``: True for dispersions (their log is in ``theta``)."""
        return self._scale_mask

    @property
    def cov_theta(self):
        """Covariance of the flat ``theta`` (log dispersions and mixing logits), ndarray."""
        return self._cov["cov"]

    @cached_property
    def _scale_mask(self):
        mix = self.mixture
        return np.concatenate([c.log_scale_mask() for c in mix.components] +
                              [np.zeros(mix.mixing.n_params, dtype=bool)])

    @property
    def params_flat(self):
        """All estimates in one Series labelled (component, term), in ``cov_params()`` order
        (dispersions as dispersions, mixing coefficients as multinomial logits)."""
        return self._reported_params

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
        out = pd.DataFrame(np.nan, index=self.params.index, columns=self.params.columns)
        regression = list(self.component_names[: self.k])
        for (owner, term), v in zip(self._theta_labels, flat):  # shared: the components that have it
            if term in out.index and owner != "mixing":
                out.loc[term, [c for c in regression if np.isfinite(self.params.loc[term, c])]
                        if owner == "shared" else owner] = v
        return out

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

    def conf_int(self, alpha=0.05, method="wald"):
        """Intervals for every row of ``cov_params`` (columns ``lower``, ``upper``).

        Parameters
        ----------
        alpha : float
            1 - coverage.
        method : {"wald", "percentile"}
            ``"wald"``: ``estimate -/+ z * se``, and for dispersions ``exp`` of the interval
            of the log dispersion (always positive). ``"percentile"`` (``cov_type="bootstrap"``
            only): the ``alpha/2`` and ``1 - alpha/2`` quantiles of the bootstrap replicates.
        """
        from scipy import stats

        if not (isinstance(alpha, (float, int)) and 0 < alpha < 1):
            raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
        if method not in ("wald", "percentile"):
            raise ValueError(f"method must be 'wald' or 'percentile', got {method!r}")
        if method == "percentile":
            from .bootstrap import percentile_interval

            return percentile_interval(self, alpha)
        z = stats.norm.ppf(1 - alpha / 2)
        lo = self.theta - z * self._bse_flat
        hi = self.theta + z * self._bse_flat
        s = self._scale_mask
        lo[s], hi[s] = np.exp(lo[s]), np.exp(hi[s])
        return pd.DataFrame({"lower": lo, "upper": hi}, index=self._reported_params.index)

    @cached_property
    def bse_scale(self):
        """Standard errors of the dispersions (delta method; NaN when not estimated)."""
        se = np.full(self.k, np.nan)
        labels = self._theta_labels
        sc = self.scale
        for i in np.flatnonzero(self._scale_mask):
            owner = labels[i][0]
            for j, c in enumerate(self.component_names[: self.k]):
                if owner in (c, "shared"):
                    se[j] = sc[c] * self._bse_flat[i]
        return pd.Series(se, index=self.component_names[: self.k], name="bse_scale")

    @cached_property
    def bse_proportions(self):
        """Standard errors of ``proportions`` by the delta method (NaN for ``mixing="equal"``)."""
        eng = self.mixture
        K, n_gamma = eng.K, eng.mixing.n_params
        if not n_gamma:
            return pd.Series(np.full(K, np.nan), index=self.component_names, name="bse_proportion")
        from .concomitant import proportions_jacobian

        J = proportions_jacobian(np.asarray(self.prior), eng.unit_w / eng.unit_w.sum(), eng.mixing.design(eng.rows))
        V = self.cov_theta[eng.gamma_slice, eng.gamma_slice]
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
    def predict(self, exog=None, which="mean", offset=None, exposure=None, *, endog=None,
                fixed=None, concomitant=None, groups=None):
        """Predictions on the training rows or on new data.

        The default, ``which="mean"``, is the marginal mean ``E(y | x) = sum_j pi_ij mu_ij``:
        it uses the covariates only (prior class probabilities ``pi_ij``, from the
        concomitant model when there is one) and never reads the response, so it is the
        prediction to score on a hold-out set. The posterior-weighted (pooled) prediction
        has seen the response and must be asked for explicitly.

        Parameters
        ----------
        exog : DataFrame or array_like, optional
            New data. For formula models a DataFrame to which the formulas are re-applied
            (categorical codings, transforms; a subset of the training levels is fine); a
            response column in it is ignored. For array models the component design (then
            pass ``fixed``/``concomitant`` designs when the model has them). None: the
            training rows.
        which : str
            ``"mean"`` (default): the marginal mean ``sum_j pi_ij mu_ij`` (point mass
            included), Stata's ``predict, marginal``; ``"components"``: (n, k) frame of the
            component means ``mu_ij``; ``"prior"``: (n, K) prior class probabilities
            ``pi_ij``; ``"pooled"``: the pooled mean ``g^-1(sum_j T_ij eta_ij)`` with ``T``
            the posterior class probabilities (needs the response: training rows or
            ``endog=``; equals ``fittedvalues`` on the training rows); ``"linear"``: the
            pooled linear predictor ``sum_j T_ij eta_ij`` (same condition);
            ``"posterior"``: (n, K) posterior (same condition); ``"class"``: the most
            probable class, a categorical Series (posterior when the response is given,
            prior otherwise).
            For components from :mod:`emglm.components` the means are each model's own
            (see :mod:`emglm.prediction_component`) and ``"prob"`` gives the mixture's
            category probabilities (ordinal and multinomial components).
        offset, exposure : array_like or column name, optional
            For new data; as in statsmodels they default to none (zero offset) when ``exog``
            is given, and to the model's own on the training rows.
        endog : array_like, str or DataFrame, optional
            Response of the rows predicted, for ``"pooled"``, ``"linear"``, ``"posterior"``
            and ``"class"``: an array ((n, 2) successes and failures for Binomial), a column
            name of ``exog``, or (formula models) a frame to which the formula's left-hand
            side is applied, e.g. ``endog=new_frame``.
        fixed, concomitant, groups : optional
            Shared-term design, concomitant design and group labels of new array data
            (``groups``: a column name for formula frames; rows of a group share their
            posterior).

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
        >>> new = pd.DataFrame({"x": [0.0, 0.5]})
        >>> comp = res.predict(new, which="components")
        >>> prior = res.predict(new, which="prior")
        >>> bool(np.allclose(res.predict(new), (comp * prior).sum(axis=1)))
        True
        >>> bool(np.allclose(res.predict(which="pooled"), res.fittedvalues))
        True
        """
        if self.mixture.glm is None:  # components that are not GLMs answer for themselves
            from .prediction_component import predict_component as predict
        else:
            from .prediction import predict

        return predict(self, exog, which, offset, exposure, endog=endog, fixed=fixed,
                       concomitant=concomitant, groups=groups)

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
        from .results_state import save

        save(self, fname, remove_data=remove_data)

    def __repr__(self):
        return (f"<EMGLMResults: {self.model.family_name} mixture, k={self.k}, "
                f"llf={self.llf:.4f}, converged={self.converged}>")
