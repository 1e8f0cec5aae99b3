"""Predictions of a fitted mixture on the training rows or new data (``EMGLMResults.predict``).

The seed's central result: with a canonical link, the posterior-weighted geometric pooling
of the component densities is again a member of the family, with natural parameter
``sum_j T_ij eta_ij``; the pooled mean is ``mu_i = g^-1(sum_j T_ij eta_ij)``. Where the
response is known (training rows, or a new frame that contains it) T is the posterior;
otherwise it is the prior (mixing proportions, from the concomitant model if any). A point
mass has no linear predictor: the pooling runs over the GLM components with T renormalised
among them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.genmod.families as smf

from .mixing import log_prior

__all__ = ["predict", "PREDICT_WHICH"]

PREDICT_WHICH = ("pooled", "mean", "linear", "components", "posterior", "class")


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
    if y.shape[1] == 2:
        if not isinstance(family, smf.Binomial):
            raise ValueError("endog: two response columns are only allowed for Binomial")
        trials = y.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(trials > 0, y[:, 0] / trials, 0.0), trials
    if y.shape[1] != 1:
        raise ValueError(f"endog must have one column (or two for Binomial), got {y.shape[1]}")
    return y[:, 0], np.ones(n)


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


def _formula_data(res, df, offset, exposure, groups):
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
    ym = des.endog_matrix(df)
    y = trials = None
    if ym is not None:
        y, trials = _endog_trials(res.family, ym.to_numpy(dtype=float), len(df))
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
        off = m.offset if offset is None and exposure is None else _new_offset(offset, exposure, m.exog.shape[0], None)
        return dict(X=m.exog, U=m.fixed_exog, Z=m.concomitant_exog, offset=off, y=m.endog,
                    trials=m.trials, groups=m.group_codes, index=m.row_index)
    if m.design is not None and isinstance(exog, (pd.DataFrame, dict)):
        return _formula_data(res, pd.DataFrame(exog), offset, exposure, groups)
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


def predict(res, exog=None, which="pooled", offset=None, exposure=None, *, endog=None,
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
    if which == "mean":
        mean = np.sum(prior[:, :k] * Mu, axis=1)
        if eng.K > k:
            mean = mean + prior[:, k] * res.model.point_mass
        return pd.Series(mean, index=idx, name="mean")
    T = prior
    if d["y"] is not None:
        T = d["T"] if d.get("T") is not None else _posterior(res, d, Eta, Mu, prior)
    elif which == "posterior":
        raise ValueError("which='posterior' needs the response: pass a frame containing it "
                         "(formula models) or endog=")
    if which == "posterior":
        return pd.DataFrame(np.asarray(T), index=idx, columns=res.component_names)
    if which == "class":
        lab = np.asarray(res.component_names, dtype=object)[np.argmax(T, axis=1)]
        return pd.Series(pd.Categorical(lab, categories=res.component_names), index=idx, name="class")
    eta, mu, _ = res.pooled(np.asarray(T), Eta, P.scale)
    return pd.Series(eta if which == "linear" else mu, index=idx, name=which)
