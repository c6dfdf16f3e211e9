"""Seeded generator of a realistic synthetic town: communities with 12-digit codes, compounds, houses, roads.

Used by partition_quality.py and scale.py. Households sit in apartment blocks inside residential
compounds (小区, 20-120 households per block, 1-2 entrances each) and in low-rise houses (1-3
households), half clustered in "urban villages", half scattered. Main roads cross the town with a
building-free corridor. Communities are Voronoi cells of seeds, about `per_community` households each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

if TYPE_CHECKING:
    from gridmap import GridResult

CRS = "EPSG:32651"
ORIGIN = (350_000.0, 3_450_000.0)
DENSITY = 9_000.0  # households per km² of town


@dataclass
class Town:
    """The generated layers (metric CRS)."""

    addresses: gpd.GeoDataFrame
    boundaries: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame


def make_town(households: int, *, seed: int = 0, per_community: int = 5_000, compound_share: float = 0.7) -> Town:
    """Generate a town of about `households` households (see module docstring)."""
    rng = np.random.default_rng(seed)
    side = np.sqrt(households / DENSITY) * 1000.0
    x0, y0 = ORIGIN
    area = shapely.box(x0, y0, x0 + side, y0 + side)
    # main roads: a jittered lattice every ~900 m
    n_roads = max(1, int(side // 900))
    roads = []
    for i in range(1, n_roads + 1):
        t = side * i / (n_roads + 1)
        j1, j2 = rng.normal(0, side * 0.03, 2)
        roads.append(shapely.LineString([(x0 + t + j1, y0), (x0 + t + j2, y0 + side)]))
        roads.append(shapely.LineString([(x0, y0 + t + j2), (x0 + side, y0 + t + j1)]))
    road_zone = shapely.union_all(shapely.buffer(np.array(roads), 12.0)) if roads else shapely.Polygon()
    shapely.prepare(road_zone)
    pts_x, pts_y, hh, building, compound = [], [], [], [], []
    # compounds
    target_c = households * compound_share
    made = 0
    cid = 0
    footprints: list = []
    while made < target_c:
        cx = rng.uniform(x0 + 60, x0 + side - 60)
        cy = rng.uniform(y0 + 60, y0 + side - 60)
        w, h = rng.uniform(45, 220, 2)
        ang = rng.uniform(0, np.pi)
        nbx, nby = max(1, int(w // 45)), max(1, int(h // 40))
        per_block = rng.integers(20, 121)
        gx, gy = np.meshgrid((np.arange(nbx) - (nbx - 1) / 2) * 45, (np.arange(nby) - (nby - 1) / 2) * 40)
        rx = cx + gx.ravel() * np.cos(ang) - gy.ravel() * np.sin(ang)
        ry = cy + gx.ravel() * np.sin(ang) + gy.ravel() * np.cos(ang)
        footprint = shapely.buffer(shapely.multipoints(np.column_stack([rx, ry])).convex_hull, 20.0)
        if shapely.intersects(footprint, road_zone) or (
            footprints and shapely.intersects(footprint, np.array(footprints)).any()
        ):
            continue  # compounds are walled: they neither overlap nor straddle a main road
        footprints.append(footprint)
        ok = ~shapely.intersects_xy(road_zone, rx, ry) & (rx > x0) & (rx < x0 + side) & (ry > y0) & (ry < y0 + side)
        for b, (bx, by) in enumerate(zip(rx[ok], ry[ok], strict=True)):
            entrances = 2 if per_block > 60 else 1
            for e in range(entrances):
                pts_x.append(bx + (e - (entrances - 1) / 2) * 10 * np.cos(ang))
                pts_y.append(by + (e - (entrances - 1) / 2) * 10 * np.sin(ang))
                hh.append(int(per_block // entrances))
                building.append(f"c{cid}-b{b}")
                compound.append(f"c{cid}")
            made += per_block
        cid += 1
    # low-rise houses: half clustered (urban villages), half scattered
    rest = max(0, households - made)
    n_houses = int(rest / 2)
    n_cl = n_houses // 2
    centres = rng.uniform([x0, y0], [x0 + side, y0 + side], size=(max(1, n_cl // 150), 2))
    cl = centres[rng.integers(0, len(centres), n_cl)] + rng.normal(0, 60, size=(n_cl, 2))
    sc = rng.uniform([x0, y0], [x0 + side, y0 + side], size=(n_houses - n_cl, 2))
    hxy = np.vstack([cl, sc])
    hxy = np.clip(hxy, [x0 + 1, y0 + 1], [x0 + side - 1, y0 + side - 1])
    walls = shapely.union_all(np.array(footprints)) if footprints else shapely.Polygon()
    shapely.prepare(walls)
    # houses stand outside main roads and outside the walls of compounds
    keep = ~shapely.intersects_xy(road_zone, hxy[:, 0], hxy[:, 1]) & ~shapely.intersects_xy(walls, hxy[:, 0], hxy[:, 1])
    hxy = hxy[keep]
    hh_h = rng.integers(1, 4, len(hxy))
    x = np.concatenate([np.array(pts_x), hxy[:, 0]])
    y = np.concatenate([np.array(pts_y), hxy[:, 1]])
    hh_all = np.concatenate([np.array(hh, int), hh_h])
    bld = np.concatenate([np.array(building, dtype=object), np.array([f"h{i}" for i in range(len(hxy))], dtype=object)])
    cmp = np.concatenate([np.array(compound, dtype=object), np.full(len(hxy), None, dtype=object)])
    addresses = gpd.GeoDataFrame(
        {"households": hh_all, "building": bld, "compound": cmp},
        geometry=shapely.points(x, y),
        crs=CRS,
    )
    addresses["population"] = np.round(addresses["households"] * rng.uniform(2.2, 3.2, len(addresses))).astype(int)
    # communities: Voronoi cells of seeds weighted towards households
    n_comm = max(1, round(hh_all.sum() / per_community))
    idx = rng.choice(len(addresses), size=n_comm, replace=False, p=hh_all / hh_all.sum())
    seeds = np.column_stack([x[idx], y[idx]])
    from sklearn.cluster import KMeans

    if n_comm > 1:
        km = KMeans(n_clusters=n_comm, n_init=1, random_state=seed, init=seeds).fit(
            np.column_stack([x, y]), sample_weight=hh_all
        )
        seeds = km.cluster_centers_
        vor = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=area, ordered=True))
        polys = shapely.intersection(vor, area)
    else:
        polys = np.array([area])
    codes = [f"310115{101 + i // 900:03d}{1 + i % 900:03d}" for i in range(len(polys))]
    boundaries = gpd.GeoDataFrame(
        {"code": codes, "name": [f"社区{i + 1}" for i in range(len(polys))], "urban_rural": "111"},
        geometry=polys,
        crs=CRS,
    )
    roads_gdf = (
        gpd.GeoDataFrame({"kind": ["main road"] * len(roads)}, geometry=roads, crs=CRS)
        if roads
        else gpd.GeoDataFrame({"kind": []}, geometry=[], crs=CRS)
    )
    return Town(addresses=addresses, boundaries=boundaries, roads=roads_gdf)


def denver(shared_data, *, household_size: float = 2.5, minors: bool = False):
    """Denver 2020 blocks as units: households = round(pop / household_size) (estimated, not census).

    Returns ``(addresses, boundaries, blocks)``: one point per block (its representative point),
    tracts dissolved from blocks as communities with stand-in 12-digit codes, and the block polygons
    as unit polygons (``building`` = GEOID20). With `minors`, addresses also carry ``minors`` =
    TOTPOP20 − VAP20 (people under 18) per block, a second measure.
    """
    import pyogrio

    columns = ["GEOID20", "TRACTCE20", "TOTPOP20", *(["VAP20"] if minors else [])]
    blocks = pyogrio.read_dataframe(f"{shared_data}/us_denver_blocks_2020/DenverCo_blocks.zip", columns=columns)
    blocks["households"] = np.round(blocks["TOTPOP20"] / household_size).astype(int)
    blocks["population"] = blocks["TOTPOP20"].astype(int)
    blocks["building"] = blocks["GEOID20"]
    tracts = blocks.dissolve(by="TRACTCE20", as_index=False)[["TRACTCE20", "geometry"]]
    tracts = tracts.sort_values("TRACTCE20").reset_index(drop=True)
    tracts["code"] = [f"310115{101 + i // 900:03d}{1 + i % 900:03d}" for i in range(len(tracts))]
    tracts["name"] = "Tract " + tracts["TRACTCE20"]
    tracts["urban_rural"] = "111"
    if minors:
        blocks["minors"] = (blocks["TOTPOP20"] - blocks["VAP20"]).astype(int)
    addresses = gpd.GeoDataFrame(
        blocks[["building", "households", "population", *(["minors"] if minors else [])]],
        geometry=blocks.geometry.representative_point(),
        crs=blocks.crs,
    )
    units = blocks[["building", "geometry"]]
    return addresses, tracts[["code", "name", "urban_rural", "geometry"]], units


def write_inputs(path, **layers: gpd.GeoDataFrame) -> None:
    """Write layers into one GeoPackage (fresh)."""
    import pyogrio

    if path.exists():
        path.unlink()
    for name, gdf in layers.items():
        pyogrio.write_dataframe(gdf, path, layer=name, append=path.exists())


__all__ = ["Town", "make_town", "denver", "write_inputs", "pd"]


def run_files(
    addresses: Any,
    boundaries: Any,
    *,
    units: Any = None,
    exclusive: Any = None,
    barriers: Any = (),
    previous: Any = None,
    progress: Any = None,
    **options: Any,
) -> GridResult:
    """Read input files and grid them through the public API, as ``gridmap partition`` does.

    Keywords other than the layers and `progress` are :class:`gridmap.Options` fields.
    """
    import gridmap

    layers = {"units": units, "exclusive": exclusive, "barriers": barriers or (), "previous": previous}
    return gridmap.grid_files(addresses, boundaries, **layers, options=gridmap.Options(**options), progress=progress)
