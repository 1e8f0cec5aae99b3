"""A restricted namespace for evaluating formulas that come from outside the program.

Patsy evaluates every factor of a formula (``np.log(x)``, ``C(arm)``) as Python code with
``eval``. A formula written by the program's own author is code like any other; a formula
read from a command line, a web form or a saved file is not, and
``y ~ __import__('os').system('...')`` would run a shell command. This module checks such
formulas before patsy sees them and supplies the namespace they are evaluated in:

* names: the data's columns, patsy's own functions (``C``, ``I``, ``Q``, ``center``,
  ``standardize``, ``scale``, ``bs``, ``cr``, ``cc``, ``te`` and the contrasts ``Treatment``,
  ``Sum``, ``Poly``, ``Helmert``, ``Diff``) and ``np`` / ``numpy``, which here offers only
  numerical functions (``np.log``, ``np.exp``, ``np.sqrt``, ``np.where``...), no file access;
* attribute access only on ``np`` / ``numpy`` (no ``x.to_csv(...)``, no ``__class__``);
* no lambdas, comprehensions, assignment expressions or starred arguments.

Anything else is refused with a ValueError naming the offending name or construct, before
any evaluation. The command line applies this to ``--formula`` unless given
``--allow-code``; :func:`emglm.load` applies it to the formulas of a saved model.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"y": [1.0, 2.0, 4.0], "x": [0.5, 1.0, 2.0]})
>>> check_formulas(["y ~ np.log(x) + center(x)"], df.columns)
>>> check_formulas(["y ~ __import__('os').system('echo hi')"], df.columns)
Traceback (most recent call last):
...
ValueError: formula: '__import__' is neither a column of the data nor a function allowed in a formula here (allowed: the data's columns, patsy's functions such as C, I, center, standardize, and np.<function>; see --allow-code)
"""

from __future__ import annotations

import ast
import types

import numpy as np

__all__ = ["check_formulas", "restricted_env", "unsafe_construct", "SAFE_NUMPY", "PATSY_FUNCTIONS"]

#: patsy's own formula functions and contrasts
PATSY_FUNCTIONS = ("I", "Q", "C", "center", "standardize", "scale", "bs", "cr", "cc", "te",
                   "Treatment", "Poly", "Sum", "Helmert", "Diff", "ContrastMatrix")

#: numpy names offered as ``np.<name>`` in a restricted formula: element-wise mathematics
#: and a few reductions; nothing that reads or writes files or imports modules
SAFE_NUMPY = (
    "abs", "absolute", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh",
    "cbrt", "ceil", "clip", "cos", "cosh", "deg2rad", "exp", "exp2", "expm1", "fabs", "floor",
    "fmax", "fmin", "hypot", "isfinite", "isinf", "isnan", "log", "log10", "log1p", "log2",
    "logaddexp", "maximum", "mean", "median", "minimum", "mod", "power", "rad2deg", "reciprocal",
    "rint", "round", "sign", "sin", "sinh", "sqrt", "square", "std", "tan", "tanh", "trunc",
    "var", "where", "pi", "e", "inf", "nan", "asarray", "float64", "int64",
)

_HINT = ("allowed: the data's columns, patsy's functions such as C, I, center, standardize, "
         "and np.<function>; see --allow-code")

_FORBIDDEN_NODES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
                    ast.NamedExpr, ast.Starred, ast.Await, ast.Yield, ast.YieldFrom)


def _numpy_proxy():
    return types.SimpleNamespace(**{name: getattr(np, name) for name in SAFE_NUMPY if hasattr(np, name)})


def _refuse(name):
    def refused(*args, **kwargs):
        raise NameError(f"{name!r} is not available in a restricted formula")

    return refused


def restricted_env(extra=None, block_builtins=True):
    """A patsy EvalEnvironment holding only patsy's functions and the restricted ``np``.

    With ``block_builtins`` (default), every Python builtin (``open``, ``__import__``,
    ``eval``...) is shadowed by a function that refuses to run, since patsy evaluates
    formula terms with Python's builtins in reach.

    Examples
    --------
    >>> env = restricted_env()
    >>> [name in env.namespace for name in ("np", "C", "center")]
    [True, True, True]
    >>> env.namespace["open"]("/etc/passwd")
    Traceback (most recent call last):
    ...
    NameError: 'open' is not available in a restricted formula
    """
    import builtins

    import patsy
    import patsy.builtins as pb

    ns = {}
    if block_builtins:
        ns.update({name: _refuse(name) for name in dir(builtins) if name not in ("True", "False", "None")})
    ns.update({name: getattr(pb, name) for name in PATSY_FUNCTIONS if hasattr(pb, name)})
    proxy = _numpy_proxy()
    ns.update(np=proxy, numpy=proxy)
    if extra:
        ns.update(extra)
    return patsy.EvalEnvironment([ns])


def _factor_codes(formula):
    import patsy

    desc = patsy.ModelDesc.from_formula(formula)
    for term in list(desc.lhs_termlist) + list(desc.rhs_termlist):
        for factor in term.factors:
            code = getattr(factor, "code", None)
            if code is not None:
                yield code


def unsafe_construct(node, columns=None):
    """Why ``node`` (an AST node of a formula term) is refused, or None.

    Besides names and attributes (checked by the callers): ``Q(...)`` must name a data column
    by a string constant (``Q`` looks names up in the evaluation frame, whose globals hold
    Python's builtins: ``Q('__builtins__')`` would reach ``eval``), and arithmetic that
    builds huge values from constants alone (``9**9**9``, ``'a' * 10**10``) is refused.
    ``columns``: the allowed column names, or None to refuse only names starting with ``_``.
    """
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Q":
        args = list(node.args) + [kw.value for kw in node.keywords]
        if len(args) != 1 or not (isinstance(args[0], ast.Constant) and isinstance(args[0].value, str)):
            return "Q(...) with anything but one column name in quotes"
        name = args[0].value
        if (columns is not None and name not in columns) or (columns is None and name.startswith("_")):
            return f"Q({name!r}), which is not a column of the data"
    if isinstance(node, ast.BinOp):
        const = [isinstance(v, ast.Constant) for v in (node.left, node.right)]
        seq = [isinstance(v, (ast.List, ast.Tuple)) or isinstance(v, ast.Constant) and isinstance(v.value, (str, bytes))
               for v in (node.left, node.right)]
        if isinstance(node.op, (ast.Pow, ast.LShift)) and all(const):
            return "arithmetic with ** or << on constants alone"
        if isinstance(node.op, ast.Mult) and any(seq):
            return "repetition of a string or list"
    return None


def _check_code(code, allowed, where):
    try:
        tree = ast.parse(code.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"{where}: cannot parse the term {code!r}: {exc.msg}") from None
    nodes = list(ast.walk(tree))
    # names first: "'__import__' is not allowed" says more than the attribute taken of it
    nodes.sort(key=lambda nd: not isinstance(nd, ast.Name))
    for node in nodes:
        why = unsafe_construct(node, allowed - set(PATSY_FUNCTIONS) - {"np", "numpy"})
        if why:
            raise ValueError(f"{where}: {why} is not allowed in a formula here ({_HINT})")
        if isinstance(node, _FORBIDDEN_NODES):
            raise ValueError(f"{where}: {type(node).__name__.lower()} expressions are not allowed in a "
                             f"formula here ({_HINT})")
        if isinstance(node, ast.Attribute):
            base = node.value
            if not (isinstance(base, ast.Name) and base.id in ("np", "numpy")):
                raise ValueError(f"{where}: attribute access '.{node.attr}' is not allowed in a formula "
                                 f"here ({_HINT})")
            if node.attr not in SAFE_NUMPY:
                raise ValueError(f"{where}: {base.id}.{node.attr} is not allowed in a formula here "
                                 f"(numpy offers only numerical functions such as np.log, np.exp, "
                                 "np.sqrt, np.where; see --allow-code)")
        elif isinstance(node, ast.Name):
            if node.id not in allowed:
                raise ValueError(f"{where}: {node.id!r} is neither a column of the data nor a function "
                                 f"allowed in a formula here ({_HINT})")


def check_formulas(formulas, columns, where="formula"):
    """ValueError unless every factor of ``formulas`` uses only allowed names and constructs.

    Parameters
    ----------
    formulas : iterable of str or None
        Two- or one-sided formulas (None entries are skipped).
    columns : iterable
        The data's column names (the names a formula may refer to, besides the functions).
    where : str
        How the error names the offending argument.

    Examples
    --------
    >>> check_formulas(["y ~ x.to_csv('out.csv')"], ["y", "x"])
    Traceback (most recent call last):
    ...
    ValueError: formula: attribute access '.to_csv' is not allowed in a formula here (allowed: the data's columns, patsy's functions such as C, I, center, standardize, and np.<function>; see --allow-code)
    """
    allowed = {str(c) for c in columns} | set(PATSY_FUNCTIONS) | {"np", "numpy"}
    for f in formulas:
        if f is None:
            continue
        if not isinstance(f, str):
            raise TypeError(f"{where} must be a formula string, got {type(f).__name__}")
        text = f if "~" in f else "~ " + f
        for code in _factor_codes(text):
            _check_code(code, allowed, where)
