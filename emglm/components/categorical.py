"""Categorical responses for the ordinal and multinomial components.

A response arrives as an (ordered) pandas Categorical, as integer codes ``0..J-1``, or from
a formula, where patsy codes a categorical response as one indicator column per level. All
become codes (a float array, NaN where missing) and the family is copied with the level
names, so that labels and predicted probabilities name the categories.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from .base import ResponseFamily

__all__ = ["CategoricalFamily", "to_codes"]


def to_codes(endog, endog_info=None):
    """``(codes Series or array, levels or None)`` for a categorical response.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.Series(pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True), name="y")
    >>> codes, levels = to_codes(s)
    >>> codes.tolist(), levels
    ([0.0, 1.0, 0.0], ['lo', 'hi'])
    """
    if endog_info is not None:
        infos = list(endog_info.factor_infos.items())
        if len(infos) == 1 and infos[0][1].type == "categorical":
            factor, info = infos[0]
            ind = np.asarray(endog, dtype=float)
            codes = np.argmax(ind, axis=1).astype(float)
            idx = endog.index if isinstance(endog, (pd.DataFrame, pd.Series)) else None
            return pd.Series(codes, index=idx, name=factor.name()), [str(c) for c in info.categories]
        return endog, None
    if isinstance(endog, pd.DataFrame) and endog.shape[1] == 1:
        endog = endog.iloc[:, 0]
    if isinstance(endog, pd.Series) and isinstance(endog.dtype, pd.CategoricalDtype):
        codes = endog.cat.codes.to_numpy().astype(float)
        codes[codes < 0] = np.nan
        return pd.Series(codes, index=endog.index, name=endog.name), [str(c) for c in endog.cat.categories]
    if isinstance(endog, pd.Categorical):
        codes = endog.codes.astype(float)
        codes[codes < 0] = np.nan
        return codes, [str(c) for c in endog.categories]
    return endog, None


class CategoricalFamily(ResponseFamily):
    """A family whose response is categories ``0..J-1`` (levels known after preparation).

    Examples
    --------
    >>> import numpy as np
    >>> from emglm.components import OrderedLogit
    >>> codes, fam = OrderedLogit().prepare_endog(np.array([0.0, 2.0, 1.0]))
    >>> isinstance(fam, CategoricalFamily), fam.levels
    (True, ['0', '1', '2'])
    """

    levels = None

    def prepare_endog(self, endog, endog_info=None):
        codes, levels = to_codes(endog, endog_info)
        if levels is None and self.levels is None:
            try:  # integer codes: the categories are 0..max, fixed now for subsamples too
                top = np.nanmax(np.asarray(codes, dtype=float))
            except (TypeError, ValueError):
                return codes, self
            if not (np.isfinite(top) and top == np.round(top) and 0 < top < 10000):
                return codes, self
            levels = [str(j) for j in range(int(top) + 1)]
        elif levels is None:
            return codes, self
        fam = copy.copy(self)
        fam.levels = levels
        return codes, fam

    def n_categories(self, y):
        """Number of categories J (from the levels, or the largest code plus one)."""
        return len(self.levels) if self.levels is not None else int(np.max(y)) + 1

    def level_names(self, J):
        return list(self.levels) if self.levels is not None else [str(j) for j in range(J)]

    def check_endog(self, y, name="endog"):
        y = np.asarray(y, dtype=float)
        frac = int(np.sum(y != np.round(y)))
        if frac:
            raise ValueError(f"{name}: category codes must be whole numbers 0..J-1 (or pass an ordered pandas "
                             f"Categorical); {frac} value(s) are not")
        if np.any(y < 0):
            raise ValueError(f"{name}: category codes must be 0..J-1; {int(np.sum(y < 0))} value(s) are negative")
        J = self.n_categories(y)
        if np.any(y >= J):
            raise ValueError(f"{name}: codes above {J - 1} for {J} categories {self.level_names(J)}")
        if J < 2:
            raise ValueError(f"{name}: needs at least two categories, got {J}")
        counts = np.bincount(y.astype(int), minlength=J)
        empty = [self.level_names(J)[j] for j in np.flatnonzero(counts == 0)]
        if empty:
            raise ValueError(f"{name}: categor{'y' if len(empty) == 1 else 'ies'} {empty} "
                             "never observed; drop the unused level(s) or recode")
