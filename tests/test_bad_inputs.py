"""Bad and hostile input, across every command and input kind, as a user meets it on the console.

Every case runs the real entry point (``gridmap.cli.run``) in a fresh folder holding good inputs and
a finished run folder, after making one thing wrong. Each asserts the exit code (2 for a user error,
as documented), that the message names the file, row and column where there is one, that no
traceback is printed, and that no file or folder was created, changed or removed.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from gridmap.cli import run
from tests.conftest import ORIGIN, grid_points, square

UTM = "EPSG:32651"


# ---------------------------------------------------------------- good inputs, made once


def _town() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    a = grid_points(12, 6, households=40)
    b = grid_points(8, 6, households=40, origin=(ORIGIN[0] + 240, ORIGIN[1]))
    c = grid_points(6, 6, households=2, origin=(ORIGIN[0] + 400, ORIGIN[1]))
    c["group"] = np.where(c.geometry.x < ORIGIN[0] + 460, "第1组", "第2组")
    pts = gpd.GeoDataFrame(pd.concat([a, b, c], ignore_index=True), geometry="geometry", crs=UTM)
    pts["households"] = pts["households"].astype(int)
    bnd = gpd.GeoDataFrame(
        {
            "code": ["310115005001", "310115005003", "310115103269"],
            "name": ["社区A", "社区B", "七星村"],
            "urban_rural": ["111", "111", "220"],
        },
        geometry=[
            square(240, 120),
            square(160, 120, origin=(ORIGIN[0] + 240, ORIGIN[1])),
            square(120, 120, origin=(ORIGIN[0] + 400, ORIGIN[1])),
        ],
        crs=UTM,
    )
    return pts.to_crs(4326), bnd.to_crs(4326)


def _csv(pts: gpd.GeoDataFrame, path: Path, **kw) -> None:
    df = pd.DataFrame(
        {
            "lon": pts.geometry.x.round(7),
            "lat": pts.geometry.y.round(7),
            "households": pts["households"],
            "group": pts["group"].fillna(""),
        }
    )
    df.to_csv(path, index=False, **kw)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """hh.csv (lon/lat, no CRS), bnd.geojson and bnd.gpkg (EPSG:4326), and a finished run folder."""
    root = tmp_path_factory.mktemp("base")
    pts, bnd = _town()
    _csv(pts, root / "hh.csv")
    bnd.to_file(root / "bnd.geojson", driver="GeoJSON")
    bnd.to_file(root / "bnd.gpkg", layer="boundaries")
    pts.to_file(root / "hh.gpkg", layer="addresses")
    code = _cli(
        [
            "-q",
            "partition",
            "--addresses",
            str(root / "hh.csv"),
            "--input-crs",
            "EPSG:4326",
            "--boundaries",
            str(root / "bnd.geojson"),
            "--min-households",
            "300",
            "--max-households",
            "700",
            "--workers",
            "1",
            "--out",
            str(root / "run"),
        ]
    )[0]
    assert code == 0
    pd.DataFrame({"grid_code": ["310115005001001"], "worker": ["张三"]}).to_csv(root / "workers.csv", index=False)
    return root


def _cli(args: list[str]) -> tuple[int, str]:
    """Run the console entry point in-process; return its exit code and everything it printed."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["gridmap", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return code, out.getvalue() + err.getvalue()


def _snapshot(folder: Path) -> dict[str, str]:
    """Every path under `folder` with a digest of its content (folders as 'dir')."""
    snap = {}
    for p in sorted(folder.rglob("*")):
        snap[str(p.relative_to(folder))] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return snap


# ---------------------------------------------------------------- ways to break a good input


def _edit_csv(ws: Path, change: Callable[[pd.DataFrame], pd.DataFrame], name: str = "hh.csv", **kw) -> Path:
    df = pd.read_csv(ws / "hh.csv", dtype=str, keep_default_na=False)
    path = ws / name
    change(df).to_csv(path, index=False, **kw)
    return path


def _set(col: str, row: int, value: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[row, col] = value
        return df

    return change


def _bnd(ws: Path, change: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame], name: str = "bad.geojson") -> Path:
    gdf = change(gpd.read_file(ws / "bnd.geojson"))
    gdf.to_file(ws / name, driver="GeoJSON")
    return ws / name


def _partition(
    ws: Path,
    *extra: str,
    addresses: Path | None = None,
    boundaries: Path | None = None,
    crs: bool = True,
    out: Path | str | None = None,
    workers: str = "1",
) -> list[str]:
    args = [
        "partition",
        "--addresses",
        str(addresses or ws / "hh.csv"),
        "--boundaries",
        str(boundaries or ws / "bnd.geojson"),
        "--workers",
        workers,
        "--out",
        str(out or ws / "out"),
    ]
    return [*args, *(["--input-crs", "EPSG:4326"] if crs else []), *extra]


def _xlsx(ws: Path, sheets: dict[str, pd.DataFrame], name: str = "hh.xlsx") -> Path:
    with pd.ExcelWriter(ws / name) as xw:
        for sheet, df in sheets.items():
            df.to_excel(xw, sheet_name=sheet, index=False)
    return ws / name


def _manifest(folder: Path, made_by: str | None = "gridmap") -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "keep.txt").write_text("the user's own file", encoding="utf-8")
    if made_by:
        (folder / "manifest.json").write_text(json.dumps({"made_by": made_by}), encoding="utf-8")
    return folder


def _swap(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={"lon": "lat", "lat": "lon"})


def _metres(ws: Path) -> Path:
    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(*pd.read_csv(ws / "hh.csv")[["lon", "lat"]].to_numpy().T), crs=4326
    ).to_crs(UTM)
    return _edit_csv(ws, lambda df: df.assign(lon=pts.geometry.x.round(2), lat=pts.geometry.y.round(2)), "m.csv")


def _two_layers(ws: Path) -> Path:
    g = gpd.read_file(ws / "hh.gpkg")
    g.to_file(ws / "two.gpkg", layer="a")
    g.to_file(ws / "two.gpkg", layer="b")
    return ws / "two.gpkg"


def _shp_without_prj(ws: Path) -> Path:
    gpd.read_file(ws / "bnd.geojson").rename(columns={"urban_rural": "ur"}).to_file(ws / "b.shp")
    (ws / "b.prj").unlink()
    return ws / "b.shp"


def _overlapping(ws: Path) -> Path:
    def change(g):
        g.loc[1, "geometry"] = g.geometry.iloc[1].buffer(0.001)
        return g

    return _bnd(ws, change)


def _outside(ws: Path) -> Path:
    return _edit_csv(ws, _set("lon", 3, "121.9"), "out.csv")


def _workers(ws: Path, text: str, name: str = "w.csv") -> Path:
    (ws / name).write_text(text, encoding="utf-8")
    return ws / name


# ---------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Case:
    id: str
    args: Callable[[Path], list[str]]
    match: str
    code: int = 2


RUN = "run"  # the finished run folder inside every workspace

CASES = [
    # --- partition: addresses as CSV
    Case(
        "households-not-a-number",
        lambda ws: _partition(ws, addresses=_edit_csv(ws, _set("households", 4, "many"), "a.csv")),
        r"a\.csv, row 5 \(line 6\), column 'households': got 'many', expected a whole number ≥ 0",
    ),
    Case(
        "households-decimal",
        lambda ws: _partition(ws, addresses=_edit_csv(ws, _set("households", 0, "2.5"), "a.csv")),
        r"a\.csv, row 1 \(line 2\), column 'households': got '2\.5', expected a whole number",
    ),
    Case(
        "households-negative",
        lambda ws: _partition(ws, addresses=_edit_csv(ws, _set("households", 9, "-3"), "a.csv")),
        r"row 10 \(line 11\), column 'households': got '-3'",
    ),
    Case(
        "households-blank",
        lambda ws: _partition(ws, addresses=_edit_csv(ws, _set("households", 2, ""), "a.csv")),
        r"row 3 \(line 4\), column 'households': got ''",
    ),
    Case(
        "lon-not-a-number",
        lambda ws: _partition(ws, addresses=_edit_csv(ws, _set("lon", 7, "东经121"), "a.csv")),
        r"a\.csv, row 8 \(line 9\), column 'lon': got '东经121', expected a number",
    ),
    Case(
        "lon-out-of-range",
        lambda ws: _partition(ws, addresses=_edit_csv(ws, _set("lon", 1, "500"), "a.csv")),
        r"a\.csv, row 2 \(line 3\): x=500, y=31\.\d+ is not a longitude within ±180",
    ),
    Case(
        "lat-out-of-range",
        lambda ws: _partition(ws, addresses=_edit_csv(ws, _set("lat", 1, "-95"), "a.csv")),
        r"a\.csv, row 2 \(line 3\): .*latitude within ±90",
    ),
    Case(
        "lon-lat-swapped",
        lambda ws: _partition(ws, addresses=_edit_csv(ws, _swap, "a.csv")),
        r"a\.csv: longitude and latitude look swapped.*Fix: swap the columns: pass --x-col lat --y-col lon",
    ),
    Case(
        "metres-declared-as-degrees",
        lambda ws: _partition(ws, addresses=_metres(ws)),
        r"m\.csv: \d+ of \d+ rows have coordinates such as x=3\d+(\.\d+)?, y=34\d+(\.\d+)? in row 1 \(line 2\) "
        r"that look like metres.*--addresses-crs",
    ),
    Case(
        "degrees-declared-as-metres",
        lambda ws: _partition(ws, "--addresses-crs", "EPSG:32651"),
        r"hh\.csv: every coordinate is within ±180/±90.*look like degrees.*--addresses-crs EPSG:4326",
    ),
    Case(
        "csv-without-crs",
        lambda ws: _partition(ws, crs=False),
        r"hh\.csv: the file does not say which coordinate system.*--addresses-crs \(or --input-crs",
    ),
    Case(
        "unknown-input-crs",
        lambda ws: _partition(ws, "--input-crs", "mars", crs=False),
        r"--input-crs got 'mars', which is not a known coordinate system",
    ),
    Case(
        "unknown-addresses-crs",
        lambda ws: _partition(ws, "--addresses-crs", "EPSG:99999"),
        r"--addresses-crs got 'EPSG:99999'",
    ),
    Case(
        "semicolon-csv-missing-column",
        lambda ws: _partition(
            ws, addresses=_edit_csv(ws, lambda df: df.rename(columns={"lon": "经度x"}), "a.csv", sep=";")
        ),
        r"a\.csv: no longitude/x column found; columns are: 经度x, lat, households, group \(read as "
        r"semicolon-separated\)",
    ),
    Case(
        "ragged-csv-line",
        lambda ws: _partition(
            ws, addresses=_workers(ws, "lon,lat,households\n121.5,31.2,3\n121.5,31.2,3,4,5\n", "a.csv")
        ),
        r"a\.csv, line 3: line 3 has 5 values but the header has 3",
    ),
    Case("empty-csv", lambda ws: _partition(ws, addresses=_workers(ws, "", "a.csv")), r"a\.csv: the file is empty"),
    Case(
        "header-only-csv",
        lambda ws: _partition(ws, addresses=_workers(ws, "lon,lat,households\n", "a.csv")),
        r"a\.csv: the file has a header but no rows",
    ),
    Case(
        "binary-csv",
        lambda ws: _partition(ws, addresses=_workers(ws, "lon,lat\x00\x00\n1,2\n", "a.csv")),
        r"a\.csv: contains NUL bytes",
    ),
    Case(
        "xlsx-named-csv",
        lambda ws: _partition(
            ws, addresses=Path(shutil.copy(_xlsx(ws, {"S": pd.read_csv(ws / "hh.csv")}), ws / "a.csv"))
        ),
        r"a\.csv: is a spreadsheet \(Excel\) file.*rename it to \.xlsx",
    ),
    Case(
        "unknown-encoding",
        lambda ws: _partition(ws, "--encoding", "klingon"),
        r"hh\.csv: unknown text encoding 'klingon'",
    ),
    Case(
        "wrong-encoding",
        lambda ws: _partition(ws, "--encoding", "ascii", addresses=_edit_csv(ws, _set("group", 0, "一组"), "a.csv")),
        r"a\.csv: the text is neither ascii",
    ),
    Case(
        "x-col-missing",
        lambda ws: _partition(ws, "--x-col", "E"),
        r"hh\.csv, column 'E': no longitude/x column found.*--x-col",
    ),
    Case(
        "households-col-missing",
        lambda ws: _partition(ws, "--households-col", "户数"),
        r"column '户数': the column '户数' given for 'households' is in none of the inputs",
    ),
    # --- partition: addresses as a spreadsheet
    Case(
        "xlsx-bad-cell",
        lambda ws: _partition(
            ws,
            addresses=_xlsx(
                ws,
                {
                    "户": pd.read_csv(ws / "hh.csv").assign(
                        households=lambda d: d["households"].astype(object).where(d.index != 3, "三")
                    )
                },
            ),
        ),
        r"hh\.xlsx, sheet '户', row 5, column 'households': got '三'",
    ),
    Case(
        "xlsx-no-such-sheet",
        lambda ws: _partition(ws, "--addresses-sheet", "nope", addresses=_xlsx(ws, {"户": pd.read_csv(ws / "hh.csv")})),
        r"hh\.xlsx: has no sheet 'nope' \(sheets: 户\)",
    ),
    Case(
        "xlsx-corrupt",
        lambda ws: _partition(ws, addresses=_workers(ws, "PK not really a zip", "a.xlsx")),
        r"a\.xlsx: cannot be opened as a spreadsheet",
    ),
    # --- partition: addresses as GIS layers
    Case(
        "addresses-are-polygons",
        lambda ws: _partition(ws, addresses=ws / "bnd.geojson"),
        r"bnd\.geojson, feature 0: expected a single Point",
    ),
    Case(
        "geojson-not-json",
        lambda ws: _partition(ws, addresses=_workers(ws, "{not json", "a.geojson")),
        r"a\.geojson: cannot be opened as a vector file",
    ),
    Case("gpkg-two-layers", lambda ws: _partition(ws, addresses=_two_layers(ws)), r"two\.gpkg: has 2 layers \(a, b\)"),
    Case(
        "gpkg-no-such-layer",
        lambda ws: _partition(ws, "--addresses-layer", "nope", addresses=ws / "hh.gpkg"),
        r"hh\.gpkg: has no layer 'nope' \(it has addresses\)",
    ),
    Case(
        "outside-strict",
        lambda ws: _partition(ws, "--strict", addresses=_outside(ws)),
        r"out\.csv: 1 of \d+ addresses lie outside every village/community boundary: row 4 \(line 5\)",
    ),
    Case(
        "in-two-boundaries",
        lambda ws: _partition(ws, boundaries=_overlapping(ws)),
        r"hh\.csv, row \d+ \(line \d+\): the point lies in two boundaries",
    ),
    # --- partition: boundaries
    Case(
        "boundary-code-invalid",
        lambda ws: _partition(ws, boundaries=_bnd(ws, lambda g: g.assign(code=["123", *g["code"][1:]]))),
        r"bad\.geojson, feature 0, column 'code': got '123', expected 12 digits",
    ),
    Case(
        "boundary-code-duplicate",
        lambda ws: _partition(ws, boundaries=_bnd(ws, lambda g: g.assign(code=[g["code"][0]] * 3))),
        r"bad\.geojson, column 'code': code 310115005001 appears in features 0, 1, 2",
    ),
    Case(
        "boundary-code-missing",
        lambda ws: _partition(ws, boundaries=_bnd(ws, lambda g: g.drop(columns="code"))),
        r"bad\.geojson, column 'code': no 'code' column.*--code-col",
    ),
    Case(
        "boundary-urban-rural",
        lambda ws: _partition(ws, boundaries=_bnd(ws, lambda g: g.assign(urban_rural="311"))),
        r"bad\.geojson, feature 0, column 'urban_rural': got '311'",
    ),
    Case(
        "boundary-kind",
        lambda ws: _partition(ws, boundaries=_bnd(ws, lambda g: g.assign(kind=["town", "village", ""]))),
        r"bad\.geojson, feature 0, column 'kind': got 'town'",
    ),
    Case(
        "boundary-points",
        lambda ws: _partition(ws, boundaries=_bnd(ws, lambda g: g.set_geometry(g.representative_point()))),
        r"bad\.geojson, feature 0: expected a Polygon or MultiPolygon",
    ),
    Case(
        "boundary-null-geometry",
        lambda ws: _partition(ws, boundaries=_bnd(ws, lambda g: g.set_geometry([None, *g.geometry[1:]], crs=g.crs))),
        r"bad\.geojson, feature 0: the geometry is empty",
    ),
    Case(
        "boundary-metres-as-degrees",
        lambda ws: _partition(ws, boundaries=_bnd(ws, lambda g: g.to_crs(UTM).set_crs(4326, allow_override=True))),
        r"bad\.geojson: 3 of 3 rows .*look like metres.*--boundaries-crs",
    ),
    Case(
        "boundary-shp-without-prj",
        lambda ws: _partition(ws, "--addresses-crs", "EPSG:4326", boundaries=_shp_without_prj(ws), crs=False),
        r"b\.shp: the file does not say which coordinate system.*--boundaries-crs",
    ),
    Case(
        "boundary-no-features",
        lambda ws: _partition(
            ws, boundaries=_workers(ws, '{"type": "FeatureCollection", "features": []}', "e.geojson")
        ),
        r"e\.geojson: the layer has no features",
    ),
    # --- partition: other layers
    Case(
        "exclusive-type",
        lambda ws: _partition(ws, "--exclusive", str(_bnd(ws, lambda g: g.assign(type="spaceport"), "ex.geojson"))),
        r"ex\.geojson, feature 0, column 'type': got 'spaceport'",
    ),
    Case(
        "barriers-without-lines",
        lambda ws: _partition(ws, "--barriers", str(ws / "hh.gpkg")),
        r"hh\.gpkg: contains no lines",
    ),
    # --- partition: options
    Case(
        "band-zero",
        lambda ws: _partition(ws, "--min-households", "0"),
        r"0 < --min-households <= --max-households, got min=0, max=500",
    ),
    Case(
        "band-inverted",
        lambda ws: _partition(ws, "--min-households", "600", "--max-households", "500"),
        r"got min=600, max=500",
    ),
    Case(
        "liaison-not-a-range",
        lambda ws: _partition(ws, "--liaison", "10"),
        r"--liaison expects MIN-MAX such as 10-15, got '10'",
    ),
    Case(
        "liaison-inverted",
        lambda ws: _partition(ws, "--liaison", "15-10"),
        r"--liaison needs 0 < MIN <= MAX, got '15-10'",
    ),
    Case(
        "rules-not-toml",
        lambda ws: _partition(ws, "--rules", str(_workers(ws, "min_households = = 3", "r.toml"))),
        r"r\.toml: not valid UTF-8 TOML",
    ),
    Case(
        "rules-unknown-key",
        lambda ws: _partition(ws, "--rules", str(_workers(ws, "min_houshold = 3\n", "r.toml"))),
        r"r\.toml: unknown key\(s\) min_houshold",
    ),
    Case("keep-valid-without-previous", lambda ws: _partition(ws, "--keep-valid"), r"--keep-valid needs --previous"),
    Case(
        "work-crs-web-mercator",
        lambda ws: _partition(ws, "--work-crs", "EPSG:3857"),
        r"--work-crs got 'EPSG:3857', a Mercator projection",
    ),
    Case(
        "work-crs-geographic",
        lambda ws: _partition(ws, "--work-crs", "EPSG:4490"),
        r"--work-crs got 'EPSG:4490', a geographic CRS",
    ),
    Case("workers-zero", lambda ws: _partition(ws, workers="0"), r"--workers must be a whole number of at least 1"),
    # --- partition: where the output goes
    Case(
        "out-exists",
        lambda ws: _partition(ws, out=ws / RUN),
        r"run already exists\. Fix: choose another --out or pass --overwrite",
    ),
    Case(
        "overwrite-users-folder",
        lambda ws: _partition(ws, "--overwrite", out=_manifest(ws / "mine", None)),
        r"mine was not made by gridmap.*will not replace it",
    ),
    Case(
        "overwrite-other-tools-folder",
        lambda ws: _partition(ws, "--overwrite", out=_manifest(ws / "qgis", "qgis")),
        r"qgis was not made by gridmap",
    ),
    Case(
        "overwrite-cwd",
        lambda ws: _partition(ws, "--overwrite", out="."),
        r"is the working folder.*--overwrite would delete it",
    ),
    Case(
        "overwrite-folder-holding-input",
        lambda ws: _partition(
            ws, "--overwrite", out=ws / RUN, addresses=Path(shutil.copy(ws / "hh.csv", ws / RUN / "hh.csv"))
        ),
        r"run holds the input .*hh\.csv; --overwrite would delete it",
    ),
    Case(
        "out-inside-an-input",
        lambda ws: _partition(ws, out=ws / "hh.csv" / "run"),
        r"hh\.csv/run is an input file, or inside one",
    ),
    Case(
        "out-under-a-file",
        lambda ws: _partition(ws, out=ws / "workers.csv" / "run"),
        r"cannot create .*workers\.csv/run: .*workers\.csv is a file",
    ),
    Case(
        "out-not-writable",
        lambda ws: _partition(ws, out="/proc/gridmap-test/run"),
        r"cannot create /proc/gridmap-test/run",
    ),
    # --- demo
    Case(
        "demo-liaison", lambda ws: ["demo", "--liaison", "10", "--out", str(ws / "demo")], r"--liaison expects MIN-MAX"
    ),
    Case(
        "demo-over-users-folder",
        lambda ws: ["demo", "--out", str(_manifest(ws / "mine", None))],
        r"mine was not made by gridmap",
    ),
    # --- map
    Case(
        "map-tianditu-without-key",
        lambda ws: ["map", str(ws / RUN), "--basemap", "tianditu"],
        r"the Tianditu basemap needs a key.*--tianditu-key",
    ),
    Case(
        "map-not-a-run",
        lambda ws: ["map", str(_manifest(ws / "mine", None))],
        r"mine: is not a gridmap run folder \(no grids\.gpkg\)",
    ),
    Case(
        "map-over-run-data",
        lambda ws: ["map", str(ws / RUN), "--out", str(ws / RUN / "grids.gpkg"), "--overwrite"],
        r"grids\.gpkg is one of the run folder's own files",
    ),
    Case(
        "map-exists",
        lambda ws: ["map", str(ws / RUN), "--out", str(_workers(ws, "<p>mine</p>", "mine.html"))],
        r"mine\.html already exists",
    ),
    Case(
        "map-over-run-map",
        lambda ws: ["map", str(ws / RUN), "--out", str(ws / RUN / "map.html"), "--overwrite"],
        r"map\.html is one of the run folder's own files",
    ),
    # --- export
    Case(
        "export-over-the-run",
        lambda ws: ["export", str(ws / RUN), "--format", "csv", "--out", str(ws / RUN), "--overwrite"],
        r"run is the input being read; --overwrite would delete it",
    ),
    Case(
        "export-over-users-folder",
        lambda ws: [
            "export",
            str(ws / RUN),
            "--format",
            "csv",
            "--out",
            str(_manifest(ws / "mine", None)),
            "--overwrite",
        ],
        r"mine was not made by gridmap",
    ),
    Case(
        "export-unknown-encoding",
        lambda ws: ["export", str(ws / RUN), "--format", "shp", "--encoding", "klingon"],
        r"Invalid value for --encoding: unknown encoding 'klingon'",
    ),
    Case("export-not-a-run", lambda ws: ["export", str(ws), "--format", "csv"], r"is not a gridmap run folder"),
    # --- report --workers
    Case(
        "workers-blank-cell",
        lambda ws: ["report", str(ws / RUN), "--workers", str(_workers(ws, "grid_code,worker\n310115005001001,\n"))],
        r"w\.csv, row 1 \(line 2\), column 'worker': has no grid code or no worker",
    ),
    Case(
        "workers-missing-column",
        lambda ws: [
            "report",
            str(ws / RUN),
            "--workers",
            str(_workers(ws, "grid_code;网格员\n310115005001001;张三\n")),
        ],
        r"w\.csv, column 'worker': has no column worker \(columns: grid_code, 网格员\).*--worker-col",
    ),
    Case(
        "workers-no-such-sheet",
        lambda ws: [
            "report",
            str(ws / RUN),
            "--workers",
            str(_xlsx(ws, {"A": pd.read_csv(ws / "workers.csv")}, "w.xlsx")),
            "--workers-sheet",
            "B",
        ],
        r"w\.xlsx: has no sheet 'B' \(sheets: A\)",
    ),
    Case(
        "report-over-run-data",
        lambda ws: ["report", str(ws / RUN), "--out", str(ws / RUN / "manifest.json")],
        r"manifest\.json is one of the run folder's own files",
    ),
    # --- audit
    Case(
        "audit-no-code-column",
        lambda ws: [
            "audit",
            "--grids",
            str(ws / "bnd.gpkg"),
            "--addresses",
            str(ws / "hh.gpkg"),
            "--out",
            str(ws / "a"),
        ],
        r"bnd\.gpkg, column 'grid_code': has no column 'grid_code'.*--grid-code-col",
    ),
    Case(
        "audit-csv-without-crs",
        lambda ws: [
            "audit",
            "--grids",
            str(ws / RUN / "grids.gpkg"),
            "--grids-layer",
            "grids",
            "--addresses",
            str(ws / "hh.csv"),
            "--out",
            str(ws / "a"),
        ],
        r"hh\.csv: the file does not say which coordinate system.*--addresses-crs \(or --input-crs",
    ),
    Case(
        "audit-bad-households",
        lambda ws: [
            "audit",
            "--grids",
            str(ws / RUN / "grids.gpkg"),
            "--grids-layer",
            "grids",
            "--addresses",
            str(_edit_csv(ws, _set("households", 2, "2.5"), "a.csv")),
            "--input-crs",
            "EPSG:4326",
            "--out",
            str(ws / "a"),
        ],
        r"row 3 \(line 4\), column 'households': got '2\.5'",
    ),
    # --- diff
    Case(
        "diff-csv-without-crs",
        lambda ws: [
            "diff",
            str(ws / RUN / "grids.gpkg"),
            str(ws / RUN / "grids.gpkg"),
            "--addresses",
            str(ws / "hh.csv"),
            "--out",
            str(ws / "d"),
        ],
        r"hh\.csv: the file does not say which coordinate system.*--addresses-crs",
    ),
    Case(
        "diff-swapped",
        lambda ws: [
            "diff",
            str(ws / RUN / "grids.gpkg"),
            str(ws / RUN / "grids.gpkg"),
            "--addresses",
            str(_edit_csv(ws, _swap, "a.csv")),
            "--addresses-crs",
            "EPSG:4326",
            "--out",
            str(ws / "d"),
        ],
        r"a\.csv: longitude and latitude look swapped.*row 1 \(line 2\)",
    ),
    Case(
        "diff-over-users-folder",
        lambda ws: [
            "diff",
            str(ws / RUN / "grids.gpkg"),
            str(ws / RUN / "grids.gpkg"),
            "--addresses",
            str(ws / "hh.gpkg"),
            "--out",
            str(_manifest(ws / "mine", None)),
            "--overwrite",
        ],
        r"mine was not made by gridmap",
    ),
    # --- check-codes
    Case(
        "check-codes-garbage",
        lambda ws: ["check-codes", str(_workers(ws, "\x00\x01garbage", "g.gpkg"))],
        r"g\.gpkg: cannot be opened",
    ),
    Case(
        "check-codes-no-column",
        lambda ws: ["check-codes", str(ws / "bnd.gpkg"), "--grid-code-col", "WGBM"],
        r"Invalid value for --grid-code-col: .*bnd\.gpkg has no column 'WGBM'",
    ),
    Case(
        "check-codes-out-over-input",
        lambda ws: ["check-codes", str(ws / RUN / "grids.gpkg"), "--out", str(ws / RUN / "grids.gpkg")],
        r"grids\.gpkg is an input; it will not be replaced",
    ),
]


def test_the_matrix_is_large_and_its_ids_unique():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.fixture
def ws(base, tmp_path, monkeypatch) -> Path:
    """A fresh workspace: copies of the good inputs and of the run folder; the working folder."""
    for p in base.iterdir():
        (shutil.copytree if p.is_dir() else shutil.copy2)(p, tmp_path / p.name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    return tmp_path


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ws: Path):
    args = case.args(ws)  # writes the bad file into the workspace
    before = _snapshot(ws)
    code, text = _cli(args)
    assert code == case.code, text
    assert "Traceback" not in text
    assert re.search(case.match, text, flags=re.S), text
    assert _snapshot(ws) == before  # nothing created, changed or removed


# ---------------------------------------------------------------- what is reported but not refused


def test_warnings_are_counted_on_the_console_and_rows_kept_in_violations(ws):
    bad = _edit_csv(
        ws, lambda df: pd.concat([_set("lon", 3, "121.9")(df), df.iloc[[5, 5]]], ignore_index=True), "a.csv"
    )
    code, text = _cli(_partition(ws, addresses=bad))
    assert code == 0, text
    assert "1 addresses lie outside every village/community boundary" in text
    assert re.search(
        r"a\.csv: row \d+ \(line \d+\), row \d+ \(line \d+\) repeat row 6 \(line 7\) exactly.*counted again.*--dedupe",
        text,
    )
    v = gpd.read_file(ws / "out" / "grids.gpkg", layer="violations")
    assert v["kind"].tolist().count("address_outside_boundaries") == 1
    (ref,) = v.loc[v["kind"].eq("address_outside_boundaries"), "ref"]
    assert re.search(r"a\.csv, row 4 \(line 5\), address_id 3$", ref), ref  # the CSV line a user opens
    manifest = json.loads((ws / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["duplicate_rows"] == 2 and manifest["made_by"] == "gridmap"
    code, text = _cli(_partition(ws, "--dedupe", "--overwrite", addresses=bad))
    assert code == 0 and "dropped (--dedupe)" in text
    assert (
        json.loads((ws / "out" / "manifest.json").read_text(encoding="utf-8"))["counts"]["addresses"]
        == len(pd.read_csv(bad)) - 2
    )


def test_addresses_in_a_hole_are_reported_and_strict_refuses_them(ws):
    def hole(g):
        g.loc[0, "geometry"] = g.geometry.iloc[0].difference(g.geometry.iloc[0].centroid.buffer(0.0003))
        return g

    bnd = _bnd(ws, hole, "holed.geojson")
    code, text = _cli(_partition(ws, boundaries=bnd))
    assert code == 0, text
    assert re.search(r"\d+ addresses lie inside a hole of a village/community boundary", text)
    assert "address_in_hole" in set(gpd.read_file(ws / "out" / "grids.gpkg", layer="violations")["kind"])
    before = _snapshot(ws)
    code, text = _cli(_partition(ws, "--strict", boundaries=bnd, out=ws / "strict"))
    assert code == 2 and "inside a hole" in text and _snapshot(ws) == before


PAYLOADS = ["崂山{{ 6*7 }}二村", "<img src=x onerror=alert(1)>", '=HYPERLINK("http://x")', "{% raw %}'\"", "@SUM(1)"]


def test_hostile_text_is_read_and_stored_verbatim(ws):
    """Names and groups with template, markup and formula payloads are data: read, gridded and stored as
    given, and the whole run (map and report included) completes.

    (How the map page, report and exports show them is tests/gridmap/test_injection.py.)
    """
    bnd = _bnd(ws, lambda g: g.assign(name=PAYLOADS[:3]), "names.geojson")
    hh = _edit_csv(
        ws,
        lambda df: df.assign(
            group=np.where(df["group"] == "", "", np.where(df["group"] == "第1组", PAYLOADS[3], PAYLOADS[4]))
        ),
        "names.csv",
    )
    code, text = _cli(_partition(ws, addresses=hh, boundaries=bnd))
    assert code == 0, text
    grids = gpd.read_file(ws / "out" / "grids.gpkg", layer="grids")
    assert set(grids["village_name"]) == set(PAYLOADS[:3])
    assert {f"村民小组 {p}" for p in PAYLOADS[3:]} <= set(grids["note"])
    assert "崂山42二村" not in (ws / "out" / "map.html").read_text(encoding="utf-8")
    assert "崂山42二村" not in (ws / "out" / "report.html").read_text(encoding="utf-8")


def test_killed_run_leaves_nothing_that_the_next_run_does_not_clean(ws):
    args = _partition(ws)
    with subprocess.Popen(
        [sys.executable, "-c", "from gridmap.cli import run; run()", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as proc:
        for _ in range(600):  # until its hidden work folders appear
            if list(ws.glob(".out.*")):
                break
            proc.poll()
            if proc.returncode is not None:
                break
            __import__("time").sleep(0.05)
        proc.kill()
        proc.wait()
    stale = list(ws.glob(".out.*"))
    assert stale, "the run finished before it could be killed"
    code, text = _cli(args)
    assert code == 0, text
    assert not list(ws.glob(".out.*")) and (ws / "out" / "manifest.json").exists()


def test_console_script_prints_no_traceback_and_v_shows_it(ws):
    args = _partition(ws, addresses=_edit_csv(ws, _set("households", 0, "many"), "a.csv"))
    for verbose, expect in (([], False), (["-v"], True)):
        proc = subprocess.run(
            [sys.executable, "-c", "from gridmap.cli import run; run()", *verbose, *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 2
        assert "Error: " in proc.stderr and "row 1 (line 2), column 'households'" in proc.stderr
        assert ("Traceback" in proc.stderr) is expect


def test_every_library_error_is_a_gridmap_error_and_its_builtin():
    from geodata import errors

    for name in ("InputError", "CRSError", "RulesError", "OptionError", "CodeSpaceError"):
        assert issubclass(getattr(errors, name), errors.GridmapError | ValueError)
        assert issubclass(getattr(errors, name), ValueError)
    assert issubclass(errors.OutputExistsError, FileExistsError)
    assert issubclass(errors.UnsafeOutputError, PermissionError)
    assert issubclass(errors.OutputError, OSError)
    assert issubclass(errors.DependencyError, ImportError)
    assert str(errors.OptionError("`x` is bad.", fix="use y.")) == "`x` is bad. Fix: use y."


def test_nothing_raises_bare_valueerror_or_runtimeerror():
    """Every raise in the package is a gridmap error (bare builtins would reach users as tracebacks)."""
    root = Path(__file__).resolve().parents[1]
    offenders = []
    for pkg in ("geodata", "partition", "gridmap"):
        for path in (root / pkg).rglob("*.py"):
            for line in path.read_text(encoding="utf-8").splitlines():
                if re.search(r"raise (ValueError|RuntimeError|TypeError|KeyError)\(", line):
                    offenders.append(str(path.relative_to(root)))
    assert set(offenders) <= OWNED_ELSEWHERE, offenders


OWNED_ELSEWHERE = {"gridmap/offline.py", "gridmap/edit/units.py"}
"""offline.py raises RuntimeError only while the package is built (a downloaded Leaflet tarball whose
checksum or contents are wrong): a broken build, not a user's input. edit/units.py raises it when GEOS
returns Voronoi cells that do not match the points one to one, an internal invariant of the editor
(issue 15), not a check of user input; left to that issue (see the hardening note)."""


def test_zip_of_garbage_is_an_input_error(ws):
    with zipfile.ZipFile(ws / "z.zip", "w") as zf:
        zf.writestr("readme.txt", "no shapefile here")
    code, text = _cli(_partition(ws, boundaries=ws / "z.zip"))
    assert code == 2 and "z.zip: cannot be opened" in text and "Traceback" not in text


def test_addresses_from_a_semicolon_gbk_csv_and_an_xlsx_sheet_give_the_same_grids(ws):
    base = _cli(_partition(ws, out=ws / "a"))
    df = pd.read_csv(ws / "hh.csv", dtype=str, keep_default_na=False)
    df.to_csv(ws / "gbk.csv", sep=";", index=False, encoding="gbk")
    _xlsx(
        ws, {"说明": pd.DataFrame({"x": ["readme"]}), "户": df.astype({"lon": float, "lat": float, "households": int})}
    )
    semi = _cli(_partition(ws, addresses=ws / "gbk.csv", out=ws / "b"))
    xlsx = _cli(_partition(ws, "--addresses-sheet", "户", addresses=ws / "hh.xlsx", out=ws / "c"))
    assert base[0] == semi[0] == xlsx[0] == 0, (semi, xlsx)
    codes = [sorted(gpd.read_file(ws / o / "grids.gpkg", layer="grids")["grid_code"]) for o in "abc"]
    assert codes[0] == codes[1] == codes[2]


# ---------------------------------------------------------------- issue 22: data loss, exits, codes, terminal text

ESC = "\x1b]0;pwned\x07\x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07"
"""Terminal escapes: retitle the window, clear the screen, write the clipboard (OSC 52)."""


@dataclass(frozen=True)
class Case22:
    id: str
    args: Callable[[Path], list[str]]
    match: str
    code: int = 2


def _user_file(folder: Path, name: str = "signed_roster.xlsx") -> Path:
    (folder / name).write_bytes(b"the user's signed roster")
    return folder


def _boundary_code(ws: Path, code: str) -> Path:
    gdf = gpd.read_file(ws / "bnd.geojson")
    gdf["code"] = gdf["code"].astype(str)
    gdf.loc[0, "code"] = code
    gdf.to_file(ws / "bad.geojson", driver="GeoJSON")
    return ws / "bad.geojson"


def _grids_with_codes(ws: Path, codes: list[str]) -> Path:
    g = gpd.read_file(ws / RUN / "grids.gpkg", layer="grids").head(len(codes)).copy()
    g["grid_code"] = codes
    g.to_file(ws / "g.gpkg", layer="grids")
    return ws / "g.gpkg"


CASES_22 = [
    Case22(
        "demo-over-a-real-run",
        lambda ws: ["demo", "--out", str(ws / RUN)],
        r"run is a gridmap run, not an earlier demo run.*Fix: choose another --out for the demo",
    ),
    Case22(
        "check-codes-out-over-a-users-csv",
        lambda ws: [
            "check-codes",
            str(ws / RUN / "grids.gpkg"),
            "--out",
            str(pd.DataFrame({"hh": [1]}).to_csv(ws / "households_master.csv") or ws / "households_master.csv"),
        ],
        r"households_master\.csv already exists\. Fix: choose another --out or pass --overwrite",
    ),
    Case22(
        "overwrite-a-run-holding-the-users-file",
        lambda ws: _partition(ws, "--overwrite", out=_user_file(ws / RUN)),
        r"run holds files gridmap did not write \(signed_roster\.xlsx\); --overwrite would delete them",
    ),
    Case22(
        "overwrite-a-run-holding-the-users-subfolder",
        lambda ws: _partition(
            ws, "--overwrite", out=_user_file((ws / RUN / "notes").mkdir() or ws / RUN / "notes", "a.txt").parent
        ),
        r"holds files gridmap did not write \(notes/a\.txt\)",
    ),
    Case22(
        "out-ending-in-dotdot",
        lambda ws: _partition(ws, out="x/.."),
        r"x/\.\. ends in '\.\.', so it names the folder above",
    ),
    Case22(
        "village-code-with-full-width-digits",
        lambda ws: _partition(ws, boundaries=_boundary_code(ws, "310115００５００１")),
        r"bad\.geojson, feature 0, column 'code'.*expected 12 digits, ASCII 0-9",
    ),
    Case22(
        "village-code-with-arabic-indic-digits",
        lambda ws: _partition(ws, boundaries=_boundary_code(ws, "310115٠٠٥٠٠١")),
        r"expected 12 digits, ASCII 0-9",
    ),
    Case22(
        "check-codes-duplicates-exit-1",
        lambda ws: ["check-codes", str(_grids_with_codes(ws, ["310115005001001", "310115005001001"]))],
        r"2 grids checked: 1 errors",
        code=1,
    ),
    Case22(
        "assign-a-folder-that-is-no-run",
        lambda ws: ["assign", str(_folder(ws, "notes")), "--workers", "3"],
        r"is not a gridmap run folder \(no grids\.gpkg\)",
    ),
    Case22(
        "check-codes-full-width-code-exit-1",
        lambda ws: ["check-codes", str(_grids_with_codes(ws, ["310115005001００１"]))],
        r"is not 15 digits \(ASCII 0-9;",
        code=1,
    ),
]


def _folder(ws: Path, name: str) -> Path:
    """A folder of the user's own (a note in it), not a run."""
    folder = ws / name
    folder.mkdir(exist_ok=True)
    (folder / "readme.txt").write_text("mine", encoding="utf-8")
    return folder


def _shp_without_dbf(ws: Path) -> Path:
    pts = gpd.read_file(ws / "hh.gpkg")
    pts.to_file(ws / "hh.shp")
    (ws / "hh.dbf").unlink()
    return ws / "hh.shp"


CASES_22 += [
    Case22(
        "shapefile-without-dbf",
        lambda ws: _partition(ws, addresses=_shp_without_dbf(ws)),
        r"hh\.shp: has no hh\.dbf beside it, so its attributes .* are missing\. Fix: copy the \.dbf",
    ),
]


def _wide(ws: Path) -> Path:
    df = pd.read_csv(ws / "hh.csv", dtype=str)
    extra = pd.DataFrame({f"c{i}": ["x"] * len(df) for i in range(5000)})
    pd.concat([df, extra], axis=1).to_csv(ws / "wide.csv", index=False)
    return ws / "wide.csv"


def _tamper(ws: Path, name: str, text: str | None) -> Path:
    """Change (or delete, with None) one file of the finished run folder."""
    path = ws / RUN / name
    if text is None:
        path.unlink()
    else:
        path.write_text(text, encoding="utf-8")
    return ws / RUN


def _without_grids_layer(ws: Path) -> Path:
    gpkg = ws / RUN / "grids.gpkg"
    keep = {n: gpd.read_file(gpkg, layer=n) for n in ("addresses", "boundaries")}
    gpkg.unlink()
    for n, g in keep.items():
        g.to_file(gpkg, layer=n)
    return ws / RUN


def _work_crs(ws: Path, value: str) -> Path:
    m = json.loads((ws / RUN / "manifest.json").read_text(encoding="utf-8"))
    m["crs"]["work"] = value
    return _tamper(ws, "manifest.json", json.dumps(m))


TAMPERED = r"The run folder was changed or damaged after gridmap wrote it\. Fix: make the run again"
CASES_22 += [
    Case22("csv-with-5000-columns", lambda ws: _partition(ws, addresses=_wide(ws)), r"wide\.csv: has 5,00\d columns"),
    Case22(
        "households-10-to-the-30",
        lambda ws: _partition(ws, addresses=_edit_csv(ws, _set("households", 2, "1e30"), "a.csv")),
        r"row 3 \(line 4\), column 'households': got '1e30', expected a whole number ≥ 0 \(at most 100,000",
    ),
    Case22(
        "band-10-to-the-20",
        lambda ws: _partition(ws, "--max-households", "100000000000000000000"),
        r"--max-households is at most 1,000,000 households, got 100000000000000000000",
    ),
    Case22(
        "rules-file-band-10-to-the-20",
        lambda ws: _partition(
            ws, "--rules", str(_workers(ws, "max_households = 100000000000000000000\n", "rules.toml"))
        ),
        r"--max-households is at most 1,000,000 households, got 100000000000000000000",
    ),
    Case22(
        "liaison-10-to-the-20",
        lambda ws: _partition(ws, "--liaison", "1-100000000000000000000"),
        r"--liaison allows at most 1,000,000 households",
    ),
    Case22(
        "run-manifest-not-json",
        lambda ws: ["map", str(_tamper(ws, "manifest.json", "{not json")), "--out", str(ws / "m.html")],
        r"run/manifest\.json: is not readable JSON .*" + TAMPERED,
    ),
    Case22(
        "run-manifest-a-list",
        lambda ws: ["report", str(_tamper(ws, "manifest.json", "[1, 2]")), "--out", str(ws / "r.html")],
        r"run/manifest\.json: is not a gridmap manifest",
    ),
    Case22(
        "run-without-grids-layer",
        lambda ws: ["export", str(_without_grids_layer(ws)), "--format", "csv", "--out", str(ws / "e")],
        r"run/grids\.gpkg: has no grids layer\. " + TAMPERED,
    ),
    Case22(
        "run-bad-work-crs",
        lambda ws: ["map", str(_work_crs(ws, "EPSG:999999")), "--out", str(ws / "m.html")],
        r"names the work CRS 'EPSG:999999', which is not a coordinate system",
    ),
    Case22(
        "run-geographic-work-crs",
        lambda ws: ["map", str(_work_crs(ws, "EPSG:4326")), "--out", str(ws / "m.html")],
        r"names the work CRS WGS 84, which is not in metres",
    ),
    Case22(
        "run-broken-code-changes",
        lambda ws: ["map", str(_tamper(ws, "code_changes.csv", 'a,"b\n\x00')), "--out", str(ws / "m.html")],
        r"run/code_changes\.csv: cannot be read as CSV",
    ),
]


def _damaged_geoparquet(ws: Path, geo: bytes) -> Path:
    import pyarrow.parquet as pq

    gpd.read_file(ws / "hh.gpkg").to_parquet(ws / "hh.parquet")
    table = pq.read_table(ws / "hh.parquet")
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"geo": geo}), ws / "bad.parquet")
    (ws / "hh.parquet").unlink()
    return ws / "bad.parquet"


def _province(ws: Path, addresses: Path) -> list[str]:
    return ["province", "--addresses", str(addresses), "--boundaries", str(ws / "bnd.gpkg"), "--out", str(ws / "p")]


CASES_22 += [
    Case22(
        f"province-geoparquet-{name}",
        lambda ws, geo=geo: _province(ws, _damaged_geoparquet(ws, geo)),
        r"bad\.parquet: has damaged GeoParquet metadata .* Fix: write the file again",
    )
    for name, geo in [
        ("not-json", b"{not json"),
        ("no-such-column", json.dumps({"version": "1.0.0", "primary_column": "nope", "columns": {}}).encode()),
        ("bad-crs", json.dumps({"primary_column": "geometry", "columns": {"geometry": {"crs": "garbage"}}}).encode()),
    ]
]


@pytest.mark.parametrize("case", CASES_22, ids=[c.id for c in CASES_22])
def test_refused_without_loss(case: Case22, ws: Path):
    args = case.args(ws)
    before = _snapshot(ws)
    code, text = _cli(args)
    assert code == case.code, text
    assert "Traceback" not in text
    assert re.search(case.match, text, flags=re.S), text
    assert _snapshot(ws) == before


def test_demo_replaces_its_own_earlier_run(ws):
    assert _cli(["-q", "demo", "--out", str(ws / "d")])[0] == 0
    first = json.loads((ws / "d" / "manifest.json").read_text())["created"]
    code, text = _cli(["demo", "--out", str(ws / "d")])
    assert code == 0 and "Replacing the earlier demo run" in text
    assert "files" in json.loads((ws / "d" / "manifest.json").read_text()) and first


def test_a_plain_run_leaves_a_users_folder_named_like_a_work_folder(ws):
    mine = [ws / ".out.mybackup.tmp", ws / ".out.123.x.tmp", ws / ".out.old-99999999"]
    for folder in mine:
        folder.mkdir()
        (folder / "keep.txt").write_text("mine")
    code, text = _cli(_partition(ws))
    assert code == 0, text
    assert all((f / "keep.txt").read_text() == "mine" for f in mine)


def test_control_characters_of_a_cell_are_escaped_in_the_error(ws):
    code, text = _cli(_partition(ws, addresses=_edit_csv(ws, _set("households", 0, f"3{ESC}"), "a.csv")))
    assert code == 2
    assert "column 'households'" in text
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), repr(text)
    assert r"\x1b]0;pwned\x07" in text


def test_polygonz_boundaries_are_flattened_with_a_note(ws):
    import shapely

    bnd = gpd.read_file(ws / "bnd.geojson").rename(columns={"urban_rural": "ur"})
    bnd = bnd.set_geometry(shapely.force_3d(bnd.geometry.values, 12.5), crs=bnd.crs)  # ArcGIS's usual PolygonZ
    bnd.to_file(ws / "bz.shp")
    code, text = _cli(_partition(ws, boundaries=ws / "bz.shp"))
    assert code == 0, text
    assert "bz.shp: 3 geometries have Z or M values; they were dropped" in text
    grids = gpd.read_file(ws / "out" / "grids.gpkg", layer="grids")
    assert not shapely.has_z(grids.geometry.values).any()


# ---------------------------------------------------------------- every message path: no raw control character

HOSTILE = "村" + "".join(map(chr, [*range(0x01, 0x0A), *range(0x0B, 0x20), 0x7F, 0x85, 0x9B])) + "\u202e" + ESC
RAW = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _codes_with(ws: Path, text: str) -> Path:
    return _grids_with_codes(ws, [f"310115005001{text}", "310115005001001"])


def _named_village(ws: Path, text: str) -> Path:
    gdf = gpd.read_file(ws / "bnd.geojson")
    gdf.loc[0, "name"] = text
    gdf.loc[1, "urban_rural"] = "999"  # an error whose message shows the row
    gdf.to_file(ws / "bad.geojson", driver="GeoJSON")
    return ws / "bad.geojson"


MESSAGE_PATHS: list[tuple[str, Callable[[Path, str], list[str]]]] = [
    ("click-path-argument", lambda ws, t: ["map", str(ws / t)]),
    ("click-choice", lambda ws, t: ["map", str(ws / RUN), "--basemap", t]),
    ("usage-error", lambda ws, t: _partition(ws, "--addresses-sql", t)),
    ("input-error-column-option", lambda ws, t: _partition(ws, "--x-col", t)),
    ("input-error-cell", lambda ws, t: _partition(ws, addresses=_edit_csv(ws, _set("households", 0, t), "a.csv"))),
    ("input-error-layer", lambda ws, t: _partition(ws, "--boundaries-layer", t, boundaries=ws / "bnd.gpkg")),
    ("rules-error", lambda ws, t: _partition(ws, "--liaison", t)),
    ("crs-error", lambda ws, t: _partition(ws, "--output-crs", t)),
    ("output-error", lambda ws, t: _partition(ws, "--overwrite", out=_user_file(ws / RUN, f"{t}.txt"))),
    ("database-url", lambda ws, t: _partition(ws, "--addresses-layer", "a", addresses=f"postgresql://u:{t}@h{t}:5/db")),
    ("check-codes-lines", lambda ws, t: ["check-codes", str(_codes_with(ws, t))]),
    ("export-encoding", lambda ws, t: ["export", str(ws / RUN), "--format", "csv", "--encoding", t]),
    ("log-warnings", lambda ws, t: _partition(ws, boundaries=_named_village(ws, t))),
]


@pytest.mark.parametrize(("name", "args"), MESSAGE_PATHS, ids=[n for n, _ in MESSAGE_PATHS])
def test_no_message_path_prints_a_raw_control_character(ws, name, args):
    argv = args(ws, HOSTILE)
    code, text = _cli(argv)
    assert code != 0 or name == "log-warnings", text
    assert text.strip(), "the case printed nothing"
    assert not RAW.findall(text), (name, sorted(set(RAW.findall(text))), text[-400:])


def test_every_command_has_a_failing_case_that_checks_its_exit_status():
    from gridmap.cli import main

    ws = Path("/nonexistent")
    covered = set()
    for case in [*CASES, *CASES_22]:
        try:
            covered.add(case.args(ws)[0])
        except Exception:  # noqa: BLE001 - cases that write files first: their command is in their id
            covered.add(case.id.split("-")[0])
    elsewhere = {"publish": "tests/gridmap/test_postgis.py", "edit": "tests/gridmap/test_edit.py"}
    assert set(main.commands) - covered <= set(elsewhere), sorted(set(main.commands) - covered)
