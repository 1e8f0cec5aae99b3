"""Warning classes, in the statsmodels style (subclasses of statsmodels' own).

Examples
--------
>>> import warnings
>>> from emglm.warnings import ConvergenceWarning
>>> issubclass(ConvergenceWarning, UserWarning)
True
"""

from statsmodels.tools.sm_exceptions import ConvergenceWarning as _SMConvergenceWarning
from statsmodels.tools.sm_exceptions import ModelWarning
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning as _PerfectSeparationWarning

__all__ = ["CollinearityWarning", "ConvergenceWarning", "DegenerateComponentWarning", "DroppedRowsWarning",
           "MixingSeparationWarning", "ModelWarning"]


class ConvergenceWarning(_SMConvergenceWarning):
    """The EM stopped at ``maxiter`` before meeting its tolerance."""


class DegenerateComponentWarning(ModelWarning):
    """A component emptied out, collapsed onto few points, or hit a parameter boundary."""


class CollinearityWarning(ModelWarning):
    """Columns of the design are exactly collinear: some coefficients are not identified."""


class DroppedRowsWarning(ModelWarning):
    """Rows with missing or non-finite values were dropped (``missing="drop"``)."""


class MixingSeparationWarning(_PerfectSeparationWarning):
    """The concomitant variables (nearly) separate the components: mixing coefficients diverge."""
