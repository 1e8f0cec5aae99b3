"""Predictions of mixtures whose components are not GLMs (``family=`` a ComponentFamily).

The marginal mean ``sum_j pi_ij E_j(y | x_i)`` uses each class's own mean (the component's
``mean``: a truncated count's conditional mean, a survival time's mean, the latent mean of a
Tobit, the expected code of an ordinal response); for categorical components
``which="prob"`` gives the mixture's category probabilities ``sum_j pi_ij P_j(y = c | x_i)``.
The response is never read for these; ``"posterior"`` and ``"class"`` use it on the
training rows only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .mixing import log_prior

__all__ = ["predict_component", "COMPONENT_WHICH"]

COMPONENT_WHICH = ("mean", "components", "prior", "prob", "posterior", "class")


def predict_component(res, exog=None, which="mean", offset=None, exposure=None, *, endog=None,
                      fixed=None, concomitant=None, groups=None):
    """:meth:`EMGLMResults.predict` for component families (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> from emglm.components import OrderedLogit
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=500)
    >>> y = np.digitize(x + rng.logistic(size=500), [-1.0, 1.0])
    >>> res = EMGLM(y, x[:, None], k=1, family=OrderedLogit()).fit()
    >>> prob = res.predict(np.array([[0.0], [2.0]]), which="prob")
    >>> list(prob.columns), bool(np.allclose(prob.sum(axis=1), 1.0))
    (['0', '1', '2'], True)
    """
    from .mixture import Rows
    from .prediction import predict_data

    if which not in COMPONENT_WHICH:
        raise ValueError(f"which must be one of {COMPONENT_WHICH} for {res.model.family_name} components, "
                         f"got {which!r}")
    mix, k = res.mixture, res.k
    comp, params = mix.components[0], mix.component_params(res.theta)[0]
    if which in ("posterior", "class") and (exog is not None or endog is not None):
        if which == "posterior" or endog is not None:
            raise ValueError(f"which={which!r} with new rows needs their posterior, which "
                             f"{res.model.family_name} components give on the training rows only")
    d = predict_data(res, exog, offset, exposure, None, fixed, concomitant, groups)
    idx = d["index"]
    new = exog is not None or offset is not None or exposure is not None
    rows = mix.rows if not new else Rows(np.zeros(d["X"].shape[0]), d["X"], d["offset"],
                                          exog_names=res.model.exog_names)
    prior = np.broadcast_to(np.exp(log_prior(mix.gamma(res.theta), d["Z"], mix.K, equal=mix.equal)),
                            (d["X"].shape[0], mix.K))
    if which == "prior":
        return pd.DataFrame(np.array(prior), index=idx, columns=res.component_names)
    if which == "posterior":
        return pd.DataFrame(np.asarray(res.e_step.T), index=idx, columns=res.component_names)
    if which == "class":
        T = prior if new else np.asarray(res.e_step.T)
        lab = np.asarray(res.component_names, dtype=object)[np.argmax(T, axis=1)]
        return pd.Series(pd.Categorical(lab, categories=res.component_names), index=idx, name="class")
    if which == "prob":
        if not callable(getattr(comp, "prob", None)) or len(mix.regression) > 1:
            raise ValueError(f"which='prob' is for categorical components; {res.model.family_name} has none")
        P = comp.prob(params, rows)  # (k, n, J)
        pk = prior[:, :k]
        out = np.einsum("nk,knj->nj", pk / pk.sum(axis=1, keepdims=True), P)
        return pd.DataFrame(out, index=idx, columns=comp.family.level_names(comp.J))
    try:
        M = np.vstack([c.mean(p, rows) for c, p in zip(mix.components, mix.component_params(res.theta))
                       if c.is_regression]).T  # (n, k)
    except NotImplementedError:
        raise ValueError(f"{res.model.family_name} components have no mean; "
                         "use which='prob' for category probabilities") from None
    if which == "components":
        return pd.DataFrame(M, index=idx, columns=res.component_names[:k])
    mean = np.sum(prior[:, :k] * M, axis=1)
    if mix.K > k:
        mean = mean + prior[:, k] * res.model.point_mass
    return pd.Series(mean, index=idx, name="mean")
