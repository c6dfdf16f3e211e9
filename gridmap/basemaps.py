"""Base maps of the interactive map: named tile sets or an office's own tile template, each in one datum.

A page shows the tile layers of one base map only, and every layer of a base map is in the same
datum, so the grids are drawn once, in that datum: GCJ-02 base maps (Gaode) get a shifted display
copy of the grids; WGS 84 and CGCS2000 base maps (OpenStreetMap, 天地图, most intranet servers) get
them unshifted (the two datums differ by centimetres). A GCJ-02 layer is never offered beside a
WGS 84 one.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from geodata.crs import in_china
from geodata.errors import OptionError

log = logging.getLogger("gridmap")

BASEMAPS = ("auto", "osm", "gaode", "tianditu", "none")
"""Named base maps (``none``: no tiles, the context layers from the inputs only; ``auto``: see :func:`auto_basemap`)."""
TILE_CRS = ("wgs84", "gcj02", "cgcs2000")
"""Datums of a tile template: ``gcj02`` shifts the grids for display; the others draw them as they are."""
CONFIG_FILE = Path("~/.config/gridmap/config.toml")
"""User config file read for the 天地图 key (``[basemaps] tianditu_key = "..."``); ``GRIDMAP_CONFIG`` overrides."""


@dataclass(frozen=True)
class TileLayer:
    """One tile layer of the page: a Leaflet URL template, its attribution and its datum."""

    name: str
    url: str
    attr: str
    crs: str = "wgs84"
    subdomains: str = ""
    max_zoom: int = 18
    overlay: bool = False
    show: bool = True
    min_zoom: int = 0

    def as_json(self) -> dict:
        """Return the layer as the page's JSON (keys as Leaflet names them)."""
        d = asdict(self)
        d["maxZoom"], d["minZoom"] = d.pop("max_zoom"), d.pop("min_zoom")
        if self.local:
            d["url"] = ""  # the tiles travel in the page; the file's path stays out of it
        return d

    @property
    def local(self) -> bool:
        """Whether the layer is a local MBTiles file (its tiles are carried inside the page)."""
        return not self.url.startswith(("http://", "https://"))


_AUTONAVI = (
    "https://{h}0{{s}}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style={style}&x={{x}}&y={{y}}&z={{z}}"
)
_TIANDITU = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)


def _gaode() -> list[TileLayer]:
    attr = "© 高德地图 AutoNavi"
    return [
        TileLayer("高德地图 Gaode roads", _AUTONAVI.format(h="webrd", style=8), attr, "gcj02", "1234"),
        TileLayer("高德影像 Gaode satellite", _AUTONAVI.format(h="webst", style=6), attr, "gcj02", "1234", show=False),
        TileLayer(
            "高德路网注记 Gaode road labels",
            _AUTONAVI.format(h="webst", style=8),
            attr,
            "gcj02",
            "1234",
            overlay=True,
            show=False,
        ),
    ]


def _tianditu(key: str) -> list[TileLayer]:
    attr = "© 天地图 Tianditu"

    def layer(code: str, name: str, *, overlay: bool, show: bool) -> TileLayer:
        return TileLayer(name, _TIANDITU.format(layer=code, key=key), attr, "cgcs2000", "01234567", 18, overlay, show)

    return [
        layer("vec", "天地图矢量 Tianditu vector", overlay=False, show=True),
        layer("img", "天地图影像 Tianditu imagery", overlay=False, show=False),
        layer("cva", "天地图矢量注记 Tianditu vector labels", overlay=True, show=True),
        layer("cia", "天地图影像注记 Tianditu imagery labels", overlay=True, show=False),
    ]


def tianditu_key(key: str | None = None) -> str:
    """Return the 天地图 key: `key`, else ``TIANDITU_KEY``, else the config file; ``""`` when none is set.

    The config file is ``$GRIDMAP_CONFIG`` or ``~/.config/gridmap/config.toml`` with
    ``[basemaps] tianditu_key = "..."`` (keep it out of shared folders).

    Raises
    ------
    OptionError
        When the config file exists but is not valid TOML.
    """
    if key:
        return key
    if os.environ.get("TIANDITU_KEY"):
        return os.environ["TIANDITU_KEY"]
    path = Path(os.environ.get("GRIDMAP_CONFIG") or CONFIG_FILE).expanduser()
    if not path.is_file():
        return ""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not valid UTF-8 TOML ({exc})."
        raise OptionError(msg, fix='write `[basemaps]` then `tianditu_key = "YOUR KEY"`.') from exc
    return str(data.get("basemaps", {}).get("tianditu_key", "") or "")


_WMTS_NAMES = {"{TileMatrix}": "{z}", "{TileRow}": "{y}", "{TileCol}": "{x}"}


def custom_tiles(url: str, *, crs: str = "wgs84", attribution: str = "") -> TileLayer:
    """Return a tile layer from an XYZ or WMTS template (an intranet tile server), or an MBTiles file.

    Parameters
    ----------
    url
        ``http(s)://…{z}…{x}…{y}…`` (``{s}`` for subdomains a b c, ``{-y}`` for TMS rows) or a WMTS
        REST/KVP template with ``{TileMatrix}``, ``{TileRow}``, ``{TileCol}`` (Web Mercator tile matrix),
        or a local ``.mbtiles`` file (raster tiles; those over the run are carried inside the page, see
        :func:`mbtiles_tiles`).
    crs
        Datum of the tiles: ``wgs84``, ``cgcs2000`` (drawn as is) or ``gcj02`` (grids shifted to match).
    attribution
        Text shown in the corner of the map (the tile source's name and licence).

    Returns
    -------
    layer
        The base layer.

    Raises
    ------
    OptionError
        When `url` is not http(s) or lacks one of the x, y, z placeholders, or `crs` is unknown.
    """
    if crs not in TILE_CRS:
        msg = f"`tiles_crs` should be one of {', '.join(TILE_CRS)}, got '{crs}'."
        raise OptionError(msg)
    if url.lower().endswith(".mbtiles"):
        path = Path(url).expanduser()
        if not path.is_file():
            msg = f"{url}: the MBTiles file does not exist."
            raise OptionError(msg, fix="give the path of a .mbtiles file of raster (PNG/JPEG) tiles.")
        zooms = _mbtiles_zooms(path)
        return TileLayer(
            "离线底图 local tiles",
            str(path),
            attribution or f"底图 tiles: {path.name}",
            crs,
            "",
            zooms[1],
            min_zoom=zooms[0],
        )
    for wmts, xyz in _WMTS_NAMES.items():
        url = re.sub(re.escape(wmts), xyz, url, flags=re.IGNORECASE)
    missing = [p for p in ("{z}", "{x}") if p not in url] + ([] if re.search(r"\{-?y\}", url) else ["{y}"])
    if not url.startswith(("http://", "https://")) or missing:
        msg = f"`tiles` should be an http(s) tile template with {{z}}, {{x}} and {{y}}, got '{url}'"
        msg += f" (missing {', '.join(missing)})." if missing else "."
        raise OptionError(msg, fix="e.g. --tiles 'http://tiles.intranet/{z}/{x}/{y}.png' or a WMTS GetTile template.")
    return TileLayer(
        "自定义底图 custom tiles",
        url,
        attribution or "底图 tiles: " + re.sub(r"^https?://([^/]+).*$", r"\1", url),
        crs,
        "abc" if "{s}" in url else "",
        20,
    )


def auto_basemap(lon: float, lat: float, *, tianditu: str | None = None) -> str:
    """Return the base map an office would pick for a map centred at `lon`, `lat`.

    In China: 天地图 when a key is configured (the state's map service, what a government office
    publishes on), else Gaode (no key; GCJ-02, so the grids are shifted onto its streets).
    Elsewhere OpenStreetMap.

    Examples
    --------
    >>> auto_basemap(121.5, 31.2, tianditu=""), auto_basemap(-104.9, 39.7, tianditu="")
    ('gaode', 'osm')
    """
    if not bool(in_china(np.array([lon]), np.array([lat]))[0]):
        return "osm"
    return "tianditu" if tianditu_key(tianditu) else "gaode"


def tile_layers(
    basemap: str = "osm",
    *,
    tiles: str | None = None,
    tiles_crs: str = "wgs84",
    tiles_attribution: str = "",
    tianditu: str | None = None,
) -> list[TileLayer]:
    """Return the tile layers of one base map, all in one datum.

    Parameters
    ----------
    basemap
        ``osm``, ``gaode`` (roads, satellite and road labels; GCJ-02), ``tianditu`` (vector, imagery
        and their annotation layers; needs a key) or ``none``. Ignored when `tiles` is given.
    tiles, tiles_crs, tiles_attribution
        An office's own tile template instead (see :func:`custom_tiles`).
    tianditu
        The 天地图 key (else ``TIANDITU_KEY`` or the config file, see :func:`tianditu_key`). The key
        is written into the page: a warning is logged before it is.

    Returns
    -------
    layers
        Base layers and overlays, in the order the layer control lists them.

    Raises
    ------
    OptionError
        For an unknown base map, a bad template, or 天地图 without a key.
    """
    if tiles:
        return [custom_tiles(tiles, crs=tiles_crs, attribution=tiles_attribution)]
    if basemap not in BASEMAPS:
        msg = f"`basemap` should be one of {', '.join(BASEMAPS)}, got '{basemap}'."
        raise OptionError(msg)
    if basemap == "gaode":
        return _gaode()
    if basemap == "tianditu":
        key = tianditu_key(tianditu)
        if not key:
            msg = "the Tianditu basemap needs a key: pass --tianditu-key KEY, set TIANDITU_KEY"
            msg += f" or put tianditu_key under [basemaps] in {CONFIG_FILE}."
            raise OptionError(msg)
        log.warning(
            "The 天地图 Tianditu key is written into the map page: anyone the page is shared with can read and use "
            "it. Share pages made with a key meant for publishing (restricted to your domain), or use --tiles."
        )
        return _tianditu(key)
    if basemap == "none":
        return []
    return [
        TileLayer(
            "OpenStreetMap",
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "© OpenStreetMap contributors",
            max_zoom=19,
        )
    ]


def display_datum(layers: list[TileLayer]) -> str:
    """Return ``gcj02`` when the base map is GCJ-02 (grids are shifted for display), else ``wgs84``.

    Raises
    ------
    OptionError
        When the layers mix GCJ-02 with another datum (the grids could match only one of them).
    """
    shifted = {layer.crs == "gcj02" for layer in layers}
    if len(shifted) > 1:
        msg = "a page cannot mix GCJ-02 tiles with WGS 84/CGCS2000 tiles: the grids would be ~500 m off on one."
        raise OptionError(msg)
    return "gcj02" if shifted == {True} else "wgs84"


MAX_INLINE_BYTES = 40_000_000
"""Largest total size of MBTiles tiles carried inside one page; the deepest zoom levels are left out beyond it."""


def _mbtiles_zooms(path: Path) -> tuple[int, int]:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            lo, hi = con.execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
    except sqlite3.DatabaseError as exc:
        msg = f"{path}: not an MBTiles file ({exc})."
        raise OptionError(msg, fix="give a .mbtiles file (SQLite with a `tiles` table).") from exc
    if lo is None:
        msg = f"{path}: the MBTiles file holds no tiles."
        raise OptionError(msg)
    return int(lo), int(hi)


def mbtiles_tiles(
    path: str | Path, bounds: tuple[float, float, float, float], *, max_bytes: int = MAX_INLINE_BYTES
) -> dict:
    """Return the tiles of an MBTiles file over `bounds` as ``{"z/x/y": data URI}`` (XYZ numbering).

    Parameters
    ----------
    path
        The ``.mbtiles`` file (raster tiles; its rows are TMS-numbered, as the format says).
    bounds
        ``(min lon, min lat, max lon, max lat)`` of the page, in the tiles' datum.
    max_bytes
        Budget of the page: zoom levels are added from the shallowest while they fit.

    Returns
    -------
    tiles
        Tile key → ``data:image/...;base64,...``; a warning is logged when deeper levels were left out.
    """
    import base64
    import math
    import sqlite3

    minx, miny, maxx, maxy = bounds

    def tile(lon: float, lat: float, z: int) -> tuple[int, int]:
        n = 2**z
        lat = max(min(lat, 85.05112878), -85.05112878)
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        return min(max(x, 0), n - 1), min(max(y, 0), n - 1)

    out: dict[str, str] = {}
    used = 0
    with sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True) as con:
        levels = [r[0] for r in con.execute("SELECT DISTINCT zoom_level FROM tiles ORDER BY zoom_level")]
        for z in levels:
            (x0, y0), (x1, y1) = tile(minx, maxy, z), tile(maxx, miny, z)
            n = 2**z
            rows = con.execute(
                "SELECT tile_column, tile_row, tile_data FROM tiles "
                "WHERE zoom_level = ? AND tile_column BETWEEN ? AND ? AND tile_row BETWEEN ? AND ?",
                (z, x0, x1, n - 1 - y1, n - 1 - y0),
            ).fetchall()
            size = sum(len(r[2]) for r in rows) * 4 // 3
            if used + size > max_bytes:
                log.warning(
                    "%s: zoom levels %s and deeper are left out of the page (%.0f MB would exceed %.0f MB).",
                    path, z, (used + size) / 1e6, max_bytes / 1e6,
                )  # fmt: skip
                break
            used += size
            for col, row, data in rows:
                kind = "jpeg" if bytes(data[:3]) == b"\xff\xd8\xff" else "png"
                out[f"{z}/{col}/{n - 1 - row}"] = f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii")
    return out
