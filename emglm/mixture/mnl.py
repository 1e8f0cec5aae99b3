"""The concomitant multinomial logit in fused, blocked passes over the units.

The prior of unit u is ``log pi_uj = z_u gamma_j - log sum_l exp(z_u gamma_l)`` (``gamma_0 =
0``). Its M-step maximises ``Q(gamma) = sum_u w_u sum_j T_uj log pi_uj`` by a Newton step
with step halving. Written with whole (units, K) arrays this costs several full-size
temporaries per log-sum-exp, and one log-sum-exp per Newton step and per halving trial. Here
every quantity is a sum over blocks of units, each block's temporaries (blocks x K) staying in
cache:

* :func:`log_prior` writes the (units, K) log prior block by block;
* :func:`newton_pass` returns ``Q``, its gradient and minus its Hessian (the weighted
  multinomial-logit information) in one pass;
* :func:`objective_pass` returns ``Q`` at a trial value in one pass (and the log prior there,
  which the next E-step reuses when the trial is accepted).

Block sums are added in block order, so results are the same for any number of threads.
"""

from __future__ import annotations

import numpy as np

from ..linalg import row_blocks, solve_psd
from ..parallel import map_blocks
from .rows import SWEEP_ROWS

__all__ = ["log_prior", "newton_pass", "objective_pass", "mstep", "transposed"]


#: units per block of these passes: their temporaries are a few (K, b) arrays, so blocks
#: twice the size of the GLM row passes' still stay in cache and halve the per-block calls
#: (measured fastest among 8192, 16384 and 32768 at n = 1e6, K = 3, r = 3)
MNL_BLOCK_UNITS = 2 * SWEEP_ROWS


def _blocks(n_units):
    return row_blocks(n_units, MNL_BLOCK_UNITS) if n_units else []


def _log_prior_block(G, Ztb, out=None):
    """(K, b) log prior of a block (classes as rows: the log-sum-exp is a few whole-row
    operations) from the full (K, r) coefficients (row 0 zero) and the block's (r, b)
    transposed design; also ``exp`` of the logits of classes 1..K-1 and the column sums
    ``1 + sum exp``, from which the probabilities follow (``pi_l = ex_l / s``).

    The reference class has logit 0, so ``log sum exp = log(1 + sum_l exp(eta_l))`` needs no
    shift unless an ``exp`` overflows; then the block is done with the usual max shift.
    """
    E = G @ Ztb if out is None else np.matmul(G, Ztb, out=out)
    ex = np.exp(E[1:])
    s = ex.sum(axis=0)
    s += 1.0
    if np.isfinite(s).all():
        E -= np.log(s)
        return E, ex, s
    m = E.max(axis=0)  # some logit beyond ~709: shift by the largest
    E -= m
    full = np.exp(E)
    s = full.sum(axis=0)
    E -= np.log(s)
    return E, full[1:], s


def transposed(Z):
    """The (r, units) C-ordered transpose of the concomitant design (rows read whole).

    Examples
    --------
    >>> transposed(np.ones((3, 2))).shape
    (2, 3)
    """
    return np.ascontiguousarray(np.asarray(Z, dtype=float).T)


def _design(Z, Zt):
    Z = np.asarray(Z, dtype=float)
    return Z, (transposed(Z) if Zt is None else Zt)


def _full(gamma, r):
    gamma = np.asarray(gamma, dtype=float).reshape(-1, r)
    return np.vstack([np.zeros((1, r)), gamma])


def log_prior(gamma, Z, n_jobs=1, Zt=None):
    """(units, K) log prior class probabilities of the multinomial logit, block by block.

    The result is the transpose of a C-ordered (K, units) array (what the E-step reads).
    ``Zt`` is :func:`transposed` ``(Z)`` when already made (every pass reads it).

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.column_stack([np.ones(2), [0.0, 1.0]])
    >>> np.round(np.exp(log_prior(np.array([[0.0, np.log(3.0)]]), Z)), 3)
    array([[0.5 , 0.5 ],
           [0.25, 0.75]])
    """
    Z, Zt = _design(Z, Zt)
    G = _full(gamma, Z.shape[1])
    out = np.empty((G.shape[0], Z.shape[0]))

    def block(s, e):
        _log_prior_block(G, Zt[:, s:e], out=out[:, s:e])

    map_blocks(block, _blocks(Z.shape[0]), n_jobs)
    return out.T


def _q_block(lp, Tb, wb):
    """``sum_u w_u sum_j T_uj log pi_uj`` of a block ((K, b) arrays), classes in order;
    ``wb`` None for unit weights."""
    q = 0.0
    for j in range(lp.shape[0]):
        q += float((Tb[j] if wb is None else Tb[j] * wb) @ lp[j])
    return q


def _weights(uw):
    """The unit weights, or None when they are all 1 (no multiplications needed; None
    itself stands for unit weights)."""
    if uw is None:
        return None
    uw = np.asarray(uw, dtype=float)
    return None if np.all(uw == 1.0) else uw


def newton_pass(gamma, Z, T, uw, n_jobs=1, lp=None, Zt=None):
    """``(Q, gradient, information)`` of the weighted multinomial logit in one pass.

    The gradient (class-major, (K-1) r) is ``sum_u w_u (T_u - pi_u)_l z_u`` and the
    information (minus the Hessian) has blocks ``sum_u w_u pi_ua (1[a=b] - pi_ub) z_u z_u'``.
    ``lp``, the (units, K) log prior at ``gamma`` when already known, is read instead of
    recomputed.

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.ones((4, 1))
    >>> T = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    >>> q, g, H = newton_pass(np.zeros((1, 1)), Z, T, np.ones(4))
    >>> float(g[0]), float(H[0, 0])  # sum(T_2 - 1/2), sum(1/4)
    (1.0, 1.0)
    """
    Z, Zt = _design(Z, Zt)
    units, r = Z.shape
    G = _full(gamma, r)
    K = G.shape[0]
    L = K - 1
    pairs = [(a, b) for a in range(L) for b in range(a, L)]
    Tt = np.asarray(T).T  # (K, units): a view when T is a transposed posterior
    lpt = None if lp is None else np.asarray(lp).T
    ncol = L + len(pairs) * r
    w = _weights(uw)

    def block(s, e):
        Ztb, Tb, wb = Zt[:, s:e], Tt[:, s:e], None if w is None else w[s:e]
        if lpt is None:
            lpb, ex, sm = _log_prior_block(G, Ztb)
            P = ex / sm
        else:
            lpb = lpt[:, s:e]
            P = np.exp(lpb[1:])
        q = _q_block(lpb, Tb, wb)
        # one product [R; c_ab z' for every pair a <= b] @ Z_b, rows (K-1) + pairs * r
        W = np.empty((ncol, e - s))
        np.subtract(Tb[1:], P, out=W[:L])
        if wb is not None:
            W[:L] *= wb
        Pw = P if wb is None else P * wb
        for i, (a, b) in enumerate(pairs):
            c = Pw[a] * ((1.0 if a == b else 0.0) - P[b])
            np.multiply(Ztb, c, out=W[L + i * r:L + (i + 1) * r])
        return q, W @ Ztb.T

    q, M = 0.0, np.zeros((ncol, r))
    for qb, Mb in map_blocks(block, _blocks(units), n_jobs):  # in block order
        q += qb
        M += Mb
    grad = M[:L].ravel()
    H = np.zeros((L * r, L * r))
    for i, (a, b) in enumerate(pairs):
        blk = M[L + i * r:L + (i + 1) * r]
        H[a * r:(a + 1) * r, b * r:(b + 1) * r] = blk
        H[b * r:(b + 1) * r, a * r:(a + 1) * r] = blk.T
    return q, grad, H


def objective_pass(gamma, Z, T, uw, n_jobs=1, out=None, Zt=None):
    """``Q(gamma)`` in one pass; the log prior is written into ``out`` (K, units) when given.

    Examples
    --------
    >>> import numpy as np
    >>> T = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> round(objective_pass(np.zeros((1, 1)), np.ones((2, 1)), T, np.ones(2)), 6)  # 2 log(1/2)
    -1.386294
    """
    Z, Zt = _design(Z, Zt)
    G = _full(gamma, Z.shape[1])
    Tt = np.asarray(T).T
    w = _weights(uw)

    def block(s, e):
        lpb = _log_prior_block(G, Zt[:, s:e], out=None if out is None else out[:, s:e])[0]
        return _q_block(lpb, Tt[:, s:e], None if w is None else w[s:e])

    total = 0.0
    for v in map_blocks(block, _blocks(Z.shape[0]), n_jobs):
        total += v
    return total


def mstep(gamma, Z, T, uw, n_steps=1, n_jobs=1, lp=None, Zt=None):
    """Newton steps with step halving for the weighted multinomial logit of ``T`` on ``Z``.

    The same iterates as :func:`emglm.mixing.mstep_concomitant` (one Newton pass and one
    objective pass per halving trial instead of whole-array log-sum-exps). ``lp`` is the log
    prior at ``gamma`` when known. Returns ``(gamma, lp)``: the new coefficients (K-1, r) and
    the (units, K) log prior at them (None when no step was taken).

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.column_stack([np.ones(4), [0.0, 0.0, 1.0, 1.0]])
    >>> T = np.array([[0.8, 0.2], [0.8, 0.2], [0.4, 0.6], [0.4, 0.6]])
    >>> g, _ = mstep(np.zeros((1, 2)), Z, T, np.ones(4), n_steps=50)
    >>> np.round(g, 4)
    array([[-1.3863,  1.7918]])
    """
    K = T.shape[1]
    r = Z.shape[1]
    if K == 1:  # one class: nothing to estimate (k=1 with concomitant variables)
        return np.zeros((0, r)), None
    g = np.array(gamma, dtype=float).reshape(K - 1, r)
    Z, Zt = _design(Z, Zt)
    lp_g = lp
    for _ in range(n_steps):
        q0, grad, H = newton_pass(g, Z, T, uw, n_jobs, lp=lp_g, Zt=Zt)
        step = solve_psd(H, grad).reshape(K - 1, r)
        t = 1.0
        buf = np.empty((K, Z.shape[0]))
        for _ in range(30):
            cand = g + t * step
            if objective_pass(cand, Z, T, uw, n_jobs, out=buf, Zt=Zt) >= q0 - 1e-12 * (abs(q0) + 1):
                g, lp_g = cand, buf.T
                break
            t *= 0.5
        if np.max(np.abs(t * step)) < 1e-12:
            break
    return g, lp_g
