"""Balance, compactness and tiling measures of design.md §5, as plain functions of arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from partition.values import band_contains


def cv(values: np.ndarray) -> float:
    """Coefficient of variation: standard deviation / mean (population std)."""
    v = np.asarray(values, float)
    return float(v.std() / v.mean()) if len(v) and v.mean() > 0 else 0.0


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = all equal)."""
    v = np.sort(np.asarray(values, float))
    n = len(v)
    if n == 0 or v.sum() == 0:
        return 0.0
    return float((2 * np.arange(1, n + 1) - n - 1) @ v / (n * v.sum()))


def lorenz(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve of non-negative values: cumulative share of grids (x) and of the total (y), from (0, 0).

    Examples
    --------
    >>> x, y = lorenz(np.array([1.0, 1.0, 2.0]))
    >>> x.round(2).tolist(), y.round(2).tolist()
    ([0.0, 0.33, 0.67, 1.0], [0.0, 0.25, 0.5, 1.0])
    """
    v = np.sort(np.asarray(values, float))
    x = np.linspace(0.0, 1.0, len(v) + 1)
    total = v.sum()
    y = np.concatenate([[0.0], np.cumsum(v) / total]) if total > 0 else x.copy()
    return x, y


def max_min_ratio(values: np.ndarray) -> float:
    """Largest value over smallest (infinite when the smallest is 0)."""
    v = np.asarray(values, float)
    if len(v) == 0:
        return 0.0
    return float(v.max() / v.min()) if v.min() > 0 else float("inf")


def parity(values: np.ndarray) -> float:
    """Redistricting-style parity: max |x - mean| / mean."""
    v = np.asarray(values, float)
    return float(np.abs(v - v.mean()).max() / v.mean()) if len(v) and v.mean() > 0 else 0.0


def pieces(geoms: np.ndarray) -> np.ndarray:
    """Count the separate pieces of each polygon; parts that touch (a pinch point) count as one.

    Reprojection can turn a hair-thin neck into two parts meeting at a point; such a grid is still
    one piece of land. Parts closer than a millionth of the geometry's size are joined.
    """
    n = shapely.get_num_geometries(geoms)
    multi = np.flatnonzero(n > 1)
    if len(multi):
        tol = 1e-6 * np.sqrt(shapely.area(geoms[multi]))
        n = n.copy()
        n[multi] = shapely.get_num_geometries(shapely.buffer(geoms[multi], tol))
    return n


def polsby_popper(geoms: np.ndarray) -> np.ndarray:
    """Polsby-Popper compactness 4πA/P² of each geometry (1 for a circle)."""
    perim = shapely.length(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(perim > 0, 4 * np.pi * shapely.area(geoms) / perim**2, 0.0)


def coverage_ratio(geoms: np.ndarray, boundary: BaseGeometry) -> float:
    """|union(geoms) △ boundary| / |boundary| (0 for an exact tiling)."""
    union = shapely.union_all(geoms)
    return float(shapely.area(shapely.symmetric_difference(union, boundary)) / shapely.area(boundary))


def overlap_area(geoms: np.ndarray) -> float:
    """Sum of pairwise intersection areas."""
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = i < j
    return float(shapely.area(shapely.intersection(geoms[i[keep]], geoms[j[keep]])).sum())


def summary(households: np.ndarray) -> dict[str, float]:
    """Return the balance figures of a set of grids (or workers) in one dict."""
    h = np.asarray(households, float)
    return {
        "n": int(len(h)),
        "total": float(h.sum()),
        "mean": float(h.mean()) if len(h) else 0.0,
        "min": float(h.min()) if len(h) else 0.0,
        "max": float(h.max()) if len(h) else 0.0,
        "cv": cv(h),
        "gini": gini(h),
        "max_min_ratio": max_min_ratio(h),
        "parity": parity(h),
    }


def within_band(grids: pd.DataFrame) -> pd.Series:
    """Return, per grid, whether it is a household-band grid inside its own ``min..max`` band."""
    band = grids["rule"].eq("household_band")
    return band & band_contains(grids["households"], grids["min_households"], grids["max_households"])


def band_share(grids: pd.DataFrame) -> float:
    """Return the share of household-band grids inside their band (NaN when there are none).

    Examples
    --------
    >>> import pandas as pd
    >>> g = pd.DataFrame({"rule": ["household_band"] * 2 + ["village_group"],
    ...                   "households": [350, 520, 40], "min_households": 300, "max_households": 500})
    >>> band_share(g)
    0.5
    """
    band = grids["rule"].eq("household_band")
    return float(within_band(grids)[band].mean()) if band.any() else float("nan")
