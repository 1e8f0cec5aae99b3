"""Command line: ``python -m emglm demo`` and ``python -m emglm fit DATA.csv ...``.

Also installed as the ``emglm`` console script. Bad arguments or data end with a one-line
``emglm: error: ...`` on stderr and exit status 2 (no traceback).

Examples
--------
>>> main(["fit", "no-such-file.csv", "--formula", "y ~ x"])  # doctest: +SKIP
emglm: error: DATA: no such file: no-such-file.csv
2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings

__all__ = ["main", "build_parser", "write_output", "read_output", "FAMILIES"]


def _families():
    import statsmodels.api as sm

    f = sm.families
    return {
        "gaussian": f.Gaussian, "poisson": f.Poisson, "binomial": f.Binomial, "gamma": f.Gamma,
        "inverse_gaussian": f.InverseGaussian, "negative_binomial": f.NegativeBinomial,
        "tweedie": f.Tweedie,
    }


FAMILIES = ("gaussian", "poisson", "binomial", "gamma", "inverse_gaussian", "negative_binomial", "tweedie")


class UsageError(Exception):
    """A bad argument or bad data: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage block and then the error; a one-line error is easier to read
    # in scripts and logs (``--help`` still shows the usage)
    def error(self, message):
        raise UsageError(message)


def build_parser():
    """The argparse parser of the ``emglm`` command.

    Examples
    --------
    >>> build_parser().parse_args(["fit", "d.csv", "--formula", "y ~ x", "-k", "3"]).k
    3
    """
    p = _Parser(prog="emglm", description="Finite mixtures of GLMs fitted by EM.")
    sub = p.add_subparsers(dest="command", metavar="{demo,fit}")
    d = sub.add_parser("demo", help="fit a bundled data set and print its summary")
    d.add_argument("--random-state", type=int, default=0, help="random seed (default 0)")
    f = sub.add_parser("fit", help="fit a mixture to a CSV file",
                       description="Fit a k-component GLM mixture to the rows of a CSV file and "
                                   "print its summary.")
    f.add_argument("data", metavar="DATA.csv", help="CSV file with a header row")
    f.add_argument("--formula", required=True, help='R-style formula, e.g. "y ~ x1 + x2"')
    f.add_argument("--allow-code", action="store_true",
                   help="evaluate the formula as unrestricted Python (any function, module or "
                        "attribute); by default it may use only the data's columns, patsy's "
                        "functions (C, I, Q, center, standardize, bs...) and numpy's numerical "
                        "functions (np.log...)")
    f.add_argument("--family", default="gaussian", choices=FAMILIES, help="GLM family (default gaussian)")
    f.add_argument("-k", "--k", type=int, default=2, help="number of components (default 2)")
    f.add_argument("--alpha", type=float, default=1.0, help="negative_binomial dispersion alpha (default 1)")
    f.add_argument("--var-power", type=float, default=1.5, help="tweedie variance power (default 1.5)")
    f.add_argument("--offset", metavar="COLUMN", help="column holding an offset")
    f.add_argument("--exposure", metavar="COLUMN", help="column holding an exposure (log added to the offset)")
    f.add_argument("--weights", metavar="COLUMN", help="column holding frequency weights")
    f.add_argument("--mixing", default="estimate", choices=("estimate", "equal"),
                   help="estimated proportions (default) or equal priors")
    f.add_argument("--n-starts", type=int, default=5, help="number of starts (default 5)")
    f.add_argument("--random-state", type=int, default=None, help="random seed for the starts (a non-negative integer)")
    f.add_argument("--maxiter", type=int, default=1000, help="EM iterations per start (default 1000)")
    f.add_argument("--n-jobs", type=int, default=None,
                   help="threads for the passes over the rows (default: every core)")
    f.add_argument("--output", metavar="FILE",
                   help="write params, proportions, scale, criteria and posterior to FILE: .json, or "
                        ".csv in long form (columns table, row, column, value)")
    return p


def _print_fit(res, out):
    summary = getattr(res, "summary", None)
    if summary is not None:
        print(summary(), file=out)
        return
    # until summary() exists: the estimates and criteria as plain tables
    import pandas as pd

    print(f"{res.model.family_name} mixture, k={res.k}, nobs={res.nobs:g}", file=out)
    print("\nCoefficients:", file=out)
    print(res.params.to_string(), file=out)
    print("\nProportions and scale:", file=out)
    print(pd.DataFrame({"proportion": res.proportions, "scale": res.scale}).to_string(), file=out)
    print(f"\nllf = {res.llf:.4f}   AIC = {res.aic:.2f}   BIC = {res.bic:.2f}   ICL = {res.icl:.2f}   "
          f"converged = {res.converged} ({res.n_iter} iterations)", file=out)


def _demo(args, out):
    import statsmodels.api as sm

    from .model import EMGLM

    try:
        from .datasets import load_warpbreaks
    except ImportError:  # bundled data not available: a simulated two-component mixture
        load_warpbreaks = None
    if load_warpbreaks is not None:
        data = load_warpbreaks()
        formula, title = "breaks ~ tension", "R's warpbreaks: breaks ~ tension, Poisson, k = 2"
    else:
        import numpy as np
        import pandas as pd

        rng = np.random.default_rng(1)
        x = rng.uniform(-1, 1, 500)
        y = rng.poisson(np.exp(np.where(rng.random(500) < 0.4, 2.0 + x, 0.3 - x)))
        data = pd.DataFrame({"y": y, "x": x})
        formula, title = "y ~ x", "simulated Poisson mixture: y ~ x, k = 2"
    print(f"emglm demo: {title}\n", file=out)
    model = EMGLM.from_formula(formula, data, k=2, family=sm.families.Poisson())
    res = model.fit(n_starts=5, random_state=args.random_state)
    _print_fit(res, out)
    return 0


def _check_output(path):
    """The output's extension, after making sure the file can be written (before the fit)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".csv", ".json"):
        raise UsageError(f"--output: FILE must end in .csv or .json, got {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--output: folder does not exist: {folder}")
    if os.path.isdir(path):
        raise UsageError(f"--output: {path} is a folder, not a file")
    # permissions alone do not tell (root, read-only mounts): open the file for appending,
    # which creates nothing new when it exists, and remove it again if this made it
    existed = os.path.exists(path)
    try:
        with open(path, "a"):
            pass
    except OSError as exc:
        raise UsageError(f"--output: cannot write {path}: {exc.strerror or _one_line(exc)}") from None
    if not existed:
        os.remove(path)
    return ext


def _json_value(v):
    v = float(v)
    return v if math.isfinite(v) else None


def _statistics(res):
    """Criteria and counts of a fit; counts as integers (``nobs`` when the weights are whole)."""
    nobs = float(res.nobs)
    return {"llf": float(res.llf), "aic": float(res.aic), "bic": float(res.bic), "icl": float(res.icl),
            "nobs": int(nobs) if nobs.is_integer() else nobs, "df_model": int(res.df_model),
            "converged": bool(res.converged), "n_iter": int(res.n_iter),
            "n_starts": int(getattr(res, "n_starts", 1))}


def _tables(res, alpha=0.05):
    """The estimates written by :func:`write_output`: DataFrames (terms x components) and
    Series (one value per component)."""
    from scipy import stats

    z = stats.norm.ppf(1 - alpha / 2)
    tables = {"params": res.params}
    try:
        bse = res.bse
        tables.update(bse=bse, pvalues=res.pvalues, conf_int_lower=res.params - z * bse,
                      conf_int_upper=res.params + z * bse)
        extra = {"bse_proportions": res.bse_proportions.rename("bse_proportion"),
                 "bse_scale": res.bse_scale.rename("bse_scale")}
    except Exception as exc:  # a covariance that cannot be computed: estimates only
        warnings.warn(f"standard errors not written: {_one_line(exc)}", RuntimeWarning)
        extra = {}
    tables["proportions"] = res.proportions.rename("proportion")
    tables["scale"] = res.scale.rename("scale")
    for name, values in extra.items():
        tables[name] = values
    if not res.mixing_params.empty:
        tables["mixing_params"] = res.mixing_params
        if extra:
            tables["bse_mixing"] = res.bse_mixing
    return tables


def write_output(res, path, alpha=0.05):
    """Write the fit's estimates, standard errors, p-values, intervals, criteria and posterior.

    ``.json``: one document; ``.csv``: long form with columns ``table, row, column, value``
    (read it back with :func:`read_output`). Tables: ``params``, ``bse``, ``pvalues``,
    ``conf_int_lower`` and ``conf_int_upper`` (Wald, level 1 - alpha), all terms x components;
    ``proportions`` and ``scale`` (with their standard errors), ``mixing_params`` and
    ``bse_mixing`` (when proportions are estimated), ``statistics`` (counts as integers) and
    ``posterior`` (rows in the data's order, labelled by the data's row numbers).

    Examples
    --------
    >>> import json, os, tempfile, numpy as np
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(1)
    >>> res = EMGLM(np.r_[rng.normal(-3, 1, 40), rng.normal(3, 1, 40)], np.ones((80, 1)), k=2).fit()
    >>> path = os.path.join(tempfile.mkdtemp(), "fit.json")
    >>> write_output(res, path)
    >>> doc = json.load(open(path))
    >>> doc["statistics"]["nobs"], sorted(doc["bse"])
    (80, ['comp1', 'comp2'])
    """
    import numpy as np
    import pandas as pd

    ext = os.path.splitext(path)[1].lower()
    stats = _statistics(res)
    tables = _tables(res, alpha)
    post = res.posterior

    def label(v):
        return int(v) if isinstance(v, (int, np.integer)) else str(v)

    if ext == ".json":
        doc = {"family": res.model.family_name, "k": int(res.k), "formula": getattr(res.model, "formula", None),
               "conf_int_level": 1 - alpha,
               "statistics": {n: (v if isinstance(v, (bool, int)) else _json_value(v)) for n, v in stats.items()}}
        for name, frame in tables.items():
            if frame.ndim == 1:
                doc[name] = {str(c): _json_value(v) for c, v in frame.items()}
            else:
                doc[name] = {str(c): {str(t): _json_value(v) for t, v in frame[c].items()} for c in frame.columns}
        doc["posterior"] = {"index": [label(i) for i in post.index], "columns": list(post.columns),
                            "data": [[_json_value(v) for v in row] for row in post.to_numpy()]}
        with open(path, "w") as fh:
            json.dump(doc, fh, indent=1)
        return

    def long(table, frame):
        if frame.ndim == 1:  # one row named like the Series, a column per component
            frame = frame.to_frame().T
        rows = [label(i) for i in frame.index]
        cols = [str(c) for c in frame.columns]
        return pd.DataFrame({"table": table, "row": np.repeat(np.array(rows, dtype=object), len(cols)),
                             "column": np.tile(cols, len(rows)),
                             "value": frame.to_numpy(dtype=float).ravel().astype(object)})

    parts = [long(name, frame) for name, frame in tables.items()]
    # object values keep the counts integers in the file (300, not 300.0)
    parts.append(pd.DataFrame({"table": "statistics", "row": list(stats), "column": "",
                               "value": pd.Series(list(stats.values()), dtype=object)}))
    parts.append(long("posterior", post))
    pd.concat(parts, ignore_index=True).to_csv(path, index=False)


_SERIES_TABLES = ("proportions", "scale", "bse_proportions", "bse_scale")


def read_output(path):
    """Read a file written by ``emglm fit --output`` back into DataFrames.

    Returns a dict: every table of :func:`write_output` as a DataFrame (``posterior`` with its
    rows in the file's order, i.e. the data's, labelled by integers when the data's were) or,
    for one value per component (``proportions``, ``scale`` and their standard errors), a
    Series; ``statistics`` as a dict.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from emglm import EMGLM
    >>> rng = np.random.default_rng(0)
    >>> res = EMGLM(np.r_[rng.normal(-3, 1, 50), rng.normal(3, 1, 50)], np.ones((100, 1)), k=2).fit()
    >>> path = os.path.join(tempfile.mkdtemp(), "fit.csv")
    >>> write_output(res, path)
    >>> out = read_output(path)
    >>> out["posterior"].index[:3].tolist(), out["statistics"]["nobs"]
    ([0, 1, 2], 100)
    """
    import numpy as np
    import pandas as pd

    ext = os.path.splitext(str(path))[1].lower()
    if ext == ".json":
        with open(path) as fh:
            doc = json.load(fh)
        out = {"statistics": doc["statistics"]}
        for name, val in doc.items():
            if isinstance(val, dict) and name not in ("statistics", "posterior"):
                flat = not any(isinstance(v, dict) for v in val.values())
                out[name] = (pd.Series(val, dtype=float, name=name) if flat
                             else pd.DataFrame(val).astype(float))
        p = doc["posterior"]
        out["posterior"] = pd.DataFrame(p["data"], index=p["index"], columns=p["columns"], dtype=float)
        return out
    long = pd.read_csv(path, keep_default_na=False, dtype=str)
    out = {}
    for name, part in long.groupby("table", sort=False):
        if name == "statistics":
            out[name] = {r: json.loads(v.lower()) if v in ("True", "False") else
                         (int(v) if v.lstrip("-").isdigit() else float(v))
                         for r, v in zip(part["row"], part["value"])}
            continue
        rows = list(dict.fromkeys(part["row"]))  # first-seen order: the file's (and the data's)
        cols = list(dict.fromkeys(part["column"]))
        values = np.array([float(v) if v else np.nan for v in part["value"]]).reshape(len(rows), len(cols))
        if all(r.lstrip("-").isdigit() for r in rows):
            rows = [int(r) for r in rows]
        frame = pd.DataFrame(values, index=rows, columns=cols)
        out[name] = frame.iloc[0].rename(name) if name in _SERIES_TABLES else frame
    return out


# which command-line option a library error is about, from the argument it names first
_OPTION_OF = (("k", "-k"), ("offset", "--offset"), ("exposure", "--exposure"), ("weights", "--weights"),
              ("mixing", "--mixing"), ("n_starts", "--n-starts"), ("maxiter", "--maxiter"),
              ("random_state", "--random-state"), ("n_jobs", "--n-jobs"))


def _option_for(message):
    """The option (or DATA/--formula) an error message of the library is about."""
    head = message.split(":", 1)[0].split(" ", 1)[0].split("=", 1)[0]
    if head == "family":
        return "--alpha" if "alpha" in message else "--var-power" if "var_power" in message else "--family"
    for name, option in _OPTION_OF:
        if head == name:
            return option
    if head == "data":
        return "DATA"
    # the response, the design and their columns all come from the formula
    return "--formula"


def _check_args(args):
    """Option values checked before the data are read (each error names its option)."""
    for opt, value, low in (("-k", args.k, 1), ("--n-starts", args.n_starts, 1), ("--maxiter", args.maxiter, 1)):
        if value < low:
            raise UsageError(f"{opt}: must be a positive integer, got {value}")
    if args.n_jobs is not None and args.n_jobs < 1 and args.n_jobs != -1:
        raise UsageError(f"--n-jobs: must be a positive integer or -1 (every core), got {args.n_jobs}")
    if args.random_state is not None and args.random_state < 0:
        raise UsageError(f"--random-state: must be a non-negative integer, got {args.random_state}")
    if args.family == "negative_binomial" and not (math.isfinite(args.alpha) and args.alpha > 0):
        raise UsageError(f"--alpha: the negative_binomial alpha must be a positive number, got {args.alpha:g}")
    if args.family == "tweedie":
        from .families import TWEEDIE_POWER_RANGE

        lo, hi = TWEEDIE_POWER_RANGE
        if not lo <= args.var_power <= hi:
            raise UsageError(f"--var-power: must lie in [{lo:g}, {hi:g}] (the compound Poisson-gamma range, "
                             f"where the Tweedie density is available), got {args.var_power:g}")


def _read_data(path):
    import pandas as pd

    if not os.path.isfile(path):
        raise UsageError(f"DATA: no such file: {path}")
    try:
        data = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UsageError(f"DATA: cannot read {path} as CSV: {_one_line(exc)}") from None
    if len(data) == 0:
        raise UsageError(f"DATA: {path} has a header but no data rows")
    return data


def _fit(args, out):
    from .model import EMGLM

    _check_args(args)
    ext = _check_output(args.output) if args.output else None
    data = _read_data(args.data)
    for opt in ("offset", "exposure", "weights"):
        col = getattr(args, opt)
        if col is not None and col not in data.columns:
            raise UsageError(f"--{opt}: no column {col!r} in {args.data} (columns: {', '.join(map(str, data.columns))})")
    fams = _families()
    if args.family == "negative_binomial":
        family = fams[args.family](alpha=args.alpha)
    elif args.family == "tweedie":
        family = fams[args.family](var_power=args.var_power)
    else:
        family = fams[args.family]()
    import numpy as np
    import patsy

    from .formula_env import check_formulas, restricted_env

    if args.allow_code:
        # the user vouches for the formula: patsy's functions, numpy and Python's builtins
        env = patsy.EvalEnvironment([{"np": np, "numpy": np}])
    else:
        # a formula is Python code: by default only columns, patsy's functions and numpy's
        # numerical functions, checked before anything is evaluated
        try:
            check_formulas([args.formula], data.columns, where="--formula")
        except (ValueError, patsy.PatsyError) as exc:
            raise UsageError(_one_line(exc) if isinstance(exc, ValueError) else f"--formula: {_one_line(exc)}") from None
        env = restricted_env()
    try:
        model = EMGLM.from_formula(args.formula, data, k=args.k, family=family, offset=args.offset,
                                   exposure=args.exposure, weights=args.weights, mixing=args.mixing,
                                   eval_env=env)
    except patsy.PatsyError as exc:
        raise UsageError(f"--formula: {_one_line(exc)}") from None
    except (ValueError, TypeError, KeyError) as exc:
        msg = _one_line(exc).strip("'\"")
        raise UsageError(f"{_option_for(msg)}: {msg}") from None
    res = model.fit(n_starts=args.n_starts, random_state=args.random_state, maxiter=args.maxiter,
                    n_jobs=args.n_jobs)
    _print_fit(res, out)
    if args.output:
        write_output(res, args.output)
        print(f"\nwrote {args.output} ({ext[1:]})", file=out)
    return 0


def _one_line(exc):
    text = " ".join(str(exc).split())
    return text if text else type(exc).__name__


def main(argv=None, out=None, err=None):
    """Run the ``emglm`` command; returns the exit status (0, or 2 for bad input).

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).
    out, err : file objects, optional
        Where results and errors go (default stdout and stderr).
    """
    import patsy

    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            raise UsageError("choose a command: demo or fit (see emglm --help)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            status = _demo(args, out) if args.command == "demo" else _fit(args, out)
        for w in caught:
            if not issubclass(w.category, DeprecationWarning):
                print(f"emglm: warning: {_one_line(w.message)}", file=err)
        return status
    except UsageError as exc:
        print(f"emglm: error: {exc}", file=err)
        return 2
    except BrokenPipeError:
        # the reader went away (``emglm demo | head``): stop quietly, as Unix tools do
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, TypeError, KeyError, patsy.PatsyError, OSError) as exc:
        # model construction and fitting raise these with the argument or column named
        print(f"emglm: error: {_one_line(exc)}", file=err)
        return 2


def console():  # pragma: no cover - the process exit wrapper
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    console()
