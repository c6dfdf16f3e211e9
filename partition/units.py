"""Group households into indivisible units: same building id, or identical coordinates."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from partition.reasons import UnitKind, UnitRef


def _key(values: pd.Series | None, n: int) -> np.ndarray:
    if values is None:
        return np.zeros(n, dtype=np.int64)
    return pd.factorize(values.fillna("\x00").astype(str), sort=True)[0]


def _row_codes(*cols: np.ndarray) -> np.ndarray:
    """Return the rank of each row of `cols` among its distinct rows (``pd.factorize(MultiIndex, sort=True)``)."""
    n = len(cols[0])
    if n == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort(cols[::-1])
    new = np.zeros(n, bool)
    new[0] = True
    for col in cols:
        s = col[order]
        new[1:] |= s[1:] != s[:-1]
    code = np.empty(n, np.int64)
    code[order] = np.cumsum(new) - 1
    return code


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
        (a :class:`partition.reasons.UnitRef`: building id or coordinates, for reasons) and the
        centroid of its points as geometry.
    """
    n = len(points)
    xy = shapely.get_coordinates(points.geometry.values)
    coord = _row_codes(xy[:, 0], xy[:, 1])
    building = points["building"] if "building" in points else pd.Series(None, index=points.index)
    has_b = building.notna().to_numpy()
    bkey = np.where(has_b, _key(building, n), -1 - coord)
    first = _row_codes(_key(points.get("village_code"), n), _key(points.get("group"), n), bkey)
    # merge units that share a coordinate: components of the unit-coordinate bipartite graph
    m, c = first.max() + 1, coord.max() + 1
    graph = coo_matrix((np.ones(n), (first, m + coord)), shape=(m + c, m + c))
    _, comp = connected_components(graph, directed=False)
    unit = np.unique(comp[first], return_inverse=True)[1].ravel()
    cols = {
        col: points[col].to_numpy() if col in points else None
        for col in ("village_code", "group", "building", "compound")
    }
    if unit.max() + 1 == n:
        # one point per unit (every household at its own spot, no building ids): nothing to aggregate
        at = np.argsort(unit)
        units = pd.DataFrame(
            {
                "households": points["households"].to_numpy(float)[at],
                "population": points["population"].to_numpy(float)[at],
                "n_points": np.ones(n, np.int64),
            },
            index=pd.Index(np.arange(n), name="unit"),
        )
        for col, v in cols.items():
            values = np.full(n, None, dtype=object)
            if v is not None:
                values[:] = v[at]
                values[pd.isna(values)] = None  # as groupby's first() leaves a unit without a value
            units[col] = pd.Series(values, index=units.index, dtype=object)
        cx, cy = pd.Series(xy[at, 0], index=units.index), pd.Series(xy[at, 1], index=units.index)
    else:
        df = pd.DataFrame(
            {
                "unit": unit,
                "households": points["households"].to_numpy(float),
                "population": points["population"].to_numpy(float),
                "x": xy[:, 0],
                "y": xy[:, 1],
            }
        )
        for col, v in cols.items():
            df[col] = v
        g = df.groupby("unit", sort=True)
        units = pd.DataFrame(
            {
                "households": g["households"].sum(),
                "population": g["population"].sum(min_count=1),
                "n_points": g.size(),
                "village_code": g["village_code"].first(),
                "group": g["group"].first(),
                "building": g["building"].first(),
                "compound": g["compound"].first(),
            }
        )
        cx, cy = g["x"].mean(), g["y"].mean()
    at_xy = cx.round(1).astype(str) + ", " + cy.round(1).astype(str)
    units["label"] = pd.Series(
        [
            UnitRef(UnitKind.BUILDING, str(b)) if pd.notna(b) else UnitRef(UnitKind.POINT, p)
            for b, p in zip(units["building"].to_numpy(object), at_xy.to_numpy(object), strict=True)
        ],
        index=units.index,
        dtype=object,
    )
    geometry = gpd.points_from_xy(cx, cy, crs=points.crs)
    return (
        pd.Series(unit, index=points.index, name="unit"),
        gpd.GeoDataFrame(units, geometry=geometry, crs=points.crs),
    )
