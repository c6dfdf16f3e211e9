"""Coordinate systems: EPSG CRSs, China's GCJ-02 and BD-09, and the metric work CRS.

GCJ-02 ("Mars coordinates", used by Amap/Gaode, Tencent and most Chinese geocoders) and BD-09
(Baidu) are obfuscated offsets of WGS 84 that PROJ does not implement. Forward transforms follow the
published formula; inverses are solved iteratively to well under 0.5 m. Outside China both are the
identity, as the published formula defines. Every function is vectorised over numpy arrays.
"""

from __future__ import annotations

import logging
from typing import Final

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as _ProjCRSError

from geodata.bulk import gc_paused
from geodata.errors import CRSError

log = logging.getLogger("gridmap")

CHINA_CRS: Final = ("gcj02", "bd09")
"""Names of the Chinese obfuscated systems accepted wherever a CRS is asked for."""

_A: Final = 6378245.0
_EE: Final = 0.00669342162296594323
_X_PI: Final = np.pi * 3000.0 / 180.0


def in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Return a boolean mask of points inside the rough bounding box where GCJ-02 applies."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS 84 lon/lat arrays to GCJ-02 (identity outside China)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    mask = in_china(lon, lat)
    return np.where(mask, lon + dlon, lon), np.where(mask, lat + dlat, lat)


def gcj02_to_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 lon/lat arrays to BD-09 (Baidu)."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def wgs84_to_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS 84 lon/lat arrays to BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def _invert(forward, lon, lat, *, tol_deg: float = 1e-9, max_iter: int = 30):
    """Solve forward(x) = (lon, lat) by fixed-point iteration, vectorised over all points."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    x, y = lon.copy(), lat.copy()
    for _ in range(max_iter):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x = x - ex
        y = y - ey
        if np.all(np.abs(ex) < tol_deg) and np.all(np.abs(ey) < tol_deg):
            break
    return x, y


def gcj02_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 lon/lat arrays to WGS 84 (iterative inverse, error far below 0.5 m)."""
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert BD-09 lon/lat arrays to GCJ-02 (iterative inverse)."""
    return _invert(gcj02_to_bd09, lon, lat)


def bd09_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert BD-09 lon/lat arrays to WGS 84 (iterative inverse of the combined transform)."""
    return _invert(wgs84_to_bd09, lon, lat)


_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84 = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def _apply(geoms: np.ndarray, func) -> np.ndarray:
    def coords(xy: np.ndarray) -> np.ndarray:
        x, y = func(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, coords)


def is_china_crs(name: str | None) -> bool:
    """Return whether `name` names GCJ-02 or BD-09."""
    return name is not None and str(name).lower() in CHINA_CRS


def china_to_wgs84(gdf: gpd.GeoDataFrame, *, source: str) -> gpd.GeoDataFrame:
    """Return a copy of `gdf` whose GCJ-02 or BD-09 lon/lat coordinates are converted to WGS 84.

    Parameters
    ----------
    gdf
        Layer whose coordinates are GCJ-02 or BD-09 longitudes and latitudes, whatever its CRS tag
        says (files cannot declare GCJ-02; they are usually tagged EPSG:4326).
    source
        ``"gcj02"`` or ``"bd09"``.

    Returns
    -------
    gdf_wgs84
        The converted layer, tagged EPSG:4326.
    """
    func = _TO_WGS84[source.lower()]
    out = gdf.copy()
    out.geometry = gpd.GeoSeries(_apply(gdf.geometry.values, func), index=gdf.index)
    return out.set_crs("EPSG:4326", allow_override=True)


def wgs84_to_china(gdf: gpd.GeoDataFrame, *, target: str) -> gpd.GeoDataFrame:
    """Return a copy of `gdf` (any CRS) in GCJ-02 or BD-09 lon/lat, tagged EPSG:4326.

    Used for the display copy on Gaode/Baidu basemaps and for ``--output-crs gcj02|bd09``.
    """
    func = _FROM_WGS84[target.lower()]
    wgs = gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf
    out = wgs.copy()
    out.geometry = gpd.GeoSeries(_apply(wgs.geometry.values, func), index=wgs.index)
    return out.set_crs("EPSG:4326", allow_override=True)


def parse_crs(value: str, *, option: str = "input_crs") -> CRS:
    """Return the pyproj CRS for an EPSG code or any PROJ-understood string, with a clear error."""
    try:
        return CRS.from_user_input(value)
    except _ProjCRSError as exc:
        msg = (
            f"`{option}` got '{value}', which is not a known coordinate system. Use an EPSG code "
            "such as EPSG:4326 (WGS 84) or EPSG:4490 (CGCS2000), or gcj02 / bd09 for Amap or "
            "Baidu coordinates."
        )
        raise CRSError(msg) from exc


def assign_input_crs(
    gdf: gpd.GeoDataFrame,
    *,
    input_crs: str | None = None,
    crs: str | None = None,
    file: str,
    option: str = "crs",
) -> gpd.GeoDataFrame:
    """Return `gdf` with its true CRS: GCJ-02/BD-09 converted to WGS 84, a missing CRS supplied.

    Parameters
    ----------
    gdf
        Layer as read from disk (its CRS tag may be missing).
    input_crs
        CRS for files that **do not declare one** (a CSV, a Shapefile without ``.prj``); a file that
        declares its CRS keeps it, except that ``"gcj02"``/``"bd09"`` also apply to files tagged
        EPSG:4326 (the only tag GCJ-02/BD-09 data can carry). Any EPSG/PROJ string.
    crs
        CRS of this file, applied **whatever the file declares** (files cannot declare GCJ-02, so
        an Amap GeoJSON tagged EPSG:4326 needs ``crs="gcj02"``).
    file
        Name of the file, for error messages.
    option
        Name of the parameter that sets `crs` for this file (e.g. ``addresses_crs``), for messages.

    Returns
    -------
    gdf_crs
        The layer with a correct CRS.

    Raises
    ------
    CRSError
        When the file has no CRS and none was given, or a given CRS is unknown.
    """
    true, china = resolve_crs(gdf.crs, input_crs=input_crs, crs=crs, file=file, option=option)
    if china:
        return china_to_wgs84(gdf, source=china)
    return gdf if true is gdf.crs else gdf.set_crs(true, allow_override=True)


def resolve_crs(
    declared: CRS | None,
    *,
    input_crs: str | None = None,
    crs: str | None = None,
    file: str,
    option: str = "crs",
) -> tuple[CRS, str | None]:
    """Return a layer's true CRS, and ``"gcj02"``/``"bd09"`` when its coordinates must be converted to WGS 84.

    The rules of :func:`assign_input_crs` (which applies them) for a layer that declares `declared`.
    Lets a reader that never loads the whole layer (a province run reads windows of it) decide once.

    Raises
    ------
    CRSError
        When the layer declares no CRS and none was given, or a given CRS is unknown.
    """
    chosen = crs
    if chosen is None and declared is None:
        chosen = input_crs
    elif chosen is None and declared is not None:
        if is_china_crs(input_crs) and declared.equals("EPSG:4326"):
            # a file cannot declare GCJ-02/BD-09: such data is tagged WGS 84 lon/lat, so the option applies
            chosen = input_crs
        elif input_crs and not _same_crs(declared, input_crs):
            log.info(
                "%s declares %s; `input_crs` %s applies only to files without a CRS (pass `%s` to override).",
                file,
                declared.to_string(),
                input_crs,
                option,
            )
    if is_china_crs(chosen):
        return CRS("EPSG:4326"), str(chosen).lower()
    if chosen:
        return parse_crs(chosen, option=option if crs else "input_crs"), None
    if declared is None:
        msg = (
            f"{file}: the file does not say which coordinate system it is in. Fix: pass "
            f"`{option}` (or `input_crs` for every such file): EPSG:4326 (WGS 84 lon/lat), "
            "EPSG:4490 (CGCS2000), gcj02 (Amap/Gaode, Tencent) or bd09 (Baidu), or add a .prj file."
        )
        raise CRSError(msg)
    return declared, None


def _same_crs(declared: CRS, given: str) -> bool:
    if is_china_crs(given):
        return False
    try:
        return declared == CRS.from_user_input(given)
    except _ProjCRSError:
        return False


def is_mercator(crs: CRS) -> bool:
    """Return whether `crs` is a (Web or plain) Mercator projection, whose scale grows with latitude."""
    op = crs.coordinate_operation
    method = (op.method_name if op is not None else "").lower()
    return "mercator" in method and "transverse" not in method


def metric_crs(gdf: gpd.GeoDataFrame, *, work_crs: str | None = None) -> CRS:
    """Return the projected CRS used for geometry work: `work_crs` or the UTM zone of the data's centre.

    The input's own projected CRS is never used as is: Web Mercator (EPSG:3857) inflates areas by
    ~1.37 at 30° N, so work always happens in UTM (transverse Mercator, scale error < 0.1 %) unless
    a metric, non-Mercator `work_crs` is given.

    Raises
    ------
    CRSError
        When `work_crs` is geographic, not in metres or a Mercator projection, or the data's
        coordinates are not valid longitudes/latitudes in their CRS.
    """
    if work_crs:
        crs = parse_crs(work_crs, option="work_crs")
        unit = crs.axis_info[0].unit_name.lower() if crs.axis_info else ""
        if not crs.is_projected:
            msg = (
                f"`work_crs` got '{work_crs}', a geographic CRS; give a projected (metric) one, e.g. a UTM zone "
                "EPSG:326xx."
            )
            raise CRSError(msg)
        if unit not in ("metre", "meter"):
            msg = f"`work_crs` got '{work_crs}', whose unit is {unit or 'unknown'}; give one in metres."
            raise CRSError(msg)
        if is_mercator(crs):
            msg = (
                f"`work_crs` got '{work_crs}', a Mercator projection that distorts areas with latitude; give a "
                "UTM zone (EPSG:326xx) or a Gauss-Krüger CRS."
            )
            raise CRSError(msg)
        return crs
    if gdf.crs is None:
        raise CRSError("the data has no CRS, so no UTM zone can be chosen. Fix: pass `input_crs`.")
    try:
        return utm_crs(gdf)
    except (RuntimeError, ValueError, _ProjCRSError) as exc:
        msg = (
            f"cannot choose a UTM zone for the data (bounds {tuple(round(v, 3) for v in gdf.total_bounds)} in "
            f"{gdf.crs.to_string()}): the coordinates do not fit their CRS."
        )
        raise CRSError(
            msg, fix="check the CRS of each input (`addresses_crs`, `boundaries_crs`), or pass `work_crs`."
        ) from exc


def utm_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """Return ``gdf.estimate_utm_crs()``: the WGS 84 UTM zone of the data's centre.

    geopandas asks pyproj's database which zones cover the centre, a scan of every CRS it knows
    (about 70 ms, and a run asks several times). For longitude/latitude data whose centre lies
    strictly inside one zone's area of use, that zone is computed and confirmed against its area
    of use; every other case (a zone's edge, the equator, beyond 80° S–84° N, projected data) goes
    to geopandas.

    Raises
    ------
    RuntimeError, ValueError, pyproj.exceptions.CRSError
        As ``estimate_utm_crs`` does (no CRS, no zone for the centre).
    """
    if gdf.crs is not None and gdf.crs.is_geographic:
        minx, miny, maxx, maxy = gdf.total_bounds
        lon, lat = np.mean([minx, maxx]), np.mean([miny, maxy])  # the centre geopandas takes
        if -180 < lon < 180 and -90 < lat < 90:  # noqa: PLR2004 (False for NaN)
            crs = CRS.from_epsg((32600 if lat > 0 else 32700) + int((lon + 180) // 6) + 1)
            area = crs.area_of_use
            if area is not None and area.west < lon < area.east and area.south < lat < area.north:
                return crs
    return gdf.estimate_utm_crs()


def reproject(gdf: gpd.GeoDataFrame, crs: CRS) -> gpd.GeoDataFrame:
    """Return ``gdf.to_crs(crs)``, the same frame, in half the time for a million points.

    geopandas copies every geometry, then overwrites its coordinates. For a layer of 2D points the
    coordinates go through the same pyproj transform and the points are made anew, at once, with
    the garbage collector paused (:func:`geodata.bulk.gc_paused`); other layers go to geopandas.
    """
    with gc_paused():
        geoms = gdf.geometry.values
        crs = CRS.from_user_input(crs)
        if gdf.crs is None or gdf.crs.is_exact_same(crs) or not plain_points(np.asarray(geoms)):
            return gdf.to_crs(crs)
        xy = shapely.get_coordinates(np.asarray(geoms))
        x, y = Transformer.from_crs(gdf.crs, crs, always_xy=True).transform(xy[:, 0], xy[:, 1])
        points = gpd.GeoSeries(
            gpd.array.GeometryArray(shapely.points(x, y), crs=crs), index=gdf.index, name=gdf.geometry.name
        )
        out = gdf.copy(deep=False)  # pandas' copy-on-write: the columns are shared until one is written
        out.geometry = points
        return out


def plain_points(geoms: np.ndarray) -> bool:
    """Whether every geometry is a non-empty Point with x and y only."""
    return bool(
        len(geoms)
        and (shapely.get_type_id(geoms) == 0).all()
        and (shapely.get_coordinate_dimension(geoms) == 2).all()
        and not shapely.is_empty(geoms).any()
    )


def to_output_crs(gdf: gpd.GeoDataFrame, *, output_crs: str | None, input_crs: CRS | None) -> gpd.GeoDataFrame:
    """Return `gdf` in the CRS outputs are written in (the input CRS unless asked otherwise).

    Reprojection can fold a near-degenerate vertex of a valid polygon into a self-intersection;
    such polygons are repaired (``make_valid``, polygonal parts kept) so outputs open cleanly.
    """
    if is_china_crs(output_crs):
        out = wgs84_to_china(gdf, target=str(output_crs))
    elif output_crs:
        out = gdf.to_crs(parse_crs(output_crs, option="output_crs"))
    else:
        out = gdf.to_crs(input_crs) if input_crs is not None else gdf
    return valid_polygons(out)


def valid_polygons(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Repair invalid polygons of `gdf` in place of a copy (points and lines are left alone)."""
    geoms = gdf.geometry.values
    bad = ~shapely.is_valid(geoms) & np.isin(shapely.get_type_id(geoms), (3, 6))
    if not bad.any():
        return gdf
    # area-preserving: a folded pinch becomes two parts touching at a point, so tiling holds
    fixed = shapely.make_valid(geoms[bad], method="structure", keep_collapsed=False)
    out = gdf.copy()
    g = np.asarray(out.geometry.values, dtype=object).copy()
    g[bad] = fixed
    return out.set_geometry(gpd.GeoSeries(g, index=out.index, crs=out.crs))


def flatten(gdf: gpd.GeoDataFrame, *, file: str) -> gpd.GeoDataFrame:
    """Drop Z (height) and M (measure) values, saying so: gridmap works in 2D.

    ArcGIS exports boundaries as PolygonZ; reprojecting 3D rings can leave them unclosed in GEOS.
    """
    geoms = gdf.geometry.values
    has = shapely.has_z(geoms) | (shapely.has_m(geoms) if hasattr(shapely, "has_m") else False)
    if has.any():
        log.warning("%s: %d geometries have Z or M values; they were dropped (gridmap works in 2D).", file, has.sum())
        gdf = gdf.set_geometry(shapely.force_2d(geoms), crs=gdf.crs)
    return gdf
