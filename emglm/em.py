"""Generic EM driver: iterate a fixed-point map, with optional SQUAREM acceleration.

The driver knows nothing about GLMs. It iterates ``x <- fixed_point(x)`` over a flat
parameter vector and monitors an optional objective (a log-likelihood that EM never
decreases). The default stopping rule, ``stop="aitken"``, bounds the distance to the
fixed point rather than the size of the last step: EM converges linearly, ``x_t - x* ~
r (x_{t-1} - x*)`` with rate ``r``, so the error of ``x_t`` is about ``|x_t - x_{t-1}| r /
(1 - r)`` (Aitken's extrapolation of the sequence), and the objective's distance to its
Aitken-extrapolated limit is bounded the same way (Boehning et al. 1994). A rule on the
relative change of the log-likelihood alone (``stop="llf"``) stops where the llf is
accurate but the parameters only about ``sqrt(tol)``.

Examples
--------
The genetic-linkage example of Dempster, Laird and Rubin (1977) in the form given by
Little and Rubin (1987): counts (38, 34, 125) with probabilities (1/2 - t/2, t/4, 1/2 + t/4);
the E-step splits 125 into y3 ~ Binomial(125, (t/4) / (1/2 + t/4)) and the rest:

>>> import numpy as np
>>> from emglm import em
>>> def step(x):
...     y3 = 125 * (x[0] / 4) / (0.5 + x[0] / 4)
...     return np.array([(34 + y3) / (72 + y3)])
>>> out = em.run(step, np.array([0.5]), tol=1e-12)
>>> round(float(out.params[0]), 9), round(out.rate, 4)
(0.626821498, 0.1328)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np

__all__ = ["run", "EMResult", "StopState", "STOP_RULES", "check_stop"]

#: Names of the built-in stopping rules of :func:`run`.
STOP_RULES = ("aitken", "llf", "params")


@dataclass
class EMResult:
    """What :func:`run` returns.

    Attributes
    ----------
    params : ndarray
        The last accepted parameter vector.
    n_iter : int
        Number of evaluations of the fixed-point map (the honest cost, accelerated or not).
    converged : bool
        Whether the stopping rule was met before ``maxiter`` map evaluations.
    history : list of ndarray
        Accepted parameter vectors; ``history[0]`` is ``x0``.
    objective_history : list of float
        Objective at each vector of ``history`` (empty without an objective).
    rate : float
        Estimated linear rate of convergence of the plain EM map from the last iterations
        (the limit of the ratio column of Little and Rubin's iteration table): the median of the last five
        ``|x_{t+1} - x_t| / |x_t - x_{t-1}|`` over accepted steps for plain EM and over
        the two EM steps inside each cycle for SQUAREM (whose accepted sequence is not
        linear; the extrapolation removes most of the slowest direction, so under SQUAREM
        this can underestimate the plain rate - run plain EM to measure it). Steps at
        rounding-noise level are ignored; NaN when none are left.
    n_fallback : int
        SQUAREM only: how many extrapolations were rejected in favour of the plain EM step.
    error_bound : float
        ``stop="aitken"``: at the stop, the largest estimated parameter error relative to
        ``|x_i| + 1``, ``max_i |dx_i| r / (1 - r) / (|x_i| + 1)`` (0 where the last step was
        at rounding-noise level); NaN for the other rules or when no rate was available.
    """

    params: np.ndarray
    n_iter: int
    converged: bool
    history: List[np.ndarray] = field(default_factory=list)
    objective_history: List[float] = field(default_factory=list)
    rate: float = float("nan")
    n_fallback: int = 0
    error_bound: float = float("nan")

    @property
    def objective(self) -> Optional[float]:
        """Objective at ``params`` (None without an objective)."""
        return self.objective_history[-1] if self.objective_history else None


#: estimated error (relative, as in the aitken rule) below which a Newton step is tried
NEWTON_FROM = 3e-3
#: Newton steps tried at most in one run
NEWTON_STEPS = 2

# SQUAREM's step-length bound starts at 1 and is multiplied (divided) by this factor after
# an accepted (rejected) extrapolation that reached it, as in Varadhan and Roland (2008)
_STEP_FACTOR = 4.0


@dataclass
class StopState:
    """What a callable stopping rule of :func:`run` sees after each accepted iterate.

    Attributes
    ----------
    params, previous : ndarray
        The accepted vector and the one before it.
    objective, previous_objective : float or None
        Their objective values (None without an objective).
    rate : float
        Current estimate of the linear rate of the EM map (NaN while unknown).
    n_iter : int
        Map evaluations so far.
    tol : float
        The ``tol`` given to :func:`run`.

    Examples
    --------
    >>> import numpy as np
    >>> rule = lambda s: abs(s.params[0] - s.previous[0]) < s.tol
    >>> out = run(lambda x: 0.5 * x + 1.0, np.array([0.0]), tol=1e-10, stop=rule)
    >>> out.converged, round(float(out.params[0]), 8)
    (True, 2.0)
    """

    params: np.ndarray
    previous: np.ndarray
    objective: Optional[float]
    previous_objective: Optional[float]
    rate: float
    n_iter: int
    tol: float


# rate at and above which parameter steps count as not contracting (see the "flat" case
# of the Aitken rule in `run`)
_FLAT_RATE = 0.999


def _stopped(new, old, tol):
    # relative change with an absolute floor of one, so that objectives near zero still stop
    return abs(new - old) <= tol * (abs(old) + 1.0)


def _param_stopped(x_new, x_old, tol):
    return np.max(np.abs(x_new - x_old)) <= tol * (np.max(np.abs(x_old)) + 1.0)


def _noise_floor(x):
    # below this a step carries a relative rounding error above ~1e-6, so ratios of such
    # steps would spoil the rate estimate near convergence
    return 1e6 * np.finfo(float).eps * (float(np.linalg.norm(x)) + 1.0)


def _aitken_bound(step, x, r):
    """Largest estimated error ``|dx_i| r / (1 - r)`` relative to ``|x_i| + 1`` (inf if r >= 1)."""
    if not np.isfinite(r) or r >= 1.0:
        return np.inf
    return float(np.max(np.abs(step) / (np.abs(x) + 1.0))) * max(r, 0.0) / (1.0 - r)


def _llf_gap(f_hist, tol_abs):
    """Distance of the last objective value to its Aitken-extrapolated limit (Boehning et al.
    1994): ``d1 a / (1 - a)`` with ``d1, d0`` the last two increments and ``a = d1 / d0``.
    Increments at rounding level count as zero; a non-contracting sequence gives inf."""
    if len(f_hist) < 3:
        return np.inf
    f2, f1, f0 = f_hist[-1], f_hist[-2], f_hist[-3]
    d1, d0 = f2 - f1, f1 - f0
    if abs(d1) <= 64 * np.finfo(float).eps * (abs(f2) + 1.0) or d1 <= 0:
        return 0.0  # EM never decreases the objective: a drop is rounding noise
    if d0 <= 0:
        return np.inf
    a = d1 / d0
    return d1 * a / (1.0 - a) if a < 1.0 else np.inf


def estimate_rate(history, n_last=5):
    """Linear rate of convergence from the last accepted iterates.

    For a linearly convergent sequence ``x_t -> x*`` with rate ``r``, the successive steps
    shrink by the same factor: ``|x_{t+1}-x_t| / |x_t-x_{t-1}| -> r``, the limit of the
    ratio ``(x_{t+1}-x*)/(x_t-x*)`` in Little and Rubin's (1987) iteration table (0.1328 for the
    genetic-linkage example). For EM, ``r`` is the largest fraction of missing
    information.

    Parameters
    ----------
    history : sequence of ndarray
        Successive parameter vectors.
    n_last : int
        How many of the final step ratios to combine (by their median).

    Returns
    -------
    float
        ``median(|x_{t+1}-x_t| / |x_t-x_{t-1}|)`` over the last ``n_last`` ratios whose
        steps are above rounding noise; NaN if there are none.

    Examples
    --------
    >>> import numpy as np
    >>> h = [np.array([0.5 ** t]) for t in range(8)]
    >>> estimate_rate(h)
    0.5
    """
    if len(history) < 3:
        return float("nan")
    steps = [np.linalg.norm(b - a) for a, b in zip(history[:-1], history[1:])]
    floors = [_noise_floor(b) for b in history[1:]]
    ratios = [
        s1 / s0
        for s0, s1, f0, f1 in zip(steps[:-1], steps[1:], floors[:-1], floors[1:])
        if s0 > f0 and s1 > f1
    ]
    return _median_last(ratios, n_last)


def _median_last(ratios, n_last):
    if not ratios:
        return float("nan")
    return float(np.median(ratios[-n_last:]))


def _rate(ratios, n_min):
    # the larger of the last two step ratios: an early ratio can be small by chance (a big
    # first step from a poor start), and overestimating r only makes the rule stricter
    if len(ratios) < n_min:
        return float("nan")
    return float(max(ratios[-2:]))


def check_stop(stop, objective=None):
    """Validate a stopping rule for :func:`run` (``objective``: whether there is one).

    Examples
    --------
    >>> check_stop("aitken")
    >>> check_stop("newton")
    Traceback (most recent call last):
    ...
    ValueError: stop must be one of ('aitken', 'llf', 'params') or a callable, got 'newton'
    """
    if callable(stop):
        return
    if not isinstance(stop, str) or stop not in STOP_RULES:
        raise ValueError(f"stop must be one of {STOP_RULES} or a callable, got {stop!r}")
    if stop == "llf" and objective is None:
        raise ValueError("stop='llf' needs an objective; use stop='aitken' or 'params' without one")


def run(
    fixed_point: Callable[[np.ndarray], np.ndarray],
    x0,
    objective: Optional[Callable[[np.ndarray], float]] = None,
    tol: float = 1e-8,
    maxiter: int = 1000,
    accelerate: Optional[str] = None,
    in_domain: Optional[Callable[[np.ndarray], bool]] = None,
    keep_history: bool = True,
    stop="aitken",
    callback: Optional[Callable[[np.ndarray], bool]] = None,
    newton: Optional[Callable[[np.ndarray], Optional[np.ndarray]]] = None,
) -> EMResult:
    """Iterate a fixed-point (EM) map to convergence.

    Parameters
    ----------
    fixed_point : callable
        ``x -> x_new``, one EM step on a flat parameter vector.
    x0 : array_like
        Starting vector.
    objective : callable, optional
        ``x -> float``, the function EM increases (a log-likelihood).
    tol : float
        Tolerance of the stopping rule ``stop``; with the default rule, the largest
        estimated error of a parameter relative to ``|x_i| + 1``.
    maxiter : int
        Maximum number of evaluations of ``fixed_point``. A run that ends here has
        ``converged=False``.
    accelerate : {None, "squarem"}
        ``"squarem"``: the squared extrapolation method SqS3 of Varadhan and Roland (2008).
        Each cycle takes two EM steps, extrapolates with step length ``|r| / |v|`` (at least
        1, the plain two-step point), and stabilises the extrapolated point with one more EM
        step. The result is rejected in favour of the plain two-step EM point when it leaves
        the domain (``in_domain``), is not finite, or lowers the objective. Without an
        objective the step length is also bounded above by a bound that starts at 1, grows
        fourfold while it binds and shrinks fourfold after a rejection.
    in_domain : callable, optional
        ``x -> bool``, whether a vector is a valid parameter.
    keep_history : bool
        Keep every accepted vector in ``history`` (set False for huge vectors).
    stop : {"aitken", "llf", "params"} or callable
        When to stop:

        * ``"aitken"`` (default): the estimated distance to the fixed point is small. With
          ``r`` the rate of the EM map (the larger of the last two ratios of successive
          step lengths), every parameter's error ``|dx_i| r / (1 - r)`` is at most
          ``tol * (|x_i| + 1)`` and, with an objective under plain EM, so is the distance
          of the objective to its Aitken-extrapolated limit relative to ``|f| + 1``. Under
          SQUAREM the rule is checked after each EM step of a cycle (the two plain steps
          and the step that stabilises the extrapolated point), with the rate measured on
          the plain steps, and the run ends at the point where it is met. Steps at rounding-noise level that no longer
          shrink also end the run (the map cannot be resolved further), and so do three
          iterates in a row whose objective is unchanged to rounding while the steps do not
          contract (the parameters drift in a direction the objective does not depend on).
        * ``"llf"``: ``|f(x_t) - f(x_{t-1})| <= tol * (|f(x_{t-1})| + 1)``, the relative
          change of the objective (which needs one). The llf is then about ``tol``
          accurate, the parameters only about ``sqrt(tol)``.
        * ``"params"``: the largest absolute parameter change is at most
          ``tol * (max|x| + 1)``.
        * a callable ``StopState -> bool``, asked after every accepted iterate.
    callback : callable, optional
        ``x -> bool``, called with every accepted vector; a true result ends the run there
        (``converged`` is then False). Used to remove vanishing mixture components.
    newton : callable, optional
        ``x -> x_new or None``: a Newton step on the objective from ``x`` (for a mixture,
        with its observed information and score). With ``stop="aitken"`` and an objective,
        it is tried from an accepted iterate whose estimated error is at most
        :data:`NEWTON_FROM` (at most :data:`NEWTON_STEPS` times) and kept when it is finite,
        in the domain and does not lower the objective. Near the optimum one such step does
        what several EM cycles would (EM converges linearly, Newton quadratically); the EM
        steps that follow it still decide convergence. It is not counted in ``n_iter``.

    Returns
    -------
    EMResult

    Examples
    --------
    >>> import numpy as np
    >>> out = run(lambda x: 0.5 * x + 1.0, np.array([0.0]), tol=1e-12, accelerate="squarem")
    >>> round(float(out.params[0]), 8), out.converged
    (2.0, True)

    The default rule stops once the parameter is accurate to ``tol``; a rule on the last
    step alone stops early on a slow map (rate 0.99):

    >>> f = lambda x: 0.99 * x + 0.01
    >>> a = run(f, np.array([0.0]), tol=1e-8, maxiter=10000)
    >>> p = run(f, np.array([0.0]), tol=1e-8, maxiter=10000, stop="params")
    >>> bool(abs(a.params[0] - 1) < 2e-8), bool(abs(p.params[0] - 1) > 1e-7)
    (True, True)
    """
    if accelerate not in (None, "squarem"):
        raise ValueError(f"accelerate must be None or 'squarem', got {accelerate!r}")
    if isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)) or maxiter < 1:
        raise ValueError(f"maxiter must be a positive integer, got {maxiter!r}")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol!r}")
    if in_domain is not None and not callable(in_domain):
        raise TypeError("in_domain must be callable or None")
    if not callable(fixed_point):
        raise TypeError("fixed_point must be callable")
    check_stop(stop, objective)
    x = np.array(x0, dtype=float).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("x0 must be a non-empty vector of finite numbers")
    history = [x.copy()]
    obj_hist: List[float] = []
    f_x = objective(x) if objective is not None else None
    if f_x is not None:
        obj_hist.append(float(f_x))
    recent_f = list(obj_hist)  # the last three objective values, for the Aitken llf gap
    n_eval = 0
    n_fallback = 0
    converged = False
    error_bound = float("nan")
    valid = in_domain if in_domain is not None else (lambda v: True)

    def accept(x_new, f_new):
        if keep_history:
            history.append(x_new.copy())
        if f_new is not None:
            obj_hist.append(float(f_new))
            recent_f.append(float(f_new))
            del recent_f[:-3]

    # step-length ratios for the rate, gathered as we go so that they survive
    # keep_history=False: plain EM uses successive accepted steps; SQUAREM uses
    # |F(F(x))-F(x)| / |F(x)-x| inside each cycle, the rate of the EM map itself (the
    # accepted SQUAREM sequence is not linearly convergent)
    map_ratios: List[float] = []
    last_step = None  # length of the previous plain EM step (None after a SQUAREM cycle)
    # Without an objective nothing else stops a runaway extrapolation, so the step length
    # is bounded adaptively; with one, the monotonicity check is the safeguard and an
    # unbounded step is much faster on mixtures (benchmarks/bench_squarem.py: 3-9x fewer
    # map evaluations than with the bound)
    step_max = 1.0 if objective is None else np.inf
    aitken = isinstance(stop, str) and stop == "aitken"
    n_newton = 0
    flat = 0  # consecutive accepted iterates whose objective is unchanged to rounding

    def call(v):
        out = np.asarray(fixed_point(v), dtype=float).ravel()
        if out.shape != x.shape:
            raise ValueError(f"fixed_point returned shape {out.shape}, expected {x.shape}")
        return out

    def aitken_done(step_vec, x_new, s_new, s_prev, n_min):
        """The parameter part of the Aitken rule for the EM step ``step_vec`` ending at x_new."""
        nonlocal error_bound
        r = _rate(map_ratios, n_min)
        bound = _aitken_bound(step_vec, x_new, r)
        error_bound = bound if np.isfinite(bound) else float("nan")
        if bound <= tol:
            return True
        if s_new <= _noise_floor(x_new):
            # below the noise floor the step ratios are not used for the rate; such steps
            # end the run when no rate is known or when they have stopped shrinking
            if not np.isfinite(r) or (s_prev is not None and s_new >= s_prev):
                error_bound = 0.0
                return True
        return False

    while n_eval < maxiter:
        x_old, f_old = x, f_x
        done = False
        if accelerate is None or maxiter - n_eval < 3:
            x = call(x_old)
            n_eval += 1
            f_x = objective(x) if objective is not None else None
            step_vec = x - x_old
            step = float(np.linalg.norm(step_vec))
            if last_step is not None and last_step > _noise_floor(x_old) and step > _noise_floor(x):
                map_ratios.append(step / last_step)
            if aitken:
                done = aitken_done(step_vec, x, step, last_step, 2)
                if done and objective is not None and error_bound != 0.0:
                    recent = (recent_f + [float(f_x)])[-3:]
                    done = _llf_gap(recent, tol) <= tol * (abs(f_x) + 1.0)
            last_step = step
        else:
            x1 = call(x_old)
            n_eval += 1
            r = x1 - x_old
            s0 = float(np.linalg.norm(r))
            last_step = None
            if (aitken and map_ratios and np.all(np.isfinite(x1)) and valid(x1)
                    and aitken_done(r, x1, s0, None, 1)):
                # one EM step from the last accepted point already locates the fixed point
                # at the rate of the earlier cycles: the cycle's second step is not needed
                x, f_x, done = x1, (objective(x1) if objective is not None else None), True
            else:
                x2 = call(x1)
                n_eval += 1
                v = x2 - x1 - r
                with np.errstate(over="ignore", invalid="ignore"):  # non-finite is handled below
                    rr, vv = float(r @ r), float(v @ v)
                s1 = float(np.linalg.norm(x2 - x1))
                if s0 > _noise_floor(x1) and s1 > _noise_floor(x2):
                    map_ratios.append(s1 / s0)
                if aitken and np.all(np.isfinite(x2)) and valid(x2) and aitken_done(x2 - x1, x2, s1, s0, 1):
                    # the two plain EM steps of this cycle already locate the fixed point
                    x, f_x, done = x2, (objective(x2) if objective is not None else None), True
                else:
                    x_new, f_new = None, None
                    step_len = 1.0
                    if vv > 0 and np.isfinite(vv):
                        # SqS3 step length |r|/|v|, at least 1 (the plain two-step EM point) and at
                        # most step_max, which grows while the steps hit it and shrinks after a
                        # rejection: early wild extrapolations, far from the fixed point, are held back
                        step_len = min(max(np.sqrt(rr / vv), 1.0), step_max)
                        alpha = -step_len
                        with np.errstate(over="ignore", invalid="ignore"):
                            x_ext = x_old - 2.0 * alpha * r + alpha * alpha * v
                        if np.all(np.isfinite(x_ext)) and valid(x_ext):
                            # stabilise the extrapolated point with one EM step
                            x_st = call(x_ext)
                            n_eval += 1
                            if np.all(np.isfinite(x_st)) and valid(x_st):
                                f_st = objective(x_st) if objective is not None else None
                                if f_st is None or (np.isfinite(f_st) and f_st >= f_old - 1e-12 * (abs(f_old) + 1)):
                                    x_new, f_new = x_st, f_st
                                    # the stabilising step is an EM step too: the rule applies to it
                                    step_st = x_st - x_ext
                                    done = aitken and aitken_done(step_st, x_st, float(np.linalg.norm(step_st)),
                                                                  None, 1)
                    if x_new is None:
                        if rr > 0 and vv > 0:  # a real rejection, not an exactly converged cycle
                            n_fallback += 1
                        x_new = x2
                        f_new = objective(x2) if objective is not None else None
                        if step_len == step_max:
                            step_max = max(1.0, step_max / _STEP_FACTOR)
                    elif step_len == step_max:
                        step_max *= _STEP_FACTOR
                    x, f_x = x_new, f_new
        accept(x, f_x)
        if (newton is not None and aitken and objective is not None and not done and n_newton < NEWTON_STEPS
                and error_bound <= NEWTON_FROM):
            n_newton += 1
            with np.errstate(all="ignore"):
                x_n = newton(x)
            if x_n is not None:
                x_n = np.asarray(x_n, dtype=float).ravel()
                if x_n.shape == x.shape and np.all(np.isfinite(x_n)) and valid(x_n):
                    f_n = objective(x_n)
                    if np.isfinite(f_n) and f_n >= f_x:
                        # (the next EM steps measure the error from here: no rate is taken
                        # from the Newton step itself)
                        x, f_x, last_step = x_n, f_n, None
                        accept(x, f_x)
        if callback is not None and callback(x):
            converged = False
            break
        if aitken:
            if objective is not None and abs(f_x - f_old) <= 64 * np.finfo(float).eps * (abs(f_x) + 1.0):
                flat += 1
            else:
                flat = 0
            r_now = _rate(map_ratios, 1)
            # the objective has stopped moving while the parameters have not stopped moving:
            # they drift along a direction the objective does not depend on (not identified)
            if flat >= 3 and not (r_now < _FLAT_RATE):
                done = True
            converged = done
        elif callable(stop):
            converged = bool(stop(StopState(x, x_old, f_x, f_old, _rate(map_ratios, 1), n_eval, tol)))
        elif stop == "llf":
            converged = _stopped(f_x, f_old, tol)
        else:
            converged = _param_stopped(x, x_old, tol)
        if converged:
            break
    if not keep_history:
        history.append(x.copy())
    return EMResult(
        params=x,
        n_iter=n_eval,
        converged=converged,
        history=history,
        objective_history=obj_hist,
        rate=_median_last(map_ratios, 5),
        n_fallback=n_fallback,
        error_bound=error_bound if aitken else float("nan"),
    )
