"""Methods of a fitted mixture after the fit: tests, predictions with standard errors,
marginal effects, class means and class probabilities.

:class:`PostEstimation` is a base class of :class:`emglm.results.EMGLMResults`; each method
delegates to :mod:`emglm.hypothesis` (tests of linear restrictions) or :mod:`emglm.margins`
(delta-method predictions, marginal effects, Stata's ``estat lcmean`` and ``estat lcprob``).
"""

from __future__ import annotations

__all__ = ["PostEstimation"]


class PostEstimation:
    """Post-estimation methods shared by fitted-mixture results (see the module docstring)."""

    # ------------------------------------------------------------------ tests (emglm.hypothesis)
    def t_test(self, r_matrix, q_matrix=None, cov_p=None):
        """z tests of linear restrictions ``R theta = q``, one per row (statsmodels ``t_test``).

        Parameters
        ----------
        r_matrix : str, list of str, array_like or tuple ``(R, q)``
            Parameters are named ``component:term`` in ``cov_params()`` order, e.g.
            ``"comp1:x - comp2:x = 0"``; see :mod:`emglm.hypothesis`.
        q_matrix : array_like, optional
            Right-hand side for an array ``r_matrix``.
        cov_p : array_like, optional
            Covariance to use instead of ``cov_params()``.

        Returns
        -------
        statsmodels ContrastResults (normal distribution)

        Examples
        --------
        >>> import numpy as np
        >>> from emglm import EMGLM
        >>> y = np.r_[np.zeros(60), np.ones(60) * 5] + np.random.default_rng(0).normal(size=120)
        >>> res = EMGLM(y, np.ones((120, 1)), k=2).fit()
        >>> round(float(res.t_test("comp2:x - comp1:x = 0").effect[0]), 1)
        5.0
        """
        from .hypothesis import t_test

        return t_test(self, r_matrix, q_matrix, cov_p)

    def wald_test(self, r_matrix, q_matrix=None, cov_p=None, use_f=False, scalar=True):
        """Joint Wald (chi-square) test of ``R theta = q`` (statsmodels ``wald_test``).

        Examples
        --------
        >>> import numpy as np
        >>> from emglm import EMGLM
        >>> y = np.r_[np.zeros(60), np.ones(60) * 5] + np.random.default_rng(0).normal(size=120)
        >>> res = EMGLM(y, np.ones((120, 1)), k=2).fit()
        >>> bool(res.wald_test("comp1:x = comp2:x").pvalue < 1e-6)
        True
        """
        from .hypothesis import wald_test

        return wald_test(self, r_matrix, q_matrix, cov_p, use_f=use_f, scalar=scalar)

    def f_test(self, r_matrix, q_matrix=None, cov_p=None):
        """F form of :meth:`wald_test` (statistic / J on J and ``df_resid`` degrees of freedom).

        Examples
        --------
        >>> import numpy as np
        >>> from emglm import EMGLM
        >>> y = np.r_[np.zeros(60), np.ones(60) * 5] + np.random.default_rng(0).normal(size=120)
        >>> res = EMGLM(y, np.ones((120, 1)), k=2).fit()
        >>> int(res.f_test("comp1:scale = comp2:scale").df_num)
        1
        """
        from .hypothesis import f_test

        return f_test(self, r_matrix, q_matrix, cov_p)

    # ------------------------------------------------------------------ margins (emglm.margins)
    def get_prediction(self, exog=None, which="mean", offset=None, exposure=None, *, fixed=None,
                       concomitant=None):
        """Predicted marginal mean (or component means) with delta-method standard errors.

        ``which="mean"``: the prior-weighted mean ``sum_j pi_ij mu_ij`` (concomitant
        proportions included); ``which="components"``: each component's mean ``mu_ij``.
        New data as in :meth:`predict`. See :func:`emglm.margins.get_prediction`.

        Examples
        --------
        >>> import numpy as np
        >>> from emglm import EMGLM
        >>> y = np.r_[np.zeros(60), np.ones(60) * 5] + np.random.default_rng(0).normal(size=120)
        >>> res = EMGLM(y, np.ones((120, 1)), k=2).fit()
        >>> list(res.get_prediction(np.ones((1, 1))).summary_frame().columns)
        ['mean', 'mean_se', 'mean_ci_lower', 'mean_ci_upper']
        """
        from .margins import get_prediction

        return get_prediction(self, exog, which, offset, exposure, fixed=fixed, concomitant=concomitant)

    def get_margeff(self, at="overall", method="dydx", dummy=True):
        """Average marginal effects on the marginal mean, with delta-method standard errors.

        See :func:`emglm.margins.get_margeff`.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from emglm import EMGLM
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"x": rng.normal(size=300)})
        >>> df["y"] = np.where(rng.random(300) < 0.5, 2 * df.x, 5 + 2 * df.x) + rng.normal(size=300)
        >>> me = EMGLM.from_formula("y ~ x", df, k=2).fit().get_margeff()
        >>> round(float(me.margeff[0]), 0)
        2.0
        """
        from .margins import get_margeff

        return get_margeff(self, at=at, method=method, dummy=dummy)

    def class_means(self, alpha=0.05):
        """Mean of the response within each class (Stata's ``estat lcmean``), with SEs.

        See :func:`emglm.margins.class_means`.

        Examples
        --------
        >>> import numpy as np
        >>> from emglm import EMGLM
        >>> y = np.r_[np.zeros(60), np.ones(60) * 5] + np.random.default_rng(0).normal(size=120)
        >>> np.round(EMGLM(y, np.ones((120, 1)), k=2).fit().class_means()["mean"].to_numpy(), 0)
        array([0., 5.])
        """
        from .margins import class_means

        return class_means(self, alpha=alpha)

    def class_probabilities(self, alpha=0.05):
        """Average prior class probabilities (Stata's ``estat lcprob``), with SEs.

        See :func:`emglm.margins.class_probabilities`.

        Examples
        --------
        >>> import numpy as np
        >>> from emglm import EMGLM
        >>> y = np.r_[np.zeros(60), np.ones(60) * 5] + np.random.default_rng(0).normal(size=120)
        >>> np.round(EMGLM(y, np.ones((120, 1)), k=2).fit().class_probabilities()["prob"].to_numpy(), 1)
        array([0.5, 0.5])
        """
        from .margins import class_probabilities

        return class_probabilities(self, alpha=alpha)
