"""Formulas from outside the program are checked before evaluation (issue 19).

Before: ``emglm fit data.csv --formula "y ~ __import__('os').system('...')"`` ran the command.
"""

import io

import numpy as np
import pandas as pd
import patsy
import pytest

from emglm import EMGLM
from emglm.cli import main


@pytest.fixture()
def csv(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 3, 60)
    df = pd.DataFrame({"x": x, "arm": rng.choice(list("ab"), 60)})
    df["y"] = np.where(rng.random(60) < 0.5, 1 + x, 5 - x) + rng.normal(0, 0.2, 60)
    p = tmp_path / "d.csv"
    df.to_csv(p, index=False)
    return p


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    status = main(argv, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("payload", [
    "__import__('os').system('touch {f}')",
    "open('{f}', 'w').close()",
    "x.to_csv('{f}')",
    "np.save('{f}', x)",
    "I((lambda: __import__('os').system('touch {f}'))())",
    "C(x).__class__.__init__.__globals__['os'].system('touch {f}')",
    # Q looks names up in the evaluation frame, whose globals hold Python's builtins
    "I(Q('__builtins__')['eval'](\"__import__('os').system('touch {f}')\"))",
    "I(9**9**9)",  # would run for ever: refused before evaluation
    "I(len('a' * 10**10))",
])
def test_cli_refuses_code_and_runs_nothing(csv, tmp_path, payload):
    target = tmp_path / "x"
    formula = "y ~ " + payload.format(f=target)
    status, out, err = _run(["fit", str(csv), "--formula", formula, "-k", "1"])
    assert status == 2
    assert err.startswith("emglm: error: --formula:") and "--allow-code" in err
    assert not target.exists() and not (tmp_path / "x.npy").exists()


def test_cli_restricted_formula_still_fits(csv):
    status, out, err = _run(["fit", str(csv), "--formula", "y ~ np.log(x) + center(x) + C(arm) + I(x**2)",
                             "-k", "2", "--random-state", "0"])
    assert status == 0, err
    assert "np.log(x)" in out and "C(arm)[T.b]" in out


def test_cli_allow_code_lifts_the_restriction(csv, tmp_path):
    target = tmp_path / "made_by_formula"
    formula = f"y ~ x + I(0 * __import__('pathlib').Path('{target}').touch().__class__.__name__.__len__())"
    status, out, err = _run(["fit", str(csv), "--formula", formula, "-k", "1", "--allow-code"])
    assert target.exists()  # the user asked for code to run: it did
    # and an ordinary builtin works there
    status, out, err = _run(["fit", str(csv), "--formula", "y ~ abs(x)", "-k", "1", "--allow-code"])
    assert status == 0, err


def test_check_formulas_allows_patsy_vocabulary():
    from emglm.formula_env import check_formulas

    cols = ["y", "x", "arm", "weird name", "s", "f"]
    check_formulas(["s + f ~ C(arm, Treatment(reference='b')) + standardize(x) + Q('weird name') "
                    "+ bs(x, df=3) + np.where(x > 0, x, 0) + x:arm - 1"], cols)
    with pytest.raises(ValueError, match="'dose' is neither a column of the data"):
        check_formulas(["y ~ dose"], cols)
    with pytest.raises(ValueError, match=r"concomitant: np.load is not allowed"):
        check_formulas(["~ np.load('f.npy')"], cols, where="concomitant")


def test_restricted_env_evaluates_like_numpy():
    from emglm.formula_env import restricted_env

    df = pd.DataFrame({"y": [1.0, 2.0, 4.0, 3.0], "x": [0.5, 1.0, 2.0, 4.0]})
    m = EMGLM.from_formula("y ~ np.log(x) + standardize(x)", df, k=1, eval_env=restricted_env())
    np.testing.assert_allclose(m.exog[:, 1], np.log(df.x))
    np.testing.assert_allclose(m.exog[:, 2], (df.x - df.x.mean()) / df.x.std(ddof=0))


def _double(x):
    return 2 * x


def test_eval_env_depth():
    """An int counts frames up from the caller of from_formula (statsmodels/patsy convention)."""
    df = pd.DataFrame({"y": [1.0, 2.0, 4.0, 3.0, 5.0], "x": [0.5, 1.0, 2.0, 4.0, 3.0]})

    def inner(depth):
        def _double(x):  # noqa: F811 - shadows the module-level one on purpose
            return 3 * x

        return EMGLM.from_formula("y ~ _double(x)", df, k=1, eval_env=depth).exog[:, 1]

    np.testing.assert_allclose(inner(0), 3 * df.x)  # the calling function's own _double
    np.testing.assert_allclose(inner(1), 2 * df.x)  # one frame up: this test's (module-level) one
    env = patsy.EvalEnvironment([{"_double": lambda x: 5 * x}])
    np.testing.assert_allclose(EMGLM.from_formula("y ~ _double(x)", df, k=1, eval_env=env).exog[:, 1], 5 * df.x)
    with pytest.raises(patsy.PatsyError, match="_double"):
        EMGLM.from_formula("y ~ _double(x)", df, k=1, eval_env=-1)
    with pytest.raises(TypeError, match="eval_env must be an int"):
        EMGLM.from_formula("y ~ x", df, k=1, eval_env="caller")
