"""Read only part of a large point layer: the points inside a window, or a range of rows.

A province-scale run never loads all addresses at once: each village/community task reads the
points inside its own bounding box (:meth:`PointFile.read_window`), and a streaming pass reads
the file a block of rows at a time (:meth:`PointFile.read_rows`). Two formats allow this:

* **GeoParquet** (1.0/1.1): row groups whose statistics cannot meet the window are skipped. The
  statistics come from the bbox covering columns (``write_covering_bbox=True`` in geopandas) or
  from native point encoding (``geometry_encoding="geoarrow"``). Sort the file spatially (for
  example by ``gdf.hilbert_distance()``) so each row group covers a small area; an unsorted file
  still works but every task then scans every row group.
* **GeoPackage**: the layer's R-tree spatial index answers the window (pyogrio ``bbox``).

Rows keep their position in the file as index, so every message names the row of the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from geodata.errors import DependencyError, InputError, Problem

Bounds = tuple[float, float, float, float]

WINDOW_SUFFIXES = (".parquet", ".geoparquet", ".gpkg")
"""File types a province-scale run reads by window."""


def _pq():
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - pyarrow is a dependency
        raise DependencyError("reading GeoParquet needs pyarrow: pip install pyarrow.") from exc
    return pq


@dataclass(frozen=True)
class PointFile:
    """A point layer that can be read by window or by row range (GeoParquet or GeoPackage).

    Holds only metadata (row counts and, for GeoParquet, each row group's bounds), so it is cheap
    to send to every task. Open with :meth:`open`.
    """

    path: Path
    layer: str | None
    kind: str  # "parquet" or "gpkg"
    rows: int
    crs: CRS | None
    geometry: str = "geometry"
    encoding: str = "WKB"
    covering: tuple[str, ...] | None = None  # bbox column name, when the file has a bbox covering
    row_starts: np.ndarray = field(default_factory=lambda: np.zeros(1, int))  # first row of each row group, + total
    group_bounds: np.ndarray | None = None  # (row groups, 4) xmin ymin xmax ymax; None: unknown

    @classmethod
    def open(cls, path: str | Path, *, layer: str | None = None) -> PointFile:
        """Read the metadata of a GeoParquet file or a GeoPackage layer.

        Raises
        ------
        InputError
            When the file is missing, of another type, or not a point layer.
        """
        path = Path(path)
        if not path.exists():
            raise InputError(Problem(str(path), "the file does not exist.", "check the path."))
        suffix = path.suffix.lower()
        if suffix not in WINDOW_SUFFIXES:
            raise InputError(
                Problem(
                    str(path),
                    "a province-scale run reads addresses by window, which needs GeoParquet or GeoPackage.",
                    f"convert it, e.g. `ogr2ogr -f GPKG addresses.gpkg {path.name}`, "
                    "or geopandas `gdf.to_parquet(..., write_covering_bbox=True)`.",
                )
            )
        if suffix == ".gpkg":
            return cls._open_gpkg(path, layer)
        return cls._open_parquet(path)

    @classmethod
    def _open_gpkg(cls, path: Path, layer: str | None) -> PointFile:
        try:
            info = pyogrio.read_info(path, layer=layer)
        except Exception as exc:  # noqa: BLE001 - pyogrio raises DataSourceError and friends
            raise InputError(
                Problem(str(path), f"cannot be read as a GeoPackage layer ({exc}).", "check the file and --layer.")
            ) from exc
        if info["geometry_type"] not in ("Point", "Point Z", "Unknown"):
            raise InputError(
                Problem(str(path), f"has {info['geometry_type']} geometries.", "give addresses as single points.")
            )
        crs = CRS.from_user_input(info["crs"]) if info["crs"] else None
        rows = int(info["features"])
        return cls(path, layer, "gpkg", rows, crs, row_starts=np.array([0, rows]))

    @classmethod
    def _open_parquet(cls, path: Path) -> PointFile:
        pq = _pq()
        try:
            meta = pq.ParquetFile(path).metadata
        except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid and friends
            raise InputError(Problem(str(path), f"is not a Parquet file ({exc}).", "export it again.")) from exc
        raw = (meta.metadata or {}).get(b"geo")
        if raw is None:
            raise InputError(
                Problem(str(path), "is Parquet without GeoParquet metadata.", "write it with geopandas to_parquet.")
            )
        try:  # GeoParquet metadata is the file's own claim: check it before any work relies on it
            geo = json.loads(raw)
            name = geo["primary_column"]
            col = geo["columns"][name]
            crs = CRS.from_user_input(col["crs"]) if col.get("crs") else (None if "crs" in col else CRS("OGC:CRS84"))
            encoding = str(col.get("encoding", "WKB"))
            covering = col.get("covering", {}).get("bbox")
            cover = (covering["xmin"][0],) if covering else None
            missing = name not in meta.schema.names and not any(n.startswith(f"{name}.") for n in meta.schema.names)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, CRSError) as exc:
            raise InputError(
                Problem(
                    str(path),
                    f"has damaged GeoParquet metadata ({type(exc).__name__}: {str(exc)[:120]}).",
                    "write the file again with geopandas to_parquet (or GDAL/QGIS as GeoParquet).",
                )
            ) from exc
        if missing:
            raise InputError(
                Problem(
                    str(path),
                    f"has damaged GeoParquet metadata (its geometry column {name!r} is not in the file).",
                    "write the file again with geopandas to_parquet (or GDAL/QGIS as GeoParquet).",
                )
            )
        if encoding.lower() not in ("wkb", "point"):
            raise InputError(
                Problem(str(path), f"stores {encoding} geometries.", "give addresses as points (WKB or point).")
            )
        starts = np.cumsum([0] + [meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
        bounds = _group_bounds(meta, covering, name if encoding.lower() == "point" else None)
        return cls(path, None, "parquet", int(starts[-1]), crs, name, encoding.upper(), cover, starts, bounds)

    @property
    def label(self) -> str:
        """The file (and layer) as named in messages."""
        return f"{self.path}" + (f" (layer {self.layer})" if self.layer else "")

    def read_window(self, bounds: Bounds) -> gpd.GeoDataFrame:
        """Return the points inside `bounds` (in the file's coordinates), indexed by row of the file.

        ``attrs["scanned"]`` says how many rows were decoded to answer (a measure of how well the
        file's order or index fits the window).
        """
        if self.kind == "gpkg":
            gdf = self._gpkg(bbox=bounds)
            gdf.attrs["scanned"] = len(gdf)
            return gdf
        groups = np.arange(len(self.row_starts) - 1)
        if self.group_bounds is not None:
            b = self.group_bounds
            groups = groups[
                (b[:, 0] <= bounds[2]) & (b[:, 2] >= bounds[0]) & (b[:, 1] <= bounds[3]) & (b[:, 3] >= bounds[1])
            ]
        return self._parquet(groups, bounds)

    def read_rows(self, start: int, stop: int) -> gpd.GeoDataFrame:
        """Return rows ``start``..``stop-1`` of the file (GeoParquet: the row groups that hold them)."""
        if self.kind == "gpkg":
            return self._gpkg(skip_features=start, max_features=stop - start)
        first = int(np.searchsorted(self.row_starts, start, side="right") - 1)
        last = int(np.searchsorted(self.row_starts, stop, side="left"))
        gdf = self._parquet(np.arange(first, last), None)
        return gdf.loc[(gdf.index >= start) & (gdf.index < stop)]

    def blocks(self, size: int) -> list[tuple[int, int]]:
        """Split the file into row ranges of about `size` rows (whole row groups for GeoParquet)."""
        if self.kind == "gpkg":
            return [(s, min(s + size, self.rows)) for s in range(0, self.rows, size)]
        cuts = [0]
        for s in self.row_starts[1:]:
            if s - cuts[-1] >= size or s == self.rows:
                cuts.append(int(s))
        return list(zip(cuts[:-1], cuts[1:], strict=True))

    def _gpkg(self, **kw) -> gpd.GeoDataFrame:
        try:
            gdf = pyogrio.read_dataframe(self.path, layer=self.layer, fid_as_index=True, **kw)
        except Exception as exc:  # noqa: BLE001 - GDAL read failures of a damaged file
            raise InputError(
                Problem(self.label, f"cannot be read ({type(exc).__name__}: {exc}).", "export it again.")
            ) from exc
        gdf.index = gdf.index.to_numpy(np.int64) - 1  # GeoPackage feature ids count from 1
        gdf.attrs.update(rows="feature", file=str(self.path))
        return gdf

    def _parquet(self, groups: np.ndarray, bounds: Bounds | None) -> gpd.GeoDataFrame:
        pq = _pq()
        pf = pq.ParquetFile(self.path)
        table = pf.read_row_groups(list(map(int, groups))) if len(groups) else pf.schema_arrow.empty_table()
        rows = np.concatenate(
            [np.arange(self.row_starts[g], self.row_starts[g + 1]) for g in groups] or [np.zeros(0, np.int64)]
        )
        scanned = len(rows)
        geom_col = table.column(self.geometry)
        wkb = None
        if self.encoding == "POINT":
            xy = geom_col.combine_chunks() if len(geom_col) else None
            x = np.asarray(xy.field("x")) if xy is not None else np.zeros(0)
            y = np.asarray(xy.field("y")) if xy is not None else np.zeros(0)
        elif self.covering and bounds is not None:  # filter on the bbox columns, decode only what is kept
            box = table.column(self.covering[0]).combine_chunks()
            x = np.asarray(box.field("xmin")) if len(box) else np.zeros(0)
            y = np.asarray(box.field("ymin")) if len(box) else np.zeros(0)
            wkb = np.asarray(geom_col.to_numpy(zero_copy_only=False), dtype=object)
        else:
            geoms = shapely.from_wkb(np.asarray(geom_col.to_numpy(zero_copy_only=False), dtype=object))
            x, y = shapely.get_x(geoms), shapely.get_y(geoms)  # NaN for anything but a point
        keep = np.ones(len(x), bool)
        if bounds is not None:
            keep = (x >= bounds[0]) & (x <= bounds[2]) & (y >= bounds[1]) & (y <= bounds[3])
        if self.encoding == "POINT":
            geoms = shapely.points(x[keep], y[keep])
        elif wkb is not None:
            geoms = shapely.from_wkb(wkb[keep])
        else:
            geoms = geoms[keep]
        drop = [self.geometry, *(self.covering or ())]
        attrs = table.drop_columns([c for c in drop if c in table.column_names]).filter(keep).to_pandas()
        attrs.index = rows[keep]
        gdf = gpd.GeoDataFrame(attrs, geometry=geoms, crs=self.crs)
        gdf.attrs.update(rows="feature", file=str(self.path), scanned=scanned)
        return gdf


def layer_crs(path: str | Path, *, layer: str | None = None) -> CRS | None:
    """Return the CRS a GeoParquet file or any GDAL vector layer declares (None: it declares none).

    Raises
    ------
    InputError
        When the file cannot be opened.
    """
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".geoparquet"):
        return PointFile._open_parquet(path).crs
    try:
        info = pyogrio.read_info(path, layer=layer)
    except Exception as exc:  # noqa: BLE001 - pyogrio raises DataSourceError and friends
        raise InputError(Problem(str(path), f"cannot be read ({exc}).", "check the path and layer.")) from exc
    return CRS.from_user_input(info["crs"]) if info["crs"] else None


def _group_bounds(meta, covering: dict | None, point_column: str | None) -> np.ndarray | None:
    """Return each row group's (xmin, ymin, xmax, ymax) from its column statistics, or None."""
    if covering:
        paths = {k: ".".join(v) for k, v in covering.items()}
        wanted = (("xmin", "min"), ("ymin", "min"), ("xmax", "max"), ("ymax", "max"))
    elif point_column:
        paths = {"x": f"{point_column}.x", "y": f"{point_column}.y"}
        wanted = (("x", "min"), ("y", "min"), ("x", "max"), ("y", "max"))
    else:
        return None
    index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    if not all(p in index for p in paths.values()):
        return None
    out = np.empty((meta.num_row_groups, 4))
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        for j, (key, which) in enumerate(wanted):
            stats = rg.column(index[paths[key]]).statistics
            if stats is None or not stats.has_min_max:
                return None
            out[g, j] = getattr(stats, which)
    return out
