"""Parametric survival regressions with right censoring, as R's ``survreg`` fits them.

Accelerated failure time: ``log T = x'beta + sigma Z`` with ``Z`` smallest-extreme-value
(:class:`Weibull`; sigma = 1 is :class:`Exponential`) or normal (:class:`LogNormal`). A row
with status 1 is an event at ``t``, status 0 is right-censored at ``t``. The log-likelihood is
on the time scale (the density of ``t``, not of ``log t``), the figure ``survreg`` reports;
the scale parameter is ``log_sigma`` (survreg's ``Log(scale)``).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .base import ResponseFamily
from .locscale import EXACT, RIGHT, CensoredLocationScale, ExtremeValue, Normal

__all__ = ["Weibull", "LogNormal", "Exponential"]


class AFTComponent(CensoredLocationScale):
    """Accelerated-failure-time component; the family chooses the distribution.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm.mixture import Rows
    >>> from emglm.components import Exponential
    >>> Exponential().make_component(Rows(np.array([1.0, 2.0]), np.ones((2, 1))), 2).n_params
    2
    """

    log_time = True

    def __init__(self, rows, k, family):
        self.dist = family.dist
        self.fixed_scale = family.fixed_scale
        super().__init__(rows, k, family)

    def censoring(self, rows):
        status = self.family.status_of(rows)
        return np.log(rows.y), np.where(status == 1, EXACT, RIGHT)

    def mean_class(self, params, rows):
        """Mean survival time ``E T`` of a row."""
        eta, sigma = self._eta(params, rows), self.sigma(params)
        if self.dist is Normal:
            return np.exp(eta + 0.5 * sigma ** 2)
        with np.errstate(over="ignore"):
            return np.exp(eta) * special.gamma(1.0 + sigma)


class _Survival(ResponseFamily):
    component_class = AFTComponent
    fixed_scale = False
    has_scale = True

    def __init__(self, status=None):
        if status is not None and not isinstance(status, str) and np.ndim(status) != 1:
            raise TypeError(f"{self.name}: status must be a column name or a 1-d array of 0/1, got {status!r}")
        self.status = status

    def extra_data(self):
        return {} if self.status is None else {"status": self.status}

    def status_of(self, rows):
        """Status of each row (all events when no status was given)."""
        return rows.extra["status"] if "status" in rows.extra else np.ones(rows.n)

    def check_data(self, y, extra, name="endog"):
        y = np.asarray(y, dtype=float)
        bad = int(np.sum(~(y > 0)))
        if bad:
            raise ValueError(f"{name}: survival times must be positive; {bad} value(s) are not")
        if "status" in extra:
            st = extra["status"]
            nb = int(np.sum((st != 0) & (st != 1)))
            if nb:
                vals = sorted(set(np.unique(st[(st != 0) & (st != 1)]).tolist()))[:5]
                raise ValueError(f"status: must be 1 (event) or 0 (right-censored); {nb} value(s) are not, "
                                 f"e.g. {vals}")
            if not np.any(st == 1):
                raise ValueError("status: no events (every row is censored); the model cannot be estimated")

    def __repr__(self):
        st = self.status if self.status is None or isinstance(self.status, str) else "array"
        return f"{type(self).__name__}(status={st!r})"


class Weibull(_Survival):
    """Weibull accelerated-failure-time components (survreg ``dist="weibull"``).

    Parameters
    ----------
    status : column name or array, optional
        1 = event, 0 = right-censored at the time given (default: all events).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> from emglm.components import Weibull
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=800)
    >>> t = np.exp(1.0 + 0.5 * x + 0.5 * np.log(rng.exponential(size=800)))
    >>> res = EMGLM(t, np.column_stack([np.ones(800), x]), k=1, family=Weibull()).fit()
    >>> np.round(res.params["comp1"].to_numpy(), 1)
    array([ 1. ,  0.5, -0.7])
    """

    name = "Weibull"
    dist = ExtremeValue


class Exponential(_Survival):
    """Exponential accelerated-failure-time components (survreg ``dist="exponential"``).

    Parameters
    ----------
    status : column name or array, optional
        1 = event, 0 = right-censored (default: all events).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> from emglm.components import Exponential
    >>> rng = np.random.default_rng(0)
    >>> t = rng.exponential(2.0, size=2000)
    >>> res = EMGLM(t, np.ones((2000, 1)), k=1, family=Exponential()).fit()
    >>> round(float(np.exp(res.params.iloc[0, 0])), 1)
    2.0
    """

    name = "Exponential"
    dist = ExtremeValue
    fixed_scale = True
    has_scale = False


class LogNormal(_Survival):
    """Log-normal accelerated-failure-time components (survreg ``dist="lognormal"``).

    Parameters
    ----------
    status : column name or array, optional
        1 = event, 0 = right-censored (default: all events).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> from emglm.components import LogNormal
    >>> rng = np.random.default_rng(0)
    >>> t = np.exp(rng.normal(1.0, 0.5, size=2000))
    >>> res = EMGLM(t, np.ones((2000, 1)), k=1, family=LogNormal()).fit()
    >>> np.round(res.params["comp1"].to_numpy(), 1)
    array([ 1. , -0.7])
    """

    name = "LogNormal"
    dist = Normal
