"""The EMGLM model: data and options; ``fit`` runs the starts and the EM driver."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

from . import em
from .data import MIXING_MODES, SCALE_MODES, check_k, prepare_data
from .engine import MixtureEngine
from .families import family_name
from .starts import initial_posteriors
from .warnings import ConvergenceWarning, DegenerateComponentWarning

__all__ = ["EMGLM"]


def _check_random_state(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None or isinstance(random_state, (numbers.Integral, np.integer)):
        return np.random.default_rng(random_state)
    raise TypeError(f"random_state must be None, an integer or a numpy Generator, got {random_state!r}")


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
    family : statsmodels family instance
        Default ``sm.families.Gaussian()``.
    offset, exposure : array_like, optional
        As in statsmodels GLM (``log(exposure)`` is added to the offset).
    weights : array_like, optional
        Frequency weights.
    mixing : {"estimate", "equal"}
        Constant estimated proportions, or all components equally likely a priori
        (the seed's and emax.glm's E-step).
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
        if mixing not in MIXING_MODES:
            raise ValueError(f"mixing must be one of {MIXING_MODES}, got {mixing!r}")
        if scale not in SCALE_MODES:
            raise ValueError(f"scale must be one of {SCALE_MODES}, got {scale!r}")
        if point_mass is not None and not (isinstance(point_mass, (numbers.Real, np.floating))
                                           and np.isfinite(point_mass)):
            raise TypeError(f"point_mass must be a finite number or None, got {point_mass!r}")
        self.formula = kwargs.pop("formula", None)
        self._design = kwargs.pop("design", None)
        names = kwargs.pop("names", {})
        if kwargs:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        d = prepare_data(endog, exog, family, offset=offset, exposure=exposure, weights=weights,
                         fixed=fixed, concomitant=concomitant, groups=groups, missing=missing,
                         k=k, exog_names=names.get("exog"), endog_names=names.get("endog"))
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
        self._check_domain()
        self.nobs = float(self.freq_weights.sum())
        self.n_groups = None if self.group_codes is None else len(self.group_labels)
        self._unit_concomitant()  # validates concomitant variables constant within groups

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_formula(cls, formula, data, k, family=None, offset=None, exposure=None, weights=None,
                     mixing="estimate", missing="drop", concomitant=None, groups=None, fixed=None,
                     point_mass=None, scale="component", **kwargs):
        """Build a model from an R-style formula (patsy) and a DataFrame.

        ``offset``, ``exposure`` and ``weights`` are arrays (or column names) aligned with
        ``data``; ``concomitant`` and ``fixed`` are one-sided formulas (``"~ z1 + z2"``);
        ``groups`` is a column name or an array. Binomial responses may be written
        ``successes + failures ~ x``.

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
        """
        from .formula import build_from_formula

        return build_from_formula(cls, formula, data, k, family=family, offset=offset,
                                  exposure=exposure, weights=weights, mixing=mixing,
                                  missing=missing, concomitant=concomitant, groups=groups,
                                  fixed=fixed, point_mass=point_mass, scale=scale, **kwargs)

    def _check_domain(self):
        from .families import FamilyAdapter

        FamilyAdapter(self.family, self.endog, self.trials).check_endog(self.endog_name)
        from .data import check_finite_density

        check_finite_density(self.family, self.endog, self.trials, self.freq_weights, self.endog_name,
                             offset=self.offset)

    @property
    def family_name(self):
        return family_name(self.family)

    @property
    def component_names(self):
        """Column labels of ``params``: ``comp1..compk`` and ``point_mass``."""
        names = [f"comp{j + 1}" for j in range(self.k)]
        if self.point_mass is not None:
            names.append("point_mass")
        return names

    def _unit_concomitant(self):
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

    def _engine(self, k=None, point_mass="model", mixing=None, var_floor=None):
        # threads for the row passes: those fit() was asked for (one outside a fit)
        return MixtureEngine(
            self.family, self.endog, self.exog, self.k if k is None else k, self.offset,
            self.freq_weights, self.trials, fixed=self.fixed_exog,
            concomitant=self._unit_concomitant() if mixing is None else None,
            groups=self.group_codes,
            point_mass=self.point_mass if point_mass == "model" else point_mass,
            mixing=self.mixing if mixing is None else mixing, scale=self.scale_mode,
            var_floor=self._var_floor() if var_floor is None else var_floor,
            n_jobs=getattr(self, "_n_jobs", 1),
        )

    def _var_floor(self):
        # dispersion floor against collapsing components (emglm.degenerate), computed once
        if getattr(self, "_var_floor_value", None) is None:
            from .degenerate import dispersion_floor
            from .families import FamilyAdapter

            fam = FamilyAdapter(self.family, self.endog, self.trials)
            self._var_floor_value = dispersion_floor(fam, self.freq_weights) if fam.has_scale else 0.0
        return self._var_floor_value or None

    # ------------------------------------------------------------------ fitting
    def _start_vectors(self, engine, start, start_params, n_starts, rng):
        """Flat starting vectors for every start (``start`` already validated by ``fit``)."""
        if start_params is None and (isinstance(start, str) and start == "random"
                                     or not isinstance(start, str) and n_starts == 1):
            # given labels/posteriors or random starts need no one-component fit (performance)
            return [engine.fit_from_posterior(T) for T in initial_posteriors(engine, start, n_starts, rng)]
        base = self._engine(k=1, point_mass=None, mixing="equal")
        theta1 = base.fit_from_posterior(np.ones((self.exog.shape[0], 1)))
        P1 = base.unpack(theta1)
        if start_params is not None:
            return [self._theta_from_start_params(engine, start_params, P1)]
        fam = base.fam
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # separated data
            mu = fam.mean(base.linear_predictors(P1)[:, 0])
            resid = (fam.y - mu) * np.sqrt(fam.trials / fam.family.variance(mu))
        resid = np.where(np.isfinite(resid), resid, 0.0)
        thetas = []
        for T in initial_posteriors(engine, start, n_starts, rng, base_resid=resid):
            thetas.append(engine.fit_from_posterior(T))
        if not (isinstance(start, str)) and n_starts > 1:
            for T in initial_posteriors(engine, "fit", n_starts, rng, base_resid=resid)[1:]:
                thetas.append(engine.fit_from_posterior(T))
        return thetas

    def _validate_start(self, engine, start):
        if isinstance(start, str):
            if start not in ("screen", "fit", "random"):
                raise ValueError("start must be 'screen', 'fit', 'random', a label vector or a posterior "
                                 f"matrix, got {start!r}")
            return
        arr = np.asarray(start)
        n, K = self.exog.shape[0], engine.K
        if arr.ndim == 1:
            if arr.shape[0] != n:
                raise ValueError(f"start: a label vector must have length nobs={n}, got {arr.shape[0]}")
            if not np.issubdtype(arr.dtype, np.integer) and not np.all(np.equal(np.mod(arr, 1), 0)):
                raise ValueError("start: labels must be integers")
            if arr.min() < 0 or arr.max() >= K:
                raise ValueError(f"start: labels must lie in 0..{K - 1}, got range {arr.min()}..{arr.max()}")
        elif arr.ndim == 2:
            if arr.shape != (n, K):
                raise ValueError(f"start: a posterior matrix must have shape ({n}, {K}), got {arr.shape}")
            if not np.all(np.isfinite(arr)) or np.any(arr < 0) or not np.allclose(arr.sum(axis=1), 1.0):
                raise ValueError("start: posterior rows must be finite, non-negative and sum to one")
        else:
            raise ValueError(f"start must be a label vector or a posterior matrix, got shape {arr.shape}")

    def _theta_from_start_params(self, engine, start_params, P1):
        from .layout import Params

        sp = start_params.to_numpy() if isinstance(start_params, pd.DataFrame) else np.asarray(start_params, float)
        p, q, k = self.exog.shape[1], engine.q, self.k
        if sp.ndim != 2 or sp.shape[0] not in (p, p + q) or sp.shape[1] not in (k, engine.K):
            raise ValueError(
                f"start_params must be shaped like params: ({p + q}, {engine.K}) (terms x components), got {np.shape(sp)}"
            )
        beta = sp[:p, :k].T.copy()
        delta = sp[p:, 0] if sp.shape[0] > p else P1.delta
        if not np.all(np.isfinite(beta)):
            raise ValueError("start_params must be finite")
        P = Params(beta, np.asarray(delta, float), np.full(k, P1.scale[0]), np.zeros((engine.K - 1, engine.r)))
        return engine.pack(P)

    def fit(self, start="screen", start_params=None, n_starts=None, random_state=None, tol=1e-8,
            maxiter=1000, accelerate="squarem", warmup=None, progress=False, cov_type="oim",
            min_proportion=None, n_jobs=None, stop="aitken", screen=None, **kwargs):
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
        cov_type : {"oim", "opg", "robust", "none"}
            Covariance of the estimates, computed when first asked for (``res.bse``...):
            observed information, outer product of scores, sandwich, or none; see
            :mod:`emglm.inference`.
        min_proportion : float, optional
            flexmix's ``minprior``: a GLM component whose share of the (weighted) posterior
            falls below this value during EM is removed with a DegenerateComponentWarning and
            EM continues with one component fewer (``res.model.k`` is then smaller). Default
            None: no removal (degenerate components are still reported by a warning); see
            :mod:`emglm.degenerate`.
        n_jobs : int, optional
            Threads for the passes over the rows (E-step, IRLS weights and Gram products),
            which share blocks of rows out over the cores; None or -1 (default) uses every
            core available to the process, 1 runs in the calling thread. BLAS is held to
            one thread during the fit. The estimates do not depend on ``n_jobs``: block
            sums are always added in the same order.

        stop : {"aitken", "llf", "params"} or callable
            Stopping rule of :func:`emglm.em.run`. ``"aitken"`` (default) bounds the
            distance to the optimum: the parameter error ``|step| r / (1 - r)`` from the
            rate ``r`` of the EM map, and the llf's distance to its Aitken-extrapolated
            limit. ``"llf"`` is the relative change of the llf, which leaves the
            parameters only about ``sqrt(tol)`` accurate; ``"params"`` the largest
            parameter change.

        screen : dict, optional
            Options of ``start="screen"``: ``maxiter`` (10, EM-map evaluations of each short
            run), ``keep`` (3, short runs taken to convergence), ``subsample`` (5000: above
            this many rows or groups the screening runs on a random subsample of that
            size, and only its best optimum is run on all the data).

        Returns
        -------
        EMGLMResults
        """
        from .inference import check_cov_type
        from .results import EMGLMResults

        check_cov_type(cov_type)
        from .degenerate import check_min_proportion, diagnose, reduced_model, run_start, warn_degenerate

        if kwargs:
            raise TypeError(f"fit() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        min_proportion = check_min_proportion(min_proportion)
        from .parallel import check_n_jobs

        self._n_jobs = check_n_jobs(n_jobs)
        if n_starts is not None and (isinstance(n_starts, bool) or not isinstance(
                n_starts, (numbers.Integral, np.integer)) or n_starts < 1):
            raise ValueError(f"n_starts must be a positive integer, got {n_starts!r}")
        if isinstance(maxiter, bool) or not isinstance(maxiter, (numbers.Integral, np.integer)) or maxiter < 1:
            raise ValueError(f"maxiter must be a positive integer, got {maxiter!r}")
        if not (isinstance(tol, numbers.Real) and tol > 0):
            raise ValueError(f"tol must be a positive number, got {tol!r}")
        if accelerate not in (None, "squarem"):
            raise ValueError(f"accelerate must be None or 'squarem', got {accelerate!r}")
        em.check_stop(stop, objective=True)
        from .screening import screen_mixture, screen_options, starts_table

        screen_opts = screen_options(screen, n_starts if isinstance(start, str) and start == "screen" else None)
        if isinstance(start, str) and start == "screen" and random_state is None:
            random_state = 0  # the default fit is reproducible
        rng = _check_random_state(random_state)
        engine = self._engine()
        if start_params is None:
            self._validate_start(engine, start)
        from .warmup import progress_iter, warmup_options, warmup_starts

        warm = warmup_options(warmup)
        if warm is not None and start_params is not None:
            raise ValueError("warmup and start_params cannot be combined: the warm-up chooses the start")
        screening = (warm is None and start_params is None and isinstance(start, str) and start == "screen"
                     and engine.k > 1)
        if isinstance(start, str) and start == "screen" and not screening:
            start, n_starts = "fit", (1 if warm is not None or start_params is not None else n_starts)
        n_starts = 1 if n_starts is None else n_starts

        def finish(theta0, eng0=engine):
            removed = []  # min_proportion removals, reported for the kept start only
            eng, out = run_start(self, eng0, theta0, tol, maxiter, accelerate, min_proportion, removed,
                                 stop=stop)
            return (eng, removed), out
        from .parallel import blas_limit

        # BLAS keeps to one thread for the whole fit: the row passes have threads of their own,
        # and a single-threaded BLAS sums long dot products the same way for every n_jobs
        with blas_limit(self._n_jobs):
            warm_info = None
            if screening:
                scr = screen_mixture(self, engine, screen_opts, rng, finish, tol, maxiter, accelerate, stop,
                                     progress=progress)
                (engine, best_removed), best, table = scr.handle, scr.result, scr.table
            else:
                if warm is not None:
                    thetas, warm_info = warmup_starts(self, engine, warm, rng, progress=progress)
                else:
                    thetas = self._start_vectors(engine, start, start_params, n_starts, rng)
                best, runs = None, []
                for theta0 in progress_iter(thetas, progress and len(thetas) > 1, "starts"):
                    (eng, removed), out = finish(theta0)
                    runs.append(out)
                    if best is None or out.objective > best.objective:
                        best, engine, best_removed = out, eng, removed
                table = starts_table(_start_kinds(start, start_params, warm, len(thetas)),
                                     [o.objective for o in runs], [o.n_iter for o in runs],
                                     [o.converged for o in runs], tol)
        for msg in best_removed:
            warnings.warn(msg, DegenerateComponentWarning, stacklevel=2)
        if not best.converged:
            warnings.warn(
                f"EM did not converge in {maxiter} iterations (stopping rule {stop!r} not met at tol={tol}); "
                "increase maxiter" + ("" if accelerate else " or try accelerate='squarem'"),
                ConvergenceWarning, stacklevel=2,
            )
        theta = engine.permute(best.params, engine.order(best.params))
        model = reduced_model(self, engine.k)
        warn_degenerate(diagnose(engine, theta, model.component_names[: engine.k]))
        res = EMGLMResults(model, engine, theta, best, n_starts=len(table), cov_type=cov_type)
        res.warmup = warm_info
        res.starts = table
        return res


def _start_kinds(start, start_params, warm, n):
    """Kind of each start of a fit without screening (the ``kind`` column of ``res.starts``)."""
    from .starts import start_kinds

    if start_params is not None:
        return ["start_params"]
    if warm is not None:
        return ["warm-up"] * n
    if isinstance(start, str):
        if start == "random":
            return ["posterior"] * n
        return start_kinds(n)
    return ["labels" if np.ndim(start) == 1 else "posterior matrix"] + start_kinds(n)[1:]
