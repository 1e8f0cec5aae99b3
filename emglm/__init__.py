"""emglm: finite mixtures of generalized linear models fitted by EM.

A statsmodels-style package: R-style formulas (patsy), any statsmodels GLM family, and a
results object with coefficients, standard errors, summaries, pooled predictions and
residuals.

Examples
--------
>>> import numpy as np, pandas as pd, statsmodels.api as sm
>>> import emglm
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"x": rng.uniform(-1, 1, 500)})
>>> df["y"] = rng.poisson(np.exp(np.where(rng.random(500) < 0.4, 2 + df.x, 0.3 - df.x)))
>>> res = emglm.EMGLM.from_formula("y ~ x", df, k=2, family=sm.families.Poisson()).fit()
>>> res.params.shape
(2, 2)
"""

from . import datasets, em
from .model import EMGLM
from .results import EMGLMResults
from .io import load
from .selection import select_k
from .warnings import (CollinearityWarning, ConvergenceWarning, DegenerateComponentWarning, DroppedRowsWarning,
                       MixingSeparationWarning)

__version__ = "0.1.0"

__all__ = [
    "EMGLM",
    "EMGLMResults",
    "select_k",
    "load",
    "em",
    "datasets",
    "CollinearityWarning",
    "ConvergenceWarning",
    "DegenerateComponentWarning",
    "DroppedRowsWarning",
    "MixingSeparationWarning",
    "__version__",
]
