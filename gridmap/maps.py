"""Maps of a run: the interactive folium map (map.html) and a static PNG for print."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import shapely

from geodata.crs import wgs84_to_china
from gridmap.fields import FIELDS, STATUS

if TYPE_CHECKING:
    from gridmap.result import GridResult

BASEMAPS = ("osm", "gaode", "tianditu")
"""Basemaps of the interactive map. Gaode tiles are GCJ-02: the display copy is shifted to match."""

STATUS_COLORS = {"ok": "#54a24b", "under_min": "#4c9bd6", "over_max": "#e45756", "enclave": "#b279a2"}
EXCLUSIVE_COLOR = "#f58518"
LABEL_MIN_ZOOM = 15
"""Grid-code labels show from this zoom level (street level) up."""
MAX_ADDRESS_MARKERS = 50_000
POPUP_FIELDS = ("grid_code", "village_name", "grid_type", "rule", "households", "population", "area_m2", "compactness", "status", "flag", "note")


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


def _tiles(m, basemap: str, tianditu_key: str | None) -> None:
    import folium

    if basemap == "gaode":
        folium.TileLayer(
            tiles="https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            attr="© 高德地图 AutoNavi",
            name="高德地图 Gaode",
            subdomains="1234",
            max_zoom=19,
        ).add_to(m)
    elif basemap == "tianditu":
        key = tianditu_key or os.environ.get("TIANDITU_KEY", "")
        if not key:
            msg = "the Tianditu basemap needs a key: pass --tianditu-key KEY or set TIANDITU_KEY."
            raise ValueError(msg)
        for layer, name in (("vec", "天地图 Tianditu"), ("cva", "天地图注记 labels")):
            folium.TileLayer(
                tiles=(
                    f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                    f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}"
                    f"&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
                ),
                attr="© 天地图 Tianditu",
                name=name,
                subdomains="01234567",
                overlay=layer == "cva",
                max_zoom=18,
            ).add_to(m)
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap", show=basemap == "osm").add_to(m)


def _script(code: str):
    """A branca element whose JavaScript is emitted where the element sits (after its parent map)."""
    from branca.element import MacroElement
    from jinja2 import Template

    el = MacroElement()
    el._template = Template("{% macro script(this, kwargs) %}{% raw %}" + code + "{% endraw %}{% endmacro %}")
    return el


def build_map(
    result: GridResult,
    *,
    basemap: str = "osm",
    tianditu_key: str | None = None,
    tolerance_m: float = 1.0,
):
    """Build the interactive map of a run.

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

    Returns
    -------
    m
        A ``folium.Map``.
    """
    import folium
    from folium import plugins

    if basemap not in BASEMAPS:
        msg = f"`basemap` should be one of {', '.join(BASEMAPS)}, got '{basemap}'."
        raise ValueError(msg)
    grids = result.grids.copy()
    grids["status_zh"] = grids["status"].map(lambda s: STATUS.get(s, (s, s))[0])
    disp = _display(grids, basemap=basemap, tolerance_m=tolerance_m)
    bnd = _display(result.boundaries[["code", "name", "geometry"]], basemap=basemap, tolerance_m=tolerance_m)
    minx, miny, maxx, maxy = disp.total_bounds if len(disp) else bnd.total_bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=14, tiles=None, control_scale=True)
    _tiles(m, basemap, tianditu_key)

    def style(feature):
        p = feature["properties"]
        exclusive = p.get("grid_type", "base") != "base"
        return {
            "fillColor": EXCLUSIVE_COLOR if exclusive else STATUS_COLORS.get(p.get("status"), "#999"),
            "color": "#333",
            "weight": 1,
            "fillOpacity": 0.45,
            "className": "gridmap-grid",
        }

    popup = folium.GeoJsonPopup(
        fields=[f for f in POPUP_FIELDS if f in disp.columns],
        aliases=[f"{FIELDS[f][0]} {FIELDS[f][1]}" for f in POPUP_FIELDS if f in disp.columns],
        localize=True,
        labels=True,
        max_width=420,
    )
    tooltip = folium.GeoJsonTooltip(fields=["grid_code", "households"], aliases=["网格 grid", "户数 households"])
    cols = [*POPUP_FIELDS, "status_zh", "geometry"]
    status_layer = folium.GeoJson(
        disp[[c for c in cols if c in disp.columns]].to_json(drop_id=True),
        name="网格·工作量状态 Grids by workload status",
        style_function=style,
        highlight_function=lambda f: {"weight": 3, "color": "#000"},
        popup=popup,
        tooltip=tooltip,
    ).add_to(m)
    hh = disp["households"].to_numpy(float)
    if len(hh):
        import branca.colormap as cm

        vmax = float(max(hh.max(), 1))
        scale = cm.linear.YlOrRd_09.scale(0, vmax)
        scale.caption = "户数 households per grid"
        folium.GeoJson(
            disp[["grid_code", "households", "geometry"]].to_json(drop_id=True),
            name="户数分级 Households choropleth",
            style_function=lambda f: {
                "fillColor": scale(f["properties"]["households"]),
                "color": "#555",
                "weight": 0.5,
                "fillOpacity": 0.7,
            },
            show=False,
        ).add_to(m)
    folium.GeoJson(
        bnd.to_json(drop_id=True),
        name="村/社区边界 Villages & communities",
        style_function=lambda f: {"fill": False, "color": "#222", "weight": 3, "dashArray": "6 4"},
        tooltip=folium.GeoJsonTooltip(fields=["name", "code"], aliases=["名称 name", "代码 code"]),
    ).add_to(m)
    labels = folium.FeatureGroup(name="网格编码 Grid codes")
    pts = shapely.point_on_surface(disp.geometry.values)
    for code, p in zip(disp["grid_code"], pts, strict=True):
        folium.Marker(
            [p.y, p.x],
            icon=folium.DivIcon(
                html=f"<div class='grid-label'>{code[-3:]}</div>",
                class_name="grid-label-icon",
                icon_size=(40, 14),
                icon_anchor=(20, 7),
            ),
        ).add_to(labels)
    labels.add_to(m)
    addr = result.addresses
    if len(addr):
        a = addr.to_crs("EPSG:4326")
        if basemap == "gaode":
            a = wgs84_to_china(a, target="gcj02")
        if len(a) > MAX_ADDRESS_MARKERS:
            a = a.iloc[np.linspace(0, len(a) - 1, MAX_ADDRESS_MARKERS).astype(int)]
        xy = a.geometry.get_coordinates()
        # FastMarkerCluster ignores `show`; a hidden group around it starts the layer switched off
        group = folium.FeatureGroup(name="地址 Addresses", show=False).add_to(m)
        plugins.FastMarkerCluster(np.column_stack([xy["y"], xy["x"]]).round(6).tolist(), control=False).add_to(group)
    plugins.Search(
        layer=status_layer,
        search_label="grid_code",
        placeholder="网格编码 grid code…",
        collapsed=False,
        search_zoom=17,
        position="topleft",
    ).add_to(m)
    # a found grid opens its popup (the popup is bound to the layer group, so the click must propagate)
    m.add_child(
        _script(
            f"{status_layer.get_name()}searchControl.on('search:locationfound', function(e){{"
            "var c = e.layer.getBounds ? e.layer.getBounds().getCenter() : e.latlng;"
            "e.layer.fire('click', {latlng: c, layer: e.layer}, true);});"
        )
    )
    boundary_search = folium.GeoJson(
        bnd.to_json(drop_id=True), name="search-communities", style_function=lambda f: {"opacity": 0, "fillOpacity": 0}, control=False
    ).add_to(m)
    plugins.Search(
        layer=boundary_search,
        search_label="name",
        placeholder="村/社区名称 community…",
        collapsed=True,
        position="topleft",
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    legend = "".join(
        f"<div><span style='background:{c};width:12px;height:12px;display:inline-block;margin-right:6px'></span>"
        f"{STATUS[s][0]} {STATUS[s][1]}</div>"
        for s, c in STATUS_COLORS.items()
    )
    band = result.grids[result.grids["rule"].eq("household_band")]
    band_text = (
        f"户数范围 band {int(band['min_households'].min())}–{int(band['max_households'].max())}" if len(band) else ""
    )
    m.get_root().html.add_child(
        folium.Element(
            "<div id='gridmap-legend' style='position:fixed;bottom:24px;left:12px;z-index:9999;background:white;"
            "padding:8px 10px;border:1px solid #999;font:12px sans-serif'>"
            f"<b>网格状态 Grid status</b><div>{band_text}</div>{legend}"
            f"<div><span style='background:{EXCLUSIVE_COLOR};width:12px;height:12px;display:inline-block;margin-right:6px'></span>"
            "专属网格 exclusive grid</div></div>"
            "<style>.grid-label{font:bold 11px sans-serif;color:#111;text-shadow:0 0 3px #fff,0 0 3px #fff;"
            "text-align:center;white-space:nowrap}</style>"
        )
    )
    name = m.get_name()
    # grid-code labels only at street zoom; a child of the map, so it runs after the map exists
    m.add_child(
        _script(
            f"function gridmapLabels(){{var s={name}.getZoom()>={LABEL_MIN_ZOOM};"
            "document.querySelectorAll('.grid-label').forEach(function(e){e.style.display=s?'':'none';});}"
            f"{name}.on('zoomend',gridmapLabels);{name}.whenReady(gridmapLabels);"
        )
    )
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


def write_map(result: GridResult, path, *, offline: bool = False, asset_folder=None, **kwargs) -> None:
    """Build the interactive map and save it as one HTML file (atomically).

    With `offline`, every script and style sheet is inlined from installed packages
    (:mod:`gridmap.offline`), so the page needs no internet except for base-map tiles.
    """
    from pathlib import Path

    html = build_map(result, **kwargs).get_root().render()
    if offline:
        from gridmap.offline import inline_html

        html = inline_html(html, folder=asset_folder)
    from geodata.io import write_text

    write_text(Path(path), html)


def plot_text(text: str) -> str:
    """Return `text` for matplotlib: unchanged when a CJK font is installed, else without CJK characters."""
    import matplotlib.font_manager as fm

    cjk = [f.name for f in fm.fontManager.ttflist if "CJK" in f.name or f.name in ("SimHei", "Microsoft YaHei", "WenQuanYi Zen Hei")]
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
    colors = np.where(
        grids["grid_type"].ne("base"), EXCLUSIVE_COLOR, grids["status"].map(STATUS_COLORS).fillna("#999")
    )
    grids.plot(ax=ax, color=colors, edgecolor="#333", linewidth=0.4, alpha=0.7)
    bnd = result.boundaries.to_crs(grids.crs)
    bnd.boundary.plot(ax=ax, color="#111", linewidth=1.5)
    if len(grids) <= 600:
        pts = shapely.point_on_surface(grids.geometry.values)
        for code, p in zip(grids["grid_code"], pts, strict=True):
            ax.annotate(code[-3:], (p.x, p.y), ha="center", va="center", fontsize=6)
    ax.set_axis_off()
    ax.set_title(plot_text(f"gridmap · {result.manifest.get('name', '')} · {len(grids)} grids"))
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def sample_page() -> str:
    """HTML of an empty map with every plugin the grid map uses (to list the files it loads)."""
    import folium
    from folium import plugins

    m = folium.Map(tiles=None)
    plugins.MarkerCluster().add_to(m)
    feature = {"type": "Feature", "properties": {"name": ""}, "geometry": {"type": "Point", "coordinates": [0, 0]}}
    gj = folium.GeoJson({"type": "FeatureCollection", "features": [feature]}).add_to(m)
    plugins.Search(layer=gj, search_label="name").add_to(m)
    return m.get_root().render()
