"""Readers for every input format, and atomic output folders."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geodata import io as gio
from geodata.errors import InputError, OutputExistsError


@pytest.fixture
def points():
    return gpd.GeoDataFrame(
        {"name": ["陆家嘴一号", "乳山二村"], "households": [3, 5]},
        geometry=[shapely.Point(121.50, 31.23), shapely.Point(121.51, 31.24)],
        crs="EPSG:4326",
    )


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk"])
def test_csv_in_utf8_and_gbk_with_lon_lat_found(tmp_path, encoding):
    path = tmp_path / "a.csv"
    pd.DataFrame({"名称": ["陆家嘴", "乳山"], "经度": [121.5, 121.51], "纬度": [31.23, 31.24], "households": [3, 5]}).to_csv(
        path, index=False, encoding=encoding
    )
    gdf = gio.read_layer(path)
    assert list(gdf["名称"]) == ["陆家嘴", "乳山"]
    assert shapely.get_coordinates(gdf.geometry.values).tolist() == [[121.5, 31.23], [121.51, 31.24]]


def test_csv_x_y_columns_and_overrides(tmp_path):
    path = tmp_path / "a.csv"
    pd.DataFrame({"E": [1.0, 2.0], "N": [3.0, 4.0]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"a\.csv.*no longitude/x column.*`x_col`"):
        gio.read_layer(path)
    gdf = gio.read_layer(path, x_col="E", y_col="N")
    assert gdf.geometry.x.tolist() == [1.0, 2.0]


def test_csv_bad_coordinate_names_row_and_column(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("lon,lat\n121.5,31.2\nabc,31.3\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"a\.csv, row 2 \(line 3\), column 'lon': got 'abc'"):
        gio.read_layer(path)


def test_empty_csv_is_an_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match=r"empty\.csv: the file is empty"):
        gio.read_layer(path)
    path.write_text("lon,lat\n", encoding="utf-8")
    with pytest.raises(InputError, match="header but no rows"):
        gio.read_layer(path)


def test_geojson_and_geopackage_layers(tmp_path, points):
    gj = tmp_path / "a.geojson"
    points.to_file(gj, driver="GeoJSON")
    assert list(gio.read_layer(gj)["name"]) == ["陆家嘴一号", "乳山二村"]
    gpkg = tmp_path / "a.gpkg"
    points.to_file(gpkg, layer="addresses")
    points.iloc[:1].to_file(gpkg, layer="other")
    with pytest.raises(InputError, match=r"has 2 layers \(addresses, other\)"):
        gio.read_layer(gpkg)
    assert len(gio.read_layer(gpkg, layer="addresses")) == 2
    with pytest.raises(InputError, match="has no layer 'nope'"):
        gio.read_layer(gpkg, layer="nope")


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_shapefile_encoding_from_cpg(tmp_path, points, encoding):
    shp = tmp_path / "a.shp"
    points.to_file(shp, encoding=encoding)
    assert list(gio.read_layer(shp)["name"]) == ["陆家嘴一号", "乳山二村"]


def test_shapefile_without_cpg_falls_back_to_gbk(tmp_path, points):
    shp = tmp_path / "a.shp"
    points.to_file(shp, encoding="gbk")
    shp.with_suffix(".cpg").unlink()
    assert list(gio.read_layer(shp)["name"]) == ["陆家嘴一号", "乳山二村"]


def test_zipped_shapefile(tmp_path, points):
    shp = tmp_path / "a.shp"
    points.to_file(shp, encoding="gbk")
    zpath = tmp_path / "a.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in tmp_path.glob("a.*"):
            if f.suffix != ".zip":
                zf.write(f, f.name)
    gdf = gio.read_layer(zpath)
    assert list(gdf["name"]) == ["陆家嘴一号", "乳山二村"]
    assert gdf.crs.to_epsg() == 4326


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        gio.read_layer(tmp_path / "nope.gpkg")


def test_rename_fields_names_the_missing_column(points):
    out = gio.rename_fields(points, {"households": "households", "group": None}, file="a.gpkg")
    assert "households" in out
    with pytest.raises(InputError, match=r"a\.gpkg, column 'hh': the column 'hh' given for 'households'"):
        gio.rename_fields(points, {"households": "hh"}, file="a.gpkg")


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError), gio.atomic_dir(out) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("boom")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_never_overwrites_without_permission(tmp_path):
    out = tmp_path / "run"
    with gio.atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(OutputExistsError, match="--overwrite"), gio.atomic_dir(out):
        pass
    assert (out / "a.txt").read_text() == "first"
    with gio.atomic_dir(out, overwrite=True) as tmp:
        (tmp / "b.txt").write_text("second")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt", "manifest.json"]
    # a failed overwrite keeps the old run
    with pytest.raises(RuntimeError), gio.atomic_dir(out, overwrite=True) as tmp:
        raise RuntimeError("boom")
    assert (out / "b.txt").read_text() == "second"
