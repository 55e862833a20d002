"""A run's rows as float columns, bounded to the last ``length``: what replaced HoloViews' ``Buffer``.

Sending a row to a ``Buffer`` meant building a DataFrame for it and concatenating it (about 400 µs,
at every page update, against about 20 µs here); the figures only ever read the columns as float
arrays.  Arrays are never changed in place (each send makes new ones), so a Bokeh source may hold
them as they are.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .latest import Subscribed


class Rows(Subscribed):
    """Rows with fixed ``columns``; ``arrays`` holds them column by column, the oldest dropped beyond
    ``length``.  Subscribers run after each :meth:`send` and :meth:`clear`."""

    def __init__(self, columns, length: int) -> None:
        super().__init__()
        self.columns = tuple(columns)
        if not self.columns or len(set(self.columns)) != len(self.columns):
            raise ValueError(f"Rows needs distinct column names, got {self.columns}")
        self.length = int(length)
        if self.length < 0:
            raise ValueError(f"Rows keeps the last length rows; length must be >= 0, got {length}")
        self.arrays: dict[str, np.ndarray] = {}
        self._empty()

    def _empty(self) -> None:
        self.arrays = {c: np.zeros(0) for c in self.columns}

    def __len__(self) -> int:
        return len(self.arrays[self.columns[0]])

    @property
    def data(self) -> pd.DataFrame:
        """A copy as a DataFrame (for tests and exports; the page reads ``arrays``)."""
        return pd.DataFrame({c: a.copy() for c, a in self.arrays.items()}, columns=list(self.columns))

    def send(self, new: Mapping) -> None:
        """Append these rows, given as one sequence per column (all columns, equally long)."""
        cols = self._checked(new)
        self._keep({c: np.concatenate((self.arrays[c], cols[c])) for c in self.columns})
        self._notify()

    def replace(self, new: Mapping) -> None:
        """Exactly these rows (the last ``length`` of them) instead of the ones held; subscribers draw once."""
        self._keep(self._checked(new))
        self._notify()

    def clear(self) -> None:
        """No rows; subscribers draw the empty curves too."""
        self._empty()
        self._notify()

    def _keep(self, cols: dict[str, np.ndarray]) -> None:
        self.arrays = {c: a[max(0, len(a) - self.length):] for c, a in cols.items()}

    def _checked(self, new: Mapping) -> dict[str, np.ndarray]:
        if set(new) != set(self.columns):
            missing, extra = set(self.columns) - set(new), set(new) - set(self.columns)
            raise KeyError(f"rows must have exactly the columns {list(self.columns)}: "
                           f"missing {sorted(missing)}, unknown {sorted(map(str, extra))}")
        # copied: the caller keeps no handle on what the figures will hold
        cols = {c: np.array(new[c], dtype=float).reshape(-1) for c in self.columns}
        lengths = {len(a) for a in cols.values()}
        if len(lengths) != 1:
            raise ValueError(f"the columns of the rows differ in length: {sorted(lengths)}")
        return cols
