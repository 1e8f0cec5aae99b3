"""Saving and loading fitted results: a file format that runs no code when loaded.

:meth:`EMGLMResults.save` (or :func:`save`) writes a versioned container: a zip of JSON
documents and ``.npy`` arrays read back with ``np.load(allow_pickle=False)``, with a sha256
checksum over the whole file (:mod:`emglm.savefile`). :func:`load` reads it, checks it, and
rebuilds the model and the results; per-row quantities (posteriors, E-step, residuals)
are recomputed from the stored parameter vector, so files hold only the data and the
estimates. Errors say whether a file is not an emglm file, is corrupted, or was written by a
newer emglm. A save writes a temporary file next to the target and renames it into place,
so a failed save never destroys an existing file.

What is stored: the model's options (family by name, its parameters and its link), its
per-row arrays (response, trials, designs, offset, exposure, weights, group codes and
labels, row labels), names, the user's DataFrame for formula models, the fitted parameter
vector ``theta``, the EM record (iterations, convergence, llf history and the accepted
parameter vectors) and the covariance when it was computed. Formula models store their
formula strings and patsy design information as JSON (:mod:`emglm.patsy_json`: terms,
categorical levels and contrasts, and the state of stateful transforms such as the means
kept by ``center``/``standardize``), so ``predict`` re-applies them to new data. Their terms
are re-evaluated only in a restricted namespace (patsy's functions and numpy's numerical
functions; :mod:`emglm.formula_env`): a formula calling a function of your own loads, but
cannot predict on new data after loading.

``remove_data=True`` drops every per-row array and keeps what the summary needs:
``params``, ``bse``, ``tvalues``, ``pvalues``, ``cov_params()``, ``conf_int()``,
proportions, dispersions, ``llf``, ``aic``/``bic``/``icl``, ``entropy`` and ``summary()``.
Predictions for new data still work; quantities of the training rows (``posterior``,
``fittedvalues``, residuals, plots of them) raise :class:`DataRemovedError`.

Files of the older pickle-based format load only with ``load(path, allow_pickle=True)``:
unpickling runs code stored in the file, so do that only for files you trust. Results can
still be pickled with the :mod:`pickle` module by those who want it.

Examples
--------
>>> import numpy as np, os, tempfile
>>> import emglm
>>> rng = np.random.default_rng(0)
>>> y = np.concatenate([rng.normal(-2, 1, 100), rng.normal(2, 1, 100)])
>>> res = emglm.EMGLM(y, np.ones((200, 1)), k=2).fit()
>>> path = os.path.join(tempfile.mkdtemp(), "fit.emglm")
>>> res.save(path)
>>> bool(np.allclose(emglm.load(path).params, res.params))
True
"""

from __future__ import annotations

import io
import os
import pickle

import numpy as np

from .results import EMGLMResults
from .savefile import EmglmFileError

__all__ = ["save", "load", "DataRemovedError", "DataFreeResults", "EmglmFileError"]


class DataRemovedError(AttributeError):
    """A training-row quantity was asked of results saved with ``remove_data=True``."""


def _restore_patsy(cls, state):
    obj = object.__new__(cls)
    obj.__dict__.update(state)
    return obj


def _patsy_env():
    """Evaluation namespace of re-created design infos: patsy built-ins and numpy."""
    import patsy
    import patsy.builtins as builtins

    ns = {name: getattr(builtins, name) for name in builtins.__all__}
    ns.update(np=np, numpy=np)
    return patsy.EvalEnvironment([ns])


class _Unpickler(pickle.Unpickler):
    """Unpickler that maps the numerical core of emglm 0.1.0 files to a stand-in."""

    def find_class(self, module, name):
        if module == "emglm.engine":  # MixtureEngine and its cached _EStep
            return _OldEngine
        return super().find_class(module, name)


# quantities the summary and inference need, computed before the data go
_KEEP = ("params", "proportions", "scale", "llf_pooled", "_theta_labels", "_cov", "_scale_mask",
         "_reported_params", "_bse_flat", "bse", "tvalues", "pvalues", "bse_scale",
         "bse_proportions")
# scalar properties computed from row-level arrays, frozen on the data-free results
_FROZEN = ("entropy", "deviance", "pearson_chi2")
# cached row-level quantities dropped with the data
_ROW_LEVEL = ("prior", "posterior", "_pooled_train", "_prior_rows", "resid_response",
              "resid_pearson", "resid_deviance", "resid_working", "resid_anscombe")


def _removed(name):
    def fget(self):
        raise DataRemovedError(f"{name} is not available: the results were saved with remove_data=True")

    return property(fget)


class DataFreeResults(EMGLMResults):
    """Results whose training data were removed by ``save(path, remove_data=True)``.

    Everything computed from parameters (``params``, ``bse``, ``cov_params()``,
    ``conf_int()``, ``summary()``, information criteria, ``predict`` on new data) works;
    training-row quantities raise :class:`DataRemovedError`.
    """

    posterior = _removed("posterior")
    prior = _removed("prior")
    fittedvalues = _removed("fittedvalues")
    resid_response = _removed("resid_response")
    resid_pearson = _removed("resid_pearson")
    resid_deviance = _removed("resid_deviance")
    _pooled_train = _removed("training-row pooled predictions")
    _prior_rows = _removed("prior of the training rows")

    @property
    def entropy(self):
        return self._frozen["entropy"]

    @property
    def deviance(self):
        return self._frozen["deviance"]

    @property
    def pearson_chi2(self):
        return self._frozen["pearson_chi2"]

    def resid_quantile(self, random_state=None):
        raise DataRemovedError("resid_quantile is not available: the results were saved with remove_data=True")

    def predict(self, exog=None, which="mean", offset=None, exposure=None, **kwargs):
        if exog is None:
            raise DataRemovedError("predict needs exog: the training data were removed (remove_data=True)")
        return super().predict(exog, which, offset, exposure, **kwargs)

    def get_prediction(self, exog=None, which="mean", offset=None, exposure=None, **kwargs):
        if exog is None:
            raise DataRemovedError("get_prediction needs exog: the training data were removed (remove_data=True)")
        return super().get_prediction(exog, which, offset, exposure, **kwargs)

    # averages over the training rows
    def get_margeff(self, *args, **kwargs):
        raise DataRemovedError("get_margeff averages over the training rows, which were removed (remove_data=True)")

    def class_means(self, *args, **kwargs):
        raise DataRemovedError("class_means averages over the training rows, which were removed (remove_data=True)")

    def class_probabilities(self, *args, **kwargs):
        raise DataRemovedError("class_probabilities averages over the training rows, which were removed "
                               "(remove_data=True)")


def _empty_like_rows(a):
    """A zero-row array with the columns of ``a`` (keeps ``shape[1]`` and ``is not None``)."""
    if a is None:
        return None
    a = np.asarray(a)
    return np.empty((0,) + a.shape[1:], dtype=a.dtype)


# ---------------------------------------------------------------------- family
def _family_to_json(family):
    import numbers

    import statsmodels.genmod.families as smf

    link = family.link
    params = {k: float(v) for k, v in vars(link).items()
              if isinstance(v, numbers.Real) and not isinstance(v, bool)}
    d = {"name": type(family).__name__, "link": type(link).__name__, "link_params": params}
    if isinstance(family, smf.NegativeBinomial):
        d["alpha"] = float(family.alpha)
    if isinstance(family, smf.Tweedie):
        d["var_power"], d["eql"] = float(family.var_power), bool(family.eql)
    return d


def _family_from_json(d):
    import statsmodels.genmod.families as smf
    import statsmodels.genmod.families.links as sml

    from .families import SUPPORTED_FAMILIES

    classes = {c.__name__: c for c in SUPPORTED_FAMILIES}
    cls = classes.get(d.get("name"))
    link_cls = getattr(sml, str(d.get("link")), None)
    if cls is None or not (isinstance(link_cls, type) and issubclass(link_cls, sml.Link)):
        raise EmglmFileError(f"the file names an unknown family or link: {d.get('name')!r}, {d.get('link')!r}")
    link = link_cls()
    for k, v in d.get("link_params", {}).items():
        setattr(link, k, v)
    kw = {}
    if issubclass(cls, smf.NegativeBinomial):
        kw["alpha"] = d["alpha"]
    if issubclass(cls, smf.Tweedie):
        kw.update(var_power=d["var_power"], eql=d["eql"])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # links statsmodels calls unusual: the fit already used it
        return cls(link=link, **kw)


# ---------------------------------------------------------------------- model and results
_INDEXES = ("row_index", "group_labels")


def _model_state(model, remove_data, arrays):
    """JSON description of the model (its arrays go into ``arrays``)."""
    import numbers

    import pandas as pd
    import statsmodels.genmod.families as smf

    from .formula import Design
    from .patsy_json import design_info_to_json
    from .savefile import frame_to_arrays, index_to_arrays

    doc, skipped = {}, []
    for name, v in vars(model).items():
        key = f"model.{name}"
        if isinstance(v, smf.Family):
            doc[name] = {"family": _family_to_json(v)}
        elif name == "family":
            raise TypeError(f"the file format stores statsmodels GLM families only, not {type(v).__name__}; "
                            "pickle these results instead")
        elif isinstance(v, Design):
            doc[name] = {"design": {part: design_info_to_json(getattr(v, part))
                                    for part in ("endog", "exog", "fixed", "concomitant")},
                         "fixed_columns": None if v.fixed_columns is None else [int(c) for c in v.fixed_columns]}
        elif isinstance(v, pd.DataFrame):
            doc[name] = {"frame": None if remove_data else frame_to_arrays(v, arrays, key)}
        elif isinstance(v, pd.Index) or name in _INDEXES:
            keep = not (remove_data and name == "row_index")
            doc[name] = {"index": index_to_arrays(v, arrays, key) if keep else None}
        elif isinstance(v, np.ndarray):
            a = _empty_like_rows(v) if remove_data and v.ndim >= 1 and v.shape[0] == model.exog.shape[0] else v
            arrays[key] = a
            doc[name] = {"array": key}
        elif v is None or isinstance(v, (bool, str, numbers.Integral, numbers.Real)):
            doc[name] = {"value": v.item() if isinstance(v, np.generic) else v}
        elif isinstance(v, (list, tuple)) and all(isinstance(x, (str, int, float)) for x in v):
            doc[name] = {"list": list(v)}
        else:
            if not name.startswith("_"):
                # a public attribute the format cannot hold: refuse rather than write a file
                # whose model would come back without it
                raise TypeError(f"cannot store the model's {name!r} ({type(v).__name__}) in an emglm "
                                "file; pickle these results instead")
            skipped.append(name)  # private caches and helpers, rebuilt on use
    model.dispersion_floor()  # it comes from the data: computed while they are here
    doc["_var_floor_value"] = {"value": getattr(model, "_var_floor_value", None)}
    return doc


def _model_from_state(doc, arrays):
    from .formula import Design
    from .model import EMGLM
    from .patsy_json import design_info_from_json
    from .savefile import frame_from_arrays, index_from_arrays

    model = object.__new__(EMGLM)
    for name, d in doc.items():
        if "family" in d:
            v = _family_from_json(d["family"])
        elif "design" in d:
            parts = {p: design_info_from_json(j) for p, j in d["design"].items()}
            v = Design(parts["endog"], parts["exog"], parts["fixed"], d["fixed_columns"], parts["concomitant"])
        elif "frame" in d:
            v = frame_from_arrays(d["frame"], arrays, f"model.{name}")
        elif "index" in d:
            v = index_from_arrays(d["index"], arrays, f"model.{name}")
        elif "array" in d:
            v = arrays[d["array"]]
        elif "list" in d:
            v = list(d["list"])
        else:
            v = d["value"]
        setattr(model, name, v)
    return model


def _fill_caches(res):
    for name in _KEEP:
        try:
            getattr(res, name)
        except Exception:  # e.g. cov_type="none" or a failed covariance: keep what exists
            pass


def _results_state(res, remove_data, arrays):
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
    return doc


def _results_from_state(doc, arrays, model):
    import pandas as pd

    from .em import EMResult
    from .warmup import WarmupInfo

    theta = arrays["theta"]
    hist = list(arrays["param_history"]) if "param_history" in arrays else []
    em = EMResult(params=theta, n_iter=doc["n_iter"], converged=doc["converged"], history=hist,
                  objective_history=list(arrays["llf_history"]), rate=doc["rate"], n_fallback=doc["n_fallback"])
    saved_kw = doc.get("cov_kwds") or {}
    if doc["class"] == "EMGLMResults":
        if doc["cov_type"] == "cluster":
            cov_kwds = {"groups": arrays["cov_kwds.codes"], "use_correction": saved_kw.get("use_correction", True)}
        elif doc["cov_type"] == "bootstrap":
            cov_kwds = saved_kw
        else:
            cov_kwds = None
        res = EMGLMResults(model, model.make_mixture(), theta, em, n_starts=doc["n_starts"],
                           cov_type=doc["cov_type"], cov_kwds=cov_kwds)
    else:
        mix = model.make_mixture()  # no rows: it only unpacks parameters and predicts
        mix.n_jobs = 1
        res = object.__new__(DataFreeResults)
        res.__dict__.update(cov_type=doc["cov_type"], model=model, mixture=mix, theta=theta, _em=em,
                            n_iter=int(em.n_iter), converged=bool(em.converged),
                            llf_history=np.asarray(em.objective_history), n_starts=doc["n_starts"], _es=None,
                            llf=doc["llf"], nobs=model.nobs, k=model.k, n_groups=model.n_groups,
                            family=model.family, _frozen=doc["frozen"], llf_pooled=doc["llf_pooled"],
                            cov_kwds=dict(saved_kw))
        names = model.component_names
        res.proportions = pd.Series(arrays["proportions"], index=names, name="proportion")
        if "bse_proportions" in arrays:
            res.bse_proportions = pd.Series(arrays["bse_proportions"], index=names, name="bse_proportion")
    if "cov" in doc:
        # the covariance computed before saving, put where the results cache it
        cov = {key: arrays[f"cov.{key}"] if d.get("array") else d["value"] for key, d in doc["cov"].items()}
        vars(res).update(_cov=cov, _cov_pd=cov.get("positive_definite"))
    w = doc.get("warmup")
    res.warmup = None if w is None else WarmupInfo(llf=arrays["warmup.llf"], n_iter=arrays["warmup.n_iter"], **w)
    return res


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
    >>> buf.seek(0) == 0 and load(buf).model.endog.size == 0
    True
    """
    from .savefile import write_container

    if not isinstance(res, EMGLMResults):
        raise TypeError(f"res must be EMGLMResults, got {type(res).__name__}")
    if not isinstance(remove_data, bool):
        raise TypeError(f"remove_data must be True or False, got {remove_data!r}")
    if not (hasattr(fname, "write") or isinstance(fname, (str, os.PathLike))):
        raise TypeError(f"fname must be a path or a binary file object, got {type(fname).__name__}")
    if isinstance(res, DataFreeResults) and not remove_data:
        remove_data = True  # its rows are gone already
    arrays = {}
    doc = {"kind": "results", "results": _results_state(res, remove_data, arrays),
           "model": _model_state(res.model, remove_data, arrays)}
    write_container(fname, doc, arrays)


def load(fname, allow_pickle=False):
    """Load results written by :meth:`EMGLMResults.save`.

    Parameters
    ----------
    fname : str, os.PathLike or file object
    allow_pickle : bool
        Also accept files of the older pickle-based format. Unpickling runs code stored in
        the file: only for files you trust.

    Returns
    -------
    EMGLMResults

    Raises
    ------
    EmglmFileError (a ValueError)
        Not an emglm file, corrupted, written by a newer emglm, or (without
        ``allow_pickle``) a pickle.

    Examples
    --------
    >>> import numpy as np, io
    >>> from emglm import EMGLM
    >>> res = EMGLM(np.arange(30.0) % 7, np.ones((30, 1)), k=1).fit()
    >>> buf = io.BytesIO(); res.save(buf); _ = buf.seek(0)
    >>> load(buf).llf == res.llf
    True
    """
    from .savefile import is_pickle, read_container

    if not isinstance(allow_pickle, bool):
        raise TypeError(f"allow_pickle must be True or False, got {allow_pickle!r}")
    if hasattr(fname, "read"):
        data, what = fname.read(), "the file"
    elif isinstance(fname, (str, os.PathLike)):
        with open(fname, "rb") as fh:
            data = fh.read()
        what = repr(os.fspath(fname))
    else:
        raise TypeError(f"fname must be a path or a binary file object, got {type(fname).__name__}")
    if allow_pickle and is_pickle(data[:2]):
        return _load_pickle(io.BytesIO(data), what)
    doc, arrays = read_container(io.BytesIO(data), what)
    if doc.get("kind") != "results":
        raise EmglmFileError(f"{what} is an emglm file but holds no fitted results")
    try:
        model = _model_from_state(doc["model"], arrays)
        return _results_from_state(doc["results"], arrays, model)
    except EmglmFileError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise EmglmFileError(f"{what} is corrupted or incomplete ({type(exc).__name__}: {exc})") from None


def _load_pickle(fh, what):
    """The older format: a pickle (runs code stored in the file)."""
    obj = _Unpickler(fh).load()
    if not isinstance(obj, EMGLMResults):
        raise TypeError(f"{what} does not hold emglm results (found {type(obj).__name__})")
    return _upgrade(obj)


class _OldEngine:
    """Stand-in for the numerical core of files written by emglm 0.1.0 (``emglm.engine``)."""

    def __setstate__(self, state):
        if isinstance(state, tuple):  # (dict, slots) of classes with __slots__
            state = {**(state[0] or {}), **(state[1] or {})}
        self.__dict__.update(state)


def _upgrade(res):
    """Rebuild the numerical mixture of results written by emglm 0.1.0 from their model."""
    model = res.model
    if "_design" in model.__dict__ and "design" not in model.__dict__:
        model.design = model.__dict__.pop("_design")
    if "mixture" not in res.__dict__ and "_engine" in res.__dict__:
        old = res.__dict__.pop("_engine")
        res.mixture = res.model.make_mixture(k=res.k, var_floor=getattr(old, "var_floor", None))
        res._es = None
    return res
