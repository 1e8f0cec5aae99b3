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
from scipy.special import logsumexp

from .families import FamilyAdapter
from .layout import ParamLayout, Params
from .linalg import solve_psd, weighted_gram
from .mixing import log_prior, mstep_concomitant, mstep_constant

__all__ = ["MixtureEngine"]


class _EStep:
    __slots__ = ("llf", "T", "Tunit", "Eta", "L", "ll_unit")

    def __init__(self, llf, T, Tunit, Eta, L, ll_unit):
        self.llf, self.T, self.Tunit, self.Eta, self.L, self.ll_unit = llf, T, Tunit, Eta, L, ll_unit


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
                 scale="component", var_floor=None):
        self.fam = FamilyAdapter(family, endog, trials)
        self.y = self.fam.y
        self.X = np.asarray(exog, dtype=float)
        self.n, self.p = self.X.shape
        self.k = int(k)
        self.offset = np.asarray(offset, dtype=float)
        self.w = np.asarray(freq_weights, dtype=float)
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

    # ------------------------------------------------------------------ pieces
    def unpack(self, theta) -> Params:
        return self.layout.unpack(theta)

    def pack(self, P) -> np.ndarray:
        return self.layout.pack(P)

    def linear_predictors(self, P):
        """(n, k) linear predictors including offset and shared terms."""
        B = P.beta.T  # (p, k)
        if self.q:
            B = np.vstack([B, np.repeat(P.delta[:, None], self.k, axis=1)])
        return self.D @ B + self.offset[:, None]

    def log_densities(self, P, Eta):
        """(n, K) per-row log-densities (point mass last)."""
        L = np.empty((self.n, self.K))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for j in range(self.k):
                L[:, j] = self.fam.loglike(Eta[:, j], self.fam.mean(Eta[:, j]), P.scale[j])
        if self.point_mass is not None:
            L[:, self.k] = self._pm_log
        return L

    def log_prior(self, P):
        return log_prior(P.gamma, self.Z, self.K, equal=self.equal)

    def estep(self, theta):
        """E-step at ``theta`` (cached by value for the last few vectors)."""
        key = np.asarray(theta, dtype=float).tobytes()
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        P = self.unpack(theta)
        Eta = self.linear_predictors(P)
        L = self.log_densities(P, Eta)
        lp = self.log_prior(P)
        if self._S is None:
            a = L + lp
            ll = logsumexp(a, axis=1)
            with np.errstate(invalid="ignore"):
                T = np.exp(a - ll[:, None])
            llf = float(self.w @ ll)
            Tunit = T
        else:
            Lg = np.asarray(self._S @ np.where(np.isfinite(L), L, -1e300))
            Lg[Lg < -1e299] = -np.inf
            a = Lg + lp
            ll = logsumexp(a, axis=1)
            with np.errstate(invalid="ignore"):
                Tunit = np.exp(a - ll[:, None])
            T = Tunit[self.groups]
            llf = float(ll.sum())
        if not np.isfinite(llf):
            llf = -np.inf
        out = _EStep(llf, T, Tunit, Eta, L, ll)
        if len(self._cache) > 4:
            self._cache.clear()
        self._cache[key] = out
        return out

    def objective(self, theta):
        """Observed-data log-likelihood ``sum_i w_i log sum_j pi_ij f_ij``."""
        return self.estep(theta).llf

    # ------------------------------------------------------------------ M-step
    def _weighted_q(self, Eta, P, Wt):
        """sum_j sum_i Wt_ij log f_ij at linear predictors Eta (scale from P)."""
        total = 0.0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for j in range(self.k):
                ll = self.fam.loglike(Eta[:, j], self.fam.mean(Eta[:, j]), P.scale[j])
                total += float(Wt[:, j] @ np.where(Wt[:, j] > 0, ll, 0.0))
        return total if np.isfinite(total) else -np.inf

    def _irls_solve(self, Eta, Wt):
        """One IRLS solve from linear predictors ``Eta``: returns (beta (k,p), delta (q,))."""
        p, q, k = self.p, self.q, self.k
        off = self.offset
        grams, rhs = [], []
        for j in range(k):
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                wj, zj = self.fam.working(Eta[:, j], off)
            wj = Wt[:, j] * wj
            bad = ~np.isfinite(wj) | ~np.isfinite(zj)
            if bad.any():
                wj = np.where(bad, 0.0, wj)
                zj = np.where(bad, 0.0, zj)
            A, b = weighted_gram(self.D, wj, zj)
            grams.append(A)
            rhs.append(b)
        if q == 0:
            beta = np.vstack([solve_psd(A, b) for A, b in zip(grams, rhs)])
            return beta, np.zeros(0)
        m = k * p + q
        H = np.zeros((m, m))
        g = np.zeros(m)
        for j, (A, b) in enumerate(zip(grams, rhs)):
            s = slice(j * p, (j + 1) * p)
            H[s, s] = A[:p, :p]
            H[s, k * p:] = A[:p, p:]
            H[k * p:, s] = A[p:, :p]
            H[k * p:, k * p:] += A[p:, p:]
            g[s] = b[:p]
            g[k * p:] += b[p:]
        sol = solve_psd(H, g)
        return sol[: k * p].reshape(k, p), sol[k * p:]

    def _update_scale(self, P, Eta, Wt):
        if not self.fam.has_scale:
            return P.scale
        mus = [self.fam.mean(Eta[:, j]) for j in range(self.k)]
        wts = [Wt[:, j] for j in range(self.k)]
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
        return self.w[:, None] * T[:, : self.k]

    def mstep(self, theta, es=None, n_irls=1):
        """One generalised M-step from ``theta`` with posterior from ``es`` (E-step at theta)."""
        es = self.estep(theta) if es is None else es
        P = self.unpack(theta)
        Wt = self.row_weights(es.T)
        Eta = es.Eta
        beta, delta = P.beta, P.delta
        for _ in range(n_irls):
            q_old = self._weighted_q(Eta, P, Wt)
            nb, nd = self._irls_solve(Eta, Wt)
            t = 1.0
            for _ in range(40):
                cand = Params(beta + t * (nb - beta), delta + t * (nd - delta), P.scale, P.gamma)
                Eta_c = self.linear_predictors(cand)
                if self._weighted_q(Eta_c, cand, Wt) >= q_old - 1e-10 * (abs(q_old) + 1):
                    break
                t *= 0.5
            else:
                cand, Eta_c = P, Eta  # no ascent direction found: keep beta
            beta, delta, Eta = cand.beta, cand.delta, Eta_c
            P = cand
        scale = self._update_scale(P, Eta, Wt)
        gamma = self._mstep_mixing(P.gamma, es.Tunit)
        return self.pack(Params(beta, delta, scale, gamma))

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
        Wt = self.row_weights(T)
        Eta = np.repeat(self.fam.start_eta()[:, None], self.k, axis=1)
        P = Params(np.zeros((self.k, self.p)), np.zeros(self.q), np.ones(self.k),
                   np.zeros((self.K - 1, self.r)))
        beta, delta = self._irls_solve(Eta, Wt)
        P = Params(beta, delta, P.scale, P.gamma)
        Eta = self.linear_predictors(P)
        q_prev = self._weighted_q(Eta, P, Wt)
        for _ in range(maxiter):
            nb, nd = self._irls_solve(Eta, Wt)
            t = 1.0
            for _ in range(40):
                cand = Params(P.beta + t * (nb - P.beta), P.delta + t * (nd - P.delta), P.scale, P.gamma)
                Eta_c = self.linear_predictors(cand)
                q_new = self._weighted_q(Eta_c, cand, Wt)
                if q_new >= q_prev - 1e-10 * (abs(q_prev) + 1):
                    break
                t *= 0.5
            else:
                break
            change = np.max(np.abs(np.concatenate([(cand.beta - P.beta).ravel(), cand.delta - P.delta])))
            P, Eta = cand, Eta_c
            done = abs(q_new - q_prev) <= tol * (abs(q_prev) + 1) and change < 1e-8 * (1 + np.max(np.abs(P.beta)))
            q_prev = q_new
            if done:
                break
        scale = self._update_scale(P, Eta, Wt)
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
