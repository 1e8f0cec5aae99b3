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

from .model import EMGLM
from .model_state import model_from_state
from .results import EMGLMResults
from .results_datafree import DataFreeResults, DataRemovedError
from .results_state import save
from .savefile import EmglmFileError

__all__ = ["save", "load", "DataRemovedError", "DataFreeResults", "EmglmFileError"]


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
    st = doc.get("starts")
    if st is not None:
        table = pd.DataFrame(st["columns"])
        table.attrs.update(st["attrs"])
        res.starts = table
    return res


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
        model = model_from_state(doc["model"], arrays, EMGLM)
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
