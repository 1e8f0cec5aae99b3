"""The model as JSON and arrays, and back: the model half of the file format.

Families are stored by name with their parameters and link; per-row arrays as arrays; a
formula model's patsy design information as JSON (:mod:`emglm.patsy_json`); the user's frame
as columns (:mod:`emglm.savefile`). Nothing here imports the model or results layers (the
model class is passed in), so the results layer saves without an import circle.
"""

from __future__ import annotations

import numpy as np

from .savefile import EmglmFileError

__all__ = ["model_to_state", "model_from_state", "empty_like_rows"]


def empty_like_rows(a):
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


def _component_family_to_json(family, arrays, key):
    """A family of :mod:`emglm.components` by class name and its (plain) attributes."""
    import numbers

    from . import components

    name = type(family).__name__
    if getattr(components, name, None) is not type(family):
        raise TypeError(f"the file format stores statsmodels GLM families and those of emglm.components, not "
                        f"{name}; pickle these results instead")
    attrs = {}
    for a, v in vars(family).items():
        if v is None or isinstance(v, (str, bool, numbers.Real)):
            attrs[a] = {"value": v.item() if isinstance(v, np.generic) else v}
        elif isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
            attrs[a] = {"list": list(v)}
        else:  # a per-row array (a censoring status given as values)
            arrays[f"{key}.{a}"] = np.asarray(v)
            attrs[a] = {"array": f"{key}.{a}"}
    return {"name": name, "attrs": attrs}


def _component_family_from_json(d, arrays):
    from . import components

    cls = getattr(components, str(d.get("name")), None)
    if not isinstance(cls, type) or str(d.get("name")) not in components.__all__:
        raise EmglmFileError(f"the file names an unknown component family: {d.get('name')!r}")
    fam = object.__new__(cls)
    for a, v in d["attrs"].items():
        setattr(fam, a, arrays[v["array"]] if "array" in v else list(v["list"]) if "list" in v else v["value"])
    return fam


def _family_list_to_json(families, arrays, key):
    import statsmodels.genmod.families as smf

    return [{"family": _family_to_json(f)} if isinstance(f, smf.Family)
            else {"component": _component_family_to_json(f, arrays, f"{key}.{i}")} for i, f in enumerate(families)]


def _family_list_from_json(items, arrays):
    return tuple(_family_from_json(d["family"]) if "family" in d else _component_family_from_json(d["component"], arrays)
                 for d in items)


# ---------------------------------------------------------------------- model and results
_INDEXES = ("row_index", "group_labels")


def model_to_state(model, remove_data, arrays):
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
        elif name == "family" and isinstance(v, (list, tuple)):  # a family per component
            doc[name] = {"family_list": _family_list_to_json(v, arrays, key)}
        elif name == "family":
            doc[name] = {"component_family": _component_family_to_json(v, arrays, key)}
        elif isinstance(v, Design):
            doc[name] = {"design": {part: design_info_to_json(getattr(v, part))
                                    for part in ("endog", "exog", "fixed", "concomitant")},
                         "fixed_columns": None if v.fixed_columns is None else [int(c) for c in v.fixed_columns]}
            if getattr(v, "component_exog", None) is not None:  # a formula per component
                doc[name]["component_exog"] = [design_info_to_json(i) for i in v.component_exog]
                doc[name]["exog_names"] = [str(c) for c in v.exog_names]
        elif isinstance(v, pd.DataFrame):
            doc[name] = {"frame": None if remove_data else frame_to_arrays(v, arrays, key)}
        elif isinstance(v, pd.Index) or name in _INDEXES:
            keep = not (remove_data and name == "row_index")
            doc[name] = {"index": index_to_arrays(v, arrays, key) if keep else None}
        elif isinstance(v, dict) and all(isinstance(a, np.ndarray) for a in v.values()):
            # per-row arrays a component family asked for (status, bounds...)
            keys = [str(nm) for nm in v]
            for nm in keys:
                a = v[nm]
                arrays[f"{key}.{nm}"] = empty_like_rows(a) if remove_data and a.ndim >= 1 else a
            doc[name] = {"dict_arrays": keys}
        elif isinstance(v, np.ndarray):
            a = empty_like_rows(v) if remove_data and v.ndim >= 1 and v.shape[0] == model.exog.shape[0] else v
            arrays[key] = a
            doc[name] = {"array": key}
        elif v is None or isinstance(v, (bool, str, numbers.Integral, numbers.Real)):
            doc[name] = {"value": v.item() if isinstance(v, np.generic) else v}
        elif isinstance(v, (list, tuple)) and all(isinstance(x, (str, int, float)) for x in v):
            doc[name] = {"list": list(v)}
        elif isinstance(v, (list, tuple)) and all(isinstance(x, (list, tuple)) and all(isinstance(t, str) for t in x)
                                                  for x in v):
            doc[name] = {"list": [list(x) for x in v]}  # term names per component formula
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


def model_from_state(doc, arrays, cls):
    from .formula import Design
    from .patsy_json import design_info_from_json
    from .savefile import frame_from_arrays, index_from_arrays

    model = object.__new__(cls)
    for name, d in doc.items():
        if "family" in d:
            v = _family_from_json(d["family"])
        elif "family_list" in d:
            v = _family_list_from_json(d["family_list"], arrays)
        elif "component_family" in d:
            v = _component_family_from_json(d["component_family"], arrays)
        elif "design" in d:
            parts = {p: design_info_from_json(j) for p, j in d["design"].items()}
            comp = d.get("component_exog")
            v = Design(parts["endog"], parts["exog"], parts["fixed"], d["fixed_columns"], parts["concomitant"],
                       component_exog=None if comp is None else [design_info_from_json(j) for j in comp],
                       exog_names=d.get("exog_names"))
        elif "frame" in d:
            v = frame_from_arrays(d["frame"], arrays, f"model.{name}")
        elif "index" in d:
            v = index_from_arrays(d["index"], arrays, f"model.{name}")
        elif "dict_arrays" in d:
            v = {nm: arrays[f"model.{name}.{nm}"] for nm in d["dict_arrays"]}
        elif "array" in d:
            v = arrays[d["array"]]
        elif "list" in d:
            v = list(d["list"])
        else:
            v = d["value"]
        setattr(model, name, v)
    return model
