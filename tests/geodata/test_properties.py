"""Property tests: whatever bytes, text or values arrive, the readers and validators either succeed or
raise a GridmapError (never another exception, which the command line would show as a traceback)."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata import crs as gcrs
from geodata import io as gio
from geodata import validate as gval
from geodata.errors import GridmapError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CELL = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["121.5", "31.2", "", "nan", "inf", "-0", "1e309", "=1+1", "{{ 6*7 }}", "<img src=x onerror=alert(1)>",
                     "一组", '"', "'", ";", "\t", "|", ",", "\r\n", "3.0", "2.5", "-1", "１２"]),
)


def _only_gridmap_errors(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return func(*args, **kwargs)
        except GridmapError:
            return None


_FOLDER = Path(tempfile.mkdtemp(prefix="gridmap-prop-"))  # one folder, its file rewritten by every example


def _file(data: bytes, suffix: str) -> Path:
    path = _FOLDER / f"in{suffix}"
    path.write_bytes(data)
    return path


def teardown_module() -> None:
    import shutil

    shutil.rmtree(_FOLDER, ignore_errors=True)


@SETTINGS
@given(st.binary(max_size=400))
def test_any_bytes_as_csv(data):
    _only_gridmap_errors(gio.read_layer, _file(data, ".csv"))


@SETTINGS
@given(
    st.lists(st.lists(CELL, min_size=0, max_size=5), min_size=0, max_size=6),
    st.sampled_from([",", ";", "\t", "|"]),
    st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]),
    st.booleans(),
)
def test_any_table_as_csv(rows, sep, encoding, header):
    lines = ([sep.join(["lon", "lat", "households", "group"])] if header else []) + [sep.join(r) for r in rows]
    text = "\n".join(lines)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    gdf = _only_gridmap_errors(gio.read_layer, _file(data, ".csv"))
    if gdf is not None:
        _only_gridmap_errors(lambda: gval.validate_addresses(gdf.set_crs("EPSG:4326"), file="a.csv"))


KEYS = st.sampled_from(["type", "features", "geometry", "coordinates", "properties", "crs", "code", "name"])


def _nested(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4)


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8), _nested, max_leaves=20
)


@SETTINGS
@given(JSON, st.sampled_from(["Point", "Polygon", "MultiPolygon", "LineString", "Nope"]))
def test_any_json_as_geojson(value, gtype):
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": value if not isinstance(value, dict | list) else json.dumps(value)},
         "geometry": {"type": gtype, "coordinates": value}},
    ]}
    for payload in (doc, value):
        path = _file(json.dumps(payload, allow_nan=True).encode(), ".geojson")
        gdf = _only_gridmap_errors(gio.read_layer, path)
        if gdf is not None and gdf.crs is not None:
            _only_gridmap_errors(lambda g=gdf: gval.validate_boundaries(g, file="b.geojson"))
            _only_gridmap_errors(lambda g=gdf: gval.validate_addresses(g, file="b.geojson"))


COORD = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.floats(min_value=-200, max_value=200)


@SETTINGS
@given(
    st.lists(st.tuples(COORD, COORD, CELL, CELL), min_size=1, max_size=8),
    st.sampled_from(["EPSG:4326", "EPSG:32651", "EPSG:3857", None]),
    st.booleans(),
)
def test_validators_and_crs_on_any_points(rows, crs, dedupe):
    xs, ys, hh, grp = (list(c) for c in zip(*rows, strict=True))
    pts = gpd.GeoDataFrame({"households": hh, "group": grp}, geometry=gpd.points_from_xy(xs, ys), crs=crs)

    def run():
        g = gcrs.assign_input_crs(pts, input_crs="EPSG:4326", file="a.csv", option="addresses_crs")
        a, _ = gval.validate_addresses(g, file="a.csv", csv_like=True, dedupe=dedupe)
        gcrs.metric_crs(a)
        b = gpd.GeoDataFrame({"code": ["310115005001"]}, geometry=[shapely.box(*a.total_bounds).buffer(1)], crs=a.crs)
        b, _ = gval.validate_boundaries(b, file="b.gpkg")
        gval.assign_villages(a, b, file="a.csv", strict=bool(len(a) % 2))

    _only_gridmap_errors(run)


@SETTINGS
@given(st.lists(st.tuples(CELL, CELL, CELL), min_size=1, max_size=5), st.lists(st.floats(-1e7, 1e7), min_size=4, max_size=4))
def test_validate_boundaries_on_any_attributes(rows, box):
    codes, ur, kind = (list(c) for c in zip(*rows, strict=True))
    x0, y0, x1, y1 = box
    geoms = [shapely.Polygon([(x0, y0), (x1, y0), (x0, y1), (x1, y1)])] * len(rows)  # often a bow-tie
    b = gpd.GeoDataFrame({"code": codes, "urban_rural": ur, "kind": kind}, geometry=geoms, crs="EPSG:32651")
    _only_gridmap_errors(gval.validate_boundaries, b, file="b.gpkg")
    ex = gpd.GeoDataFrame({"type": kind, "name": codes}, geometry=geoms, crs="EPSG:32651")
    _only_gridmap_errors(gval.validate_exclusive, ex, file="e.gpkg")


def test_numeric_columns_of_any_dtype():
    for col in ([1, 2], [1.5, np.nan], [True, False], pd.array([1, None], dtype="Int64"), ["", "x"]):
        pts = gpd.GeoDataFrame({"households": col}, geometry=[shapely.Point(350_000, 3_460_000)] * 2, crs="EPSG:32651")
        _only_gridmap_errors(gval.validate_addresses, pts, file="a.gpkg")
