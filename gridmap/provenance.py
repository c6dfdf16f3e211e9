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
import pandas as pd
import shapely

from geodata.errors import DISTRIBUTION

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
        h.update(pd.util.hash_pandas_object(pd.DataFrame(as_text), index=False).to_numpy().tobytes())
    if geom_col:
        h.update(str(gdf.crs).encode())
        wkb = shapely.to_wkb(gdf.geometry.values, hex=False, output_dimension=2)
        wkb[pd.isna(wkb)] = b"\0"
        h.update(b"".join(wkb.tolist()))  # one update of the joined WKB is the same digest as one per row
    return h.hexdigest()


def fingerprint(frames: Iterable[pd.DataFrame | None], options: Mapping[str, Any]) -> str:
    """Return a digest of the inputs' contents and of every option that changes the grids."""
    h = hashlib.sha256()
    for frame in frames:
        h.update(frame_sha256(frame).encode())
    h.update(json.dumps(dict(options), default=str, sort_keys=True).encode())
    return h.hexdigest()


def now_iso() -> str:
    """Return the current UTC time as ISO 8601 to the second."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
