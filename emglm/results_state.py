"""Fitted results as JSON and arrays, and :func:`save`: the writing half of the file format.

Works on a results object through its public attributes and its own cache dictionary, so
the results layer saves without importing the loading code (:mod:`emglm.io` describes the
format and loads files).
"""

from __future__ import annotations

import os

import numpy as np

from .model_state import model_to_state

__all__ = ["save", "results_to_state"]

# quantities the summary and inference need, computed before the data go
_KEEP = ("params", "proportions", "scale", "llf_pooled", "_theta_labels", "_cov", "_scale_mask",
         "_reported_params", "_bse_flat", "bse", "tvalues", "pvalues", "bse_scale",
         "bse_proportions")
# scalar properties computed from row-level arrays, frozen on the data-free results
_FROZEN = ("entropy", "deviance", "pearson_chi2")
# cached row-level quantities dropped with the data
_ROW_LEVEL = ("prior", "posterior", "_pooled_train", "_prior_rows", "resid_response",
              "resid_pearson", "resid_deviance", "resid_working", "resid_anscombe")



def _fill_caches(res):
    for name in _KEEP:
        try:
            getattr(res, name)
        except Exception:  # e.g. cov_type="none" or a failed covariance: keep what exists
            pass


def results_to_state(res, remove_data, arrays):
    """JSON description of the results (arrays go into ``arrays``)."""
    from dataclasses import asdict

    em = res.em_result
    arrays["theta"] = np.asarray(res.theta, dtype=float)
    arrays["llf_history"] = np.asarray(em.objective_history, dtype=float)
    hist = [np.asarray(h, dtype=float) for h in (em.history or [])]
    if not remove_data and hist and all(h.shape == hist[0].shape for h in hist):
        arrays["param_history"] = np.vstack(hist)
    doc = {"class": "DataFreeResults" if remove_data else "EMGLMResults", "cov_type": res.cov_type,
           "n_iter": int(em.n_iter), "converged": bool(em.converged), "rate": float(em.rate),
           "n_fallback": int(em.n_fallback), "n_starts": int(res.n_starts), "llf": float(res.llf),
           "warmup": None}
    w = getattr(res, "warmup", None)
    if w is not None:
        wd = asdict(w)
        for key in ("llf", "n_iter"):
            arrays[f"warmup.{key}"] = np.asarray(wd.pop(key))
        doc["warmup"] = {k: (list(map(int, v)) if isinstance(v, (list, tuple)) else int(v)) for k, v in wd.items()}
    kw = getattr(res, "cov_kwds", None) or {}
    # covariance options: numbers and flags as JSON; cluster codes (one per row) as an array
    doc["cov_kwds"] = {k: (v if isinstance(v, (bool, int, float, str)) or v is None else None)
                       for k, v in kw.items() if k != "codes"}
    if "codes" in kw and not remove_data:
        arrays["cov_kwds.codes"] = np.asarray(kw["codes"])
    if remove_data:
        _fill_caches(res)
    cov = res.__dict__.get("_cov")  # the covariance if it was computed (not computed here)
    if cov is not None:
        doc["cov"] = {}
        for key, v in cov.items():  # matrices, replicates, counts and flags (see cov_details)
            if isinstance(v, np.ndarray) and not v.dtype.hasobject:
                arrays[f"cov.{key}"] = v
                doc["cov"][key] = {"array": True}
            elif v is None or isinstance(v, (bool, int, float, str, np.bool_, np.integer, np.floating)):
                doc["cov"][key] = {"value": v.item() if isinstance(v, np.generic) else v}
    if remove_data:
        frozen = {}
        for name in _FROZEN:
            try:
                frozen[name] = float(getattr(res, name))
            except Exception:
                frozen[name] = float("nan")
        doc["frozen"] = frozen
        doc["llf_pooled"] = float(res.llf_pooled)
        arrays["proportions"] = res.proportions.to_numpy()
        if "bse_proportions" in res.__dict__:
            arrays["bse_proportions"] = res.bse_proportions.to_numpy()
    st = getattr(res, "starts", None)  # what the starts found (a small table)
    if st is not None:
        doc["starts"] = {"columns": {str(c): np.asarray(st[c]).tolist() for c in st.columns},
                         "attrs": {str(k): (v.item() if isinstance(v, np.generic) else v)
                                   for k, v in st.attrs.items()}}
    return doc


def save(res, fname, remove_data=False):
    """Write fitted results to ``fname`` (a path or a writable binary file object).

    The file is a zip of JSON and ``.npy`` arrays with a checksum; loading it runs no code.
    A path is written through a temporary file in the same folder, renamed into place.

    Parameters
    ----------
    res : EMGLMResults
    fname : str, os.PathLike or file object
    remove_data : bool
        Drop the per-row arrays; see the module docstring for what remains.

    Examples
    --------
    >>> import numpy as np, io
    >>> from emglm import EMGLM
    >>> res = EMGLM(np.r_[np.zeros(20), np.ones(20) * 5] + np.arange(40) % 3,
    ...             np.ones((40, 1)), k=2).fit()
    >>> buf = io.BytesIO()
    >>> save(res, buf, remove_data=True)
    >>> from emglm import load
    >>> buf.seek(0) == 0 and load(buf).model.endog.size == 0
    True
    """
    from .savefile import write_container

    if not (hasattr(res, "theta") and hasattr(res, "model") and hasattr(res, "em_result")):
        raise TypeError(f"res must be EMGLMResults, got {type(res).__name__}")
    if not isinstance(remove_data, bool):
        raise TypeError(f"remove_data must be True or False, got {remove_data!r}")
    if not (hasattr(fname, "write") or isinstance(fname, (str, os.PathLike))):
        raise TypeError(f"fname must be a path or a binary file object, got {type(fname).__name__}")
    if getattr(res, "data_removed", False) and not remove_data:
        remove_data = True  # its rows are gone already
    arrays = {}
    doc = {"kind": "results", "results": results_to_state(res, remove_data, arrays),
           "model": model_to_state(res.model, remove_data, arrays)}
    write_container(fname, doc, arrays)
