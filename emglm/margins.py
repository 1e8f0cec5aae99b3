"""Predictions with standard errors, marginal effects, class means and class probabilities.

Every quantity here is a smooth function of the flat parameter vector ``theta`` (see
:mod:`emglm.layout`); its standard error comes from the delta method,
``se = sqrt(diag(J V J'))`` with ``V = res.cov_theta`` and ``J`` the Jacobian with respect to
``theta``. All of them are built from one function, :func:`row_predictions`, which maps
``theta`` to the component means ``mu_ij`` and prior class probabilities ``pi_ij`` of given
rows. Jacobians are analytic for predictions, class means and class probabilities; for
marginal effects (themselves derivatives) a central-difference Jacobian over ``theta`` of the
analytic effect is used.

* :func:`get_prediction`: the marginal mean ``sum_j pi_ij mu_ij`` (a point mass adds
  ``pi_i,pm * value``), or each component's mean, on the training rows or new data.
* :func:`get_margeff`: average marginal effects on the marginal mean (statsmodels'
  ``get_margeff``): derivatives for continuous columns, discrete changes 0 -> 1 for dummies.
* :func:`class_means`: Stata's ``estat lcmean``, the mean response in each class averaged
  over the estimation sample.
* :func:`class_probabilities`: Stata's ``estat lcprob``, the prior class probabilities
  averaged over the estimation sample (with concomitant variables they vary by row).

Examples
--------
>>> import numpy as np, pandas as pd, statsmodels.api as sm
>>> from emglm import EMGLM
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"x": rng.uniform(-1, 1, 500)})
>>> df["y"] = rng.poisson(np.exp(np.where(rng.random(500) < 0.5, 2 + df.x, 0.3 - df.x)))
>>> res = EMGLM.from_formula("y ~ x", df, k=2, family=sm.families.Poisson()).fit()
>>> pred = res.get_prediction(pd.DataFrame({"x": [0.0, 0.5]}))
>>> pred.summary_frame().shape
(2, 4)
>>> list(res.class_means().columns)
['mean', 'se', 'ci_lower', 'ci_upper']
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats

from .mixing import log_prior

__all__ = ["row_predictions", "get_prediction", "PredictionResults", "get_margeff",
           "MarginalEffects", "class_means", "class_probabilities"]


# ---------------------------------------------------------------------- the mixture
def _mixture(res):
    """What the predictions need from the fitted mixture.

    The only place in this module that reads the fitted mixture (``res.mixture``): the
    parameter layout, the family's inverse link and the number of classes.
    """
    eng = res.mixture
    if eng.glm is None:  # the delta method here differentiates one GLM's linear predictors
        raise NotImplementedError(
            "get_prediction, get_margeff, class_means and class_probabilities work on mixtures of one GLM "
            f"family and design; for {res.model.family_name} components use predict() and "
            "predict(which='components')")
    return SimpleNamespace(layout=eng.layout, mean=eng.fam.mean, K=eng.K, k=eng.k, equal=eng.equal,
                           link=res.family.link, point_mass=res.model.point_mass,
                           unit_w=np.asarray(eng.unit_w, float), unit_Z=eng.Z)


def _training_rows(res):
    m = res.model
    return dict(X=m.exog, U=m.fixed_exog, Z=m.concomitant_exog, offset=m.offset,
                w=m.freq_weights, index=m.row_index)


def row_predictions(mix, theta, d):
    """Component means, their derivatives and prior probabilities of the rows in ``d``.

    Parameters
    ----------
    mix : namespace from ``_mixture(res)``
    theta : ndarray, the flat parameter vector
    d : dict with ``X`` (n, p), ``U`` (n, q) or None, ``Z`` (n, r) or None, ``offset`` (n,)

    Returns
    -------
    Mu : (n, k) component means; dMu : (n, k) ``d mu / d eta``; prior : (n, K) prior class
    probabilities; P : the unpacked parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> y = np.r_[np.zeros(60), np.ones(60) * 5] + np.random.default_rng(0).normal(size=120)
    >>> res = EMGLM(y, np.ones((120, 1)), k=2).fit()
    >>> d = dict(X=np.ones((1, 1)), U=None, Z=None, offset=np.zeros(1))
    >>> Mu, dMu, prior, P = row_predictions(_mixture(res), res.theta, d)
    >>> np.round(Mu, 0), dMu, np.round(prior, 1)
    (array([[0., 5.]]), array([[1., 1.]]), array([[0.5, 0.5]]))
    """
    P = mix.layout.unpack(theta)
    Eta = d["X"] @ P.beta.T + np.asarray(d["offset"], float)[:, None]
    if P.delta.size:
        Eta = Eta + (d["U"] @ P.delta)[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        Mu = np.asarray(mix.mean(Eta))
        dMu = 1.0 / mix.link.deriv(Mu)
    prior = np.broadcast_to(np.exp(log_prior(P.gamma, d["Z"], mix.K, equal=mix.equal)),
                            (Eta.shape[0], mix.K))
    return Mu, dMu, prior, P


def _class_values(mix, Mu):
    """(n, K) mean of each class: the component means, then the point mass value."""
    if mix.K == mix.k:
        return Mu
    return np.column_stack([Mu, np.full(Mu.shape[0], mix.point_mass)])


def _mean_and_jacobian(mix, theta, d):
    """Marginal mean (n,) and its analytic Jacobian (n, dim) with respect to ``theta``.

    ``d m / d beta_j = pi_j mu_j' x``, ``d m / d delta = sum_j pi_j mu_j' u`` and, for the
    logit of class l against the first, ``d m / d gamma_l = pi_l (m_l - m) z``.
    """
    lay = mix.layout
    Mu, dMu, prior, _ = row_predictions(mix, theta, d)
    mean = np.sum(_class_values(mix, Mu) * prior, axis=1)
    n = mean.size
    J = np.zeros((n, lay.size))
    sb, sd, _, sg = lay.slices
    W = prior[:, : mix.k] * dMu
    J[:, sb] = (W[:, :, None] * d["X"][:, None, :]).reshape(n, -1)
    if lay.q:
        J[:, sd] = W.sum(axis=1)[:, None] * d["U"]
    if lay.n_gamma:
        Z = np.ones((n, 1)) if d["Z"] is None else d["Z"]
        C = prior[:, 1:] * (_class_values(mix, Mu)[:, 1:] - mean[:, None])  # (n, K-1)
        J[:, sg] = (C[:, :, None] * Z[:, None, :]).reshape(n, -1)
    return mean, J


def _components_jacobian(mix, dMu, d, j):
    """(n, dim) Jacobian of component j's mean ``mu_ij``."""
    lay = mix.layout
    n = dMu.shape[0]
    J = np.zeros((n, lay.size))
    J[:, j * lay.p:(j + 1) * lay.p] = dMu[:, [j]] * d["X"]
    if lay.q:
        J[:, lay.slices[1]] = dMu[:, [j]] * d["U"]
    return J


def _delta_se(J, V):
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", J, V, J), 0.0))


def _cov_theta(res):
    V = res.cov_theta
    if not np.all(np.isfinite(V)):
        raise ValueError(f"no covariance of the estimates (cov_type={res.cov_type!r}): fit with "
                         "cov_type='oim' (or another cov_type) for standard errors")
    return V


def _check_alpha(alpha):
    if not (isinstance(alpha, (float, int)) and not isinstance(alpha, bool) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    return stats.norm.ppf(1 - alpha / 2)


# ---------------------------------------------------------------------- predictions
class PredictionResults:
    """Predictions with delta-method standard errors (statsmodels ``PredictionResults`` names).

    Attributes
    ----------
    predicted_mean : ndarray
        (n,) for ``which="mean"``; (n, k) for ``which="components"``.
    se_mean : ndarray
        Standard errors, shaped like ``predicted_mean``.
    var_pred_mean : ndarray
        ``se_mean ** 2``.
    row_labels : Index
        Index of the rows predicted.
    which : str

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> y = np.r_[np.zeros(60), np.ones(60) * 5] + np.random.default_rng(0).normal(size=120)
    >>> pr = EMGLM(y, np.ones((120, 1)), k=2).fit().get_prediction(np.ones((2, 1)), which="components")
    >>> pr.predicted_mean.shape, pr.conf_int().shape, pr.summary_frame().shape
    ((2, 2), (2, 2, 2), (4, 4))
    """

    def __init__(self, predicted_mean, se_mean, row_labels, which, columns=None):
        self.predicted_mean = predicted_mean
        self.se_mean = se_mean
        self.var_pred_mean = se_mean ** 2
        self.row_labels = row_labels
        self.which = which
        self._columns = columns

    def conf_int(self, alpha=0.05):
        """Wald intervals ``mean -/+ z se``.

        Parameters
        ----------
        alpha : float
            1 - coverage.

        Returns
        -------
        ndarray
            (n, 2) lower and upper limits, or (n, k, 2) for ``which="components"``.
        """
        z = _check_alpha(alpha)
        return np.stack([self.predicted_mean - z * self.se_mean,
                         self.predicted_mean + z * self.se_mean], axis=-1)

    def summary_frame(self, alpha=0.05):
        """Predictions, standard errors and intervals as a DataFrame.

        Parameters
        ----------
        alpha : float
            1 - coverage of the intervals.

        Returns
        -------
        DataFrame
            Columns ``mean, mean_se, mean_ci_lower, mean_ci_upper``, indexed like the rows
            predicted; for ``which="components"`` one row per (row, component).
        """
        ci = self.conf_int(alpha)
        if self.predicted_mean.ndim == 1:
            return pd.DataFrame({"mean": self.predicted_mean, "mean_se": self.se_mean,
                                 "mean_ci_lower": ci[:, 0], "mean_ci_upper": ci[:, 1]},
                                index=self.row_labels)
        idx = pd.MultiIndex.from_product([self.row_labels, self._columns], names=[None, "component"])
        return pd.DataFrame({"mean": self.predicted_mean.ravel(), "mean_se": self.se_mean.ravel(),
                             "mean_ci_lower": ci[..., 0].ravel(), "mean_ci_upper": ci[..., 1].ravel()},
                            index=idx)

    def __repr__(self):
        return f"<PredictionResults: which={self.which!r}, {len(self.row_labels)} rows>"


def get_prediction(res, exog=None, which="mean", offset=None, exposure=None, *, fixed=None,
                   concomitant=None):
    """Marginal (prior-weighted) mean or component means with delta-method standard errors.

    Parameters
    ----------
    res : EMGLMResults
    exog : DataFrame or array_like, optional
        New data as in :meth:`EMGLMResults.predict`; None: the training rows.
    which : {"mean", "components"}
        ``"mean"``: ``sum_j pi_ij mu_ij`` with the prior ``pi_ij`` (from the concomitant
        model when there is one; a point mass contributes its value); ``"components"``:
        ``mu_ij`` of every GLM component.
    offset, exposure, fixed, concomitant : optional
        As in :meth:`EMGLMResults.predict`.

    Returns
    -------
    PredictionResults

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> y = np.r_[np.zeros(60), np.ones(60) * 5] + np.random.default_rng(0).normal(size=120)
    >>> res = EMGLM(y, np.ones((120, 1)), k=2).fit()
    >>> pr = get_prediction(res, np.ones((1, 1)))
    >>> bool(abs(pr.predicted_mean[0] - y.mean()) < 0.1), bool(pr.se_mean[0] > 0)
    (True, True)
    """
    if which not in ("mean", "components"):
        raise ValueError(f"which must be 'mean' or 'components', got {which!r}")
    from .prediction import _predict_data

    d = _predict_data(res, exog, offset, exposure, None, fixed, concomitant, None)
    mix = _mixture(res)
    V = _cov_theta(res)
    if which == "mean":
        mean, J = _mean_and_jacobian(mix, res.theta, d)
        return PredictionResults(mean, _delta_se(J, V), d["index"], which)
    Mu, dMu, _, _ = row_predictions(mix, res.theta, d)
    se = np.column_stack([_delta_se(_components_jacobian(mix, dMu, d, j), V) for j in range(mix.k)])
    return PredictionResults(Mu, se, d["index"], which, columns=list(res.component_names[: mix.k]))


# ---------------------------------------------------------------------- marginal effects
_METHODS = {"dydx": "dy/dx", "eyex": "d(lny)/d(lnx)", "dyex": "dy/d(lnx)", "eydx": "d(lny)/dx"}


def _effect_columns(res, d):
    """Design columns with an effect: name -> positions in X, U and Z (constants excluded)."""
    m = res.model
    cols = {}
    for key, names in (("X", m.exog_names), ("U", m.fixed_names), ("Z", m.concomitant_names)):
        A = d[key]
        if A is None:
            continue
        for i, nm in enumerate(names):
            if np.ptp(A[:, i]) == 0:  # an intercept or a constant column has no effect
                continue
            cols.setdefault(nm, {})[key] = i
    return cols


def _set_column(d, where, value):
    out = dict(d)
    for key, i in where.items():
        A = out[key].copy()
        A[:, i] = value
        out[key] = A
    return out


def _row_effects(mix, theta, d, where, dummy, method):
    """Per-row marginal effect of one design column (analytic derivative or 0 -> 1 change)."""
    if dummy:
        m1 = _mean_and_jacobian(mix, theta, _set_column(d, where, 1.0))[0]
        m0 = _mean_and_jacobian(mix, theta, _set_column(d, where, 0.0))[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(m1) - np.log(m0) if method in ("eydx", "eyex") else m1 - m0
    Mu, dMu, prior, P = row_predictions(mix, theta, d)
    k = mix.k
    deta = np.zeros((Mu.shape[0], k))
    if "X" in where:
        deta += P.beta[:, where["X"]][None, :]
    if "U" in where:
        deta += P.delta[where["U"]]
    eff = np.sum(prior[:, :k] * dMu * deta, axis=1)
    mean = np.sum(_class_values(mix, Mu) * prior, axis=1)
    if "Z" in where and not mix.equal:
        dz = np.concatenate([[0.0], P.gamma[:, where["Z"]]])  # reference class has logit 0
        eff = eff + np.sum(prior * dz[None, :] * (_class_values(mix, Mu) - mean[:, None]), axis=1)
    x = d[next(iter(where))][:, next(iter(where.values()))]
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "eydx":
            eff = eff / mean
        elif method == "dyex":
            eff = eff * x
        elif method == "eyex":
            eff = eff * x / mean
    return eff


class MarginalEffects:
    """Average marginal effects (statsmodels ``DiscreteMargins`` names).

    Attributes
    ----------
    margeff, margeff_se : ndarray
        Effects and delta-method standard errors, one per design column (constants excluded).
    names : list of str
    dummy : ndarray of bool
        Columns treated as dummies (discrete change from 0 to 1).
    tvalues, pvalues : ndarray
        z statistics and two-sided normal p-values.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=200)
    >>> y = np.where(rng.random(200) < 0.5, x, 6 + x) + rng.normal(size=200)
    >>> me = EMGLM(y, np.column_stack([np.ones(200), x]), k=2).fit().get_margeff()
    >>> me.names, me.conf_int().shape, list(me.summary_frame().columns[:2])
    (['x1'], (1, 2), ['dy/dx', 'Std. Err.'])
    """

    def __init__(self, margeff, margeff_se, names, dummy, method, at):
        self.margeff, self.margeff_se = margeff, margeff_se
        self.names, self.dummy = names, dummy
        self.margeff_options = dict(method=method, at=at)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.tvalues = margeff / margeff_se
        self.pvalues = 2 * stats.norm.sf(np.abs(self.tvalues))

    def conf_int(self, alpha=0.05):
        """Wald intervals of the effects.

        Parameters
        ----------
        alpha : float
            1 - coverage.

        Returns
        -------
        ndarray
            (n_effects, 2) lower and upper limits.
        """
        z = _check_alpha(alpha)
        return np.column_stack([self.margeff - z * self.margeff_se, self.margeff + z * self.margeff_se])

    def summary_frame(self, alpha=0.05):
        """The effects as a DataFrame with statsmodels' columns.

        Parameters
        ----------
        alpha : float
            1 - coverage of the intervals.

        Returns
        -------
        DataFrame
            One row per design column; columns the effect (``dy/dx``, ``d(lny)/d(lnx)``...),
            ``Std. Err.``, ``z``, ``Pr(>|z|)``, ``Conf. Int. Low`` and ``Cont. Int. Hi.``
            (statsmodels' spelling).
        """
        ci = self.conf_int(alpha)
        return pd.DataFrame({_METHODS[self.margeff_options["method"]]: self.margeff,
                             "Std. Err.": self.margeff_se, "z": self.tvalues, "Pr(>|z|)": self.pvalues,
                             "Conf. Int. Low": ci[:, 0], "Cont. Int. Hi.": ci[:, 1]},
                            index=pd.Index(self.names, name=None))

    def __repr__(self):
        return f"<MarginalEffects ({self.margeff_options['method']}, at={self.margeff_options['at']})>\n" \
               f"{self.summary_frame().to_string()}"


def _theta_steps(res, V):
    """Central-difference steps: a thousandth of each standard error (else relative to theta)."""
    se = np.sqrt(np.maximum(np.diag(V), 0.0))
    return np.where(np.isfinite(se) & (se > 0), 1e-3 * se, 1e-6 * np.maximum(np.abs(res.theta), 1.0))


def get_margeff(res, at="overall", method="dydx", dummy=True):
    """Average marginal effects of the design columns on the marginal mean.

    Parameters
    ----------
    res : EMGLMResults
    at : {"overall", "mean"}
        ``"overall"``: the effect at every training row, averaged (frequency weights);
        ``"mean"``: the effect at the (weighted) mean of the design columns.
    method : {"dydx", "eyex", "dyex", "eydx"}
        As statsmodels: ``dy/dx``, elasticity, semi-elasticities.
    dummy : bool
        Columns holding only 0 and 1 get the discrete change ``m(x=1) - m(x=0)`` (for the
        ``ey`` methods the change of ``log m``); False treats them as continuous. (Unlike
        statsmodels, the default is True.)

    Returns
    -------
    MarginalEffects

    Notes
    -----
    Effects are per design column, as in statsmodels: a column appearing in the component,
    shared (``fixed``) and concomitant designs under one name (the same data column in a
    formula model) moves all of them together, so its effect includes the change of the
    class probabilities. Transformed columns (``I(x**2)``, interactions) are separate
    columns. Constant columns have no effect and are left out.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=300), "d": rng.integers(0, 2, 300)})
    >>> df["y"] = np.where(rng.random(300) < 0.5, 2 * df.x, 5 + 2 * df.x) + df.d + rng.normal(size=300)
    >>> me = get_margeff(EMGLM.from_formula("y ~ x + d", df, k=2).fit())
    >>> me.names, me.dummy.tolist()
    (['x', 'd'], [False, True])
    """
    if at not in ("overall", "mean"):
        raise ValueError(f"at must be 'overall' or 'mean', got {at!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {tuple(_METHODS)}, got {method!r}")
    d = _training_rows(res)
    cols = _effect_columns(res, d)
    if not cols:
        raise ValueError("get_margeff: the model has no non-constant design column")
    w = d["w"] / d["w"].sum()
    if at == "mean":
        d = {key: (None if d[key] is None else np.atleast_2d(w @ d[key])) for key in ("X", "U", "Z")} | \
            dict(offset=np.atleast_1d(w @ d["offset"]))
        w = np.ones(1)
    mix = _mixture(res)
    names = list(cols)
    train = _training_rows(res)
    isdum = np.array([bool(dummy) and all(np.isin(np.unique(train[key][:, i]), (0.0, 1.0)).all()
                                          for key, i in cols[nm].items()) for nm in names])

    def effects(theta):
        return np.array([w @ _row_effects(mix, theta, d, cols[nm], isdum[c], method)
                         for c, nm in enumerate(names)])

    V = _cov_theta(res)
    me = effects(res.theta)
    h = _theta_steps(res, V)
    J = np.empty((me.size, res.theta.size))
    for i in range(res.theta.size):
        tp, tm = res.theta.copy(), res.theta.copy()
        tp[i] += h[i]
        tm[i] -= h[i]
        J[:, i] = (effects(tp) - effects(tm)) / (2 * h[i])
    return MarginalEffects(me, _delta_se(J, V), names, isdum, method, at)


# ---------------------------------------------------------------------- classes
def _frame(est, se, z, index, name, lower=None, upper=None):
    lo = est - z * se if lower is None else lower
    hi = est + z * se if upper is None else upper
    return pd.DataFrame({name: est, "se": se, "ci_lower": lo, "ci_upper": hi}, index=index)


def class_means(res, alpha=0.05):
    """Mean response within each class, averaged over the estimation sample (``estat lcmean``).

    For GLM component j: ``sum_i w_i mu_ij / sum_i w_i`` over the training rows (frequency
    weights ``w``), with a delta-method standard error and Wald interval; a point mass has
    its value and standard error 0.

    Returns
    -------
    DataFrame
        One row per class; columns ``mean, se, ci_lower, ci_upper``.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> y = rng.poisson(np.where(rng.random(400) < 0.5, 1.0, 8.0))
    >>> cm = class_means(EMGLM(y, np.ones((400, 1)), k=2, family=sm.families.Poisson()).fit())
    >>> np.round(cm["mean"].to_numpy(), 0)
    array([1., 8.])
    """
    z = _check_alpha(alpha)
    d = _training_rows(res)
    mix = _mixture(res)
    V = _cov_theta(res)
    w = d["w"] / d["w"].sum()
    Mu, dMu, _, _ = row_predictions(mix, res.theta, d)
    est = list(w @ Mu)
    se = [float(_delta_se(np.atleast_2d(w @ _components_jacobian(mix, dMu, d, j)), V)[0])
          for j in range(mix.k)]
    if mix.K > mix.k:
        est.append(mix.point_mass)
        se.append(0.0)
    return _frame(np.array(est), np.array(se), z, list(res.component_names), "mean")


def class_probabilities(res, alpha=0.05):
    """Prior class probabilities averaged over the estimation sample (``estat lcprob``).

    ``sum_u w_u pi_uj / sum_u w_u`` over units (rows, or groups): ``res.proportions``. The
    standard errors are by the delta method; the intervals are Wald intervals on the logit
    scale mapped back (they stay inside (0, 1)). With ``mixing="equal"`` nothing is
    estimated and the standard errors are 0.

    Returns
    -------
    DataFrame
        One row per class; columns ``prob, se, ci_lower, ci_upper``.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> y = np.r_[np.zeros(90), np.ones(30) * 6] + np.random.default_rng(0).normal(size=120)
    >>> np.round(class_probabilities(EMGLM(y, np.ones((120, 1)), k=2).fit())["prob"].to_numpy(), 2)
    array([0.75, 0.25])
    """
    z = _check_alpha(alpha)
    mix = _mixture(res)
    lay = mix.layout
    V = _cov_theta(res)
    pi = np.asarray(res.prior)  # (units, K)
    uw = mix.unit_w / mix.unit_w.sum()
    est = uw @ pi
    J = np.zeros((mix.K, lay.size))
    if lay.n_gamma:
        Z = np.ones((pi.shape[0], 1)) if mix.unit_Z is None else mix.unit_Z
        r = Z.shape[1]
        for j in range(mix.K):
            for l in range(1, mix.K):
                c = uw * pi[:, j] * ((j == l) - pi[:, l])
                J[j, lay.slices[3].start + (l - 1) * r: lay.slices[3].start + l * r] = c @ Z
    se = _delta_se(J, V)
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log(est / (1 - est))
        half = z * se / (est * (1 - est))
        lo, hi = 1 / (1 + np.exp(-(lg - half))), 1 / (1 + np.exp(-(lg + half)))
    return _frame(est, se, z, list(res.component_names), "prob", lo, hi)
