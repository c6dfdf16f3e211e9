"""Maps of a run: the interactive map (a folium.Map, saved as map.html, offline by default) and a static PNG."""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.bulk import in_threads
from geodata.crs import is_mercator, utm_crs, wgs84_to_china
from geodata.errors import OptionError
from gridmap.basemaps import BASEMAPS, TILE_CRS, auto_basemap, display_datum, tile_layers
from gridmap.catalog import FLAGS, STATUS, note_pairs
from gridmap.colors import (  # noqa: F401 (colours re-exported: the map's are these)
    EXCLUSIVE_COLOR,
    GROUP_COLOR,
    SINGLE_COLOR,
    STATUS_COLORS,
    band_ends,
    status_colors,
    status_legend,
)
from gridmap.fields import GRID_TYPES, GRID_TYPES_EN, RULES

if TYPE_CHECKING:
    import folium

    from gridmap.result import GridResult
    from partition.values import Limit

__all__ = ["BASEMAPS", "COLORINGS", "LANGS", "TILE_CRS", "build_map", "save_map", "write_map", "write_static_map"]

LANGS = ("zh", "en")
CHORO_COLORS = ("#4575b4", "#91bfdb", "#e0f3f8", "#fee090", "#fc8d59", "#d73027")
"""ColorBrewer RdYlBu (6 classes, reversed): below the band blue, above it red; neighbouring classes
differ by at least ΔE76 24 (the former YlOrRd scale had 20 between 301–400 and 401–500)."""
DISTINCT_COLORS = (
    "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462",
    "#b3de69", "#fccde5", "#bc80bd", "#ccebc5", "#ffed6f", "#d9d9d9",
)  # fmt: skip
"""ColorBrewer Set3 (qualitative): the colour-per-grid layer."""
COLORINGS = ("status", "distinct", "households")
ZOOM = {"village_min": 12, "village_max": 16, "seq": 14, "full": 17, "addresses": 16, "max_address_markers": 3000}
"""Label and marker zoom levels: village names 12–16, grid sequence from 14, full grid code from 17,
address markers (one per address, in view) from 16."""
MAX_ADDRESSES = 200_000
UI: dict[str, tuple[str, str]] = {
    "village": ("村/社区", "village/community"),
    "type": ("网格类型", "grid type"),
    "rule": ("划分规则", "rule"),
    "households": ("户数", "households"),
    "population": ("人口", "population"),
    "area": ("面积", "area"),
    "compactness": ("紧凑度", "compactness"),
    "status": ("状态", "status"),
    "flag": ("标记原因", "flag reason"),
    "note": ("说明", "note"),
    "note_other": ("", ""),
    "building": ("楼栋", "building"),
    "group": ("村民小组", "village group"),
    "grid_code": ("网格编码", "grid code"),
    "layer_status": ("网格·工作量状态", "grids by workload status"),
    "layer_choro": ("户数分级", "households per grid"),
    "layer_villages": ("村/社区边界", "village/community boundaries"),
    "layer_village_names": ("村/社区名称", "village/community names"),
    "layer_codes": ("网格编码标注", "grid code labels"),
    "layer_addresses": ("地址", "addresses"),
    "layer_outside": ("边界外的地址", "addresses outside every boundary"),
    "outside_note": (
        "该地址不在任何村/社区边界内，未划入网格",
        "this address lies outside every village/community boundary and is in no grid",
    ),
    "address": ("地址", "address"),
    "legend": ("图例", "legend"),
    "legend_status": ("网格状态", "grid status"),
    "legend_choro": ("户数 (每格)", "households per grid"),
    "layer_measure": ("指标分级：", "per grid: "),
    "limit": ("限值", "limit"),
    "zoom_for_addresses": ("放大到街道级别显示地址", "zoom in to street level to see addresses"),
    "search": ("搜索：村/社区名 + 网格序号、网格编码", "search: village + grid number, or grid code"),
    "no_results": ("没有找到", "no results"),
    "layer_distinct": ("网格·分色", "grids, one colour each"),
    "layer_barriers": ("道路、河流（输入的界线）", "roads and rivers (input barriers)"),
    "layer_exclusive": ("专属区域（输入）", "exclusive areas (input)"),
    "offline": (
        "底图无法加载（离线或内网无瓦片服务）：显示输入中的边界、道路河流和专属区域",
        "base map tiles cannot load (offline or no tile server): showing boundaries, roads, rivers "
        "and exclusive areas from the inputs",
    ),
    "walk_m": ("最远步行距离", "farthest walk"),
    "worker": ("网格员", "worker"),
    "load": ("工作量(单位能力)", "load per capacity"),
    "grids": ("网格数", "grids"),
    "layer_walks": ("步行路线（服务点→最远户）", "walks (service point → farthest household)"),
    "layer_workers": ("网格员责任区", "worker areas"),
    "no_basemap": (
        "未使用底图：显示输入中的边界、道路河流和专属区域",
        "no base map: showing boundaries, roads, rivers and exclusive areas from the inputs",
    ),
}
"""Labels of the page, (Chinese, English); `--lang` picks which comes first."""


def _display(gdf: gpd.GeoDataFrame, *, datum: str, tolerance_m: float, threads: int = 1) -> gpd.GeoDataFrame:
    """WGS 84 (or GCJ-02 for a GCJ-02 base map) copy, simplified without opening gaps between neighbours."""
    if len(gdf) == 0:
        return gdf.to_crs("EPSG:4326")
    if tolerance_m > 0 and gdf.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        geoms = _coverage_simplify(gdf.geometry.values, tolerance_m, threads=threads)
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    out = _datum(gdf, datum)
    # rounding to ~0.1 m shrinks the page; pointwise, as display needs no topology repair
    out.geometry = shapely.set_precision(out.geometry.values, 1e-6, mode="pointwise")
    return out


EARTH_RADIUS_M = 6_371_008.8


def _coverage_simplify(geoms: Any, tolerance_m: float, *, threads: int = 1) -> np.ndarray:
    """Simplify polygons as one coverage (no gaps open between neighbours) with a tolerance in metres.

    Longitude/latitude are simplified in a sinusoidal frame centred on the data: equal-area, as
    the simplification weighs the area a vertex spans, and computed with numpy both ways (UTM
    through PROJ took four times as long on the city's grids). A CRS in metres is used as it is
    (Mercator excepted: its scale grows with latitude); others go through their UTM zone.
    Groups of polygons whose bounding boxes never meet are simplified one by one: the result is the
    same (a vertex is kept or dropped by what lies within its polygon's box), and GEOS's time grows
    faster than the number of vertices (the city's four counties: 0.48 s apart, 0.82 s at once),
    and GEOS simplifies them without Python's lock: `threads` groups at a time (0.55 -> 0.28 s on two).
    """
    crs = geoms.crs
    unit = crs.axis_info[0].unit_name if crs is not None and crs.axis_info else ""
    if crs is not None and crs.is_geographic and unit == "degree":
        lon0 = float(np.nanmean(shapely.total_bounds(geoms)[[0, 2]]))
        k = np.pi / 180 * EARTH_RADIUS_M

        def forward(xy: np.ndarray) -> np.ndarray:
            return np.column_stack([(xy[:, 0] - lon0) * k * np.cos(np.radians(xy[:, 1])), xy[:, 1] * k])

        def back(xy: np.ndarray) -> np.ndarray:
            lat = xy[:, 1] / k
            return np.column_stack([lon0 + xy[:, 0] / (k * np.cos(np.radians(lat))), lat])

        return shapely.transform(_simplify_apart(shapely.transform(geoms, forward), tolerance_m, threads=threads), back)
    if crs is not None and crs.is_projected and unit in ("metre", "meter") and not is_mercator(crs):
        return _simplify_apart(np.asarray(geoms), tolerance_m, threads=threads)
    metric = geoms.to_crs(utm_crs(geoms))
    simplified = _simplify_apart(np.asarray(metric), tolerance_m, threads=threads)
    return gpd.GeoSeries(simplified, crs=metric.crs).to_crs(crs).values


def _simplify_apart(geoms: np.ndarray, tolerance: float, *, threads: int = 1) -> np.ndarray:
    """Coverage-simplify each group of polygons whose bounding boxes chain together on its own, `threads` at a time."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a, b = shapely.STRtree(geoms).query(geoms)
    n, group = connected_components(coo_matrix((np.ones(len(a), bool), (a, b)), shape=(len(geoms),) * 2))
    groups = np.split(np.argsort(group, kind="stable"), np.cumsum(np.bincount(group, minlength=n))[:-1])

    def simplify(idx: np.ndarray) -> np.ndarray:
        return shapely.coverage_simplify(geoms[idx], tolerance)

    out = np.empty(len(geoms), dtype=object)
    for idx, part in zip(groups, in_threads(simplify, groups, threads=threads), strict=True):
        out[idx] = part
    return out


def _datum(gdf: gpd.GeoDataFrame, datum: str) -> gpd.GeoDataFrame:
    """WGS 84 longitude/latitude, shifted to GCJ-02 when the base map is."""
    out = gdf.to_crs("EPSG:4326")
    return wgs84_to_china(out, target="gcj02") if datum == "gcj02" else out


def choropleth_breaks(households: np.ndarray, *, lo: float, hi: float) -> np.ndarray:
    """Upper class breaks of the households choropleth: around the band, widened to the data."""
    top = float(households.max()) if len(households) else hi
    breaks = np.array([lo / 2, lo, (lo + hi) / 2, hi, hi * 1.5], dtype=float)
    return np.append(breaks, max(top, breaks[-1] + 1))


def _choropleth(grids: pd.DataFrame) -> tuple[np.ndarray, list[dict]]:
    hh = grids["households"].to_numpy(float)
    lo, hi = band_ends(grids)
    breaks = choropleth_breaks(hh, lo=lo, hi=hi)
    cls = np.searchsorted(breaks[:-1], hh, side="left")
    colors = np.asarray(CHORO_COLORS)[cls]
    lower = np.concatenate([[0], np.floor(breaks[:-1]) + 1])
    legend = [
        {"color": c, "label": f"{int(a):,}–{int(b):,}" if i < len(breaks) - 1 else f"≥ {int(a):,}"}
        for i, (c, a, b) in enumerate(zip(CHORO_COLORS, lower, np.floor(breaks), strict=True))
    ]
    return colors, legend


def measure_breaks(values: np.ndarray, limit: Limit | None) -> np.ndarray:
    """Upper class breaks of a measure's choropleth: around its limit when it has one, else sextiles of the data."""
    top = float(values.max()) if len(values) else 1.0
    if limit is not None:
        end = float(limit.max if limit.max is not None else (limit.min or 0.0))
        breaks = np.array([end / 2, end * 0.8, end, end * 1.25, end * 1.5])
    else:
        breaks = np.unique(np.quantile(values, [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6])) if len(values) else np.ones(1)
    return np.append(breaks, max(top, breaks[-1] + 1))


def _measure_choropleths(grids: pd.DataFrame, measures: dict[str, Limit | None]) -> tuple[list[list[str]], list[dict]]:
    """Colour of every grid per measure, and one legend per measure (``name``, ``rows``)."""
    colors, legends = [], []
    for name, limit in measures.items():
        v = grids[name].fillna(0).to_numpy(float)
        breaks = measure_breaks(v, limit)
        palette = np.asarray(CHORO_COLORS)[np.linspace(0, len(CHORO_COLORS) - 1, len(breaks)).round().astype(int)]
        colors.append(palette[np.searchsorted(breaks[:-1], v, side="left")].tolist())
        lower = np.concatenate([[0.0], breaks[:-1]])
        rows = [
            {"color": str(c), "label": f"{a:,.0f}–{b:,.0f}" if i < len(breaks) - 1 else f"> {a:,.0f}"}
            for i, (c, a, b) in enumerate(zip(palette, lower, breaks, strict=True))
        ]
        legends.append({"name": name, "limit": None if limit is None else str(limit), "rows": rows})
    return colors, legends


def _none(values: Any) -> list:
    """Return the numbers as floats, None (JSON null) where missing."""
    values = np.asarray(values, dtype=float)
    out = values.tolist()
    for i in np.flatnonzero(np.isnan(values)):
        out[i] = None
    return out


def _text(s: pd.Series) -> list:
    """Return the values as text, None (JSON null) where missing."""
    out = s.astype(str).tolist()
    for i in np.flatnonzero(s.isna().to_numpy()):
        out[i] = None
    return out


def _grid_properties(disp: gpd.GeoDataFrame) -> pd.DataFrame:
    """Properties of the grids on the map, one row each, short names; every user text stays a string."""
    n = len(disp)
    col = lambda c, default=None: disp[c] if c in disp else pd.Series([default] * n, index=disp.index)  # noqa: E731
    status = col("status", "ok").astype(str)
    flag = col("flag", "").fillna("").astype(str)
    gtype = col("grid_type", "base").fillna("base").astype(str)
    rule = col("rule", "household_band").fillna("").astype(str)
    lp = shapely.point_on_surface(disp.geometry.values)
    lat, lon = np.round(shapely.get_y(lp), 6), np.round(shapely.get_x(lp), 6)
    hh = col("households", 0).fillna(0).to_numpy(float)
    pop = col("population").to_numpy(float) if "population" in disp else np.full(n, np.nan)
    area = col("area_m2").to_numpy(float) if "area_m2" in disp else np.full(n, np.nan)
    comp = col("compactness").to_numpy(float) if "compactness" in disp else np.full(n, np.nan)
    choro, _ = _choropleth(disp)
    props = pd.DataFrame(
        {
            "c": _text(disp["grid_code"]),
            "v": _text(col("village_code", "")),
            "vn": _text(col("village_name", "")),
            "t": list(gtype),
            "r": list(rule),
            "s": list(status),
            "f": list(flag),
            "h": np.rint(hh).astype(int).tolist(),
            "p": _none(np.round(pop, 0)),
            "a": _none(np.round(area, 1)),
            "k": _none(np.round(comp, 3)),
            "wm": _none(np.round(col("walk_m").to_numpy(float), 0)) if "walk_m" in disp else [None] * n,
            "sc": list(status_colors(disp)),
            "cc": list(choro),
        },
        dtype=object,
    )
    props["tl"] = [[GRID_TYPES.get(t, t), GRID_TYPES_EN.get(t, t)] for t in gtype]
    props["rl"] = [list(RULES.get(r, (r, r))) for r in rule]
    props["sl"] = [list(STATUS.get(s, (s, s))) for s in status]
    props["fl"] = [list(FLAGS[f]) if f in FLAGS else ([f, f] if f else None) for f in flag]
    props["n"] = [[zh, en] if zh or en else None for zh, en in note_pairs(disp)]
    props["lp"] = [None if np.isnan(y) or np.isnan(x) else [float(y), float(x)] for y, x in zip(lat, lon, strict=True)]
    return props


class _Json(str):
    """JSON text safe inside the page's ``<script type="application/json">`` element (no ``<``, ``>``, ``&``)."""

    __slots__ = ()


def _safe(text: str) -> _Json:
    """Return JSON text with ``<``, ``>`` and ``&`` as unicode escapes: no user text can close the script element."""
    return _Json(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))


def _script_json(value: Any) -> _Json:
    """Return `value` as JSON safe inside the page's script element (escaped here, so every piece on its own)."""
    if isinstance(value, _Json):
        return value
    return _safe(json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False))


def _features(geoms: np.ndarray, properties: list[dict]) -> _Json:
    """Return a GeoJSON FeatureCollection: each geometry written by GEOS, each feature's properties by ``json``.

    The geometries carry numbers only; every user text is in `properties`, a JSON string. Missing
    and empty geometries are ``null``, as geopandas writes them.
    """
    geoms = np.array(geoms, dtype=object)
    geoms[shapely.is_empty(geoms)] = None
    text = shapely.to_geojson(geoms)
    features = ",".join(
        f'{{"type":"Feature","properties":{_script_json(p)},"geometry":{_safe(g) if g else "null"}}}'
        for p, g in zip(properties, text, strict=True)
    )
    return _Json(f'{{"type":"FeatureCollection","features":[{features}]}}')


def _village_features(bnd: gpd.GeoDataFrame) -> _Json:
    lp = shapely.point_on_surface(bnd.geometry.values) if len(bnd) else np.array([])
    codes = _text(bnd["code"]) if "code" in bnd else [""] * len(bnd)
    names = _text(bnd["name"]) if "name" in bnd else [""] * len(bnd)
    props = [
        {"code": c or "", "name": nm or "", "lp": None if np.isnan(y) or np.isnan(x) else [round(y, 6), round(x, 6)]}
        for c, nm, y, x in zip(codes, names, shapely.get_y(lp).tolist(), shapely.get_x(lp).tolist(), strict=True)
    ]
    return _features(bnd.geometry.values, props)


def _addresses(result: GridResult, datum: str) -> dict | _Json:
    addr = result.addresses
    if addr is None or not len(addr):
        return {"lat": [], "lon": [], "h": [], "b": [], "gr": [], "g": []}
    addr = addr[[c for c in ("households", "building", "group", "grid_code") if c in addr] + [addr.geometry.name]]
    if len(addr) > MAX_ADDRESSES:  # the sample first: the city's 1.14M addresses converted whole took 300 MiB
        addr = addr.iloc[np.linspace(0, len(addr) - 1, MAX_ADDRESSES).astype(int)]
    a = _datum(addr, datum)

    def txt(c):
        return _text(a[c]) if c in a else [None] * len(a)

    hh = a["households"].to_numpy(float) if "households" in a else np.full(len(a), np.nan)
    return _json_for_script(
        {
            "lat": _numbers(np.round(shapely.get_y(a.geometry.values), 6)),
            "lon": _numbers(np.round(shapely.get_x(a.geometry.values), 6)),
            "h": _numbers(np.round(hh, 0)),
            "b": txt("building"),
            "gr": txt("group"),
            "g": txt("grid_code"),
        }
    )


def _numbers(values: np.ndarray) -> _Json:
    """Return a JSON array of the numbers, null where missing, written by Arrow in C.

    The same shortest text that reads back the same number as ``json`` writes (``json`` took 0.1 s
    for the city's 200,000 latitudes), except that whole numbers lose their ``.0``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if np.isinf(values).any():  # Arrow would write 'inf', which is no JSON: json refuses them, as it did
        return _script_json(values.tolist())
    text = pc.fill_null(pa.array(values, from_pandas=True).cast(pa.string()), "null")
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(text)], pa.int32()), text), ",")[0]
    return _safe(f"[{joined.as_py()}]")  # digits only; escaped all the same, as every piece


def _outside(result: GridResult, datum: str) -> dict:
    """Addresses outside every boundary (from the violations layer), for their own map layer."""
    v = result.violations
    if v is None or not len(v) or "kind" not in v:
        return {"lat": [], "lon": [], "ref": []}
    v = v[v["kind"].eq("address_outside_boundaries") & v.geometry.notna() & v.geom_type.eq("Point")]
    if not len(v):
        return {"lat": [], "lon": [], "ref": []}
    v = _datum(v, datum)
    return {
        "lat": np.round(shapely.get_y(v.geometry.values), 6).tolist(),
        "lon": np.round(shapely.get_x(v.geometry.values), 6).tolist(),
        "ref": _text(v["ref"]),
    }


def _json_for_script(data: dict) -> _Json:
    """JSON that is safe inside a ``<script type="application/json">`` element (no ``<``, ``>``, ``&``).

    Escaped piece by piece (:func:`_script_json`): most pieces are ASCII (coordinates, codes), which
    Python searches far faster than the whole page with its Chinese text.
    """
    return _Json("".join(_json_pieces(data)))


def _json_pieces(data: dict) -> list[str]:
    """Return the pieces of :func:`_json_for_script`'s text, to be joined once (the map's data: tens of megabytes)."""
    pieces = ["{"]
    for k, v in data.items():
        pieces += [_script_json(k), ":", _script_json(v), ","]
    pieces[-1] = "}" if len(pieces) > 1 else "{}"
    return pieces


def _asset(name: str) -> str:
    return resources.files("gridmap").joinpath("templates", name).read_text(encoding="utf-8")


def _text_element(text: str):
    """Return a folium/branca element that renders to `text` itself: never parsed as a template."""
    from branca.element import Element

    class _Text(Element):
        def render(self, **kwargs: Any) -> str:
            return text

    return _Text()


def _page_layers(data: dict):
    """Return the element that draws the run on its folium map: data as JSON text, then ``map.js`` on the map."""
    from branca.element import MacroElement

    class GridmapLayers(MacroElement):
        """Grids, villages, context layers, labels, search and legend of a gridmap run (see ``map.js``)."""

        def render(self, **kwargs: Any) -> str:
            fig: Any = self.get_root()
            parent: Any = self._parent
            json_tag = "".join(["<script type='application/json' id='gridmap-data'>", *_json_pieces(data), "</script>"])
            fig.html.add_child(_text_element(json_tag), name="gridmap_data")
            js = _asset("map.js").replace("</script", "<\\/script")
            call = f"\n{js}\ngridmapPage({parent.get_name()});\n"
            fig.script.add_child(_text_element(call), name=self.get_name())
            return ""

    layers = GridmapLayers()
    layers._name = "GridmapLayers"
    return layers


def _context_features(result: GridResult, datum: str, tolerance_m: float) -> dict | _Json:
    """GeoJSON of the inputs drawn under the grids: barrier lines and exclusive areas (kind, name)."""
    ctx = result.context
    if ctx is None or not len(ctx):
        return {"type": "FeatureCollection", "features": []}
    disp = _display(ctx[["kind", "name", "geometry"]], datum=datum, tolerance_m=0)
    props = [
        {"k": kind or "", "n": name or ""} for kind, name in zip(_text(disp["kind"]), _text(disp["name"]), strict=True)
    ]
    return _features(disp.geometry.values, props)


def _walk_features(result: GridResult, datum: str) -> dict | _Json:
    """GeoJSON of the walks (one line per grid: service point → farthest household) with code and metres."""
    walks = result.walks
    if walks is None or not len(walks):
        return {"type": "FeatureCollection", "features": []}
    disp = _display(walks[["grid_code", "walk_m", "geometry"]], datum=datum, tolerance_m=0)
    props = [
        {"c": code or "", "m": metres}
        for code, metres in zip(_text(disp["grid_code"]), _none(disp["walk_m"].to_numpy(float)), strict=True)
    ]
    return _features(disp.geometry.values, props)


def _worker_features(result: GridResult, datum: str) -> dict | _Json:
    """GeoJSON of the worker areas: name, township, grids, households and load per capacity (names stay text)."""
    workers = result.workers
    if workers is None or not len(workers):
        return {"type": "FeatureCollection", "features": []}
    disp = _display(workers, datum=datum, tolerance_m=0)  # dissolved areas are no coverage of their own
    hh = disp["households"].to_numpy(float) if "households" in disp else np.full(len(disp), np.nan)
    props = [
        {"w": name or "", "t": town or "", "n": int(grids), "h": h, "l": load}
        for name, town, grids, h, load in zip(
            _text(disp["worker"]),
            _text(disp["township"]),
            disp["grids"].to_numpy(int),
            _none(hh),
            _none(disp["load_per_capacity"].to_numpy(float)),
            strict=True,
        )
    ]
    return _features(disp.geometry.values, props)


def _inline_tiles(layers: list, bounds: tuple[float, float, float, float]) -> dict:
    """Tiles of a local MBTiles base map over the page (a fifth of its size around it), carried in the page."""
    from gridmap.basemaps import mbtiles_tiles

    minx, miny, maxx, maxy = bounds
    w, h = (maxx - minx) * 0.2, (maxy - miny) * 0.2
    out: dict = {}
    for layer in layers:
        if layer.local:
            out.update(mbtiles_tiles(layer.url, (minx - w, miny - h, maxx + w, maxy + h)))
    return out


def distinct_colors(grids: gpd.GeoDataFrame) -> np.ndarray:
    """Return one ColorBrewer Set3 colour per grid, different from every grid it touches.

    Greedy colouring of the touch graph, largest degree first (a map of grids needs 4–6 colours).
    """
    import networkx as nx

    geoms = np.asarray(grids.geometry.values)
    left, right = shapely.STRtree(geoms).query(geoms)
    left, right = left[left < right], right[left < right]  # each pair tested once, not both ways and with itself
    touch = shapely.intersects(geoms[left], geoms[right])
    graph = nx.Graph()
    graph.add_nodes_from(range(len(geoms)))
    graph.add_edges_from(zip(left[touch].tolist(), right[touch].tolist(), strict=True))
    colour = nx.greedy_color(graph, strategy="largest_first")
    return np.asarray(DISTINCT_COLORS)[[colour[i] % len(DISTINCT_COLORS) for i in range(len(geoms))]]


def build_map(
    result: GridResult,
    *,
    basemap: str = "auto",
    tiles: str | None = None,
    tiles_crs: str = "wgs84",
    tiles_attribution: str = "",
    tianditu_key: str | None = None,
    colors: str = "status",
    tolerance_m: float = 1.0,
    lang: str = "zh",
    cdn: bool = False,
    threads: int = 1,
) -> folium.Map:
    """Build the interactive map of a run as a :class:`folium.Map`.

    Add layers and plugins to it as to any folium map (``result.addresses.explore(m=m)``), show it
    in Jupyter, or save it with :func:`write_map`. Leaflet is inlined from the copy installed with
    gridmap (folium's CDN links are replaced), so the page needs no network except for tiles.

    Parameters
    ----------
    result
        The run.
    basemap
        ``auto`` (default: in China 天地图 when a key is configured, else Gaode; OpenStreetMap
        elsewhere, see :func:`gridmap.basemaps.auto_basemap`), ``osm``, ``gaode`` (roads and
        satellite, GCJ-02: the grids are shifted for display), ``tianditu`` (vector and imagery with
        annotation; needs a key) or ``none``.
    tiles, tiles_crs, tiles_attribution
        An office's own XYZ/WMTS tile template instead of `basemap`, its datum (``wgs84``,
        ``cgcs2000`` or ``gcj02``) and attribution (see :func:`gridmap.basemaps.custom_tiles`).
    tianditu_key
        天地图 key (else ``TIANDITU_KEY`` or the config file); it is written into the page, and a
        warning says so.
    colors
        Grid layer shown first: ``status`` (workload status), ``distinct`` (a colour per grid,
        neighbours different) or ``households`` (choropleth). All three are in the layer control.
    tolerance_m
        Display simplification in metres (topology-preserving; 0 keeps every vertex).
    lang
        ``zh`` (default) shows Chinese first, ``en`` English first; labels are always bilingual.
    cdn
        Link Leaflet from jsDelivr (with integrity hashes) instead of inlining the installed copy.
    threads
        Simplify that many separate groups of grids at once (a run with several workers: its cores).

    Returns
    -------
    m
        The map. User text travels only as JSON data (never through folium's templates) and is
        inserted with ``textContent``.

    Raises
    ------
    OptionError
        For an unknown base map, language or colouring, a bad tile template, or 天地图 without a key.
    """
    import folium

    from gridmap.offline import head_tags

    if lang not in LANGS:
        msg = f"`lang` should be one of {', '.join(LANGS)}, got '{lang}'."
        raise OptionError(msg)
    if colors not in COLORINGS:
        msg = f"`colors` should be one of {', '.join(COLORINGS)}, got '{colors}'."
        raise OptionError(msg)
    if basemap == "auto" and not tiles:
        where = (result.grids if len(result.grids) else result.boundaries).to_crs(4326).total_bounds
        lon, lat = (where[0] + where[2]) / 2, (where[1] + where[3]) / 2
        basemap = auto_basemap(lon, lat, tianditu=tianditu_key) if np.isfinite([lon, lat]).all() else "osm"
    layers = tile_layers(
        basemap, tiles=tiles, tiles_crs=tiles_crs, tiles_attribution=tiles_attribution, tianditu=tianditu_key
    )
    datum = display_datum(layers)
    disp = _display(result.grids, datum=datum, tolerance_m=tolerance_m, threads=threads)
    bnd_cols = [c for c in ("code", "name") if c in result.boundaries]
    bnd = _display(result.boundaries[[*bnd_cols, "geometry"]], datum=datum, tolerance_m=tolerance_m, threads=threads)
    minx, miny, maxx, maxy = disp.total_bounds if len(disp) else bnd.total_bounds
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        minx, miny, maxx, maxy = 73.0, 18.0, 135.0, 54.0
    outside = _outside(result, datum)
    if outside["lat"]:  # nearby addresses outside every boundary are in the first view (far-off ones are not)
        w, h = maxx - minx, maxy - miny
        ox, oy = np.asarray(outside["lon"]), np.asarray(outside["lat"])
        near = (ox > minx - w) & (ox < maxx + w) & (oy > miny - h) & (oy < maxy + h)
        if near.any():
            minx, maxx = min(minx, ox[near].min()), max(maxx, ox[near].max())
            miny, maxy = min(miny, oy[near].min()), max(maxy, oy[near].max())
    props = _grid_properties(disp)
    if result.worker_grids is not None:
        by_grid = dict(zip(result.worker_grids["grid_code"], result.worker_grids["worker"], strict=True))
        props["wk"] = [by_grid.get(c) for c in props["c"]]
    props["dc"] = distinct_colors(result.grids).tolist() if len(disp) else []
    order = np.argsort(-props["h"].to_numpy(int), kind="stable")
    _, choro_legend = _choropleth(disp) if len(disp) else (None, [])
    measures = result.measures() if len(disp) else {}
    measure_colors, measure_legends = _measure_choropleths(disp, measures)
    props["mc"] = [list(c) for c in zip(*measure_colors, strict=True)] if measures else [[]] * len(disp)
    values = np.round(disp[list(measures)].to_numpy(float), 2) if measures else np.empty((len(disp), 0))
    props["mv"] = [_none(v) for v in values]
    grids = _features(disp.geometry.values, props.to_dict("records"))
    data = {
        "lang": lang,
        "ui": {k: list(v) for k, v in UI.items()},
        "tiles": [layer.as_json() for layer in layers],
        "inline_tiles": _inline_tiles(layers, (minx, miny, maxx, maxy)),
        "datum": datum,
        "colors": colors,
        "grids": grids,
        "order": order.tolist(),
        "villages": _village_features(bnd),
        "context": _context_features(result, datum, tolerance_m),
        "addresses": _addresses(result, datum),
        "walks": _walk_features(result, datum),
        "workers": _worker_features(result, datum),
        "outside": outside,
        "legend": {"status": status_legend(result.grids), "choro": choro_legend, "measures": measure_legends},
        "zoom": ZOOM,
        "bounds": [[float(miny), float(minx)], [float(maxy), float(maxx)]],
    }
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=13, tiles=None)
    # folium links Leaflet, jQuery, Bootstrap and Font Awesome from CDNs: the page inlines Leaflet instead
    m.default_js, m.default_css = [], []
    fig: Any = m.get_root()
    title = f"gridmap · {result.manifest.get('name', '')} · 网格地图 grid map"
    fig.header.add_child(_text_element(f"<title>{html.escape(title)}</title>"), name="gridmap_title")
    fig.header.add_child(_text_element(head_tags(cdn=cdn)), name="gridmap_assets")
    fig.header.add_child(_text_element(f"<style>{_asset('map.css')}</style>"), name="gridmap_css")
    m.add_child(_page_layers(data), name="gridmap")
    return m


def write_map(result: GridResult, path, **kwargs: Any) -> None:
    """Build the interactive map (:func:`build_map` options) and save it as one HTML file, atomically.

    By default Leaflet is inlined from the copy installed with gridmap, so the page needs no
    internet except for base-map tiles; ``cdn=True`` links it online instead.
    """
    save_map(build_map(result, **kwargs), path)


def save_map(m: folium.Map, path) -> None:
    """Save a folium map (e.g. :func:`build_map`'s, with your layers added) as one HTML file, atomically."""
    from geodata.io import write_text

    write_text(path, m.get_root().render())


def write_static_map(result: GridResult, path, *, dpi: int = 150) -> None:
    """Save ``map.png``: the A4 landscape print layout (:func:`gridmap.printmap.write_print`) at `dpi`.

    Raises
    ------
    DependencyError
        When no CJK font is installed (the Chinese names would be lost): the message names the package.
    """
    from gridmap.printmap import write_print

    write_print(result, path, paper="A4", orientation="landscape", dpi=dpi)
