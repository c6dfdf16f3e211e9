"""Maps of a run: the interactive map page (map.html, Leaflet, offline by default) and a static PNG."""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.crs import wgs84_to_china
from geodata.errors import GridmapError
from gridmap.catalog import FLAGS, STATUS, note_pairs
from gridmap.fields import GRID_TYPES, GRID_TYPES_EN, RULES
from partition.values import DEFAULT_BAND

if TYPE_CHECKING:
    from gridmap.result import GridResult

BASEMAPS = ("osm", "gaode", "tianditu")
"""Basemaps of the interactive map. Gaode tiles are GCJ-02: the display copy is shifted to match."""

LANGS = ("zh", "en")
STATUS_COLORS = {"ok": "#54a24b", "under_min": "#4c9bd6", "over_max": "#e45756", "enclave": "#b279a2"}
GROUP_COLOR = "#72b7b2"
"""Village-group (rural) grids: one per 村民小组, no household band, so not coloured as 'in band'."""
SINGLE_COLOR = "#bab0ac"
EXCLUSIVE_COLOR = "#f58518"
CHORO_COLORS = ("#ffffcc", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026")
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
    "zoom_for_addresses": ("放大到街道级别显示地址", "zoom in to street level to see addresses"),
    "search": ("搜索网格编码或村/社区", "search grid code or village"),
}
"""Labels of the page, (Chinese, English); `--lang` picks which comes first."""


class MapError(GridmapError, ValueError):
    """A map option is not usable (unknown basemap or language, Tianditu without a key)."""


def _display(gdf: gpd.GeoDataFrame, *, basemap: str, tolerance_m: float) -> gpd.GeoDataFrame:
    """WGS 84 (or GCJ-02 for Gaode) copy, simplified without opening gaps between neighbours."""
    if len(gdf) == 0:
        return gdf.to_crs("EPSG:4326")
    if tolerance_m > 0 and gdf.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        metric = gdf.to_crs(gdf.estimate_utm_crs())
        geoms = shapely.coverage_simplify(metric.geometry.values, tolerance_m)
        gdf = metric.set_geometry(gpd.GeoSeries(geoms, index=metric.index, crs=metric.crs))
    out = gdf.to_crs("EPSG:4326")
    if basemap == "gaode":
        out = wgs84_to_china(out, target="gcj02")
    # rounding to ~0.1 m shrinks the page; pointwise, as display needs no topology repair
    out.geometry = shapely.set_precision(out.geometry.values, 1e-6, mode="pointwise")
    return out


def _tiles(basemap: str, tianditu_key: str | None) -> list[dict]:
    """Tile layers of the page (the basemap shown, OpenStreetMap as the alternative)."""
    out = []
    if basemap == "gaode":
        out.append(
            {
                "name": "高德地图 Gaode",
                "attr": "© 高德地图 AutoNavi",
                "subdomains": "1234",
                "maxZoom": 18,
                "url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
                "overlay": False,
                "show": True,
            }
        )
    elif basemap == "tianditu":
        key = tianditu_key or os.environ.get("TIANDITU_KEY", "")
        if not key:
            msg = "the Tianditu basemap needs a key: pass --tianditu-key KEY or set TIANDITU_KEY."
            raise MapError(msg)
        for layer, name in (("vec", "天地图 Tianditu"), ("cva", "天地图注记 Tianditu labels")):
            out.append(
                {
                    "name": name,
                    "attr": "© 天地图 Tianditu",
                    "subdomains": "01234567",
                    "maxZoom": 18,
                    "url": (
                        f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                        f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}"
                        f"&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
                    ),
                    "overlay": layer == "cva",
                    "show": True,
                }
            )
    out.append(
        {
            "name": "OpenStreetMap",
            "attr": "© OpenStreetMap contributors",
            "subdomains": "abc",
            "maxZoom": 19,
            "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "overlay": False,
            "show": basemap == "osm",
        }
    )
    return out


def status_colors(grids: pd.DataFrame) -> np.ndarray:
    """Return the fill colour of each grid.

    Exclusive, village-group and single-grid rules have their own colour; household-band grids are
    coloured by status; any grid in pieces is 'enclave'.
    """
    status = grids["status"].astype(str)
    rule = grids["rule"].astype(str) if "rule" in grids else pd.Series("household_band", index=grids.index)
    exclusive = grids["grid_type"].astype(str).ne("base") if "grid_type" in grids else rule.eq("exclusive")
    return np.select(
        [
            exclusive,
            status.eq("enclave"),
            rule.eq("village_group") & status.eq("ok"),
            rule.eq("single") & status.eq("ok"),
        ],
        [EXCLUSIVE_COLOR, STATUS_COLORS["enclave"], GROUP_COLOR, SINGLE_COLOR],
        default=status.map(STATUS_COLORS).fillna("#999999").to_numpy(),
    )


def _band_ends(grids: pd.DataFrame) -> tuple[int, int]:
    """Lowest minimum and highest maximum of the household-band grids (the default band when there are none)."""
    band = grids[grids["rule"].eq("household_band")] if "rule" in grids else grids
    if len(band) and "min_households" in band:
        return int(band["min_households"].min()), int(band["max_households"].max())
    return int(DEFAULT_BAND.min_households), int(DEFAULT_BAND.max_households)


def _status_legend(grids: pd.DataFrame) -> list[dict]:
    lo, hi = _band_ends(grids)
    rows = [
        (
            STATUS_COLORS["ok"],
            STATUS["ok"],
            (f"社区户数区间规则：{lo}–{hi} 户", f"household-band rule (communities): {lo}–{hi}"),
        ),
        (
            STATUS_COLORS["under_min"],
            STATUS["under_min"],
            (f"户数区间规则：少于 {lo} 户", f"household-band rule: below {lo}"),
        ),
        (
            STATUS_COLORS["over_max"],
            STATUS["over_max"],
            (f"户数区间规则：多于 {hi} 户", f"household-band rule: above {hi}"),
        ),
        (
            GROUP_COLOR,
            ("村民小组网格", "village-group grid"),
            ("村：一村民小组一格，不设户数区间", "villages: one grid per group, no band"),
        ),
        (SINGLE_COLOR, ("整村一格", "single grid"), ("按规则整村/社区为一格", "whole village as one grid by rule")),
        (
            EXCLUSIVE_COLOR,
            ("专属网格", "exclusive grid"),
            ("学校、医院等专属区域", "schools, hospitals and other exclusive areas"),
        ),
        (STATUS_COLORS["enclave"], STATUS["enclave"], ("任何规则：网格由几块组成", "any rule: grid in several pieces")),
    ]
    colors = set(status_colors(grids)) if len(grids) else set()
    return [{"color": c, "label": list(lab), "rule": list(r)} for c, lab, r in rows if c in colors]


def choropleth_breaks(households: np.ndarray, *, lo: float, hi: float) -> np.ndarray:
    """Upper class breaks of the households choropleth: around the band, widened to the data."""
    top = float(households.max()) if len(households) else hi
    breaks = np.array([lo / 2, lo, (lo + hi) / 2, hi, hi * 1.5], dtype=float)
    return np.append(breaks, max(top, breaks[-1] + 1))


def _choropleth(grids: pd.DataFrame) -> tuple[np.ndarray, list[dict]]:
    hh = grids["households"].to_numpy(float)
    lo, hi = _band_ends(grids)
    breaks = choropleth_breaks(hh, lo=lo, hi=hi)
    cls = np.searchsorted(breaks[:-1], hh, side="left")
    colors = np.asarray(CHORO_COLORS)[cls]
    lower = np.concatenate([[0], np.floor(breaks[:-1]) + 1])
    legend = [
        {"color": c, "label": f"{int(a):,}–{int(b):,}" if i < len(breaks) - 1 else f"≥ {int(a):,}"}
        for i, (c, a, b) in enumerate(zip(CHORO_COLORS, lower, np.floor(breaks), strict=True))
    ]
    return colors, legend


def _none(values: np.ndarray) -> list:
    return [None if (v is None or (isinstance(v, float) and np.isnan(v))) else float(v) for v in values]


def _text(s: pd.Series) -> list:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in s.astype(object)]


def _grid_features(disp: gpd.GeoDataFrame) -> dict:
    """GeoJSON of the grids with short property names; every user text stays a JSON string."""
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
    geoms = json.loads(gpd.GeoSeries(disp.geometry.values, crs=disp.crs).to_json(drop_id=True))["features"]
    records = props.to_dict("records")
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": p, "geometry": g["geometry"]} for p, g in zip(records, geoms, strict=True)
        ],
    }


def _village_features(bnd: gpd.GeoDataFrame) -> dict:
    lp = shapely.point_on_surface(bnd.geometry.values) if len(bnd) else np.array([])
    fc = json.loads(gpd.GeoSeries(bnd.geometry.values, crs=bnd.crs).to_json(drop_id=True))
    codes = _text(bnd["code"]) if "code" in bnd else [""] * len(bnd)
    names = _text(bnd["name"]) if "name" in bnd else [""] * len(bnd)
    for f, c, nm, y, x in zip(fc["features"], codes, names, shapely.get_y(lp), shapely.get_x(lp), strict=True):
        lp_ = None if np.isnan(y) or np.isnan(x) else [round(float(y), 6), round(float(x), 6)]
        f["properties"] = {"code": c or "", "name": nm or "", "lp": lp_}
    return fc


def _addresses(result: GridResult, basemap: str) -> dict:
    addr = result.addresses
    if addr is None or not len(addr):
        return {"lat": [], "lon": [], "h": [], "b": [], "gr": [], "g": []}
    a = addr.to_crs("EPSG:4326")
    if basemap == "gaode":
        a = wgs84_to_china(a, target="gcj02")
    if len(a) > MAX_ADDRESSES:
        a = a.iloc[np.linspace(0, len(a) - 1, MAX_ADDRESSES).astype(int)]
    xy = a.geometry.get_coordinates()

    def txt(c):
        return _text(a[c]) if c in a else [None] * len(a)

    hh = a["households"].to_numpy(float) if "households" in a else np.full(len(a), np.nan)
    return {
        "lat": np.round(xy["y"].to_numpy(), 6).tolist(),
        "lon": np.round(xy["x"].to_numpy(), 6).tolist(),
        "h": _none(np.round(hh, 0)),
        "b": txt("building"),
        "gr": txt("group"),
        "g": txt("grid_code"),
    }


def _outside(result: GridResult, basemap: str) -> dict:
    """Addresses outside every boundary (from the violations layer), for their own map layer."""
    v = result.violations
    if v is None or not len(v) or "kind" not in v:
        return {"lat": [], "lon": [], "ref": []}
    v = v[v["kind"].eq("address_outside_boundaries") & v.geometry.notna() & v.geom_type.eq("Point")]
    if not len(v):
        return {"lat": [], "lon": [], "ref": []}
    v = v.to_crs("EPSG:4326")
    if basemap == "gaode":
        v = wgs84_to_china(v, target="gcj02")
    return {
        "lat": np.round(shapely.get_y(v.geometry.values), 6).tolist(),
        "lon": np.round(shapely.get_x(v.geometry.values), 6).tolist(),
        "ref": _text(v["ref"]),
    }


def _json_for_script(data: dict) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` element (no ``<``, ``>``, ``&``)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _asset(name: str) -> str:
    return resources.files("gridmap").joinpath("templates", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class MapPage:
    """The interactive map as one HTML document (shows itself in Jupyter)."""

    html: str

    def save(self, path) -> None:
        """Write the page to `path` (UTF-8, atomically)."""
        from geodata.io import write_text

        write_text(path, self.html)

    def _repr_html_(self) -> str:
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width:100%;height:600px;border:0" '
            'sandbox="allow-scripts allow-popups"></iframe>'
        )


def build_map(
    result: GridResult,
    *,
    basemap: str = "osm",
    tianditu_key: str | None = None,
    tolerance_m: float = 1.0,
    lang: str = "zh",
    cdn: bool = False,
) -> MapPage:
    """Build the interactive map page of a run.

    Parameters
    ----------
    result
        The run.
    basemap
        ``osm`` (default), ``gaode`` (GCJ-02: geometry is shifted for display only) or
        ``tianditu`` (needs a key).
    tianditu_key
        Tianditu key (else the ``TIANDITU_KEY`` environment variable).
    tolerance_m
        Display simplification in metres (topology-preserving; 0 keeps every vertex).
    lang
        ``zh`` (default) shows Chinese first, ``en`` English first; labels are always bilingual.
    cdn
        Link Leaflet from jsDelivr (with integrity hashes) instead of inlining the installed copy.

    Returns
    -------
    page
        A :class:`MapPage`; user text travels only as JSON data, inserted with ``textContent``.
    """
    if basemap not in BASEMAPS:
        msg = f"`basemap` should be one of {', '.join(BASEMAPS)}, got '{basemap}'."
        raise MapError(msg)
    if lang not in LANGS:
        msg = f"`lang` should be one of {', '.join(LANGS)}, got '{lang}'."
        raise MapError(msg)
    from gridmap.offline import head_tags

    tiles = _tiles(basemap, tianditu_key)
    disp = _display(result.grids, basemap=basemap, tolerance_m=tolerance_m)
    bnd_cols = [c for c in ("code", "name") if c in result.boundaries]
    bnd = _display(result.boundaries[[*bnd_cols, "geometry"]], basemap=basemap, tolerance_m=tolerance_m)
    minx, miny, maxx, maxy = disp.total_bounds if len(disp) else bnd.total_bounds
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        minx, miny, maxx, maxy = 73.0, 18.0, 135.0, 54.0
    outside = _outside(result, basemap)
    if outside["lat"]:  # nearby addresses outside every boundary are in the first view (far-off ones are not)
        w, h = maxx - minx, maxy - miny
        ox, oy = np.asarray(outside["lon"]), np.asarray(outside["lat"])
        near = (ox > minx - w) & (ox < maxx + w) & (oy > miny - h) & (oy < maxy + h)
        if near.any():
            minx, maxx = min(minx, ox[near].min()), max(maxx, ox[near].max())
            miny, maxy = min(miny, oy[near].min()), max(maxy, oy[near].max())
    grids = _grid_features(disp)
    order = np.argsort(-np.asarray([f["properties"]["h"] for f in grids["features"]]), kind="stable")
    _, choro_legend = _choropleth(disp) if len(disp) else (None, [])
    data = {
        "lang": lang,
        "ui": {k: list(v) for k, v in UI.items()},
        "tiles": tiles,
        "grids": grids,
        "order": order.tolist(),
        "villages": _village_features(bnd),
        "addresses": _addresses(result, basemap),
        "outside": outside,
        "legend": {"status": _status_legend(result.grids), "choro": choro_legend},
        "zoom": ZOOM,
        "bounds": [[float(miny), float(minx)], [float(maxy), float(maxx)]],
    }
    title = f"gridmap · {result.manifest.get('name', '')} · 网格地图 grid map"
    page = "\n".join(
        [
            "<!doctype html>",
            f"<html lang='{'zh-CN' if lang == 'zh' else 'en'}'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>{html.escape(title)}</title>",
            head_tags(cdn=cdn),
            f"<style>{_asset('map.css')}</style>",
            "</head><body><div id='map'></div>",
            f"<script type='application/json' id='gridmap-data'>{_json_for_script(data)}</script>",
            "<script>" + _asset("map.js").replace("</script", "<\\/script") + "</script>",
            "</body></html>",
        ]
    )
    return MapPage(page)


def write_map(result: GridResult, path, **kwargs) -> None:
    """Build the interactive map (:func:`build_map` options) and save it as one HTML file, atomically.

    By default Leaflet is inlined from the copy installed with gridmap, so the page needs no
    internet except for base-map tiles; ``cdn=True`` links it online instead.
    """
    build_map(result, **kwargs).save(path)


def plot_text(text: str) -> str:
    """Return `text` for matplotlib: unchanged when a CJK font is installed, else without CJK characters."""
    import matplotlib.font_manager as fm

    cjk = [
        f.name
        for f in fm.fontManager.ttflist
        if "CJK" in f.name or f.name in ("SimHei", "Microsoft YaHei", "WenQuanYi Zen Hei")
    ]
    if cjk:
        import matplotlib

        matplotlib.rcParams["font.sans-serif"] = [cjk[0], *matplotlib.rcParams["font.sans-serif"]]
        return text
    return "".join(ch for ch in text if ord(ch) < 0x2E80).replace("  ", " ").strip()


def write_static_map(result: GridResult, path, *, dpi: int = 150) -> None:
    """Save a static PNG of the grids coloured by status, with their codes, for print."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grids = result.grids.to_crs(result.grids.estimate_utm_crs()) if len(result.grids) else result.grids
    fig, ax = plt.subplots(figsize=(10, 10))
    colors = status_colors(grids)
    grids.plot(ax=ax, color=colors, edgecolor="#333", linewidth=0.4, alpha=0.7)
    bnd = result.boundaries.to_crs(grids.crs)
    bnd.boundary.plot(ax=ax, color="#111", linewidth=1.5)
    if len(grids) <= 600:
        pts = shapely.point_on_surface(grids.geometry.values)
        for code, p in zip(grids["grid_code"], pts, strict=True):
            ax.annotate(code[-3:], (p.x, p.y), ha="center", va="center", fontsize=6)
    if "name" in bnd and len(bnd) <= 200:
        vpts = shapely.point_on_surface(bnd.geometry.values)
        for name, p in zip(bnd["name"].fillna("").astype(str), vpts, strict=True):
            ax.annotate(
                plot_text(name),
                (p.x, p.y),
                ha="center",
                va="bottom",
                fontsize=9,
                fontweight="bold",
                xytext=(0, 6),
                textcoords="offset points",
                color="#111",
            )
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor=e["color"], edgecolor="#333", alpha=0.7, label=plot_text(f"{e['label'][0]} {e['label'][1]}"))
        for e in _status_legend(grids)
    ]
    if handles:
        ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.9)
    ax.set_axis_off()
    ax.set_title(plot_text(f"gridmap · {result.manifest.get('name', '')} · {len(grids)} grids"))
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
