"""The flat parameter vector shared by the EM driver and the inference code.

Layout, in order::

    beta   k x p   component coefficients, component-major (beta[j] is component j's)
    delta  q       coefficients shared by all components (``fixed=``)
    lscale s       log dispersions: k ("component"), 1 ("shared") or 0 (no dispersion)
    gamma  (K-1) x r  multinomial-logit mixing coefficients, component 0 the reference
                   (r = 1 for constant proportions; absent for ``mixing="equal"``)

K is the number of mixture classes: k GLM components plus an optional point mass. Log
dispersions and logits keep the vector unconstrained, which SQUAREM extrapolation and
finite-difference Hessians need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ParamLayout", "Params"]


@dataclass
class Params:
    """Unpacked parameters: ``beta`` (k, p), ``delta`` (q,), ``scale`` (k,), ``gamma`` (K-1, r)."""

    beta: np.ndarray
    delta: np.ndarray
    scale: np.ndarray
    gamma: np.ndarray


@dataclass(frozen=True)
class ParamLayout:
    """Slices of the flat vector.

    Examples
    --------
    >>> lay = ParamLayout(k=2, p=3, q=0, n_scale=2, K=2, r=1, estimate_mixing=True)
    >>> lay.size
    9
    >>> P = lay.unpack(np.arange(9.0))
    >>> P.beta.shape, P.scale.shape, P.gamma.shape
    ((2, 3), (2,), (1, 1))
    """

    k: int
    p: int
    q: int
    n_scale: int
    K: int
    r: int
    estimate_mixing: bool

    @property
    def n_beta(self):
        return self.k * self.p

    @property
    def n_gamma(self):
        return (self.K - 1) * self.r if self.estimate_mixing else 0

    @property
    def size(self):
        return self.n_beta + self.q + self.n_scale + self.n_gamma

    @property
    def slices(self):
        a = self.n_beta
        b = a + self.q
        c = b + self.n_scale
        return slice(0, a), slice(a, b), slice(b, c), slice(c, c + self.n_gamma)

    def unpack(self, theta) -> Params:
        sb, sd, ss, sg = self.slices
        theta = np.asarray(theta, dtype=float)
        beta = theta[sb].reshape(self.k, self.p)
        delta = theta[sd]
        if self.n_scale == 0:
            scale = np.ones(self.k)
        else:
            scale = np.broadcast_to(np.exp(theta[ss]), (self.k,)).copy()
        gamma = theta[sg].reshape(self.K - 1, self.r) if self.estimate_mixing else np.zeros((self.K - 1, self.r))
        return Params(beta=beta, delta=delta, scale=scale, gamma=gamma)

    def pack(self, P: Params) -> np.ndarray:
        parts = [np.asarray(P.beta, float).ravel(), np.asarray(P.delta, float).ravel()]
        if self.n_scale:
            sc = np.asarray(P.scale, float)
            parts.append(np.log(sc[: self.n_scale]))
        if self.estimate_mixing:
            parts.append(np.asarray(P.gamma, float).ravel())
        return np.concatenate(parts)
