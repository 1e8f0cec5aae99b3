"""Work arrays of the row passes, reused while a fit runs.

Every EM iteration makes a few arrays of one row per class (posteriors, linear predictors,
means) and lets go of the previous iteration's. Memory freed that way is often handed back
to the operating system and asked for again at once: on the 2-core benchmark machine each
fresh 4 KiB page then costs a page fault of about 2.5 microseconds, 18,000 of them in a fit
at n = 1e5, k = 3 (15% of its time). :class:`Buffers` keeps the arrays of the passes and
hands an array out again once nothing refers to it any more.

"Nothing refers to it" is read from the array's reference count, which every view of it
raises (a view refers to the array that owns its memory). The count of a free array is
measured when the array is made, through the same function that checks it later, so the
check does not depend on how the interpreter counts its own temporary references. An array
still read anywhere (a posterior kept by a caller, a view of it) is never handed out again.

Outside :func:`reuse_during` (a fit enters it) nothing is kept: plain ``np.empty``. When
the last fit running ends, every kept array is let go.

Examples
--------
>>> import numpy as np
>>> buf = Buffers()
>>> with reuse_during():
...     a = buf.empty((2, 3))
...     a_id = id(a.base)
...     del a                      # nothing refers to it any more
...     b = buf.empty((2, 3))      # the same memory again
...     c = buf.empty((2, 3))      # b still holds the first: a new array
>>> id(b.base) == a_id, id(c.base) == a_id
(True, False)
"""

from __future__ import annotations

import contextlib
import sys
import threading
import weakref

import numpy as np

__all__ = ["Buffers", "reuse_during"]

_LOCK = threading.Lock()
_STATE = {"fits": 0}  # fits running (reuse is on while one runs)
_HOLDING = weakref.WeakSet()  # Buffers that keep arrays

#: arrays kept at most (a fit's passes hold about four of one shape at a time)
KEEP = 8
#: free arrays kept beside the one handed out
MAX_IDLE = 1
#: larger arrays are not kept: numpy asks for huge pages for them, so their pages cost few
#: faults, while a kept one holds memory between passes (k = 8, n = 1e6: peak 6.4 instead of
#: 5.4 times the design when 64 MB arrays were kept)
MAX_BYTES = 16 << 20


class Buffers:
    """Arrays for the row passes of one set of rows, reused while a fit runs (see the module)."""

    def __init__(self, keep=KEEP):
        self.keep = int(keep)
        self._entries = []  # [array, its reference count when nothing else refers to it]

    @staticmethod
    def _count(entry):
        # (the same call measures the free count and checks it: equal counts, nothing else)
        return sys.getrefcount(entry[0])

    def _free(self, entry):
        return self._count(entry) == entry[1]

    def empty(self, shape):
        """An uninitialised float array of ``shape`` (a kept one when one is free)."""
        size = int(np.prod(shape))
        if not _STATE["fits"] or size * 8 > MAX_BYTES:
            return np.empty(shape)
        with _LOCK:
            free = [e for e in self._entries if self._free(e)]
            hit = next((e for e in free if e[0].size == size), None)
            # at most MAX_IDLE free arrays stay kept (the ones a pass is about to ask for
            # again), and none when a new one is made: kept memory adds little to what the
            # passes hold at once
            drop = [e for e in free if e is not hit]
            if hit is not None:
                drop = drop[MAX_IDLE:]
            if drop:
                ids = {id(e) for e in drop}
                self._entries = [e for e in self._entries if id(e) not in ids]
            if hit is not None:
                return hit[0].reshape(shape)
            if len(self._entries) >= self.keep:
                return np.empty(shape)
            entry = [np.empty(size), 0]
            self._entries.append(entry)
            entry[1] = self._count(entry)
            _HOLDING.add(self)
            return entry[0].reshape(shape)

    def clear(self):
        """Let go of the kept arrays."""
        self._entries = []

    def __getstate__(self):
        return {"keep": self.keep, "_entries": []}


@contextlib.contextmanager
def reuse_during():
    """Work arrays are kept and reused inside this context (a fit); when the last such
    context ends, every kept array is let go."""
    with _LOCK:
        _STATE["fits"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["fits"] -= 1
            if not _STATE["fits"]:
                for b in list(_HOLDING):
                    b.clear()
                _HOLDING.clear()
