"""Results saved without their data (``save(path, remove_data=True)``), as loaded back."""

from __future__ import annotations

from .results import EMGLMResults

__all__ = ["DataFreeResults", "DataRemovedError"]


class DataRemovedError(AttributeError):
    """A training-row quantity was asked of results saved with ``remove_data=True``."""



def _removed(name):
    def fget(self):
        raise DataRemovedError(f"{name} is not available: the results were saved with remove_data=True")

    return property(fget)


class DataFreeResults(EMGLMResults):
    """Results whose training data were removed by ``save(path, remove_data=True)``.

    Everything computed from parameters (``params``, ``bse``, ``cov_params()``,
    ``conf_int()``, ``summary()``, information criteria, ``predict`` on new data) works;
    training-row quantities raise :class:`DataRemovedError`.
    """

    #: the training rows are gone (saving again keeps them gone)
    data_removed = True

    posterior = _removed("posterior")
    prior = _removed("prior")
    fittedvalues = _removed("fittedvalues")
    resid_response = _removed("resid_response")
    resid_pearson = _removed("resid_pearson")
    resid_deviance = _removed("resid_deviance")
    _pooled_train = _removed("training-row pooled predictions")
    _prior_rows = _removed("prior of the training rows")

    @property
    def entropy(self):
        return self._frozen["entropy"]

    @property
    def deviance(self):
        return self._frozen["deviance"]

    @property
    def pearson_chi2(self):
        return self._frozen["pearson_chi2"]

    def resid_quantile(self, random_state=None):
        raise DataRemovedError("resid_quantile is not available: the results were saved with remove_data=True")

    def predict(self, exog=None, which="mean", offset=None, exposure=None, **kwargs):
        if exog is None:
            raise DataRemovedError("predict needs exog: the training data were removed (remove_data=True)")
        return super().predict(exog, which, offset, exposure, **kwargs)

    def get_prediction(self, exog=None, which="mean", offset=None, exposure=None, **kwargs):
        if exog is None:
            raise DataRemovedError("get_prediction needs exog: the training data were removed (remove_data=True)")
        return super().get_prediction(exog, which, offset, exposure, **kwargs)

    # averages over the training rows
    def get_margeff(self, *args, **kwargs):
        raise DataRemovedError("get_margeff averages over the training rows, which were removed (remove_data=True)")

    def class_means(self, *args, **kwargs):
        raise DataRemovedError("class_means averages over the training rows, which were removed (remove_data=True)")

    def class_probabilities(self, *args, **kwargs):
        raise DataRemovedError("class_probabilities averages over the training rows, which were removed "
                               "(remove_data=True)")
