"""Component models beyond the GLM families (Stata ``fmm``'s list), for ``family=``.

Each object here is a :class:`~emglm.mixture.ComponentFamily`: pass it as ``family=`` to
:class:`emglm.EMGLM` or :meth:`emglm.EMGLM.from_formula` and every component of the mixture
is that model.

=====================================  ==============================================
``OrderedLogit()``, ``OrderedProbit()``  ordered categories; slopes and J-1 cut points
``MNLogit()``                          categories; coefficients per non-base category
``Tobit(lower=, upper=)``              censored Gaussian; coefficients, ``log_sigma``
``TruncatedPoisson(truncation=0)``     counts above the truncation point
``TruncatedNegativeBinomial(...)``     the same with ``log_alpha`` (NB2)
``Beta()``                             y in (0, 1); logit mean, ``log_precision``
``Weibull(status=)``, ``LogNormal``,   survival times with right censoring (survreg's
``Exponential``                        accelerated-failure-time parametrisation)
=====================================  ==============================================

Parameters are unconstrained (``log_sigma``, ``log_alpha``, ``log_precision``; cut points as
the first cut and log increments ``log_dcut2``...), and reported as such with their
standard errors.
"""

from .beta import Beta
from .multinomial import MNLogit
from .ordinal import OrderedLogit, OrderedProbit
from .survival import Exponential, LogNormal, Weibull
from .tobit import Tobit
from .truncated import TruncatedNegativeBinomial, TruncatedPoisson

__all__ = ["OrderedLogit", "OrderedProbit", "MNLogit", "Tobit", "TruncatedPoisson",
           "TruncatedNegativeBinomial", "Beta", "Weibull", "LogNormal", "Exponential"]
