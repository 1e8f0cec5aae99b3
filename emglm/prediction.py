"""Predictions of a fitted mixture on the training rows or new data (``EMGLMResults.predict``).

Two kinds of prediction answer different questions.

* The **marginal mean** ``E(y_i | x_i) = sum_j pi_ij mu_ij`` (``which="mean"``, the default)
  uses only the covariates: the prior class probabilities ``pi_ij`` (the mixing proportions,
  or the concomitant model's probabilities for the row) and the component means
  ``mu_ij = g^-1(eta_ij)``. It never reads the response, so it is the prediction for new
  data and the one to score on a hold-out set (Stata's ``predict, marginal``).
* The **pooled prediction** ``g^-1(sum_j T_ij eta_ij)`` (``which="pooled"``) weights the
  components' linear predictors by the posterior class probabilities ``T_ij``, which depend
  on the response. With a canonical link, the posterior-weighted geometric pooling of the
  component densities is again a density of the family with natural parameter
  ``sum_j T_ij eta_ij`` (pooled-theta); emax.glm reports this figure. It describes rows
  whose response is known (the training rows, or new rows with ``endog=`` given) and is not
  a forecast: it has seen ``y``. A point mass has no linear predictor, so the pooling runs
  over the GLM components with ``T`` renormalised among them.

The response is used only when it is given explicitly: the training rows (``exog=None``) or
``endog=``. A response column inside a new frame is ignored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.genmod.families as smf

from .mixing import log_prior

__all__ = ["predict", "predict_data", "PREDICT_WHICH"]

PREDICT_WHICH = ("mean", "pooled", "linear", "components", "prior", "posterior", "class")
# the kinds that need the response (posterior class probabilities)
_NEEDS_RESPONSE = ("pooled", "linear", "posterior")


def _as2d(name, a, n=None, ncol=None):
    try:
        a = np.asarray(a, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric: {exc}") from None
    a = a[:, None] if a.ndim == 1 else a
    if a.ndim != 2:
        raise ValueError(f"{name} must be 1- or 2-dimensional, got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} has {a.shape[0]} rows, expected {n}")
    if ncol is not None and a.shape[1] != ncol:
        raise ValueError(f"{name} must have {ncol} columns, got {a.shape[1]}")
    return a


def _endog_trials(family, endog, n):
    """New response as (proportion, trials); Binomial may have (successes, failures) columns."""
    y = _as2d("endog", endog, n)
    bad = int(np.sum(~np.all(np.isfinite(y), axis=1)))
    if bad:
        raise ValueError(f"endog: {bad} row(s) with missing or non-finite values; a posterior needs "
                         "the response of every row (drop those rows, or predict which='mean')")
    if y.shape[1] == 2:
        if not isinstance(family, smf.Binomial):
            raise ValueError("endog: two response columns are only allowed for Binomial")
        trials = y.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(trials > 0, y[:, 0] / trials, 0.0), trials
    if y.shape[1] != 1:
        raise ValueError(f"endog must have one column (or two for Binomial), got {y.shape[1]}")
    return y[:, 0], np.ones(n)


def _formula_endog(res, endog, df):
    """Response of new rows for a formula model: an array, a column of ``df``, or a frame to
    which the formula's left-hand side is applied."""
    import patsy

    if isinstance(endog, str):
        if endog not in df.columns:
            raise ValueError(f"endog: column {endog!r} not found in exog")
        endog = df[endog]
    elif isinstance(endog, (pd.DataFrame, dict)):
        frame = pd.DataFrame(endog)
        if len(frame) != len(df):
            raise ValueError(f"endog: the frame has {len(frame)} rows, exog has {len(df)}")
        action = patsy.NAAction(on_NA="raise", NA_types=[])
        try:
            (ym,) = patsy.build_design_matrices([res.model.design.endog], frame, NA_action=action,
                                                return_type="dataframe")
        except (patsy.PatsyError, KeyError, NameError) as exc:
            raise ValueError(f"endog: the formula's response cannot be computed from the frame: "
                             f"{' '.join(str(exc).split())}") from None
        endog = ym.to_numpy(dtype=float)
    return _endog_trials(res.family, endog, len(df))


def _new_offset(offset, exposure, n, df):
    """Total offset of new rows (``offset + log(exposure)``); zero when neither is given."""
    out = np.zeros(n)
    for name, v in (("offset", offset), ("exposure", exposure)):
        if v is None:
            continue
        if isinstance(v, str):
            if df is None or v not in df.columns:
                raise ValueError(f"{name}: column {v!r} not found in exog")
            v = df[v]
        a = np.asarray(v, dtype=float)
        if a.ndim == 0:
            a = np.full(n, float(a))
        if a.shape != (n,):
            raise ValueError(f"{name} must have length {n}, got shape {a.shape}")
        if name == "exposure":
            if np.any(a <= 0):
                raise ValueError("exposure must be positive")
            a = np.log(a)
        out = out + a
    return out


def _formula_data(res, df, offset, exposure, groups, endog):
    import patsy

    des = res.model.design
    try:
        X = des.exog_matrix(df).to_numpy(dtype=float)
        U = des.fixed_matrix(df)
        Z = des.concomitant_matrix(df)
    except (patsy.PatsyError, KeyError, NameError) as exc:
        raise ValueError(f"exog: the formula cannot be applied to the new frame: {exc}") from None
    U = None if U is None else U.to_numpy(dtype=float)
    Z = None if Z is None else Z.to_numpy(dtype=float)
    # the response is used only when passed explicitly (never read from the frame)
    y, trials = (None, None) if endog is None else _formula_endog(res, endog, df)
    g = None
    if groups is not None:
        if isinstance(groups, str):
            if groups not in df.columns:
                raise ValueError(f"groups: column {groups!r} not found in exog")
            groups = df[groups]
        g = np.asarray(groups)
        if g.shape != (len(df),):
            raise ValueError(f"groups must have length {len(df)}, got shape {g.shape}")
    return dict(X=X, U=U, Z=Z, offset=_new_offset(offset, exposure, len(df), df), y=y,
                trials=trials, groups=g, index=df.index)


def _predict_data(res, exog, offset, exposure, endog, fixed, concomitant, groups):
    """Design pieces for :func:`predict` (validated before any numerical work)."""
    m, eng = res.model, res.mixture
    if exog is None and all(v is None for v in (offset, exposure, endog, fixed, concomitant, groups)):
        return dict(X=m.exog, U=m.fixed_exog, Z=m.concomitant_exog, offset=m.offset, y=m.endog,
                    trials=m.trials, groups=m.group_codes, index=m.row_index, T=res.e_step.T)
    if exog is None:
        n = m.exog.shape[0]
        off = m.offset if offset is None and exposure is None else _new_offset(offset, exposure, n, None)
        y, trials = (m.endog, m.trials) if endog is None else _endog_trials(res.family, endog, n)
        return dict(X=m.exog, U=m.fixed_exog, Z=m.concomitant_exog, offset=off, y=y,
                    trials=trials, groups=m.group_codes, index=m.row_index)
    if m.design is not None and isinstance(exog, (pd.DataFrame, dict)):
        return _formula_data(res, pd.DataFrame(exog), offset, exposure, groups, endog)
    X = _as2d("exog", exog)
    n = X.shape[0]
    if X.shape[1] != m.exog.shape[1]:
        raise ValueError(f"exog must have {m.exog.shape[1]} columns ({', '.join(m.exog_names)}), got {X.shape[1]}")
    U = None
    if eng.q:
        if fixed is None:
            raise ValueError("fixed: the model has shared terms; pass their design for the new rows")
        U = _as2d("fixed", fixed, n, eng.q)
    Z = None
    if eng.Z is not None:
        if concomitant is None:
            raise ValueError("concomitant: the model has concomitant variables; pass their design for the new rows")
        Z = _as2d("concomitant", concomitant, n, eng.Z.shape[1])
    y, trials = (None, None) if endog is None else _endog_trials(res.family, endog, n)
    g = None if groups is None else np.asarray(groups)
    if g is not None and g.shape != (n,):
        raise ValueError(f"groups must have length {n}, got shape {g.shape}")
    idx = exog.index if isinstance(exog, (pd.DataFrame, pd.Series)) else pd.RangeIndex(n)
    return dict(X=X, U=U, Z=Z, offset=_new_offset(offset, exposure, n, None), y=y,
                trials=trials, groups=g, index=idx)


def predict_data(res, exog=None, offset=None, exposure=None, endog=None, fixed=None, concomitant=None,
                 groups=None):
    """The validated design pieces of the rows to predict: a dict with ``X``, ``U``, ``Z``,
    ``offset``, ``y``, ``trials``, ``groups``, ``index`` (and ``T`` on the training rows).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> res = EMGLM(np.arange(6.0), np.ones((6, 1)), k=1).fit()
    >>> predict_data(res, np.ones((2, 1)))["X"].shape
    (2, 1)
    """
    return _predict_data(res, exog, offset, exposure, endog, fixed, concomitant, groups)


def _posterior(res, d, Eta, Mu, prior):
    """Posterior of new rows with a known response (per group when ``groups`` is given)."""
    from .families import FamilyAdapter

    eng, k = res.mixture, res.k
    fa = FamilyAdapter(res.family, d["y"], d["trials"])
    fa.check_endog("endog")
    L = np.empty((Eta.shape[0], eng.K))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for j in range(k):
            L[:, j] = fa.loglike(Eta[:, j], Mu[:, j], res.unpacked.scale[j])
        if eng.K > k:
            L[:, k] = np.where(d["y"] == res.model.point_mass, 0.0, -np.inf)
        logp = np.log(prior)
    g = d["groups"]
    if g is None:
        A = L + logp
    else:
        codes = np.unique(g, return_inverse=True)[1].ravel()
        G = int(codes.max()) + 1
        A = np.zeros((G, eng.K))
        np.add.at(A, codes, np.where(np.isfinite(L), L, -1e300))
        first = np.zeros(G, dtype=int)
        first[codes[::-1]] = np.arange(len(codes))[::-1]
        A += logp[first]  # concomitant variables are constant within a group
    with np.errstate(invalid="ignore"):
        A = np.exp(A - A.max(axis=1, keepdims=True))
        A /= A.sum(axis=1, keepdims=True)
    return A if g is None else A[codes]


def predict(res, exog=None, which="mean", offset=None, exposure=None, *, endog=None,
            fixed=None, concomitant=None, groups=None):
    """Implementation of :meth:`EMGLMResults.predict` (see there).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> y = np.concatenate([rng.normal(-2, 1, 150), rng.normal(2, 1, 150)])
    >>> res = EMGLM(y, np.ones((300, 1)), k=2).fit()
    >>> np.round(predict(res, np.ones((1, 1)), which="components").to_numpy(), 1)
    array([[-1.9,  1.8]])
    """
    if which not in PREDICT_WHICH:
        raise ValueError(f"which must be one of {PREDICT_WHICH}, got {which!r}")
    if which in _NEEDS_RESPONSE and exog is not None and endog is None:
        raise ValueError(
            f"which={which!r} weights the components by the posterior class probabilities, which "
            "need the response: predict on the training rows (exog=None) or pass endog= (an "
            "array, a column name, or for formula models a frame holding the response); the "
            "prediction for new rows without the response is which='mean'")
    d = _predict_data(res, exog, offset, exposure, endog, fixed, concomitant, groups)
    eng, P, k = res.mixture, res.unpacked, res.k
    Eta = d["X"] @ P.beta.T + d["offset"][:, None]
    if eng.q:
        Eta = Eta + (d["U"] @ P.delta)[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        Mu = eng.fam.mean(Eta)
    prior = np.broadcast_to(np.exp(log_prior(P.gamma, d["Z"], eng.K, equal=eng.equal)), (Eta.shape[0], eng.K))
    idx = d["index"]
    if which == "components":
        return pd.DataFrame(Mu, index=idx, columns=res.component_names[:k])
    if which == "prior":
        return pd.DataFrame(np.array(prior), index=idx, columns=res.component_names)
    if which == "mean":
        mean = np.sum(prior[:, :k] * Mu, axis=1)
        if eng.K > k:
            mean = mean + prior[:, k] * res.model.point_mass
        return pd.Series(mean, index=idx, name="mean")
    T = prior  # "class" without a response: the most probable class a priori
    if d["y"] is not None:
        T = d["T"] if d.get("T") is not None else _posterior(res, d, Eta, Mu, prior)
    if which == "posterior":
        return pd.DataFrame(np.asarray(T), index=idx, columns=res.component_names)
    if which == "class":
        lab = np.asarray(res.component_names, dtype=object)[np.argmax(T, axis=1)]
        return pd.Series(pd.Categorical(lab, categories=res.component_names), index=idx, name="class")
    eta, mu, _ = res.pooled(np.asarray(T), Eta, P.scale)
    return pd.Series(eta if which == "linear" else mu, index=idx, name=which)
