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

__all__ = ["main", "build_parser", "FAMILIES"]


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
    d.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
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
    f.add_argument("--random-state", type=int, default=None, help="seed for the starts")
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
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".csv", ".json"):
        raise UsageError(f"--output: FILE must end in .csv or .json, got {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--output: folder does not exist: {folder}")
    return ext


def _json_value(v):
    v = float(v)
    return v if math.isfinite(v) else None


def write_output(res, path):
    """Write the fit's estimates and posterior to ``path`` (.json, or long-form .csv)."""
    import pandas as pd

    ext = os.path.splitext(path)[1].lower()
    stats = {"llf": res.llf, "aic": res.aic, "bic": res.bic, "icl": res.icl, "nobs": res.nobs,
             "df_model": res.df_model, "converged": float(res.converged), "n_iter": res.n_iter}
    post = res.posterior
    if ext == ".json":
        doc = {
            "family": res.model.family_name, "k": res.k, "formula": getattr(res.model, "formula", None),
            "statistics": {name: _json_value(v) for name, v in stats.items()},
            "params": {c: {t: _json_value(v) for t, v in res.params[c].items()} for c in res.params.columns},
            "proportions": {c: _json_value(v) for c, v in res.proportions.items()},
            "scale": {c: _json_value(v) for c, v in res.scale.items()},
            "posterior": {"index": [str(i) for i in post.index], "columns": list(post.columns),
                          "data": [[_json_value(v) for v in row] for row in post.to_numpy()]},
        }
        doc["statistics"]["converged"] = bool(res.converged)
        with open(path, "w") as fh:
            json.dump(doc, fh, indent=1)
        return
    import numpy as np

    def long(table, frame):
        rows, cols = frame.index.astype(str), frame.columns.astype(str)
        return pd.DataFrame({"table": table, "row": np.repeat(rows, len(cols)),
                             "column": np.tile(cols, len(rows)), "value": frame.to_numpy().ravel()})

    parts = [long("params", res.params),
             long("proportions", res.proportions.to_frame("proportion").T),
             long("scale", res.scale.to_frame("scale").T),
             pd.DataFrame({"table": "statistics", "row": list(stats), "column": "",
                           "value": [float(v) for v in stats.values()]}),
             long("posterior", post)]
    pd.concat(parts, ignore_index=True).to_csv(path, index=False)


def _fit(args, out):
    import pandas as pd

    from .model import EMGLM

    if args.k < 1:
        raise UsageError(f"-k: must be a positive integer, got {args.k}")
    if args.n_starts < 1:
        raise UsageError(f"--n-starts: must be a positive integer, got {args.n_starts}")
    if args.maxiter < 1:
        raise UsageError(f"--maxiter: must be a positive integer, got {args.maxiter}")
    if args.n_jobs is not None and args.n_jobs < 1 and args.n_jobs != -1:
        raise UsageError(f"--n-jobs: must be a positive integer or -1 (every core), got {args.n_jobs}")
    ext = _check_output(args.output) if args.output else None
    if not os.path.isfile(args.data):
        raise UsageError(f"DATA: no such file: {args.data}")
    try:
        data = pd.read_csv(args.data)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UsageError(f"DATA: cannot read {args.data} as CSV: {_one_line(exc)}") from None
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
