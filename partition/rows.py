"""Distinct rows of columns from one sort: what units, Voronoi sites and shared cell edges are numbered by."""

from __future__ import annotations

import numpy as np


def distinct_rows(*cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each row's rank among the distinct rows of `cols`, and the first row holding each distinct one.

    Rows are ordered column by column (the first column first), so the ranks are those of
    ``pd.factorize(MultiIndex, sort=True)`` and, for two columns of coordinates, the inverse of
    ``np.unique(xy, axis=0, return_inverse=True)``; the first rows are its ``return_index``.
    """
    n = len(cols[0])
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.lexsort(cols[::-1])  # stable: each run of equal rows starts with its first row
    new = np.zeros(n, bool)
    new[0] = True
    for col in cols:
        s = col[order]
        new[1:] |= s[1:] != s[:-1]
    rank = np.empty(n, np.int64)
    rank[order] = np.cumsum(new) - 1
    return rank, order[new]
