"""The mixture-of-GLMs numerics: E-step, M-step and the EM map on the flat vector.

:class:`MixtureEngine` holds validated arrays (no pandas, no formulas) and exposes

* ``estep(theta)``: log-densities, log-likelihood and posteriors at ``theta`` (cached),
* ``mstep(theta, T)``: one generalised M-step (one IRLS step per component with step
  halving, dispersion by weighted ML, mixing by weighted multinomial logit),
* ``fixed_point`` / ``objective``: the EM map and the log-likelihood for :func:`emglm.em.run`,
* ``fit_from_posterior(T)``: complete weighted GLM fits for a given posterior (starts).

Row-level quantities are (n, K) arrays; with ``groups`` the posterior is computed per
group (the sum of the group's weighted row log-densities) and broadcast to its rows.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .families import FamilyAdapter
from .layout import ParamLayout, Params
from .linalg import grams_blocked, row_blocks, solve_psd
from .mixing import log_prior, mstep_concomitant, mstep_constant
from .parallel import check_n_jobs, map_blocks

__all__ = ["MixtureEngine"]

#: rows per block of the fused row passes (E-step, IRLS terms with Gram products, the
#: step check): every row-level temporary of a block stays in cache, so the cost per row
#: does not rise once the (k, n) arrays outgrow the cache (benchmarks/bench_fit.py)
SWEEP_ROWS = 8192


class _EStep:
    """E-step quantities. ``T``, ``Eta``, ``L`` and ``Mu`` are (n, .) views of (., n)
    arrays stored component-major, so that each component's column is contiguous."""

    __slots__ = ("llf", "T", "Tunit", "Eta", "L", "ll_unit", "Mu", "q")

    def __init__(self, llf, T, Tunit, Eta, L, ll_unit, Mu=None, q=None):
        self.llf, self.T, self.Tunit, self.Eta, self.L, self.ll_unit = llf, T, Tunit, Eta, L, ll_unit
        self.Mu = Mu
        # sum_i w_i sum_{j<k} T_ij log f_ij (the M-step's starting complete-data value)
        self.q = q


def _wq_block(Wt, LT):
    """sum_j Wt_j . LT_j for (k, m) weights and log-densities, with 0 * -inf = 0.

    The caller sets ``np.errstate``; -inf when the sum is not finite.
    """
    total = 0.0
    for j in range(Wt.shape[0]):
        v = float(Wt[j] @ LT[j])
        if not np.isfinite(v):  # 0 * -inf where a row has no density under component j
            v = float(Wt[j] @ np.where(Wt[j] > 0, LT[j], 0.0))
        total += v
    return total if np.isfinite(total) else -np.inf


def _ordered_sum(values):
    """Sum in the given order; -inf when any term is -inf (a row with no density)."""
    total = 0.0
    for v in values:
        total += v
    return total if np.isfinite(total) else -np.inf


def _lse_posterior(A):
    """Row log-sum-exp and posterior of the (K, m) array ``A`` of log joint densities.

    Works in place on ``A`` (which becomes the posterior, returned as an (m, K) view);
    written out because ``scipy.special.logsumexp`` makes several full-size copies. A
    column whose entries are all ``-inf`` gets ``ll = -inf`` and a NaN posterior.
    """
    m = A.max(axis=0)
    if not np.all(np.isfinite(m)):
        m[~np.isfinite(m)] = 0.0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        A -= m
        np.exp(A, out=A)
        s = A.sum(axis=0)
        A /= s
        ll = np.log(s)
    ll += m
    return ll, A.T


class MixtureEngine:
    """Numerical core of a k-component GLM mixture.

    Parameters
    ----------
    family : statsmodels family instance
    endog : (n,) response (Binomial: proportion)
    exog : (n, p) component design
    k : int, number of GLM components
    offset : (n,) total offset (log exposure included)
    freq_weights : (n,) frequency weights
    trials : (n,) binomial trials (ones otherwise)
    fixed : (n, q) design of terms shared by all components, or None
    concomitant : (units, r) concomitant design (per group when grouped), or None
    groups : (n,) integer group codes 0..G-1, or None
    point_mass : float or None, value of an extra degenerate class
    mixing : "estimate" or "equal"
    scale : "component" or "shared"
    """

    def __init__(self, family, endog, exog, k, offset, freq_weights, trials, fixed=None,
                 concomitant=None, groups=None, point_mass=None, mixing="estimate",
                 scale="component", var_floor=None, n_jobs=1):
        self.fam = FamilyAdapter(family, endog, trials)
        self.y = self.fam.y
        self.X = np.asarray(exog, dtype=float)
        self.n, self.p = self.X.shape
        self.k = int(k)
        self.offset = np.asarray(offset, dtype=float)
        self.w = np.asarray(freq_weights, dtype=float)
        self._unit_weights = bool(np.all(self.w == 1.0))
        self._has_offset = bool(np.any(self.offset != 0.0))
        self.U = None if fixed is None or fixed.shape[1] == 0 else np.asarray(fixed, dtype=float)
        self.q = 0 if self.U is None else self.U.shape[1]
        # one joint design [X U] built once (no per-component copies of X)
        self.D = self.X if self.U is None else np.hstack([self.X, self.U])
        self.point_mass = point_mass
        self.K = self.k + (point_mass is not None)
        self.equal = mixing == "equal"
        self.Z = None if concomitant is None else np.asarray(concomitant, dtype=float)
        self.r = 1 if self.Z is None else self.Z.shape[1]
        self.shared_scale = scale == "shared"
        n_scale = 0 if not self.fam.has_scale else (1 if self.shared_scale else self.k)
        self.layout = ParamLayout(self.k, self.p, self.q, n_scale, self.K, self.r, not self.equal)
        self.var_floor = var_floor
        if groups is None:
            self.groups = None
            self.G = self.n
            self.unit_w = self.w
            self._S = None
        else:
            self.groups = np.asarray(groups, dtype=np.int64)
            self.G = int(self.groups.max()) + 1
            self.unit_w = np.ones(self.G)
            # group-sum operator (G x n) carrying the frequency weights
            self._S = sparse.csr_matrix((self.w, (self.groups, np.arange(self.n))), shape=(self.G, self.n))
        if point_mass is not None:
            self._pm_log = np.where(self.y == point_mass, 0.0, -np.inf)
        self._cache = {}
        # predictors (and densities) of the last M-step's new beta, handed to the next E-step
        self._pending = None
        self._blocks = row_blocks(self.n, SWEEP_ROWS)
        self.n_jobs = check_n_jobs(n_jobs)

    def __setstate__(self, state):
        # results pickled before the row passes ran in blocks lack these two attributes
        self.__dict__.update(state)
        self.__dict__.setdefault("n_jobs", 1)
        if "_blocks" not in self.__dict__:
            self._blocks = row_blocks(self.n, SWEEP_ROWS)

    # ------------------------------------------------------------------ pieces
    def unpack(self, theta) -> Params:
        return self.layout.unpack(theta)

    def pack(self, P) -> np.ndarray:
        return self.layout.pack(P)

    def _sweep(self, beta, delta, scale=None, Wt=None, lp=None, E=None, M=None, L=None):
        """Row-level quantities at ``(beta, delta)`` in one pass over blocks of rows.

        Each block of rows goes through every requested stage while it is in cache:

        1. (k, n) linear predictors ``E`` (offset and shared terms included) and means ``M``,
           unless both are given;
        2. with ``scale``: (K, n) log-densities ``L`` (point mass last), unless given;
        3. with ``Wt`` ((k, n) M-step weights): ``q = sum Wt * L`` over the GLM rows;
        4. with ``lp`` ((K, n) or (K, 1) log prior): the posterior ``T`` (K, n), the row
           log-likelihoods ``ll`` and ``qT = sum_i w_i sum_{j<k} T_ij L_ij``.

        Returns ``(E, M, L, q, T, ll, qT)`` with None for stages not run. Written as one
        loop over blocks because the whole-array version reads and writes every (k, n)
        array from memory once per numpy operation; the blocks are shared over
        ``self.n_jobs`` threads (:func:`emglm.parallel.map_blocks`), each writing its own
        rows, and the sums are added in block order.
        """
        k, K, n = self.k, self.K, self.n
        predict = E is None or M is None
        if predict:
            beta = np.asarray(beta, dtype=float)
            E, M = np.empty((k, n)), np.empty((k, n))
        dens = scale is not None and L is None
        if dens:
            L = np.empty((K, n))
            if K > k:
                L[k] = self._pm_log
            sc = np.asarray(scale, dtype=float).reshape(k, 1)
        T = ll = None
        if lp is not None:
            T, ll = np.empty((K, n)), np.empty(n)
            lp_rows = lp.shape[1] == n
        fam, w = self.fam, self.w

        def block(s, e):
            # writes rows s:e of E, M, L, T, ll; returns this block's (q, qT) terms
            qb = qTb = 0.0
            if predict:
                Eb = E[:, s:e]
                np.matmul(beta, self.X[s:e].T, out=Eb)
                if self.q:
                    Eb += self.U[s:e] @ delta
                if self._has_offset:
                    Eb += self.offset[s:e]
                fam.mean(Eb, out=M[:, s:e])
            if dens:
                L[:k, s:e] = fam.loglike(E[:, s:e], M[:, s:e], sc, rows=slice(s, e))
            if Wt is not None:
                qb = _wq_block(Wt[:, s:e], L[:k, s:e])
            if lp is not None:
                Tb = T[:, s:e]
                np.add(L[:, s:e], lp[:, s:e] if lp_rows else lp, out=Tb)
                ll[s:e] = _lse_posterior(Tb)[0]
                qTb = _wq_block(Tb[:k] if self._unit_weights else Tb[:k] * w[s:e], L[:k, s:e])
            return qb, qTb

        parts = map_blocks(block, self._blocks, self.n_jobs)
        # added in block order: the same sums whatever the number of threads
        q = None if Wt is None else _ordered_sum(b[0] for b in parts)
        qT = None if lp is None else _ordered_sum(b[1] for b in parts)
        return E, M, L, q, T, ll, qT

    def _predict_t(self, beta, delta):
        """(k, n) linear predictors (offset and shared terms included) and means."""
        return self._sweep(beta, delta)[:2]

    def _logdens_t(self, E, M, scale):
        """(K, n) per-row log-densities from (k, n) predictors and means (point mass last)."""
        return self._sweep(None, None, scale, E=E, M=M)[2]

    def linear_predictors(self, P):
        """(n, k) linear predictors including offset and shared terms."""
        return self._predict_t(P.beta, P.delta)[0].T

    def log_densities(self, P, Eta):
        """(n, K) per-row log-densities (point mass last)."""
        E = np.ascontiguousarray(np.asarray(Eta, dtype=float).T)
        with np.errstate(over="ignore", invalid="ignore"):
            M = self.fam.mean(E)
        return self._logdens_t(E, M, P.scale).T

    def log_prior(self, P):
        return log_prior(P.gamma, self.Z, self.K, equal=self.equal)

    def estep(self, theta):
        """E-step at ``theta`` (cached by value for the last vector).

        Linear predictors, means and (when the dispersion is unchanged) log-densities
        computed by the previous M-step's step check at the same coefficients are reused.
        """
        theta = np.asarray(theta, dtype=float)
        key = theta.tobytes()
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        # one cached E-step: dropping the previous one before allocating the new one keeps
        # peak memory near two E-steps' worth of (K, n) arrays (the EM driver never goes back)
        self._cache.clear()
        P = self.unpack(theta)
        E = M = LT = None
        pend, self._pending = self._pending, None
        if pend is not None and pend[0] == theta[: self.k * self.p + self.q].tobytes():
            E, M = pend[1], pend[2]
            if pend[4] is not None and pend[3] == P.scale.tobytes():
                LT = pend[4]
        lp = self.log_prior(P)
        if self._S is None:
            E, M, LT, _, T, ll, q = self._sweep(P.beta, P.delta, P.scale, lp=np.ascontiguousarray(lp.T),
                                                E=E, M=M, L=LT)
            llf = float(ll.sum()) if self._unit_weights else float(self.w @ ll)
            T = Tunit = T.T
        else:
            E, M, LT = self._sweep(P.beta, P.delta, P.scale, E=E, M=M, L=LT)[:3]
            L = LT.T
            Lg = np.asarray(self._S @ np.where(np.isfinite(L), L, -1e300))
            Lg[Lg < -1e299] = -np.inf
            ll, Tunit = _lse_posterior(np.ascontiguousarray((Lg + lp).T))
            T = Tunit[self.groups]
            llf = float(ll.sum())
            q = None
        if not np.isfinite(llf):
            llf = -np.inf
        out = _EStep(llf, T, Tunit, E.T, LT.T, ll, M.T, q)
        self._cache[key] = out
        return out

    def objective(self, theta):
        """Observed-data log-likelihood ``sum_i w_i log sum_j pi_ij f_ij``."""
        return self.estep(theta).llf

    # ------------------------------------------------------------------ M-step
    @staticmethod
    def _wq(Wt, LT):
        """sum_j sum_i Wt_ji LT_ji for (k, n) weights and log-densities (0 * -inf = 0)."""
        with np.errstate(invalid="ignore", over="ignore"):
            return _wq_block(Wt, LT)

    def _weighted_q(self, Eta, P, Wt):
        """sum_j sum_i Wt_ij log f_ij at (n, k) linear predictors Eta (scale from P)."""
        E = np.ascontiguousarray(np.asarray(Eta, dtype=float).T)
        with np.errstate(over="ignore", invalid="ignore"):
            M = self.fam.mean(E)
        return self._wq(np.ascontiguousarray(np.asarray(Wt).T), self._logdens_t(E, M, P.scale)[: self.k])

    def _irls_solve(self, Eta, Wt):
        """One IRLS solve from (n, k) linear predictors ``Eta`` and (n, k) weights."""
        E = np.ascontiguousarray(np.asarray(Eta, dtype=float).T)
        with np.errstate(over="ignore", invalid="ignore"):
            M = self.fam.mean(E)
        return self._irls_solve_t(E, M, np.ascontiguousarray(np.asarray(Wt).T))

    def _irls_solve_t(self, E, M, Wt):
        """One IRLS solve from (k, n) predictors, means and M-step weights.

        Returns (beta (k, p), delta (q,)). The k weighted Gram matrices are sums over
        blocks of rows (:func:`emglm.linalg.grams`).
        """
        p, q, k = self.p, self.q, self.k
        fam, off = self.fam, self.offset

        def terms(s, e):
            # IRLS weights of one block, made where the Gram product reads them
            wj, uj = fam.irls_terms(E[:, s:e], M[:, s:e], off[s:e] if self._has_offset else 0.0,
                                    rows=slice(s, e))
            Wb, Ub = Wt[:, s:e] * wj, Wt[:, s:e] * uj
            if not np.isfinite(Wb.sum() + Ub.sum()):  # cheaper than isfinite(W).all(); rare
                bad = ~np.isfinite(Wb) | ~np.isfinite(Ub)
                Wb[bad] = 0.0
                Ub[bad] = 0.0
            return Wb, Ub

        As, bs = grams_blocked(self.D, k, terms, self._blocks, self.n_jobs)
        if q == 0:
            beta = np.vstack([solve_psd(A, b) for A, b in zip(As, bs)])
            return beta, np.zeros(0)
        m = k * p + q
        H = np.zeros((m, m))
        g = np.zeros(m)
        for j, (A, b) in enumerate(zip(As, bs)):
            s = slice(j * p, (j + 1) * p)
            H[s, s] = A[:p, :p]
            H[s, k * p:] = A[:p, p:]
            H[k * p:, s] = A[p:, :p]
            H[k * p:, k * p:] += A[p:, p:]
            g[s] = b[:p]
            g[k * p:] += b[p:]
        sol = solve_psd(H, g)
        return sol[: k * p].reshape(k, p), sol[k * p:]

    def _update_scale(self, P, M, Wt):
        """Weighted-ML dispersions from (k, n) means ``M`` and M-step weights ``Wt``."""
        if not self.fam.has_scale:
            return P.scale
        mus = [M[j] for j in range(self.k)]
        wts = [Wt[j] for j in range(self.k)]
        if self.shared_scale:
            s = np.full(self.k, self.fam.scale_mle(mus, wts))
        else:
            s = np.array([self.fam.scale_mle([m], [w]) for m, w in zip(mus, wts)])
        if self.var_floor is not None:
            s = np.maximum(s, self.var_floor)
        # a component with no weight keeps its dispersion
        s = np.where(np.isfinite(s) & (s > 0), s, P.scale)
        return s

    def row_weights(self, T):
        """(n, k) M-step frequency weights ``w_i T_ij`` of the GLM components."""
        return self._weights_t(T).T

    def _weights_t(self, T):
        """(k, n) M-step weights ``w_i T_ij`` (a view of the posterior with unit weights)."""
        Tk = np.asarray(T)[:, : self.k].T
        if self._unit_weights:
            return Tk if Tk.flags.c_contiguous else np.ascontiguousarray(Tk)
        return Tk * self.w

    def mstep(self, theta, es=None, n_irls=1):
        """One generalised M-step from ``theta`` with posterior from ``es`` (E-step at theta).

        One IRLS step per component with step halving on the weighted complete-data
        log-likelihood (skipped for Gaussian-identity, whose weighted least-squares step
        is exact), so the observed log-likelihood never decreases. The candidate's
        predictors and densities are handed to the next E-step, which then costs only the
        log-sum-exp when the dispersion did not move.
        """
        es = self.estep(theta) if es is None else es
        P = self.unpack(theta)
        Wt = self._weights_t(es.T)
        E, M = es.Eta.T, es.Mu.T
        LT = es.L.T
        q_cur = es.q if es.q is not None else self._wq(Wt, LT[: self.k])
        beta, delta = P.beta, P.delta
        exact = self.fam.exact_wls
        for _ in range(n_irls):
            nb, nd = self._irls_solve_t(E, M, Wt)
            if exact:
                beta, delta = nb, nd
                E, M = self._predict_t(beta, delta)
                LT = None
                continue
            step = self._halving_step(beta, delta, nb, nd, P.scale, Wt, q_cur)
            if step is not None:  # else no ascent direction found: keep beta
                beta, delta, E, M, LT, q_cur = step
        scale = self._update_scale(P, M, Wt)
        gamma = self._mstep_mixing(P.gamma, es.Tunit)
        out = self.pack(Params(beta, delta, scale, gamma))
        self._pending = (out[: self.k * self.p + self.q].tobytes(), E, M, P.scale.tobytes(), LT)
        return out

    def _halving_step(self, beta, delta, nb, nd, scale, Wt, q_old):
        """Step from (beta, delta) toward the IRLS solution (nb, nd), halved until the weighted
        complete-data log-likelihood does not fall below ``q_old``.

        Returns ``(beta, delta, Eta_t, Mu_t, L_t, q)`` at the accepted point (``L_t`` (K, n),
        point mass last), or None when 40 halvings find no ascent (the caller keeps its
        coefficients). Each trial is one fused pass over the rows (:meth:`_sweep`).
        """
        t = 1.0
        for _ in range(40):
            cb, cd = beta + t * (nb - beta), delta + t * (nd - delta)
            Ec, Mc, Lc, q = self._sweep(cb, cd, scale, Wt=Wt)[:4]
            if q >= q_old - 1e-10 * (abs(q_old) + 1):
                return cb, cd, Ec, Mc, Lc, q
            t *= 0.5
        return None

    def _mstep_mixing(self, gamma, Tunit, n_steps=1):
        if self.equal:
            return gamma
        if self.Z is None:
            return mstep_constant(Tunit, self.unit_w)
        return mstep_concomitant(gamma, self.Z, Tunit, self.unit_w, n_steps=n_steps)

    def fixed_point(self, theta):
        """The EM map: E-step at ``theta`` then one generalised M-step."""
        return self.mstep(theta)

    # ------------------------------------------------------------------ starts
    def fit_from_posterior(self, T, maxiter=100, tol=1e-10):
        """Complete weighted GLM fits (IRLS from the family's starting mean) for posterior T.

        Returns the flat vector whose coefficients maximise the complete-data
        log-likelihood given ``T`` (row-level, (n, K)); this is also what a component
        M-step converges to, so it is the function tests compare with statsmodels
        ``GLM(..., freq_weights=w*T_j).fit()``.
        """
        T = np.asarray(T, dtype=float)
        Wt = self._weights_t(T)
        E = np.tile(self.fam.start_eta(), (self.k, 1))
        with np.errstate(over="ignore", invalid="ignore"):
            M = self.fam.mean(E)
        P = Params(np.zeros((self.k, self.p)), np.zeros(self.q), np.ones(self.k),
                   np.zeros((self.K - 1, self.r)))
        beta, delta = self._irls_solve_t(E, M, Wt)
        P = Params(beta, delta, P.scale, P.gamma)
        E, M = self._predict_t(P.beta, P.delta)
        q_prev = self._sweep(None, None, P.scale, Wt=Wt, E=E, M=M)[3]
        for _ in range(maxiter):
            nb, nd = self._irls_solve_t(E, M, Wt)
            step = self._halving_step(P.beta, P.delta, nb, nd, P.scale, Wt, q_prev)
            if step is None:
                break
            cb, cd, Ec, Mc, _, q_new = step
            cand = Params(cb, cd, P.scale, P.gamma)
            change = np.max(np.abs(np.concatenate([(cand.beta - P.beta).ravel(), cand.delta - P.delta])))
            P, E, M = cand, Ec, Mc
            done = abs(q_new - q_prev) <= tol * (abs(q_prev) + 1) and change < 1e-8 * (1 + np.max(np.abs(P.beta)))
            q_prev = q_new
            if done:
                break
        scale = self._update_scale(P, M, Wt)
        Tunit = T if self._S is None else self._unit_posterior(T)
        if self.equal:
            gamma = P.gamma
        elif self.Z is None:
            gamma = mstep_constant(Tunit, self.unit_w)
        else:
            gamma = mstep_concomitant(np.zeros((self.K - 1, self.r)), self.Z, Tunit, self.unit_w, n_steps=50)
        return self.pack(Params(P.beta, P.delta, scale, gamma))

    def _unit_posterior(self, T):
        """Group-level posterior from row-level T (mean over the group's rows)."""
        cnt = np.bincount(self.groups, minlength=self.G).astype(float)
        out = np.zeros((self.G, T.shape[1]))
        np.add.at(out, self.groups, T)
        return out / cnt[:, None]

    # ------------------------------------------------------------------ ordering
    def order(self, theta):
        """Permutation putting GLM components in increasing weighted mean linear predictor.

        Ties (equal to 1e-10 relative) are broken by dispersion, then by proportion. The
        point mass, if any, stays last.
        """
        P = self.unpack(theta)
        Eta = self.linear_predictors(P) - self.offset[:, None]
        m = (self.w @ Eta) / self.w.sum()
        keyv = np.round(m / (np.max(np.abs(m)) + 1e-300), 10)
        pi = np.exp(self.log_prior(P)).mean(axis=0)[: self.k]
        return np.lexsort((pi, P.scale, keyv))

    def permute(self, theta, perm):
        """Reorder GLM components of ``theta`` by ``perm`` (point mass stays last)."""
        P = self.unpack(theta)
        beta = P.beta[perm]
        scale = P.scale[perm]
        gamma = P.gamma
        if not self.equal:
            full = np.vstack([np.zeros((1, self.r)), P.gamma])  # (K, r)
            order = np.concatenate([perm, np.arange(self.k, self.K)])
            full = full[order]
            gamma = full[1:] - full[0]
        return self.pack(Params(beta, P.delta, scale, gamma))
