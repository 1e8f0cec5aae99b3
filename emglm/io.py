"""Saving and loading fitted results (pickle, as statsmodels does).

:meth:`EMGLMResults.save` writes a pickle; :func:`load` reads it back. Formula models are
supported: patsy refuses to pickle its design infos, so they are written field by field
(categorical levels and the state of stateful transforms such as ``center`` included) and
re-created on loading; their evaluation namespace is reduced to the patsy built-ins
(``C``, ``I``, ``Q``, ``center``, ``standardize``...) and numpy as ``np``/``numpy``, so a
formula calling a function of your own needs that name in the formula namespace again,
i.e. is not supported for prediction after loading.

``remove_data=True`` drops every per-row array (response, designs, offsets, weights,
posteriors, E-step quantities, the user's DataFrame) and keeps what the summary needs:
``params``, ``bse``, ``tvalues``, ``pvalues``, ``cov_params()``, ``conf_int()``,
proportions, dispersions, ``llf``, ``aic``/``bic``/``icl``, ``entropy`` and ``summary()``.
Predictions for new data still work; quantities of the training rows (``posterior``,
``fittedvalues``, residuals, plots of them) raise :class:`DataRemovedError`.

.. warning::
   Loading a pickle runs code stored in the file. Only load files you trust (files you
   wrote yourself).

Examples
--------
>>> import numpy as np, os, tempfile
>>> import emglm
>>> rng = np.random.default_rng(0)
>>> y = np.concatenate([rng.normal(-2, 1, 100), rng.normal(2, 1, 100)])
>>> res = emglm.EMGLM(y, np.ones((200, 1)), k=2).fit()
>>> path = os.path.join(tempfile.mkdtemp(), "fit.pickle")
>>> res.save(path)
>>> bool(np.allclose(emglm.load(path).params, res.params))
True
"""

from __future__ import annotations

import copy
import io
import os
import pickle

import numpy as np

from .results import EMGLMResults

__all__ = ["save", "load", "DataRemovedError", "DataFreeResults"]


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


class _Pickler(pickle.Pickler):
    """Pickler writing patsy objects (which refuse pickling) field by field."""

    def reducer_override(self, obj):
        mod = type(obj).__module__ or ""
        if mod.startswith("patsy"):
            import patsy

            if isinstance(obj, patsy.EvalEnvironment):
                # the caller's namespaces (whole modules) are not picklable and not wanted
                return (_patsy_env, ())
            if hasattr(obj, "__dict__") and not isinstance(obj, type):
                return (_restore_patsy, (type(obj), dict(obj.__dict__)))
        return NotImplemented


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


def _strip(res):
    """A data-free copy of ``res`` (the original is not touched)."""
    for name in _KEEP:
        try:
            getattr(res, name)
        except Exception:  # e.g. cov_type="none" or a failed covariance: keep what exists
            pass
    frozen = {}
    for name in _FROZEN:
        try:
            frozen[name] = getattr(res, name)
        except Exception:
            frozen[name] = float("nan")
    new = copy.copy(res)
    new.__class__ = DataFreeResults
    new._frozen = frozen
    for name in _ROW_LEVEL:
        new.__dict__.pop(name, None)
    new._es = None
    # cluster labels are one per training row
    new.cov_kwds = {k: v for k, v in (getattr(res, "cov_kwds", None) or {}).items() if k != "codes"}
    new._em = copy.copy(res._em)
    new._em.history = []  # parameter vectors of every iteration

    m = copy.copy(res.model)
    for name in ("endog", "trials", "exog", "offset", "exposure", "freq_weights", "fixed_exog",
                 "concomitant_exog", "group_codes"):
        if hasattr(m, name):
            setattr(m, name, _empty_like_rows(getattr(m, name)))
    m.row_index = None
    m.data = None
    new.model = m

    new.mixture = m.make_mixture(k=res.k)
    new.mixture.n_jobs = 1
    return new


def save(res, fname, remove_data=False):
    """Pickle fitted results to ``fname`` (a path or a writable binary file object).

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
    if not isinstance(res, EMGLMResults):
        raise TypeError(f"res must be EMGLMResults, got {type(res).__name__}")
    if not isinstance(remove_data, bool):
        raise TypeError(f"remove_data must be True or False, got {remove_data!r}")
    obj = _strip(res) if remove_data else res
    if hasattr(fname, "write"):
        _Pickler(fname, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
        return
    if not isinstance(fname, (str, os.PathLike)):
        raise TypeError(f"fname must be a path or a binary file object, got {type(fname).__name__}")
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)  # nothing written if pickling fails
    with open(fname, "wb") as fh:
        fh.write(buf.getvalue())


def load(fname):
    """Load results written by :meth:`EMGLMResults.save`.

    .. warning::
       Unpickling runs code stored in the file: only load files you trust.

    Parameters
    ----------
    fname : str, os.PathLike or file object

    Returns
    -------
    EMGLMResults

    Examples
    --------
    >>> import numpy as np, io
    >>> from emglm import EMGLM
    >>> res = EMGLM(np.arange(30.0) % 7, np.ones((30, 1)), k=1).fit()
    >>> buf = io.BytesIO(); res.save(buf); _ = buf.seek(0)
    >>> load(buf).llf == res.llf
    True
    """
    if hasattr(fname, "read"):
        obj = _Unpickler(fname).load()
    else:
        if not isinstance(fname, (str, os.PathLike)):
            raise TypeError(f"fname must be a path or a binary file object, got {type(fname).__name__}")
        with open(fname, "rb") as fh:
            obj = _Unpickler(fh).load()
    if not isinstance(obj, EMGLMResults):
        raise TypeError(f"{fname!r} does not hold emglm results (found {type(obj).__name__})")
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
