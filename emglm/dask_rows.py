"""Rows of a mixture on a dask cluster: one in-memory :class:`~emglm.mixture.Rows` per
partition, built and kept on the workers, with a map-reduce over them.

:meth:`DaskRows.from_formula` reads the partitions of a dask DataFrame on the workers
(never on the client), learns the formula's metadata over all of them
(:func:`emglm.dask_formula.learn_design`), checks that every group sits in one
partition, and builds each partition's design matrices and unit structure where the
partition lives. What reaches the client is small: the transforms' state, a few levels per
partition, row counts, and the sums that :meth:`DaskRows.reduce` adds on the workers.

Every per-row option of the in-memory model exists: ``offset``, ``exposure`` and
``weights`` as column names or dask Series partitioned like the frame, ``groups`` (a
column, the index's name, or a Series), shared (``fixed``) terms and concomitant
variables; rows with missing or non-finite values are dropped as ``from_formula`` drops
them, with one :class:`~emglm.warnings.DroppedRowsWarning` giving the total count.

Needs ``dask[distributed]`` (``pip install 'emglm[dask]'``).

Examples
--------
>>> import numpy as np, pandas as pd, dask.dataframe as dd
>>> from distributed import Client
>>> df = pd.DataFrame({"y": [1.0, 2.0, 4.0, 3.0, 5.0, 7.0], "x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
>>> with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None):
...     rows = DaskRows.from_formula("y ~ x", dd.from_pandas(df, npartitions=2))
...     xtx = rows.reduce(lambda r: r.X.T @ r.X)
>>> xtx.tolist()
[[6.0, 15.0], [15.0, 55.0]]
"""

from __future__ import annotations

import operator
import warnings

import numpy as np
import pandas as pd
import patsy

from .data import prepare_data
from .dask_formula import learn_design, partition_design
from .mixture.rows import Rows
from .warnings import DroppedRowsWarning

__all__ = ["DaskRows", "concat_rows"]

_OPTIONS = ("offset", "exposure", "weights", "groups")
#: results added by one task of the tree reduction (and at most this many reach the client)
FAN_IN = 32
#: buckets of the check that no group spans partitions (each bucket is checked by one task)
_MAX_BUCKETS = 16


def _add(a, b):
    """``a + b`` for numbers and arrays, element by element for tuples, lists and dicts (None:
    nothing to add)."""
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, dict):
        return {key: _add(a[key], b[key]) for key in a}
    if isinstance(a, (tuple, list)):
        return type(a)(_add(x, y) for x, y in zip(a, b))
    return a + b


def _add_all(*parts):
    """The sum of several results, added in the given order."""
    total = parts[0]
    for p in parts[1:]:
        total = _add(total, p)
    return total


def concat_rows(parts):
    """One in-memory Rows of several (their units numbered on one after the other).

    Examples
    --------
    >>> import numpy as np
    >>> a = Rows(np.array([1.0, 2.0]), np.ones((2, 1)), groups=np.array([0, 0]))
    >>> b = Rows(np.array([3.0]), np.ones((1, 1)), groups=np.array([0]))
    >>> both = concat_rows([a, b])
    >>> both.n, both.G, both.groups.tolist()
    (3, 2, [0, 0, 1])
    """
    parts = list(parts)
    grouped = parts[0].grouped
    groups = None
    if grouped:
        starts = np.cumsum([0] + [r.G for r in parts[:-1]])
        groups = np.concatenate([r.groups + s for r, s in zip(parts, starts)])
    fixed = None if parts[0].U is None else np.vstack([r.U for r in parts])
    conc = None if parts[0].Z is None else np.vstack([r.Z for r in parts])
    return Rows(np.concatenate([r.y for r in parts]), np.vstack([r.X for r in parts]),
                np.concatenate([r.offset for r in parts]), np.concatenate([r.w for r in parts]),
                np.concatenate([r.trials for r in parts]), fixed, conc, groups)


# ---------------------------------------------------------------------- on the workers
def _option_column(name, spec, part, series):
    """The values of a per-row option on one partition, positionally (a pandas Series)."""
    if series is not None:
        if len(series) != len(part):
            raise ValueError(
                f"{name}: a partition of this dask Series has {len(series)} values but the data's "
                f"partition has {len(part)} rows; build it from the frame itself (e.g. ddf['col'])")
        return pd.Series(series.to_numpy(), name=series.name)
    if spec is None:
        return None
    if spec in part.columns:
        return part[spec].reset_index(drop=True)
    return pd.Series(part.index.to_numpy(), name=spec)  # the index's name (groups)


def _unit_concomitant(Z, codes):
    """Concomitant design per group (first row), checked constant within each group."""
    first = np.zeros(int(codes.max()) + 1, dtype=np.int64)
    first[codes[::-1]] = np.arange(codes.size)[::-1]
    Zu = Z[first]
    if not np.allclose(Z, Zu[codes]):
        raise ValueError("concomitant variables must be constant within each group")
    return Zu


def empty_rows(widths, grouped):
    p, q, r = widths
    return Rows(np.zeros(0), np.zeros((0, p)), fixed=np.zeros((0, q)) if q else None,
                concomitant=np.zeros((0, r)) if r else None,
                groups=np.zeros(0, dtype=np.int64) if grouped else None)


def _build_partition(number, design, part, series, specs, family, missing, formulas, widths):
    """Rows of one partition and a small record of it (runs on a worker)."""
    try:
        return _build(design, part, series, specs, family, missing, formulas, widths)
    except (ValueError, TypeError) as exc:  # say where; keep the type the model would raise
        cls = type(exc) if type(exc) in (ValueError, TypeError) else ValueError if isinstance(exc, ValueError) else TypeError
        err = cls(f"partition {number}: {exc}")
    except patsy.PatsyError as exc:  # its formula position does not pickle; the message keeps it
        err = patsy.PatsyError(f"partition {number}: {exc}")
    raise err  # outside the handlers: no context that might not pickle


def _build(design, part, series, specs, family, missing, formulas, widths):
    opts = {name: _option_column(name, specs[name], part, series[name]) for name in _OPTIONS}
    mats = partition_design(design, part, missing, formulas)
    keep = mats["keep"]
    # on the index of the design matrices (the kept rows' positions), as prepare_data expects
    opts = {name: (None if s is None else pd.Series(s.to_numpy()[keep], index=mats["exog"].index, name=s.name))
            for name, s in opts.items()}
    grouped = _has(specs, series, "groups")
    n_formula = mats["n_dropped"]
    record = {"n_raw": len(part), "index": part.index[keep], "group_labels": None}
    if len(keep) == 0:
        rows, d = empty_rows(widths, grouped), {"n_dropped": 0, "group_labels": pd.Index([])}
    else:
        # a partition whose weights are all zero is valid (only the total must be positive):
        # they are checked shifted by one and shifted back exactly
        w = opts["weights"]
        shift = w is not None and pd.api.types.is_numeric_dtype(w.dtype) and not (w < 0).any() \
            and not w.sum() > 0
        with warnings.catch_warnings():  # the client warns once with the total count
            warnings.simplefilter("ignore", DroppedRowsWarning)
            try:
                d = prepare_data(mats["endog"], mats["exog"], family, offset=opts["offset"],
                                 exposure=opts["exposure"], weights=w + 1.0 if shift else w,
                                 fixed=mats["fixed"], concomitant=mats["concomitant"],
                                 groups=opts["groups"], missing=missing, k=1)
            except ValueError as exc:
                if not str(exc).startswith("no rows left"):
                    raise
                d = None
        if d is None:  # every row of this partition had a missing value
            rows, d = empty_rows(widths, grouped), {"n_dropped": len(keep), "group_labels": pd.Index([])}
        else:
            if shift:
                d["weights"] = d["weights"] - 1.0
            Z = d["concomitant"]
            if Z is not None and grouped:
                Z = _unit_concomitant(Z, d["groups"])
            rows = Rows(d["endog"], d["exog"], d["offset"], d["weights"], d["trials"], fixed=d["fixed"],
                        concomitant=Z, groups=d["groups"])
            record["index"] = part.index[np.asarray(d["index"])]
    record["group_labels"] = d["group_labels"] if grouped else None
    summary = {"n": rows.n, "G": rows.G, "nobs": float(rows.w.sum()), "n_dropped": n_formula + d["n_dropped"]}
    return rows, record, summary


def _has(specs, series, name):
    return specs[name] is not None or series[name] is not None


def _group_labels(part, spec, series):
    """Distinct non-missing group labels of one partition (runs on a worker)."""
    values = _option_column("groups", spec, part, series)
    return pd.unique(values.dropna().to_numpy())


def _bucket(labels, n_buckets):
    """Labels split by a hash that is the same in every process."""
    if len(labels) == 0:
        return [labels] * n_buckets
    h = pd.util.hash_array(np.asarray(labels, dtype=object)) % np.uint64(n_buckets)
    return [labels[h == b] for b in range(n_buckets)]


def _spanning(*pieces):
    """Number of labels found in more than one partition, and a few of them."""
    counts = pd.Series(np.concatenate([np.asarray(p, dtype=object) for p in pieces] or [[]])).value_counts()
    bad = counts[counts > 1]
    return int(bad.size), [v.item() if hasattr(v, "item") else v for v in bad.index[:3]]


def _sample_partition(rows, n_units, seed):
    """``n_units`` units of one partition drawn at random, as Rows (runs on a worker)."""
    units = np.random.default_rng(seed).choice(rows.G, size=n_units, replace=False)
    return rows.subset(units)


# ---------------------------------------------------------------------- on the client
def _client(client):
    try:
        from distributed import Client, default_client
    except ImportError:  # pragma: no cover - optional dependency
        raise ImportError("DaskRows needs dask.distributed: pip install 'emglm[dask]'") from None
    if client is None:
        try:
            return default_client()
        except ValueError:
            raise ValueError("no dask distributed Client is active; start one "
                             "(distributed.Client(...)) or pass client=") from None
    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    return client


def _check_option(name, value, ddf):
    """Column name (or, for groups, the index's name) or an aligned dask Series."""
    import dask.dataframe as dd

    if value is None:
        return None, None
    if isinstance(value, str):
        if value in ddf.columns or (name == "groups" and value == ddf.index.name):
            return value, None
        where = "the data's columns or its index name" if name == "groups" else "the data's columns"
        raise KeyError(f"{name}: column {value!r} not found in {where}")
    if isinstance(value, dd.Series):
        if value.npartitions != ddf.npartitions:
            raise ValueError(
                f"{name}: the dask Series has {value.npartitions} partitions but data has "
                f"{ddf.npartitions}; it must be partitioned like the data (same npartitions and "
                "divisions): build it from the frame (e.g. ddf['col']) or pass a column name")
        if tuple(value.divisions) != tuple(ddf.divisions):
            raise ValueError(
                f"{name}: the dask Series' divisions differ from the data's; it must be partitioned "
                "like the data (same npartitions and divisions): build it from the frame "
                "(e.g. ddf['col']) or pass a column name")
        return None, value
    raise TypeError(f"{name}: with a dask DataFrame pass a column name or a dask Series partitioned "
                    f"like the data, got {type(value).__name__}")


class DaskRows:
    """The rows of a mixture, one :class:`~emglm.mixture.Rows` per partition on the workers.

    Build it with :meth:`from_formula`. Attributes: ``design`` (the learned
    :class:`emglm.formula.Design`), ``endog_names``, ``exog_names``, ``fixed_names``,
    ``concomitant_names``, ``n_dropped``, ``partitions`` (futures of the per-partition Rows)
    and ``records`` (futures of each partition's kept index and group labels).

    Examples
    --------
    >>> import numpy as np, pandas as pd, dask.dataframe as dd
    >>> from distributed import Client
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 4.0, 3.0], "x": [0.0, 1.0, 2.0, 3.0],
    ...                    "g": [1, 1, 2, 2]})
    >>> with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None):
    ...     rows = DaskRows.from_formula("y ~ x", dd.from_pandas(df, npartitions=2), groups="g")
    ...     sizes = (rows.n, rows.G, rows.p, rows.npartitions)
    ...     xtx, xty = rows.reduce(lambda r, w: (r.X.T @ (w * r.X), r.X.T @ r.y), 1.0)
    >>> sizes
    (4, 2, 2, 2)
    >>> np.round(np.linalg.solve(xtx, xty), 6).tolist()  # least squares from the sums
    [1.3, 0.8]
    """

    def __init__(self, client, partitions, records, summaries, design, names, grouped, persist=True):
        self.client = client
        self.partitions = list(partitions)
        self.records = list(records)
        self.design = design
        self.endog_names, self.exog_names = names["endog"], names["exog"]
        self.fixed_names, self.concomitant_names = names["fixed"], names["concomitant"]
        self.grouped = grouped
        #: whether the partitions' rows are kept on the workers (else rebuilt in every pass)
        self.persist = persist
        self.partition_n = [s["n"] for s in summaries]
        self.partition_G = [s["G"] for s in summaries]
        self.nobs = float(sum(s["nobs"] for s in summaries))
        self.n_dropped = int(sum(s["n_dropped"] for s in summaries))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_formula(cls, formula, data, family=None, offset=None, exposure=None, weights=None,
                     missing="drop", concomitant=None, groups=None, fixed=None, design=None,
                     client=None, eval_env=0, persist=True):
        """Build the rows of a formula model from a dask DataFrame, on the cluster's workers.

        Parameters
        ----------
        formula : str
            ``"y ~ x1 + C(g)"``; ``fixed`` and ``concomitant`` are one-sided formulas.
        data : dask.dataframe.DataFrame
        family : statsmodels family, optional
            Only to read the response (a Binomial two-column response); default Gaussian.
        offset, exposure, weights : str or dask Series, optional
            Column names, or dask Series partitioned like ``data`` (same npartitions and
            divisions; values are matched by position within each partition).
        groups : str or dask Series, optional
            A column, the name of the index, or a Series: every group must sit whole in one
            partition (``data.shuffle(on=col)`` or ``data.set_index(col)`` make it so).
        missing : {"drop", "raise", "none"}
        design : emglm.formula.Design, optional
            A design learned before (from :func:`~emglm.dask_formula.learn_design` or a fitted
            model): no learning pass, and a level it has never seen is an error.
        client : distributed.Client, optional
            Default: the active client.
        eval_env : int
            Namespace for names outside the data: 0 is the caller's.
        persist : bool
            Keep each partition's rows on its worker (default). False: nothing is kept; every
            pass reads the partition again (from Parquet, CSV...) and rebuilds its rows, for
            data larger than the cluster's memory.

        Examples
        --------
        >>> import numpy as np, pandas as pd, dask.dataframe as dd
        >>> from distributed import Client
        >>> df = pd.DataFrame({"y": [1.0, 2.0, np.nan, 3.0], "x": [0.0, 1.0, 2.0, 3.0]})
        >>> with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None):
        ...     rows = DaskRows.from_formula("y ~ x", dd.from_pandas(df, npartitions=2))
        ...     print(rows.n, rows.n_dropped)
        3 1
        """
        import dask.dataframe as dd
        import statsmodels.api as sm

        from .data import check_numeric_response
        from .families import check_family

        if not isinstance(data, dd.DataFrame):
            raise TypeError(f"data must be a dask DataFrame, got {type(data).__name__}")
        if missing not in ("drop", "raise", "none"):
            raise ValueError(f"missing must be one of ('drop', 'raise', 'none'), got {missing!r}")
        if not isinstance(formula, str) or "~" not in formula:
            raise TypeError(f"formula must be a string 'y ~ x1 + x2', got {formula!r}")
        family = check_family(sm.families.Gaussian() if family is None else family)
        checked = {name: _check_option(name, value, data) for name, value in
                   (("offset", offset), ("exposure", exposure), ("weights", weights), ("groups", groups))}
        client = _client(client)
        env = eval_env + 1 if isinstance(eval_env, int) else eval_env

        # the partitions, read once on the workers and held there until the rows are built
        parts = client.compute(list(data.to_delayed()))
        series = {name: (client.compute(list(s.to_delayed())) if s is not None else [None] * len(parts))
                  for name, (_, s) in checked.items()}
        specs = {name: spec for name, (spec, _) in checked.items()}
        if design is None:
            design = learn_design(formula, parts, fixed=fixed, concomitant=concomitant,
                                  missing=missing, eval_env=env)
        check_numeric_response(design.endog)
        grouped = checked["groups"] != (None, None)
        if grouped:
            cls._check_groups(client, parts, specs["groups"], series["groups"])
        widths = (len(design.exog.column_names), len(design.fixed_columns or []),
                  0 if design.concomitant is None else len(design.concomitant.column_names))
        formulas = [formula, fixed, concomitant]
        built = [client.submit(_build_partition, i, design, part, {k: series[k][i] for k in _OPTIONS},
                               specs, family, missing, formulas, widths, pure=False)
                 for i, part in enumerate(parts)]
        summaries = client.gather([client.submit(operator.getitem, b, 2, pure=False) for b in built])
        if persist:
            partitions = [client.submit(operator.getitem, b, 0, pure=False) for b in built]
            records = [client.submit(operator.getitem, b, 1, pure=False) for b in built]
        else:  # recipes: every use reads the partition again and rebuilds its rows
            from dask import delayed

            raw = data.to_delayed()
            dseries = {name: (s.to_delayed() if s is not None else [None] * len(raw))
                       for name, (_, s) in checked.items()}
            rebuilt = [delayed(_build_partition, pure=False)(i, design, part, {k: dseries[k][i] for k in _OPTIONS},
                                                            specs, family, missing, formulas, widths)
                       for i, part in enumerate(raw)]
            partitions = [delayed(operator.getitem)(b, 0) for b in rebuilt]
            records = [delayed(operator.getitem)(b, 1) for b in rebuilt]
        del built, parts, series  # the raw partitions are released on the workers
        names = {"endog": design.endog.column_names, "exog": design.exog.column_names,
                 "fixed": None if design.fixed is None else
                 [design.fixed.column_names[i] for i in design.fixed_columns],
                 "concomitant": None if design.concomitant is None else design.concomitant.column_names}
        out = cls(client, partitions, records, summaries, design, names, grouped, persist)
        if out.n_dropped:
            warnings.warn(f"dropped {out.n_dropped} row(s) with missing or non-finite values",
                          DroppedRowsWarning, stacklevel=2)
        if out.n == 0:
            raise ValueError("no rows left after dropping rows with missing or non-finite values")
        if not out.nobs > 0:
            raise ValueError("weights sum to zero")
        return out

    @staticmethod
    def _check_groups(client, parts, spec, series):
        """ValueError when a group has rows in more than one partition (one pass, on the workers)."""
        n_buckets = max(1, min(len(parts), _MAX_BUCKETS))
        labels = [client.submit(_group_labels, part, spec, s) for part, s in zip(parts, series)]
        buckets = [client.submit(_bucket, lab, n_buckets) for lab in labels]
        pieces = [[client.submit(operator.getitem, b, j) for b in buckets] for j in range(n_buckets)]
        found = client.gather([client.submit(_spanning, *p) for p in pieces])
        count = sum(c for c, _ in found)
        if count:
            examples = [v for _, ex in found for v in ex][:3]
            col = spec
            what = f"column {col!r}" if col else "the groups Series"
            how = (f"ddf = ddf.shuffle(on={col!r}) or ddf = ddf.set_index({col!r}), then groups={col!r}"
                   if col else "shuffle the frame by the group (ddf.shuffle(on=...)) or set the index to it")
            raise ValueError(
                f"groups: {count} group(s) of {what} have rows in more than one partition (e.g. "
                f"{examples}); every group must sit whole in one partition: {how}")

    def __repr__(self):
        return (f"DaskRows(n={self.n}, G={self.G}, p={self.p}, npartitions={self.npartitions}, "
                f"n_dropped={self.n_dropped})")

    # ------------------------------------------------------------------ sizes
    @property
    def npartitions(self):
        return len(self.partitions)

    @property
    def n(self):
        """Number of rows (after dropping)."""
        return int(sum(self.partition_n))

    @property
    def G(self):
        """Number of units: groups for grouped data, otherwise rows."""
        return int(sum(self.partition_G))

    @property
    def p(self):
        """Number of columns of the component design."""
        return len(self.exog_names)

    # ------------------------------------------------------------------ map-reduce
    def submit(self, fn, *args):
        """Future of ``fn(*args)`` on the workers; arguments may be futures or (for rows that
        are not persisted) dask Delayed recipes, which are computed for this call."""
        from dask.delayed import Delayed, delayed

        if any(isinstance(a, Delayed) for a in args):
            return self.client.compute(delayed(fn, pure=False)(*args))
        return self.client.submit(fn, *args, pure=False)

    def map(self, fn, *args):
        """Futures of ``fn(rows, *args)`` for each partition's Rows, computed on the workers.

        ``fn`` must pickle (a module-level function, or one cloudpickle can ship).

        Examples
        --------
        >>> import pandas as pd, dask.dataframe as dd
        >>> from distributed import Client
        >>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0], "x": [0.0, 1.0, 2.0]})
        >>> with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as c:
        ...     rows = DaskRows.from_formula("y ~ x", dd.from_pandas(df, npartitions=2))
        ...     sizes = c.gather(rows.map(lambda r: r.n))
        >>> sizes
        [2, 1]
        """
        return [self.submit(fn, part, *args) for part in self.partitions]

    def reduce(self, fn, *args):
        """Sum over partitions of ``fn(rows, *args)``, added by a tree reduction on the workers.

        ``fn`` returns a number, an array, or a tuple, list or dict of them (added element by
        element). Pairs are added in partition order, so the result does not depend on which
        worker finishes first; only the total reaches the client.

        Examples
        --------
        >>> import pandas as pd, dask.dataframe as dd
        >>> from distributed import Client
        >>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0], "x": [0.0, 1.0, 2.0]})
        >>> with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None):
        ...     rows = DaskRows.from_formula("y ~ x", dd.from_pandas(df, npartitions=3))
        ...     total = rows.reduce(lambda r: {"n": r.n, "sy": float(r.y.sum())})
        >>> total
        {'n': 3, 'sy': 6.0}
        """
        return self.reduce_over(self.partitions, fn, *args)

    def reduce_over(self, futures, fn, *args):
        """Sum of ``fn(obj, *args)`` over the objects the ``futures`` hold on the workers (in
        their order, as :meth:`reduce`).

        The partitions' results are added on the workers by a tree of additions with
        :data:`FAN_IN` results per task, until at most that many remain; those few are added
        on the client. Each level of the tree is a round trip through the scheduler, so a
        wide tree keeps an EM pass over a few hundred partitions at two or three of them.
        """
        level = [self.submit(fn, f, *args) for f in futures]
        while len(level) > FAN_IN:
            level = [self.client.submit(_add_all, *level[i:i + FAN_IN], pure=False)
                     for i in range(0, len(level), FAN_IN)]
        return _add_all(*self.client.gather(level))

    # ------------------------------------------------------------------ subsamples
    def sample(self, frac=None, n=None, random_state=None):
        """An in-memory Rows of a simple random sample of units (whole groups), for starts.

        Parameters
        ----------
        frac : float, optional
            Share of units to draw (rounded to a whole number, at least one).
        n : int, optional
            Number of units to draw (give ``frac`` or ``n``).
        random_state : int or numpy Generator, optional

        Examples
        --------
        >>> import pandas as pd, dask.dataframe as dd
        >>> from distributed import Client
        >>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "x": [0.0, 1.0, 2.0, 3.0]})
        >>> with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None):
        ...     rows = DaskRows.from_formula("y ~ x", dd.from_pandas(df, npartitions=2))
        ...     small = rows.sample(n=3, random_state=0)
        >>> small.n
        3
        """
        if (frac is None) == (n is None):
            raise ValueError("sample: give exactly one of frac and n")
        if frac is not None:
            if not (isinstance(frac, (int, float)) and 0 < frac <= 1):
                raise ValueError(f"frac must be a number in (0, 1], got {frac!r}")
            n = max(1, int(round(frac * self.G)))
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= self.G:
            raise ValueError(f"n must be an integer between 1 and the number of units ({self.G}), got {n!r}")
        if not (random_state is None or isinstance(random_state, (np.random.Generator, int, np.integer))) \
                or isinstance(random_state, bool):
            raise TypeError(f"random_state must be None, an integer or a numpy Generator, got {random_state!r}")
        rng = np.random.default_rng(random_state)
        # units per partition: multivariate hypergeometric, then uniform within each partition,
        # gives every set of n units the same chance
        counts = rng.multivariate_hypergeometric(np.asarray(self.partition_G, dtype=np.int64), int(n))
        seeds = rng.integers(0, 2**63 - 1, size=len(counts))
        drawn = [self.submit(_sample_partition, part, int(c), int(s))
                 for part, c, s in zip(self.partitions, counts, seeds) if c > 0]
        return concat_rows(self.client.gather(drawn))

    def release(self):
        """Free the partitions' rows on the workers."""
        from distributed import Future

        self.client.cancel([f for f in self.partitions + self.records if isinstance(f, Future)])
        self.partitions, self.records = [], []
