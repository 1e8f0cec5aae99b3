"""Results of a fit on a dask cluster.

Everything computed from the parameters (``params``, ``bse``, ``conf_int()``, tests,
``summary()``, information criteria, predictions on new pandas data) works as for an
in-memory fit. Per-row quantities (``posterior``, ``fittedvalues``, the residuals,
``predict()`` on the training rows or on a dask DataFrame) are lazy dask collections
computed on the workers. The standard errors are sums over the partitions, computed when
first asked for. ``save`` writes the parameters without the rows.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from .results_datafree import DataFreeResults

__all__ = ["DaskEMGLMResults"]


# ---------------------------------------------------------------------- on the workers
def _post_pass(mix, theta, k):
    """Entropy, pooled-mean figures and the mixing proportions' sums of one partition."""
    from .concomitant import proportions_jacobian
    from .residuals import classification_entropy, pooled_predictor, pooled_residual

    es = mix.estep(theta)
    rows, fam = mix.rows, mix.glm.fam
    eta, mu, phi = pooled_predictor(es.T, es.Eta, mix.glm.scale(mix.component_params(theta)[0]), k, fam)
    with np.errstate(divide="ignore", invalid="ignore"):
        llf_pooled = float(rows.w @ fam.loglike(eta, mu, phi))
    dev, chi2 = (float(rows.w @ pooled_residual(kind, fam.family, rows.y, mu, rows.trials) ** 2)
                 for kind in ("deviance", "pearson"))
    prior = np.broadcast_to(np.exp(mix.log_prior(theta)), (rows.G, mix.K))
    uw = rows.unit_w
    J = (proportions_jacobian(prior, uw, mix.mixing.design(rows)) if mix.mixing.n_params
         else np.zeros((mix.K, 0)))  # summed unnormalised: divided by the total weight later
    return {"entropy": classification_entropy(es.Tunit, uw), "llf_pooled": llf_pooled, "deviance": dev,
            "pearson_chi2": chi2, "prior": uw @ prior, "uw": float(uw.sum()), "J": J}


def _information_pass(mix, theta):
    from .information import analytic_information

    return analytic_information(mix, theta, return_opg=True)


def _opg_pass(mix, theta):
    from .inference import outer_product

    return outer_product(mix, theta)


def _row_frame(mix, record, theta, what, names, k):
    """One partition's per-row quantity as a pandas object indexed like the data."""
    from .residuals import pooled_predictor, pooled_residual

    es = mix.estep(theta)
    rows, fam = mix.rows, mix.glm.fam
    idx = record["index"]
    if what == "posterior":
        return pd.DataFrame(np.asarray(es.T), index=idx, columns=names)
    if what == "predict":
        prior = np.broadcast_to(np.exp(mix.log_prior(theta)), (rows.G, mix.K))
        prior = prior if rows.groups is None else prior[rows.groups]
        M = np.asarray(es.Mu)
        if mix.point_mass is not None:
            M = np.column_stack([M, np.full(rows.n, mix.point_mass)])
        return pd.Series(np.sum(prior * M, axis=1), index=idx, name="predicted")
    scale = mix.glm.scale(mix.component_params(theta)[0])
    mu = pooled_predictor(es.T, es.Eta, scale, k, fam)[1]
    if what == "fittedvalues":
        return pd.Series(mu, index=idx, name="fitted")
    kind = what[len("resid_"):]
    return pd.Series(pooled_residual(kind, fam.family, rows.y, mu, rows.trials), index=idx, name=what)


def _predict_partition(part, res, which, offset, exposure):
    from .dask_formula import check_levels

    if res.model.design is not None:
        check_levels(res.model.design, part)  # names the column of a level never learned
    return pd.Series(np.asarray(res.predict(part, which=which, offset=offset, exposure=exposure)),
                     index=part.index, name="predicted")


# ---------------------------------------------------------------------- the results
class DaskEMGLMResults(DataFreeResults):
    """Results of :meth:`emglm.dask_model.DaskEMGLM.fit` (see the module docstring).

    Examples
    --------
    >>> import numpy as np, pandas as pd, dask.dataframe as dd, statsmodels.api as sm
    >>> from distributed import Client
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(2)
    >>> df = pd.DataFrame({"x": rng.normal(size=400)})
    >>> df["y"] = np.where(rng.random(400) < 0.5, 1 + 2 * df.x, -2 - df.x) + rng.normal(0, 0.3, 400)
    >>> with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None):
    ...     res = EMGLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=2), k=2).fit()
    ...     post = res.posterior.compute()
    >>> post.shape, np.round(res.params.to_numpy(), 1).tolist()
    ((400, 2), [[-2.1, 1.0], [-1.0, 2.0]])
    """

    @classmethod
    def from_fit(cls, model, smodel, dmix, theta, em_result, table, cov_type):
        """Results from the fitted parameters; one pass over the partitions for the figures
        that need every row (entropy, pooled deviance, average proportions)."""
        from .model_state import model_from_state, model_to_state

        arrays = {}
        doc = model_to_state(smodel, True, arrays)
        local = model_from_state(doc, arrays, type(smodel).__mro__[1])
        local.nobs, local.n_groups, local.n_dropped = model.nobs, model.n_groups, model.n_dropped
        mix = local.make_mixture()
        mix.n_jobs = 1
        post = dmix.reduce(_post_pass, theta, model.k)
        res = object.__new__(cls)
        names = local.component_names
        res.__dict__.update(
            cov_type=cov_type, model=local, mixture=mix, theta=np.asarray(theta, dtype=float), _em=em_result,
            n_iter=int(em_result.n_iter), converged=bool(em_result.converged),
            llf_history=np.asarray(em_result.objective_history), n_starts=len(table), _es=None,
            llf=float(em_result.objective), nobs=model.nobs, k=model.k, n_groups=model.n_groups,
            family=model.family, llf_pooled=post["llf_pooled"], cov_kwds={},
            _frozen={name: post[name] for name in ("entropy", "deviance", "pearson_chi2")},
            proportions=pd.Series(post["prior"] / post["uw"], index=names, name="proportion"),
            warmup=None, starts=table, dask_model=model, _dmix=dmix, _J=post["J"] / post["uw"])
        return res

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("dask_model", "_dmix"):  # handles on the cluster
            state[key] = None
        return state

    def _cluster(self):
        if self.__dict__.get("_dmix") is None:
            raise ValueError("these results were unpickled or loaded without the cluster's partitions; "
                             "per-row quantities need the fit's session")
        return self._dmix

    # ------------------------------------------------------------------ covariance
    @cached_property
    def _cov(self):
        from .inference import covariance_from_information

        dim = self.mixture.size
        if self.cov_type == "none":
            return dict(cov=np.full((dim, dim), np.nan), oim=None, opg=None, positive_definite=None)
        dmix = self._cluster()
        if self.cov_type == "opg":
            return covariance_from_information(None, dmix.reduce(_opg_pass, self.theta), "opg")
        info, opg = dmix.reduce(_information_pass, self.theta)
        return covariance_from_information(info, opg, self.cov_type)

    @cached_property
    def bse_proportions(self):
        """Standard errors of ``proportions`` by the delta method (NaN for ``mixing="equal"``)."""
        mix = self.mixture
        if not mix.mixing.n_params:
            return pd.Series(np.full(mix.K, np.nan), index=self.component_names, name="bse_proportion")
        V = self.cov_theta[mix.gamma_slice, mix.gamma_slice]
        J = self._J
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", J, V, J), 0.0))
        return pd.Series(se, index=self.component_names, name="bse_proportion")

    # ------------------------------------------------------------------ per-row (lazy)
    def _lazy(self, what, meta):
        import dask.dataframe as dd

        dmix = self._cluster()
        futures = [dmix.drows.submit(_row_frame, m, rec, self.theta, what, list(self.component_names), self.k)
                   for m, rec in zip(dmix.parts, dmix.records)]
        return dd.from_delayed(futures, meta=meta, verify_meta=False)

    @property
    def posterior(self):
        """Posterior class probabilities of the training rows (a lazy dask DataFrame)."""
        return self._lazy("posterior", pd.DataFrame({c: pd.Series(dtype=float) for c in self.component_names}))

    def _series(self, what, name):
        return self._lazy(what, pd.Series(dtype=float, name=name))

    @property
    def fittedvalues(self):
        """Pooled means of the training rows (lazy dask Series)."""
        return self._series("fittedvalues", "fitted")

    @property
    def resid_response(self):
        return self._series("resid_response", "resid_response")

    @property
    def resid_pearson(self):
        return self._series("resid_pearson", "resid_pearson")

    @property
    def resid_deviance(self):
        return self._series("resid_deviance", "resid_deviance")

    def predict(self, exog=None, which="mean", offset=None, exposure=None, **kwargs):
        """Predictions: on the training rows (``exog=None``; the marginal mean, lazy), on a
        dask DataFrame (lazy, partition by partition on the workers) or on pandas data."""
        import dask.dataframe as dd

        if exog is None:
            if which != "mean" or offset is not None or exposure is not None or kwargs:
                raise ValueError("predict on the training rows of a fit on a dask DataFrame gives "
                                 "which='mean' only; pass the rows as exog for other options")
            return self._series("predict", "predicted")
        if isinstance(exog, dd.DataFrame):
            if kwargs:
                raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
            if not isinstance(offset, (str, type(None))) or not isinstance(exposure, (str, type(None))):
                raise TypeError("offset and exposure: with a dask DataFrame give column names")
            local = self.without_cluster()
            return exog.map_partitions(
                lambda part: _predict_partition(part, local, which, None if offset is None else part[offset],
                                                None if exposure is None else part[exposure]),
                meta=pd.Series(dtype=float, name="predicted"))
        return super().predict(exog, which, offset, exposure, **kwargs)

    # averages over the training rows that are not sums the fit keeps
    def _in_memory_only(self, name):
        raise NotImplementedError(f"{name} is not available for a fit on a dask DataFrame; fit a pandas sample "
                                  "in memory for it, or use predict/get_prediction on rows you choose")

    def get_margeff(self, *args, **kwargs):
        self._in_memory_only("get_margeff")

    def class_means(self, *args, **kwargs):
        self._in_memory_only("class_means")

    def class_probabilities(self, *args, **kwargs):
        self._in_memory_only("class_probabilities")

    def resid_quantile(self, random_state=None):
        self._in_memory_only("resid_quantile")

    def without_cluster(self):
        """The same results with no handles on the cluster (what is shipped to workers)."""
        out = object.__new__(DataFreeResults)
        state = self.__getstate__()
        state.pop("_cov", None)
        out.__dict__.update(state)
        if "_cov" in self.__dict__:
            out.__dict__["_cov"] = self.__dict__["_cov"]
        return out

    def save(self, fname, remove_data=True):
        """Write the results without their rows (which stay on the cluster); :func:`emglm.load`
        reads them back as data-free results."""
        if remove_data is not True:
            raise ValueError("remove_data: a fit on a dask DataFrame is saved without its rows")
        for name in ("bse", "bse_proportions"):  # computed here, while the cluster is up
            try:
                getattr(self, name)
            except Exception:
                pass
        return self.without_cluster().save(fname, remove_data=True)
