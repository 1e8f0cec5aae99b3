"""patsy design infos to JSON and back, without pickle and without running stored code.

A formula model predicts on new data by re-applying its patsy ``DesignInfo``: the terms, the
categorical levels and contrasts, and the state of stateful transforms (the mean kept by
``center(x)``, the mean and variance kept by ``standardize(x)``, the knots of ``bs``/``cr``).
patsy refuses to pickle these objects; here they are written field by field as JSON, with a
whitelist of the patsy classes that may appear (terms, factors, factor and subterm infos,
contrast matrices, origins and the stateful transforms ``Center``, ``Standardize``, ``BS``,
``CR``, ``CC``, ``TE``). Anything else is refused on writing and on reading.

On reading, every factor's code (what patsy will evaluate on new data) is checked: it may
name data columns, patsy's functions, its own stateful transforms and ``np.<function>``
(numerical functions only); no attribute access besides those, no dunder names, no
lambdas. It is evaluated in :func:`emglm.formula_env.restricted_env`, where Python's
builtins (``open``, ``__import__``...) are replaced by functions that refuse to run. A
formula that called a function of your own therefore loads, but cannot predict on new
data (the function is not there); the fitted results themselves are unaffected.

Examples
--------
>>> import json, numpy as np, pandas as pd, patsy
>>> df = pd.DataFrame({"x": [1.0, 2.0, 4.0], "a": ["u", "v", "u"]})
>>> info = patsy.dmatrix("center(x) + C(a)", df).design_info
>>> back = design_info_from_json(json.loads(json.dumps(design_info_to_json(info))))
>>> np.asarray(patsy.build_design_matrices([back], df)[0]).tolist()
[[1.0, 0.0, -1.3333333333333335], [1.0, 1.0, -0.3333333333333335], [1.0, 0.0, 1.6666666666666665]]
"""

from __future__ import annotations

import ast
from collections import OrderedDict

import numpy as np

__all__ = ["design_info_to_json", "design_info_from_json", "check_design_info"]


def _classes():
    import patsy.contrasts
    import patsy.design_info
    import patsy.desc
    import patsy.eval
    import patsy.mgcv_cubic_splines as mcs
    import patsy.origin
    import patsy.splines
    import patsy.state

    cls = [patsy.desc.Term, patsy.eval.EvalFactor, patsy.design_info.DesignInfo,
           patsy.design_info.FactorInfo, patsy.design_info.SubtermInfo, patsy.contrasts.ContrastMatrix,
           patsy.origin.Origin, patsy.state.Center, patsy.state.Standardize, patsy.splines.BS,
           mcs.CR, mcs.CC, mcs.TE]
    return {f"{c.__module__}.{c.__name__}": c for c in cls}


_TRANSFORMS = ("patsy.state.Center", "patsy.state.Standardize", "patsy.splines.BS",
               "patsy.mgcv_cubic_splines.CR", "patsy.mgcv_cubic_splines.CC", "patsy.mgcv_cubic_splines.TE")


def _encode(obj, classes):
    import patsy

    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return {"__np__": bool(obj), "dtype": "bool"}
    if isinstance(obj, (int, np.integer)):
        return int(obj) if isinstance(obj, int) else {"__np__": int(obj), "dtype": obj.dtype.str}
    if isinstance(obj, (float, np.floating)):
        if isinstance(obj, float):
            return obj
        # long double (patsy's center() sums in it): as text, which keeps every digit
        return {"__np__": str(obj) if obj.dtype.itemsize > 8 else float(obj), "dtype": obj.dtype.str}
    if isinstance(obj, np.str_):
        return str(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            return {"__objarray__": [_encode(v, classes) for v in obj.ravel().tolist()], "shape": list(obj.shape)}
        if obj.dtype.kind in "fc" and obj.dtype.itemsize > 8 * (1 + (obj.dtype.kind == "c")):
            return {"__ndarray__": [str(v) for v in obj.ravel()], "dtype": obj.dtype.str, "shape": list(obj.shape)}
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str, "shape": list(obj.shape)}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, classes) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, classes) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return {"__set__": [_encode(v, classes) for v in obj], "frozen": isinstance(obj, frozenset)}
    if isinstance(obj, dict):
        tag = "__odict__" if isinstance(obj, OrderedDict) else "__dict__"
        return {tag: [[_encode(k, classes), _encode(v, classes)] for k, v in obj.items()]}
    if isinstance(obj, slice):
        return {"__slice__": [obj.start, obj.stop, obj.step]}
    if isinstance(obj, patsy.EvalEnvironment):
        return {"__evalenv__": True}  # re-created as the restricted namespace
    name = f"{type(obj).__module__}.{type(obj).__name__}"
    if name in classes:
        return {"__patsy__": name, "state": _encode(dict(vars(obj)), classes)}
    raise TypeError(f"cannot store a {name} in an emglm file (formula designs may use patsy's own "
                    "functions and transforms only); save with pickle instead")


def _decode(obj, classes, env):
    from .savefile import EmglmFileError

    if obj is None or isinstance(obj, (bool, str, int, float)):
        return obj
    if isinstance(obj, list):
        return [_decode(v, classes, env) for v in obj]
    if not isinstance(obj, dict) or len(obj) == 0:
        raise EmglmFileError("corrupted design information in the file")
    if "__np__" in obj:
        return np.dtype(obj["dtype"]).type(obj["__np__"])  # long double parses its text
    if "__ndarray__" in obj:
        dt = np.dtype(obj["dtype"])
        if dt.hasobject:
            raise EmglmFileError("corrupted design information in the file (object array)")
        vals = obj["__ndarray__"]
        if dt.kind in "fc" and dt.itemsize > 8 * (1 + (dt.kind == "c")):
            return np.array([dt.type(v) for v in vals], dtype=dt).reshape(obj["shape"])
        return np.array(vals, dtype=dt).reshape(obj["shape"])
    if "__objarray__" in obj:
        vals = [_decode(v, classes, env) for v in obj["__objarray__"]]
        out = np.empty(len(vals), dtype=object)
        out[:] = vals
        return out.reshape(obj["shape"])
    if "__tuple__" in obj:
        return tuple(_decode(v, classes, env) for v in obj["__tuple__"])
    if "__set__" in obj:
        vals = [_decode(v, classes, env) for v in obj["__set__"]]
        return frozenset(vals) if obj.get("frozen") else set(vals)
    if "__odict__" in obj or "__dict__" in obj:
        pairs = obj.get("__odict__", obj.get("__dict__"))
        out = OrderedDict() if "__odict__" in obj else {}
        for k, v in pairs:
            out[_decode(k, classes, env)] = _decode(v, classes, env)
        return out
    if "__slice__" in obj:
        return slice(*obj["__slice__"])
    if "__evalenv__" in obj:
        return env
    if "__patsy__" in obj:
        cls = classes.get(obj["__patsy__"])
        if cls is None:
            raise EmglmFileError(f"the file's design names a class emglm does not load: {obj['__patsy__']!r}")
        state = _decode(obj["state"], classes, env)
        if not isinstance(state, dict):
            raise EmglmFileError("corrupted design information in the file")
        new = object.__new__(cls)
        new.__dict__.update(state)
        return new
    raise EmglmFileError("corrupted design information in the file")


def design_info_to_json(info):
    """A JSON-able description of a patsy DesignInfo (None stays None)."""
    if info is None:
        return None
    return _encode(info, _classes())


def design_info_from_json(doc):
    """The DesignInfo described by :func:`design_info_to_json`, checked and made safe."""
    if doc is None:
        return None
    import patsy

    from .formula_env import restricted_env
    from .savefile import EmglmFileError

    info = _decode(doc, _classes(), restricted_env(block_builtins=True))
    if not isinstance(info, patsy.DesignInfo):
        raise EmglmFileError("corrupted design information in the file")
    check_design_info(info)
    return info


def _check_code(code, transforms, where):
    from .formula_env import SAFE_NUMPY, unsafe_construct
    from .savefile import EmglmFileError

    try:
        tree = ast.parse(str(code).strip(), mode="eval")
    except SyntaxError:
        raise EmglmFileError(f"{where}: the stored term {code!r} is not a valid expression") from None
    for node in ast.walk(tree):
        bad = unsafe_construct(node)
        if bad:
            pass
        elif isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
                             ast.NamedExpr, ast.Starred, ast.Await, ast.Yield, ast.YieldFrom)):
            bad = type(node).__name__.lower()
        elif isinstance(node, ast.Attribute):
            base = node.value
            ok = (isinstance(base, ast.Name)
                  and (base.id in ("np", "numpy") and node.attr in SAFE_NUMPY
                       or base.id in transforms and node.attr in ("transform", "memorize_chunk")))
            bad = None if ok else f"attribute access '.{node.attr}'"
        elif isinstance(node, ast.Name):
            if node.id.startswith("__") or node.id.startswith("_patsy") and node.id not in transforms:
                bad = f"the name {node.id!r}"
        if bad:
            raise EmglmFileError(f"{where}: the stored term {code!r} uses {bad}, which emglm does not "
                                 "evaluate from a file (the file was not written by emglm, or was altered)")


def check_design_info(info):
    """EmglmFileError unless every factor of ``info`` is patsy code emglm may evaluate."""
    import patsy

    from .savefile import EmglmFileError

    for factor, fi in info.factor_infos.items():
        if not isinstance(factor, patsy.EvalFactor):
            raise EmglmFileError("corrupted design information in the file")
        state = fi.state if isinstance(fi.state, dict) else {}
        transforms = state.get("transforms", {})
        for obj in transforms.values():
            name = f"{type(obj).__module__}.{type(obj).__name__}"
            if name not in _TRANSFORMS:
                raise EmglmFileError(f"the file's design uses a transform emglm does not load: {name}")
        _check_code(factor.code, set(), "formula")
        if "eval_code" in state:
            _check_code(state["eval_code"], set(transforms), "formula")
        for code in state.get("memorize_code", {}).values():
            _check_code(code, set(transforms), "formula")
