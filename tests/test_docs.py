"""The documentation site builds with warnings as errors (issue 18): user guide, the notebooks
rendered from their stored outputs, and an API page for every name in ``emglm.__all__``."""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

import emglm

ROOT = pathlib.Path(__file__).resolve().parent.parent
NEEDED = ("sphinx", "numpydoc", "pydata_sphinx_theme", "myst_nb")
MISSING = [m for m in NEEDED if importlib.util.find_spec(m) is None]


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    if MISSING:
        pytest.skip(f"the documentation needs {', '.join(MISSING)}: python -m pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("html")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(ROOT / "docs"), str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_api_page_for_every_public_name(html):
    gen = html / "api" / "generated"
    for name in emglm.__all__:
        if name == "__version__":
            continue  # a string, named on the API index page
        page = gen / f"emglm.{name}.html"
        assert page.exists(), name
    results = (gen / "emglm.EMGLMResults.html").read_text()
    for member in ("predict", "fittedvalues", "mixing_params", "bse_mixing", "resid_quantile"):
        assert f"EMGLMResults.{member}" in results, member


def test_user_guide_and_notebooks(html):
    guide = (html / "user_guide" / "predictions.html").read_text()
    assert "marginal mean" in guide and "pooled" in guide
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = html / "notebooks" / f"{nb.stem}.html"
        assert page.exists(), nb.name
    tour = (html / "notebooks" / "05_emglm_tour.html").read_text()
    assert "<img" in tour  # stored figure outputs are rendered (nothing is executed)
    assert "Finite mixture of Poisson GLMs" in tour  # a stored summary() output
