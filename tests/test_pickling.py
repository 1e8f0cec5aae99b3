"""Models and results pickle, deep-copy and travel to worker processes (issue 18), formula
models included: the copy re-applies the formula (categorical levels, stateful transforms such
as center() and bs(), numpy calls, functions of the user's module) exactly as the original."""

import copy
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from emglm import EMGLM


def log1p_scaled(x):
    """A function of the user's own, used inside a formula."""
    return np.log1p(x) / 2.0


FORMULA = "y ~ center(x) + C(g, Treatment('b')) + np.log(x) + log1p_scaled(x)"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    n = 400
    df = pd.DataFrame({"x": rng.uniform(0.5, 3.0, n), "g": rng.choice(["a", "b", "c"], n),
                       "z": rng.normal(size=n)})
    z = rng.random(n) < 0.5
    df["y"] = rng.poisson(np.exp(np.where(z, 1.5 + 0.3 * df.x, 0.2 - 0.2 * df.x) + 0.2 * (df.g == "a")))
    return df


@pytest.fixture(scope="module")
def res(data):
    return EMGLM.from_formula(FORMULA, data, k=2, family=sm.families.Poisson(), concomitant="~ z",
                              fixed="~ bs(z, df=3)").fit(random_state=0)


def _new_frame():
    return pd.DataFrame({"x": [0.7, 2.0, 2.9], "g": ["c", "a", "b"], "z": [-0.5, 0.1, 1.2]})


def _hand_design(res, new, train):
    """Component design of new rows computed without patsy: the centring uses the training mean."""
    return np.column_stack([np.ones(len(new)), (new.g == "a").astype(float), (new.g == "c").astype(float),
                            new.x - train.x.mean(), np.log(new.x), log1p_scaled(new.x)])


def test_results_and_model_pickle_and_deepcopy(res, data):
    new = _new_frame()
    for clone in (pickle.loads(pickle.dumps(res)), copy.deepcopy(res)):
        for which in ("mean", "components", "prior"):
            pd.testing.assert_frame_equal(pd.DataFrame(clone.predict(new, which=which)),
                                          pd.DataFrame(res.predict(new, which=which)))
        pd.testing.assert_frame_equal(clone.params, res.params)
        assert clone.summary().as_text() == res.summary().as_text()
    # the copy's formula still remembers the training mean of center(x) and the levels
    comps = pickle.loads(pickle.dumps(res)).predict(new, which="components").to_numpy()
    B = res.params.to_numpy()[:6]
    U = res.model.design.fixed_matrix(new).to_numpy()  # B-spline basis, checked equal below
    delta = res.params.to_numpy()[6:, 0]
    np.testing.assert_allclose(np.log(comps), (_hand_design(res, new, data) @ B) + (U @ delta)[:, None],
                               rtol=1e-10)
    model = pickle.loads(pickle.dumps(res.model))
    np.testing.assert_allclose(model.design.fixed_matrix(new), U)
    # a refit of the unpickled model reaches the same optimum
    again = model.fit(random_state=0)
    np.testing.assert_allclose(again.params, res.params, rtol=1e-6, atol=1e-8)


def _predict_in_worker(blob):
    res = pickle.loads(blob)
    return res.predict(_new_frame()).to_numpy()


def _fit_in_worker(model):
    return model.fit(random_state=0)


def test_process_pool(res):
    with ProcessPoolExecutor(max_workers=2) as pool:
        out = list(pool.map(_predict_in_worker, [pickle.dumps(res)] * 2))
        fitted = pool.submit(_fit_in_worker, res.model).result()
    for o in out:
        np.testing.assert_allclose(o, res.predict(_new_frame()).to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(fitted.params, res.params, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fitted.predict(_new_frame()), res.predict(_new_frame()), rtol=1e-6)


def test_unpicklable_function_is_named_when_used(data):
    df = data.copy()
    f = lambda v: v * 2.0  # noqa: E731  (a lambda does not pickle)
    res = EMGLM.from_formula("y ~ f(x)", df, k=1, family=sm.families.Poisson()).fit()
    clone = pickle.loads(pickle.dumps(res))
    pd.testing.assert_frame_equal(clone.params, res.params)  # everything but the formula works
    with pytest.raises(ValueError, match="exog"):
        clone.predict(_new_frame())
