"""Group households into indivisible units: same building id, or identical coordinates."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from partition.reasons import UnitKind, unit_labels
from partition.rows import distinct_rows


def _key(values: pd.Series | None, n: int) -> np.ndarray:
    """Rank of each value among the column's distinct values as text (missing ones as a NUL character)."""
    if values is None:
        return np.zeros(n, dtype=np.int64)
    if not isinstance(values.dtype, pd.StringDtype):
        values = values.fillna("\x00").astype(str)
    elif values.hasnans:  # text already: no copy as str
        values = values.fillna("\x00")
    return pd.factorize(values, sort=True)[0]


def _first_known(values: np.ndarray | None, sorted_unit: np.ndarray, at: np.ndarray, m: int) -> np.ndarray:
    """Return the first value of each unit that is not missing (None if it has none), as grouped ``first()``.

    `at` orders the points unit by unit (file order within a unit); `sorted_unit` is ``unit[at]``.
    """
    out = np.full(m, None, dtype=object)
    if values is None:
        return out
    ordered = values[at]
    known = pd.notna(ordered)
    u, v = sorted_unit[known], ordered[known]
    head = np.r_[True, u[1:] != u[:-1]] if len(u) else np.zeros(0, bool)
    out[u[head]] = v[head]
    return out


def units_from_points(points: gpd.GeoDataFrame) -> tuple[pd.Series, gpd.GeoDataFrame]:
    """Group address points into indivisible units.

    Points with the same ``building`` id (within one village and one 村民小组) form one unit;
    points without a building id form one unit per distinct coordinate. Units that share a
    coordinate are merged, so no two units ever sit on the same spot.

    Parameters
    ----------
    points
        Address points in a metric CRS with ``households`` and ``population``, and optionally
        ``village_code``, ``group``, ``building``, ``compound``.

    Returns
    -------
    unit, units
        ``unit``: the unit number of every point, indexed like `points`. ``units``: one row per
        unit (index = unit number) with ``households``, ``population``, ``n_points``,
        ``village_code``, ``group``, ``building``, ``compound``, ``label``
        (text, ``"building 3号楼"`` or ``"point x, y"``: building id or coordinates, for reasons;
        :func:`partition.reasons.unit_ref` reads it as a :class:`partition.reasons.UnitRef`) and the
        centroid of its points as geometry.
    """
    unit, cols = unit_columns(points)
    index = pd.RangeIndex(len(cols["households"]), name="unit")
    for col in ("village_code", "group", "building", "compound", "label"):  # as they are, not inferred as text
        cols[col] = pd.Series(cols[col], index=index, dtype=object)
    geometry = gpd.points_from_xy(cols.pop("x"), cols.pop("y"), crs=points.crs)
    units = gpd.GeoDataFrame({**cols, "geometry": geometry}, index=index, geometry="geometry", crs=points.crs)
    return pd.Series(unit, index=points.index, name="unit"), units


def unit_columns(points: gpd.GeoDataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """:func:`units_from_points` as arrays: the unit of every point, and the units' columns (``x``, ``y``: centroid)."""
    n = len(points)
    xy = shapely.get_coordinates(np.asarray(points.geometry.values))
    coord = distinct_rows(xy[:, 0], xy[:, 1])[0]
    building = points["building"] if "building" in points else None
    has_b = building.notna().to_numpy() if building is not None else np.zeros(n, bool)
    bkey = np.where(has_b, _key(building, n), -1 - coord) if has_b.any() else -1 - coord
    first = distinct_rows(_key(points.get("village_code"), n), _key(points.get("group"), n), bkey)[0]
    unit = _merge_shared_spots(first, coord)
    m = int(unit.max()) + 1 if n else 0
    hh = points["households"].to_numpy(float)
    pop = points["population"].to_numpy(float)
    if m == n:
        # one point per unit (every household at its own spot, no building ids): nothing to aggregate
        at = np.argsort(unit)
        households, population, n_points = hh[at], pop[at], np.ones(n, np.int64)
        cx, cy = xy[at, 0], xy[at, 1]
    else:
        at = np.argsort(unit, kind="stable")  # the points unit by unit, in file order within a unit
        n_points = np.bincount(unit, minlength=m)
        # pandas' grouped sums are compensated (its means are these sums over the count: centroids to the last bit)
        sums = (
            pd.DataFrame({"households": hh, "population": pop, "x": xy[:, 0], "y": xy[:, 1]})
            .groupby(unit)
            .sum(min_count=1)
        )
        households = np.nan_to_num(sums["households"].to_numpy(), nan=0.0)
        population = sums["population"].to_numpy()
        cx, cy = sums["x"].to_numpy() / n_points, sums["y"].to_numpy() / n_points
    sorted_unit = unit[at]
    cols = {"households": households, "population": population, "n_points": n_points}
    for col in ("village_code", "group", "building", "compound"):
        cols[col] = _first_known(points[col].to_numpy(object) if col in points else None, sorted_unit, at, m)
    cols["label"] = _labels(cols["building"], cx, cy)
    cols["x"], cols["y"] = cx, cy
    return unit, cols


def _labels(building: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """Each unit's label as text (:func:`partition.reasons.unit_labels`, read back by ``unit_ref``).

    Its building id, else where it stands: the centroid to 0.1 m (numpy's rounding, Python's float text).
    """
    named = pd.notna(building)
    labels = np.empty(len(building), dtype=object)
    x, y = np.round(cx[~named], 1).tolist(), np.round(cy[~named], 1).tolist()
    spots = (f"{a!r}, {b!r}" for a, b in zip(x, y, strict=True))
    labels[~named] = np.array(unit_labels(UnitKind.POINT, spots), dtype=object)
    labels[named] = np.array(unit_labels(UnitKind.BUILDING, map(str, building[named].tolist())), dtype=object)
    return labels


def _merge_shared_spots(first: np.ndarray, coord: np.ndarray) -> np.ndarray:
    """Return the unit of each point: its group in `first`, merged with every group sharing a coordinate.

    Groups joined through shared coordinates are the components of the group-coordinate bipartite
    graph, numbered in the order of their smallest group; without any shared coordinate that is
    `first` itself.
    """
    if len(first) == 0:
        return first
    by_spot = np.lexsort((first, coord))
    c, f = coord[by_spot], first[by_spot]
    if not ((c[1:] == c[:-1]) & (f[1:] != f[:-1])).any():
        return first
    m, k = first.max() + 1, coord.max() + 1
    graph = coo_matrix((np.ones(len(first)), (first, m + coord)), shape=(m + k, m + k))
    _, comp = connected_components(graph, directed=False)
    return np.unique(comp[first], return_inverse=True)[1].ravel()
