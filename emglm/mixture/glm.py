"""GLMComponent: k classes of one statsmodels GLM family sharing a design.

Each class j has coefficients ``beta_j`` on the component design ``X``; terms given as
``fixed`` have coefficients ``delta`` shared by all k classes; the dispersion is one per
class or one shared (``scale="shared"``). Flat parameters, in order: ``beta`` (k x p,
class-major), ``delta`` (q), log dispersions (k, 1 or 0).

The numerics are fused row passes over the blocks of :class:`~emglm.mixture.rows.Rows`
(linear predictors, means and log-densities of all k classes in one matrix product per
block; IRLS weights made where the Gram product reads them), and the M-step is one IRLS
step per class with step halving on the weighted complete-data log-likelihood, plus the
weighted maximum-likelihood dispersion: a generalised EM step that never lowers the
likelihood. Tests hold the complete fit equal to statsmodels
``GLM(..., freq_weights=w * T_j).fit()``.
"""

from __future__ import annotations

import numpy as np
import statsmodels.genmod.families as smf

from ..families import FamilyAdapter
from ..linalg import grams_blocked, rank_deficient, solve_psd
from .component import Component, wq_block
from .glm_dist import cdf, dlogf_deta, dlogf_dlogscale, second_derivatives
from .glm_passes import GLMEvaluation, means_pass
from .design_summary import column_summary, combine_summaries, standardisation_from_summary
from .rows import ordered_sum

__all__ = ["GLMComponent", "constant_key", "column_summary", "combine_summaries", "standardisation_from_summary"]

#: fitted means closer than this to a boundary of the family's mean space flag separation
BOUNDARY_EPS = 1e-8
#: classes whose linear predictors differ by less than this on every row coincide
COINCIDE_TOL = 1e-3


def constant_key(family):
    """Key of a family's y-only log-density constant in :meth:`Rows.memo` (made once per rows)."""
    return ("glm constant", type(family))


class GLMComponent(Component):
    """k classes of one statsmodels GLM family (with its link) on a shared design.

    Parameters
    ----------
    family : statsmodels family instance
    rows : Rows
        The data (the response is bound here once: y-only constants are computed once).
    k : int
        Number of classes.
    scale : {"component", "shared"}
    var_floor : float or None
        Lower bound of the dispersions (see :mod:`emglm.degenerate`).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.mixture import Rows
    >>> rows = Rows(np.array([0.0, 1.0, 3.0]), np.ones((3, 1)))
    >>> comp = GLMComponent(sm.families.Poisson(), rows, k=1)
    >>> np.round(comp.fit(np.ones((1, 3)), rows), 6)  # log of the mean count
    array([0.287682])
    """

    has_linear_predictor = True

    def __init__(self, family, rows, k, scale="component", var_floor=None, standardisation=None):
        self.fam = FamilyAdapter(family, rows.y, rows.trials)
        fam = self.fam
        fam.use_constant(rows.memo(constant_key(family), lambda: fam.const))
        self.family = family
        self.k = self.n_classes = int(k)
        self.p, self.q = rows.p, rows.q
        self.shared_scale = scale == "shared"
        self.has_scale = self.fam.has_scale
        self.n_scale = 0 if not self.has_scale else (1 if self.shared_scale else self.k)
        self.var_floor = var_floor
        if standardisation is None:
            self._standardise(rows)
        else:  # the constants of the whole data, for a part of the rows (partition sums add)
            self._center, self._scale, self._int_col, self._int_value = standardisation
            self._rank_deficient = True  # check every step (a part of the rows)

    def _standardise(self, rows):
        """Centre and scale of the design's columns for the IRLS solves.

        The Gram matrices are formed on ``(D - c) / s`` and the solution mapped back, so the
        estimates do not depend on the location or units of a covariate (a timestamp
        ``x + 1.7e9`` keeps its slope). Columns are centred only when the component design
        has a constant column (an intercept) to absorb the shift; constant columns are left
        as they are.
        """
        D = rows.D
        self._rank_deficient = False
        if D.shape[0] and self.fam.exact_wls:  # only the unchecked exact step needs to know
            self._rank_deficient = rows.memo("rank deficient", lambda: rank_deficient(D))
        # the same for every mixture on these rows (every start, the one-component fit)
        self._center, self._scale, self._int_col, self._int_value = \
            standardisation_from_summary(rows.memo("design summary", lambda: column_summary(D)), self.p)

    @property
    def standardisation(self):
        """``(center, scale, intercept column, its value)`` of the IRLS solves; pass it to the
        component of a part of the rows so that the parts' Gram sums add up."""
        return self._center, self._scale, self._int_col, self._int_value

    def _from_standard(self, beta_s, delta_s):
        """Coefficients on the original columns from those on the standardised columns."""
        if self._center is None:
            return beta_s, delta_s
        p = self.p
        cx, sx = self._center[:p], self._scale[:p]
        cu, su = self._center[p:], self._scale[p:]
        beta = beta_s / sx
        delta = delta_s / su
        if self._int_col is not None:
            shift = beta @ cx + (delta @ cu if self.q else 0.0)
            beta[:, self._int_col] -= shift / self._int_value
        return beta, delta

    # ------------------------------------------------------------------ parameters
    @property
    def n_params(self):
        return self.k * self.p + self.q + self.n_scale

    def unpack(self, params):
        """(beta (k, p), delta (q,), scale (k,)) from the flat vector."""
        params = np.asarray(params, dtype=float)
        kp = self.k * self.p
        beta = params[:kp].reshape(self.k, self.p)
        delta = params[kp:kp + self.q]
        if self.n_scale:
            scale = np.broadcast_to(np.exp(params[kp + self.q:]), (self.k,)).copy()
        else:
            scale = np.ones(self.k)
        return beta, delta, scale

    def pack(self, beta, delta, scale):
        parts = [np.asarray(beta, float).ravel(), np.asarray(delta, float).ravel()]
        if self.n_scale:
            parts.append(np.log(np.asarray(scale, float)[: self.n_scale]))
        return np.concatenate(parts)

    def param_labels(self, class_names, exog_names=None, fixed_names=None):
        xn = exog_names or [f"x{i}" for i in range(self.p)]
        fn = fixed_names or [f"w{i}" for i in range(self.q)]
        labels = [(c, t) for c in class_names[: self.k] for t in xn]
        labels += [("shared", t) for t in fn]
        if self.n_scale == 1:
            labels.append(("shared", "scale"))
        elif self.n_scale:
            labels += [(c, "scale") for c in class_names[: self.k]]
        return labels

    def coef_table(self, params):
        beta, delta, _ = self.unpack(params)
        vals = np.vstack([beta.T, np.repeat(delta[:, None], self.k, axis=1)])
        return None, vals

    def scale(self, params):
        return self.unpack(params)[2]

    def log_scale_mask(self):
        mask = np.zeros(self.n_params, dtype=bool)
        if self.n_scale:
            mask[-self.n_scale:] = True
        return mask

    # ------------------------------------------------------------------ row passes
    def _sweep(self, rows, beta, delta, scale=None, Wt=None, E=None, M=None):
        """(k, n) linear predictors ``E``, means ``M`` (unless given), log-densities ``L`` (with
        ``scale``) and ``q = sum Wt * L`` (with ``Wt``), in one pass over blocks of rows."""
        k, n = self.k, rows.n
        predict = E is None or M is None
        if predict:
            beta = np.asarray(beta, dtype=float)
            E, M = np.empty((k, n)), np.empty((k, n))
        L = None
        if scale is not None:
            L = np.empty((k, n))
            sc = np.asarray(scale, dtype=float).reshape(k, 1)
        fam, X, U, off = self.fam, rows.X, rows.U, rows.offset

        def block(s, e):
            if predict:
                Eb = E[:, s:e]
                np.matmul(beta, X[s:e].T, out=Eb)
                if U is not None:
                    Eb += U[s:e] @ delta
                if rows.has_offset:
                    Eb += off[s:e]
                fam.mean(Eb, out=M[:, s:e])
            if L is not None:
                L[:, s:e] = fam.loglike(E[:, s:e], M[:, s:e], sc, rows=slice(s, e))
                if Wt is not None:
                    return wq_block(Wt[:, s:e], L[:, s:e])
            return 0.0

        parts = rows.map_blocks(block)
        q = None if Wt is None else ordered_sum(parts)  # in block order: same for any n_jobs
        return E, M, L, q

    def _key(self, params):
        return np.asarray(params, dtype=float)[: self.k * self.p + self.q].tobytes()

    def evaluate(self, params, rows, reuse=None):
        """Linear predictors, means and log-densities of the k classes at ``params``.

        From ``reuse`` (the Evaluation an M-step returned) the predictors and means are
        reused when the coefficients match, and the log-densities too when the dispersions
        also match.
        """
        beta, delta, scale = self.unpack(params)
        key, skey = self._key(params), scale.tobytes()
        if isinstance(reuse, GLMEvaluation) and reuse.key == key:
            return reuse if reuse.scale_key == skey else reuse.with_scale(scale, skey)
        # the log-densities are made block by block where read (emglm.mixture.glm_passes)
        E, M = means_pass(self, rows, beta, delta)[:2]
        return GLMEvaluation(self, rows, beta, delta, scale, key, skey, E, M)

    def _fit_by_class(self, weights, rows, maxiter, tol):
        """:meth:`fit` class by class on each class's own rows, when every row weighs in one
        class at most (class labels), no term is shared and each class has its dispersion;
        else None. The other rows weigh nothing in a class's fit, so the fits are the same,
        and each pass reads a class's rows only: k times fewer rows (performance)."""
        W = np.asarray(weights, dtype=float)
        if self.k < 2 or self.q or self.shared_scale or W.shape[1] < 2 * self.k:
            return None
        if np.count_nonzero(W, axis=0).max() > 1:
            return None
        held = [np.flatnonzero(W[j]) for j in range(self.k)]
        if min(len(h) for h in held) == 0:
            return None
        beta, scale = np.empty((self.k, self.p)), np.ones(self.k)
        for j, rows_j in enumerate(held):
            sub = rows.take(rows_j)
            one = GLMComponent(self.family, sub, 1, var_floor=self.var_floor, standardisation=self.standardisation)
            beta[j], _, scale[j:j + 1] = one.unpack(one.fit(W[j:j + 1, rows_j], sub, maxiter, tol))
        return self.pack(beta, np.zeros(0), scale)

    # ------------------------------------------------------------------ M-step as sums
    # The M-step is written as sums over rows, so that a backend holding the rows in
    # partitions adds the partitions' sums and solves the same small systems:
    #   mstep_stats (X'WX, X'Wz)  ->  mstep_candidate (the IRLS solution)
    #   step_value (sum W log f at a trial point, for step halving)
    #   scale_stats (two sums per class)  ->  scale_update (the weighted-ML dispersion).

    def gram_sums(self, rows, E, M, Wt):
        """Per class weighted Gram matrices ``D' W D`` and right-hand sides ``D' W z`` of the
        IRLS step from (k, n) predictors ``E`` (or a function of a block ``(s, e)`` giving
        them), means ``M`` and M-step weights ``Wt``."""
        fam, off = self.fam, rows.offset
        eta = E if callable(E) else (lambda s, e: E[:, s:e])

        def terms(s, e):
            # IRLS weights of one block, made where the Gram product reads them
            wj, uj = fam.irls_terms(eta(s, e), M[:, s:e], off[s:e] if rows.has_offset else 0.0,
                                    rows=slice(s, e))
            Wb, Ub = Wt[:, s:e] * wj, Wt[:, s:e] * uj
            if not np.isfinite(Wb.sum() + Ub.sum()):  # cheaper than isfinite(W).all(); rare
                bad = ~np.isfinite(Wb) | ~np.isfinite(Ub)
                Wb[bad] = 0.0
                Ub[bad] = 0.0
            return Wb, Ub

        return grams_blocked(rows.D, self.k, terms, rows.blocks, rows.n_jobs, center=self._center,
                             scale=self._scale)

    def solve_gram(self, As, bs):
        """The IRLS solution ``(beta (k, p), delta (q,))`` from summed Gram matrices (formed
        on the standardised columns when the design needs it, and mapped back)."""
        return self._from_standard(*self._solve_gram(As, bs))

    def _solve_gram(self, As, bs):
        p, q, k = self.p, self.q, self.k
        if q == 0:
            return np.vstack([solve_psd(A, b) for A, b in zip(As, bs)]), np.zeros(0)
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

    def irls_solve(self, rows, E, M, Wt):
        """One IRLS solve from (k, n) predictors ``E``, means ``M`` and M-step weights ``Wt``.

        Returns ``(beta (k, p), delta (q,))``: the weighted least-squares solution of the
        IRLS working response, which statsmodels' ``GLM(..., freq_weights=Wt[j]).fit(maxiter=1)``
        computes from the same start. The Gram matrices are sums over blocks of rows.
        """
        return self.solve_gram(*self.gram_sums(rows, E, M, Wt))

    def mstep_stats(self, params, weights, ev, rows):
        """Sums for the IRLS step at ``params``: ``(As, bs)`` (add them over partitions)."""
        # (a GLM evaluation reads its predictors block by block when it has not kept them)
        eta = ev.eta_block if isinstance(ev, GLMEvaluation) else ev.E
        return self.gram_sums(rows, eta, ev.M, weights)

    def mstep_candidate(self, params, stats):
        """The full IRLS step from ``params`` (dispersions unchanged)."""
        nb, nd = self.solve_gram(*stats)
        out = np.array(params, dtype=float)  # the log dispersions stay bit-for-bit as they are
        out[: self.k * self.p + self.q] = np.concatenate([nb.ravel(), nd])
        return out

    @property
    def exact_step(self):
        """Gaussian-identity: the weighted least-squares step is exact (no step halving)."""
        return self.fam.exact_wls

    def step_value(self, params, weights, rows, keep_eta=True):
        """``(sum W log f, Evaluation)`` at ``params``: the step-halving criterion (sums add).
        Without ``keep_eta`` the predictors are not kept whole (remade where read)."""
        beta, delta, scale = self.unpack(params)
        # without a dispersion the accepted trial's log-densities are the next E-step's: kept
        # whole unless they are cheaper to remake than to store
        keep = not self.has_scale and not self.fam.cheap_loglike
        E, M, q, L = means_pass(self, rows, beta, delta, scale, Wt=weights, keep_logpdf=keep, keep_eta=keep_eta)
        return q, GLMEvaluation(self, rows, beta, delta, scale, self._key(params), scale.tobytes(), E, M, L)

    def scale_stats(self, params, weights, ev, rows):
        """Per class ``(sum W, sum W d)`` for the dispersion update (None: no dispersion).

        Families whose dispersion is not a function of sums (Tweedie) return the (k, n)
        means and weights themselves: they run in memory only.
        """
        if not self.has_scale:
            return None
        M = ev.M
        if not self.fam.scale_by_sums:
            return ("arrays", M, weights)
        return [self.fam.scale_sums(M[j], weights[j]) for j in range(self.k)]

    def scale_update(self, params, stats):
        """``params`` with the weighted-ML dispersions from :meth:`scale_stats` (floored)."""
        beta, delta, scale = self.unpack(params)
        if stats is None:
            return params
        if isinstance(stats, tuple) and stats and stats[0] == "arrays":
            _, M, Wt = stats
            mus, wts = [M[j] for j in range(self.k)], [Wt[j] for j in range(self.k)]
            if self.shared_scale:
                s = np.full(self.k, self.fam.scale_mle(mus, wts))
            else:
                s = np.array([self.fam.scale_mle([m], [w]) for m, w in zip(mus, wts)])
        elif self.shared_scale:
            s = np.full(self.k, self.fam.scale_from_sums(stats))
        else:
            s = np.array([self.fam.scale_from_sums([st]) for st in stats])
        if self.var_floor is not None:
            s = np.maximum(s, self.var_floor)
        s = np.where(np.isfinite(s) & (s > 0), s, scale)  # a class with no weight keeps its own
        return self.pack(beta, delta, s)

    def mstep(self, params, weights, ev, rows, q0=None):
        """One IRLS step per class with step halving (exact for Gaussian-identity), then the
        weighted-ML dispersion, composed from the sums above on the in-memory rows. Returns
        the new parameters and the Evaluation at the new coefficients with the old
        dispersion (reused by the next E-step)."""
        q_cur = q0 if q0 is not None else wq_block(weights, ev.logpdf)
        cand = self.mstep_candidate(params, self.mstep_stats(params, weights, ev, rows))
        if isinstance(ev, GLMEvaluation):
            ev.release()  # read: the trial's arrays take the place of its (memory)
        new, new_ev = params, ev
        if self.exact_step and self._center is None and not self._rank_deficient:
            # Gaussian-identity on a well-conditioned design: the weighted least-squares step
            # maximises sum W log f exactly, no check needed
            beta, delta, scale = self.unpack(cand)
            E, M = means_pass(self, rows, beta, delta)[:2]
            new_ev = GLMEvaluation(self, rows, beta, delta, scale, self._key(cand), scale.tobytes(), E, M)
            return self.scale_update(cand, self.scale_stats(cand, weights, new_ev, rows)), new_ev
        # every other step is checked: on a duplicated or badly scaled design even the exact
        # weighted least-squares solve may be inaccurate, and an M-step that lowered
        # sum W log f could lower the llf
        step = self._halve(params, cand, weights, rows, q_cur)
        if step is not None:  # else no ascent after 40 halvings: the coefficients are kept
            new, _, new_ev = step
        out = self.scale_update(new, self.scale_stats(new, weights, new_ev, rows))
        return out, new_ev

    def _halve(self, params, cand, weights, rows, q_old, keep_eta=True):
        """Step from ``params`` toward ``cand``, halved until ``sum W log f`` does not fall
        below ``q_old``: ``(params, q, Evaluation)`` at the accepted point, or None after 40
        halvings (one fused pass over the rows per trial)."""
        t = 1.0
        for _ in range(40):
            trial = params + t * (cand - params)
            q, trial_ev = self.step_value(trial, weights, rows, keep_eta)
            if q >= q_old - 1e-10 * (abs(q_old) + 1):
                return trial, q, trial_ev
            trial_ev = None  # (released before the next trial's arrays are made)
            t *= 0.5
        return None

    def fit(self, weights, rows, maxiter=100, tol=1e-10, start=None):
        """Complete weighted fits (IRLS from the family's starting mean, or from the
        parameters ``start``) for weights (k, n).

        This is what repeated M-steps converge to, and what tests compare with statsmodels
        ``GLM(..., freq_weights=w * T_j).fit()``.
        """
        Wt = weights
        if start is not None:
            params = np.array(start, dtype=float)
        else:
            by_class = self._fit_by_class(weights, rows, maxiter, tol)
            if by_class is not None:
                return by_class
            k = self.k
            # every class starts from the same predictors: one row broadcast, not k copies
            eta0 = self.fam.start_eta()
            with np.errstate(over="ignore", invalid="ignore"):
                M = np.broadcast_to(self.fam.mean(eta0), (k, rows.n))
            E = np.broadcast_to(eta0, (k, rows.n))
            beta, delta = self.irls_solve(rows, E, M, Wt)
            del E, M  # (k, n) arrays: one evaluation at a time is alive below (peak memory)
            params = self.pack(beta, delta, np.ones(k))
        # (a start's fits keep only the means whole: the predictors are one small product
        # per block where the Gram pass reads them, and a start holds its posterior too)
        q_prev, ev = self.step_value(params, Wt, rows, keep_eta=False)
        nbd = self.k * self.p + self.q  # the coefficients in the flat vector
        for _ in range(maxiter):
            cand = self.mstep_candidate(params, self.mstep_stats(params, Wt, ev, rows))
            ev = step = None  # (its arrays are not needed while the trial's are made)
            step = self._halve(params, cand, Wt, rows, q_prev, keep_eta=False)
            if step is None:  # no ascent: stay, and remake the evaluation there (rare)
                ev = self.step_value(params, Wt, rows, keep_eta=False)[1]
                break
            new, q_new, ev = step
            change = np.max(np.abs(new[:nbd] - params[:nbd]))
            params = new
            done = (abs(q_new - q_prev) <= tol * (abs(q_prev) + 1)
                    and change < 1e-8 * (1 + np.max(np.abs(params[: self.k * self.p]))))
            q_prev = q_new
            if done:
                break
        return self.scale_update(params, self.scale_stats(params, Wt, ev, rows))

    # ------------------------------------------------------------------ derived quantities
    def linear_predictor(self, params, rows):
        """(k, n) linear predictors including offset and shared terms."""
        beta, delta, _ = self.unpack(params)
        return self._sweep(rows, beta, delta)[0]

    def mean(self, params, rows):
        beta, delta, _ = self.unpack(params)
        return self._sweep(rows, beta, delta)[1]

    def cdf(self, params, rows):
        """``(F(y), F(y-))`` of every class at its means, each (k, n)."""
        M = self.mean(params, rows)
        scale = self.scale(params)
        out = [cdf(self.family, self.fam.y, M[j], scale[j], self.fam.trials) for j in range(self.k)]
        return np.stack([a for a, _ in out]), np.stack([b for _, b in out])

    def moments(self, params, rows):
        """Mean and variance ``phi V(mu) / trials`` of every class, each (k, n)."""
        M = self.mean(params, rows)
        V = self.family.variance(M) * self.scale(params)[:, None] / self.fam.trials
        return M, V

    def order_key(self, params, rows):
        """Weighted mean linear predictor (offset excluded) of each class."""
        # sum_i w_i (x_i beta_j + u_i delta) from the weighted column sums: no (k, n) arrays
        beta, delta, _ = self.unpack(params)
        w = rows.w
        total = beta @ (rows.X.T @ w) + (float(delta @ (rows.U.T @ w)) if rows.U is not None else 0.0)
        return total / w.sum()

    def permute(self, params, perm):
        beta, delta, scale = self.unpack(params)
        return self.pack(beta[perm], delta, scale[perm])

    def score_rows(self, params, ev, weights, rows, sl=slice(None)):
        """(b, n_params) per-row scores ``sum_j T_ij d log f_ij / d params`` on rows ``sl``.

        Analytic: ``d log f / d eta`` times the design for coefficients, ``d log f / d log
        phi`` for log dispersions. Rows carry no frequency weight here.
        """
        A, B = self.score_pieces(params, ev, weights)
        return self.score_columns(A, B, rows, sl)

    def score_pieces(self, params, ev, weights):
        """(k, n) posterior-weighted ``d log f / d eta`` and ``d log f / d log phi`` (or None)."""
        _, _, scale = self.unpack(params)
        A = _weighted(weights, dlogf_deta(self.fam, ev.E, ev.M, scale))
        B = _weighted(weights, dlogf_dlogscale(self.fam, ev.E, ev.M, scale)) if self.n_scale else None
        return A, B

    def score_columns(self, A, B, rows, sl=slice(None), X=None, U=None):
        """Per-row score matrix from the pieces of :meth:`score_pieces` on rows ``sl``."""
        X = rows.X[sl] if X is None else X
        cols = [X * A[j, sl][:, None] for j in range(self.k)]
        if self.q:
            Ub = rows.U[sl] if U is None else U
            cols.append(Ub * A[:, sl].sum(axis=0)[:, None])
        if self.n_scale:
            Bb = B[:, sl].T
            cols.append(Bb.sum(axis=1, keepdims=True) if self.n_scale == 1 else Bb)
        return np.hstack(cols)

    def second_derivatives(self, params, ev, rows=slice(None)):
        """``(a, a2, b, c, e)``, each (k, m): first and second derivatives of the log-density
        of every class on rows ``rows`` (a slice or index array) in the linear predictor and
        the log dispersion (:func:`emglm.mixture.glm_dist.second_derivatives`; ``b, c, e``
        None without a dispersion), for the analytic observed information."""
        _, _, scale = self.unpack(params)
        return second_derivatives(self.fam, ev.E[:, rows], ev.M[:, rows], scale, rows=rows,
                                  with_scale=bool(self.n_scale))

    def check_response(self, y=None, name="endog"):
        self.fam.check_endog(name)

    def diagnose(self, params, ev, T, rows, names):
        """Collapsed dispersions, too few effective rows, separation and coinciding classes."""
        _, _, scale = self.unpack(params)
        k, fam = self.k, self.fam
        msgs = []
        Tk = np.asarray(T)[:, :k]
        nj = rows.w @ Tk
        share = nj / rows.w.sum()
        n_par = self.p + (1 if self.has_scale and not self.shared_scale else 0)
        floor = self.var_floor
        for j in range(k):
            if floor is not None and self.has_scale and scale[j] <= floor * (1 + 1e-6):
                msgs.append(f"{names[j]}: dispersion at the floor {floor:.3g} (it collapsed onto "
                            "(nearly) identical responses; without the floor its likelihood is unbounded)")
            if nj[j] < n_par:
                msgs.append(f"{names[j]}: effective size {nj[j]:.3g} rows (proportion {share[j]:.3g}) "
                            f"is below its {n_par} parameters; the data do not support k={k} components "
                            "(see fit(min_proportion=...))")
            if isinstance(fam.family, (smf.Binomial, smf.Poisson, smf.NegativeBinomial)):
                mu = ev.M[j]
                at = mu < BOUNDARY_EPS
                if isinstance(fam.family, smf.Binomial):
                    at |= mu > 1.0 - BOUNDARY_EPS
                n_at = float(rows.w[at] @ Tk[at, j])  # effective rows of j at the boundary
                if n_at >= 1.0:
                    msgs.append(f"{names[j]}: fitted means numerically at the boundary of the mean space "
                                f"for {n_at:.3g} effective row(s) it holds: separation, its coefficients are "
                                "not identified (large, finite values at the stopping point)")
        E = ev.E
        for j in range(k):
            for m in range(j + 1, k):
                if (np.max(np.abs(E[j] - E[m])) < COINCIDE_TOL
                        and abs(np.log(scale[j] / scale[m])) < COINCIDE_TOL):
                    msgs.append(f"{names[j]} and {names[m]} coincide: the data support fewer than "
                                f"k={k} components")
        return msgs


def _weighted(Tk, G):
    """``Tk * G`` where a row with no posterior weight contributes nothing (0 * inf = 0)."""
    with np.errstate(invalid="ignore"):
        out = Tk * G
    if not np.isfinite(out.sum()):
        out = np.where(Tk > 0, out, 0.0)
    return out
