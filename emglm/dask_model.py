"""Mixtures of GLMs fitted on a dask cluster: the rows never leave the workers.

``EMGLM.from_formula(formula, ddf, k)`` with a dask DataFrame gives a :class:`DaskEMGLM`:
the formula's metadata is learned over all partitions, each partition's design is built and
kept on its worker (:class:`emglm.dask_rows.DaskRows`), and :meth:`DaskEMGLM.fit` runs the
same EM as in memory, each iteration a few map-reduce passes over the partitions
(:mod:`emglm.dask_em`). Starts are screened on a random sample of units brought to the
client (at most ``screen["subsample"]``, 5000 by default, as an in-memory fit screens on a
subsample of that size), then the best are run on all the data.

What runs where: the client holds the parameters, the learned design and the sample for the
starts; the workers hold the rows, the posteriors and every per-row array. The standard
errors (observed information, outer product of the scores, sandwich) are sums over the
partitions as well.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .data import MIXING_MODES, SCALE_MODES, check_k

__all__ = ["DaskEMGLM"]

_COV_TYPES = ("oim", "opg", "robust", "none")


# ---------------------------------------------------------------------- on the workers
def _check_partition(rows, family, name):
    """The in-memory response checks on one partition's rows (they raise, naming ``name``)."""
    from .data import check_finite_density
    from .families import FamilyAdapter

    FamilyAdapter(family, rows.y, rows.trials).check_endog(name)
    check_finite_density(family, rows.y, rows.trials, rows.w, name, offset=rows.offset)
    return None


def _summary(rows, family):
    """Column summary of the joint design, its co-moment matrix ``(D - mean)'(D - mean)``,
    and ``(sum w y, sum w)``."""
    from .mixture.design_summary import column_summary

    D = rows.D
    summ = column_summary(D)
    Dc = D - summ[3]
    return summ, Dc.T @ Dc, float(rows.w @ rows.y), float(rows.w.sum())


def _combine(a, b):
    """Two partitions' :func:`_summary` together (co-moments by Chan's update: exact for
    columns far from zero, where ``D'D`` would lose the dependence among them)."""
    from .mixture.design_summary import combine_summaries

    (sa, Ca, ya, wa), (sb, Cb, yb, wb) = a, b
    na, nb = sa[0], sb[0]
    if na == 0 or nb == 0:
        C = Ca if nb == 0 else Cb
    else:
        d = sb[3] - sa[3]
        C = Ca + Cb + np.outer(d, d) * (na * nb / (na + nb))
    return combine_summaries(sa, sb), C, ya + yb, wa + wb


def collinear_from_comoments(n, lo, hi, mean, C, names):
    """Columns that are exact linear combinations of the others, from the design's column
    summary and co-moment matrix (:func:`emglm.data.collinear_columns` on a square root of the
    correlation structure; exact dependences show as correlations within about 1e-12 of one).

    Examples
    --------
    >>> x = np.arange(6.0)
    >>> D = np.column_stack([np.ones(6), x, 2 * x + 1])
    >>> m = D.mean(axis=0)
    >>> collinear_from_comoments(6, D.min(0), D.max(0), m, (D - m).T @ (D - m), ["Intercept", "x", "z"])
    [('z', ['Intercept', 'x'])]
    """
    from .data import collinear_columns

    const = hi == lo
    nonzero_const = [i for i in np.flatnonzero(const) if hi[i] != 0]
    found = []
    if len(nonzero_const) > 1:  # several constant columns: all but the first repeat it
        found += [(names[i], [names[nonzero_const[0]]]) for i in nonzero_const[1:]]
    found += [(names[i], []) for i in np.flatnonzero(const) if hi[i] == 0]  # a column of zeros
    var = np.flatnonzero(~const)
    if var.size == 0:
        return found
    if nonzero_const:  # with a constant column, dependences among the centred columns
        S = C[np.ix_(var, var)]
    else:
        S = (C + n * np.outer(mean, mean))[np.ix_(var, var)]
    nrm = np.sqrt(np.diag(S))
    vals, vecs = np.linalg.eigh(S / np.outer(nrm, nrm))
    R = np.sqrt(np.maximum(vals, 0.0))[:, None] * vecs.T  # R'R: the same dependences
    extra = [names[nonzero_const[0]]] if nonzero_const else []
    for nm, deps in collinear_columns(R, [names[i] for i in var], rtol=1e-6):
        found.append((nm, extra + deps))
    return found


def _scale_sums(rows, family, ybar):
    from .families import FamilyAdapter

    return FamilyAdapter(family, rows.y, rows.trials).scale_sums(np.full(rows.n, ybar), rows.w)


def _sample_class(base):
    """``base`` (EMGLM or a subclass) on the sample of units the starts are screened on,
    with the whole data's dispersion floor (so the sample's mixtures are the full fit's)."""

    class SampleModel(base):
        def __init__(self, *args, floor=None, **kwargs):
            super().__init__(*args, **kwargs)
            self._var_floor_value = floor

        def dispersion_floor(self):
            return self._var_floor_value or None

    return SampleModel


def _sample_model(rows, spec, floor):
    """An in-memory model of a sample (:class:`~emglm.mixture.Rows`) with the spec's options."""
    y, t = rows.y, rows.trials
    endog = y if np.all(t == 1.0) else np.column_stack([y * t, (1.0 - y) * t])
    Z = None if rows.Z is None else rows.to_rows(rows.Z)
    names = {"endog": spec["endog_names"] if np.ndim(endog) == 2 else spec["endog_names"][:1],
             "exog": spec["exog_names"], "fixed": spec["fixed_names"],
             "concomitant": spec["concomitant_names"]}
    with warnings.catch_warnings():  # the whole data were checked; a sample may look odd
        warnings.simplefilter("ignore")
        model = _sample_class(spec["model_class"])(endog, rows.X, spec["k"], family=spec["family"], offset=rows.offset,
                             weights=rows.w, mixing=spec["mixing"], fixed=rows.U, concomitant=Z,
                             groups=rows.groups, point_mass=spec["point_mass"], scale=spec["scale"],
                                                   names=names, formula=spec["formula"],
                                                   design=spec["design"], floor=floor)
    return model


class DaskEMGLM:
    """Finite mixture of GLMs whose rows are the partitions of a dask DataFrame.

    Build it with :meth:`EMGLM.from_formula` (or :meth:`from_formula`) given a dask
    DataFrame; :meth:`fit` returns :class:`emglm.dask_results.DaskEMGLMResults`. The options
    are those of :class:`~emglm.EMGLM` with a statsmodels GLM family.

    Examples
    --------
    >>> import numpy as np, pandas as pd, dask.dataframe as dd, statsmodels.api as sm
    >>> from distributed import Client
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=600)})
    >>> df["y"] = rng.poisson(np.exp(np.where(rng.random(600) < 0.5, 0.2, 2.0) + 0.3 * df.x))
    >>> with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None):
    ...     model = EMGLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=3), k=2,
    ...                                family=sm.families.Poisson())
    ...     res = model.fit()
    ...     local = EMGLM.from_formula("y ~ x", df, k=2, family=sm.families.Poisson()).fit()
    >>> bool(abs(res.llf - local.llf) < 1e-6 * abs(local.llf))
    True
    """

    def __init__(self, rows, spec):
        self.rows = rows
        self.spec = spec
        self.formula, self.family, self.k = spec["formula"], spec["family"], spec["k"]
        self.design = rows.design
        self.exog_names, self.endog_names = list(rows.exog_names), list(rows.endog_names)
        self.nobs, self.n_dropped = rows.nobs, rows.n_dropped
        self.n_groups = rows.G if rows.grouped else None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_formula(cls, formula, data, k, family=None, offset=None, exposure=None, weights=None,
                     mixing="estimate", missing="drop", concomitant=None, groups=None, fixed=None,
                     point_mass=None, scale="component", eval_env=0, client=None, model_class=None,
                     persist=True, **kwargs):
        """Build the model of a formula on a dask DataFrame (see :meth:`EMGLM.from_formula`).

        ``offset``, ``exposure``, ``weights`` and ``groups`` are column names or dask Series
        partitioned like ``data``; every group must sit whole in one partition. ``client``
        is the ``distributed.Client`` to use (default: the active one). ``model_class`` is
        the in-memory model class the results describe (default :class:`emglm.EMGLM`).
        ``persist=False`` keeps nothing on the workers: every pass of the fit reads each
        partition again and rebuilds its rows (for data larger than the cluster's memory;
        each EM iteration then costs two reads of the data).

        Examples
        --------
        >>> import pandas as pd, dask.dataframe as dd
        >>> from distributed import Client
        >>> df = pd.DataFrame({"y": [1.0, 2.0, 4.0, 3.0], "x": [0.0, 1.0, 2.0, 3.0]})
        >>> with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None):
        ...     model = DaskEMGLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=2), k=2)
        >>> model.exog_names, model.nobs
        (['Intercept', 'x'], 4.0)
        """
        import statsmodels.api as sm
        import statsmodels.genmod.families as smf

        from .dask_rows import DaskRows
        from .families import check_family

        if kwargs:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        if model_class is None:
            from emglm import EMGLM as model_class  # the package's public model
        if isinstance(formula, (list, tuple)):
            raise TypeError("formula: a formula per component fits in memory; pass a pandas DataFrame "
                            "(data.compute()) or one formula for all components")
        check_k(k)
        family = sm.families.Gaussian() if family is None else family
        if not isinstance(family, smf.Family):
            raise TypeError("family: a fit on a dask DataFrame takes a statsmodels GLM family "
                            f"(sm.families.Poisson() ...), got {type(family).__name__}; other "
                            "component models and a family per component fit in memory")
        family = check_family(family)
        if isinstance(family, smf.Tweedie):
            raise ValueError("family: Tweedie's dispersion is not a function of sums over rows, so it "
                             "cannot be fitted over partitions; fit it in memory")
        if mixing not in MIXING_MODES:
            raise ValueError(f"mixing must be one of {MIXING_MODES}, got {mixing!r}")
        if scale not in SCALE_MODES:
            raise ValueError(f"scale must be one of {SCALE_MODES}, got {scale!r}")
        if point_mass is not None and not (isinstance(point_mass, numbers.Real) and np.isfinite(point_mass)):
            raise TypeError(f"point_mass must be a finite number or None, got {point_mass!r}")
        from .formula import resolve_eval_env

        env = resolve_eval_env(eval_env)
        rows = DaskRows.from_formula(formula, data, family=family, offset=offset, exposure=exposure,
                                     weights=weights, missing=missing, concomitant=concomitant,
                                     groups=groups, fixed=fixed, client=client, eval_env=env,
                                     persist=bool(persist))
        name = " + ".join(rows.endog_names) if len(rows.endog_names) > 1 else rows.endog_names[0]
        rows.client.gather(rows.map(_check_partition, family, name))
        spec = dict(model_class=model_class, formula=formula, family=family, k=int(k), mixing=mixing, scale=scale,
                    point_mass=None if point_mass is None else float(point_mass),
                    design=rows.design, endog_names=list(rows.endog_names), exog_names=list(rows.exog_names),
                    fixed_names=None if rows.fixed_names is None else list(rows.fixed_names),
                    concomitant_names=None if rows.concomitant_names is None else list(rows.concomitant_names))
        model = cls(rows, spec)
        model._learn_constants()
        return model

    def _learn_constants(self):
        """One pass: the design's standardisation, a collinearity check, the dispersion floor."""
        from .degenerate import floor_from_scale
        from .mixture.design_summary import standardisation_from_summary
        from .families import FamilyAdapter
        from .warnings import CollinearityWarning

        rows, fam = self.rows, self.family
        parts = rows.client.gather(rows.map(_summary, fam))
        total = parts[0]
        for part in parts[1:]:
            total = _combine(total, part)
        summ, C, swy, sw = total
        self.standardisation = standardisation_from_summary(summ, len(rows.exog_names))
        names = list(rows.exog_names) + list(rows.fixed_names or [])
        found = collinear_from_comoments(summ[0], summ[1], summ[2], summ[3], C, names)
        if found:
            what = "; ".join(f"{nm} is a linear combination of {', '.join(deps) or 'the others'}"
                             for nm, deps in found)
            warnings.warn(f"exactly collinear design columns: {what}; their coefficients are not "
                          "identified (drop the redundant column(s))", CollinearityWarning, stacklevel=4)
        self.var_floor = None
        if FamilyAdapter(fam, np.ones(1), np.ones(1)).has_scale:
            sums = rows.reduce(_scale_sums, fam, swy / sw)
            self.var_floor = floor_from_scale(FamilyAdapter(fam, np.ones(1), np.ones(1)).scale_from_sums([sums]))

    def __repr__(self):
        return f"DaskEMGLM({self.formula!r}, k={self.k}, n={self.rows.n}, npartitions={self.rows.npartitions})"

    def __getstate__(self):
        state = self.__dict__.copy()
        state["rows"] = None  # the rows live on the cluster
        return state

    # ------------------------------------------------------------------ fitting
    def recipe(self, k=None, mixing=None):
        from .dask_em import Recipe

        s = self.spec
        return Recipe(self.family, s["k"] if k is None else k, s["scale"], self.var_floor, s["point_mass"],
                      s["mixing"] if mixing is None else mixing, self.standardisation)

    def fit(self, start="screen", start_params=None, n_starts=None, random_state=None, tol=1e-8,
            maxiter=1000, accelerate="squarem", cov_type="oim", stop="aitken", screen=None, progress=False):
        """Fit the mixture by EM over the partitions.

        The options mean what they mean in :meth:`EMGLM.fit`. Starts (``"screen"``, the
        default, or ``"fit"``) are made on a random sample of at most
        ``screen["subsample"]`` units (5000) brought to the client; the best are run on all
        the data. ``cov_type`` is ``"oim"``, ``"opg"``, ``"robust"`` or ``"none"``.

        Returns
        -------
        emglm.dask_results.DaskEMGLMResults
        """
        from . import em
        from .cov_options import check_random_state
        from .dask_em import PartitionedMixture
        from .fitting import run_em, screen_mixture, start_vectors, theta_from_start_params, one_component_residuals
        from .safeguards import check_random_state_value, check_tol
        from .screening import screen_options, starts_table
        from .warnings import ConvergenceWarning

        if not (isinstance(start, str) and start in ("screen", "fit")):
            raise ValueError("start: a fit on a dask DataFrame takes start='screen' or 'fit' (or "
                             f"start_params); labels or posteriors of every row are not supported, got {start!r}")
        if cov_type not in _COV_TYPES:
            raise ValueError(f"cov_type must be one of {_COV_TYPES} for a fit on a dask DataFrame, got {cov_type!r}")
        if n_starts is not None and (isinstance(n_starts, bool) or not isinstance(n_starts, numbers.Integral)
                                     or n_starts < 1):
            raise ValueError(f"n_starts must be a positive integer, got {n_starts!r}")
        if isinstance(maxiter, bool) or not isinstance(maxiter, numbers.Integral) or maxiter < 1:
            raise ValueError(f"maxiter must be a positive integer, got {maxiter!r}")
        tol = check_tol(tol)
        if accelerate not in (None, "squarem"):
            raise ValueError(f"accelerate must be None or 'squarem', got {accelerate!r}")
        em.check_stop(stop, objective=True)
        opts = screen_options(screen, n_starts if start == "screen" else None)
        rng = check_random_state(check_random_state_value(0 if random_state is None and start == "screen"
                                                           else random_state))
        rows = self.rows
        if rows is None:
            raise ValueError("this model was unpickled without its rows; build it again from the dask DataFrame")
        sample_rows = rows.sample(n=min(rows.G, opts["subsample"]), random_state=rng)
        smodel = _sample_model(sample_rows, self.spec, self.var_floor)
        smix = smodel.make_mixture()
        widths = (len(self.exog_names), len(self.spec["fixed_names"] or []), 0 if rows.concomitant_names is None
                  else len(rows.concomitant_names))
        template = build_template(self, widths, rows.grouped)
        dmix = PartitionedMixture(rows, self.recipe(), template)

        def finish(theta0):
            return None, run_em(dmix, theta0, tol, maxiter, accelerate, stop=stop)

        if start_params is not None:
            P1 = one_component_residuals(smodel)[1]
            thetas, kinds = [theta_from_start_params(smodel, smix, start_params, P1)], ["start_params"]
        elif start == "screen" and self.k > 1:
            scr = screen_mixture(smodel, smix, opts, rng, finish, tol, maxiter, accelerate, stop, progress=progress)
            best, table = scr.result, scr.table
            thetas = None
        else:
            thetas = start_vectors(smodel, smix, "fit", None, n_starts or 1, rng)
            kinds = ["fit"] * len(thetas)
        if thetas is not None:
            runs = [finish(th)[1] for th in thetas]
            best = max(runs, key=lambda o: o.objective)
            table = starts_table(kinds, [o.objective for o in runs], [o.n_iter for o in runs],
                                 [o.converged for o in runs], tol)
        if not best.converged:
            warnings.warn(f"EM did not converge in {maxiter} iterations (stopping rule {stop!r} not met at "
                          f"tol={tol}); increase maxiter", ConvergenceWarning, stacklevel=2)
        theta = dmix.permute(best.params, dmix.order(best.params))
        from .dask_results import DaskEMGLMResults

        return DaskEMGLMResults.from_fit(self, smodel, dmix, theta, best, table, cov_type)


def build_template(model, widths, grouped):
    """The model's mixture on no rows (it unpacks and packs parameters on the client)."""
    from .dask_em import build_mixture
    from .dask_rows import empty_rows

    return build_mixture(empty_rows(widths, grouped), model.recipe())
