"""Picklable state of patsy design infos (used by :class:`emglm.formula.Design`).

patsy refuses to pickle its ``DesignInfo`` and everything inside it, so a formula model
could not be pickled, deep-copied, sent to a worker process or cached. What a design info
needs to transform new data is plain data: the formula's terms, the categorical levels and
contrasts, and the state of stateful transforms (the mean remembered by ``center(x)``, the
knots of ``bs(x)``...). :func:`encode` turns the object graph into picklable nodes holding
exactly that, and :func:`decode` rebuilds it.

Each factor also keeps the names its code refers to (patsy stores a namespace with only
those). Modules (``np``) are stored by name and re-imported; other values (functions of your
own defined at the top level of a module, patsy's built-ins) are kept when they pickle, and
left out otherwise (a ``lambda``, say): predicting with a copy that lacks one raises an error
naming the formula.

Examples
--------
>>> import pickle, numpy as np, pandas as pd, patsy
>>> df = pd.DataFrame({"x": [1.0, 2.0, 4.0], "g": ["a", "b", "a"]})
>>> info = patsy.dmatrix("center(x) + C(g) + np.log(x)", df).design_info
>>> back = decode(pickle.loads(pickle.dumps(encode(info))))
>>> new = pd.DataFrame({"x": [2.0], "g": ["b"]})
>>> bool(np.allclose(patsy.build_design_matrices([back], new)[0],
...                  patsy.build_design_matrices([info], new)[0]))
True
"""

from __future__ import annotations

import importlib
import pickle
import types

__all__ = ["encode", "decode"]

_PLAIN = (str, bytes, int, float, complex, bool, type(None), slice, range, type, types.FunctionType,
          types.BuiltinFunctionType)


class _Node:
    """A patsy object: its class and its (encoded) attribute dictionary."""

    def __init__(self, cls, state):
        self.cls = cls
        self.state = state


class _Env:
    """A patsy ``EvalEnvironment``: the picklable part of its namespace and its flags."""

    def __init__(self, namespace, modules, flags, dropped):
        self.namespace = namespace
        self.modules = modules
        self.flags = flags
        self.dropped = dropped


def _picklable(value):
    try:
        pickle.dumps(value)
    except Exception:  # any failure means "cannot be shipped": leave the name out
        return False
    return True


def _encode_env(env):
    namespace, modules, dropped = {}, {}, []
    for ns in env._namespaces:
        for name, value in ns.items():
            if name in namespace or name in modules:
                continue  # inner namespaces shadow outer ones, as in patsy's lookup
            if isinstance(value, types.ModuleType):
                modules[name] = value.__name__
            elif _picklable(value):
                namespace[name] = value
            else:
                dropped.append(name)
    return _Env(namespace, modules, env.flags, dropped)


def _decode_env(node):
    import patsy

    ns = dict(node.namespace)
    for name, module in node.modules.items():
        ns[name] = importlib.import_module(module)
    return patsy.EvalEnvironment([ns], node.flags)


def encode(obj, memo=None):
    """A picklable copy of a patsy object graph (shared objects stay shared).

    Examples
    --------
    >>> import patsy, pickle
    >>> info = patsy.dmatrix("x", {"x": [1.0, 2.0]}).design_info
    >>> decode(pickle.loads(pickle.dumps(encode(info)))).column_names
    ['Intercept', 'x']
    """
    import numpy as np
    import patsy

    memo = {} if memo is None else memo
    if isinstance(obj, _PLAIN) or isinstance(obj, (np.ndarray, np.generic)):
        return obj
    key = id(obj)
    if key in memo:
        return memo[key][0]
    if isinstance(obj, patsy.EvalEnvironment):
        out = _encode_env(obj)
    elif isinstance(obj, list):
        out = [encode(v, memo) for v in obj]
    elif isinstance(obj, tuple):
        out = tuple(encode(v, memo) for v in obj)
    elif isinstance(obj, (set, frozenset)):
        out = type(obj)(encode(v, memo) for v in obj)
    elif isinstance(obj, dict):
        out = type(obj)((encode(k, memo), encode(v, memo)) for k, v in obj.items())
    elif (type(obj).__module__ or "").startswith("patsy") and hasattr(obj, "__dict__"):
        out = _Node(type(obj), None)
        memo[key] = (out, obj)  # before the attributes: a cycle comes back to this node
        out.state = {k: encode(v, memo) for k, v in obj.__dict__.items()}
        return out
    else:
        return obj  # anything else pickles on its own (or fails with its own message)
    memo[key] = (out, obj)  # keep obj alive so that its id is not reused meanwhile
    return out


def decode(obj, memo=None):
    """Rebuild the patsy objects of :func:`encode`'s output.

    Examples
    --------
    >>> import patsy
    >>> info = patsy.dmatrix("x", {"x": [1.0, 2.0]}).design_info
    >>> type(decode(encode(info))).__name__
    'DesignInfo'
    """
    memo = {} if memo is None else memo
    key = id(obj)
    if key in memo:
        return memo[key]
    if isinstance(obj, _Node):
        out = object.__new__(obj.cls)
        memo[key] = out
        out.__dict__.update({k: decode(v, memo) for k, v in obj.state.items()})
        return out
    if isinstance(obj, _Env):
        out = _decode_env(obj)
    elif isinstance(obj, list):
        out = [decode(v, memo) for v in obj]
    elif isinstance(obj, tuple):
        out = tuple(decode(v, memo) for v in obj)
    elif isinstance(obj, (set, frozenset)):
        out = type(obj)(decode(v, memo) for v in obj)
    elif isinstance(obj, dict):
        out = type(obj)((decode(k, memo), decode(v, memo)) for k, v in obj.items())
    else:
        return obj
    memo[key] = out
    return out
