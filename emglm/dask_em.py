"""EM over the partitions of a dask DataFrame: each iteration a few map-reduce passes.

Every partition keeps, on its worker, an in-memory :class:`~emglm.mixture.Mixture` of its
rows whose GLM component solves on the whole data's standardisation (so the partitions'
Gram sums add up). One EM iteration, with the parameter vector broadcast:

1. *E-step pass*: each partition's E-step (kept on the worker) and the M-step's sums: per
   GLM component the IRLS Gram matrices ``D'WD`` and right-hand sides ``D'Wz`` and the
   criterion ``sum W log f``; for the mixing model the posterior totals, or the
   multinomial logit's criterion, score and information; the log-likelihood.
2. *Trial pass*: the criterion and the dispersion sums at each component's IRLS candidate
   (and the logit's criterion at its Newton candidate). Step halving repeats this pass for
   what lowered its criterion, exactly as the in-memory M-step does.

A tree reduction adds the partitions' sums on the workers; the client only solves the small
systems. The EM driver (SQUAREM, stopping rules) sees nothing but the parameter vector, so
the iterates are those of the in-memory fit up to the order of additions.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy as np

from .linalg import solve_psd
from .mixing import mstep_constant
from .mixture import GLMComponent, Mixture, PointMass, make_mixing, mnl
from .mixture.component import wq_block
from .mixture.core import order_classes

__all__ = ["Recipe", "build_mixture", "PartitionedMixture"]

#: step halvings of a component's IRLS step and of the logit's Newton step (as in memory)
_HALVINGS, _MNL_HALVINGS = 40, 30


@dataclasses.dataclass
class Recipe:
    """What a worker needs to build a partition's mixture (small; shipped to every worker)."""

    family: Any
    k: int
    scale: str = "component"
    var_floor: Optional[float] = None
    point_mass: Optional[float] = None
    mixing: str = "estimate"
    standardisation: Any = None


def build_mixture(rows, recipe):
    """The in-memory mixture of one partition's rows (runs on a worker).

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.mixture import Rows
    >>> rows = Rows(np.array([0.0, 1.0, 5.0]), np.ones((3, 1)))
    >>> build_mixture(rows, Recipe(sm.families.Poisson(), k=2, standardisation=(None, None, 0, 1.0))).size
    3
    """
    comps = [GLMComponent(recipe.family, rows, recipe.k, scale=recipe.scale, var_floor=recipe.var_floor,
                          standardisation=recipe.standardisation)]
    if recipe.point_mass is not None:
        comps.append(PointMass(recipe.point_mass, rows))
    K = recipe.k + (recipe.point_mass is not None)
    return Mixture(comps, make_mixing(recipe.mixing, K, rows.Z), rows)


# ---------------------------------------------------------------------- on the workers
def _mixing_sums(mix, gamma, Tunit):
    name = mix.mixing.name
    if name == "equal" or mix.mixing.n_params == 0:
        return None
    uw = mix.rows.unit_w
    if name == "concomitant":
        return mnl.newton_pass(gamma, mix.rows.Z, Tunit, uw)
    return (uw @ Tunit, float(uw.sum()))


def estep_pass(mix, theta):
    """The E-step at ``theta`` and the M-step's sums of one partition (runs on a worker)."""
    es = mix.estep(theta)
    comps = []
    for c, (comp, p) in enumerate(zip(mix.components, mix.component_params(theta))):
        if comp.n_params == 0:
            comps.append(None)
            continue
        W = mix.weights(es.T, c)
        q0 = es.q[c] if es.q is not None else wq_block(W, es.evals[c].logpdf)
        As, bs = comp.mstep_stats(p, W, es.evals[c], mix.rows)
        comps.append((q0, np.asarray(As), np.asarray(bs)))
    return {"llf": es.llf, "comps": comps, "mixing": _mixing_sums(mix, mix.gamma(theta), es.Tunit)}


def trial_pass(mix, theta, trials, gamma_trial):
    """Criteria and dispersion sums at the M-step's trial points (runs on a worker).

    The E-step at ``theta`` is the one the E-step pass kept; each trial's evaluation is kept
    for the next E-step (reused when the trial is accepted).
    """
    es = mix.estep(theta)
    out = []
    for c, trial in enumerate(trials):
        if trial is None:
            out.append(None)
            continue
        comp = mix.components[c]
        W = mix.weights(es.T, c)
        q, ev = comp.step_value(trial, W, mix.rows)
        mix.remember(c, ev)
        out.append((q, comp.scale_stats(trial, W, ev, mix.rows)))
    mq = None
    if gamma_trial is not None:
        mq = mnl.objective_pass(gamma_trial, mix.rows.Z, es.Tunit, mix.rows.unit_w)
    return {"comps": out, "mixing": mq}


def order_pass(mix, theta):
    """Sums for the ordering of the classes: ``(sum w eta (k,), sum w, sum of priors (K,))``."""
    comp, p = mix.components[0], mix.component_params(theta)[0]
    rows = mix.rows
    eta = comp.linear_predictor(p, rows) - rows.offset
    prior = np.exp(mix.log_prior(theta))
    total = prior.sum(axis=0) * (rows.G if prior.shape[0] == 1 else 1)
    return eta @ rows.w, float(rows.w.sum()), total


# ---------------------------------------------------------------------- on the client
def _accepted(q, q0, rel):
    return q >= q0 - rel * (abs(q0) + 1)


def _information_score_pass(mix, theta):
    from .information import information_and_score

    return information_and_score(mix, theta)


class PartitionedMixture:
    """The EM map of a mixture whose rows are the partitions of a dask DataFrame.

    Parameters
    ----------
    rows : emglm.dask_rows.DaskRows
    recipe : Recipe
    template : Mixture
        The same mixture on no rows: it unpacks, packs and permutes parameter vectors and
        solves the small systems on the client.

    ``fixed_point`` and ``objective`` are what :func:`emglm.em.run` needs; the sums of the
    last E-step pass are kept by parameter value, so ``objective(theta)`` followed by
    ``fixed_point(theta)`` is one pass, not two.
    """

    def __init__(self, rows, recipe, template):
        self.drows = rows
        self.recipe = recipe
        self.template = template
        client = rows.client
        self.client = client
        kept = [r for r, n in zip(rows.partitions, rows.partition_n) if n > 0]
        if rows.persist:
            self.parts = [client.submit(build_mixture, r, recipe, pure=False) for r in kept]
        else:  # recipes, computed again in every pass
            from dask import delayed

            self.parts = [delayed(build_mixture, pure=False)(r, recipe) for r in kept]
        #: each kept partition's record (its rows' index), aligned with ``parts``
        self.records = [rec for rec, n in zip(rows.records, rows.partition_n) if n > 0]
        self._last = (None, None)
        self.n_passes = 0

    # the parameter layout is the template's
    @property
    def size(self):
        return self.template.size

    @property
    def K(self):
        return self.template.K

    @property
    def k(self):
        return self.template.k

    def reduce(self, fn, *args):
        """Sum over the partitions' mixtures of ``fn(mix, *args)`` (tree reduction on the workers)."""
        self.n_passes += 1
        return self.drows.reduce_over(self.parts, fn, *args)

    def gather(self, fn, *args):
        """``[fn(mix, *args)]`` of every partition's mixture, brought to the client (small results only)."""
        return self.client.gather([self.drows.submit(fn, m, *args) for m in self.parts])

    def map(self, fn, *args):
        """Futures of ``fn(mix, *args)`` of every partition's mixture."""
        return [self.drows.submit(fn, m, *args) for m in self.parts]

    def information_and_score(self, theta):
        """The observed information and the score at ``theta``, summed over the partitions
        (one pass; :func:`emglm.information.information_and_score` on each), or None when
        a component does not supply second derivatives."""
        from .information import supports_analytic

        if not supports_analytic(self.template):
            return None
        return self.reduce(_information_score_pass, np.asarray(theta, dtype=float))

    def estep_sums(self, theta):
        theta = np.asarray(theta, dtype=float)
        key = theta.tobytes()
        if self._last[0] != key:
            self._last = (key, self.reduce(estep_pass, theta))
        return self._last[1]

    def objective(self, theta):
        llf = self.estep_sums(theta)["llf"]
        return float(llf) if np.isfinite(llf) else -np.inf

    def fixed_point(self, theta):
        """E-step pass at ``theta``, then the generalised M-step from the partitions' sums."""
        theta = np.asarray(theta, dtype=float)
        S = self.estep_sums(theta)
        tm = self.template
        params = tm.component_params(theta)
        cands, q0 = {}, {}
        for c, comp in enumerate(tm.components):
            if S["comps"][c] is not None:
                q0[c], As, bs = S["comps"][c]
                cands[c] = comp.mstep_candidate(params[c], (As, bs))
        gamma = tm.gamma(theta)
        g_step = None
        if S["mixing"] is not None and tm.mixing.name == "concomitant":
            qm0, grad, H = S["mixing"]
            g_step = solve_psd(H, grad).reshape(gamma.shape)
        elif S["mixing"] is not None:  # constant proportions: closed form from the totals
            tot, W = S["mixing"]
            gamma = mstep_constant((tot / W)[None, :], np.ones(1))
        t = {c: 1.0 for c in cands}
        tg = 1.0
        accepted = {}
        g_new = gamma
        for it in range(_HALVINGS + 1):
            pending = [c for c in cands if c not in accepted]
            trials = [None] * len(params)
            for c in pending:
                # after the last halving the coefficients are kept (a trial at theta itself
                # gives the dispersion sums there)
                step = t[c] if it < _HALVINGS else 0.0
                trials[c] = params[c] + step * (cands[c] - params[c])
            g_trial = gamma + tg * g_step if g_step is not None else None
            if not pending and g_trial is None:
                break
            R = self.reduce(trial_pass, theta, trials, g_trial)
            for c in pending:
                q, sums = R["comps"][c]
                if it == _HALVINGS or _accepted(q, q0[c], 1e-10):
                    accepted[c] = (trials[c], sums)
                else:
                    t[c] *= 0.5
            if g_step is not None:
                if _accepted(R["mixing"], qm0, 1e-12):
                    g_new, g_step = g_trial, None
                else:
                    tg *= 0.5
                    if tg < 0.5 ** (_MNL_HALVINGS - 1):
                        g_step = None  # no ascent: the coefficients are kept
        parts = list(params)
        for c, (trial, sums) in accepted.items():
            parts[c] = tm.components[c].scale_update(trial, sums)
        return tm.join(parts, g_new)

    # ------------------------------------------------------------------ ordering
    def order(self, theta):
        """As :meth:`Mixture.order`, from sums over the partitions."""
        tm = self.template
        comp, p = tm.components[0], tm.component_params(theta)[0]
        sw_eta, sw, prior = self.reduce(order_pass, np.asarray(theta, dtype=float))
        return order_classes(sw_eta / sw, comp.scale(p), (prior / self.drows.G)[: comp.n_classes])

    def permute(self, theta, perm):
        return self.template.permute(theta, perm)

    def release(self):
        from distributed import Future

        self.client.cancel([f for f in self.parts if isinstance(f, Future)])
        self.parts = []
