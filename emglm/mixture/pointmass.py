"""PointMass: a degenerate class putting all its mass on one value (zero inflation with 0).

Its density is 1 at the value and 0 elsewhere (log-density 0 or ``-inf``); it has no
parameters, so its M-step does nothing and only the mixing proportions move.
"""

from __future__ import annotations

import numpy as np

from .component import Component, Evaluation

__all__ = ["PointMass"]


class PointMass(Component):
    """A class with all its mass at ``value``.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm.mixture import Rows
    >>> rows = Rows(np.array([0.0, 2.0]), np.ones((2, 1)))
    >>> PointMass(0.0, rows).evaluate(np.zeros(0), rows).logpdf
    array([[  0., -inf]])
    """

    n_classes = 1
    is_regression = False

    def __init__(self, value, rows):
        self.value = float(value)
        self._log = np.where(rows.y == self.value, 0.0, -np.inf)[None, :]

    @property
    def n_params(self):
        return 0

    def param_labels(self, class_names):
        return []

    def evaluate(self, params, rows, reuse=None):
        return Evaluation(self._log, b"")

    def mstep(self, params, weights, ev, rows, q0=None):
        return np.zeros(0), ev

    def fit(self, weights, rows, **options):
        return np.zeros(0)

    def score_rows(self, params, ev, weights, rows, sl=slice(None)):
        return np.zeros((len(range(rows.n)[sl]), 0))

    def mean(self, params, rows):
        return np.full((1, rows.n), self.value)

    def cdf(self, params, rows):
        y = rows.y
        return (y >= self.value).astype(float)[None, :], (y > self.value).astype(float)[None, :]

    def moments(self, params, rows):
        return np.full((1, rows.n), self.value), np.zeros((1, rows.n))

    def at_value(self, y):
        """Boolean mask of responses equal to the point."""
        return np.asarray(y) == self.value
