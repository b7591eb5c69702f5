"""A growable, left-trimmable buffer of activity samples addressed by absolute sample index.

The detector needs to look back (pre-onset level, the whole contraction for hold and flicks) but
must not grow without bound in a 30-minute session: it trims everything older than what an
open contraction still needs.
"""
from __future__ import annotations

import numpy as np


class History:
    def __init__(self, nch: int, capacity: int = 4096):
        self._t = np.empty(capacity)
        self._x = np.empty((capacity, nch))
        self.start = 0  # absolute index of row 0
        self.n = 0      # rows in use

    @property
    def end(self) -> int:
        """Absolute index one past the newest sample."""
        return self.start + self.n

    def append(self, t: np.ndarray, x: np.ndarray) -> None:
        k = len(t)
        if self.n + k > len(self._t):
            cap = max(2 * len(self._t), self.n + k)
            nt, nx = np.empty(cap), np.empty((cap, self._x.shape[1]))
            nt[:self.n], nx[:self.n] = self._t[:self.n], self._x[:self.n]
            self._t, self._x = nt, nx
        self._t[self.n:self.n + k] = t
        self._x[self.n:self.n + k] = x
        self.n += k

    def trim_before(self, idx: int) -> None:
        """Forget samples older than absolute index ``idx``."""
        drop = min(max(0, idx - self.start), self.n)
        if drop:
            keep = self.n - drop
            self._t[:keep] = self._t[drop:self.n]
            self._x[:keep] = self._x[drop:self.n]
            self.start += drop
            self.n = keep

    def t(self, a: int, b: int) -> np.ndarray:
        a, b = max(a, self.start), min(b, self.end)
        return self._t[a - self.start:max(a, b) - self.start]

    def x(self, a: int, b: int, ch: int = 0) -> np.ndarray:
        a, b = max(a, self.start), min(b, self.end)
        return self._x[a - self.start:max(a, b) - self.start, ch]

    def time_at(self, i: int) -> float:
        return float(self._t[i - self.start])
