"""Mixing proportions: equal (emax.glm's E-step), constant and estimated, or concomitant.

Mixing coefficients ``gamma`` (K-1, r) give log prior weights through a multinomial logit
with the first class as reference: ``log pi_uj = z_u gamma_j - logsumexp_l(z_u gamma_l)``,
``gamma_0 = 0``. Constant proportions are the case ``z_u = 1``.
"""

from __future__ import annotations

import numpy as np

from .linalg import solve_psd

__all__ = ["log_prior", "mstep_constant", "mstep_concomitant"]

_TINY = np.finfo(float).tiny


def log_prior(gamma, Z, K, equal=False):
    """Log prior class probabilities.

    Parameters
    ----------
    gamma : ndarray (K-1, r)
    Z : ndarray (units, r) or None
        Concomitant design; None for constant proportions.
    K : int
        Number of classes.
    equal : bool
        All classes equally likely (``mixing="equal"``).

    Returns
    -------
    ndarray, (units, K) or (1, K)

    Examples
    --------
    >>> import numpy as np
    >>> np.round(np.exp(log_prior(np.array([[np.log(3.0)]]), None, 2)), 3)
    array([[0.25, 0.75]])
    """
    if equal:
        return np.full((1, K), -np.log(K))
    if Z is None:
        eta = np.concatenate([[0.0], gamma[:, 0]])[None, :]
    else:
        eta = np.zeros((Z.shape[0], K))
        eta[:, 1:] = Z @ gamma.T
    # log-sum-exp by hand: scipy.special.logsumexp costs about 0.3 ms of overhead per call
    # on a (1, K) array, and this runs in every E-step (the logits are finite)
    m = eta.max(axis=1, keepdims=True)
    return eta - (m + np.log(np.exp(eta - m).sum(axis=1, keepdims=True)))


def mstep_constant(T, uw):
    """Closed-form M-step for constant proportions; returns gamma (K-1, 1).

    A proportion that underflows to exactly zero is held at the smallest positive float so
    that the logits stay finite; its class then has no weight at all (see ``min_proportion``).

    Examples
    --------
    >>> import numpy as np
    >>> T = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> np.round(np.exp(mstep_constant(T, np.ones(3))), 6)
    array([[2.]])
    """
    pi = (uw @ T) / uw.sum()
    lp = np.log(np.maximum(pi, _TINY))
    return (lp[1:] - lp[0])[:, None]


def _mnl_objective(gamma, Z, T, uw):
    lp = log_prior(gamma, Z, T.shape[1])
    return float(uw @ np.sum(T * lp, axis=1))


def mstep_concomitant(gamma, Z, T, uw, n_steps=1):
    """Newton steps (with step halving) for the weighted multinomial logit of T on Z.

    Maximises ``sum_u uw_u sum_j T_uj log pi_uj(gamma)``; one step per EM iteration keeps the
    EM a generalised EM (the objective never decreases).

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.column_stack([np.ones(4), [0.0, 0.0, 1.0, 1.0]])
    >>> T = np.array([[0.8, 0.2], [0.8, 0.2], [0.4, 0.6], [0.4, 0.6]])
    >>> g = mstep_concomitant(np.zeros((1, 2)), Z, T, np.ones(4), n_steps=50)
    >>> np.round(g, 4)
    array([[-1.3863,  1.7918]])
    """
    K = T.shape[1]
    r = Z.shape[1]
    if K == 1:  # one class: nothing to estimate (k=1 with concomitant variables)
        return np.zeros((0, r))
    g = np.array(gamma, dtype=float)
    for _ in range(n_steps):
        lp = log_prior(g, Z, K)
        pi = np.exp(lp)[:, 1:]
        resid = (T[:, 1:] - pi) * uw[:, None]
        grad = (resid.T @ Z).ravel()  # (K-1)*r, class-major
        H = np.zeros(((K - 1) * r, (K - 1) * r))
        for a in range(K - 1):
            for b in range(a, K - 1):
                c = pi[:, a] * ((a == b) - pi[:, b]) * uw
                blk = (Z * c[:, None]).T @ Z
                H[a * r:(a + 1) * r, b * r:(b + 1) * r] = blk
                H[b * r:(b + 1) * r, a * r:(a + 1) * r] = blk.T
        step = solve_psd(H, grad).reshape(K - 1, r)
        q0 = _mnl_objective(g, Z, T, uw)
        t = 1.0
        for _ in range(30):
            cand = g + t * step
            if _mnl_objective(cand, Z, T, uw) >= q0 - 1e-12 * (abs(q0) + 1):
                g = cand
                break
            t *= 0.5
        if np.max(np.abs(t * step)) < 1e-12:
            break
    return g
