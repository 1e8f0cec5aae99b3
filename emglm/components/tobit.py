"""Tobit: a censored Gaussian regression (Stata ``fmm: tobit``).

``y* = x'beta + sigma e`` with ``e`` standard normal; the response is ``y*`` clipped to
``[lower, upper]``: a row at (or beyond) a bound is censored there. Each bound is a number,
a column name of the formula's data, or an array of one value per row (``-inf``/``inf`` or
None for no bound).
"""

from __future__ import annotations

import numbers

import numpy as np

from .base import ResponseFamily
from .locscale import EXACT, LEFT, RIGHT, CensoredLocationScale

__all__ = ["Tobit"]


class TobitComponent(CensoredLocationScale):
    """Censored normal regression; parameters ``beta`` and ``log_sigma``.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm.mixture import Rows
    >>> from emglm.components import Tobit
    >>> comp = Tobit(lower=0).make_component(Rows(np.array([0.0, 1.5]), np.ones((2, 1))), 1)
    >>> comp.censoring(Rows(np.array([0.0, 1.5]), np.ones((2, 1))))[1].tolist()  # left-censored, exact
    [2, 0]
    """

    def _bounds(self, rows):
        n = rows.n
        lo, hi = (self.family.bound(name, rows, n) for name in ("lower", "upper"))
        return lo, hi

    def censoring(self, rows):
        lo, hi = self._bounds(rows)
        y = rows.y
        kind = np.where(y <= lo, LEFT, np.where(y >= hi, RIGHT, EXACT))
        v = np.where(kind == LEFT, lo, np.where(kind == RIGHT, hi, y))
        return v, kind

    def mean_class(self, params, rows):
        """Mean of the latent (uncensored) response ``x'beta``."""
        return self._eta(params, rows)


class Tobit(ResponseFamily):
    """Censored Gaussian regression components (Stata ``fmm: tobit``).

    Parameters
    ----------
    lower, upper : None, number, column name or array
        Censoring bounds: a response at or below ``lower`` is left-censored there, one at or
        above ``upper`` right-censored. A column name (formulas) or an array (one value per
        row) gives per-row bounds.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> from emglm.components import Tobit
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=500)
    >>> y = np.maximum(1.0 + 2.0 * x + rng.normal(size=500), 0.0)
    >>> res = EMGLM(y, np.column_stack([np.ones(500), x]), k=1, family=Tobit(lower=0)).fit()
    >>> np.round(res.params["comp1"].to_numpy(), 1)
    array([ 0.9,  2. , -0.1])
    """

    name = "Tobit"
    has_scale = True
    component_class = TobitComponent

    def __init__(self, lower=None, upper=None):
        for nm, b in (("lower", lower), ("upper", upper)):
            if isinstance(b, bool) or not (b is None or isinstance(b, (numbers.Real, str, np.ndarray, list, tuple))
                                          or hasattr(b, "__array__")):
                raise TypeError(f"Tobit {nm} must be None, a number, a column name or an array, got {b!r}")
            if isinstance(b, numbers.Real) and np.isnan(b):
                raise ValueError(f"Tobit {nm} must not be NaN (use None for no bound)")
        if isinstance(lower, numbers.Real) and isinstance(upper, numbers.Real) and not lower < upper:
            raise ValueError(f"Tobit: lower ({lower}) must be below upper ({upper})")
        self.lower, self.upper = lower, upper

    def extra_data(self):
        return {nm: b for nm, b in (("lower", self.lower), ("upper", self.upper))
                if b is not None and not isinstance(b, numbers.Real)}

    def bound(self, name, rows, n):
        """Per-row bound ``name`` (``lower`` or ``upper``) as an array of length ``n``."""
        if name in rows.extra:
            return rows.extra[name]
        b = getattr(self, name)
        default = -np.inf if name == "lower" else np.inf
        return np.full(n, default if b is None else float(b))

    def check_data(self, y, extra, name="endog"):
        from ..mixture import Rows

        y = np.asarray(y, dtype=float)
        rows = Rows(y, np.ones((y.size, 1)), extra=extra)
        lo, hi = self.bound("lower", rows, y.size), self.bound("upper", rows, y.size)
        if np.any(lo >= hi):
            raise ValueError(f"Tobit: lower must be below upper in every row; {int(np.sum(lo >= hi))} row(s) are not")
        below, above = int(np.sum(y < lo)), int(np.sum(y > hi))
        if below or above:
            raise ValueError(
                f"{name}: {below} value(s) below the lower bound and {above} above the upper bound; a "
                "censored response lies on its bound (check lower=/upper= against the data)")
        if not np.any((y > lo) & (y < hi)):
            raise ValueError(f"{name}: every row is censored; sigma cannot be estimated")

    def __repr__(self):
        def show(b):
            return repr(b) if b is None or isinstance(b, (numbers.Real, str)) else "array"

        return f"Tobit(lower={show(self.lower)}, upper={show(self.upper)})"
