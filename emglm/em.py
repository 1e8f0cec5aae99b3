"""Generic EM driver: iterate a fixed-point map, with optional SQUAREM acceleration.

The driver knows nothing about GLMs. It iterates ``x <- fixed_point(x)`` over a flat
parameter vector, monitors an optional objective (a log-likelihood that EM never
decreases), and stops when the relative change of the objective (or, without an
objective, of the parameters) falls below ``tol``.

Examples
--------
The genetic-linkage example of Dempster, Laird and Rubin (1977):

>>> import numpy as np
>>> from emglm import em
>>> y = np.array([125.0, 18.0, 20.0, 34.0])
>>> def step(x):
...     t = x[0]
...     x2 = y[0] * (t / 4) / (0.5 + t / 4)
...     return np.array([(x2 + y[3]) / (x2 + y[1] + y[2] + y[3])])
>>> out = em.run(step, np.array([0.5]), tol=1e-12)
>>> round(float(out.params[0]), 9)
0.626821498
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np

__all__ = ["run", "EMResult"]


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
        Estimated linear rate of convergence from the last iterations: the median of
        ``|x_{t+1} - x_t| / |x_t - x_{t-1}|`` over the final accepted steps (the ratio
        column of the seed's Table 1). NaN when there are too few iterations.
    n_fallback : int
        SQUAREM only: how many extrapolations were rejected in favour of the plain EM step.
    """

    params: np.ndarray
    n_iter: int
    converged: bool
    history: List[np.ndarray] = field(default_factory=list)
    objective_history: List[float] = field(default_factory=list)
    rate: float = float("nan")
    n_fallback: int = 0

    @property
    def objective(self) -> Optional[float]:
        """Objective at ``params`` (None without an objective)."""
        return self.objective_history[-1] if self.objective_history else None


def _stopped(new, old, tol):
    # relative change with an absolute floor of one, so that objectives near zero still stop
    return abs(new - old) <= tol * (abs(old) + 1.0)


def _param_stopped(x_new, x_old, tol):
    return np.max(np.abs(x_new - x_old)) <= tol * (np.max(np.abs(x_old)) + 1.0)


def estimate_rate(history, n_last=5):
    """Linear rate of convergence from the last accepted iterates.

    Parameters
    ----------
    history : sequence of ndarray
        Successive parameter vectors.
    n_last : int
        How many of the final step ratios to combine (by their median).

    Returns
    -------
    float
        ``median(|x_{t+1}-x_t| / |x_t-x_{t-1}|)`` over the last ``n_last`` ratios, NaN if
        fewer than three iterates.

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
    ratios = [s1 / s0 for s0, s1 in zip(steps[:-1], steps[1:]) if s0 > 0 and s1 > 0]
    if not ratios:
        return float("nan")
    return float(np.median(ratios[-n_last:]))


def run(
    fixed_point: Callable[[np.ndarray], np.ndarray],
    x0,
    objective: Optional[Callable[[np.ndarray], float]] = None,
    tol: float = 1e-8,
    maxiter: int = 1000,
    accelerate: Optional[str] = None,
    in_domain: Optional[Callable[[np.ndarray], bool]] = None,
    keep_history: bool = True,
) -> EMResult:
    """Iterate a fixed-point (EM) map to convergence.

    Parameters
    ----------
    fixed_point : callable
        ``x -> x_new``, one EM step on a flat parameter vector.
    x0 : array_like
        Starting vector.
    objective : callable, optional
        ``x -> float``, the function EM increases (a log-likelihood). With it, convergence is
        ``|f(x_t) - f(x_{t-1})| <= tol * (|f(x_{t-1})| + 1)``; without it, the same rule on the
        largest absolute parameter change.
    tol : float
        Relative tolerance.
    maxiter : int
        Maximum number of evaluations of ``fixed_point``.
    accelerate : {None, "squarem"}
        ``"squarem"``: the squared extrapolation method SqS3 of Varadhan and Roland (2008).
        The extrapolated point is stabilised by one EM step and rejected in favour of the
        plain EM step when it leaves the domain (``in_domain``), is not finite, or lowers the
        objective.
    in_domain : callable, optional
        ``x -> bool``, whether a vector is a valid parameter.
    keep_history : bool
        Keep every accepted vector in ``history`` (set False for huge vectors).

    Returns
    -------
    EMResult

    Examples
    --------
    >>> import numpy as np
    >>> out = run(lambda x: 0.5 * x + 1.0, np.array([0.0]), tol=1e-12, accelerate="squarem")
    >>> round(float(out.params[0]), 8), out.converged
    (2.0, True)
    """
    if accelerate not in (None, "squarem"):
        raise ValueError(f"accelerate must be None or 'squarem', got {accelerate!r}")
    if maxiter < 1:
        raise ValueError(f"maxiter must be a positive integer, got {maxiter!r}")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol!r}")
    x = np.array(x0, dtype=float).ravel()
    history = [x.copy()]
    obj_hist: List[float] = []
    f_x = objective(x) if objective is not None else None
    if f_x is not None:
        obj_hist.append(float(f_x))
    n_eval = 0
    n_fallback = 0
    converged = False
    valid = in_domain if in_domain is not None else (lambda v: True)

    def accept(x_new, f_new):
        if keep_history:
            history.append(x_new.copy())
        if f_new is not None:
            obj_hist.append(float(f_new))

    recent = [x.copy()]  # the last few accepted vectors, for the rate even without history
    while n_eval < maxiter:
        x_old, f_old = x, f_x
        if accelerate is None or maxiter - n_eval < 3:
            x = np.asarray(fixed_point(x_old), dtype=float)
            n_eval += 1
            f_x = objective(x) if objective is not None else None
        else:
            x1 = np.asarray(fixed_point(x_old), dtype=float)
            x2 = np.asarray(fixed_point(x1), dtype=float)
            n_eval += 2
            r = x1 - x_old
            v = x2 - x1 - r
            rr, vv = float(r @ r), float(v @ v)
            x_new, f_new = None, None
            if vv > 0 and np.isfinite(vv):
                alpha = -np.sqrt(rr / vv)
                alpha = min(alpha, -1.0)  # alpha = -1 is the plain two-step EM point
                x_ext = x_old - 2.0 * alpha * r + alpha * alpha * v
                if np.all(np.isfinite(x_ext)) and valid(x_ext):
                    # stabilise the extrapolated point with one EM step
                    x_st = np.asarray(fixed_point(x_ext), dtype=float)
                    n_eval += 1
                    if np.all(np.isfinite(x_st)) and valid(x_st):
                        f_st = objective(x_st) if objective is not None else None
                        if f_st is None or (np.isfinite(f_st) and f_st >= f_old - 1e-12 * (abs(f_old) + 1)):
                            x_new, f_new = x_st, f_st
            if x_new is None:
                n_fallback += 1
                x_new = x2
                f_new = objective(x2) if objective is not None else None
            x, f_x = x_new, f_new
        accept(x, f_x)
        recent.append(x.copy())
        del recent[:-8]
        if objective is not None:
            if _stopped(f_x, f_old, tol):
                converged = True
                break
        elif _param_stopped(x, x_old, tol):
            converged = True
            break
    if not keep_history:
        history.append(x.copy())
    return EMResult(
        params=x,
        n_iter=n_eval,
        converged=converged,
        history=history,
        objective_history=obj_hist,
        rate=estimate_rate(history if keep_history else recent),
        n_fallback=n_fallback,
    )
