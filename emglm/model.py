"""The EMGLM model: data and options; ``fit`` runs the starts and the EM driver."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

from .cov_options import check_random_state
from .data import MIXING_MODES, SCALE_MODES, check_k, prepare_data
from .families import family_name
from .warnings import DegenerateComponentWarning

__all__ = ["EMGLM"]


class EMGLM:
    """Finite mixture of generalized linear models fitted by EM.

    ``f(y_i | x_i) = sum_j pi_ij f_j(y_i | x_i; beta_j, phi_j)`` with ``f_j`` a density of
    one statsmodels GLM family (and its link), common to all components.

    Parameters
    ----------
    endog : array_like
        Response, (n,); for Binomial a 0/1 or proportion response, or (n, 2) successes and
        failures.
    exog : array_like
        Component design matrix (n, p), including an intercept column if wanted.
    k : int
        Number of GLM components.
    family : statsmodels family instance, ComponentFamily, or a list of them
        Default ``sm.families.Gaussian()``. A :class:`~emglm.mixture.ComponentFamily` (such
        as those of :mod:`emglm.components`: ordinal, multinomial, Tobit, truncated counts,
        beta, survival) makes every component that model; a list of ``k`` families gives
        each component its own model, in the order given (:mod:`emglm.percomponent`).
    offset, exposure : array_like, optional
        As in statsmodels GLM (``log(exposure)`` is added to the offset).
    weights : array_like, optional
        Frequency weights.
    mixing : {"estimate", "equal"}
        Constant estimated proportions, or all components equally likely a priori
        (emax.glm's E-step).
    missing : {"drop", "raise"}
        Rows with NaN or infinite values are dropped (with a warning giving the count) or
        raise a ValueError.
    fixed : array_like, optional
        Design (n, q) of terms whose coefficients are shared by all components.
    concomitant : array_like, optional
        Design (n, r) for mixing proportions ``pi_ij = softmax_j(z_i gamma_j)``.
    groups : array_like, optional
        Group labels: all rows of a group share one component.
    point_mass : float, optional
        Value of an extra degenerate component (zero inflation with 0).
    scale : {"component", "shared"}
        One dispersion per component, or one shared by all.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-1, 1, 400)
    >>> z = rng.integers(0, 2, 400)
    >>> y = rng.poisson(np.exp(np.where(z == 1, 2.0 + x, 0.2 - x)))
    >>> X = np.column_stack([np.ones(400), x])
    >>> res = EMGLM(y, X, k=2, family=sm.families.Poisson()).fit()
    >>> np.round(res.params.to_numpy(), 1)
    array([[ 0.2,  2. ],
           [-0.9,  1. ]])
    """

    def __init__(self, endog, exog, k, family=None, offset=None, exposure=None, weights=None,
                 mixing="estimate", missing="drop", fixed=None, concomitant=None, groups=None,
                 point_mass=None, scale="component", **kwargs):
        family = sm.families.Gaussian() if family is None else family
        check_k(k)
        from .percomponent import check_family_list, family_list_extra, is_family_list

        if is_family_list(family):  # a model per component
            family = check_family_list(family, k, fixed)
        if mixing not in MIXING_MODES:
            raise ValueError(f"mixing must be one of {MIXING_MODES}, got {mixing!r}")
        if scale not in SCALE_MODES:
            raise ValueError(f"scale must be one of {SCALE_MODES}, got {scale!r}")
        if point_mass is not None and not (isinstance(point_mass, (numbers.Real, np.floating))
                                           and np.isfinite(point_mass)):
            raise TypeError(f"point_mass must be a finite number or None, got {point_mass!r}")
        self.formula = kwargs.pop("formula", None)
        #: the formula's design (rebuilds the matrices on new data), None for arrays
        self.design = kwargs.pop("design", None)
        names = kwargs.pop("names", {})
        extra = kwargs.pop("extra", None)
        #: a formula per component: the union design's column names in each formula, else None
        self.component_terms = kwargs.pop("component_terms", None)
        #: terms whose coefficient is shared by the components whose formulas contain them
        self.shared_terms = list(kwargs.pop("shared_terms", None) or [])
        from .families import is_component_family

        if is_component_family(family):
            # a categorical response becomes codes; the family may come back knowing its levels
            endog, family = family.prepare_endog(endog, None if self.design is None else self.design.endog)
            if isinstance(endog, pd.Series) and names.get("endog") and len(names["endog"]) > 1:
                names = dict(names, endog=[str(endog.name)])
            if extra is None:
                extra = family.extra_data()
        elif is_family_list(family):
            extra = family_list_extra(family) if extra is None else extra
            from .percomponent import prepare_family_list_endog

            endog, family = prepare_family_list_endog(family, endog, None if self.design is None else self.design.endog)
            if isinstance(endog, pd.Series) and names.get("endog") and len(names["endog"]) > 1:
                names = dict(names, endog=[str(endog.name)])
        elif self.design is not None:
            from .data import check_numeric_response

            check_numeric_response(self.design.endog)  # before patsy's indicator columns confuse
        if kwargs:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        d = prepare_data(endog, exog, family[0] if is_family_list(family) else family, offset=offset, exposure=exposure, weights=weights,
                         fixed=fixed, concomitant=concomitant, groups=groups, missing=missing,
                         k=k, exog_names=names.get("exog"), endog_names=names.get("endog"), extra=extra)
        self.family = family
        self.k = int(k)
        self.mixing = mixing
        self.missing = missing
        self.scale_mode = scale
        self.point_mass = None if point_mass is None else float(point_mass)
        self.endog = d["endog"]
        self.trials = d["trials"]
        self.exog = d["exog"]
        self.offset = d["offset"]
        self.exposure = d["exposure"]
        self.freq_weights = d["weights"]
        self.fixed_exog = d["fixed"]
        self.row_index = d["index"]
        self.endog_names = d["endog_names"]
        self.endog_name = " + ".join(self.endog_names) if len(self.endog_names) > 1 else self.endog_names[0]
        self.exog_names = d["exog_names"]
        self.fixed_names = list(names.get("fixed") or ([] if self.fixed_exog is None else
                                [f"w{i}" for i in range(self.fixed_exog.shape[1])]))
        self.concomitant_names = list(names.get("concomitant") or ([] if d["concomitant"] is None else
                                      [f"z{i}" for i in range(d["concomitant"].shape[1])]))
        self.group_codes = d["groups"]
        self.group_labels = d["group_labels"]
        self.n_dropped = d["n_dropped"]
        self.concomitant_exog = d["concomitant"]  # row level
        #: per-row data a component family asked for (``extra_data``), after row dropping
        self.extra = d["extra"]
        self._check_domain()
        self._warn_collinear()
        self.nobs = float(self.freq_weights.sum())
        self.n_groups = None if self.group_codes is None else len(self.group_labels)
        self.unit_concomitant()  # validates concomitant variables constant within groups

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_formula(cls, formula, data, k=None, family=None, offset=None, exposure=None, weights=None,
                     mixing="estimate", missing="drop", concomitant=None, groups=None, fixed=None,
                     point_mass=None, scale="component", eval_env=0, **kwargs):
        """Build a model from an R-style formula (patsy) and a DataFrame.

        ``offset``, ``exposure``, ``weights`` and ``groups`` are column names or per-row
        arrays: a pandas Series is matched to the rows of ``data`` by index label, a plain
        array by position. ``concomitant`` and ``fixed`` are one-sided formulas
        (``"~ z1 + z2"``). Binomial responses may be written ``successes + failures ~ x``.

        ``formula`` may be a list of formulas, one per component, with the same response
        (Stata fmm's hybrid models): ``["y ~ x", "y ~ x + z"]``. ``k`` may then be omitted
        (it must otherwise equal the number of formulas), ``family`` is one family for all or
        a list of one per formula, and the components keep the order of the formulas. The
        terms of ``fixed`` must appear in the formulas: each shared term's coefficient is
        shared by the components whose formulas contain it. In ``params`` a term that is not
        in a component's formula is NaN in that component's column. ``k`` may also be
        omitted with a list of families (one per component).

        ``eval_env`` is where names in the formula that are not columns of ``data`` are
        looked up, as in statsmodels: an int, the depth of the calling frame (0, the
        default: the code calling ``from_formula``; -1: no namespace at all), or a
        ``patsy.EvalEnvironment``.

        .. warning::
           The terms of a formula are evaluated as Python code (``np.log(x)`` is a call), so
           a formula can do anything Python can. Never pass a formula from an untrusted
           source (a web form, a file you did not write) straight through: check it first
           with :func:`emglm.formula_env.check_formulas` and evaluate it in
           ``eval_env=emglm.formula_env.restricted_env()``, which is what the command line
           does unless given ``--allow-code``.

        Examples
        --------
        >>> import numpy as np, pandas as pd, statsmodels.api as sm
        >>> rng = np.random.default_rng(1)
        >>> df = pd.DataFrame({"x": rng.normal(size=300)})
        >>> df["y"] = np.where(rng.random(300) < 0.5, 1 + 2 * df.x, -2 - df.x) + rng.normal(0, 0.3, 300)
        >>> res = EMGLM.from_formula("y ~ x", df, k=2).fit()
        >>> np.round(res.params.to_numpy(), 1)
        array([[-2. ,  1. ],
               [-1. ,  1.9]])

        A formula per component: a Poisson regression on ``x`` and a constant Poisson rate.

        >>> df["n"] = rng.poisson(np.where(rng.random(300) < 0.6, np.exp(1 + df.x), 5.0))
        >>> res = EMGLM.from_formula(["n ~ x", "n ~ 1"], df, family=sm.families.Poisson()).fit()
        >>> res.params.round(1)
                   comp1  comp2
        Intercept    0.9    1.6
        x            1.0    NaN
        """
        from .formula import build_from_formula, resolve_eval_env

        if isinstance(data, pd.DataFrame) and len(data) == 0:
            raise ValueError("data has no rows")
        if type(data).__module__.startswith("dask"):  # rows on a cluster: fitted over partitions
            from .dask_model import DaskEMGLM

            return DaskEMGLM.from_formula(formula, data, k, family=family, offset=offset, exposure=exposure,
                                          weights=weights, mixing=mixing, missing=missing,
                                          concomitant=concomitant, groups=groups, fixed=fixed,
                                          point_mass=point_mass, scale=scale,
                                          eval_env=resolve_eval_env(eval_env), model_class=cls, **kwargs)
        return build_from_formula(cls, formula, data, k, family=family, offset=offset,
                                  exposure=exposure, weights=weights, mixing=mixing,
                                  missing=missing, concomitant=concomitant, groups=groups,
                                  fixed=fixed, point_mass=point_mass, scale=scale,
                                  eval_env=resolve_eval_env(eval_env), **kwargs)

    def _warn_collinear(self):
        """Warn, naming them, about design columns that are exact linear combinations of others
        (their coefficients are not identified; the solver gives one of many equivalent sets)."""
        from .data import collinear_columns
        from .warnings import CollinearityWarning

        D = self.exog if self.fixed_exog is None else np.hstack([self.exog, self.fixed_exog])
        names = list(self.exog_names) + list(self.fixed_names)
        if getattr(self, "component_terms", None) is not None:  # each formula's own columns
            found = list(dict.fromkeys((nm, tuple(deps)) for terms in self.component_terms for nm, deps in
                                       collinear_columns(D[:, [names.index(t) for t in terms]], list(terms))))
        else:
            found = collinear_columns(D, names)
        if found:
            what = "; ".join(f"{nm} is a linear combination of {', '.join(deps) or 'the others'}"
                             for nm, deps in found)
            warnings.warn(f"exactly collinear design columns: {what}; their coefficients are not "
                          "identified (drop the redundant column(s))", CollinearityWarning, stacklevel=3)

    def _check_domain(self):
        from .families import FamilyAdapter, is_component_family

        if is_component_family(self.family):
            self.family.check_data(self.endog, self.extra, self.endog_name)
            return
        from .percomponent import check_family_list_data, is_family_list

        if is_family_list(self.family):
            check_family_list_data(self.family, self.endog, self.trials, self.freq_weights, self.extra,
                                   self.offset, self.endog_name)
            return
        FamilyAdapter(self.family, self.endog, self.trials).check_endog(self.endog_name)
        from .data import check_finite_density

        fa = check_finite_density(self.family, self.endog, self.trials, self.freq_weights, self.endog_name,
                                  offset=self.offset)
        # the response's y-only constant (log y! for counts) made for the check serves the fits
        self._response_constant = fa.const
        from .safeguards import check_response_spread

        check_response_spread(self.family, self.endog, self.freq_weights, self.endog_name)

    @property
    def family_name(self):
        from .percomponent import family_list_name, is_family_list

        return family_list_name(self.family) if is_family_list(self.family) else family_name(self.family)

    @property
    def component_names(self):
        """Column labels of ``params``: ``comp1..compk`` and ``point_mass``."""
        names = [f"comp{j + 1}" for j in range(self.k)]
        if self.point_mass is not None:
            names.append("point_mass")
        return names

    def unit_concomitant(self):
        """Concomitant design per unit (per group for grouped data), or None."""
        Z = self.concomitant_exog
        if Z is None or self.group_codes is None:
            return Z
        G = len(self.group_labels)
        first = np.full(G, -1)
        for i, g in enumerate(self.group_codes):
            if first[g] < 0:
                first[g] = i
        Zu = Z[first]
        if not np.allclose(Z, Zu[self.group_codes]):
            raise ValueError("concomitant variables must be constant within each group")
        return Zu

    def make_mixture(self, k=None, point_mass="model", mixing=None, var_floor=None, rows=None,
                     standardisation=None):
        """The numerical mixture (:class:`emglm.mixture.Mixture`) of this model.

        Parameters
        ----------
        k : int, optional
            Number of regression components (default the model's).
        point_mass : "model", float or None
            The model's point mass, another value, or none.
        mixing : {"estimate", "equal"}, optional
            Overrides the model's mixing mode (then without concomitant variables).
        var_floor : float, optional
            Dispersion floor (default :meth:`dispersion_floor`).
        rows : Rows, optional
            The data (default the model's rows; a subsample for warm-up starts).
        standardisation : tuple, optional
            The design constants of the GLM component of another mixture on the same rows
            (its ``glm.standardisation``), so that they are not computed again (a pass over
            the design); every M-step is then checked.

        Examples
        --------
        >>> import numpy as np
        >>> mix = EMGLM(np.arange(6.0), np.ones((6, 1)), k=2).make_mixture()
        >>> mix.K, mix.size
        (2, 5)
        """
        from .families import is_component_family
        from .mixture import GLMComponent, Mixture, PointMass, make_mixing

        if rows is None:
            rows = self.rows(concomitant=mixing is None)
        k = self.k if k is None else int(k)
        pm = self.point_mass if point_mass == "model" else point_mass
        floor = self.dispersion_floor() if var_floor is None else var_floor
        from .percomponent import is_family_list, make_components

        if getattr(self, "component_terms", None) is not None:
            from .percomponent import make_design_components

            comps = make_design_components(self.family, rows, k, self.component_terms, self.shared_terms,
                                           scale=self.scale_mode)
        elif is_family_list(self.family):
            comps = make_components(self.family, rows, k, scale=self.scale_mode)
        elif is_component_family(self.family):
            comps = [self.family.make_component(rows, k, scale=self.scale_mode, var_floor=floor)]
        else:
            comps = [GLMComponent(self.family, rows, k, scale=self.scale_mode, var_floor=floor,
                                  standardisation=standardisation)]
        if pm is not None:
            comps.append(PointMass(pm, rows))
        K = k + (pm is not None)
        mode = self.mixing if mixing is None else mixing
        return Mixture(comps, make_mixing(mode, K, rows.Z), rows)

    def rows(self, concomitant=True):
        """The model's data as :class:`emglm.mixture.Rows` (threads: those ``fit`` was given)."""
        from .mixture import Rows

        # built once per model: every start, screening mixture and check shares one joint
        # design and the constants computed from it (Rows.memo)
        cache = self.__dict__.setdefault("_rows_cache", {})
        n_jobs = getattr(self, "n_jobs", 1)
        from .mixture import rows as rows_module

        # (a block size changed since, as tests do, takes effect)
        key = (bool(concomitant) and self.concomitant_exog is not None, rows_module.SWEEP_ROWS)
        rows = cache.get(key)
        if rows is None:
            rows = cache[key] = Rows(
                self.endog, self.exog, self.offset, self.freq_weights, self.trials,
                fixed=self.fixed_exog, concomitant=self.unit_concomitant() if concomitant else None,
                groups=self.group_codes, n_jobs=n_jobs, extra=getattr(self, "extra", None),
                exog_names=self.exog_names)
            if getattr(self, "_response_constant", None) is not None:
                from .mixture.glm import constant_key

                const = self._response_constant
                rows.memo(constant_key(self.family), lambda: const)
        rows.n_jobs = n_jobs
        return rows

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_rows_cache", None)  # rebuilt when needed
        state.pop("_response_constant", None)  # (remade from the response when needed)
        return state

    def dispersion_floor(self):
        """Dispersion floor against collapsing components (:mod:`emglm.degenerate`), or None."""
        from .families import FamilyAdapter, is_component_family

        from .percomponent import is_family_list

        if is_component_family(self.family) or is_family_list(self.family):
            return None
        if getattr(self, "_var_floor_value", None) is None:
            from .degenerate import dispersion_floor

            fam = FamilyAdapter(self.family, self.endog, self.trials)
            self._var_floor_value = dispersion_floor(fam, self.freq_weights) if fam.has_scale else 0.0
        return self._var_floor_value or None

    # ------------------------------------------------------------------ fitting
    def fit(self, start="screen", start_params=None, n_starts=None, random_state=None, tol=1e-8,
            maxiter=1000, accelerate="squarem", warmup=None, progress=False, cov_type="oim",
            min_proportion=None, n_jobs=None, cov_kwds=None, stop="aitken", screen=None, **kwargs):
        """Fit the mixture by EM.

        Parameters
        ----------
        start : {"screen", "fit", "random"} or array
            ``"screen"`` (default): short EM runs from ``n_starts`` diverse starts (residual
            quantiles, random partitions, random posteriors, k-means++ seeding), the best
            few run to convergence, on a subsample for large data (see
            :mod:`emglm.screening`); with one GLM component, the ``"fit"`` start.
            ``"fit"``: classes from quantiles of a one-component GLM's residuals
            (deterministic), further starts diverse as above; ``"random"``: random
            posteriors; an integer label vector of length nobs; or an nobs x K posterior
            matrix. Every start but ``"screen"``'s is run to convergence.
        start_params : array_like, optional
            Coefficients shaped like ``params`` (terms x components); overrides ``start``.
        n_starts : int, optional
            Number of starts; the fit with the highest log-likelihood is kept. Default: 1,
            or ``10 + 5 k`` screened starts for ``start="screen"``. What the starts found
            is in ``res.starts`` and in ``summary()``.
        random_state : int, numpy Generator or None
            Seed for random starts. With ``start="screen"``, None means a fixed seed, so
            that the default fit is reproducible.
        tol : float
            Tolerance of the stopping rule ``stop``. With the default rule, EM stops when the
            estimated error of every parameter (on the internal scale: coefficients,
            dispersions, mixing logits) is at most ``tol * (|value| + 1)`` and the llf is
            within ``tol * (|llf| + 1)`` of its extrapolated limit.
        maxiter : int
            Maximum number of EM map evaluations per start.
        accelerate : {"squarem", None}
            Extrapolation of the EM map (see :func:`emglm.em.run`), safeguarded so the llf
            never decreases. The default ``"squarem"`` needs 7-28 times fewer EM-map
            evaluations than plain EM on slow (overlapping) fits and never ends at a lower
            llf (``benchmarks/bench_squarem.py``); ``None`` is plain EM.
        warmup : bool or dict, optional
            Warm-up starts (emax.glm's ``small.em`` + ``select_best``): ``n_starts`` (20) short
            EM runs of ``maxiter`` (20) iterations on a random ``subsample`` (0.1) of rows or
            groups; the best ``keep`` (1) by llf start the full fit (``start`` and ``n_starts``
            are then not used). Costs about ``n_starts * maxiter * subsample`` full-data
            iterations; see :mod:`emglm.warmup`. The record is ``res.warmup``.
        progress : bool
            tqdm progress bars over the warm-up runs and over several starts (needs tqdm).
        cov_type : {"oim", "opg", "robust", "cluster", "bootstrap", "none"}
            Covariance of the estimates, computed when first asked for (``res.bse``...):
            observed information, outer product of scores, sandwich, cluster sandwich,
            nonparametric bootstrap, or none; see :mod:`emglm.inference` and
            :mod:`emglm.bootstrap`.
        cov_kwds : dict, optional
            Options of ``cov_type``, as in statsmodels: ``"cluster"`` needs
            ``{"groups": labels}`` (one per row; ``use_correction=True`` applies the
            small-sample factor ``G/(G-1) (N-1)/(N-K)``); ``"bootstrap"`` takes ``n_boot``
            (200), ``random_state``, ``n_jobs`` (processes, 1), ``progress``, ``tol`` and
            ``maxiter``.
        min_proportion : float, optional
            flexmix's ``minprior``: a GLM component whose share of the (weighted) posterior
            falls below this value during EM is removed with a DegenerateComponentWarning and
            EM continues with one component fewer (``res.model.k`` is then smaller). Default
            None: no removal (degenerate components are still reported by a warning); see
            :mod:`emglm.degenerate`.
        n_jobs : int, optional
            Threads for the passes over the rows (E-step, IRLS weights and Gram products),
            which share blocks of rows out over the cores; None or -1 (default) uses every
            core available to the process, 1 runs in the calling thread. A pass over fewer
            than ``emglm.parallel.MIN_ROWS_PER_THREAD`` (300,000) rows per thread runs in
            fewer threads (on small passes threads cost more than they save). BLAS is held
            to one thread during the fit. The estimates do not depend on ``n_jobs``: block
            sums are always added in the same order.

        stop : {"aitken", "llf", "params"} or callable
            Stopping rule of :func:`emglm.em.run`. ``"aitken"`` (default) bounds the
            distance to the optimum: the parameter error ``|step| r / (1 - r)`` from the
            rate ``r`` of the EM map, and the llf's distance to its Aitken-extrapolated
            limit. ``"llf"`` is the relative change of the llf, which leaves the
            parameters only about ``sqrt(tol)`` accurate; ``"params"`` the largest
            parameter change. With ``"aitken"``, once the estimated error is below 3e-3 a
            Newton step with the analytic observed information and score is tried (GLM
            components, at most 60 parameters; kept only if the llf does not fall): EM
            converges linearly, Newton quadratically, so the fit needs fewer EM iterations
            (16 -> 7 on a 3-component Poisson mixture); EM steps still decide convergence.

        screen : dict, optional
            Options of ``start="screen"``: ``maxiter`` (10, EM-map evaluations of each short
            run), ``keep`` (3, short runs taken to convergence), ``subsample`` (5000: above
            this many rows or groups the screening runs on a random subsample of that
            size, and only its best optimum is run on all the data).

        Returns
        -------
        EMGLMResults
        """
        from .cov_options import check_cov_kwds
        from .results import EMGLMResults

        check_cov_kwds(cov_type, cov_kwds, self)
        from .degenerate import check_min_proportion, reduced_model

        if kwargs:
            raise TypeError(f"fit() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        min_proportion = check_min_proportion(min_proportion)
        from .percomponent import is_family_list

        if min_proportion is not None and is_family_list(self.family):
            raise ValueError("min_proportion: components cannot be removed from a model with a family or a "
                             "formula per component (each component is its own model)")
        if start_params is not None and is_family_list(self.family):
            raise ValueError("start_params: coefficients shaped like params start models of one family and "
                             "design; with a family or a formula per component pass start= class labels or "
                             "posterior probabilities")
        from .parallel import check_n_jobs

        n_jobs = check_n_jobs(n_jobs)
        if n_starts is not None and (isinstance(n_starts, bool) or not isinstance(
                n_starts, (numbers.Integral, np.integer)) or n_starts < 1):
            raise ValueError(f"n_starts must be a positive integer, got {n_starts!r}")
        if isinstance(maxiter, bool) or not isinstance(maxiter, (numbers.Integral, np.integer)) or maxiter < 1:
            raise ValueError(f"maxiter must be a positive integer, got {maxiter!r}")
        from .fewer_components import fewer_components_hint
        from .safeguards import check_random_state_value, check_tol, warn_below_one_component

        tol = check_tol(tol)
        if accelerate not in (None, "squarem"):
            raise ValueError(f"accelerate must be None or 'squarem', got {accelerate!r}")
        from . import em
        from .screening import screen_options

        em.check_stop(stop, objective=True)
        screen_opts = screen_options(screen, n_starts if isinstance(start, str) and start == "screen" else None)
        if isinstance(start, str) and start == "screen" and random_state is None:
            random_state = 0  # the default fit is reproducible
        rng = check_random_state(check_random_state_value(random_state))
        from .warmup import warmup_options

        warm = warmup_options(warmup)
        if warm is not None and start_params is not None:
            raise ValueError("warmup and start_params cannot be combined: the warm-up chooses the start")
        from . import fitting
        from .parallel import blas_limit

        # BLAS keeps to one thread for the whole fit: the row passes have threads of their own,
        # and a single-threaded BLAS sums long dot products the same way for every n_jobs
        self.n_jobs = n_jobs  # threads of the row passes, in the fit and after it
        from .mixture.buffers import reuse_during

        # (the row passes' work arrays are reused while the fit runs: emglm.mixture.buffers)
        with blas_limit(n_jobs), reuse_during():
            mix, theta, best, table, warm_info = fitting.fit(
                self, start, start_params, n_starts, rng, tol, maxiter, accelerate, warm,
                progress, min_proportion, stop=stop, screen_opts=screen_opts)
            model = reduced_model(self, mix.k)
            hints = fewer_components_hint(mix, theta, model)
            if best.converged:  # (a fit that did not converge was reported already)
                from .one_component import is_fitted

                if not is_fitted(self):
                    # the one-component reference is fitted now, with the fit's E-step let go
                    # (results make it again): it does not add to the fit's peak memory
                    mix.clear_cache()
                warn_below_one_component(self, best.objective, tol)
        for msg in hints:
            warnings.warn(msg, DegenerateComponentWarning, stacklevel=2)
        res = EMGLMResults(model, mix, theta, best, n_starts=len(table), cov_type=cov_type,
                           cov_kwds=cov_kwds)
        res.warmup = warm_info
        res.starts = table
        from .concomitant import warn_mixing_separation

        warn_mixing_separation(res)
        return res
