"""Sphinx configuration of the emglm documentation.

Build: ``python -m pip install -e ".[docs]"`` then ``sphinx-build -W -b html docs docs/_build/html``.
The notebooks in ``notebooks/`` are rendered with their stored outputs (myst-nb, execution off;
the test suite executes them), copied here at build time because Sphinx reads sources only
from this folder.
"""

import pathlib
import shutil
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # document this checkout's emglm

import emglm  # noqa: E402

# the notebooks, copied fresh on every build (docs/notebooks/ is generated, not versioned)
_NB_OUT = HERE / "notebooks"
_NB_OUT.mkdir(exist_ok=True)
for old in _NB_OUT.glob("*.ipynb"):
    old.unlink()
for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
    shutil.copy2(nb, _NB_OUT / nb.name)

project = "emglm"
author = "emglm developers"
copyright = "emglm developers (BSD-3-Clause)"
version = release = emglm.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
root_doc = "index"

# notebooks: rendered from their stored outputs (tests/test_notebooks.py executes them)
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": True}
numpydoc_show_class_members = False  # autosummary lists them
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = f"emglm {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = []
