"""Formula metadata of a dask DataFrame learned over all its partitions, and the design
matrices of one partition.

A formula's design needs two things from the whole data: the levels of each categorical
factor (the union over partitions, sorted as patsy sorts them) and the state of stateful
transforms such as ``center(x)`` or ``standardize(x)`` (a mean and a variance over all
rows). :func:`learn_design` gets both without bringing the rows to the client:

* the stateful transforms see every partition in turn *on the workers*: a chain of tasks
  hands the transforms' running state (for ``center``, a sum and a count) from one
  partition to the next, exactly as patsy's incremental builders feed it chunks; only the
  final state reaches the client. A chain per memorisation pass, so nested transforms
  (``center(standardize(x))``) work;
* the categorical levels: a map over partitions, each returning the distinct levels of
  every categorical factor of its rows (a few values); the client feeds these small
  summaries to patsy's own builder (:func:`patsy.design_matrix_builders`), which unites and
  sorts them as it would over the whole frame.

The result is the same :class:`emglm.formula.Design` an in-memory ``from_formula`` builds
(it pickles, and :func:`partition_design` rebuilds a partition's matrices on a worker).
Transforms that keep every value until the end (spline knots taken from quantiles,
``bs(x, df=4)``) still work, but their state then carries that variable's values through
the chain: give such knots explicitly for data too large for one machine.

Examples
--------
>>> import numpy as np, pandas as pd, dask.dataframe as dd
>>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "x": [1.0, 2.0, 3.0, 6.0],
...                    "g": ["a", "a", "b", "c"]})
>>> design = learn_design("y ~ C(g) + center(x)", dd.from_pandas(df, npartitions=2))
>>> design.exog.column_names
['Intercept', 'C(g)[T.b]', 'C(g)[T.c]', 'center(x)']
"""

from __future__ import annotations

import re
from collections import OrderedDict

import numpy as np
import pandas as pd
import patsy
from patsy.categorical import C, CategoricalSniffer, guess_categorical

from .design_state import decode, encode
from .formula import Design

__all__ = ["learn_design", "partition_design", "check_levels", "portable_errors"]

_BOX = type(C([0]))  # the type of patsy's C(...) wrapper
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING = re.compile(r"""(['"]).*?\1""")


def _names_in(code):
    """Identifiers of a factor's code, string literals left out (``Treatment('b')``)."""
    return [m.group(0) for m in _IDENT.finditer(_STRING.sub("", code))]


def _one_sided(name, f):
    if not isinstance(f, str):
        raise TypeError(f"{name} must be a one-sided formula string such as '~ z1 + z2', got {f!r}")
    f = f.strip()
    return f if f.startswith("~") else "~ " + f


class _Learned:
    """Stands in for a factor inside patsy's builder once its state is learned.

    Its memorisation needs no pass (the learned state is copied in), and its value on a
    summary chunk is the summary computed for it on a worker. The design infos are then
    rebuilt around the real factor (:func:`_swap_factors`).
    """

    def __init__(self, factor, state, position):
        self.factor, self.state, self.position = factor, state, position
        self.origin = factor.origin

    def name(self):
        return self.factor.name()

    def memorize_passes_needed(self, state, eval_env):
        state.update(self.state)
        return 0

    def eval(self, state, data):
        return data[self.position]


# ---------------------------------------------------------------------- on the workers
def portable_errors(fn):
    """``fn`` with patsy's errors re-raised without their formula position, which does not
    pickle (a worker's error must travel to the client); the message keeps the position."""
    import functools

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except patsy.PatsyError as exc:
            err = patsy.PatsyError(str(exc))
        raise err  # outside the handler: no unpicklable context attached

    return wrapped


@portable_errors
def _memorize_step(encoded, part, which_pass):
    """One partition's memorize_chunk for every factor still learning (runs on a worker)."""
    factors, states = decode(encoded)
    for factor, state in zip(factors, states):
        factor.memorize_chunk(state, which_pass, part)
    return encode((factors, states))


@portable_errors
def _summaries(encoded, part, on_na):
    """Small stand-ins for each factor's value on one partition (runs on a worker).

    A categorical factor becomes patsy's ``C(values, contrast, levels)`` over its distinct
    levels only (or, when the levels are declared, a ``C`` of no rows with those levels); a
    numerical factor its first row (patsy reads only its number of columns).
    """
    factors, states = decode(encoded)
    na_action = patsy.NAAction(on_NA=on_na)  # patsy's objects do not pickle: rebuilt here
    out = []
    for factor, state in zip(factors, states):
        value = factor.eval(state, part)
        if not guess_categorical(value):
            out.append(np.asarray(value)[:1])
            continue
        sniffer = CategoricalSniffer(na_action, factor.origin)
        done = sniffer.sniff(value)
        levels, contrast = sniffer.levels_contrast()
        values = np.empty(len(levels), dtype=object)
        values[:] = list(levels)
        out.append(C(values[:0], contrast, levels) if done else C(values, contrast))
    return encode(out)  # patsy's C(...) refuses pickling


# ---------------------------------------------------------------------- on the client
def _parts_of(data):
    """Partitions (dask Delayed objects or distributed Futures) of a dask frame or a list."""
    if isinstance(data, (list, tuple)):
        return list(data)
    try:
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - dask is an optional dependency
        raise ImportError("learn_design needs dask: pip install 'emglm[dask]'") from None
    if not isinstance(data, dd.DataFrame):
        raise TypeError(f"data must be a dask DataFrame, got {type(data).__name__}")
    return list(data.to_delayed())


def _swap_factors(info, back):
    """The design info ``info`` of stand-in factors, rebuilt around the real factors."""
    factor_infos = {}
    for proxy, fi in info.factor_infos.items():
        real = back[proxy]
        factor_infos[real] = patsy.FactorInfo(real, fi.type, fi.state, num_columns=fi.num_columns,
                                              categories=fi.categories)
    codings = OrderedDict()
    for term, subterms in info.term_codings.items():
        new_term = patsy.Term([back[f] for f in term.factors])
        codings[new_term] = [
            patsy.SubtermInfo([back[f] for f in st.factors],
                              {back[f]: cm for f, cm in st.contrast_matrices.items()}, st.num_columns)
            for st in subterms]
    return patsy.DesignInfo(info.column_names, factor_infos=factor_infos, term_codings=codings)


def learn_design(formula, data, fixed=None, concomitant=None, missing="drop", eval_env=0):
    """Learn a formula's design over all partitions of a dask DataFrame.

    Parameters
    ----------
    formula : str
        ``"y ~ x1 + C(g) + center(x2)"``, as for :meth:`emglm.EMGLM.from_formula`.
    data : dask.dataframe.DataFrame, or a list of its partitions
        A list holds dask ``Delayed`` objects or distributed ``Future`` objects of pandas
        partitions (for data already persisted on a cluster).
    fixed, concomitant : str, optional
        One-sided formulas of the shared terms and of the concomitant variables.
    missing : {"drop", "raise", "none"}
        As in ``from_formula``; only affects which values count as missing levels.
    eval_env : int or patsy.EvalEnvironment
        Where names the formula uses outside the data (``np``, your functions) are looked
        up: 0 is the caller's namespace.

    Returns
    -------
    emglm.formula.Design
        Design infos whose categorical levels are those of the whole frame and whose
        stateful transforms hold their state over all rows.

    Notes
    -----
    The work runs on the active dask scheduler (a distributed cluster's workers when a
    ``distributed.Client`` is active): one chain of tasks per memorisation pass of the
    stateful transforms (one pass for ``center(x)``) and one map over the partitions for
    the factor types and levels. The client receives the transforms' state and a few
    values per categorical factor and partition, never a partition.

    Examples
    --------
    >>> import numpy as np, pandas as pd, dask.dataframe as dd
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "x": [1.0, 2.0, 3.0, 6.0]})
    >>> design = learn_design("y ~ center(x)", dd.from_pandas(df, npartitions=2))
    >>> mat = partition_design(design, df)["exog"]
    >>> mat["center(x)"].tolist()
    [-2.0, -1.0, 0.0, 3.0]
    """
    import dask

    if not isinstance(formula, str) or "~" not in formula:
        raise TypeError(f"formula must be a string 'y ~ x1 + x2', got {formula!r}")
    if missing not in ("drop", "raise", "none"):
        raise ValueError(f"missing must be one of ('drop', 'raise', 'none'), got {missing!r}")
    parts = _parts_of(data)
    if not parts:
        raise ValueError("data has no partitions")
    env = patsy.EvalEnvironment.capture(eval_env, reference=1)
    na = patsy.NAAction(on_NA="drop" if missing == "drop" else "raise")
    desc = patsy.ModelDesc.from_formula(formula)
    termlists = [desc.lhs_termlist, desc.rhs_termlist]
    extra = [(name, f) for name, f in (("fixed", fixed), ("concomitant", concomitant)) if f is not None]
    for name, f in extra:
        termlists.append(patsy.ModelDesc.from_formula(_one_sided(name, f)).rhs_termlist)

    factors = sorted({f for tl in termlists for t in tl for f in t.factors}, key=lambda f: f.name())
    states, passes = [], []
    for factor in factors:
        state = {}
        passes.append(factor.memorize_passes_needed(state, env))
        states.append(state)
    # stateful transforms: per pass, a chain of tasks carrying the state through the partitions
    for which_pass in range(max(passes, default=0)):
        live = [i for i, n in enumerate(passes) if n > which_pass]
        carried = encode(([factors[i] for i in live], [states[i] for i in live]))
        step = dask.delayed(_memorize_step, pure=True)
        for part in parts:
            carried = step(carried, part, which_pass)
        (carried,) = dask.compute(carried)
        _, learned = decode(carried)
        for i, state in zip(live, learned):
            states[i] = state
            factors[i].memorize_finish(state, which_pass)
    # factor types and categorical levels: small summaries per partition, united by patsy
    shipped = encode((factors, states))
    summaries = [decode(s) for s in dask.compute(
        *[dask.delayed(_summaries, pure=True)(shipped, part, na.on_NA) for part in parts])]
    proxies = [_Learned(f, s, i) for i, (f, s) in enumerate(zip(factors, states))]
    to_proxy = dict(zip(factors, proxies))
    back = dict(zip(proxies, factors))
    proxy_lists = [[patsy.Term([to_proxy[f] for f in t.factors]) for t in tl] for tl in termlists]
    infos = patsy.design_matrix_builders(proxy_lists, lambda: iter(summaries), env, NA_action=na)
    infos = [_swap_factors(info, back) for info in infos]
    if not infos[0].column_names:
        raise ValueError(f"formula {formula!r} has no response (left-hand side)")
    named = dict(zip([name for name, _ in extra], infos[2:]))
    fixed_info, fixed_cols = named.get("fixed"), None
    if fixed_info is not None:
        fixed_cols = [i for i, c in enumerate(fixed_info.column_names) if c != "Intercept"]
        if not fixed_cols:
            raise ValueError("fixed: the formula has no terms besides the intercept")
        clash = sorted({fixed_info.column_names[i] for i in fixed_cols} & set(infos[1].column_names))
        if clash:
            raise ValueError(f"fixed: term(s) {clash} also appear in the component formula")
    return Design(infos[0], infos[1], fixed_info, fixed_cols, named.get("concomitant"))


def _infos(design):
    return [(name, getattr(design, name)) for name in ("endog", "exog", "fixed", "concomitant")
            if getattr(design, name) is not None]


def check_levels(design, data):
    """ValueError naming the column when ``data`` holds a categorical level never learned.

    patsy's own error names only the formula term, and it stops at the first value; this
    one lists the unknown levels and the column they come from.

    Examples
    --------
    >>> import pandas as pd, patsy
    >>> from emglm.formula import Design
    >>> train = pd.DataFrame({"y": [1.0, 2.0], "g": ["a", "b"]})
    >>> y, X = patsy.dmatrices("y ~ g", train)
    >>> check_levels(Design(y.design_info, X.design_info), pd.DataFrame({"g": ["a", "c"]}))
    Traceback (most recent call last):
    ...
    ValueError: column 'g' (term 'g'): level(s) ['c'] not seen when the formula was learned (known levels: ['a', 'b']); drop or recode those rows, or learn the formula from data that contain these levels
    """
    na = patsy.NAAction()
    seen = set()
    for _, info in _infos(design):
        for factor, fi in info.factor_infos.items():
            if fi.type != "categorical" or factor in seen:
                continue
            seen.add(factor)
            names = _names_in(factor.name())
            if names and not any(n in data for n in names):
                continue  # a response absent from new data: nothing to check
            value = factor.eval(fi.state, data)
            if isinstance(value, _BOX):
                value = value.data
            values = np.asarray(value, dtype=object).ravel()
            known = set(fi.categories)
            unknown = [v for v in pd.unique(values) if not na.is_categorical_NA(v) and v not in known]
            if unknown:
                cols = [n for n in names if n in data]
                what = f"column {cols[0]!r} (term {factor.name()!r})" if len(cols) == 1 else f"term {factor.name()!r}"
                raise ValueError(
                    f"{what}: level(s) {sorted(unknown, key=str)} not seen when the formula was learned "
                    f"(known levels: {list(fi.categories)}); drop or recode those rows, or learn the "
                    "formula from data that contain these levels")


def partition_design(design, part, missing="drop", formulas=None):
    """Design matrices of one pandas partition, rows with missing values dropped as in
    ``from_formula``.

    Parameters
    ----------
    design : emglm.formula.Design
    part : pandas.DataFrame
    missing : {"drop", "raise", "none"}
    formulas : list of str, optional
        The formulas, to name the columns holding missing values under ``missing="raise"``.

    Returns
    -------
    dict
        ``endog`` (None when the response's columns are absent), ``exog``, ``fixed``,
        ``concomitant`` (DataFrames or None) on the rows kept, ``keep`` (their positions in
        ``part``) and ``n_dropped`` (rows dropped for missing values).

    Examples
    --------
    >>> import numpy as np, pandas as pd, patsy
    >>> from emglm.formula import Design
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0], "x": [0.0, np.nan, 2.0]})
    >>> y, X = patsy.dmatrices("y ~ x", df)
    >>> out = partition_design(Design(y.design_info, X.design_info), df)
    >>> out["keep"].tolist(), out["n_dropped"]
    ([0, 2], 1)
    """
    from .data import check_formula_missing

    part = part.reset_index(drop=True)  # positions: a partition's index need not be unique
    if missing != "drop" and formulas:
        check_formula_missing(part, formulas, missing)
    check_levels(design, part)
    na = patsy.NAAction(on_NA="drop" if missing == "drop" else "raise")

    def build(info):
        (m,) = patsy.build_design_matrices([info], part, NA_action=na, return_type="dataframe")
        return m

    # the response is absent from new data at prediction time
    response = {n for f in design.endog.factor_infos for n in _names_in(f.name())}
    y = build(design.endog) if any(n in part.columns for n in response) else None
    X = build(design.exog)
    U = None if design.fixed is None else build(design.fixed).iloc[:, design.fixed_columns]
    Z = None if design.concomitant is None else build(design.concomitant)
    keep = pd.RangeIndex(len(part))
    for m in (y, X, U, Z):
        if m is not None:
            keep = keep[keep.isin(m.index)]
    out = {name: (None if m is None else m.loc[keep]) for name, m in
           (("endog", y), ("exog", X), ("fixed", U), ("concomitant", Z))}
    out["keep"] = np.asarray(keep, dtype=np.int64)
    out["n_dropped"] = len(part) - len(keep)
    return out
