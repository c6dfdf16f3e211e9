"""Provenance of a run: versions, input checksums and the fingerprint that decides what may be resumed."""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.crs import plain_points
from geodata.errors import DISTRIBUTION
from geodata.validate import row_hashes

MADE_BY = "gridmap"
"""Value of ``made_by`` in every manifest gridmap writes: marks folders gridmap may replace."""


@functools.cache
def gridmap_version() -> str:
    """Return the installed gridmap version (``0+unknown`` when run from a bare source tree)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"


def library_versions() -> dict[str, str]:
    """Return the versions of Python and of the libraries whose behaviour shapes the grids."""
    return dict(_library_versions())


@functools.cache
def _library_versions() -> dict[str, str]:  # ~20 ms of metadata lookups: once per process, not once per village
    names = ("geopandas", "shapely", "pyogrio", "pyproj", "networkx", "folium", "numpy", "pandas", "scipy")
    out = {"python": ".".join(map(str, sys.version_info[:3]))}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - every one is a dependency
            out[name] = "missing"
    import pyogrio

    out["gdal"] = pyogrio.__gdal_version_string__
    return out


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def frame_sha256(gdf: pd.DataFrame | None) -> str:
    """Return a SHA-256 of a (Geo)DataFrame's values, geometry as WKB, CRS included."""
    h = hashlib.sha256()
    if gdf is None:
        return h.hexdigest()
    geom_col = gdf.geometry.name if isinstance(gdf, gpd.GeoDataFrame) else None
    attrs = gdf.drop(columns=[geom_col]) if geom_col else gdf
    h.update(json.dumps([str(c) for c in attrs.columns]).encode())
    if len(attrs.columns):
        # values hashed as text; object and text columns hash the same as their text already, so only
        # the others are converted (converting 1.14M codes to text took 0.8 s of a city run)
        as_text = {
            c: v if v.dtype == object or isinstance(v.dtype, pd.StringDtype) else v.astype(str)
            for c, v in attrs.items()
        }
        h.update(row_hashes(pd.DataFrame(as_text)).tobytes())
    if geom_col:
        h.update(str(gdf.crs).encode())
        h.update(_wkb_bytes(gdf.geometry.values))  # one update of the joined WKB: the same digest as one per row
    return h.hexdigest()


def _wkb_bytes(geoms: np.ndarray) -> bytes:
    """Every geometry's 2D WKB, joined (a missing one as one zero byte)."""
    wkb = shapely.to_wkb(geoms, hex=False, output_dimension=2)
    wkb[pd.isna(wkb)] = b"\0"
    return b"".join(wkb.tolist())


HASHED_ROWS = 1 << 16
"""Rows of a text column, or points, :func:`fingerprint` hashes in one call (a few ms under Python's lock):
the fingerprint of a fresh run is taken while its villages run, and a worker process that finished one
waits for this process to take its result (50-70 ms per wait, hashing a million rows at once)."""


def fingerprint(frames: Iterable[pd.DataFrame | None], options: Mapping[str, Any]) -> str:
    """Return a digest of the inputs' contents and of every option that changes the grids.

    It decides whether a resume folder's villages may be reused, so it reads every value, but as
    it is stored nowhere else it need not be :func:`frame_sha256`'s text form: numbers are hashed
    as their bytes and points as their coordinates (1.4 s -> 0.3 s on the city's 1.14M addresses).
    """
    h = hashlib.sha256()
    for frame in frames:
        _update_with_frame(h, frame)
    h.update(json.dumps(dict(options), default=str, sort_keys=True).encode())
    return h.hexdigest()


def _update_with_frame(h: Any, gdf: pd.DataFrame | None) -> None:
    """Feed `h` a frame's columns, their types and values, and its geometry with its CRS."""
    if gdf is None:
        h.update(b"\0none")
        return
    geom_col = gdf.geometry.name if isinstance(gdf, gpd.GeoDataFrame) else None
    h.update(json.dumps([[str(c), str(t)] for c, t in gdf.dtypes.items()]).encode())
    h.update(str(len(gdf)).encode())
    for name, col in gdf.items():
        if name == geom_col:
            continue
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "biufmM":  # numpy numbers and times: their bytes
            h.update(np.ascontiguousarray(col.to_numpy()).tobytes())
        else:  # in runs of rows, so a run's workers are not kept waiting on this process's lock meanwhile
            for start in range(0, len(col), HASHED_ROWS):
                h.update(row_hashes(col.iloc[start : start + HASHED_ROWS].to_frame()).tobytes())
    if geom_col:
        geoms = np.asarray(gdf.geometry.values)
        h.update(str(gdf.crs).encode())
        if plain_points(geoms):  # points: the coordinates are the whole geometry
            for start in range(0, len(geoms), HASHED_ROWS):
                h.update(shapely.get_coordinates(geoms[start : start + HASHED_ROWS]).tobytes())
        else:
            h.update(_wkb_bytes(geoms))


def now_iso() -> str:
    """Return the current UTC time as ISO 8601 to the second."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
