"""Read input layers (CSV, GeoJSON, GeoPackage, Shapefile, zipped Shapefile) and write outputs atomically."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from geodata.errors import InputError, OutputExistsError, Problem

LON_NAMES = ("lon", "lng", "longitude", "x", "经度", "point_x", "easting")
LAT_NAMES = ("lat", "latitude", "y", "纬度", "point_y", "northing")
TEXT_ENCODINGS = ("utf-8-sig", "gb18030")
"""CSV encodings tried in order (GB 18030 is a superset of GBK and GB 2312)."""


def _csv_text(path: Path, encoding: str | None) -> tuple[pd.DataFrame, str]:
    tried = [encoding] if encoding else list(TEXT_ENCODINGS)
    for enc in tried:
        try:
            return pd.read_csv(path, dtype=str, encoding=enc, keep_default_na=False), enc
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError as exc:
            raise InputError(
                Problem(str(path), "the file is empty.", "export the layer again with a header row.")
            ) from exc
    raise InputError(
        Problem(
            str(path),
            f"the text is neither {' nor '.join(tried)}.",
            "save it as UTF-8 or GBK, or pass --encoding.",
        )
    )


def _pick_column(columns: list[str], wanted: str | None, names: tuple[str, ...]) -> str | None:
    if wanted:
        return wanted
    lower = {c.lower().strip(): c for c in columns}
    for name in names:
        if name in lower:
            return lower[name]
    return None


def read_csv_points(
    path: str | os.PathLike,
    *,
    x_col: str | None = None,
    y_col: str | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a CSV of points; lon/lat or x/y columns are found by name unless given.

    Parameters
    ----------
    path
        CSV file in UTF-8 (with or without BOM) or GBK/GB 18030.
    x_col, y_col
        Coordinate columns; by default the first of ``lon, lng, longitude, x, 经度`` and
        ``lat, latitude, y, 纬度`` (case-insensitive).
    encoding
        Force a text encoding instead of trying UTF-8 then GB 18030.

    Returns
    -------
    gdf
        Points without a CRS (a CSV cannot carry one); other columns kept as text.
    """
    path = Path(path)
    df, _ = _csv_text(path, encoding)
    if df.empty:
        raise InputError(Problem(str(path), "the file has a header but no rows.", "add data rows."))
    cols = list(df.columns)
    xc = _pick_column(cols, x_col, LON_NAMES)
    yc = _pick_column(cols, y_col, LAT_NAMES)
    problems = []
    for col, opt, role in ((xc, "--x-col", "longitude/x"), (yc, "--y-col", "latitude/y")):
        if col is None or col not in df.columns:
            problems.append(
                Problem(
                    str(path),
                    f"no {role} column found (columns are: {', '.join(cols)}).",
                    f"name it lon/lat or x/y, or pass {opt} NAME.",
                    column=col,
                )
            )
    if problems:
        raise InputError(problems)
    xy = {}
    for col in (xc, yc):
        values = pd.to_numeric(df[col].str.strip(), errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() | ~np.isfinite(values.to_numpy()))
        problems.extend(
            Problem(
                str(path),
                f"got '{df[col].iloc[i]}', expected a number.",
                "correct or delete the row.",
                row=f"row {i + 1} (line {i + 2})",
                column=col,
            )
            for i in bad[:50]
        )
        xy[col] = values
    if problems:
        raise InputError(problems)
    geometry = gpd.points_from_xy(xy[xc], xy[yc])
    return gpd.GeoDataFrame(df.drop(columns=[xc, yc]), geometry=geometry, crs=None)


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
) -> gpd.GeoDataFrame:
    """Read one layer of any supported format with pyogrio (CSV through :func:`read_csv_points`).

    Shapefiles use the encoding of their ``.cpg``; without one they are tried as UTF-8, then GBK
    (older Chinese GIS exports). A zipped Shapefile is read directly.

    Parameters
    ----------
    path
        ``.csv``, ``.geojson``/``.json``, ``.gpkg``, ``.shp``, ``.zip`` (zipped Shapefile) or any
        other GDAL vector format.
    layer
        Layer name for multi-layer formats such as GeoPackage; required when there are several.
    encoding
        Force the attribute encoding.
    x_col, y_col
        Coordinate columns of a CSV.

    Returns
    -------
    gdf
        The layer, with a 0-based index equal to the feature's position in the file.

    Raises
    ------
    InputError
        When the file is missing, empty, has several layers and none was chosen, or cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(Problem(str(path), "the file does not exist.", "check the path."))
    if path.suffix.lower() in (".csv", ".txt"):
        return read_csv_points(path, x_col=x_col, y_col=y_col, encoding=encoding)
    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InputError(
            Problem(str(path), f"cannot be opened as a vector file ({exc}).", "check the format.")
        ) from exc
    names = [str(n) for n in layers[:, 0]]
    if layer is None and len(names) > 1:
        raise InputError(
            Problem(
                str(path),
                f"has {len(names)} layers ({', '.join(names)}) and no layer was chosen.",
                "pass the layer name, e.g. --addresses-layer NAME.",
            )
        )
    if layer is not None and layer not in names:
        raise InputError(
            Problem(str(path), f"has no layer '{layer}' (it has {', '.join(names)}).", "check the name.")
        )
    is_shp = path.suffix.lower() in (".shp", ".zip")
    if encoding is None and is_shp and not _shapefile_cpg(path):
        try:
            gdf = pyogrio.read_dataframe(path, layer=layer, encoding="utf-8")
        except UnicodeDecodeError:
            gdf = pyogrio.read_dataframe(path, layer=layer, encoding="gbk")
    else:
        gdf = pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    if len(gdf) == 0:
        raise InputError(Problem(str(path), "the layer has no features.", "export it again."))
    return gdf.reset_index(drop=True)


def rename_fields(
    gdf: gpd.GeoDataFrame, mapping: Mapping[str, str | None], *, file: str
) -> gpd.GeoDataFrame:
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


def check_output(out: str | os.PathLike, *, overwrite: bool = False) -> None:
    """Raise :class:`OutputExistsError` when `out` exists and may not be replaced."""
    out = Path(out)
    if out.exists() and not overwrite:
        msg = f"{out} already exists. Fix: choose another --out or pass --overwrite."
        raise OutputExistsError(msg)


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `out` that replaces `out` only if the block succeeds.

    Nothing is half written: on any error the temporary folder is removed and `out` is untouched.

    Raises
    ------
    OutputExistsError
        When `out` exists and `overwrite` is false.
    """
    out = Path(out)
    check_output(out, overwrite=overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_layers(path: str | os.PathLike, layers: Mapping[str, gpd.GeoDataFrame]) -> None:
    """Write several layers into one GeoPackage (created fresh)."""
    path = Path(path)
    if path.exists():
        path.unlink()
    for name, gdf in layers.items():
        pyogrio.write_dataframe(gdf, path, layer=name, driver="GPKG", append=path.exists())


def write_geojson(path: str | os.PathLike, gdf: gpd.GeoDataFrame) -> None:
    """Write a GeoJSON file in WGS 84, as RFC 7946 requires."""
    pyogrio.write_dataframe(gdf.to_crs("EPSG:4326"), path, driver="GeoJSON")


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


def write_csv(path: str | os.PathLike, df: pd.DataFrame) -> None:
    """Write a CSV in UTF-8 with BOM, so Excel shows Chinese text correctly (atomically)."""
    with atomic_file(path) as tmp:
        df.to_csv(tmp, index=False, encoding="utf-8-sig")


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
        raise InputError(Problem(str(path), f"cannot be opened ({exc}).", "check the path and that the file is complete.")) from exc
