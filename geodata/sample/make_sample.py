"""Build the bundled sample (township.gpkg) from the real data in ../shared/data.

Run from the repository root:  python -m geodata.sample.make_sample ../shared/data
See README.md beside this file for what is real and what is derived.
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from sklearn.cluster import KMeans

SEED = 20231
OUT = Path(__file__).with_name("township.gpkg")
UTM = "EPSG:32651"
HH_PER_M2 = 1 / 110.0  # compound density: one household per 110 m² of compound land
BLOCK_SPACING = 38.0  # metres between synthetic apartment blocks


def main(data: Path) -> None:
    """Build the sample township from the shared OpenStreetMap extract in `data`."""
    rng = np.random.default_rng(SEED)
    osm = data / "cn_shanghai_lujiazui_osm" / "shanghai_lujiazui_osm.gpkg"
    lu = pyogrio.read_dataframe(osm, layer="landuse").to_crs(UTM)
    roads = pyogrio.read_dataframe(osm, layer="roads").to_crs(UTM)
    water = pyogrio.read_dataframe(osm, layer="water_areas").to_crs(UTM)
    blds = pyogrio.read_dataframe(osm, layer="buildings").to_crs(UTM)
    extent = pyogrio.read_dataframe(osm, layer="extent").to_crs(UTM).geometry.iloc[0]

    # 1. urban land: the Pudong bank (east of the Huangpu) of the OSM window, around the compounds
    river = shapely.union_all(water[water["kind"].isin(["water", "riverbank"])].geometry.values)
    land = shapely.difference(extent, river.buffer(1))
    res = lu[lu["kind"].eq("residential")].copy()
    window = gpd.GeoSeries([shapely.box(121.5005, 31.2262, 121.5197, 31.2436)], crs="EPSG:4326").to_crs(UTM).iloc[0]
    pieces = shapely.get_parts(shapely.intersection(land, window))
    urban = max(pieces, key=lambda g: g.area)
    urban = shapely.make_valid(shapely.simplify(urban, 2))
    if urban.geom_type != "Polygon":
        urban = max(shapely.get_parts(urban), key=lambda g: g.area)

    # 2. communities: road blocks (primary/secondary roads) clustered into 4 contiguous groups
    major = roads[roads["kind_detail"].isin(["primary", "secondary", "trunk"])]
    major_lines = shapely.intersection(major.geometry.values, urban)
    major_lines = major_lines[~shapely.is_empty(major_lines)]
    noded = shapely.node(shapely.union_all([urban.boundary, *major_lines]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.contains_properly(urban, shapely.point_on_surface(faces))]
    cen = shapely.get_coordinates(shapely.centroid(faces))
    res_c = res[res.intersects(urban)]
    rc = shapely.get_coordinates(shapely.centroid(res_c.geometry.values))
    km = KMeans(n_clusters=4, n_init=10, random_state=SEED).fit(rc, sample_weight=res_c.area.to_numpy())
    lab = km.predict(cen)
    comms = []
    for k in range(4):
        geom = shapely.union_all(faces[lab == k])
        comms.append(geom)
    rest = shapely.difference(urban, shapely.union_all(comms))
    for part in shapely.get_parts(rest):  # slivers go to the touching community
        j = int(np.argmax([shapely.length(shapely.intersection(part.boundary, c.boundary)) for c in comms]))
        comms[j] = shapely.union(comms[j], part)
    comms = [max(shapely.get_parts(c), key=lambda g: g.area) if c.geom_type != "Polygon" else c for c in comms]
    order = np.lexsort(
        (
            shapely.get_coordinates(shapely.centroid(comms))[:, 0],
            -shapely.get_coordinates(shapely.centroid(comms))[:, 1],
        )
    )
    names = [
        ("310115005039", "崂山二村居委会"),
        ("310115005045", "乳山二村居委会"),
        ("310115005035", "上港第一居委会"),
        ("310115005001", "梅园一村居委会"),
    ]
    urban_b = gpd.GeoDataFrame(
        {"code": [n[0] for n in names], "name": [n[1] for n in names], "urban_rural": "111", "kind": "community"},
        geometry=[comms[i] for i in order],
        crs=UTM,
    )

    # 3. households: synthetic apartment blocks on a grid inside every real compound polygon
    res = res[res.intersects(urban)].copy()
    res["geometry"] = res.geometry.intersection(urban)
    res = res[res.area > 500].reset_index(drop=True)
    res["compound"] = np.where(res["name"].notna(), res["name"], "小区" + res.index.astype(str))
    pts, attrs = [], []
    for _i, row in res.iterrows():
        g = row.geometry
        x0, y0, x1, y1 = g.bounds
        xs = np.arange(x0 + BLOCK_SPACING / 2, x1, BLOCK_SPACING)
        ys = np.arange(y0 + BLOCK_SPACING / 2, y1, BLOCK_SPACING)
        gx, gy = np.meshgrid(xs, ys)
        cand = shapely.points(gx.ravel(), gy.ravel())
        cand = cand[shapely.contains_properly(g.buffer(-8), cand)]
        if len(cand) == 0:
            cand = np.array([g.point_on_surface()])
        total = max(int(g.area * HH_PER_M2), 12 * len(cand))
        share = rng.dirichlet(np.full(len(cand), 8.0)) * total
        for j, (p, hh) in enumerate(zip(cand, share, strict=True)):
            n_entr = 2 if hh > 40 else 1  # a block has one or two entrances (单元), each an address
            for e in range(n_entr):
                q = shapely.Point(p.x + (e - (n_entr - 1) / 2) * 9.0, p.y)
                pts.append(q)
                attrs.append(
                    {
                        "building": f"{row['compound']}-{j + 1}号楼",
                        "compound": row["compound"],
                        "households": int(round(hh / n_entr)),
                    }
                )
    # real OSM buildings tagged residential/apartments outside compounds: footprint x floors / 90 m²
    rb = blds[blds["kind_detail"].isin(["apartments", "residential"]) & blds.intersects(urban)]
    rb = rb[~rb.intersects(shapely.union_all(res.geometry.values))]
    for _, b in rb.iterrows():
        floors = (b["height"] / 3.0) if pd.notna(b["height"]) and b["height"] > 0 else 6
        pts.append(b.geometry.representative_point())
        attrs.append(
            {
                "building": f"osm{int(b['osm_id'])}",
                "compound": None,
                "households": max(1, int(b.geometry.area * floors / 90)),
            }
        )
    urban_a = gpd.GeoDataFrame(attrs, geometry=pts, crs=UTM)
    urban_a["population"] = (urban_a["households"] * rng.uniform(2.3, 2.9, len(urban_a))).round().astype(int)

    # 4. exclusive areas: the real OSM school and hospital polygons in the urban part
    ex = lu[lu["kind"].isin(["school", "hospital"]) & lu.intersects(urban)].copy()
    ex["type"] = ex["kind"]
    ex["name"] = np.where(
        ex["name"].notna(),
        ex["name"],
        np.where(ex["kind"].eq("school"), "学校", "医院") + (ex.reset_index().index + 1).astype(str),
    )
    ex = ex[["name", "type", "geometry"]].reset_index(drop=True)

    # 5. rural part (synthetic geometry, real village codes and names): two villages east of town
    ux0, uy0, ux1, uy1 = urban.bounds
    w = 1500.0
    v1 = shapely.box(ux1 + 400, uy0, ux1 + 400 + w, (uy0 + uy1) / 2)
    v2 = shapely.box(ux1 + 400, (uy0 + uy1) / 2, ux1 + 400 + w, uy1)
    rural_b = gpd.GeoDataFrame(
        {
            "code": ["310115103269", "310115103273"],
            "name": ["七星村村委会", "连民村村委会"],
            "urban_rural": "220",
            "kind": "village",
        },
        geometry=[v1, v2],
        crs=UTM,
    )
    rpts, rattrs = [], []
    for v, poly in zip(rural_b["code"], rural_b.geometry, strict=True):
        x0, y0, x1, y1 = poly.bounds
        groups = 6
        gx, gy = np.meshgrid(np.linspace(x0 + 250, x1 - 250, 3), np.linspace(y1 - 180, y0 + 180, 2))
        centres = np.column_stack([gx.ravel(), gy.ravel()]) + rng.normal(0, 40, size=(groups, 2))
        for gi, c in enumerate(centres):
            n = int(rng.integers(25, 45))
            xy = c + rng.normal(0, 45, size=(n, 2))
            for k, (x, y) in enumerate(xy):
                p = shapely.Point(x, y)
                if not poly.contains(p):
                    continue
                rpts.append(p)
                rattrs.append(
                    {
                        "group": f"第{gi + 1}村民小组",
                        "building": f"{v[-3:]}-{gi + 1}-{k + 1}",
                        "households": int(rng.integers(1, 3)),
                    }
                )
    rural_a = gpd.GeoDataFrame(rattrs, geometry=rpts, crs=UTM)
    rural_a["population"] = (rural_a["households"] * rng.uniform(2.5, 3.6, len(rural_a))).round().astype(int)
    rural_a["compound"] = None

    # a stream through the villages as a barrier, and the major roads
    stream = shapely.LineString([(ux1 + 400 + w * 0.55, uy0 - 10), (ux1 + 400 + w * 0.45, uy1 + 10)])
    bar = gpd.GeoDataFrame(
        {"kind": ["road"] * len(major_lines) + ["stream"], "name": [None] * len(major_lines) + ["synthetic stream"]},
        geometry=[*major_lines, stream],
        crs=UTM,
    )
    boundaries = pd.concat([urban_b, rural_b], ignore_index=True)
    addresses = pd.concat([urban_a, rural_a], ignore_index=True)
    addresses["address"] = [f"addr-{i + 1:05d}" for i in range(len(addresses))]
    addresses = addresses[["address", "households", "population", "group", "building", "compound", "geometry"]]
    if OUT.exists():
        OUT.unlink()
    for name, layer in (("addresses", addresses), ("boundaries", boundaries), ("exclusive", ex), ("barriers", bar)):
        layer = gpd.GeoDataFrame(layer, crs=UTM).to_crs("EPSG:4490")  # CGCS2000, as Chinese GIS data is
        layer.geometry = shapely.set_precision(layer.geometry.values, 1e-7)
        pyogrio.write_dataframe(layer, OUT, layer=name, append=OUT.exists())
    print(
        f"wrote {OUT}: {len(addresses)} addresses, {addresses['households'].sum()} households, {len(boundaries)} "
        f"villages/communities, {len(ex)} exclusive areas"
    )
    for code, grp in addresses.assign(
        c=gpd.sjoin(gpd.GeoDataFrame(addresses, crs=UTM), boundaries[["code", "geometry"]], predicate="within")["code"]
    ).groupby("c"):
        print(code, int(grp["households"].sum()))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
