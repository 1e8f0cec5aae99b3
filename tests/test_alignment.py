"""Per-row options given as pandas Series follow the data's rows by index label.

Before: ``from_formula(..., offset=series)`` paired the Series with the rows by position, so a
sorted frame with the original offset Series fitted the wrong model without a word.
"""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from emglm import EMGLM

POIS = sm.families.Poisson()


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"x": rng.uniform(-1, 1, n), "t": rng.uniform(0.5, 3, n),
                       "w": rng.integers(1, 4, n).astype(float), "g": rng.integers(0, 60, n)})
    df["lt"] = np.log(df.t)
    df["y"] = rng.poisson(df.t * np.exp(np.where(rng.random(n) < 0.5, 1 + df.x, -df.x)))
    return df


@pytest.mark.parametrize("option,column", [("offset", "lt"), ("exposure", "t"), ("weights", "w")])
def test_sorted_frame_with_original_series(frame, option, column):
    ref = EMGLM.from_formula("y ~ x", frame, k=2, family=POIS, **{option: column}).fit()
    shuffled = frame.sort_values("x")
    res = EMGLM.from_formula("y ~ x", shuffled, k=2, family=POIS, **{option: frame[column]}).fit()
    # same model as naming the column (the rows' own values), whatever the row order
    assert res.llf == pytest.approx(ref.llf, rel=1e-9)
    np.testing.assert_allclose(res.params.to_numpy(), ref.params.to_numpy(), rtol=1e-5, atol=1e-8)


def test_groups_series_follows_index(frame):
    shuffled = frame.sort_values("x")
    ref = EMGLM.from_formula("y ~ x", shuffled, k=2, family=POIS, groups="g", offset="lt")
    m = EMGLM.from_formula("y ~ x", shuffled, k=2, family=POIS, groups=frame["g"], offset="lt")
    np.testing.assert_array_equal(m.group_codes, ref.group_codes)


def test_subset_frame_with_full_series(frame):
    sub = frame[frame.x > 0]
    ref = EMGLM.from_formula("y ~ x", sub, k=2, family=POIS, offset="lt")
    m = EMGLM.from_formula("y ~ x", sub, k=2, family=POIS, offset=frame["lt"])
    np.testing.assert_array_equal(m.offset, ref.offset)


@pytest.mark.parametrize("option", ["offset", "exposure", "weights", "groups"])
def test_mismatched_index_refused(frame, option):
    s = frame[{"offset": "lt", "exposure": "t", "weights": "w", "groups": "g"}[option]]
    bad = s.set_axis(s.index + 1000)
    with pytest.raises(ValueError, match=rf"^{option}: a pandas Series is matched to the rows of data by its index"):
        EMGLM.from_formula("y ~ x", frame, k=2, family=POIS, **{option: bad})


def test_positional_array_unchanged(frame):
    shuffled = frame.sort_values("x")
    m = EMGLM.from_formula("y ~ x", shuffled, k=2, family=POIS, offset=shuffled["lt"].to_numpy())
    np.testing.assert_array_equal(m.offset, shuffled["lt"].to_numpy())


def test_array_api_aligns_series_by_index(frame):
    shuffled = frame.sort_values("x")
    y = shuffled["y"]
    X = pd.DataFrame({"const": 1.0, "x": shuffled["x"]})
    ref = EMGLM(y.to_numpy(), X.to_numpy(), k=2, family=POIS, offset=shuffled["lt"].to_numpy(),
                weights=shuffled["w"].to_numpy())
    m = EMGLM(y, X, k=2, family=POIS, offset=frame["lt"], weights=frame["w"])
    np.testing.assert_array_equal(m.offset, ref.offset)
    np.testing.assert_array_equal(m.freq_weights, ref.freq_weights)
    # numpy response, DataFrame design: the design's index is the reference
    m2 = EMGLM(y.to_numpy(), X, k=2, family=POIS, exposure=frame["t"])
    np.testing.assert_allclose(m2.offset, ref.offset)


def test_array_api_mismatch_names_option(frame):
    y = frame["y"]
    X = pd.DataFrame({"const": 1.0, "x": frame["x"]})
    with pytest.raises(ValueError, match=r"^exposure: a pandas Series is matched to the rows of endog"):
        EMGLM(y, X, k=2, family=POIS, exposure=frame["t"].iloc[:-1])
