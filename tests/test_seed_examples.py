"""The seed's lecture examples ("The EM Algorithm", Statistics 580) run through emglm.em.

Each printed value is asserted to its last printed digit within one unit (the source
rounds), and each MLE against an independent reference: a closed form, a root of the
score equation, or statsmodels.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy.optimize import brentq

from emglm import EMGLM, em
from emglm.datasets import load_bulls, load_pension


def within_one_unit(value, printed, decimals):
    return abs(value - printed) <= 1.0001 * 10.0 ** (-decimals)


# ----------------------------------------------------------------------------------
# Example 2: genetic linkage, counts (38, 34, 125), probabilities (1/2 - t/2, t/4, 1/2 + t/4)

def linkage_step(x):
    y3 = 125 * (x[0] / 4) / (0.5 + x[0] / 4)  # E-step: expected part of 125 with prob t/4
    return np.array([(34 + y3) / (72 + y3)])  # M-step: complete-data MLE


# the score -38/(1-t) + 34/t + 125/(2+t) = 0 is the quadratic -197 t^2 + 15 t + 68 = 0
LINKAGE_MLE = (15 + np.sqrt(15 ** 2 + 4 * 197 * 68)) / (2 * 197)

TABLE1 = [  # t, theta(t), theta(t) - mle, ratio (None where the seed prints a dot)
    (0, 0.500000000, 0.126821498, 0.1465),
    (1, 0.608247423, 0.018574075, 0.1346),
    (2, 0.624321051, 0.002500447, 0.1330),
    (3, 0.626488879, 0.000332619, 0.1328),
    (4, 0.626777323, 0.000044176, 0.1328),
    (5, 0.626815632, 0.000005866, 0.1328),
    (6, 0.626820719, 0.000000779, None),
    (7, 0.626821395, 0.000000104, None),
    (8, 0.626821484, 0.000000014, None),
]


def test_linkage_mle_closed_form():
    assert round(LINKAGE_MLE, 9) == 0.626821498
    assert linkage_step([LINKAGE_MLE])[0] == pytest.approx(LINKAGE_MLE, abs=1e-15)


def test_table1_reproduced():
    out = em.run(linkage_step, [0.5], tol=1e-14, maxiter=200)
    h = np.array([v[0] for v in out.history])
    assert out.params[0] == pytest.approx(LINKAGE_MLE, abs=1e-13)
    for t, theta, dev, ratio in TABLE1:
        assert within_one_unit(h[t], theta, 9), (t, h[t])
        # the seed's second column is |theta(t) - mle| (it prints magnitudes)
        assert within_one_unit(abs(h[t] - LINKAGE_MLE), dev, 9), (t, h[t] - LINKAGE_MLE)
        if ratio is not None:
            r = (h[t + 1] - LINKAGE_MLE) / (h[t] - LINKAGE_MLE)
            assert within_one_unit(r, ratio, 4), (t, r)
    # the driver's rate estimate is the limit of the ratio column
    assert within_one_unit(out.rate, 0.1328, 4)


def test_linkage_squarem_vs_plain():
    plain = em.run(linkage_step, [0.5], tol=1e-12)
    sq = em.run(linkage_step, [0.5], tol=1e-12, accelerate="squarem")
    for o in (plain, sq):
        assert o.converged and o.params[0] == pytest.approx(LINKAGE_MLE, abs=1e-11)
    assert sq.n_iter < plain.n_iter


# ----------------------------------------------------------------------------------
# Example 3: pension data, zero-inflated Poisson (xi = P(class "no children"), lambda)

PENSION = load_pension()
N_CHILD = PENSION["widows"].to_numpy(float)
CHILD = PENSION["children"].to_numpy(float)
N_TOTAL = N_CHILD.sum()


def n_a(x):
    xi, lam = x
    return N_CHILD[0] * xi / (xi + (1 - xi) * np.exp(-lam))  # E-step (1)


def pension_step(x):
    na = n_a(x)
    nb = N_CHILD[0] - na
    return np.array([na / N_TOTAL, (CHILD * N_CHILD).sum() / (nb + N_CHILD[1:].sum())])  # (2), (3)


def pension_step_6dp(x):
    # the seed's Table 2 was evidently produced carrying xi and lambda rounded to 6 decimals
    return np.round(pension_step(x), 6)


def pension_loglike(x):
    xi, lam = x
    p0 = xi + (1 - xi) * np.exp(-lam)
    return (N_CHILD[0] * np.log(p0) + (N_TOTAL - N_CHILD[0]) * (np.log1p(-xi) - lam)
            + (CHILD * N_CHILD).sum() * np.log(lam))


def pension_in_domain(x):
    return 0 < x[0] < 1 and x[1] > 0


def pension_mle():
    # independent of EM: the positive counts are zero-truncated Poisson, so lambda solves
    # lambda / (1 - exp(-lambda)) = mean of the positive counts, then xi = 1 - ybar / lambda
    s = (CHILD * N_CHILD).sum()
    pos = N_TOTAL - N_CHILD[0]
    lam = brentq(lambda v: v / -np.expm1(-v) - s / pos, 1e-6, 50, xtol=1e-15, rtol=1e-15)
    return np.array([1 - s / (N_TOTAL * lam), lam])


TABLE2 = [  # t, xi, lambda, nA, nB
    (0, 0.75, 0.40, 2502.779, 559.221),
    (1, 0.614179, 1.035478, 2503.591, 558.409),
    (2, 0.614378, 1.036013, 2504.219, 557.781),
    (3, 0.614532, 1.036427, 2504.704, 557.296),
    (4, 0.614651, 1.036747, 2505.079, 556.921),
    (5, 0.614743, 1.036995, 2505.369, 556.631),
]


def test_table2_carrying_six_decimals_matches_every_printed_digit():
    out = em.run(pension_step_6dp, [0.75, 0.40], tol=1e-15, maxiter=5)
    assert len(out.history) == 6
    for (t, xi, lam, na, nb), x in zip(TABLE2, out.history):
        assert within_one_unit(x[0], xi, 6), (t, x)
        assert within_one_unit(x[1], lam, 6), (t, x)
        assert within_one_unit(n_a(x), na, 3), (t, n_a(x))
        assert within_one_unit(N_CHILD[0] - n_a(x), nb, 3), (t, N_CHILD[0] - n_a(x))


def test_table2_full_precision():
    # in full double precision xi and lambda agree to the last printed digit; nA/nB drift
    # by up to 2 units of the third decimal in rows 4-5 (the source's 6-decimal rounding)
    out = em.run(pension_step, [0.75, 0.40], tol=1e-15, maxiter=5)
    for (t, xi, lam, na, nb), x in zip(TABLE2, out.history):
        assert within_one_unit(x[0], xi, 6), (t, x)
        assert within_one_unit(x[1], lam, 6), (t, x)
        # compared as printed: rounded to the third decimal
        tol_na = 1.0001e-3 if t <= 3 else 2.0001e-3
        assert abs(round(n_a(x), 3) - na) <= tol_na, (t, n_a(x))
        assert abs(round(N_CHILD[0] - n_a(x), 3) - nb) <= tol_na


def test_pension_mle_and_loglik_ascent():
    mle = pension_mle()
    assert within_one_unit(mle[0], 0.61506, 5) and within_one_unit(mle[1], 1.03784, 5)
    np.testing.assert_allclose(pension_step(mle), mle, atol=1e-13)  # the EM fixed point
    out = em.run(pension_step, [0.75, 0.40], objective=pension_loglike, tol=1e-14,
                 maxiter=5000, in_domain=pension_in_domain)
    assert np.all(np.diff(out.objective_history) >= -1e-9)  # EM never decreases the llf
    np.testing.assert_allclose(out.params, mle, atol=1e-5)
    assert within_one_unit(out.params[0], 0.61506, 5)
    assert within_one_unit(out.params[1], 1.03784, 5)


@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_pension_default_stop_locates_the_mle(accelerate):
    # the default stopping rule bounds the distance to the MLE (xi = 0.615056697573,
    # lambda = 1.037839078990): within 1e-6 at the default tol, 1e-9 at tol=1e-12;
    # the relative-llf rule stops 3e-4 from it at the default tol
    mle = pension_mle()
    np.testing.assert_allclose(mle, [0.615056697573, 1.037839078990], atol=5e-13)
    for tol, err in ((1e-8, 1e-6), (1e-12, 1e-9)):
        out = em.run(pension_step, [0.75, 0.40], objective=pension_loglike, tol=tol, maxiter=5000,
                     in_domain=pension_in_domain, accelerate=accelerate)
        assert out.converged and np.max(np.abs(out.params - mle)) < err, (tol, out.params - mle)
    if accelerate is None:
        llf = em.run(pension_step, [0.75, 0.40], objective=pension_loglike, tol=1e-8,
                     in_domain=pension_in_domain, stop="llf")
        assert np.max(np.abs(llf.params - mle)) > 1e-4
    model = EMGLM.from_formula("children ~ 1", PENSION, k=1, family=sm.families.Poisson(),
                               point_mass=0, weights=PENSION["widows"])
    for tol, err in ((1e-8, 1e-6), (1e-12, 1e-9)):
        res = model.fit(tol=tol, accelerate=accelerate)
        est = [res.proportions.iloc[-1], np.exp(res.params.loc["Intercept", "comp1"])]
        assert res.converged and np.max(np.abs(np.subtract(est, mle))) < err, (tol, est - mle)


def test_pension_squarem_four_times_fewer_evaluations_to_1e10():
    mle = pension_mle()
    # parameter-change stopping (no objective): the llf is too flat near the MLE to
    # locate the parameters to 1e-10 through its relative change
    plain = em.run(pension_step, [0.75, 0.40], tol=1e-11, maxiter=5000,
                   in_domain=pension_in_domain)
    sq = em.run(pension_step, [0.75, 0.40], tol=1e-11, maxiter=5000,
                in_domain=pension_in_domain, accelerate="squarem")
    assert plain.converged and sq.converged
    assert np.max(np.abs(plain.params - mle)) < 1e-10
    assert np.max(np.abs(sq.params - mle)) < 1e-10
    assert 4 * sq.n_iter <= plain.n_iter
    # the EM rate: largest eigenvalue of the Jacobian of the map at the MLE
    eps = 1e-6
    J = np.column_stack([(pension_step(mle + eps * e) - pension_step(mle - eps * e)) / (2 * eps)
                         for e in np.eye(2)])
    assert plain.rate == pytest.approx(max(abs(np.linalg.eigvals(J))), abs=1e-4)


def test_pension_as_emglm_point_mass_model():
    mle = pension_mle()
    model = EMGLM.from_formula("children ~ 1", PENSION, k=1, family=sm.families.Poisson(),
                               point_mass=0, weights=PENSION["widows"])
    res = model.fit(tol=1e-13, maxiter=5000)
    assert res.proportions.iloc[-1] == pytest.approx(mle[0], abs=1e-6)
    assert np.exp(res.params.loc["Intercept", "comp1"]) == pytest.approx(mle[1], abs=1e-6)
    assert res.llf == pytest.approx(pension_loglike(mle) - np.sum(N_CHILD * _lgamma1(CHILD)), abs=1e-6)


def _lgamma1(x):
    from scipy.special import gammaln
    return gammaln(x + 1)


# ----------------------------------------------------------------------------------
# Example 1: normal sample with values missing at random

def test_normal_missing_values_closed_form_and_rate():
    rng = np.random.default_rng(580)
    n, m = 40, 30
    y_obs = rng.normal(10.0, 2.0, m)  # y_{m+1..n} are missing

    def step(x):
        mu, s2 = x
        s1 = y_obs.sum() + (n - m) * mu  # E-step (1)
        s2_ = (y_obs ** 2).sum() + (n - m) * (s2 + mu ** 2)  # E-step (2)
        mu1 = s1 / n  # M-step (3)
        return np.array([mu1, s2_ / n - mu1 ** 2])  # (4)

    out = em.run(step, [0.0, 1.0], tol=1e-13, maxiter=2000)
    mle = np.array([y_obs.mean(), y_obs.var()])  # closed form: observed mean, var /m
    np.testing.assert_allclose(out.params, mle, rtol=1e-10)
    # both coordinates contract by the fraction of missing data, (n - m) / n
    assert out.rate == pytest.approx((n - m) / n, abs=1e-6)
    sq = em.run(step, [0.0, 1.0], tol=1e-13, maxiter=2000, accelerate="squarem")
    np.testing.assert_allclose(sq.params, mle, rtol=1e-10)
    assert sq.n_iter < out.n_iter


# ----------------------------------------------------------------------------------
# Example 4: bulls, one-way random effects by EM against statsmodels MixedLM

BULLS = load_bulls()
Y = BULLS["percentage"].to_numpy(float)
G = BULLS["bull"].to_numpy() - 1
K = int(G.max()) + 1
NI = np.bincount(G)
YBAR = np.bincount(G, Y) / NI
WITHIN = float(((Y - YBAR[G]) ** 2).sum())


def bulls_step(theta):
    mu, s2a, s2 = theta
    w = s2 / (s2 + NI * s2a)
    a = w * mu + (1 - w) * YBAR  # a_i | y ~ N(w_i mu + (1 - w_i) ybar_i, v_i)
    v = w * s2a
    t1, t2 = a.sum(), (a ** 2 + v).sum()
    t3 = WITHIN + (NI * ((YBAR - a) ** 2 + v)).sum()
    mu1 = t1 / K
    return np.array([mu1, t2 / K - mu1 ** 2, t3 / len(Y)])


def bulls_in_domain(theta):
    return theta[1] > 0 and theta[2] > 0


def test_bulls_anova_estimates():
    ms_b = float((NI * (YBAR - Y.mean()) ** 2).sum()) / (K - 1)
    ms_w = WITHIN / (len(Y) - K)
    n0 = (len(Y) - (NI ** 2).sum() / len(Y)) / (K - 1)  # the 5.67 of E(MS)
    assert within_one_unit(ms_w, 248.29, 2)
    assert within_one_unit(n0, 5.67, 2)
    # the seed divides the rounded mean squares by the rounded 5.67 (unrounded: 73.41)
    assert within_one_unit((round(ms_b, 2) - round(ms_w, 2)) / round(n0, 2), 73.39, 2)
    assert (ms_b - ms_w) / n0 == pytest.approx(73.41, abs=0.01)


def test_bulls_em_matches_mixedlm_ml():
    x0 = [Y.mean(), 73.39, 248.29]  # start from the ANOVA estimates
    out = em.run(bulls_step, x0, tol=1e-13, maxiter=20000, in_domain=bulls_in_domain)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ml = smf.mixedlm("percentage ~ 1", BULLS, groups=BULLS["bull"]).fit(
            reml=False, method="bfgs", gtol=1e-10)
    ref = np.array([ml.fe_params.iloc[0], ml.cov_re.iloc[0, 0], ml.scale])
    np.testing.assert_allclose(out.params, ref, atol=1e-5)
    sq = em.run(bulls_step, x0, tol=1e-13, maxiter=20000, in_domain=bulls_in_domain,
                accelerate="squarem")
    np.testing.assert_allclose(sq.params, ref, atol=1e-5)
    assert sq.n_iter < out.n_iter
    # ML shrinks the ANOVA (REML-like) between-bull variance 73.39 to about 54.8
    assert out.params[1] < 73.39 and out.params[2] > 248.29 - 1
