"""Readers for every input format, and atomic output folders."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata import io as gio
from geodata.errors import InputError, OutputError, OutputExistsError, UnsafeOutputError


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
    pd.DataFrame(
        {"名称": ["陆家嘴", "乳山"], "经度": [121.5, 121.51], "纬度": [31.23, 31.24], "households": [3, 5]}
    ).to_csv(path, index=False, encoding=encoding)
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


def test_a_geojson_written_over_an_earlier_one_replaces_it(tmp_path, points):
    # GeoJSON holds one layer: writing again (an export made again) must not add the new features to the old
    path = tmp_path / "a.geojson"
    gio.write_geojson(path, points)
    gio.write_geojson(path, points.iloc[:1])
    assert list(gpd.read_file(path)["name"]) == ["陆家嘴一号"]


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


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_csv_separator_and_encoding_are_found(tmp_path, sep, encoding):
    path = tmp_path / "a.csv"
    text = sep.join(["名称", "lon", "lat", "户数"]) + "\n" + sep.join(["乳山二村", "121.5", "31.23", "3"]) + "\n"
    path.write_bytes(text.encode(encoding))
    gdf = gio.read_layer(path)
    assert gdf["名称"].tolist() == ["乳山二村"] and gdf["户数"].tolist() == ["3"]
    assert shapely.get_coordinates(gdf.geometry.values).tolist() == [[121.5, 31.23]]


def test_semicolon_csv_with_decimal_commas(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("lon;lat;households\n121,5;31,23;2\n", encoding="utf-8")
    assert shapely.get_coordinates(gio.read_layer(path).geometry.values).tolist() == [[121.5, 31.23]]


def test_missing_coordinate_column_names_the_separator_it_read(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("经度X;纬度Y\n121.5;31.2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"columns are: 经度X, 纬度Y \(read as semicolon-separated\)"):
        gio.read_layer(path)


def test_ragged_csv_line_is_named(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("lon,lat,name\n121.5,31.2,a\n121.6,31.3,b,extra\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"a\.csv, line 3: line 3 has 4 values but the header has 3"):
        gio.read_layer(path)


def test_spreadsheet_named_csv_and_binary_text_are_explained(tmp_path):
    xlsx_as_csv = tmp_path / "a.csv"
    pd.DataFrame({"lon": [121.5], "lat": [31.2]}).to_excel(xlsx_as_csv.with_suffix(".xlsx"), index=False)
    xlsx_as_csv.write_bytes(xlsx_as_csv.with_suffix(".xlsx").read_bytes())
    with pytest.raises(InputError, match=r"is a spreadsheet \(Excel\) file, not CSV text.*rename it to \.xlsx"):
        gio.read_layer(xlsx_as_csv)
    nul = tmp_path / "b.csv"
    nul.write_bytes(b"lon,lat\n1\x00,2\n")
    with pytest.raises(InputError, match="NUL bytes"):
        gio.read_layer(nul)


def test_xlsx_first_sheet_or_named_sheet_with_spreadsheet_rows(tmp_path):
    path = tmp_path / "hh.xlsx"
    with pd.ExcelWriter(path) as xw:
        pd.DataFrame({"说明": ["not data"]}).to_excel(xw, sheet_name="readme", index=False)
        pd.DataFrame(
            {
                "经度": [121.5, 121.6],
                "纬度": [31.2, 31.3],
                "户数": [3, 4],
                "村民小组": ["一组", "<img src=x onerror=alert(1)>{{ 6*7 }}"],
            }
        ).to_excel(xw, sheet_name="户", index=False)
    with pytest.raises(InputError, match=r"hh\.xlsx: no longitude/x column found; columns are: 说明"):
        gio.read_layer(path)
    gdf = gio.read_layer(path, sheet="户")
    assert gdf["户数"].tolist() == ["3", "4"] and gdf["村民小组"].tolist() == [
        "一组",
        "<img src=x onerror=alert(1)>{{ 6*7 }}",
    ]
    assert gdf.geometry.x.tolist() == [121.5, 121.6]
    with pytest.raises(InputError, match=r"has no sheet 'nope' \(sheets: readme, 户\)"):
        gio.read_layer(path, sheet="nope")
    bad = tmp_path / "bad.xlsx"
    with pd.ExcelWriter(bad) as xw:
        pd.DataFrame({"lon": [121.5, "东"], "lat": [31.2, 31.3]}).to_excel(xw, sheet_name="S", index=False)
    with pytest.raises(InputError, match=r"bad\.xlsx, sheet 'S', row 3, column 'lon': got '东'"):
        gio.read_layer(bad)


def test_xls_written_by_libreoffice_is_read(tmp_path):
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed; .ci/run installs it")
    src = tmp_path / "hh.xlsx"
    pd.DataFrame({"lon": [121.5], "lat": [31.2], "name": ["乳山二村"]}).to_excel(src, index=False)
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp_path}/lo",
            "--headless",
            "--convert-to",
            "xls",
            "--outdir",
            str(tmp_path),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    gdf = gio.read_layer(tmp_path / "hh.xls")
    assert gdf["name"].tolist() == ["乳山二村"] and gdf.geometry.x.tolist() == [121.5]


def test_read_tabular_for_attribute_tables(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("grid_code|worker\n310115005001001|张三\n", encoding="gbk")
    df = gio.read_tabular(path)
    assert df.to_dict("records") == [{"grid_code": "310115005001001", "worker": "张三"}]


def manifest(folder, made_by="gridmap"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"made_by": made_by}), encoding="utf-8")
    return folder


def test_overwrite_replaces_only_a_folder_gridmap_made(tmp_path):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(UnsafeOutputError, match="was not made by gridmap"):
        gio.check_output(mine, overwrite=True)
    with pytest.raises(UnsafeOutputError, match="was not made by gridmap"):
        gio.check_output(manifest(tmp_path / "other", made_by="qgis"), overwrite=True)
    gio.check_output(manifest(tmp_path / "run"), overwrite=True)
    assert (mine / "cat.jpg").read_bytes() == b"meow"


def test_overwrite_never_takes_the_working_folder_an_ancestor_or_a_folder_with_inputs(tmp_path, monkeypatch):
    run = manifest(tmp_path / "run")
    (run / "hh.csv").write_text("lon,lat\n1,2\n", encoding="utf-8")
    monkeypatch.chdir(run)
    for out in (Path("."), tmp_path):
        with pytest.raises(UnsafeOutputError, match="working folder"):
            gio.check_output(out, overwrite=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsafeOutputError, match="holds the input"):
        gio.check_output(run, overwrite=True, inputs=[run / "hh.csv"])
    with pytest.raises(UnsafeOutputError, match="is an input file"):
        gio.check_output(run / "hh.csv", overwrite=True, inputs=[run / "hh.csv"])
    with pytest.raises(UnsafeOutputError, match="is a file"):
        gio.check_output(run / "hh.csv", overwrite=True)


def test_output_files_never_replace_inputs_or_a_run_folders_own_data(tmp_path):
    run = manifest(tmp_path / "run")
    (run / "grids.gpkg").write_bytes(b"data")
    with pytest.raises(UnsafeOutputError, match="run folder's own files"):
        gio.check_output_file(run / "grids.gpkg", overwrite=True, protected=("grids.gpkg",))
    with pytest.raises(UnsafeOutputError, match="is an input"):
        gio.check_output_file(run / "grids.gpkg", overwrite=True, inputs=[run / "grids.gpkg"])
    (run / "map_osm.html").write_text("old")
    with pytest.raises(OutputExistsError):
        gio.check_output_file(run / "map_osm.html")
    gio.check_output_file(run / "map_osm.html", overwrite=True, protected=("grids.gpkg",))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_parent_is_refused_before_any_work(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(OutputError, match="no permission"):
        gio.check_output(locked / "run")


def test_unwritable_parent_as_root_is_refused_too(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        gio.check_output(blocker / "run")
    with pytest.raises(OutputError, match="cannot create"), gio.atomic_dir(blocker / "run"):
        pass


def test_killed_runs_leave_work_folders_that_the_next_run_cleans(tmp_path):
    out = tmp_path / "run"
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import os, time; from geodata import io as gio\n"
                f"with gio.atomic_dir({str(out)!r}) as tmp:\n"
                "    (tmp / 'half.txt').write_text('half'); print(tmp, flush=True); time.sleep(60)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        tmp = Path(proc.stdout.readline().strip())
        assert tmp.is_dir() and tmp.name.startswith(".run.")
        assert gio.clean_stale(out) == []  # its process still runs: left alone
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    other = tmp_path / ".other.123.x.tmp"  # belongs to another output: left alone
    other.mkdir()
    with gio.atomic_dir(out) as new:
        (new / "a.txt").write_text("ok")
    assert not tmp.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.123.x.tmp", "run"]


def test_run_folders_get_normal_permissions_and_the_made_by_marker(tmp_path):
    old = os.umask(0o022)
    try:
        with gio.atomic_dir(tmp_path / "run") as tmp:
            (tmp / "a.txt").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o755
    assert gio.is_gridmap_folder(tmp_path / "run")


def test_disk_errors_while_writing_become_output_errors_and_change_nothing(tmp_path):
    out = manifest(tmp_path / "run")
    with pytest.raises(OutputError, match="No space left"), gio.atomic_dir(out, overwrite=True):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert gio.is_gridmap_folder(out)


def test_write_layers_keeps_field_types_on_the_arrow_path_and_falls_back_where_it_would_not(tmp_path):
    import numpy as np
    import pyogrio

    grids = gpd.GeoDataFrame(
        {
            "grid_code": pd.Series(["330106001001001", "330106001001002"], dtype=object),
            "village_name": ["西湖街道", "北山街道"],
            "households": np.array([320, 480], dtype="int64"),
            "area_m2": [1.5e4, 2.5e4],
            "kept": [True, False],
        },
        geometry=[shapely.box(0, 0, 1, 1), shapely.MultiPolygon([shapely.box(2, 0, 3, 1), shapely.box(4, 0, 5, 1)])],
        crs="EPSG:4547",
    )
    mixed = grids.assign(worker=pd.Series([7, None], dtype=object))  # ints in an object column
    empty = gpd.GeoDataFrame({"kind": [], "ref": []}, geometry=[], crs="EPSG:4547")
    assert gio.arrow_ready(grids) and not gio.arrow_ready(mixed)
    path = tmp_path / "out.gpkg"
    gio.write_layers(path, {"grids": grids, "mixed": mixed, "empty": empty})
    info = pyogrio.read_info(path, layer="grids")
    assert dict(zip(info["fields"], info["dtypes"], strict=True)) == {
        "grid_code": "object",
        "village_name": "object",
        "households": "int64",
        "area_m2": "float64",
        "kept": "bool",
    }
    assert info["geometry_type"] == "MultiPolygon"
    back = gio.read_layer(path, layer="grids")
    assert back["grid_code"].tolist() == ["330106001001001", "330106001001002"]
    assert back["village_name"].tolist() == ["西湖街道", "北山街道"]
    # the classic path writes an object column of numbers as text, as it always did
    worker = pyogrio.read_info(path, layer="mixed")
    assert dict(zip(worker["fields"], worker["dtypes"], strict=True))["worker"] == "object"
    assert pyogrio.read_info(path, layer="empty")["features"] == 0


def _sql_dump(path: Path) -> list[str]:
    """A GeoPackage as SQL, its write times blanked (two writes of one layer then read the same)."""
    import re
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as db:
        return [re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "T", line) for line in db.iterdump()]


def _geometries(kind: str) -> list:
    """Six geometries of one kind of layer, as runs and inputs hold them."""
    import numpy as np

    points = list(gpd.points_from_xy(121.5 + np.arange(6) / 1e3, 31.2 + np.arange(6) / 7e3))
    boxes = [shapely.box(121.5 + i / 1e3, 31.2, 121.5 + (i + 0.8) / 1e3, 31.201) for i in range(6)]
    return {
        "points": points,
        "polygons": boxes,
        "polygons and multipolygons": [*boxes[:3], shapely.MultiPolygon(boxes[3:5]), None, shapely.Polygon()],
        "lines in 3D": [
            shapely.force_3d(shapely.LineString([p, q])) for p, q in zip(points, points[1:] + points[:1], strict=True)
        ],
        "points and multipoints in 3D": [
            *(shapely.force_3d(p) for p in points[:4]),
            shapely.force_3d(shapely.MultiPoint(points[4:])),
            shapely.Point(),
        ],
        "lines and multilines": [
            *(shapely.LineString([p, q]) for p, q in zip(points[:3], points[1:4], strict=True)),
            shapely.MultiLineString([points[3:5], points[4:6]]),
            None,
            shapely.LineString(points[:3]),
        ],
        "points and lines": [
            *points[:3],
            *(shapely.LineString([p, q]) for p, q in zip(points[3:], points[:3], strict=True)),
        ],
    }[kind]


@pytest.mark.parametrize(
    "kind",
    [
        "points",
        "polygons",
        "polygons and multipolygons",
        "points and multipoints in 3D",
        "lines and multilines",
        "lines in 3D",
        "points and lines",
    ],
)
@pytest.mark.parametrize("crs", ["EPSG:4326", "+proj=tmerc +lon_0=121.5 +k=1 +x_0=500000 +ellps=GRS80 +units=m"])
def test_arrow_layers_are_pyogrios_own_files(tmp_path, crs, kind):
    """A layer as gridmap hands it to GDAL (a point layer's WKB made from its coordinates) is pyogrio's own file."""
    import pyogrio

    layer = _mixed_fields().assign(
        blank=pd.Series([None] * 6, dtype=object), kind=pd.Series(list("abcdef"), dtype="str")
    )
    layer = layer[["name", "geometry", "code", "households", "floors", "area", "blank", "kind"]]
    layer = layer.set_geometry(gpd.GeoSeries(_geometries(kind), crs=crs))
    assert gio.arrow_layer(layer) is not None
    gio.write_layers(tmp_path / "ours.gpkg", {"addresses": layer})
    pyogrio.write_dataframe(layer, tmp_path / "pyogrio.gpkg", layer="addresses", driver="GPKG", use_arrow=True)
    assert _sql_dump(tmp_path / "ours.gpkg") == _sql_dump(tmp_path / "pyogrio.gpkg")
    ours, theirs = tmp_path / "ours" / "grids.geojson", tmp_path / "pyogrio" / "grids.geojson"  # named after the file
    ours.parent.mkdir(), theirs.parent.mkdir()
    gio.write_geojson(ours, layer)
    pyogrio.write_dataframe(
        layer.to_crs("EPSG:4326"), theirs, driver="GeoJSON", use_arrow=True, layer_options=gio.GEOJSON_OPTIONS
    )
    assert ours.read_bytes() == theirs.read_bytes()


@pytest.mark.parametrize("kind", ["points", "polygons"])
def test_a_layer_of_geometries_alone_is_pyogrios_own_file(tmp_path, kind):
    """A layer with no attribute column (a user's barriers, say) is written with all its rows, as pyogrio writes it."""
    import pyogrio

    layer = gpd.GeoDataFrame(geometry=_geometries(kind), crs="EPSG:4326")
    gio.write_layers(tmp_path / "ours.gpkg", {"barriers": layer})
    pyogrio.write_dataframe(layer, tmp_path / "pyogrio.gpkg", layer="barriers", driver="GPKG", use_arrow=True)
    assert _sql_dump(tmp_path / "ours.gpkg") == _sql_dump(tmp_path / "pyogrio.gpkg")
    assert len(pyogrio.read_dataframe(tmp_path / "ours.gpkg")) == len(layer)


def test_geojson_coordinates_keep_twelve_significant_figures(tmp_path):
    """GeoJSON is written to 12 significant figures (0.1 mm in degrees), not GDAL's 17 digits of float noise."""
    import json

    import numpy as np
    import shapely

    ring = [(121.123456789012345, 31.98765432109876), (121.2, 31.9), (121.25, 31.999999999999), (121.1, 31.95)]
    grids = gpd.GeoDataFrame({"grid_code": ["a"]}, geometry=[shapely.Polygon(ring)], crs="EPSG:4326")
    path = tmp_path / "grids.geojson"
    gio.write_geojson(path, grids)
    text = json.loads(path.read_text())["features"][0]["geometry"]["coordinates"][0]
    written = np.array(text)
    assert np.abs(written - shapely.get_coordinates(grids.geometry.values)).max() < 1e-9
    assert written[0].tolist() == [121.123456789, 31.9876543211]
    assert written[2].tolist() == [121.25, 32.0]


def test_the_largest_layer_goes_first_and_the_file_lists_and_holds_the_layers_as_given(tmp_path):
    """A city's addresses are written first (GDAL indexes them beside their rows, in a second thread); the
    GeoPackage still lists its layers in the order given and holds, row for row, what pyogrio writes in that order.
    """
    import numpy as np
    import pyogrio

    grids = _mixed_fields().set_geometry(gpd.GeoSeries(_geometries("polygons"), crs="EPSG:4326"))
    n = 120_000  # enough rows for GDAL's index thread to start
    rng = np.random.default_rng(0)
    addresses = gpd.GeoDataFrame(
        {"households": rng.integers(1, 5, n), "building": pd.Series(rng.integers(0, 900, n).astype(str), dtype="str")},
        geometry=gpd.points_from_xy(121.5 + rng.random(n) / 10, 31.2 + rng.random(n) / 10),
        crs="EPSG:4326",
    )
    layers = {"grids": grids, "addresses": addresses, "none": grids.iloc[:0]}
    gio.write_layers(tmp_path / "ours.gpkg", layers)
    for name, layer in layers.items():
        pyogrio.write_dataframe(layer, tmp_path / "theirs.gpkg", layer=name, driver="GPKG", use_arrow=len(layer) > 0)
    listed = [pyogrio.list_layers(tmp_path / f)[:, 0].tolist() for f in ("ours.gpkg", "theirs.gpkg")]
    assert listed == [["grids", "addresses", "none"]] * 2
    assert sorted(_sql_dump(tmp_path / "ours.gpkg")) == sorted(_sql_dump(tmp_path / "theirs.gpkg"))


def test_overwrite_names_the_files_gridmap_did_not_write(tmp_path):
    out = tmp_path / "run"
    with gio.atomic_dir(out) as tmp:
        (tmp / "grids.gpkg").write_text("g")
        (tmp / "maps").mkdir()
        (tmp / "maps" / "a.html").write_text("m")
    assert json.loads((out / "manifest.json").read_text())["files"] == ["grids.gpkg", "manifest.json", "maps/a.html"]
    with gio.atomic_dir(out / "export") as tmp:  # `gridmap export` inside the run
        (tmp / "grids.zip").write_text("z")
    (out / "map_gaode.html").write_text("`gridmap map` output")
    assert gio.foreign_files(out) == []
    gio.check_output(out, overwrite=True)
    (out / "signed_roster.xlsx").write_text("the user's")
    (out / "export" / "notes.txt").write_text("the user's")
    assert gio.foreign_files(out) == ["export/notes.txt", "signed_roster.xlsx"]
    with pytest.raises(
        UnsafeOutputError, match=r"holds files gridmap did not write \(export/notes\.txt, signed_roster"
    ):
        gio.check_output(out, overwrite=True)
    with pytest.raises(UnsafeOutputError), gio.atomic_dir(out, overwrite=True):
        pass
    assert (out / "signed_roster.xlsx").read_text() == "the user's"


def test_stale_cleaning_needs_gridmaps_marker_and_a_dead_pid(tmp_path):
    out = tmp_path / "run"
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    ours = tmp_path / f".run.{dead}.abc.tmp"
    ours.mkdir()
    (ours / gio.WORK_MARKER).write_text(str(dead))
    lookalikes = [tmp_path / ".run.mybackup.tmp", tmp_path / f".run.{dead}.x.tmp", tmp_path / f".run.old-{dead}"]
    for folder in lookalikes:
        folder.mkdir()
        (folder / "keep.txt").write_text("mine")
    assert gio.clean_stale(out) == [ours]
    assert all((f / "keep.txt").exists() for f in lookalikes)


# ---------------------------------------------------------------- CSV: what a spreadsheet or csv reader gets back

_CELL_TEXT = st.text(st.sampled_from(list("ab,\"'=+-@\t\r\n 社区 0123456789")), max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), _CELL_TEXT),
            st.one_of(st.none(), st.text(st.sampled_from(list("0123456789")), min_size=1, max_size=15)),
            st.one_of(st.none(), st.integers(-(10**12), 10**12)),
            st.floats(allow_nan=True, allow_infinity=True),
            st.booleans(),
        ),
        max_size=12,
    )
)
def test_csv_reads_back_cell_for_cell(tmp_path_factory, rows):
    """Every cell comes back as written: text neutralised, codes with their tab, numbers as pandas writes them."""
    import csv

    import numpy as np

    df = pd.DataFrame(rows, columns=["name", "code", "count", "x", "flag"])
    df["count"] = df["count"].astype("Int64")
    df["x"] = df["x"].astype(np.float64)
    df["flag"] = df["flag"].astype(bool)
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    gio.write_csv(path, df, text_cols=("code",))
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with open(path, encoding="utf-8-sig", newline="") as f:
        got = list(csv.reader(f))
    assert got[0] == list(df.columns)

    def text(v, *, code=False):
        if pd.isna(v):
            return ""
        v = "'" + v if v.startswith(gio.FORMULA_START) else v
        return "\t" + v if code and v else v

    expected = [
        [text(n), text(c, code=True), "" if k is pd.NA else str(k), "" if np.isnan(x) else repr(float(x)), str(b)]
        for n, c, k, x, b in df.itertuples(index=False)
    ]
    assert got[1:] == expected


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), st.text(st.sampled_from(list("ab,\"'=+-@\t\n 社区 0123456789")), max_size=8)),
            st.one_of(st.none(), st.text(st.sampled_from(list("0123456789=-")), max_size=15)),
            st.one_of(st.none(), st.integers(-(10**12), 10**12)),
            st.floats(allow_nan=True, allow_infinity=True),
            st.booleans(),
        ),
        max_size=12,
    ),
    string_dtype=st.booleans(),
)
def test_csv_bytes_are_pandas_writers_bytes(tmp_path_factory, rows, string_dtype):
    """Arrow's file (its CSV writer, or quoted cells joined where a cell needs quotes) is pandas' file, byte for byte.

    Text without CR: pandas leaves a lone CR unquoted, where RFC 4180 (and Arrow's file) quotes it.
    """
    import numpy as np

    df = pd.DataFrame(rows, columns=["name", "code", "count", "x", "flag"])
    df = df.astype({"count": "Int64", "x": np.float64, "flag": bool})
    if string_dtype:  # a roster's columns as pandas reads them (Arrow-backed text), not Python objects
        df = df.astype({"name": pd.StringDtype("pyarrow"), "code": pd.StringDtype("pyarrow")})
    folder = tmp_path_factory.mktemp("csv")
    gio.write_csv(folder / "arrow.csv", df, text_cols=("code",))
    gio._pandas_csv(folder / "pandas.csv", df, text_cols=("code",))
    assert (folder / "arrow.csv").read_bytes() == (folder / "pandas.csv").read_bytes()


def test_csv_written_in_chunks_is_the_file_written_whole(tmp_path, monkeypatch):
    """Chunks (a city's roster) give the same bytes; a later chunk Arrow cannot write sends the whole file to pandas."""
    df = pd.DataFrame(
        {
            "name": ["=1+1", "社区", None, 'a,"b"', "x"] * 2,
            "code": ["310115001001001"] * 10,
            "n": range(10),
            "x": [0.5, 1.0, float("nan"), 1e-7, 3.0] * 2,
        }
    )
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    gio.write_csv(whole, df, text_cols=("code",))
    monkeypatch.setattr(gio, "CSV_CHUNK_ROWS", 3)
    gio.write_csv(chunked, df, text_cols=("code",))
    assert chunked.read_bytes() == whole.read_bytes()
    mixed = df.astype({"name": object})
    mixed.loc[8, "name"] = 7  # text until the third chunk, then a number: not a text column
    gio.write_csv(chunked, mixed, text_cols=("code",))
    monkeypatch.setattr(gio, "CSV_CHUNK_ROWS", 100)
    gio.write_csv(whole, mixed, text_cols=("code",))
    assert chunked.read_bytes() == whole.read_bytes()
    rows = chunked.read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == 11 and rows[9].startswith("7,")


def _mixed_fields(n: int = 6) -> gpd.GeoDataFrame:
    """Points with every field type an input carries: text (Chinese, blank, null), integers, reals, nulls."""
    import numpy as np

    return gpd.GeoDataFrame(
        {
            "name": pd.Series(["陆家嘴一号", None, "", "乳山二村", " a b ", "x"][:n], dtype=object),
            "code": pd.Series(["310115005001", "310115005002", None, "0123", "310115005001", "1"][:n], dtype=object),
            "households": np.arange(n, dtype="int64") * 3,
            "floors": pd.Series([1, None, 3, 4, 5, 6][:n], dtype="Int64"),
            "area": [1.5, np.nan, 0.0, -2.25, 1e-7, 3e9][:n],
        },
        geometry=gpd.points_from_xy(121.5 + np.arange(n) / 1e3, 31.2 + np.arange(n) / 7e3),
        crs="EPSG:4326",
    )


def _spy_reads(monkeypatch) -> list[bool]:
    """Record, for every pyogrio read, whether it asked for the Arrow path."""
    import pyogrio

    calls: list[bool] = []
    real = pyogrio.read_dataframe

    def spy(*args, **kwargs):
        calls.append(bool(kwargs.get("use_arrow")))
        return real(*args, **kwargs)

    monkeypatch.setattr(gio.pyogrio, "read_dataframe", spy)
    return calls


def _classic(monkeypatch, path, **kwargs) -> gpd.GeoDataFrame:
    with monkeypatch.context() as m:
        m.setattr(gio, "ARROW_READS", ())
        return gio.read_layer(path, **kwargs)


def _shapefile(tmp_path: Path, gdf: gpd.GeoDataFrame, *, encoding: str, cpg: bool, zipped: bool = False) -> Path:
    shp = tmp_path / f"{encoding}{'' if cpg else '-nocpg'}.shp"
    gdf.to_file(shp, encoding=encoding)
    if not cpg:
        shp.with_suffix(".cpg").unlink()
    if not zipped:
        return shp
    zpath = shp.with_suffix(".zip")
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in tmp_path.glob(f"{shp.stem}.*"):
            if f.suffix != ".zip":
                zf.write(f, f.name)
    return zpath


@pytest.mark.parametrize("layer", ["addresses", "boundaries", "exclusive", "barriers"])
def test_arrow_read_of_the_sample_is_the_classic_frame(monkeypatch, layer):
    from geopandas.testing import assert_geodataframe_equal

    from geodata.sample import sample_path
    from gridmap.provenance import fingerprint

    classic = _classic(monkeypatch, sample_path(), layer=layer)
    calls = _spy_reads(monkeypatch)
    fast = gio.read_layer(sample_path(), layer=layer)
    assert calls == [True]  # one read, through Arrow, and kept
    assert_geodataframe_equal(fast, classic, check_less_precise=False, check_index_type=True)
    assert fast.attrs == classic.attrs
    assert fingerprint([fast], {}) == fingerprint([classic], {})  # a resume folder of either read is the other's


@pytest.mark.parametrize(
    ("make", "arrow"),
    [
        pytest.param(lambda d, g: _shapefile(d, g, encoding="gbk", cpg=True), True, id="shp-gbk-cpg"),
        pytest.param(lambda d, g: _shapefile(d, g, encoding="utf-8", cpg=True), True, id="shp-utf8-cpg"),
        pytest.param(lambda d, g: _shapefile(d, g, encoding="utf-8", cpg=False), True, id="shp-utf8-no-cpg"),
        pytest.param(lambda d, g: _shapefile(d, g, encoding="gbk", cpg=False), True, id="shp-gbk-no-cpg"),
        pytest.param(lambda d, g: _shapefile(d, g, encoding="gbk", cpg=False, zipped=True), True, id="zip-gbk"),
        pytest.param(lambda d, g: g.to_file(d / "a.fgb", driver="FlatGeobuf") or d / "a.fgb", True, id="fgb"),
        pytest.param(lambda d, g: g.to_file(d / "a.gpkg", layer="a") or d / "a.gpkg", True, id="gpkg"),
        pytest.param(lambda d, g: g.to_file(d / "a.geojson", driver="GeoJSON") or d / "a.geojson", False, id="json"),
    ],
)
def test_arrow_read_of_shapefiles_and_geojson_is_the_classic_frame(tmp_path, monkeypatch, make, arrow):
    """Same columns, dtypes, values (nulls, blanks, Chinese text in either encoding), row order and geometry."""
    from geopandas.testing import assert_geodataframe_equal

    path = make(tmp_path, _mixed_fields())
    classic = _classic(monkeypatch, path)
    calls = _spy_reads(monkeypatch)
    fast = gio.read_layer(path)
    assert_geodataframe_equal(fast, classic, check_less_precise=False, check_index_type=True)
    assert fast.attrs == classic.attrs
    assert "陆家嘴一号" in fast["name"].tolist()  # decoded, not mojibake
    assert calls[-1] is arrow  # the frame kept came through Arrow (GeoJSON: GDAL parses it either way)


@pytest.mark.parametrize("field", ["vacant", "surveyed"])
def test_fields_typed_apart_by_the_two_paths_take_the_classic_read(tmp_path, monkeypatch, field):
    """Booleans with nulls come out of pyogrio's Arrow path as objects (classic: floats): read classically, as dates."""
    from geopandas.testing import assert_geodataframe_equal

    values = {
        "vacant": pd.Series([True, None, False], dtype="boolean"),
        "surveyed": pd.to_datetime(pd.Series(["2024-05-01 08:00", None, "2023-01-09 17:30"])),
    }
    path = tmp_path / "a.gpkg"
    _mixed_fields(3).assign(**{field: values[field]}).to_file(path)
    classic = _classic(monkeypatch, path)
    calls = _spy_reads(monkeypatch)
    fast = gio.read_layer(path)
    assert_geodataframe_equal(fast, classic, check_less_precise=False, check_index_type=True)
    assert calls == [True, False]


@pytest.mark.parametrize("damaged", ["a.gpkg", "a.fgb", "a.geojson", "a.shp", "a.dbf"])
def test_a_damaged_file_gives_what_the_classic_read_gives(tmp_path, monkeypatch, damaged):
    """Garbage in its last third, or cut short there: the same error, or (where GDAL reads on) the same frame."""
    import numpy as np
    from geopandas.testing import assert_geodataframe_equal

    n = 3000
    path = tmp_path / ("a.shp" if damaged == "a.dbf" else damaged)
    gpd.GeoDataFrame(
        {"name": [f"户{i}" for i in range(n)], "households": np.arange(n)},
        geometry=gpd.points_from_xy(121 + np.arange(n) / 1e4, 31 + np.arange(n) / 1e4),
        crs="EPSG:4326",
    ).to_file(path)
    data = bytearray((tmp_path / damaged).read_bytes())
    at = len(data) * 2 // 3
    if damaged in ("a.gpkg", "a.fgb"):
        data[at : at + 4000] = np.random.default_rng(7).bytes(4000)
    else:
        del data[at:]
    (tmp_path / damaged).write_bytes(bytes(data))

    def outcome(read):
        try:
            return read()
        except InputError as exc:
            return str(exc)

    classic = outcome(lambda: _classic(monkeypatch, path))
    fast = outcome(lambda: gio.read_layer(path))
    if isinstance(classic, str):
        assert fast == classic
    else:
        assert_geodataframe_equal(fast, classic, check_less_precise=False, check_index_type=True)


def test_arrow_read_gives_text_in_one_chunk_as_the_classic_read(tmp_path, monkeypatch):
    """Past pyogrio's 65,536-row batches too: a village's rows are taken from one chunk, not from eighteen."""
    import numpy as np
    import pyarrow as pa

    n = 70_000
    path = tmp_path / "a.gpkg"
    gpd.GeoDataFrame(
        {"name": [f"户{i % 977}" for i in range(n)]},
        geometry=gpd.points_from_xy(121 + np.arange(n) / 1e6, np.full(n, 31.0)),
        crs="EPSG:4326",
    ).to_file(path)
    calls = _spy_reads(monkeypatch)
    fast = gio.read_layer(path)
    assert calls == [True]
    assert pa.chunked_array(fast["name"].array.__arrow_array__()).num_chunks == 1
    assert fast["name"].iloc[[0, 65_536, n - 1]].tolist() == ["户0", f"户{65_536 % 977}", f"户{(n - 1) % 977}"]
