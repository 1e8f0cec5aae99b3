"""Progress bars in Jupyter without warnings (issue 18): run ``progress=True`` inside a real
IPython kernel in which ipywidgets cannot be imported, and read the cell's outputs."""

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("tqdm")

CODE = """
import sys, warnings
sys.modules["ipywidgets"] = None  # as in a Jupyter without widgets installed
warnings.simplefilter("always")
import numpy as np, emglm
rng = np.random.default_rng(0)
y = np.concatenate([rng.normal(-2, 1, 100), rng.normal(2, 1, 100)])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    emglm.EMGLM(y, np.ones((200, 1)), k=2).fit(start="fit", n_starts=3, random_state=0, progress=True)
print("WARNINGS:", [f"{w.category.__name__}: {w.message}" for w in caught])
"""


def test_progress_bar_in_a_kernel_without_widgets_does_not_warn():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CODE)]
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    outs = nb.cells[0].outputs
    stdout = "".join(o.get("text", "") for o in outs if o.get("name") == "stdout")
    stderr = "".join(o.get("text", "") for o in outs if o.get("name") == "stderr")
    assert "WARNINGS: []" in stdout, stdout
    assert "IProgress" not in stderr and "Warning" not in stderr
    assert "starts" in stderr  # the plain text bar was drawn (on stderr, as tqdm does)
