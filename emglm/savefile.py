"""The emglm file container: a zip of JSON documents and ``.npy`` arrays, with a checksum.

Loading runs no code: JSON is parsed, arrays are read by ``np.load(allow_pickle=False)``.

Layout of a file (format version :data:`FORMAT_VERSION`)::

    manifest.json         {"format": "emglm", "format_version": 1, "emglm_version": ...,
                           "members": {name: sha256 of the member's bytes}}
    doc.json              everything that is not a numeric array (options, names, ...)
    arrays/<name>.npy     one member per array
    (zip comment)         sha256 of every byte of the file before the comment, in hex

The checksum in the zip comment covers the whole file (a corrupted byte anywhere is
detected, also in the zip's own headers); the per-member digests of the manifest say which
part is damaged. Files are written to a temporary file in the target's folder and renamed
into place (:func:`os.replace`), so a save that fails part-way leaves an existing file
untouched.

Examples
--------
>>> import io, numpy as np
>>> buf = io.BytesIO()
>>> write_container(buf, {"k": 2}, {"theta": np.arange(3.0)})
>>> doc, arrays = read_container(io.BytesIO(buf.getvalue()))
>>> doc["k"], arrays["theta"].tolist()
(2, [0.0, 1.0, 2.0])
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile

import numpy as np

__all__ = ["FORMAT_VERSION", "EmglmFileError", "write_container", "read_container", "is_pickle"]

FORMAT_VERSION = 1
_DIGEST_HEX = 64  # characters of a sha256 hex digest: the zip comment


class EmglmFileError(ValueError):
    """A file is not an emglm file, is corrupted, or was written by a newer emglm."""


def _emglm_version():
    from . import __version__

    return __version__


def _npy_bytes(a):
    a = np.asarray(a)
    if a.dtype.hasobject:
        raise TypeError(f"cannot store an array of Python objects (dtype {a.dtype}) without pickle")
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _zip_bytes(doc, arrays):
    members = {"doc.json": json.dumps(doc, allow_nan=True, sort_keys=False).encode("utf-8")}
    for name, a in arrays.items():
        members[f"arrays/{name}.npy"] = _npy_bytes(a)
    manifest = {"format": "emglm", "format_version": FORMAT_VERSION, "emglm_version": _emglm_version(),
                "members": {name: hashlib.sha256(b).hexdigest() for name, b in members.items()}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=1).encode("utf-8"))
        for name, b in members.items():
            zf.writestr(name, b)
        zf.comment = b"0" * _DIGEST_HEX  # placeholder: the comment's length is fixed
    data = buf.getvalue()
    body = data[:-_DIGEST_HEX]
    return body + hashlib.sha256(body).hexdigest().encode("ascii")


def write_container(fname, doc, arrays):
    """Write ``doc`` (JSON-able) and ``arrays`` (name -> ndarray) to ``fname``.

    ``fname`` is a path (written atomically: temporary file in the same folder, then
    :func:`os.replace`) or a writable binary file object.
    """
    data = _zip_bytes(doc, arrays)  # everything is encoded before any file is touched
    if hasattr(fname, "write"):
        fname.write(data)
        return
    path = os.fspath(fname)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".emglm-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def is_pickle(head):
    """Whether the first bytes of a file look like a pickle (protocol 2 or later)."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def read_container(fname, what=None):
    """Read a file written by :func:`write_container`: ``(doc, arrays)``.

    Raises :class:`EmglmFileError` for a file that is not an emglm file, is corrupted, or
    was written in a newer format; its message says which.
    """
    what = what or (repr(os.fspath(fname)) if not hasattr(fname, "read") else "the file")
    data = fname.read() if hasattr(fname, "read") else open(fname, "rb").read()
    if is_pickle(data[:2]):
        raise EmglmFileError(
            f"{what} is in the older pickle-based emglm format (or is another pickle); loading a "
            "pickle runs code stored in it: if you trust the file, load it with "
            "emglm.load(path, allow_pickle=True)"
        )
    if not data.startswith(b"PK\x03\x04"):
        raise EmglmFileError(f"{what} is not an emglm file (it is not a zip container)")
    body, digest = data[:-_DIGEST_HEX], data[-_DIGEST_HEX:]
    if hashlib.sha256(body).hexdigest().encode("ascii") != digest:
        try:  # which kind of file is it? (a zip that is not ours says so)
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                if "manifest.json" not in zf.namelist():
                    raise EmglmFileError(f"{what} is not an emglm file (a zip without an emglm manifest)")
        except EmglmFileError:
            raise
        except Exception:  # a damaged zip raises many kinds of errors: it is corrupted either way
            pass
        raise EmglmFileError(f"{what} is corrupted: its checksum does not match its contents")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            if manifest.get("format") != "emglm":
                raise EmglmFileError(f"{what} is not an emglm file")
            version = manifest.get("format_version")
            if not isinstance(version, int) or version > FORMAT_VERSION:
                raise EmglmFileError(
                    f"{what} was written by emglm {manifest.get('emglm_version', '?')} in file format "
                    f"{version}; this emglm ({_emglm_version()}) reads formats up to {FORMAT_VERSION}: "
                    "upgrade emglm to load it"
                )
            members = manifest["members"]
            raw = {}
            for name, sha in members.items():
                b = zf.read(name)
                if hashlib.sha256(b).hexdigest() != sha:
                    raise EmglmFileError(f"{what} is corrupted: member {name} does not match its checksum")
                raw[name] = b
    except EmglmFileError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, NotImplementedError) as exc:
        raise EmglmFileError(f"{what} is corrupted ({type(exc).__name__}: {exc})") from None
    doc = json.loads(raw.pop("doc.json"))
    arrays = {}
    for name, b in raw.items():
        key = name[len("arrays/"):-len(".npy")]
        arrays[key] = np.load(io.BytesIO(b), allow_pickle=False)
    return doc, arrays


# ---------------------------------------------------------------------- pandas pieces
def _values_to_arrays(name, values, arrays, prefix):
    """Store one column or index ``values``; returns its JSON description (arrays filled in)."""
    import pandas as pd

    key = f"{prefix}"
    if isinstance(values, pd.Categorical) or isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        cat = pd.Categorical(values)
        arrays[key + ".codes"] = np.asarray(cat.codes)
        return {"kind": "category", "ordered": bool(cat.ordered),
                "categories": _values_to_arrays(name, pd.Index(cat.categories), arrays, key + ".cats")}
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, pd.DatetimeTZDtype):
        arrays[key] = np.asarray(values.tz_convert("UTC").tz_localize(None) if isinstance(values, pd.Index)
                                 else pd.Series(values).dt.tz_convert("UTC").dt.tz_localize(None))
        return {"kind": "datetimetz", "tz": str(dtype.tz)}
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        s = pd.Series(values)
        mask = np.asarray(s.isna())
        if pd.api.types.is_string_dtype(dtype):
            arrays[key] = np.asarray(s.fillna("").astype(str).to_numpy(dtype=str))
        elif pd.api.types.is_bool_dtype(dtype):
            arrays[key] = s.fillna(False).to_numpy(dtype=bool)
        elif pd.api.types.is_numeric_dtype(dtype):
            arrays[key] = s.to_numpy(dtype=float, na_value=np.nan)
        else:
            raise TypeError(f"{name}: cannot store pandas dtype {dtype} without pickle")
        arrays[key + ".mask"] = mask
        return {"kind": "extension", "dtype": str(dtype)}
    a = np.asarray(values)
    if a.dtype.hasobject:
        flat = list(a.ravel())
        if all(isinstance(v, str) for v in flat):
            arrays[key] = np.array(flat, dtype=str).reshape(a.shape)
            return {"kind": "object-str"}
        missing = np.array([v is None or isinstance(v, float) and v != v for v in flat], dtype=bool)
        if all(isinstance(v, str) or m for v, m in zip(flat, missing)):  # text with missing values
            arrays[key] = np.array(["" if m else v for v, m in zip(flat, missing)], dtype=str).reshape(a.shape)
            arrays[key + ".mask"] = missing.reshape(a.shape)
            return {"kind": "object-str-na"}
        raise TypeError(f"{name}: cannot store a column of mixed Python objects without pickle; convert "
                        "it (e.g. to str), save with remove_data=True, or pickle the results")
    arrays[key] = a
    return {"kind": "numpy"}


def _values_from_arrays(desc, arrays, prefix):
    import pandas as pd

    kind = desc["kind"]
    if kind == "category":
        cats = _values_from_arrays(desc["categories"], arrays, prefix + ".cats")
        return pd.Categorical.from_codes(arrays[prefix + ".codes"], categories=pd.Index(cats),
                                         ordered=desc["ordered"])
    if kind == "datetimetz":
        return pd.DatetimeIndex(arrays[prefix]).tz_localize("UTC").tz_convert(desc["tz"])
    if kind == "extension":
        s = pd.Series(arrays[prefix]).astype(object)
        s[arrays[prefix + ".mask"]] = None
        return pd.array(s.to_list(), dtype=desc["dtype"])
    if kind == "object-str":
        return arrays[prefix].astype(object)
    if kind == "object-str-na":
        out = arrays[prefix].astype(object)
        out[arrays[prefix + ".mask"]] = np.nan
        return out
    return arrays[prefix]


def index_to_arrays(index, arrays, prefix):
    """JSON description of a pandas Index (values in ``arrays``); None stays None."""
    import pandas as pd

    if index is None:
        return None
    if isinstance(index, pd.MultiIndex):
        raise TypeError("cannot store a MultiIndex without pickle; reset_index() first")
    name = index.name if index.name is None or isinstance(index.name, (str, int, float)) else str(index.name)
    if isinstance(index, pd.RangeIndex):
        return {"range": [index.start, index.stop, index.step], "name": name}
    return {"values": _values_to_arrays("index", index, arrays, prefix), "name": name}


def index_from_arrays(desc, arrays, prefix):
    import pandas as pd

    if desc is None:
        return None
    if "range" in desc:
        return pd.RangeIndex(*desc["range"], name=desc["name"])
    return pd.Index(_values_from_arrays(desc["values"], arrays, prefix), name=desc["name"])


def frame_to_arrays(df, arrays, prefix):
    """JSON description of a DataFrame (columns in ``arrays``); None stays None."""
    import pandas as pd

    if df is None:
        return None
    cols = []
    for i, col in enumerate(df.columns):
        if not isinstance(col, (str, int, float, bool)):
            raise TypeError(f"data: cannot store the column label {col!r} without pickle")
        s = df[col]
        values = s.array if isinstance(s.dtype, pd.api.extensions.ExtensionDtype) else s.to_numpy()
        cols.append({"label": col, "values": _values_to_arrays(f"data column {col!r}", values, arrays,
                                                               f"{prefix}.c{i}")})
    return {"columns": cols, "index": index_to_arrays(df.index, arrays, f"{prefix}.index")}


def frame_from_arrays(desc, arrays, prefix):
    import pandas as pd

    if desc is None:
        return None
    index = index_from_arrays(desc["index"], arrays, f"{prefix}.index")
    data = {}
    for i, c in enumerate(desc["columns"]):
        data[c["label"]] = pd.Series(_values_from_arrays(c["values"], arrays, f"{prefix}.c{i}"), index=index)
    return pd.DataFrame(data, index=index)
