"""Read input layers (CSV, Excel, GeoJSON, GeoPackage, Shapefile, zipped Shapefile) and write outputs safely."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geodata.bulk import gc_paused
from geodata.crs import flatten, plain_points
from geodata.errors import (
    DependencyError,
    InputError,
    OutputError,
    OutputExistsError,
    Problem,
    UnsafeOutputError,
)

log = logging.getLogger("gridmap")

LON_NAMES = ("lon", "lng", "longitude", "x", "经度", "point_x", "easting")
LAT_NAMES = ("lat", "latitude", "y", "纬度", "point_y", "northing")
TEXT_ENCODINGS = ("utf-8-sig", "gb18030")
"""Text encodings tried in order (GB 18030 is a superset of GBK and GB 2312); a UTF-16 BOM wins."""
SEPARATORS = (",", ";", "\t", "|")
"""Column separators a CSV may use; the one found most often in the header line is taken."""
TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls")
"""Suffixes read as tables (points from coordinate columns) rather than as GDAL vector files."""
_SEP_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def _decode(path: Path, encoding: str | None) -> tuple[str, str]:
    """Return the text of `path` and the encoding that decoded it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            Problem(str(path), f"cannot be read ({exc.strerror}).", "check the path and its permissions.")
        ) from exc
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise InputError(
            Problem(
                str(path),
                "is a spreadsheet (Excel) file, not CSV text.",
                "rename it to .xlsx (or .xls), or save it as CSV.",
            )
        )
    if encoding:
        tried = [encoding]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        tried = ["utf-16"]  # Excel's "Unicode text"
    else:
        tried = list(TEXT_ENCODINGS)
    for enc in tried:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        except LookupError as exc:
            raise InputError(
                Problem(str(path), f"unknown text encoding '{enc}'.", "pass `encoding` as e.g. utf-8 or gbk.")
            ) from exc
        if "\x00" in text:
            raise InputError(
                Problem(str(path), "contains NUL bytes: it is not a text file.", "export the table again as CSV.")
            )
        return text, enc
    raise InputError(
        Problem(
            str(path),
            f"the text is neither {' nor '.join(tried)}.",
            "save it as UTF-8 or GBK, or pass `encoding`.",
        )
    )


def sniff_separator(text: str) -> str:
    """Return the column separator of CSV `text`: the one of :data:`SEPARATORS` most frequent in its header line."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda s: counts[s])  # ties keep the order of SEPARATORS
    return best if counts[best] else ","


def _parse_csv(text: str, sep: str, path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except pd.errors.EmptyDataError as exc:
        raise InputError(Problem(str(path), "the file is empty.", "export the layer again with a header row.")) from exc
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            want, line, saw = found.groups()
            msg = f"line {line} has {saw} values but the header has {want} ({_SEP_NAMES[sep]}-separated)."
            fix = f"quote values that contain a {_SEP_NAMES[sep]}, or remove the extra separators on that line."
            raise InputError(Problem(str(path), msg, fix, row=f"line {line}")) from exc
        msg = f"cannot be read as {_SEP_NAMES[sep]}-separated text ({str(exc).strip()})."
        raise InputError(Problem(str(path), msg, "check the file is a CSV with a header row.")) from exc
    df.columns = [str(c).strip() for c in df.columns]
    df.attrs["separator"] = sep
    df.attrs["rows"] = "csv"
    return df.fillna("")


def _read_excel(path: Path, sheet: str | int | None) -> pd.DataFrame:
    engine = "xlrd" if path.suffix.lower() == ".xls" else "openpyxl"
    try:
        import importlib

        importlib.import_module(engine)
    except ImportError as exc:
        msg = f"{path}: reading {path.suffix} files needs the '{engine}' package."
        raise DependencyError(msg, fix=f"pip install {engine}, or save the sheet as .xlsx or CSV.") from exc
    try:
        book = pd.ExcelFile(path, engine=engine)
    except Exception as exc:  # noqa: BLE001 - zip, xml and BIFF readers raise many kinds
        raise InputError(
            Problem(
                str(path),
                f"cannot be opened as a spreadsheet ({type(exc).__name__}: {exc}).",
                "save it again from Excel/WPS.",
            )
        ) from exc
    with book:
        names = [str(n) for n in book.sheet_names]
        if sheet is None:
            sheet = names[0]
        elif str(sheet) not in names:
            raise InputError(
                Problem(
                    str(path),
                    f"has no sheet '{sheet}' (sheets: {', '.join(names)}).",
                    "pass one of these names as the sheet.",
                )
            )
        try:
            df = book.parse(str(sheet), dtype=str, keep_default_na=False)
        except Exception as exc:  # noqa: BLE001
            raise InputError(
                Problem(str(path), f"sheet '{sheet}' cannot be read ({exc}).", "save it again from Excel/WPS.")
            ) from exc
    df.columns = [str(c).strip() for c in df.columns]
    df.attrs["rows"] = f"sheet:{sheet}"
    return df.fillna("")


def read_tabular(
    path: str | os.PathLike, *, sheet: str | int | None = None, encoding: str | None = None
) -> pd.DataFrame:
    """Read an attribute table: CSV (separator and encoding found) or a sheet of an .xlsx/.xls workbook.

    Parameters
    ----------
    path
        ``.csv``/``.txt``/``.tsv`` text in UTF-8 (with or without BOM), GBK/GB 18030 or UTF-16
        with BOM, separated by ``,`` ``;`` tab or ``|``; or an ``.xlsx``/``.xls`` workbook.
    sheet
        Sheet name of a workbook [the first sheet].
    encoding
        Force a text encoding instead of trying UTF-8 then GB 18030.

    Returns
    -------
    df
        Every cell as text (blank cells are ``""``); ``df.attrs["rows"]`` says how rows are
        numbered in messages (``csv`` or ``sheet:<name>``).

    Raises
    ------
    InputError
        When the file is missing, empty, not text or a workbook, or its lines do not parse.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(Problem(str(path), "the file does not exist.", "check the path."))
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        df = _read_excel(path, sheet)
    else:
        text, _ = _decode(path, encoding)
        if not text.strip():
            raise InputError(Problem(str(path), "the file is empty.", "export the layer again with a header row."))
        df = _parse_csv(text, sniff_separator(text), path)
    if df.empty:
        raise InputError(Problem(str(path), "the file has a header but no rows.", "add data rows."))
    return df


def row_label(rows: str | None, i: int) -> str:
    """Name data row `i` (0-based) as a user finds it: CSV line, spreadsheet row, or feature number."""
    if rows == "csv":
        return f"row {i + 1} (line {i + 2})"
    if rows and rows.startswith("sheet:"):
        return f"sheet '{rows[6:]}', row {i + 2}"
    return f"feature {i}"


def _pick_column(columns: list[str], wanted: str | None, names: tuple[str, ...]) -> str | None:
    if wanted:
        return wanted
    lower = {c.lower().strip(): c for c in columns}
    for name in names:
        if name in lower:
            return lower[name]
    return None


def _to_number(values: pd.Series, sep: str | None) -> pd.Series:
    try:  # the common case, fast: every cell already a plain number
        return pd.to_numeric(values, errors="raise").astype(float)
    except (ValueError, TypeError):
        pass
    text = values.astype(str).str.strip()
    if sep and sep != "," and text.str.contains(",", regex=False).any():  # decimal commas (European ';' files)
        text = text.str.replace(r"^(-?\d+),(\d+)$", r"\1.\2", regex=True)
    return pd.to_numeric(text.where(text.ne(""), None), errors="coerce")


def points_from_table(
    df: pd.DataFrame, *, file: str, x_col: str | None = None, y_col: str | None = None
) -> gpd.GeoDataFrame:
    """Make points from the coordinate columns of a table read by :func:`read_tabular`.

    Raises
    ------
    InputError
        When a coordinate column is missing or holds a value that is not a finite number; every
        bad row is named (up to 50 per column).
    """
    cols = list(df.columns)
    xc = _pick_column(cols, x_col, LON_NAMES)
    yc = _pick_column(cols, y_col, LAT_NAMES)
    sep = df.attrs.get("separator")
    seen = f" (read as {_SEP_NAMES[sep]}-separated)" if sep else ""
    problems = []
    for col, opt, role in ((xc, "x_col", "longitude/x"), (yc, "y_col", "latitude/y")):
        if col is None or col not in df.columns:
            problems.append(
                Problem(
                    file,
                    f"no {role} column found; columns are: {', '.join(cols)}{seen}.",
                    f"name it lon/lat or x/y, or pass `{opt}` NAME.",
                    column=col,
                )
            )
    if problems:
        raise InputError(problems)
    xy = {}
    rows = df.attrs.get("rows")
    for col in (xc, yc):
        values = _to_number(df[col], sep)
        bad = np.flatnonzero(values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan)))
        problems.extend(
            Problem(
                file,
                f"got '{df[col].iloc[i]}', expected a number.",
                "correct or delete the row.",
                row=row_label(rows, int(i)),
                column=col,
            )
            for i in bad[:50]
        )
        if len(bad) > 50:
            problems.append(
                Problem(file, f"{len(bad) - 50} more rows are not numbers.", "correct or delete them.", column=col)
            )
        xy[col] = values.to_numpy(dtype=float, na_value=np.nan)
    if problems:
        raise InputError(problems)
    gdf = gpd.GeoDataFrame(df.drop(columns=[xc, yc]), geometry=gpd.points_from_xy(xy[xc], xy[yc]), crs=None)
    gdf.attrs["rows"] = rows
    gdf.attrs["coordinate_columns"] = (xc, yc)
    return gdf


def read_csv_points(
    path: str | os.PathLike,
    *,
    x_col: str | None = None,
    y_col: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
) -> gpd.GeoDataFrame:
    """Read a CSV or spreadsheet of points; lon/lat or x/y columns are found by name unless given.

    Parameters
    ----------
    path
        CSV (see :func:`read_tabular` for encodings and separators) or ``.xlsx``/``.xls``.
    x_col, y_col
        Coordinate columns; by default the first of ``lon, lng, longitude, x, 经度`` and
        ``lat, latitude, y, 纬度`` (case-insensitive).
    encoding
        Force a text encoding instead of trying UTF-8 then GB 18030.
    sheet
        Sheet of a workbook [the first].

    Returns
    -------
    gdf
        Points without a CRS (a table cannot carry one); other columns kept as text.
    """
    path = Path(path)
    gdf = points_from_table(
        read_tabular(path, sheet=sheet, encoding=encoding), file=str(path), x_col=x_col, y_col=y_col
    )
    gdf.attrs["file"] = str(path)
    return gdf


def _shapefile_cpg(path: Path) -> str | None:
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".cpg")]
            return zf.read(names[0]).decode("ascii", "ignore").strip() if names else None
    cpg = path.with_suffix(".cpg")
    return cpg.read_text(encoding="ascii", errors="ignore").strip() if cpg.exists() else None


def read_layer(
    path: str | os.PathLike,
    *,
    layer: str | None = None,
    encoding: str | None = None,
    x_col: str | None = None,
    y_col: str | None = None,
    sheet: str | int | None = None,
) -> gpd.GeoDataFrame:
    """Read one layer of any supported format with pyogrio (tables through :func:`read_csv_points`).

    Shapefiles use the encoding of their ``.cpg``; without one they are tried as UTF-8, then GBK
    (older Chinese GIS exports). A zipped Shapefile is read directly.

    Parameters
    ----------
    path
        ``.csv``/``.txt``/``.tsv``, ``.xlsx``/``.xls``, ``.geojson``/``.json``, ``.gpkg``,
        ``.shp``, ``.zip`` (zipped Shapefile) or any other GDAL vector format; or a PostGIS source
        (:class:`geodata.postgis.DbSource`, or a ``postgresql://`` URL with `layer` ``SCHEMA.TABLE``).
    layer
        Layer name for multi-layer formats such as GeoPackage; required when there are several.
    encoding
        Force the attribute encoding.
    x_col, y_col
        Coordinate columns of a table.
    sheet
        Sheet of a workbook [the first].

    Returns
    -------
    gdf
        The layer, with a 0-based index equal to the feature's position in the file;
        ``gdf.attrs["rows"]`` says how its rows are named in messages.

    Raises
    ------
    InputError
        When the file is missing, empty, has several layers and none was chosen, or cannot be read.
    """
    from geodata import postgis

    if isinstance(path, postgis.DbSource):  # a PostGIS table/view/query (see geodata/postgis.py)
        return path.read()
    if postgis.is_db_url(path):
        return postgis.read_db_layer(str(path), layer=layer)
    path = Path(path)
    if not path.exists():
        raise InputError(Problem(str(path), "the file does not exist.", "check the path."))
    if path.is_dir() and path.suffix.lower() != ".gdb":
        raise InputError(Problem(str(path), "is a folder, not a file.", "pass the file inside it."))
    if path.suffix.lower() in TABLE_SUFFIXES:
        return read_csv_points(path, x_col=x_col, y_col=y_col, encoding=encoding, sheet=sheet)
    if _missing_dbf(path):
        raise InputError(
            Problem(
                str(path),
                f"has no {path.stem}.dbf beside it, so its attributes (households, codes, names) are missing.",
                "copy the .dbf (and .shx, .prj, .cpg) of the Shapefile into the same folder, or pass the zipped "
                "Shapefile.",
            )
        )
    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:  # noqa: BLE001 - pyogrio raises DataSourceError and friends
        raise InputError(
            Problem(str(path), f"cannot be opened as a vector file ({exc}).", "check the format.")
        ) from exc
    names = [str(n) for n in layers[:, 0]]
    if not names:
        raise InputError(Problem(str(path), "has no layers.", "export the layer again."))
    if layer is None and len(names) > 1:
        raise InputError(
            Problem(
                str(path),
                f"has {len(names)} layers ({', '.join(names)}) and no layer was chosen.",
                "pass the layer name, e.g. --addresses-layer NAME.",
            )
        )
    if layer is not None and layer not in names:
        raise InputError(Problem(str(path), f"has no layer '{layer}' (it has {', '.join(names)}).", "check the name."))
    is_shp = path.suffix.lower() in (".shp", ".zip")
    try:
        if encoding is None and is_shp and not _shapefile_cpg(path):
            try:
                gdf = _read_features(path, layer=layer, encoding="utf-8")
            except UnicodeDecodeError:
                gdf = _read_features(path, layer=layer, encoding="gbk")
        else:
            gdf = _read_features(path, layer=layer, encoding=encoding)
    except (InputError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - GDAL read failures of a damaged file
        raise InputError(
            Problem(
                str(path),
                f"cannot be read ({type(exc).__name__}: {exc}).",
                "check the file is complete, or export it again.",
            )
        ) from exc
    if len(gdf) == 0:
        raise InputError(Problem(str(path), "the layer has no features.", "export it again."))
    if "geometry" not in gdf or not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(Problem(str(path), "has no geometry column.", "pass a layer with points or polygons."))
    gdf = flatten(gdf.reset_index(drop=True), file=str(path))
    gdf.attrs.update(rows="feature", file=str(path))
    return gdf


ARROW_READS: Final = (".gpkg", ".fgb", ".shp", ".zip")
"""Suffixes read through pyogrio's Arrow path (:func:`_read_features`): text in them reaches pandas as UTF-8.

GeoPackage and FlatGeobuf hold UTF-8 by definition; GDAL recodes a Shapefile's text to UTF-8 from its
``.cpg`` or the encoding :func:`read_layer` passes, on both paths alike. All three know their feature
count without reading the features. GeoJSON is parsed by GDAL whichever path reads it (no gain); other
formats may hand over text in their own encoding, which only the classic path decodes.
"""


def _read_features(path: Path, *, layer: str | None, encoding: str | None) -> gpd.GeoDataFrame:
    """Read a vector layer as pyogrio's classic path does, through its Arrow path where that gives the same frame.

    The Arrow read takes half the time of the classic one on a million points: no text goes through
    Python objects. It reads the layer in one batch, so text columns are one Arrow chunk as the
    classic read makes them (taking a village's rows from 18 chunks is 18 times slower). Its frame
    is kept when it has every feature the layer counts (the Arrow path stops silently where a
    damaged file makes the classic one raise) and every column is valid UTF-8 text in one chunk, a
    number or a boolean without nulls, where both paths agree. Dates, booleans with nulls, JSON and
    list fields (typed apart by the two paths) and any failure of the Arrow read take the classic
    path, which then reads, decodes or raises exactly as before.
    """
    with gc_paused():  # a geometry object per feature
        if path.suffix.lower() in ARROW_READS:
            try:
                count = pyogrio.read_info(path, layer=layer)["features"]
                gdf = (
                    pyogrio.read_dataframe(
                        path,
                        layer=layer,
                        encoding=encoding,
                        use_arrow=True,
                        batch_size=count,
                        # the geometry's WKB goes to pandas as bytes: looking each one up to share equal ones
                        # (pyarrow's default) took 0.4-0.8 s of the city's 1.14M points, for none shared
                        arrow_to_pandas_kwargs={"deduplicate_objects": False},
                    )
                    if count > 0
                    else None
                )
            except Exception:  # noqa: BLE001 - the classic read below raises the error users see
                gdf = None
            if (
                isinstance(gdf, gpd.GeoDataFrame)
                and len(gdf) == count
                and all(_arrow_like_classic(gdf[c]) for c in gdf.columns)
            ):
                return gdf
        return pyogrio.read_dataframe(path, layer=layer, encoding=encoding)


def _arrow_like_classic(col: pd.Series) -> bool:
    """Whether a column from pyogrio's Arrow read has the dtype and values of its classic read.

    Text must be valid UTF-8: the Arrow read hands over a Shapefile's bytes undecoded when they are
    not in the encoding asked for, where the classic read raises (and :func:`read_layer` tries GBK).
    """
    import pyarrow as pa

    if isinstance(col.dtype, pd.StringDtype):
        text = pa.chunked_array(col.array.__arrow_array__())
        try:
            text.validate(full=True)
        except pa.ArrowInvalid:
            return False
        return text.num_chunks <= 1
    return isinstance(col.dtype, gpd.array.GeometryDtype) or col.dtype.kind in "iufb"


def _missing_dbf(path: Path) -> bool:
    """Whether a Shapefile lacks its attribute table (``.dbf``, any letter case), which GDAL would silently skip."""
    return path.suffix.lower() == ".shp" and not any(
        p.suffix.lower() == ".dbf" and p.stem == path.stem for p in path.parent.iterdir()
    )


def rename_fields(gdf: gpd.GeoDataFrame, mapping: Mapping[str, str | None], *, file: str) -> gpd.GeoDataFrame:
    """Rename user field names to gridmap's canonical names (``{canonical: user_name}``).

    Raises
    ------
    InputError
        Naming every user field that is not in the file.
    """
    problems = []
    renames = {}
    for canonical, user in mapping.items():
        if not user or user == canonical:
            continue
        if user not in gdf.columns:
            problems.append(
                Problem(
                    file,
                    f"the column '{user}' given for '{canonical}' is not in the file "
                    f"(columns: {', '.join(map(str, gdf.columns))}).",
                    "check the spelling of the --*-col option.",
                    column=user,
                )
            )
        else:
            renames[user] = canonical
    if problems:
        raise InputError(problems)
    return gdf.rename(columns=renames)


MADE_BY: Final = "gridmap"
"""Value of ``made_by`` in the ``manifest.json`` of every folder gridmap writes; only such a folder may be replaced."""
_STALE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]*\.tmp$|^\.(?P<oname>.+)\.old-(?P<opid>\d+)$")
WORK_MARKER: Final = ".gridmap-work"
"""File in a folder being written (:func:`atomic_dir`) holding the writer's process id; removed when done."""
RUN_FILES: Final = (
    "grids.gpkg",
    "grids.geojson",
    "roster.csv",
    "code_changes.csv",
    "workers.csv",
    "manifest.json",
    "map.html",
    "map.png",
    "report.html",
    "audit.gpkg",
    "findings.csv",
    "diff.gpkg",
    "households.csv",
    "grids.csv",
)
"""Files of a run, audit or diff folder that other commands never replace."""
LEGACY_FILES: Final = frozenset({*RUN_FILES, "index.html", "dataset", "maps", "reports"})
"""Top-level names gridmap wrote into folders whose manifest predates its ``files`` list."""
_DERIVED = re.compile(r"^map_[A-Za-z0-9_]+\.html$")
"""Files other commands add to a run folder by default (``gridmap map`` writes ``map_<basemap>.html``)."""


def is_gridmap_folder(path: str | os.PathLike) -> bool:
    """Return whether `path` is a folder written by gridmap (its manifest says ``"made_by": "gridmap"``)."""
    manifest = Path(path) / "manifest.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("made_by") == MADE_BY


def _manifest(folder: Path) -> dict:
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _listing(folder: Path) -> list[str]:
    """Every file under `folder` (symbolic links as files), as sorted POSIX paths relative to it."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_symlink() or not p.is_dir())


def foreign_files(folder: str | os.PathLike, *, _nested: bool = False) -> list[str]:
    """Return the files in a gridmap folder that gridmap did not write (relative paths, sorted).

    gridmap's own files are those its manifest lists (``files``, recorded when the folder was
    written), the maps ``gridmap map`` adds (``map_<basemap>.html``) and the contents of gridmap
    folders inside it (``export/``). A folder written before the list existed is judged by its
    top-level names (:data:`LEGACY_FILES`).
    """
    folder = Path(folder)
    listed = _manifest(folder).get("files")
    known = {str(f) for f in listed} if isinstance(listed, list) else None
    if known is None and _nested:
        return []  # an older gridmap folder inside a run (export/): all of it is gridmap's
    foreign: list[str] = []
    nested: dict[str, list[str]] = {}
    for rel in _listing(folder):
        top, _, rest = rel.partition("/")
        if (known is not None and rel in known) or (known is None and top in LEGACY_FILES):
            continue
        if not rest and _DERIVED.match(top):
            continue
        if rest and is_gridmap_folder(folder / top) and not (folder / top).is_symlink():
            if top not in nested:
                nested[top] = [f"{top}/{f}" for f in foreign_files(folder / top, _nested=True)]
            if rel not in nested[top]:
                continue
        foreign.append(rel)
    return foreign


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _first_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output(out: str | os.PathLike, *, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Refuse, before any work, an output folder that cannot be written or may not be replaced.

    An existing `out` is replaced only when `overwrite` is true **and** gridmap made it (see
    :func:`is_gridmap_folder`) **and** it is not the working folder or one of its ancestors
    **and** it holds none of `inputs`. Nothing is ever written inside an input.

    Raises
    ------
    OutputExistsError
        When `out` exists and `overwrite` is false.
    UnsafeOutputError
        When `out` exists but is not a gridmap folder, is the working folder or an ancestor of it,
        holds an input, or is a file.
    OutputError
        When the folder that would hold `out` is not writable.
    """
    out = Path(out)
    _named(out)
    real = out.resolve()
    srcs = [Path(p).resolve() for p in inputs]
    for src in srcs:
        if _inside(real, src) and src.is_file():
            msg = f"{out} is an input file, or inside one."
            raise UnsafeOutputError(msg, fix="choose another --out.")
    if out.exists():
        if not overwrite:
            msg = f"{out} already exists."
            raise OutputExistsError(msg, fix="choose another --out or pass --overwrite.")
        if not out.is_dir():
            msg = f"{out} is a file, not a folder gridmap made; it will not be replaced."
            raise UnsafeOutputError(msg, fix="choose another --out.")
        cwd = Path.cwd().resolve()
        if _inside(cwd, real) or real == Path.home().resolve():
            msg = f"{out} is the working folder, your home folder or one that contains it; --overwrite would delete it."
            raise UnsafeOutputError(msg, fix="give --out a new folder, e.g. --out outputs/run1.")
        held = [s for s in srcs if _inside(s, real)]
        if held:
            what = "is the input being read" if held[0] == real else f"holds the input {held[0]}"
            msg = f"{out} {what}; --overwrite would delete it."
            raise UnsafeOutputError(msg, fix="write the output somewhere else.")
        if not is_gridmap_folder(out):
            msg = (
                f'{out} was not made by gridmap (it has no manifest.json saying "made_by": "gridmap"), '
                "so --overwrite will not replace it."
            )
            raise UnsafeOutputError(msg, fix="choose a new --out, or move or delete that folder yourself.")
        foreign = foreign_files(out)
        if foreign:
            shown = ", ".join(foreign[:10]) + (f" and {len(foreign) - 10} more" if len(foreign) > 10 else "")
            msg = f"{out} holds files gridmap did not write ({shown}); --overwrite would delete them."
            raise UnsafeOutputError(msg, fix="move those files out of the folder, or choose a new --out.")
    parent = _first_existing(real.parent)
    if not parent.is_dir():
        msg = f"cannot create {out}: {parent} is a file."
        raise OutputError(msg, fix="choose another --out.")
    _probe(parent, out)


def _named(out: Path) -> None:
    """Refuse an output path ending in ``..``: it names some other folder than it seems to (``x/..``)."""
    if out.name == "..":
        msg = f"{out} ends in '..', so it names the folder above, not a new one."
        raise UnsafeOutputError(msg, fix="write the output's own name last, e.g. --out outputs/run1.")


def _probe(parent: Path, out: Path) -> None:
    """Raise :class:`OutputError` unless a folder can really be made in `parent` (made and removed at once)."""
    if not os.access(parent, os.W_OK | os.X_OK):
        msg = f"cannot write {out}: no permission to write in {parent}."
        raise OutputError(msg, fix="choose an --out in a folder you can write to.")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".gridmap-probe.", dir=parent))
    except OSError as exc:
        msg = f"cannot create {out}: {exc.strerror or exc} in {parent}."
        raise OutputError(msg, fix="choose an --out in a folder you can write to.") from exc


def check_output_file(
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike] = (),
    protected: Iterable[str] = (),
) -> None:
    """Refuse, before any work, an output file that may not be written or replaced.

    An input is never replaced, nor is a file named in `protected` inside a gridmap folder (a run
    folder's own data: ``grids.gpkg``, ``manifest.json``, ...); other existing files only with
    `overwrite`.

    Raises
    ------
    OutputExistsError, UnsafeOutputError, OutputError
        As for :func:`check_output`.
    """
    path = Path(path)
    _named(path)
    real = path.resolve()
    srcs = [Path(p).resolve() for p in inputs]
    if any(real == s for s in srcs):
        msg = f"{path} is an input; it will not be replaced."
        raise UnsafeOutputError(msg, fix="choose another --out.")
    if path.is_dir():
        msg = f"{path} is a folder; expected a file name."
        raise UnsafeOutputError(msg, fix="pass a file name, e.g. --out map.html.")
    if path.exists():
        if path.name in set(protected) and is_gridmap_folder(path.parent):
            msg = f"{path} is one of the run folder's own files; it will not be replaced."
            raise UnsafeOutputError(msg, fix="choose another --out file name.")
        if not overwrite:
            msg = f"{path} already exists."
            raise OutputExistsError(msg, fix="choose another --out or pass --overwrite.")
    parent = _first_existing(real.parent)
    if not parent.is_dir():
        msg = f"cannot write {path}: {parent} is a file."
        raise OutputError(msg, fix="choose another --out.")
    _probe(parent, path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(out: str | os.PathLike) -> list[Path]:
    """Remove the hidden work folders that killed runs left beside `out`; return what was removed.

    Only folders gridmap made, whose process has died, are touched: ``.<out>.<pid>.<random>.tmp``
    holding gridmap's work marker with that process id (a run being written), and
    ``.<out>.old-<pid>`` with gridmap's manifest (a replaced run being deleted). A folder of any
    other name or content, or whose process still runs, is left alone; ``.<out>.parts``
    (per-village results kept for ``--resume``) is left to the caller.
    """
    out = Path(out)
    if not out.parent.is_dir():
        return []
    removed = []
    for p in out.parent.iterdir():
        m = _STALE.match(p.name)
        if not m or not p.is_dir() or p.is_symlink():
            continue
        name, pid = (m["name"], m["pid"]) if m["name"] else (m["oname"], m["opid"])
        if name != out.name or (_pid_alive(int(pid)) and int(pid) != os.getpid()):
            continue
        if m["name"] and _read_marker(p) != pid:
            continue  # not a folder gridmap was writing
        if m["oname"] and (not is_gridmap_folder(p) or not out.exists()):
            continue  # not gridmap's, or killed between the two renames: the only complete copy
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _read_marker(folder: Path) -> str | None:
    try:
        return (folder / WORK_MARKER).read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None


def _mark_made_by(folder: Path) -> None:
    """Write ``"made_by": "gridmap"`` and the list of the folder's files into its manifest."""
    manifest = folder / "manifest.json"
    data: dict = {}
    if manifest.exists():
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            return
    files = sorted({*_listing(folder), "manifest.json"})
    data = {"made_by": MADE_BY, **{k: v for k, v in data.items() if k not in ("made_by", "files")}, "files": files}
    manifest.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


@contextlib.contextmanager
def atomic_dir(
    out: str | os.PathLike, *, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = ()
) -> Iterator[Path]:
    """Yield a temporary folder beside `out` that replaces `out` only if the block succeeds.

    Nothing is half written: on any error the temporary folder is removed and `out` is untouched.
    :func:`check_output` decides whether `out` may be replaced; work folders of killed runs are
    cleaned first (:func:`clean_stale`). The folder gets normal permissions (as the umask says)
    and a ``manifest.json`` with ``"made_by": "gridmap"`` and the list of its files, so a later
    ``--overwrite`` knows it and finds any file the user added.

    Raises
    ------
    OutputExistsError, UnsafeOutputError
        When `out` may not be replaced (see :func:`check_output`).
    OutputError
        When the folder cannot be written (permissions, disk full).
    """
    out = Path(out)
    check_output(out, overwrite=overwrite, inputs=inputs)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp", dir=out.parent))
        (tmp / WORK_MARKER).write_text(str(os.getpid()), encoding="ascii")
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
    except OSError as exc:
        msg = f"cannot create {out}: {exc.strerror or exc}."
        raise OutputError(msg, fix="choose an --out in a folder you can write to.") from exc
    try:
        yield tmp
        (tmp / WORK_MARKER).unlink()
        _mark_made_by(tmp)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(  # a timeout or lost connection is not a disk problem
            exc, OutputError | UnsafeOutputError | OutputExistsError | InputError | TimeoutError | ConnectionError
        ):
            msg = f"could not write {out}: {exc.strerror or exc}; nothing was changed."
            raise OutputError(msg, fix="free disk space or choose another --out.") from exc
        raise
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


ARROW_WRITES: Final = pyogrio.__gdal_version__ >= (3, 8, 0)
"""Whether GDAL can write GeoPackages from Arrow tables (pyogrio's ``use_arrow``; GDAL 3.8 or later)."""


def arrow_ready(gdf: pd.DataFrame) -> bool:
    """Return whether pyogrio's Arrow path writes `gdf` with the same field types as its classic path.

    True when every column is a number, a boolean, text, or an object column holding only text
    (or nothing). The classic path writes any other object column as text, while Arrow would
    infer its type (a column of ints and None would become an integer field) or refuse it
    (text mixed with numbers); such frames, and dates, take the classic path.
    """
    geometry = gdf.geometry.name if isinstance(gdf, gpd.GeoDataFrame) else None
    for name in gdf.columns:
        if name == geometry:
            continue
        col = gdf[name]
        if col.dtype == object:
            if pd.api.types.infer_dtype(col, skipna=True) not in ("string", "empty"):
                return False
        elif not (isinstance(col.dtype, pd.StringDtype) or col.dtype.kind in "iufb"):
            return False
    return True


@dataclass(frozen=True)
class ArrowLayer:
    """A layer as GDAL's Arrow writer takes it: its attributes and WKB geometry in one Arrow table.

    :func:`arrow_layer` makes one as pyogrio would; it pickles as its buffers (the pipe of
    :mod:`geodata.background`), where a GeoDataFrame pickles every geometry as WKB, to be made
    into geometries again on the other side, and again into WKB for GDAL.
    """

    table: Any
    """The attributes and the geometry column (WKB), in the frame's column order."""
    geometry: str
    geometry_type: str
    crs: str | None
    """As pyogrio passes it to GDAL: ``EPSG:n``, else WKT1."""

    def __len__(self) -> int:
        return len(self.table)

    def write(
        self,
        path: Path,
        *,
        layer: str | None = None,
        driver: str = "GPKG",
        append: bool = False,
        layer_options: Mapping[str, object] | None = None,
    ) -> None:
        """Write the layer into `path` (named after the file without `layer`); with `append`, as another layer.

        `layer_options` are the GDAL driver's layer creation options.
        """
        from pyogrio.raw import write_arrow

        write_arrow(
            self.table,
            path,
            layer=layer,
            driver=driver,
            geometry_name=self.geometry,
            geometry_type=self.geometry_type,
            crs=self.crs,
            append=append,
            layer_options=dict(layer_options) if layer_options else None,
        )


_GEOMETRY_TYPES = ("Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon")
"""Shapely's geometry type ids as names (GeometryCollection, 7, is never half of a single/multi pair)."""


def arrow_layer(gdf: gpd.GeoDataFrame, *, driver: str = "GPKG") -> ArrowLayer | None:
    """Return `gdf` as the :class:`ArrowLayer` pyogrio's Arrow path writes with `driver`; None where it is not taken.

    The same table, geometry type and CRS as ``pyogrio.write_dataframe(use_arrow=True)`` makes
    (a GeoPackage's polygons and multipolygons mixed are all written as multipolygons); the
    WKB of plain x/y points is made from their coordinates, not from a million geometries. None
    for an empty frame, where GDAL cannot write Arrow or the frame is not :func:`arrow_ready`, and
    for 2D and 3D geometries mixed where `driver` refuses them.
    """
    import pyarrow as pa
    from pyogrio.raw import DRIVERS_NO_MIXED_DIMENSIONS, DRIVERS_NO_MIXED_SINGLE_MULTI

    if not (ARROW_WRITES and len(gdf) and arrow_ready(gdf)):
        return None
    geoms = np.asarray(gdf.geometry.values)
    if plain_points(geoms):
        xy = shapely.get_coordinates(geoms)
        wkb = np.empty(len(xy), dtype=[("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
        wkb["order"], wkb["type"], wkb["x"], wkb["y"] = 1, 1, xy[:, 0], xy[:, 1]  # little-endian WKB Point
        offsets = pa.py_buffer(np.arange(0, wkb.itemsize * (len(wkb) + 1), wkb.itemsize, dtype=np.int32))
        column = pa.Array.from_buffers(pa.binary(), len(wkb), [None, offsets, pa.py_buffer(wkb.view(np.uint8))])
        geometry_type = "Point"
    else:
        kinds = shapely.get_type_id(geoms)  # -1 where missing
        z = shapely.has_z(geoms[(kinds >= 0) & ~shapely.is_empty(geoms)])
        if driver in DRIVERS_NO_MIXED_DIMENSIONS and z.any() and not z.all():
            return None  # pyogrio refuses it, in its own words
        present = {_GEOMETRY_TYPES[k] if k < len(_GEOMETRY_TYPES) else "GeometryCollection" for k in kinds[kinds >= 0]}
        geometry_type = present.pop() if len(present) == 1 else "Unknown"
        single = next((t for t in ("Polygon", "LineString", "Point") if present == {t, f"Multi{t}"}), None)
        wkb = shapely.to_wkb(geoms)
        if single and driver in DRIVERS_NO_MIXED_SINGLE_MULTI:  # singles become multis, as pyogrio writes them
            geometry_type = f"Multi{single}"
            promote = kinds == _GEOMETRY_TYPES.index(single)
            wkb[promote] = [_one_member_multi(w) for w in wkb[promote]]
        if z.any() and geometry_type != "Unknown":
            geometry_type += " Z"
        column = pa.array(wkb, pa.binary())
    name = gdf.geometry.name
    attributes = [c for c in gdf.columns if c != name]
    if attributes:  # the columns picked, not dropped: a GeoDataFrame's drop copied the city's addresses (0.15 s)
        table = pa.Table.from_pandas(pd.DataFrame(gdf), columns=attributes, preserve_index=False)
        for i, field in enumerate(table.schema):
            if pa.types.is_null(field.type):  # a column of nothing: pyogrio writes it as text
                table = table.set_column(i, field.with_type(pa.string()), table[i].cast(pa.string()))
        table = table.add_column(list(gdf.columns).index(name), name, column)
    else:  # a table of no columns would have no rows either
        table = pa.table({name: column})
    crs = None
    if gdf.crs:
        epsg = gdf.crs.to_epsg()
        crs = f"EPSG:{epsg}" if epsg else gdf.crs.to_wkt("WKT1_GDAL")
    return ArrowLayer(table, name, geometry_type, crs)


def _one_member_multi(wkb: bytes) -> bytes:
    """Return the WKB of the multi geometry whose one member is the Point, LineString or Polygon of `wkb`.

    The WKB of a multi geometry is its header (byte order, type, count) and each member's own WKB,
    and each multi type is its single type + 3 (in every flavour: 2D, ISO 1000s, extended Z/M
    flags). Prefixing the header gives the bytes GEOS writes for ``multipolygons([polygon])`` (the
    same for empty and 3D members) without copying every vertex into a new geometry and back:
    0.2 s of the city's 33,572 cells, most of them promoted.
    """
    order: Literal["little", "big"] = "little" if wkb[0] == 1 else "big"
    kind = int.from_bytes(wkb[1:5], order)
    return wkb[:1] + (kind + 3).to_bytes(4, order) + (1).to_bytes(4, order) + wkb


def write_layers(path: str | os.PathLike, layers: Mapping[str, gpd.GeoDataFrame | ArrowLayer]) -> None:
    """Write several layers into one GeoPackage (created fresh), listed in the order given.

    Layers go through pyogrio's Arrow path where it writes the same fields (:func:`arrow_ready`):
    a third faster on a run's addresses, with no per-row Python conversion (:func:`arrow_layer`).
    The largest layer is written first: GDAL builds the spatial index of the first layer of a new
    file beside its rows, in a second thread, and every later layer's at the end, from its table
    read back (the city's addresses: 0.3 s more, on the one thread). The same index either way.
    """
    path = Path(path)
    if path.exists():
        path.unlink()
    largest = max(layers, key=lambda name: len(layers[name]), default=None)
    for name in sorted(layers, key=lambda name: name != largest):
        layer = layers[name]
        if isinstance(layer, gpd.GeoDataFrame):
            layer = arrow_layer(layer) or layer
        if isinstance(layer, ArrowLayer):
            layer.write(path, layer=name, append=path.exists())
        else:
            pyogrio.write_dataframe(layer, path, layer=name, driver="GPKG", append=path.exists(), use_arrow=False)
    if largest is not None and largest != next(iter(layers)):
        _list_in_order(path, list(layers))


def _list_in_order(path: Path, names: list[str]) -> None:
    """Make a GeoPackage list its layers as `names` orders them (GDAL lists them as ``gpkg_contents`` holds them)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as db, db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(gpkg_contents)")]
        rows = db.execute("SELECT * FROM gpkg_contents ORDER BY rowid").fetchall()
        at = {name: i for i, name in enumerate(names)}
        rows.sort(key=lambda row: at.get(row[columns.index("table_name")], len(names)))  # others after, as they were
        db.execute("DELETE FROM gpkg_contents")
        db.executemany(
            f"INSERT INTO gpkg_contents ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",  # noqa: S608
            rows,
        )


def write_geopackage(
    path: str | os.PathLike, layers: Mapping[str, gpd.GeoDataFrame | ArrowLayer], tables: Mapping[str, pd.DataFrame]
) -> None:
    """Write a GeoPackage (created fresh): its layers (:func:`write_layers`), then its plain tables."""
    write_layers(path, layers)
    for name, table in tables.items():
        write_table(path, table, layer=name)


GEOJSON_OPTIONS = {"SIGNIFICANT_FIGURES": 12}
"""GDAL's GeoJSON layer options: coordinates to 12 significant figures, 0.1 mm in degrees (RFC 7946 advises
6 decimals, 10 cm). GDAL's default of 17 writes float noise and took twice as long: 1.0 against 0.55 s
for the city's 2,856 grids (478,000 vertices)."""


def write_geojson(path: str | os.PathLike, gdf: gpd.GeoDataFrame | ArrowLayer) -> None:
    """Write a GeoJSON file in WGS 84, as RFC 7946 requires (through Arrow where :func:`arrow_ready`).

    `gdf` may also be what :func:`geojson_layer` made of it.
    """
    layer = geojson_layer(gdf) if isinstance(gdf, gpd.GeoDataFrame) else gdf
    if isinstance(layer, ArrowLayer):
        layer.write(Path(path), driver="GeoJSON", layer_options=GEOJSON_OPTIONS)
    else:
        pyogrio.write_dataframe(layer, path, driver="GeoJSON", use_arrow=False, layer_options=GEOJSON_OPTIONS)


def geojson_layer(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame | ArrowLayer:
    """Return `gdf` in WGS 84 as :func:`write_geojson` writes it: an :class:`ArrowLayer` where it can be one."""
    wgs84 = gdf.to_crs("EPSG:4326")
    return arrow_layer(wgs84, driver="GeoJSON") or wgs84


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` that replaces `path` only if the block succeeds.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_file(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text atomically (HTML pages, JSON manifests)."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""Cell starts that spreadsheets may run as a formula (OWASP CSV injection guidance)."""


def spreadsheet_safe(values: pd.Series) -> pd.Series:
    """Text cells that start like a formula (``= + - @``, tab, CR) get a leading ``'``, as OWASP advises.

    Non-text values (numbers, missing) are returned unchanged.
    """
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        is_text = values.notna()  # only text and missing values: no per-cell type check
    else:
        is_text = values.map(lambda v: isinstance(v, str))
    risky = is_text & values.where(is_text, "").astype(str).str.startswith(FORMULA_START)
    if not risky.any():
        return values
    return values.mask(risky, "'" + values.where(risky, "").astype(str))


def write_csv(path: str | os.PathLike, df: pd.DataFrame, *, text_cols: tuple[str, ...] = ()) -> None:
    """Write a CSV in UTF-8 with BOM, so Excel shows Chinese text correctly (atomically).

    Every text cell that a spreadsheet could run as a formula is neutralised with a leading ``'``
    (:func:`spreadsheet_safe`). Columns in `text_cols` (long digit codes) are written with a
    leading tab, the convention that makes Excel and LibreOffice keep them as text instead of
    rounding them to 15 significant digits; strip whitespace when reading them back.

    Frames of text, integer, float and boolean columns (rosters, findings) are written with Arrow
    (numpy on its buffers, its CSV writer), without Python per row or cell, in pandas' own form
    (numbers as ``to_csv`` writes them, missing values empty); a cell holding a comma, quote, CR or
    LF is quoted. Other frames go through pandas' writer.
    """
    with atomic_file(path) as tmp:
        if not _arrow_csv(tmp, df, text_cols=text_cols):
            _pandas_csv(tmp, df, text_cols=text_cols)


CSV_CHUNK_ROWS = 100_000
"""Rows made into CSV text at a time: a 1.14M-address roster whole took 730 MiB above the run's own memory."""


def _arrow_csv(path: Path, df: pd.DataFrame, *, text_cols: tuple[str, ...]) -> bool:
    """Write :func:`write_csv`'s file with Arrow, chunk by chunk; False (file to be rewritten) where Arrow cannot."""
    with open(path, "wb") as f:
        f.write(b"\xef\xbb\xbf")
        for start in range(0, max(len(df), 1), CSV_CHUNK_ROWS):
            lines = _csv_lines(df.iloc[start : start + CSV_CHUNK_ROWS], text_cols=text_cols, header=start == 0)
            if lines is None:
                return False
            for chunk in lines:
                f.write(chunk)
    return True


def _pandas_csv(path: Path, df: pd.DataFrame, *, text_cols: tuple[str, ...]) -> None:
    """Write :func:`write_csv`'s file through pandas' writer (frames with columns Arrow cannot write alike)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or isinstance(out[c].dtype, pd.StringDtype):
            out[c] = spreadsheet_safe(out[c].astype(object))
    for c in text_cols:
        if c in out.columns:
            col = out[c].astype(object)
            text = col.astype(str)
            out[c] = col.where(col.isna() | text.eq(""), "\t" + text)
    out.to_csv(path, index=False, encoding="utf-8-sig")


_NEEDS_QUOTES = '[,"\r\n]'


def _csv_lines(df: pd.DataFrame, *, text_cols: tuple[str, ...], header: bool = True) -> list[Any] | None:
    """Return the CSV lines of `df` as UTF-8 buffers made by Arrow (None: a column is not text or a number).

    The header line comes first with `header`; the rows follow as one buffer: Arrow's CSV writer
    makes them where no cell needs quotes (it refuses such a cell), else the cells are quoted where
    they must be and joined.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    if len(df.columns) < 2:  # csv writes a lone empty cell as "": pandas' writer knows the rule
        return None
    cells = []
    for c in df.columns:
        col = _csv_cells(df[c], code=c in text_cols)
        if col is None:
            return None
        cells.append(col)
    table = pa.table(cells, names=[str(i) for i in range(len(cells))])
    sink = pa.BufferOutputStream()
    try:
        pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False, quoting_style="none"))
        body = sink.getvalue()
    except pa.ArrowInvalid:  # a cell holds a comma, quote, CR or LF
        text = [pc.fill_null(_quoted(pc.cast(col, pa.large_string())), _text("")) for col in cells]
        rows = pc.binary_join_element_wise(*text, _text(","))
        body = _string_bytes(pc.binary_join_element_wise(rows, _text(""), _text("\n")))  # each row and its line end
    if not header:
        return [body]
    names = _quoted(pa.array([str(c) for c in df.columns], pa.large_string()))
    line = pc.binary_join_element_wise(*names, _text(","))
    return [line.as_py().encode() + b"\n", body]


def _csv_cells(col: pd.Series, *, code: bool) -> Any:
    """Return one column as Arrow cells for CSV (integers as integers, others as large strings), or None.

    Text is neutralised (:func:`spreadsheet_safe`) and a code in `text_cols` gets its leading tab;
    missing values are null. Quoting is left to :func:`_csv_lines`. None for other types.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not code and col.dtype.kind == "b":
        return pa.array(np.where(col.to_numpy(), "True", "False"), pa.large_string())
    if not code and pd.api.types.is_integer_dtype(col.dtype):
        return pa.array(col, from_pandas=True)  # Arrow writes integers as pandas does
    if not code and col.dtype == np.float64:
        return _float_cells(col.to_numpy())
    if isinstance(col.dtype, pd.StringDtype):
        text = pc.cast(pa.array(col, from_pandas=True), pa.large_string())
    elif col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) in ("string", "empty"):
        text = pa.array(col, pa.large_string(), from_pandas=True)
    else:
        return None
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    offsets, data = _string_buffers(text)
    filled = (offsets[1:] > offsets[:-1]) & ~text.is_null().to_numpy(zero_copy_only=False)
    first = data[np.minimum(offsets[:-1], len(data) - 1)] if len(data) else np.zeros(len(text), np.uint8)
    risky = filled & np.isin(first, np.frombuffer("".join(FORMULA_START).encode(), np.uint8))
    if risky.any():
        text, offsets, data = _prefixed(text, offsets, data, risky, "'")
    if code and filled.any():
        text, _, _ = _prefixed(text, offsets, data, filled, "\t")
    return text


def _string_buffers(text: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return the offsets (from 0) and UTF-8 bytes of an Arrow large-string array, without copying the bytes."""
    offsets = np.frombuffer(text.buffers()[1], np.int64)[text.offset : text.offset + len(text) + 1]
    data = text.buffers()[2]
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return offsets - offsets[0], data[offsets[0] : offsets[-1]]


def _prefixed(text: Any, offsets: np.ndarray, data: np.ndarray, where: np.ndarray, char: str) -> tuple[Any, ...]:
    """Return `text` with the ASCII `char` before every cell `where` is true (nulls stay null), and its buffers."""
    import pyarrow as pa

    data = np.insert(data, offsets[:-1][where], ord(char))
    offsets = offsets + np.concatenate(([0], np.cumsum(where)))
    valid = None
    if text.null_count:
        valid = pa.py_buffer(np.packbits(text.is_valid().to_numpy(zero_copy_only=False), bitorder="little"))
    out = pa.LargeStringArray.from_buffers(len(text), pa.py_buffer(offsets), pa.py_buffer(data), valid, text.null_count)
    return out, offsets, data


def _float_cells(values: np.ndarray) -> Any:
    """Floats as pandas writes them (Python's shortest repr: ``1.0``, ``1e-05``), NaN as null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    nan = np.isnan(values)
    text = pc.cast(pa.array(values, mask=nan if nan.any() else None), pa.large_string())  # shortest round trip,
    size = np.abs(values)  # as repr, in this range:
    plain = (size >= 1e-4) & (size < 1e9) | (values == 0)
    whole = plain & (np.floor(values) == values)  # Arrow writes 1 and -0 where Python writes 1.0 and -0.0
    if whole.any():
        text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, _text(".0"), _text("")), text)
    odd = ~plain & ~nan  # tiny, huge or infinite: rare, in Python's own words
    if odd.any():
        reprs = pa.array([repr(float(v)) for v in values[odd]], pa.large_string())
        text = pc.replace_with_mask(text, pa.array(odd), reprs)
    return text


def _text(value: str) -> Any:
    """Return `value` as an Arrow large-string scalar (Arrow's string kernels want one string type)."""
    import pyarrow as pa

    return pa.scalar(value, pa.large_string())


def _quoted(text: Any) -> Any:
    """Cells holding a comma, quote, CR or LF in quotes (inner quotes doubled), as RFC 4180 asks."""
    import pyarrow.compute as pc

    needs = pc.match_substring_regex(text, _NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return text
    quoted = pc.binary_join_element_wise(_text('"'), pc.replace_substring(text, '"', '""'), _text('"'), _text(""))
    return pc.if_else(needs, quoted, text)


def _string_bytes(text: Any) -> Any:
    """Return the concatenated UTF-8 bytes of an Arrow string array without nulls (a view of its data buffer)."""
    text = text.combine_chunks() if hasattr(text, "combine_chunks") else text
    return _string_buffers(text)[1] if len(text) else b""


def read_table(path: str | os.PathLike, *, layer: str) -> pd.DataFrame:
    """Read an attribute-only table (e.g. ``code_history``) from a GeoPackage."""
    path = Path(path)
    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:  # noqa: BLE001
        raise InputError(Problem(str(path), f"cannot be opened ({exc}).", "check the path.")) from exc
    if layer not in names:
        raise InputError(Problem(str(path), f"has no table '{layer}'.", "pass the output of a gridmap run."))
    return pyogrio.read_dataframe(path, layer=layer, read_geometry=False)


def write_table(path: str | os.PathLike, df: pd.DataFrame, *, layer: str) -> None:
    """Append an attribute-only table to a GeoPackage."""
    pyogrio.write_dataframe(df, path, layer=layer, driver="GPKG", append=Path(path).exists())


def layer_names(path: str | os.PathLike) -> list[str]:
    """Names of the layers (and attribute tables) of a multi-layer file."""
    try:
        return [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:  # noqa: BLE001 - any GDAL failure means: cannot be opened
        raise InputError(
            Problem(str(path), f"cannot be opened ({exc}).", "check the path and that the file is complete.")
        ) from exc
