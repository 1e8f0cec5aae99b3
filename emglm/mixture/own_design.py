"""Components with designs of their own, and coefficients tied across some of them.

With one formula per component (``formula=["y ~ x", "y ~ x + z"]``) the model's design
``X`` is the union of the formulas' columns and each component sees only its own columns.
A :class:`DesignGroup` wraps one or more single-class components (a GLM component, a
component of :mod:`emglm.components`...), hands each a view of the rows restricted to its
columns (:meth:`Rows.with_design`), and owns the coefficients of terms shared by several
of them (``fixed=``: a term is shared among the components whose formulas contain it).

A shared coefficient enters each member's linear predictor as an offset
``X[:, t] delta_t``, so every member keeps its own M-step, and the EM iteration is an ECM
step: the members' M-steps with ``delta`` held, then Newton steps on ``delta`` with the
members held (numerical derivatives of their weighted complete-data log-likelihood; ``delta``
has a few entries). A step is taken only when it does not lower that log-likelihood, so
the observed-data log-likelihood never decreases.

Flat parameters: each member's vector in order, then ``delta``. The classes keep the order
given (the members are different models).
"""

from __future__ import annotations

import numpy as np

from .component import Component, Evaluation, wq_block

__all__ = ["DesignGroup"]

#: Newton steps on the shared coefficients per EM iteration (a generalised M-step)
MSTEP_SHARED_NEWTON = 1


class DesignGroup(Component):
    """Single-class components with their own design columns and shared coefficients.

    Parameters
    ----------
    makers : list of callables
        ``makers[c](rows_view)`` builds member ``c`` (one class) on its view of the rows.
    rows : Rows
        The rows with the union design.
    columns : list of lists of int
        Columns of ``rows.X`` in member ``c``'s own design (shared terms excluded).
    tied : list of lists of (int, int)
        For member ``c``, pairs ``(column of rows.X, index into delta)`` of its shared terms.
    tied_names : list of str
        Names of the shared coefficients ``delta``.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from emglm.mixture import GLMComponent, Rows
    >>> rows = Rows(np.array([1.0, 2.0, 4.0, 3.0]), np.column_stack([np.ones(4), np.arange(4.0)]),
    ...             exog_names=["Intercept", "x"])
    >>> fam = sm.families.Poisson()
    >>> g = DesignGroup([lambda r: GLMComponent(fam, r, 1)] * 2, rows, [[0], [0]], [[(1, 0)], []], ["x"])
    >>> g.n_classes, g.n_params, g.coef_table(np.array([0.1, 0.2, 0.5]))[0]
    (2, 3, ['Intercept', 'x'])
    """

    has_linear_predictor = False
    #: the classes are different models: they keep the order given
    keeps_order = True

    def __init__(self, makers, rows, columns, tied, tied_names):
        self.columns = [np.asarray(c, dtype=np.intp) for c in columns]
        self.tied = [[(int(a), int(b)) for a, b in t] for t in tied]
        self.tied_names = [str(t) for t in tied_names]
        self.n_tied = len(self.tied_names)
        self.n_classes = len(self.columns)
        self._views = {}
        self.names = [[rows.exog_names[i] for i in c] if rows.exog_names is not None else
                      [f"x{i}" for i in c] for c in self.columns]
        zero = np.zeros(self.n_tied)
        self.members = [mk(self._view(rows, c, zero)) for c, mk in enumerate(makers)]
        for m in self.members:
            if m.n_classes != 1:
                raise ValueError("a component with a design of its own covers one class")
        sizes = np.cumsum([0] + [m.n_params for m in self.members])
        self._slices = [slice(int(a), int(b)) for a, b in zip(sizes[:-1], sizes[1:])]
        self._n_member_params = int(sizes[-1])

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_views"] = {}  # views of rows (column copies): rebuilt on use
        return state

    # ------------------------------------------------------------------ layout
    @property
    def n_params(self):
        return self._n_member_params + self.n_tied

    def split(self, params):
        """``(member parameter vectors, delta)``."""
        params = np.asarray(params, dtype=float)
        return [params[s] for s in self._slices], params[self._n_member_params:]

    def _join(self, parts, delta):
        return np.concatenate([np.asarray(p, dtype=float).ravel() for p in parts] + [np.asarray(delta, float)])

    def _view(self, rows, c, delta):
        """Member ``c``'s view of ``rows``: its columns, and its shared terms in the offset."""
        key = (id(rows), c)
        hit = self._views.get(key)
        if hit is None or hit[0] is not rows:
            if len(self._views) > 64:  # views of rows that are gone (subsamples, new data)
                self._views.clear()
            hit = (rows, rows.with_design(self.columns[c], exog_names=self.names[c]), {})
            self._views[key] = hit
        base, by_delta = hit[1], hit[2]
        if not self.tied[c]:
            return base
        cols = [a for a, _ in self.tied[c]]
        d = np.asarray(delta, dtype=float)[[b for _, b in self.tied[c]]]
        dk = d.tobytes()
        view = by_delta.get(dk)
        if view is None:
            if len(by_delta) > 8:
                by_delta.clear()
            view = base.with_design(np.arange(base.p), offset=rows.offset + rows.X[:, cols] @ d,
                                    exog_names=base.exog_names)
            by_delta[dk] = view
        return view

    def member_rows(self, rows, params, c):
        """The rows as member ``c`` sees them at ``params`` (its design, its offset)."""
        return self._view(rows, c, self.split(params)[1])

    # ------------------------------------------------------------------ labels and tables
    def _member_names(self, c, sub_names):
        return list(sub_names) if sub_names is not None else list(self.names[c])

    def param_labels(self, class_names):
        labels = []
        for c, m in enumerate(self.members):
            if hasattr(m, "score_pieces"):  # a GLM component: labelled by its design's names
                own = m.param_labels([class_names[c]], self.names[c], [])
            else:
                own = m.param_labels([class_names[c]])
            # a one-class member's "shared" dispersion is its class's own
            labels += [(class_names[c] if o == "shared" else o, t) for o, t in own]
        return labels + [("shared", t) for t in self.tied_names]

    def coef_table(self, params):
        parts, delta = self.split(params)
        tables = []
        for c, (m, p) in enumerate(zip(self.members, parts)):
            names, vals = m.coef_table(p)
            tables.append((self._member_names(c, names), np.asarray(vals, dtype=float)[:, 0]))
        union = list(dict.fromkeys([nm for names, _ in tables for nm in names] + self.tied_names))
        out = np.full((len(union), self.n_classes), np.nan)
        for c, (names, vals) in enumerate(tables):
            for nm, v in zip(names, vals):
                out[union.index(nm), c] = v
            for _, b in self.tied[c]:
                out[union.index(self.tied_names[b]), c] = delta[b]
        return union, out

    def scale(self, params):
        return np.concatenate([m.scale(p) for m, p in zip(self.members, self.split(params)[0])])

    def log_scale_mask(self):
        return np.concatenate([m.log_scale_mask() for m in self.members] + [np.zeros(self.n_tied, dtype=bool)])

    # ------------------------------------------------------------------ EM
    def evaluate(self, params, rows, reuse=None):
        key = np.asarray(params, dtype=float).tobytes()
        if reuse is not None and reuse.key == key and reuse.logpdf is not None:
            return reuse
        parts, delta = self.split(params)
        # the members' own evaluations from an M-step (each checks its own parameters)
        old = (reuse.subs if reuse is not None and getattr(reuse, "delta_key", None) == delta.tobytes()
               else [None] * self.n_classes)
        subs = [m.evaluate(p, self._view(rows, c, delta), reuse=old[c])
                for c, (m, p) in enumerate(zip(self.members, parts))]
        return Evaluation(np.vstack([ev.logpdf for ev in subs]), key, subs=subs, delta_key=delta.tobytes())

    def _shared_q(self, parts, delta, weights, rows):
        """``sum_c W_c log f_c`` of the members with shared terms, at ``delta``."""
        total = 0.0
        for c, (m, p) in enumerate(zip(self.members, parts)):
            if self.tied[c]:
                total += wq_block(weights[c:c + 1], m.evaluate(p, self._view(rows, c, delta)).logpdf)
        return total

    def _shared_newton(self, parts, delta, weights, rows, maxiter):
        """Newton steps on ``delta`` (numerical derivatives, step halving): never lower."""
        from ..components.base import newton_maximize

        def fun(d):
            return self._shared_q(parts, d, weights, rows)

        def grad_hess(d):
            h = 1e-4 * np.maximum(np.abs(d), 1.0)
            m = d.size
            f0 = fun(d)
            fp = np.array([fun(d + h[i] * np.eye(m)[i]) for i in range(m)])
            fm = np.array([fun(d - h[i] * np.eye(m)[i]) for i in range(m)])
            g = (fp - fm) / (2 * h)
            H = np.diag((fp - 2 * f0 + fm) / h ** 2)
            for i in range(m):
                for j in range(i + 1, m):
                    ei, ej = h[i] * np.eye(m)[i], h[j] * np.eye(m)[j]
                    H[i, j] = H[j, i] = (fun(d + ei + ej) - fun(d + ei - ej) - fun(d - ei + ej)
                                         + fun(d - ei - ej)) / (4 * h[i] * h[j])
            return g, H

        with np.errstate(all="ignore"):
            return newton_maximize(fun, grad_hess, np.asarray(delta, dtype=float), maxiter=maxiter, tol=1e-12)

    def mstep(self, params, weights, ev, rows, q0=None):
        parts, delta = self.split(params)
        if ev is None or ev.logpdf is None:
            ev = self.evaluate(params, rows, reuse=ev)
        new, evs = [], []
        for c, (m, p) in enumerate(zip(self.members, parts)):
            view = self._view(rows, c, delta)
            sev = ev.subs[c]
            pn, en = m.mstep(p, weights[c:c + 1], sev, view)
            new.append(pn)
            evs.append(en)
        dkey = delta.tobytes()
        if self.n_tied:
            delta = self._shared_newton(new, delta, weights, rows, MSTEP_SHARED_NEWTON)
        out = self._join(new, delta)
        # the members' evaluations, valid while delta is unchanged (the next E-step checks)
        return out, Evaluation(None, out.tobytes(), subs=evs, delta_key=dkey)

    def fit(self, weights, rows, **options):
        delta = np.zeros(self.n_tied)
        parts = [m.fit(weights[c:c + 1], self._view(rows, c, delta), **options)
                 for c, m in enumerate(self.members)]
        for _ in range(5 if self.n_tied else 0):  # alternate: members given delta, delta given members
            delta = self._shared_newton(parts, delta, weights, rows, 20)
            parts = [m.fit(weights[c:c + 1], self._view(rows, c, delta), **options)
                     for c, m in enumerate(self.members)]
        return self._join(parts, delta)

    def score_rows(self, params, ev, weights, rows):
        parts, delta = self.split(params)
        subs = self.evaluate(params, rows, reuse=ev).subs
        out = np.zeros((rows.n, self.n_params))
        for c, (m, p) in enumerate(zip(self.members, parts)):
            out[:, self._slices[c]] = m.score_rows(p, subs[c], weights[c:c + 1], self._view(rows, c, delta))
        # shared coefficients: central differences of the members' log-densities
        for b in range(self.n_tied):
            h = np.finfo(float).eps ** (1.0 / 3.0) * max(abs(delta[b]), 1.0)
            up, dn = delta.copy(), delta.copy()
            up[b] += h
            dn[b] -= h
            for c, (m, p) in enumerate(zip(self.members, parts)):
                if b not in [i for _, i in self.tied[c]]:
                    continue
                with np.errstate(all="ignore"):
                    d = (m.evaluate(p, self._view(rows, c, up)).logpdf[0]
                         - m.evaluate(p, self._view(rows, c, dn)).logpdf[0]) / (2 * h)
                    out[:, self._n_member_params + b] += np.where(weights[c] > 0, weights[c] * d, 0.0)
        return out

    # ------------------------------------------------------------------ what results ask
    def _stack(self, method, params, rows):
        parts, delta = self.split(params)
        return [getattr(m, method)(p, self._view(rows, c, delta)) for c, (m, p) in enumerate(zip(self.members, parts))]

    def mean(self, params, rows):
        return np.vstack(self._stack("mean", params, rows))

    def cdf(self, params, rows):
        out = self._stack("cdf", params, rows)
        return np.vstack([a for a, _ in out]), np.vstack([b for _, b in out])

    def moments(self, params, rows):
        out = self._stack("moments", params, rows)
        return np.vstack([a for a, _ in out]), np.vstack([b for _, b in out])

    def order_key(self, params, rows):
        return np.arange(self.n_classes, dtype=float)

    def permute(self, params, perm):
        if not np.array_equal(np.asarray(perm), np.arange(self.n_classes)):
            raise ValueError("components with formulas of their own keep their order")
        return np.asarray(params, dtype=float)

    def diagnose(self, params, ev, T, rows, names):
        parts, delta = self.split(params)
        subs = self.evaluate(params, rows, reuse=ev).subs
        msgs = []
        for c, (m, p) in enumerate(zip(self.members, parts)):
            msgs += m.diagnose(p, subs[c], np.asarray(T)[:, c:c + 1], self._view(rows, c, delta), names[c:c + 1])
        return msgs
