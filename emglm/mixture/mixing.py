"""Mixing models: equal, constant (estimated) or concomitant (multinomial logit) proportions.

Mixing coefficients ``gamma`` (K-1, r) give log prior weights through a multinomial logit
with the first class as reference: ``log pi_uj = z_u gamma_j - logsumexp_l(z_u gamma_l)``,
``gamma_0 = 0``. Constant proportions are the case ``z_u = 1``; equal proportions have no
parameters. Each mixing model supplies its log prior per unit, its M-step from the unit
posteriors, and what the score needs (the design ``z`` per unit).
"""

from __future__ import annotations

import numpy as np

from .. import mixing as _mnl
from . import mnl as _fused

__all__ = ["Mixing", "EqualMixing", "ConstantMixing", "ConcomitantMixing", "make_mixing"]


class Mixing:
    """Base class: ``K`` classes, coefficients (K-1, r) in the flat vector (``n_params``)."""

    estimate = True
    name = "estimate"

    def __init__(self, K, r=1):
        self.K, self.r = int(K), int(r)

    @property
    def n_params(self):
        return (self.K - 1) * self.r if self.estimate else 0

    def unpack(self, flat):
        if not self.estimate:
            return np.zeros((self.K - 1, self.r))
        return np.asarray(flat, dtype=float).reshape(self.K - 1, self.r)

    def design(self, rows):
        """(units, r) design of the multinomial logit."""
        return np.ones((rows.G, 1))

    def log_prior(self, gamma, rows=None, Z=None):
        """(units, K) (or (1, K) when constant over units) log prior class probabilities."""
        return _mnl.log_prior(gamma, None, self.K)

    def mstep(self, gamma, Tunit, rows):
        return _mnl.mstep_constant(Tunit, rows.unit_w)

    def fit(self, Tunit, rows):
        """Coefficients maximising the weighted log prior for unit posteriors ``Tunit`` (the
        mixing part of a start; closed form for constant proportions)."""
        return self.mstep(self.start(), Tunit, rows)

    def permute(self, gamma, order):
        """Coefficients with the classes reordered by ``order`` (length K)."""
        full = np.vstack([np.zeros((1, self.r)), gamma])[np.asarray(order)]
        return full[1:] - full[0]

    def start(self):
        return np.zeros((self.K - 1, self.r))


class EqualMixing(Mixing):
    """All classes equally likely a priori (no parameters)."""

    estimate = False
    name = "equal"

    def log_prior(self, gamma, rows=None, Z=None):
        return np.full((1, self.K), -np.log(self.K))

    def mstep(self, gamma, Tunit, rows):
        return gamma

    def fit(self, Tunit, rows):
        return self.start()

    def permute(self, gamma, order):
        return gamma


class ConstantMixing(Mixing):
    """Constant proportions, estimated in closed form (``pi_j = sum w T_j / sum w``)."""


class ConcomitantMixing(Mixing):
    """Proportions as a multinomial logit in unit-level concomitant variables.

    One Newton step (with step halving) per EM iteration: a generalised M-step. The log
    prior and the M-step are fused passes over blocks of units (:mod:`emglm.mixture.mnl`).
    The log prior at the coefficients an M-step returns is kept (keyed by their values and
    the design, read-only) for the E-step that follows: the same numbers, one pass fewer.
    """

    name = "concomitant"

    def design(self, rows):
        return rows.Z

    def _hit(self, gamma, Z):
        c = getattr(self, "_cached", None)
        if c is not None and c[1] is Z and c[0] == np.asarray(gamma, dtype=float).tobytes():
            return c[2]
        return None

    def _keep(self, gamma, Z, lp):
        lp.flags.writeable = False
        self._cached = (np.asarray(gamma, dtype=float).tobytes(), Z, lp)

    def _transposed(self, Z):
        """The (r, units) transpose of ``Z`` the passes read, made once per design."""
        c = getattr(self, "_zt", None)
        if c is None or c[0] is not Z:
            c = (Z, _fused.transposed(Z))
            self._zt = c
        return c[1]

    def _unit_weights(self, rows):
        """The unit weights, None when all are 1 (checked once per weight vector, not in
        every Newton and objective pass)."""
        uw = rows.unit_w
        c = getattr(self, "_uw", None)
        if c is None or c[0] is not uw:
            c = (uw, None if np.all(np.asarray(uw) == 1.0) else uw)
            self._uw = c
        return c[1]

    def log_prior(self, gamma, rows=None, Z=None):
        Zd = rows.Z if Z is None else Z
        lp = self._hit(gamma, Zd)
        if lp is None:
            lp = _fused.log_prior(gamma, Zd, getattr(rows, "n_jobs", 1), Zt=self._transposed(Zd))
            self._keep(gamma, Zd, lp)
        return lp

    def fit(self, Tunit, rows):
        """Newton steps from zero (50 at most) to the weighted multinomial-logit fit."""
        return self.mstep(self.start(), Tunit, rows, n_steps=50)

    def mstep(self, gamma, Tunit, rows, n_steps=1):
        g, lp = _fused.mstep(gamma, rows.Z, Tunit, self._unit_weights(rows), n_steps=n_steps,
                             n_jobs=rows.n_jobs, lp=self._hit(gamma, rows.Z), Zt=self._transposed(rows.Z))
        if lp is not None:
            self._keep(g, rows.Z, lp)
        return g

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_cached", None)  # caches: never pickled
        state.pop("_zt", None)
        state.pop("_uw", None)
        return state


def make_mixing(mode, K, Z=None):
    """The mixing model for ``mixing=mode`` ("estimate" or "equal") and a concomitant design.

    Examples
    --------
    >>> make_mixing("estimate", 3).n_params
    2
    >>> make_mixing("equal", 3).n_params
    0
    """
    if mode == "equal":
        return EqualMixing(K)
    if Z is None:
        return ConstantMixing(K, 1)
    return ConcomitantMixing(K, Z.shape[1])
