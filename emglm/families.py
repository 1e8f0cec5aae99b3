"""Component families: a thin adapter over statsmodels GLM families.

Each mixture component is a GLM of one statsmodels family with its link. This module
supplies what the EM needs from a family and nothing else (flexmix's split):

* the per-row log-density ``log f(y_i; mu_i, phi)`` (with binomial trials),
* the IRLS working weights and response for a weighted (frequency-weight) fit,
* the maximum-likelihood dispersion given fitted means and weights.

The statsmodels family and link objects are reused for variance, link derivatives and
starting values; log-densities of the common families are written out here because the
statsmodels versions either keep state on the family (Binomial trials) or recompute
y-only constants on every call (``gammaln(y + 1)``), which is most of an E-step's cost.
Tests hold every log-density equal to statsmodels ``loglike_obs``.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special
import statsmodels.genmod.families as smf
import statsmodels.genmod.families.links as sml

__all__ = ["FamilyAdapter", "family_name", "is_component_family", "check_family", "check_family_parameters",
           "SUPPORTED_FAMILIES", "TWEEDIE_POWER_RANGE"]

SUPPORTED_FAMILIES = (
    smf.Gaussian,
    smf.Poisson,
    smf.Binomial,
    smf.Gamma,
    smf.InverseGaussian,
    smf.NegativeBinomial,
    smf.Tweedie,
)

_EPS = np.finfo(float).eps

# families whose dispersion is estimated; the others have phi = 1
_SCALED = (smf.Gaussian, smf.Gamma, smf.InverseGaussian, smf.Tweedie)


def link_deriv(link, mu):
    """``g'(mu)``; for the log link ``1 / mu`` written out, because statsmodels clips ``mu`` at
    machine epsilon first, which makes responses in small units (``y * 1e-20``) fit wrongly.

    Examples
    --------
    >>> import numpy as np, statsmodels.genmod.families.links as sml
    >>> float(link_deriv(sml.Log(), np.array([1e-20]))[0])
    1e+20
    """
    if type(link) is sml.Log:
        return 1.0 / mu
    return link.deriv(mu)


def link_deriv2(link, mu):
    """``g''(mu)`` (for the log link ``-1 / mu^2``, unclipped as in :func:`link_deriv`)."""
    if type(link) is sml.Log:
        return -1.0 / (mu * mu)
    return link.deriv2(mu)


def link_fn(link, mu):
    """``g(mu)`` (for the log link ``log(mu)``, unclipped as in :func:`link_deriv`)."""
    if type(link) is sml.Log:
        return np.log(mu)
    return link(mu)


def is_component_family(family) -> bool:
    """Whether ``family`` makes its own components (an :class:`emglm.mixture.ComponentFamily`).

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> is_component_family(sm.families.Poisson())
    False
    """
    return callable(getattr(family, "make_component", None)) and not isinstance(family, type)


def family_name(family) -> str:
    """Short name of a statsmodels family instance, e.g. ``'Poisson'``.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> family_name(sm.families.Poisson())
    'Poisson'
    """
    if is_component_family(family):
        return str(getattr(family, "name", type(family).__name__))
    return type(family).__name__


def check_family(family):
    """Validate ``family``: a statsmodels family instance of a supported kind.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> check_family(sm.families.Gamma()).__class__.__name__
    'Gamma'
    """
    if is_component_family(family):
        return family
    if isinstance(family, type) and issubclass(family, smf.Family):
        raise TypeError(
            f"family must be a statsmodels family instance such as sm.families.{family.__name__}(), "
            f"not the class {family.__name__}"
        )
    if not isinstance(family, smf.Family):
        raise TypeError(
            "family must be a statsmodels family instance (e.g. sm.families.Poisson()) or a "
            f"component family (emglm.mixture.ComponentFamily), got {family!r}"
        )
    if not isinstance(family, SUPPORTED_FAMILIES):
        names = ", ".join(c.__name__ for c in SUPPORTED_FAMILIES)
        raise TypeError(f"family {family_name(family)} is not supported; supported families: {names}")
    check_family_parameters(family)
    return family


# Tweedie variance powers for which the log-density (statsmodels' series for the compound
# Poisson-gamma distribution) is finite: 1 (Poisson-like) to 2 (gamma); outside it returns NaN
TWEEDIE_POWER_RANGE = (1.0, 2.0)


def check_family_parameters(family):
    """ValueError naming the parameter when a family's own parameter is out of range.

    NegativeBinomial ``alpha`` must be a positive finite number; Tweedie ``var_power`` must lie
    in ``TWEEDIE_POWER_RANGE`` (the compound Poisson-gamma range, where emglm's density works).

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> check_family_parameters(sm.families.NegativeBinomial(alpha=-1.0))
    Traceback (most recent call last):
    ...
    ValueError: family: NegativeBinomial alpha must be a positive number, got -1.0
    """
    if isinstance(family, smf.NegativeBinomial):
        a = getattr(family, "alpha", None)
        if not (isinstance(a, (int, float, np.floating, np.integer)) and np.isfinite(a) and a > 0):
            raise ValueError(f"family: NegativeBinomial alpha must be a positive number, got {a!r}")
    if isinstance(family, smf.Tweedie):
        p = getattr(family, "var_power", None)
        lo, hi = TWEEDIE_POWER_RANGE
        if not (isinstance(p, (int, float, np.floating, np.integer)) and lo <= p <= hi):
            raise ValueError(
                f"family: Tweedie var_power must lie in [{lo:g}, {hi:g}] (the compound Poisson-gamma "
                f"range, where the Tweedie log-density is available), got {p!r}; for var_power=0 use "
                "Gaussian, 3 InverseGaussian")


class FamilyAdapter:
    """What the EM needs from one statsmodels family, bound to one response.

    Parameters
    ----------
    family : statsmodels.genmod.families.Family
        The component family (with its link).
    endog : ndarray
        Response; for Binomial the proportion of successes.
    trials : ndarray
        Binomial numbers of trials (ones otherwise).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> fa = FamilyAdapter(sm.families.Poisson(), np.array([0.0, 2.0]), np.ones(2))
    >>> eta = np.zeros(2)
    >>> np.round(fa.loglike(eta, fa.mean(eta), 1.0), 4)
    array([-1.    , -1.6931])
    """

    def __init__(self, family, endog, trials):
        self.family = check_family(family)
        self.link = family.link
        self.name = family_name(family)
        self.has_scale = isinstance(family, _SCALED)
        self.y = np.asarray(endog, dtype=float)
        self.trials = np.asarray(trials, dtype=float)
        # exact types: Probit, Cauchy and CLogLog subclass Logit in statsmodels
        self._canonical_logit = isinstance(family, smf.Binomial) and type(self.link) is sml.Logit
        self._canonical_log = isinstance(family, smf.Poisson) and type(self.link) is sml.Log
        #: canonical Poisson-log or Binomial-logit link (``d log f / d eta = trials (y - mu)``)
        self.canonical = self._canonical_log or self._canonical_logit
        #: the log-density from predictor and mean is a multiply-add (no logarithm): cheaper
        #: to remake in a later pass than to keep whole
        self.cheap_loglike = self._canonical_log
        # Gaussian with identity link: the weighted least-squares step maximises the
        # component's weighted log-likelihood exactly, so no step-halving check is needed
        self.exact_wls = isinstance(family, smf.Gaussian) and type(self.link) is sml.Identity

    @property
    def const(self):
        """The y-only part of the log-density (an (n,) array or None), computed when first
        needed: the checks before a fit never need it, and a mixture takes it from its rows."""
        try:
            return self._const_value
        except AttributeError:
            self._const_value = self._constant()
            return self._const_value

    def use_constant(self, const):
        """Take the y-only constant computed elsewhere for the same response and family."""
        self._const_value = const

    # ----------------------------------------------------------------- log-density
    def _constant(self):
        """The part of the log-density that depends on y only (computed once)."""
        y, n = self.y, self.trials
        fam = self.family
        if isinstance(fam, smf.Poisson):
            return -special.gammaln(y + 1.0)
        if isinstance(fam, smf.Binomial):
            s = y * n
            return special.gammaln(n + 1.0) - special.gammaln(s + 1.0) - special.gammaln(n - s + 1.0)
        if isinstance(fam, (smf.Gamma, smf.InverseGaussian)) and np.all(y > 0):
            # log y (Gamma) and log(2 pi y^3) (inverse Gaussian); responses are checked
            # positive before a fit, the guard only keeps construction on bad data quiet
            return np.log(y) if isinstance(fam, smf.Gamma) else np.log(2.0 * np.pi * y ** 3)
        return None

    def mean(self, eta, out=None):
        """Inverse link (written into ``out`` when given).

        The canonical Poisson and Binomial links use ``np.exp`` and ``scipy.special.expit``
        directly: the statsmodels link objects compute the same values with extra
        temporaries, and the mean is on every E-step's critical path.

        Examples
        --------
        >>> import numpy as np, statsmodels.api as sm
        >>> fa = FamilyAdapter(sm.families.Binomial(), np.array([0.5]), np.ones(1))
        >>> fa.mean(np.array([0.0, np.log(3.0)]))
        array([0.5 , 0.75])
        """
        if self._canonical_log:
            return np.exp(eta, out=out)
        if self._canonical_logit:
            return special.expit(eta, out=out)
        mu = self.link.inverse(eta)
        if out is None:
            return mu
        out[...] = mu
        return out

    def _rows(self, rows):
        """(y, trials, const) restricted to a block of rows (all rows for None)."""
        if rows is None:
            return self.y, self.trials, self.const
        c = None if self.const is None else self.const[rows]
        return self.y[rows], self.trials[rows], c

    def loglike(self, eta, mu, scale, rows=None):
        """Per-row log-density at linear predictor ``eta`` / mean ``mu`` and dispersion ``scale``.

        ``eta`` and ``mu`` are (m,) or, for several components at once, (k, m); ``rows``
        (a slice) says which rows of the response they belong to (all rows by default), and
        ``scale`` is a scalar or a (k, 1) column for the (k, m) form.

        Examples
        --------
        >>> import numpy as np, statsmodels.api as sm
        >>> fa = FamilyAdapter(sm.families.Gaussian(), np.array([1.0]), np.ones(1))
        >>> float(np.round(fa.loglike(np.zeros(1), np.zeros(1), 1.0)[0], 6))
        -1.418939
        """
        y, n, const = self._rows(rows)
        fam = self.family
        if isinstance(fam, smf.Poisson):
            if self._canonical_log:
                # mu = exp(eta) is passed in: no second exponential; y * eta - mu + const
                # evaluated in that order in one buffer (it is remade in every E-step's pass)
                out = np.multiply(y, eta)
                if out.shape != np.shape(mu):
                    return out - mu + const
                out -= mu
                out += const
                return out
            with np.errstate(divide="ignore"):
                return special.xlogy(y, mu) - mu + const
        if isinstance(fam, smf.Binomial):
            s = y * n
            if self._canonical_logit:
                # s*eta - n*log(1+exp(eta)) with log(1+exp(eta)) = max(eta,0) - log(v),
                # v = mu (eta > 0) or 1 - mu (eta <= 0) in [0.5, 1]: one log instead of
                # logaddexp's exp + log1p, and stable for large |eta|
                v = np.where(eta > 0, mu, 1.0 - mu)
                return s * eta - n * (np.maximum(eta, 0.0) - np.log(v)) + const
            with np.errstate(divide="ignore"):
                return special.xlogy(s, mu) + special.xlog1py(n - s, -mu) + const
        if isinstance(fam, smf.Gaussian):
            r = y - mu
            return -0.5 * (r * r / scale + np.log(2.0 * np.pi * scale))
        if const is not None and isinstance(fam, smf.Gamma):
            # statsmodels' Gamma loglike_obs with nu = 1/scale, written out because it
            # recomputes log(y) and gammaln(nu) for every row (three times our cost)
            nu = 1.0 / np.asarray(scale, dtype=float)
            # y / mu clipped below at machine epsilon, as statsmodels does (mu < 0 or inf
            # under the inverse-power link would otherwise give NaN or -inf)
            r = np.clip(y / mu, _EPS, np.inf)
            return nu * (np.log(r) - r) + (nu * np.log(nu) - special.gammaln(nu)) - const
        if const is not None and isinstance(fam, smf.InverseGaussian):
            r = y - mu
            return -0.5 * (r * r / (scale * y * mu * mu) + np.log(scale) + const)
        # NegativeBinomial, Tweedie: statsmodels' own density, one component at a time
        if np.ndim(mu) == 2:
            sc = np.broadcast_to(np.asarray(scale, dtype=float).reshape(-1), (mu.shape[0],))
            return np.stack([fam.loglike_obs(y, m, 1.0, float(c)) for m, c in zip(mu, sc)])
        return fam.loglike_obs(y, mu, 1.0, scale)

    # ----------------------------------------------------------------- IRLS
    def working(self, eta, offset):
        """IRLS working weights (without frequency weights) and working response.

        Returns ``(w, z)`` with ``w = trials / (V(mu) g'(mu)^2)`` and
        ``z = eta - offset + (y - mu) g'(mu)``, the statsmodels IRLS quantities.
        """
        mu = self.link.inverse(eta)
        d = link_deriv(self.link, mu)
        w = self.trials / (self.family.variance(mu) * d * d)
        z = eta - offset + (self.y - mu) * d
        return w, z

    def irls_terms(self, eta, mu, offset, rows=None):
        """IRLS weights and weighted working response from a known mean.

        Returns ``(w, u)`` with ``w`` as in :meth:`working` and ``u = w * z``; canonical
        links (Poisson-log, Binomial-logit) and Gaussian-identity skip the link derivative
        and the division (``w z = w (eta - offset) + trials (y - mu)`` when ``V g' = 1``).
        ``eta`` and ``mu`` may be (k, m) for a block of rows ``rows``, as in :meth:`loglike`;
        ``offset`` is then that block's offset.

        Examples
        --------
        >>> import numpy as np, statsmodels.api as sm
        >>> fa = FamilyAdapter(sm.families.Poisson(), np.array([1.0, 3.0]), np.ones(2))
        >>> eta = np.log(np.array([2.0, 2.0]))
        >>> w, u = fa.irls_terms(eta, np.exp(eta), 0.0)
        >>> w0, z0 = fa.working(eta, 0.0)
        >>> bool(np.allclose(w, w0) and np.allclose(u, w0 * z0))
        True
        """
        y, n, _ = self._rows(rows)
        if self.exact_wls:
            w = np.broadcast_to(n, np.shape(eta))
            return w, np.broadcast_to(n * (y - offset), np.shape(eta))
        if self._canonical_log or self._canonical_logit:
            w = mu if self._canonical_log else mu * (1.0 - mu)
            w = n * w
            return w, w * (eta - offset) + n * (y - mu)
        d = link_deriv(self.link, mu)
        w = n / (self.family.variance(mu) * d * d)
        return w, w * (eta - offset + (y - mu) * d)

    def start_eta(self):
        """Linear predictor at statsmodels' starting mean (first IRLS iteration)."""
        return link_fn(self.link, self.family.starting_mu(self.y))

    # ----------------------------------------------------------------- dispersion
    #: families whose dispersion is a function of two sums over rows (:meth:`scale_sums`)
    @property
    def scale_by_sums(self):
        return isinstance(self.family, (smf.Gaussian, smf.InverseGaussian, smf.Gamma))

    def scale_sums(self, mu, w, rows=None):
        """``(sum w, sum w d)`` for one class: what its weighted-ML dispersion needs.

        ``d`` is ``(y - mu)^2`` (Gaussian), ``(y - mu)^2 / (y mu^2)`` (inverse Gaussian) or
        ``log(y / mu) - y / mu`` (Gamma); sums from several blocks or partitions add.
        ``rows`` (a slice) says which rows of the response ``mu`` belongs to.

        Examples
        --------
        >>> import numpy as np, statsmodels.api as sm
        >>> fa = FamilyAdapter(sm.families.Gaussian(), np.array([1.0, 3.0]), np.ones(2))
        >>> fa.scale_sums(np.array([2.0, 2.0]), np.ones(2))
        (2.0, 2.0)
        """
        y = self.y if rows is None else self.y[rows]
        fam = self.family
        if isinstance(fam, smf.Gaussian):
            d = (y - mu) ** 2
        elif isinstance(fam, smf.InverseGaussian):
            d = (y - mu) ** 2 / (y * mu * mu)
        else:
            d = np.log(y / mu) - y / mu
        return float(w.sum()), float(w @ d)

    def scale_from_sums(self, sums):
        """Weighted-ML dispersion from the :meth:`scale_sums` of the classes sharing it."""
        W = sum(a for a, _ in sums)
        if W <= 0:
            return 1.0
        S = sum(b for _, b in sums) / W
        if not isinstance(self.family, smf.Gamma):
            return S
        # d/dnu of sum w [nu log(nu y/mu) - nu y/mu - lgamma(nu)] = 0, nu = 1/phi:
        # log(nu) - digamma(nu) = c with c = -1 - mean_w(log(y/mu) - y/mu) >= 0
        c = -1.0 - S
        if not np.isfinite(c):
            return float("nan")  # means out of range somewhere: the caller keeps the old value
        if not c > 0:
            return 0.0  # perfect fit; the caller's variance floor deals with it

        def f(lv):
            return lv - special.digamma(np.exp(lv)) - c

        lo, hi = -40.0, 40.0
        if f(hi) > 0:
            return float(np.exp(-hi))
        if f(lo) < 0:  # the means are far off the responses: the largest dispersion searched
            return float(np.exp(-lo))
        lv = optimize.brentq(f, lo, hi, xtol=1e-14)
        return float(np.exp(-lv))

    def scale_mle(self, mus, wts):
        """Weighted maximum-likelihood dispersion pooled over columns.

        Parameters
        ----------
        mus, wts : list of ndarray
            Fitted means and weights of each component sharing the dispersion (one entry for
            a component's own dispersion).

        Returns
        -------
        float
            1.0 for families without a dispersion parameter.
        """
        if not self.has_scale:
            return 1.0
        if self.scale_by_sums:
            return self.scale_from_sums([self.scale_sums(m, w) for m, w in zip(mus, wts)])
        y = self.y
        W = sum(float(w.sum()) for w in wts)
        if W <= 0:
            return 1.0
        fam = self.family
        # Tweedie: one-dimensional search on log(phi)
        def negll(lphi):
            phi = np.exp(lphi)
            return -sum(float(w @ fam.loglike_obs(y, m, 1.0, phi)) for m, w in zip(mus, wts))

        pearson = sum(float(w @ ((y - m) ** 2 / fam.variance(m))) for m, w in zip(mus, wts)) / W
        c = np.log(max(pearson, 1e-12))
        res = optimize.minimize_scalar(negll, bracket=(c - 1.0, c + 1.0), tol=1e-10)
        return float(np.exp(res.x))

    # ----------------------------------------------------------------- domain
    def check_endog(self, name="endog"):
        """Raise ValueError when the response is outside the family's support."""
        y = self.y
        fam = self.family
        if isinstance(fam, (smf.Poisson, smf.NegativeBinomial)) and np.any(y < 0):
            raise ValueError(f"{name}: {self.name} responses must be non-negative counts; found {int(np.sum(y < 0))} negative value(s)")
        if isinstance(fam, smf.Binomial) and (np.any(y < 0) or np.any(y > 1)):
            raise ValueError(
                f"{name}: Binomial responses must be proportions in [0, 1] (or successes + failures "
                f"columns with successes <= trials); found {int(np.sum((y < 0) | (y > 1)))} value(s) outside"
            )
        if isinstance(fam, (smf.Gamma, smf.InverseGaussian)) and np.any(y <= 0):
            raise ValueError(f"{name}: {self.name} responses must be positive; found {int(np.sum(y <= 0))} value(s) <= 0")
        if isinstance(fam, smf.Tweedie) and np.any(y < 0):
            raise ValueError(f"{name}: Tweedie responses must be non-negative; found {int(np.sum(y < 0))} negative value(s)")
        if isinstance(fam, smf.Tweedie) and fam.var_power >= 2 and np.any(y <= 0):
            raise ValueError(f"{name}: Tweedie responses with var_power=2 must be positive (zeros are only "
                             f"possible for var_power < 2); found {int(np.sum(y <= 0))} value(s) <= 0")
