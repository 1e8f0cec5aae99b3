"""The emglm file format (issue 19): no code on load, checksums, atomic saves, every model kind.

Before: ``load`` unpickled (a planted file ran its code), ``save`` truncated the target before
the new bytes existed, and two of three single-byte corruptions loaded silently.
"""

import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import emglm
from emglm import EMGLM

DATA = Path(__file__).parent / "data"
FAM = sm.families


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def _kinds():
    """(name, fit function, new-data builder) for every kind of model emglm builds."""
    rng = np.random.default_rng(11)
    n = 160
    x = rng.uniform(-1, 1, n)
    z = rng.random(n) < 0.5
    X = np.column_stack([np.ones(n), x])
    g = np.repeat(np.arange(40), 4)
    zg = (rng.random(40) < 0.5)[g]
    t = rng.integers(1, 6, n)
    df = pd.DataFrame({"x": x, "w": rng.normal(size=n), "arm": rng.choice(["p", "q", "r"], n),
                       "t": rng.uniform(0.5, 2, n), "c": rng.normal(size=n), "g": g,
                       "grp": pd.Categorical(rng.choice(["lo", "hi"], n))},
                      index=pd.Index([f"r{i}" for i in range(n)], name="id"))
    df["y"] = rng.poisson(df.t * np.exp(np.where(z, 1.5 + x, -x)))
    df["s"] = rng.binomial(t, np.where(z, 0.8, 0.2))
    df["f"] = t - df["s"]
    yg = rng.normal(np.where(zg, 2 + x, -2 - x), 0.5)
    yzip = np.where(rng.random(n) < 0.3, 0, rng.poisson(3, n))
    new = df.iloc[:5]
    Xn = X[:5]
    kinds = {
        "gaussian-array": (lambda: EMGLM(np.where(z, 2 + x, -2 - x) + rng.normal(0, 0.3, n), X, k=2).fit(),
                           dict(exog=Xn)),
        "formula-poisson-exposure-concomitant": (
            lambda: EMGLM.from_formula("y ~ standardize(x) + C(arm, Sum) + np.log(t)", df, k=2,
                                       family=FAM.Poisson(), exposure="t", concomitant="~ c").fit(),
            dict(exog=new, exposure=new.t)),
        "formula-binomial-trials-fixed": (
            lambda: EMGLM.from_formula("s + f ~ x", df, k=2, family=FAM.Binomial(), fixed="~ w").fit(),
            dict(exog=new)),
        "formula-grouped": (lambda: EMGLM.from_formula("yg ~ x", df.assign(yg=yg), k=2, groups="g").fit(),
                            dict(exog=new)),
        "array-point-mass-weights": (
            lambda: EMGLM(yzip, X, k=1, family=FAM.Poisson(), point_mass=0.0,
                          weights=rng.integers(1, 3, n).astype(float)).fit(),
            dict(exog=Xn)),
        "gamma-log-shared-scale": (
            lambda: EMGLM(rng.gamma(3, np.where(z, 1.0, 4.0)), X, k=2, family=FAM.Gamma(FAM.links.Log()),
                          scale="shared").fit(),
            dict(exog=Xn)),
        "negbin-equal-mixing": (
            lambda: EMGLM(df.y.to_numpy(), X, k=2, family=FAM.NegativeBinomial(alpha=0.5), mixing="equal").fit(),
            dict(exog=Xn)),
        "tweedie-warmup": (
            lambda: EMGLM(rng.gamma(2, np.where(z, 1.0, 3.0)) * (rng.random(n) < 0.8), X, k=2,
                          family=FAM.Tweedie(var_power=1.5)).fit(warmup=dict(n_starts=3, min_size=50),
                                                                   random_state=0, cov_type="robust"),
            dict(exog=Xn)),
        "cluster-covariance": (
            lambda: EMGLM(np.where(z, 2 + x, -2 - x) + rng.normal(0, 0.3, n), X, k=2).fit(
                cov_type="cluster", cov_kwds={"groups": g}),
            dict(exog=Xn)),
        "bootstrap-covariance": (
            lambda: EMGLM(np.where(z, 2.0, -2.0) + rng.normal(0, 1, n), np.ones((n, 1)), k=2).fit(
                cov_type="bootstrap", cov_kwds={"n_boot": 5, "random_state": 1}),
            dict(exog=np.ones((3, 1)))),
        "formula-categorical-column": (
            lambda: EMGLM.from_formula("y ~ grp + bs(x, df=3)", df, k=1, family=FAM.Poisson()).fit(),
            dict(exog=new)),
    }
    return kinds


KINDS = _kinds()


@pytest.fixture(scope="module", params=sorted(KINDS))
def fitted(request):
    fit, newdata = KINDS[request.param]
    res = _quiet(fit)
    _quiet(lambda: res.bse)
    return request.param, res, newdata


@pytest.mark.parametrize("remove_data", [False, True])
def test_every_model_kind_round_trips(fitted, tmp_path, remove_data):
    name, res, newdata = fitted
    p = tmp_path / "fit.emglm"
    res.save(p, remove_data=remove_data)
    r2 = _quiet(lambda: emglm.load(p))
    pd.testing.assert_frame_equal(r2.params, res.params)
    pd.testing.assert_frame_equal(r2.bse, res.bse)
    pd.testing.assert_series_equal(r2.proportions, res.proportions)
    pd.testing.assert_series_equal(r2.scale, res.scale)
    for attr in ("llf", "aic", "bic", "icl", "nobs", "n_iter", "converged", "df_model", "cov_type"):
        assert getattr(r2, attr) == getattr(res, attr), attr
    np.testing.assert_array_equal(r2.llf_history, res.llf_history)
    assert r2.summary().as_text() == res.summary().as_text()
    kw = dict(newdata)
    exog = kw.pop("exog")
    for which in ("mean", "components"):
        np.testing.assert_allclose(np.asarray(r2.predict(exog, which=which, **kw)),
                                   np.asarray(res.predict(exog, which=which, **kw)), rtol=1e-12)
    if not remove_data:
        # per-row arrays recomputed from theta on load equal those of the fit
        pd.testing.assert_frame_equal(r2.posterior, res.posterior)
        pd.testing.assert_series_equal(r2.fittedvalues, res.fittedvalues)
        if getattr(res.model, "data", None) is not None:
            pd.testing.assert_frame_equal(r2.model.data, res.model.data)
        assert len(r2._em.history) == len(res._em.history)
    if res.warmup is not None:
        assert r2.warmup.chosen == res.warmup.chosen
        np.testing.assert_array_equal(r2.warmup.llf, res.warmup.llf)


def test_saved_loaded_results_save_again(tmp_path):
    _, res, _ = "x", *KINDS["gaussian-array"][:1], None
    res = _quiet(KINDS["gaussian-array"][0])
    res.save(tmp_path / "a.emglm", remove_data=True)
    r2 = emglm.load(tmp_path / "a.emglm")
    r2.save(tmp_path / "b.emglm")  # data-free results stay data-free
    r3 = emglm.load(tmp_path / "b.emglm")
    pd.testing.assert_frame_equal(r3.bse, res.bse)


# ------------------------------------------------------------------ no code runs on load
class _Planted:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_planted_pickle_runs_no_code(tmp_path):
    target = tmp_path / "owned"
    p = tmp_path / "fit.emglm"
    p.write_bytes(pickle.dumps(_Planted(target)))
    with pytest.raises(ValueError, match="allow_pickle=True"):
        emglm.load(p)
    assert not target.exists()


def _formula_fit():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"x": rng.uniform(0.5, 2, 80)})
    df["y"] = rng.poisson(np.exp(1 + df.x))
    return _quiet(lambda: EMGLM.from_formula("y ~ center(x)", df, k=1, family=FAM.Poisson()).fit()), df


@pytest.mark.parametrize("code", ["__import__('os').system('touch {t}')", "x.to_csv('{t}')",
                                  "_patsy_stobj0__center__.__class__", "open('{t}', 'w')",
                                  "Q('__builtins__')['eval'](\"__import__('os').system('touch {t}')\")"])
def test_altered_design_code_refused(tmp_path, code):
    """Anyone can recompute a checksum: the stored formula code itself is checked."""
    from emglm.savefile import read_container, write_container

    res, df = _formula_fit()
    buf = io.BytesIO()
    res.save(buf)
    doc, arrays = read_container(io.BytesIO(buf.getvalue()))
    target = tmp_path / "owned"
    text = json.dumps(doc).replace("_patsy_stobj0__center__.transform(x)",
                                   code.format(t=target).replace('"', '\\"'))
    assert text != json.dumps(doc)
    out = io.BytesIO()
    write_container(out, json.loads(text), arrays)
    out.seek(0)
    try:
        r2 = emglm.load(out)
    except ValueError as exc:
        assert "does not evaluate" in str(exc) or "not available" in str(exc)
    else:  # loaded (the code was harmless to store): evaluating it must not run anything
        with pytest.raises(Exception):
            r2.predict(df.iloc[:3])
    assert not target.exists()


# ------------------------------------------------------------------ integrity
@pytest.fixture(scope="module")
def small_file():
    y = np.r_[np.zeros(10), np.ones(10) * 4] + np.arange(20) % 3
    res = _quiet(lambda: EMGLM(y, np.ones((20, 1)), k=2).fit())
    buf = io.BytesIO()
    res.save(buf)
    return buf.getvalue()


def test_every_single_byte_corruption_is_detected(small_file):
    data = bytearray(small_file)
    silent = []
    for pos in range(len(data)):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        try:
            emglm.load(io.BytesIO(bytes(bad)))
        except ValueError:
            continue
        silent.append(pos)
    assert silent == [], f"{len(silent)} of {len(data)} corrupted bytes loaded silently"


@pytest.mark.parametrize("cut", [1, 10, 100])
def test_truncated_file_is_corrupted(small_file, cut):
    with pytest.raises(ValueError, match="corrupted"):
        emglm.load(io.BytesIO(small_file[:-cut]))


def test_not_an_emglm_file(tmp_path):
    p = tmp_path / "data.csv"
    p.write_text("y,x\n1,2\n")
    with pytest.raises(ValueError, match="is not an emglm file"):
        emglm.load(p)
    z = tmp_path / "other.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(ValueError, match="is not an emglm file"):
        emglm.load(z)


def test_newer_format_says_which_version(small_file, monkeypatch):
    import emglm.savefile as sf

    res = emglm.load(io.BytesIO(small_file))
    monkeypatch.setattr(sf, "FORMAT_VERSION", 99)
    buf = io.BytesIO()
    res.save(buf)
    monkeypatch.setattr(sf, "FORMAT_VERSION", 1)
    with pytest.raises(ValueError, match=r"written by emglm \S+ in file format 99; .*upgrade emglm"):
        emglm.load(io.BytesIO(buf.getvalue()))


# ------------------------------------------------------------------ atomic save
def test_failed_save_leaves_existing_file_intact(tmp_path):
    """A save that fails part-way (file size limit, as on a full disk) keeps the good file."""
    good = tmp_path / "fit.emglm"
    script = textwrap.dedent(f"""
        import resource, signal, sys, warnings
        import numpy as np
        import emglm
        warnings.simplefilter("ignore")
        rng = np.random.default_rng(0)
        y = np.r_[rng.normal(-2, 1, 300), rng.normal(2, 1, 300)]
        res = emglm.EMGLM(y, np.column_stack([np.ones(600), rng.normal(size=600)]), k=2).fit()
        res.save({str(good)!r})
        size = len(open({str(good)!r}, "rb").read())
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, resource.RLIM_INFINITY))
        try:
            res.save({str(good)!r})
        except OSError as exc:
            print("save failed:", exc.errno)
        else:
            sys.exit("the save should have failed")
    """)
    env = dict(os.environ, PYTHONPATH=str(Path(emglm.__file__).parents[1]))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert "save failed" in out.stdout, out.stderr
    r = emglm.load(good)  # the earlier file is whole
    assert r.k == 2 and np.isfinite(r.llf)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.emglm"]  # no temporary left


# ------------------------------------------------------------------ older files
def test_old_pickle_file_needs_allow_pickle():
    p = DATA / "old_pickle_format.pickle"
    with pytest.raises(ValueError, match=r"older pickle-based emglm format.*allow_pickle=True"):
        emglm.load(p)
    res = emglm.load(p, allow_pickle=True)
    ref = json.loads((DATA / "old_pickle_format.json").read_text())
    assert res.llf == ref["llf"]
    np.testing.assert_array_equal(res.params.to_numpy(), np.array(ref["params"]))
    np.testing.assert_allclose(res.bse.to_numpy(), np.array(ref["bse"]), rtol=1e-12)
    new = pd.DataFrame({"x": [0.0, 0.5], "arm": ["a", "b"]})
    np.testing.assert_allclose(res.predict(new, which="mean").to_numpy(), ref["predict_mean"], rtol=1e-12)
    np.testing.assert_allclose(res.predict(new, which="components").to_numpy(), ref["predict_components"],
                               rtol=1e-12)
    # and it can be written in the new format
    buf = io.BytesIO()
    res.save(buf)
    buf.seek(0)
    r2 = emglm.load(buf)
    np.testing.assert_allclose(r2.predict(new, which="mean").to_numpy(), ref["predict_mean"], rtol=1e-12)


def test_data_with_missing_text_and_nullable_columns_round_trips():
    rng = np.random.default_rng(0)
    n = 100
    df = pd.DataFrame({"x": rng.normal(size=n), "arm": rng.choice(["a", "b"], n).astype(object),
                       "count": pd.array(rng.integers(0, 5, n), dtype="Int64"),
                       "when": pd.date_range("2021-01-01", periods=n, freq="D", tz="Europe/Paris")})
    df.loc[3, "arm"] = np.nan
    df.loc[5, "arm"] = None
    df.loc[7, "count"] = pd.NA
    df["y"] = rng.poisson(np.exp(1 + 0.5 * df.x))
    res = _quiet(lambda: EMGLM.from_formula("y ~ x + C(arm)", df, k=1, family=FAM.Poisson()).fit())
    buf = io.BytesIO()
    res.save(buf)
    buf.seek(0)
    r2 = emglm.load(buf)
    pd.testing.assert_frame_equal(r2.model.data, df)  # missing text stays missing
    assert r2.llf == res.llf
    pd.testing.assert_frame_equal(r2.posterior, res.posterior)


def test_what_the_format_cannot_hold_is_refused_before_writing(tmp_path):
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(size=60), "odd": [1, "a", 2.5] * 20})  # mixed Python objects
    df["y"] = rng.poisson(np.exp(1 + 0.5 * df.x))
    res = _quiet(lambda: EMGLM.from_formula("y ~ x", df, k=1, family=FAM.Poisson()).fit())
    p = tmp_path / "fit.emglm"
    p.write_bytes(b"earlier contents")
    with pytest.raises(TypeError, match="data column 'odd': cannot store a column of mixed Python objects"):
        res.save(p)
    assert p.read_bytes() == b"earlier contents"
    res.save(p, remove_data=True)  # without the data it can be saved
    assert emglm.load(p).llf == res.llf
