"""Collection settings shared by the tests and the doctests of emglm/."""

import importlib.util

# the dask data layer's doctests need dask.distributed (the `dask` extra); without it they
# are not collected, as tests/test_dask_rows.py then skips itself
collect_ignore = []
if importlib.util.find_spec("distributed") is None or importlib.util.find_spec("dask") is None:
    collect_ignore += ["emglm/dask_formula.py", "emglm/dask_rows.py"]
