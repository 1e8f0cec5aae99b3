"""The hint that fewer components fit as well (BIC), and its false-alarm rate.

A fit with more components than the data hold must say so whatever the start; a fit of the
right number of well-separated components must not. The smaller mixture a hint claims is
checked independently: its log-likelihood recomputed with scipy from its estimates.
"""

import re
import warnings

import numpy as np
import pytest
import scipy.stats as st
import statsmodels.api as sm
from scipy.special import logsumexp

from emglm import EMGLM
from emglm.fewer_components import removal_losses, smaller_mixture
from emglm.warnings import DegenerateComponentWarning

HINT = "BIC prefers fewer than k="


def _fit(y, X, k, family=None, **kw):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = EMGLM(y, X, k=k, family=family or sm.families.Gaussian()).fit(**kw)
    hints = [str(w.message) for w in rec
             if issubclass(w.category, DegenerateComponentWarning) and HINT in str(w.message)]
    return res, hints


def _two_classes(seed=0):
    rng = np.random.default_rng(seed)
    return np.r_[rng.normal(-2, 1, 150), rng.normal(2, 1, 150)]


def _gaussian_llf(y, mu, var, pi):
    """Mixture log-likelihood of intercept-only Gaussian components (scipy densities)."""
    logs = np.column_stack([np.log(pi[j]) + st.norm.logpdf(y, mu[j], np.sqrt(var[j])) for j in range(len(mu))])
    return float(logsumexp(logs, axis=1).sum())


@pytest.mark.parametrize("start", ["screen", "fit"])
def test_overfitted_k_gives_bic_hint_whatever_the_start(start):
    """Before: k=6 on two-class data passed without a word with the default start."""
    y = _two_classes()
    res, hints = _fit(y, np.ones((300, 1)), 6, start=start)
    assert len(hints) == 1
    m = re.search(r"removing comp(\d) .*gives a 5-component mixture with BIC (\S+), below this fit's (\S+) ",
                  hints[0])
    j, bic_small, bic_k = int(m.group(1)) - 1, float(m.group(2)), float(m.group(3))
    assert bic_k == pytest.approx(res.bic, rel=1e-5)
    assert bic_small < bic_k
    # the claimed smaller mixture, its log-likelihood recomputed with scipy from its estimates
    small = smaller_mixture(res.mixture, res.theta, res.model)
    assert small.removed == j and small.mixture.k == 5
    P = small.mixture.unpack(small.theta)
    pi = np.exp(small.mixture.log_prior(small.theta))[0]
    llf = _gaussian_llf(y, P.beta[:, 0], P.scale, pi)
    assert llf == pytest.approx(small.llf, rel=1e-9)
    df = 5 * 3 - 1  # five means, five variances, four mixing logits
    assert small.mixture.size == df
    assert bic_small == pytest.approx(-2 * llf + np.log(300) * df, rel=1e-5)
    # and a 5-component fit of its own confirms that BIC prefers fewer components
    res5, _ = _fit(y, np.ones((300, 1)), 5)
    assert res5.bic < res.bic


def test_removal_losses_match_scipy():
    """The closed form f (1 - T_j) / (1 - pi_j) against the mixture without j, from scipy."""
    y = _two_classes(1)
    res, _ = _fit(y, np.ones((300, 1)), 3, start="fit")
    mu, var, pi = res.params.to_numpy()[0], res.scale.to_numpy(), res.proportions.to_numpy()
    full = _gaussian_llf(y, mu, var, pi)
    assert full == pytest.approx(res.llf, rel=1e-10)
    for j, loss in enumerate(removal_losses(res.mixture, res.theta)):
        keep = [m for m in range(3) if m != j]
        without = _gaussian_llf(y, mu[keep], var[keep], pi[keep] / pi[keep].sum())
        assert loss == pytest.approx(full - without, rel=1e-8, abs=1e-8)


def _simulate(kind, k, n, seed):
    """k well-separated regression classes (equal shares)."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    z = rng.integers(0, k, n)
    if kind == "gaussian":
        B = np.array([[-3.0, 1.0], [3.0, -1.0], [0.0, 2.0]])[:k]
        return (X * B[z]).sum(1) + 0.7 * rng.standard_normal(n), X, sm.families.Gaussian()
    B = np.array([[0.0, 0.3], [1.5, -0.3], [3.0, 0.2]])[:k]
    return rng.poisson(np.exp((X * B[z]).sum(1))).astype(float), X, sm.families.Poisson()


@pytest.mark.parametrize("kind", ["gaussian", "poisson"])
@pytest.mark.parametrize("k", [2, 3])
def test_no_hint_for_the_true_number_of_well_separated_components(kind, k):
    for seed in range(4):
        y, X, fam = _simulate(kind, k, 400, seed)
        res, hints = _fit(y, X, k, fam)
        assert not hints, (seed, hints)


@pytest.mark.parametrize("kind", ["gaussian", "poisson"])
def test_hint_for_one_component_too_many(kind):
    for seed in range(3):
        y, X, fam = _simulate(kind, 2, 400, seed)
        res, hints = _fit(y, X, 3, fam)
        assert len(hints) == 1, seed
        small = smaller_mixture(res.mixture, res.theta, res.model)
        assert small.llf == pytest.approx(small.mixture.objective(small.theta))
        assert small.bic < res.bic


def test_two_components_on_one_class_compared_with_the_glm():
    """k=2 on one Poisson regression: the hint's one-component BIC is statsmodels' GLM's."""
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(400), rng.standard_normal(400)])
    y = rng.poisson(np.exp(1.0 + 0.3 * X[:, 1]))
    res, hints = _fit(y, X, 2, sm.families.Poisson())
    assert len(hints) == 1 and "the one-component model has BIC" in hints[0]
    bic1 = float(re.search(r"has BIC (\S+),", hints[0]).group(1))
    glm = sm.GLM(y, X, family=sm.families.Poisson()).fit()
    assert bic1 == pytest.approx(-2 * glm.llf + np.log(400) * 2, rel=1e-5)  # (6 digits printed)
    assert bic1 < res.bic


@pytest.mark.slow
def test_false_alarm_and_detection_rates():
    """20 seeds each: no hint for the true k (2 or 3), a hint for one or four components too many."""
    alarms = hits = total = 0
    for kind in ("gaussian", "poisson"):
        for seed in range(20):
            for k in (2, 3):
                y, X, fam = _simulate(kind, k, 500, 100 + seed)
                alarms += bool(_fit(y, X, k, fam)[1])
            y, X, fam = _simulate(kind, 2, 500, 100 + seed)
            for k in (3, 6):
                hits += bool(_fit(y, X, k, fam)[1])
                total += 1
    assert alarms == 0
    assert hits >= 0.9 * total
