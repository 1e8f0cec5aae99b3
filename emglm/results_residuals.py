"""Residuals of fitted results: the residual attributes of :class:`~emglm.EMGLMResults`.

Response, Pearson and deviance residuals against the pooled (posterior-weighted) mean,
randomized quantile residuals of the mixture, and the Pearson dispersion test; the
computations are in :mod:`emglm.residuals`.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

__all__ = ["ResidualsMixin"]


class ResidualsMixin:
    """Residual attributes; mixed into :class:`~emglm.EMGLMResults` (which supplies the fit)."""

    @cached_property
    def _prior_rows(self):
        """(n, K) prior class probabilities of each training row."""
        pr = np.asarray(self.prior)
        return pr[self.mixture.groups] if self.mixture.groups is not None else pr

    @property
    def _resid_index(self):
        return self.model.row_index

    def _pooled_resid(self, kind):
        from .residuals import pooled_residual

        m = self.model
        r = pooled_residual(kind, m.family, m.endog, self._pooled_train[1], m.trials)
        return pd.Series(r, index=self._resid_index, name=f"resid_{kind}")

    @cached_property
    def resid_response(self):
        """``trials * (y - mu)`` against the pooled mean (statsmodels' definition)."""
        return self._pooled_resid("response")

    @cached_property
    def resid_pearson(self):
        """``sqrt(trials) (y - mu) / sqrt(V(mu))`` against the pooled mean (not divided by a dispersion)."""
        return self._pooled_resid("pearson")

    @cached_property
    def resid_deviance(self):
        """``sign(y - mu) sqrt(unit deviance)`` against the pooled mean (scale 1, trials included).

        ``sum_i w_i resid_deviance_i**2`` equals :attr:`deviance` (frequency weights count
        copies of a row, as in statsmodels).
        """
        return self._pooled_resid("deviance")

    @property
    def deviance(self):
        """Pooled deviance ``sum_i w_i d(y_i, mu_i)`` (unit deviances at the pooled mean)."""
        return float(self.model.freq_weights @ (self.resid_deviance.to_numpy() ** 2))

    @property
    def pearson_chi2(self):
        """``sum_i w_i resid_pearson_i**2`` against the pooled mean."""
        return float(self.model.freq_weights @ (self.resid_pearson.to_numpy() ** 2))

    def resid_quantile(self, random_state=None):
        """Randomized quantile residuals of the mixture (Dunn and Smyth 1996).

        ``Phi^-1(u_i)`` with ``u_i = F(y_i)`` for the row's mixture distribution function
        ``F = sum_j pi_ij F_j`` (prior proportions), drawn uniformly between ``F(y_i-)`` and
        ``F(y_i)`` for discrete responses or a point mass. Standard normal under the model.

        Parameters
        ----------
        random_state : None, int or numpy Generator
            Randomization of discrete responses.

        Returns
        -------
        Series
        """
        from .residuals import quantile_residuals

        r = quantile_residuals(self.mixture, self.theta, self._prior_rows, random_state)
        return pd.Series(r, index=self._resid_index, name="resid_quantile")

    @property
    def df_resid(self):
        """``nobs_effective - df_model``."""
        return self.nobs_effective - self.df_model

    def dispersion_test(self, method="mixture"):
        """Pearson chi-square test of the dispersion.

        Parameters
        ----------
        method : {"mixture", "pooled"}
            ``"mixture"``: residuals standardised by each row's mixture mean and variance
            (prior proportions), which have variance 1 under the model; ``"pooled"``: Pearson
            residuals at the pooled mean divided by the pooled dispersion (emax.glm's view;
            descriptive, the posterior uses the response).

        Returns
        -------
        DispersionTest
            ``statistic`` (sum of weighted squared residuals), ``df_resid`` (nobs minus the
            number of parameters), ``dispersion`` (statistic / df_resid; 1 when the model's
            dispersion is right), ``pvalue_over`` and ``pvalue_under`` (chi-square tails).
        """
        from .residuals import dispersion_test, mixture_moments

        m = self.model
        if method == "mixture":
            mean, var = mixture_moments(self.mixture, self.theta, self._prior_rows)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = (m.endog - mean) / np.sqrt(var)
        elif method == "pooled":
            r = self.resid_pearson.to_numpy() / np.sqrt(self._pooled_train[2])
        else:
            raise ValueError(f"method must be 'mixture' or 'pooled', got {method!r}")
        return dispersion_test(r, m.freq_weights, float(m.freq_weights.sum()) - self.df_model, method)
