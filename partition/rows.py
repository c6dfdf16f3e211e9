"""Rows grouped by equal values, from one sort: how units, Voronoi sites, cell edges and grids are numbered."""

from __future__ import annotations

import numpy as np


def sorted_runs(*cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the order that sorts the rows of `cols`, and where each run of equal rows starts in it.

    Rows are ordered column by column (the first column first) by a stable sort, so each run
    lists its rows in their input order and starts with the first of them.
    """
    n = len(cols[0])
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.lexsort(cols[::-1])
    new = np.zeros(n, bool)
    new[0] = True
    for col in cols:
        s = col[order]
        new[1:] |= s[1:] != s[:-1]
    return order, np.flatnonzero(new)


def distinct_rows(*cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each row's rank among the distinct rows of `cols`, and the first row holding each distinct one.

    The ranks are those of ``pd.factorize(MultiIndex, sort=True)`` and, for two columns of
    coordinates, the inverse of ``np.unique(xy, axis=0, return_inverse=True)``; the first rows are
    its ``return_index``.
    """
    order, start = sorted_runs(*cols)
    new = np.zeros(len(order), np.int64)
    new[start] = 1
    rank = np.empty(len(order), np.int64)
    rank[order] = np.cumsum(new) - 1
    return rank, order[start]
