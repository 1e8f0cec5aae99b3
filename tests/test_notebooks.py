"""Execute every notebook in notebooks/ and check its key outputs against independent references.

Each notebook ends with a cell tagged ``checks`` that prints one JSON object; the tests read it
and compare with the seed's printed tables, closed forms and statsmodels, computed here.
"""

import json
import pathlib
import warnings

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import poisson

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NB_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(p.name for p in NB_DIR.glob("*.ipynb"))

_CACHE = {}


def run_notebook(name):
    """Execute a notebook from scratch (outputs cleared) and return its ``checks`` JSON."""
    if name not in _CACHE:
        nb = nbformat.read(NB_DIR / name, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        # the "python3" kernel spec ships with ipykernel; no `ipykernel install` needed
        client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=120,
                                         resources={"metadata": {"path": str(NB_DIR)}})
        client.execute()  # raises CellExecutionError if any cell fails
        tagged = [c for c in nb.cells if "checks" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{name}: expected one cell tagged 'checks'"
        text = "".join(o.get("text", "") for o in tagged[0].outputs if o.output_type == "stream")
        _CACHE[name] = json.loads(text.strip().splitlines()[-1])
    return _CACHE[name]


def within_one_unit(value, printed, decimals):
    return abs(value - printed) <= 1.0001 * 10.0 ** (-decimals)


def test_all_expected_notebooks_present():
    assert NOTEBOOKS == [
        "01_genetic_linkage.ipynb",
        "02_pension_zip.ipynb",
        "03_normal_missing.ipynb",
        "04_bulls_variance_components.ipynb",
        "05_emglm_tour.ipynb",
    ]
    for name in NOTEBOOKS:  # committed notebooks name the standard kernel
        nb = nbformat.read(NB_DIR / name, as_version=4)
        assert nb.metadata["kernelspec"]["name"] == "python3"


def test_01_genetic_linkage():
    c = run_notebook("01_genetic_linkage.ipynb")
    printed = [0.500000000, 0.608247423, 0.624321051, 0.626488879, 0.626777323,
               0.626815632, 0.626820719, 0.626821395, 0.626821484]
    for v, p in zip(c["theta"], printed):
        assert within_one_unit(v, p, 9)
    for v, p in zip(c["ratios"], [0.1465, 0.1346, 0.1330, 0.1328, 0.1328, 0.1328]):
        assert within_one_unit(v, p, 4)
    assert within_one_unit(c["rate"], 0.1328, 4)
    assert c["mle"] == pytest.approx((15 + np.sqrt(15 ** 2 + 4 * 197 * 68)) / 394, abs=1e-15)
    assert c["n_squarem"] < c["n_plain"]


def _pension_mle():
    n = np.array([3062, 587, 284, 103, 33, 4, 2.0])
    i = np.arange(7.0)
    s, pos, N = (i * n).sum(), n[1:].sum(), n.sum()
    lam = brentq(lambda v: v / -np.expm1(-v) - s / pos, 1e-6, 50, xtol=1e-15, rtol=1e-15)
    return np.array([1 - s / (N * lam), lam])


def test_02_pension_zip():
    c = run_notebook("02_pension_zip.ipynb")
    table2 = [(0.75, 0.40, 2502.779, 559.221), (0.614179, 1.035478, 2503.591, 558.409),
              (0.614378, 1.036013, 2504.219, 557.781), (0.614532, 1.036427, 2504.704, 557.296),
              (0.614651, 1.036747, 2505.079, 556.921), (0.614743, 1.036995, 2505.369, 556.631)]
    for row6, row, printed in zip(c["table2_6dp"], c["table2"], table2):
        for v, p, d in zip(row6, printed, (6, 6, 3, 3)):
            assert within_one_unit(v, p, d), (row6, printed)
        assert within_one_unit(row[0], printed[0], 6) and within_one_unit(row[1], printed[1], 6)
    mle = _pension_mle()
    np.testing.assert_allclose(c["mle"], mle, atol=1e-12)
    assert within_one_unit(c["mle"][0], 0.61506, 5) and within_one_unit(c["mle"][1], 1.03784, 5)
    assert c["err_plain"] < 1e-10 and c["err_squarem"] < 1e-10
    assert 4 * c["n_squarem"] <= c["n_plain"]
    np.testing.assert_allclose(c["emglm"], mle, atol=1e-6)
    assert c["emglm_n_squarem"] < c["emglm_n_plain"]


def test_03_normal_missing():
    c = run_notebook("03_normal_missing.ipynb")
    y = np.random.default_rng(580).normal(10.0, 2.0, 30)  # the notebook's observed values
    closed = [y.mean(), np.mean((y - y.mean()) ** 2)]
    np.testing.assert_allclose(c["em"], closed, rtol=1e-10)
    np.testing.assert_allclose(c["squarem"], closed, rtol=1e-10)
    assert c["rate"] == pytest.approx(10 / 40, abs=1e-6)
    assert c["n_squarem"] < c["n_plain"]


def test_04_bulls_variance_components():
    import statsmodels.formula.api as smf

    from emglm.datasets import load_bulls

    c = run_notebook("04_bulls_variance_components.ipynb")
    bulls = load_bulls()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ml = smf.mixedlm("percentage ~ 1", bulls, groups=bulls["bull"]).fit(
            reml=False, method="bfgs", gtol=1e-10)
    ref = [ml.fe_params.iloc[0], ml.cov_re.iloc[0, 0], ml.scale]
    np.testing.assert_allclose(c["em"], ref, atol=1e-5)
    np.testing.assert_allclose(c["squarem"], ref, atol=1e-5)
    assert within_one_unit(c["ms_w"], 248.29, 2)
    assert within_one_unit(c["sigma2_a_anova"], 73.39, 2)
    assert c["n_squarem"] < c["n_plain"]


def test_05_emglm_tour():
    from emglm.datasets import load_simulated

    c = run_notebook("05_emglm_tour.ipynb")
    params, truth, bse = (np.array(c[k]) for k in ("params", "truth", "bse"))
    assert np.all(np.abs(params - truth) < 3 * bse)
    assert np.all(np.abs(np.array(c["proportions"]) - [0.6, 0.4]) < 0.1)
    # the printed llf is the mixture log-likelihood at the printed estimates
    sim = load_simulated()
    mu = np.exp(params[0][None, :] + params[1][None, :] * sim["x"].to_numpy()[:, None])
    dens = poisson.pmf(sim["y"].to_numpy()[:, None], mu) @ np.array(c["proportions"])
    assert c["llf"] == pytest.approx(np.log(dens).sum(), abs=1e-6)
    assert c["agreement"] > 0.8
    assert abs(c["rq_mean"]) < 0.15 and abs(c["rq_std"] - 1) < 0.1
    assert c["llf_squarem"] >= c["llf_plain"] - 1e-6 * abs(c["llf_plain"])
    assert c["n_squarem"] < c["n_plain"]
