"""The statsmodels ``Summary`` of a fitted mixture.

Layout: a two-column header (response, family, link, components, mixing, observations,
groups, covariance type | log-likelihood, AIC, BIC, ICL, entropy, convergence, iterations),
one coefficient table per component, a table of shared (``fixed``) coefficients, a table of
concomitant (multinomial-logit) mixing coefficients, and a table of proportions and
dispersions with their standard errors (delta method).
"""

from __future__ import annotations

import numpy as np
from statsmodels.iolib.summary import Summary, summary_params
from statsmodels.iolib.table import SimpleTable
from statsmodels.iolib.tableformatting import fmt_params

__all__ = ["build_summary", "MixtureSummary"]


class MixtureSummary(Summary):
    """statsmodels ``Summary`` whose LaTeX output has one ``tabular`` per table.

    ``Summary.as_latex`` merges all tables into one, which needs equal column counts; a
    mixture summary's tables (header, coefficients, proportions) differ.
    """

    def as_latex(self):
        body = "\n\n".join(t.as_latex_tabular() for t in self.tables)
        if self.extra_txt:
            body += "\n\n" + self.extra_txt.replace("_", "\\_")
        return body


def _fmt(v, spec="#8.5g"):
    return "nan" if v is None or not np.isfinite(v) else format(v, spec).strip()


def _mixing_label(res):
    m = res.model
    if m.mixing == "equal":
        return "equal"
    if m.concomitant_exog is not None:
        return "concomitant"
    return "estimated"


def _coef_table(res, rows, names, alpha, title):
    """SimpleTable of the (component, term) rows of cov_params."""
    est = res.params_flat.loc[rows].to_numpy()
    se = np.sqrt(np.diag(res.cov_params().loc[rows, rows].to_numpy()))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    from scipy import stats

    p = 2 * stats.norm.sf(np.abs(z))
    ci = res.conf_int(alpha).loc[rows].to_numpy()
    return summary_params((res, est, se, z, p, ci), yname=res.model.endog_name, xname=list(names),
                          alpha=alpha, use_t=False, title=title)


def build_summary(res, alpha=0.05, title=None):
    """Build the :class:`statsmodels.iolib.summary.Summary` of an :class:`EMGLMResults`.

    Examples
    --------
    >>> import numpy as np
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> y = np.concatenate([rng.normal(-2, 1, 150), rng.normal(2, 1, 150)])
    >>> s = EMGLM(y, np.ones((300, 1)), k=2).fit().summary()
    >>> "Component comp1" in s.as_text()
    True
    """
    if not (isinstance(alpha, float) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    m = res.model
    k = res.k
    comps = list(m.component_names)
    n_comp = f"{k}" + (f" + point mass at {m.point_mass:g}" if m.point_mass is not None else "")
    gleft = [
        ("Dep. Variable:", [m.endog_name]),
        ("Model:", ["EMGLM"]),
        ("Model Family:", [m.family_name]),
        ("Link Function:", [type(m.family.link).__name__ if hasattr(m.family, "link") else "-"]),
        ("Components:", [n_comp]),
        ("Mixing:", [_mixing_label(res)]),
        ("No. Observations:", [_fmt(res.nobs, "g")]),
        ("Covariance Type:", [res.cov_type]),
    ]
    if res.n_groups is not None:  # a line only for grouped data
        gleft.insert(7, ("No. Groups:", [str(res.n_groups)]))
    gright = [
        ("Log-Likelihood:", [_fmt(res.llf)]),
        ("AIC:", [_fmt(res.aic)]),
        ("BIC:", [_fmt(res.bic)]),
        ("ICL:", [_fmt(res.icl)]),
        ("Entropy:", [_fmt(res.entropy)]),
        ("Df Model:", [str(res.df_model)]),
        ("Converged:", [str(res.converged)]),
        ("EM iterations:", [str(res.n_iter)]),
        ("Starts:", [str(getattr(res, "n_starts", 1))]),
    ]
    smry = MixtureSummary()
    smry.add_table_2cols(res, gleft=gleft, gright=gright, yname=m.endog_name,
                         xname=list(m.exog_names),
                         title=title or f"Finite mixture of {m.family_name} "
                         f"{'GLMs' if res.mixture.glm is not None else 'components'} (EM)")
    prop = res.proportions
    glm = res.mixture.glm is not None
    for c in comps[:k]:
        # a GLM's table shows its design terms; other components all their own parameters
        terms = list(m.exog_names) if glm else [t for o, t in res.params_flat.index if o == c]
        rows = [(c, t) for t in terms]
        smry.tables.append(_coef_table(res, rows, terms, alpha,
                                       f"Component {c} (proportion {prop[c]:.4g})"))
    if m.fixed_names:
        rows = [("shared", t) for t in m.fixed_names]
        smry.tables.append(_coef_table(res, rows, m.fixed_names, alpha, "Shared by all components"))
    shared = list(getattr(m, "shared_terms", None) or [])
    if shared:  # a formula per component: each term shared by the components that have it
        who = "; ".join(f"{t}: {', '.join(c for c in comps[:k] if np.isfinite(res.params.loc[t, c]))}"
                        for t in shared)
        smry.tables.append(_coef_table(res, [("shared", t) for t in shared], shared, alpha,
                                       f"Shared terms ({who})"))
    if m.concomitant_exog is not None and m.mixing != "equal":
        rows = [lab for lab in res.params_flat.index if lab[0] == "mixing"]
        smry.tables.append(_coef_table(res, rows, [t for _, t in rows], alpha,
                                       f"Mixing: multinomial logit (reference {comps[0]})"))
    # proportions and dispersions
    bp = res.bse_proportions
    sc, bs = res.scale, res.bse_scale
    has_scale = any(c.log_scale_mask().any() for c in res.mixture.components)
    data = []
    for c in comps:
        row = [_fmt(prop[c], "#.4g"), _fmt(bp[c], "#.4g")]
        if has_scale:
            row += [_fmt(sc[c], "#.4g"), _fmt(bs[c], "#.4g")] if c in sc.index else ["", ""]
        data.append(row)
    headers = ["proportion", "std err"] + (["scale", "std err"] if has_scale else [])
    smry.tables.append(SimpleTable(data, headers=headers, stubs=comps,
                                   title="Proportions and dispersions" if has_scale else "Proportions",
                                   txt_fmt=fmt_params))
    notes = [
        f"Standard errors: {_cov_note(res)}; proportions and dispersions by the delta method.",
        "Components are ordered by increasing weighted mean linear predictor (point mass last)."
        if not res.mixture.keeps_order else "Components are in the order of the formulas given."
        if getattr(res.model, "component_terms", None) is not None else
        "Components are in the order of the families given.",
    ]
    if getattr(res, "_cov_pd", True) is False:
        notes.append("Warning: the information matrix is not positive definite; standard errors "
                     "use a pseudo-inverse and may be unreliable.")
    if not res.converged:
        notes.append("Warning: the EM did not converge.")
    from .screening import starts_note

    notes += starts_note(getattr(res, "starts", None))  # what the starts found
    smry.add_extra_txt(notes)
    return smry


def _cov_note(res):
    cov_type = res.cov_type
    if cov_type == "cluster":
        out = res.cov_details
        fac = f", small-sample factor {out['correction']:.4g}" if out["correction"] != 1.0 else ""
        return f"cluster sandwich over {out['n_clusters']} clusters{fac}"
    if cov_type == "bootstrap":
        out = res.cov_details
        return (f"nonparametric bootstrap, {out['n_boot']} replicates resampling "
                f"{'groups' if res.n_groups is not None else 'rows'} ({out['n_ok']} used, "
                f"{out['n_relabelled']} relabelled to match the estimate, {out['n_failed']} failed)")
    return {
        "oim": "observed information of the observed-data log-likelihood",
        "opg": "outer product of the unit scores",
        "robust": "sandwich (observed information and outer product of scores)",
        "none": "not computed (cov_type='none')",
    }[cov_type]
