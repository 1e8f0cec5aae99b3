"""Command line: ``python -m emglm demo`` and ``fit`` (issue 7)."""

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from emglm import EMGLM
from emglm.cli import main


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    rng = np.random.default_rng(2)
    n = 400
    x = rng.uniform(-1, 1, n)
    t = rng.uniform(1, 3, n)
    y = rng.poisson(t * np.exp(np.where(rng.random(n) < 0.5, 1.5 + x, -0.5 - x)))
    df = pd.DataFrame(dict(y=y, x=x, t=t, logt=np.log(t), w=rng.integers(1, 3, n)))
    path = tmp_path_factory.mktemp("cli") / "d.csv"
    df.to_csv(path, index=False)
    return path


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    status = main([str(a) for a in argv], out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def reference(csv_path, **kwargs):
    df = pd.read_csv(csv_path)
    model = EMGLM.from_formula("y ~ x", df, k=2, family=sm.families.Poisson(), **kwargs)
    return model.fit(n_starts=2, random_state=1)


def test_fit_json_matches_api(csv_path, tmp_path):
    out_file = tmp_path / "fit.json"
    status, out, err = run(["fit", csv_path, "--formula", "y ~ x", "--family", "poisson", "-k", "2",
                            "--exposure", "t", "--weights", "w", "--n-starts", "2",
                            "--random-state", "1", "--output", out_file, "--n-jobs", "1"])
    assert status == 0, err
    assert "comp1" in out and f"wrote {out_file}" in out
    doc = json.loads(out_file.read_text())
    ref = reference(csv_path, exposure="t", weights="w")
    assert doc["family"] == "Poisson" and doc["k"] == 2
    assert doc["statistics"]["llf"] == pytest.approx(ref.llf, rel=1e-10)
    assert doc["statistics"]["converged"] is True
    for comp in ("comp1", "comp2"):
        for term in ("Intercept", "x"):
            assert doc["params"][comp][term] == pytest.approx(ref.params.loc[term, comp], rel=1e-8)
    post = np.array(doc["posterior"]["data"])
    assert post.shape == (400, 2)
    np.testing.assert_allclose(post, ref.posterior.to_numpy(), atol=1e-8)
    assert sum(doc["proportions"].values()) == pytest.approx(1.0)


def test_fit_csv_long_form(csv_path, tmp_path):
    out_file = tmp_path / "fit.csv"
    status, _, err = run(["fit", csv_path, "--formula", "y ~ x", "--family", "poisson",
                          "--offset", "logt", "--n-starts", "2", "--random-state", "1",
                          "--output", out_file])
    assert status == 0, err
    long = pd.read_csv(out_file, keep_default_na=False)
    assert list(long.columns) == ["table", "row", "column", "value"]
    assert {"params", "bse", "pvalues", "conf_int_lower", "conf_int_upper", "proportions", "scale",
            "statistics", "posterior"} <= set(long["table"])
    # an offset of log(t) is the same model as exposure t
    ref = reference(csv_path, exposure="t")
    params = long[long.table == "params"].pivot(index="row", columns="column", values="value")
    np.testing.assert_allclose(params.loc[["Intercept", "x"], ["comp1", "comp2"]].to_numpy(dtype=float),
                               ref.params.to_numpy(), rtol=1e-6)
    post = long[long.table == "posterior"]
    assert len(post) == 2 * 400
    wide = post.pivot(index="row", columns="column", values="value").astype(float)
    wide.index = wide.index.astype(int)
    np.testing.assert_allclose(wide.sort_index().to_numpy(), ref.posterior.to_numpy(), atol=1e-6)


def test_mixing_equal_and_other_families(csv_path):
    status, out, _ = run(["fit", csv_path, "--formula", "y ~ x", "--family", "poisson", "--mixing", "equal"])
    assert status == 0 and "0.5" in out
    status, out, err = run(["fit", csv_path, "--formula", "y ~ x", "--family", "negative_binomial",
                            "--alpha", "0.5", "-k", "1"])
    assert status == 0, err
    status, _, err = run(["fit", csv_path, "--formula", "np.log(t) ~ x", "-k", "1"])
    assert status == 0, err  # numpy functions in command-line formulas


def test_demo():
    status, out, err = run(["demo"])
    assert status == 0, err
    assert out.startswith("emglm demo:")
    assert "comp1" in out and "comp2" in out


@pytest.mark.parametrize("argv, message", [
    (["fit", "missing.csv", "--formula", "y ~ x"], "no such file"),
    (["fit", "{csv}", "--formula", "y ~ nothere"], "--formula"),
    (["fit", "{csv}", "--formula", "y ~ x", "--family", "cauchy"], "--family"),
    (["fit", "{csv}", "--formula", "y ~ x", "--exposure", "T"], "--exposure: no column 'T'"),
    (["fit", "{csv}", "--formula", "y ~ x", "--weights", "q"], "--weights"),
    (["fit", "{csv}", "--formula", "y ~ x", "-k", "0"], "-k"),
    (["fit", "{csv}", "--formula", "y ~ x", "--n-starts", "0"], "--n-starts"),
    (["fit", "{csv}", "--formula", "y ~ x", "--n-starts", "two"], "--n-starts"),
    (["fit", "{csv}", "--formula", "y ~ x", "--n-jobs", "0"], "--n-jobs"),
    (["fit", "{csv}", "--formula", "y ~ x", "--output", "fit.xlsx"], "--output"),
    (["fit", "{csv}", "--formula", "y ~ x", "--output", "/no/such/dir/fit.csv"], "--output"),
    (["fit", "{csv}", "--formula", "y ~ x", "--family", "gamma"], "positive"),
    (["fit", "{csv}"], "--formula"),
    (["fit", "{csv}", "--formula", "y ~ x", "--bogus"], "unrecognized"),
    ([], "choose a command"),
])
def test_errors_are_one_line_with_status_2(csv_path, argv, message):
    argv = [str(csv_path) if a == "{csv}" else a for a in argv]
    status, out, err = run(argv)
    assert status == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emglm: error:")
    assert message in lines[0]


def test_bad_csv(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    status, _, err = run(["fit", bad, "--formula", "y ~ x"])
    assert status == 2 and "cannot read" in err


def test_warnings_are_one_line(tmp_path):
    df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0, np.nan, 6.0, 2.5], "x": np.arange(7.0)})
    path = tmp_path / "na.csv"
    df.to_csv(path, index=False)
    status, _, err = run(["fit", path, "--formula", "y ~ x", "-k", "1"])
    assert status == 0
    assert err.strip().startswith("emglm: warning:") and "dropped 1 row" in err


def test_subprocess_module_entry(csv_path):
    """``python -m emglm`` exits 2 on bad input without a traceback, 0 on success."""
    bad = subprocess.run([sys.executable, "-m", "emglm", "fit", str(csv_path), "--formula", "y ~ zz"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1
    good = subprocess.run([sys.executable, "-m", "emglm", "fit", str(csv_path), "--formula", "y ~ x",
                           "--family", "poisson", "-k", "2"], capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    assert "comp2" in good.stdout
    helped = subprocess.run([sys.executable, "-m", "emglm", "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "demo" in helped.stdout and "fit" in helped.stdout


# ---------------------------------------------------------------- issue 18
@pytest.mark.parametrize("argv, option, message", [
    (["--random-state", "-1"], "--random-state", "non-negative"),
    (["--family", "negative_binomial", "--alpha", "-1"], "--alpha", "positive"),
    (["--family", "negative_binomial", "--alpha", "0"], "--alpha", "positive"),
    (["--family", "tweedie", "--var-power", "3.5"], "--var-power", "[1, 2]"),
    (["--weights", "x"], "--weights", "non-negative"),
    (["-k", "401"], "-k", "exceeds"),
])
def test_every_error_names_its_option(csv_path, argv, option, message):
    status, out, err = run(["fit", csv_path, "--formula", "y ~ x", "--family", "poisson"] + argv)
    assert status == 2 and out == ""
    assert err.startswith(f"emglm: error: {option}:"), err
    assert message in err and len(err.strip().splitlines()) == 1


def test_header_only_csv_and_text_response(tmp_path):
    head = tmp_path / "head.csv"
    head.write_text("y,x\n")
    status, _, err = run(["fit", head, "--formula", "y ~ x"])
    assert status == 2 and err.startswith("emglm: error: DATA:") and "no data rows" in err
    txt = tmp_path / "txt.csv"
    pd.DataFrame({"s": ["a", "b"] * 20, "x": np.arange(40.0)}).to_csv(txt, index=False)
    status, _, err = run(["fit", txt, "--formula", "s ~ x", "-k", "1"])
    assert status == 2 and err.startswith("emglm: error: --formula:") and "not numeric" in err


def test_unwritable_output_is_found_before_the_fit(csv_path, tmp_path):
    folder = tmp_path / "fit.json"
    folder.mkdir()  # a folder where the file should go: cannot be written
    status, out, err = run(["fit", csv_path, "--formula", "y ~ x", "--output", folder])
    assert status == 2 and out == ""  # no summary: nothing was fitted
    assert err.startswith("emglm: error: --output:")
    new = tmp_path / "new.csv"
    status, out, err = run(["fit", csv_path, "--formula", "y ~ x", "--family", "poisson", "--maxiter", "1",
                            "--n-starts", "1", "--output", new])
    assert status == 0 and new.exists()


def test_output_has_inference_integer_counts_and_numeric_row_order(csv_path, tmp_path):
    from emglm.cli import read_output

    ref = reference(csv_path)
    for ext in ("json", "csv"):
        path = tmp_path / f"fit.{ext}"
        status, _, err = run(["fit", csv_path, "--formula", "y ~ x", "--family", "poisson", "--n-starts", "2",
                              "--random-state", "1", "--output", path])
        assert status == 0, err
        got = read_output(path)
        for name, want in (("bse", ref.bse), ("pvalues", ref.pvalues)):
            np.testing.assert_allclose(got[name].loc[want.index, want.columns], want, rtol=1e-6)
        ci = ref.conf_int()
        for comp in ("comp1", "comp2"):
            for term in ("Intercept", "x"):
                assert got["conf_int_lower"].loc[term, comp] == pytest.approx(ci.loc[(comp, term), "lower"], rel=1e-6)
                assert got["conf_int_upper"].loc[term, comp] == pytest.approx(ci.loc[(comp, term), "upper"], rel=1e-6)
        np.testing.assert_allclose(got["bse_proportions"][ref.component_names], ref.bse_proportions, rtol=1e-6)
        np.testing.assert_allclose(got["mixing_params"], ref.mixing_params, rtol=1e-6)
        st = got["statistics"]
        assert st["nobs"] == 400 and isinstance(st["nobs"], int)
        assert isinstance(st["n_iter"], int) and st["n_iter"] == ref.n_iter
        assert st["converged"] is True
        assert got["posterior"].index.tolist() == list(range(400))  # 0, 1, 2, ..., not 0, 1, 10, 100
        np.testing.assert_allclose(got["posterior"].to_numpy(), ref.posterior.to_numpy(), atol=1e-6)
    text = (tmp_path / "fit.csv").read_text()
    assert "statistics,nobs,,400\n" in text and f"statistics,n_iter,,{ref.n_iter}\n" in text
    doc = json.loads((tmp_path / "fit.json").read_text())
    assert doc["statistics"]["nobs"] == 400 and isinstance(doc["statistics"]["df_model"], int)
    assert doc["posterior"]["index"][:12] == list(range(12))
