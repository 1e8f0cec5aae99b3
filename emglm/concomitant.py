"""The mixing model of a fit: its coefficients and a check for separation.

With concomitant variables the prior class probabilities follow a multinomial logit,
``log(pi_ij / pi_i1) = z_i' gamma_j`` (the first component is the reference); without them
the same holds with ``z_i = 1``. When the concomitant variables (nearly) determine the class,
the likelihood keeps growing as some ``gamma_j`` runs off to infinity, as in a logistic
regression with separated data: the estimate then says only "very large", and its standard
error is meaningless. :func:`warn_mixing_separation` warns about it after a fit.
"""

from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np
import pandas as pd

from .warnings import MixingSeparationWarning

__all__ = ["proportions_jacobian", "MixingParamsMixin", "warn_mixing_separation", "SEPARATION_LOGIT"]

# a prior log-odds beyond this (odds of about 3e6 to 1) only arises when the mixing model is
# separated: the EM has pushed gamma towards infinity
SEPARATION_LOGIT = 15.0


class MixingParamsMixin:
    """``mixing_params`` and ``bse_mixing`` of :class:`emglm.EMGLMResults`."""

    def _mixing_frame(self, flat):
        """Mixing logits (or their standard errors) as terms x non-reference components."""
        rows = [i for i, (c, _) in enumerate(self._theta_labels) if c == "mixing"]
        comps = list(self.component_names[1:])
        if not rows:
            return pd.DataFrame(np.empty((0, 0)))
        terms = [self._theta_labels[i][1].split(":", 1)[1] for i in rows[: len(rows) // len(comps)]]
        vals = np.asarray(flat, dtype=float)[rows].reshape(len(comps), len(terms)).T
        return pd.DataFrame(vals, index=terms, columns=comps)

    @cached_property
    def mixing_params(self):
        """Coefficients of the mixing model, terms x components (DataFrame).

        Multinomial logits of each component against the first (``comp1``, the reference,
        whose column is left out as in statsmodels ``MNLogit``):
        ``log(pi_ij / pi_i1) = z_i' gamma_j``. Rows are the concomitant terms (``Intercept``
        only for constant proportions). Empty for ``mixing="equal"`` (nothing estimated).

        Examples
        --------
        >>> import numpy as np
        >>> from emglm import EMGLM
        >>> rng = np.random.default_rng(0)
        >>> y = np.concatenate([rng.normal(-2, 1, 100), rng.normal(2, 1, 300)])
        >>> res = EMGLM(y, np.ones((400, 1)), k=2).fit()
        >>> bool(np.isclose(res.mixing_params.loc["Intercept", "comp2"],
        ...                 np.log(res.proportions["comp2"] / res.proportions["comp1"])))
        True
        """
        return self._mixing_frame(self.theta)

    @cached_property
    def bse_mixing(self):
        """Standard errors of :attr:`mixing_params`, shaped like it.

        Examples
        --------
        >>> import numpy as np
        >>> from emglm import EMGLM
        >>> rng = np.random.default_rng(0)
        >>> y = np.concatenate([rng.normal(-2, 1, 100), rng.normal(2, 1, 300)])
        >>> res = EMGLM(y, np.ones((400, 1)), k=2).fit()
        >>> res.bse_mixing.shape == res.mixing_params.shape
        True
        """
        return self._mixing_frame(self._bse_flat)



def warn_mixing_separation(res, stacklevel=3):
    """Warn (:class:`~emglm.warnings.MixingSeparationWarning`) when the mixing model is separated.

    The check (models with concomitant variables): some unit's prior log-odds ``z_i' gamma_j``
    (against the reference component) exceeds ``SEPARATION_LOGIT`` in absolute value, i.e. the concomitant model claims that a
    component is millions of times more likely than another for that unit. It needs no
    standard errors, so it costs one matrix product.

    Parameters
    ----------
    res : EMGLMResults

    Returns
    -------
    bool
        Whether a warning was issued.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> y = np.concatenate([rng.normal(-2, 1, 100), rng.normal(2, 1, 100)])
    >>> warn_mixing_separation(EMGLM(y, np.ones((200, 1)), k=2).fit())
    False
    """
    Z = res.model.concomitant_exog
    gamma = res.mixing_params
    if Z is None or gamma.size == 0:
        # constant proportions: a proportion near 0 is an emptied component, which the
        # DegenerateComponentWarning reports already
        return False
    Z = np.asarray(Z, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        logit = Z @ gamma.to_numpy()
    worst = np.nanmax(np.abs(logit)) if logit.size else 0.0
    if not worst > SEPARATION_LOGIT:
        return False
    j, t = np.unravel_index(np.nanargmax(np.abs(gamma.to_numpy())), gamma.shape)
    warnings.warn(
        f"mixing model: prior log-odds up to {worst:.3g} (coefficient {gamma.index[j]!r} of "
        f"{gamma.columns[t]} = {gamma.iat[j, t]:.4g}); the concomitant variables (nearly) separate "
        "the components, so these coefficients are running off to infinity and their standard "
        "errors are not meaningful; consider fewer concomitant terms or a simpler mixing model",
        MixingSeparationWarning, stacklevel=stacklevel)
    return True


def proportions_jacobian(prior, uw, Z):
    """Jacobian of the average proportions ``sum_u uw_u pi_uj`` with respect to the mixing
    logits (classes against the first), from the (units, K) ``prior``, unit weights ``uw``
    and the (units, r) mixing design ``Z``; sums over units, so parts of the units add.

    Examples
    --------
    >>> import numpy as np
    >>> proportions_jacobian(np.array([[0.5, 0.5]]), np.ones(1), np.ones((1, 1)))  # +-p(1-p)
    array([[-0.25],
           [ 0.25]])
    """
    K, r = prior.shape[1], Z.shape[1]
    J = np.zeros((K, (K - 1) * r))
    for j in range(K):
        for l in range(1, K):
            J[j, (l - 1) * r: l * r] = (uw * prior[:, j] * ((j == l) - prior[:, l])) @ Z
    return J
