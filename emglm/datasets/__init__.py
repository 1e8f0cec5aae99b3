"""Small data sets bundled with emglm, for examples, notebooks and tests.

Every loader reads a CSV file shipped in this package and returns a fresh
:class:`pandas.DataFrame` (changing it never changes what the next call returns).
The sources are listed in ``SOURCES.txt`` next to the CSV files and in each loader's
docstring.

============================  =====  ===============================================
loader                        rows   what
============================  =====  ===============================================
:func:`load_pension`          7      widows by number of children (zero-inflated Poisson)
:func:`load_bulls`            35     conception percentages of six bulls (variance components)
:func:`load_warpbreaks`       54     R's ``datasets::warpbreaks`` (Poisson counts, two factors)
:func:`load_simulated`        500    two-component Poisson regression mixture, known truth
============================  =====  ===============================================

Examples
--------
>>> from emglm import datasets
>>> int(datasets.load_warpbreaks()["breaks"].sum())
1520
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

__all__ = [
    "load_pension",
    "load_bulls",
    "load_warpbreaks",
    "load_simulated",
    "simulated_truth",
    "simulate_poisson_mixture",
]


def _read(name: str, **kwargs) -> pd.DataFrame:
    # read through importlib.resources so that it also works from a zipped install
    with resources.files(__name__).joinpath(name).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, **kwargs)


def load_pension() -> pd.DataFrame:
    """Number of children of widows entitled to support from a pension fund.

    Seven rows, one per number of children 0..6, with the count of widows: 3062, 587, 284,
    103, 33, 4, 2 (N = 4075). Far more widows have no children than a Poisson law allows,
    the classic zero-inflated Poisson example: with probability xi a widow is in a
    "no children" class, otherwise the count is Poisson(lambda). The maximum likelihood
    estimate is about xi = 0.61506, lambda = 1.03784.

    Returns
    -------
    pandas.DataFrame
        Columns ``children`` (int, 0..6) and ``widows`` (int, the frequency). Use
        ``widows`` as frequency weights.

    Notes
    -----
    Source: Thisted, R. A. (1988), *Elements of Statistical Computing*, Chapman and Hall,
    as reproduced in the Statistics 580 lecture notes "The EM Algorithm" (Example 3,
    Table 2).

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from emglm import EMGLM
    >>> from emglm.datasets import load_pension
    >>> pension = load_pension()
    >>> int(pension["widows"].sum())
    4075
    >>> res = EMGLM.from_formula("children ~ 1", pension, k=1, family=sm.families.Poisson(),
    ...                          point_mass=0, weights=pension["widows"]).fit(tol=1e-12)
    >>> round(float(res.proportions.iloc[-1]), 4)  # the zero class, xi
    0.6151
    """
    return _read("pension.csv")


def load_bulls() -> pd.DataFrame:
    """Percentages of conception from semen samples of six bulls (35 samples).

    A one-way random-effects layout with unequal group sizes (5, 2, 7, 5, 7, 9): the bull
    effects are N(mu, sigma2_a) and the within-bull errors N(0, sigma2). The one-way
    analysis of variance gives between- and within-bull sums of squares 3322.059 and
    7200.341 (mean squares 664.41 and 248.29), so the ANOVA estimates are
    sigma2 = 248.29 and sigma2_a = (664.41 - 248.29) / 5.67 = 73.39.

    Returns
    -------
    pandas.DataFrame
        Long format: ``bull`` (int, 1..6) and ``percentage`` (int).

    Notes
    -----
    Source: Snedecor, G. W. and Cochran, W. G. (1967), *Statistical Methods*, 6th ed.,
    p. 290, as printed in Table 3 of the Statistics 580 lecture notes "The EM Algorithm"
    (Example 4, after Little and Rubin 1987).

    Examples
    --------
    >>> from emglm.datasets import load_bulls
    >>> bulls = load_bulls()
    >>> bulls.groupby("bull").size().tolist()
    [5, 2, 7, 5, 7, 9]
    """
    return _read("bulls.csv")


def load_warpbreaks() -> pd.DataFrame:
    """Number of warp breaks per loom, by wool type and tension (R's ``warpbreaks``).

    54 looms: 9 for each of the 2 x 3 combinations of wool (A, B) and tension (L, M, H).
    The mean number of breaks is 28.148 (sum 1520); the counts are overdispersed for a
    Poisson regression on wool and tension, which a mixture of Poisson regressions can
    absorb.

    Returns
    -------
    pandas.DataFrame
        ``breaks`` (int), ``wool`` and ``tension`` (ordered categoricals with the levels
        ``["A", "B"]`` and ``["L", "M", "H"]``, as in R).

    Notes
    -----
    Source: R's ``datasets`` package, ``warpbreaks`` (Tippett, L. H. C. (1950),
    *Technological Applications of Statistics*, Wiley, p. 106; also McNeil, D. R. (1977),
    *Interactive Data Analysis*, Wiley). The values were taken from the CSV export of R's
    data sets in the Rdatasets collection (``csv/datasets/warpbreaks.csv``,
    https://vincentarelbundock.github.io/Rdatasets/) and checked against the published
    cell means (wool A: 44.56, 24.00, 24.56; wool B: 28.22, 28.78, 18.78 breaks for
    tension L, M, H).

    Examples
    --------
    >>> from emglm.datasets import load_warpbreaks
    >>> wb = load_warpbreaks()
    >>> wb.shape, round(float(wb["breaks"].mean()), 3)
    ((54, 3), 28.148)
    """
    df = _read("warpbreaks.csv")
    # categoricals keep R's level order (L < M < H), which patsy uses for treatment coding
    df["wool"] = pd.Categorical(df["wool"], categories=["A", "B"])
    df["tension"] = pd.Categorical(df["tension"], categories=["L", "M", "H"], ordered=True)
    return df


# The simulated data set: truth, recipe, and the stored draw.
_SIM_SEED = 20261121
_SIM_N = 500
_SIM_TRUTH = {
    # components in emglm's order (increasing mean linear predictor)
    "proportions": [0.6, 0.4],
    "intercept": [0.5, 2.0],
    "slope": [-1.0, 1.0],
}


def simulated_truth() -> dict:
    """The parameters behind :func:`load_simulated`.

    Returns
    -------
    dict
        ``{"proportions": ndarray (2,), "params": DataFrame (terms x components),
        "seed": int, "n": int}``; ``params`` has rows ``Intercept``, ``x`` and columns
        ``comp1``, ``comp2``, laid out like ``EMGLMResults.params``.

    Examples
    --------
    >>> from emglm.datasets import simulated_truth
    >>> simulated_truth()["params"].loc["x"].tolist()
    [-1.0, 1.0]
    """
    params = pd.DataFrame(
        [_SIM_TRUTH["intercept"], _SIM_TRUTH["slope"]],
        index=["Intercept", "x"],
        columns=["comp1", "comp2"],
    )
    return {
        "proportions": np.array(_SIM_TRUTH["proportions"]),
        "params": params,
        "seed": _SIM_SEED,
        "n": _SIM_N,
    }


def simulate_poisson_mixture(n: int = _SIM_N, seed: int = _SIM_SEED) -> pd.DataFrame:
    """Draw from the two-component Poisson regression mixture of :func:`simulated_truth`.

    ``x ~ Uniform(-1, 1)`` (rounded to 4 decimals, as stored), the latent class
    ``component ~ Categorical(0.6, 0.4)`` (1 or 2) and
    ``y | x, component=j ~ Poisson(exp(a_j + b_j x))`` with ``(a, b) = (0.5, -1)`` and
    ``(2, 1)``. This is the recipe that produced the bundled ``simulated.csv``; numpy does
    not promise identical random streams across versions, so use :func:`load_simulated`
    for the fixed data set.

    Parameters
    ----------
    n : int
        Number of rows.
    seed : int
        Random seed for :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        Columns ``y``, ``x``, ``component``.

    Examples
    --------
    >>> from emglm.datasets import simulate_poisson_mixture
    >>> simulate_poisson_mixture(n=10, seed=1).shape
    (10, 3)
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    x = np.round(rng.uniform(-1.0, 1.0, int(n)), 4)
    comp = np.where(rng.random(int(n)) < _SIM_TRUTH["proportions"][0], 1, 2)
    a = np.array(_SIM_TRUTH["intercept"])[comp - 1]
    b = np.array(_SIM_TRUTH["slope"])[comp - 1]
    y = rng.poisson(np.exp(a + b * x))
    return pd.DataFrame({"y": y, "x": x, "component": comp})


def load_simulated() -> pd.DataFrame:
    """A simulated two-component Poisson regression mixture with known truth (500 rows).

    ``y | x ~ 0.6 Poisson(exp(0.5 - x)) + 0.4 Poisson(exp(2 + x))`` with
    ``x ~ Uniform(-1, 1)``; the column ``component`` records the latent class of each
    row (1 or 2, numbered like emglm's components), which a fit must not use. The
    parameters are returned by :func:`simulated_truth`.

    Returns
    -------
    pandas.DataFrame
        ``y`` (int count), ``x`` (float), ``component`` (int, 1 or 2).

    Notes
    -----
    Source: generated once by ``simulate_poisson_mixture(n=500, seed=20261121)`` with
    numpy 2 and stored as ``simulated.csv``, so that the data do not depend on the
    numpy version.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> from emglm import EMGLM
    >>> from emglm.datasets import load_simulated
    >>> sim = load_simulated()
    >>> res = EMGLM.from_formula("y ~ x", sim, k=2, family=sm.families.Poisson()).fit()
    >>> res.params.round(1).loc["x"].tolist()
    [-1.0, 0.9]
    """
    return _read("simulated.csv")
