"""Check input layers before any work; collect every problem, then raise once with file, row, column and fix."""

from __future__ import annotations

import csv
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.bulk import in_threads
from geodata.errors import InputError, Problem
from geodata.io import row_label

EXCLUSIVE_TYPES = (
    "school",
    "hospital",
    "enterprise",
    "park",
    "market",
    "agency",
    "compound",
    "rental",
    "other",
)
"""Types of exclusive areas (专属网格) understood by gridmap."""

KINDS = ("community", "village")
MAX_LISTED = 50


@functools.cache
def county_codes() -> frozenset[str]:
    """Return the 2,978 six-digit county codes of the 2023 statistical division code table."""
    text = resources.files("geodata").joinpath("county_codes_2023.csv").read_text(encoding="utf-8")
    return frozenset(row["code"] for row in csv.DictReader(text.splitlines()))


def ascii_digits(text: str, length: int | None = None) -> bool:
    r"""Return whether `text` is ASCII digits ``0-9`` only (and `length` of them, when given).

    Codes are ASCII everywhere: ``str.isdigit()`` and the regex ``\d`` also accept full-width
    (``０-９``) and Arabic-Indic (``٠-٩``) digits, which give codes that look right and are not.
    """
    return (length is None or len(text) == length) and text.isascii() and text.isdigit()


def code_problem(code: object) -> str | None:
    """Return why `code` is not a valid 12-digit village/community code, or ``None`` if it is.

    A valid code has 12 digits, its first six are a county of the 2023 NBS table, and neither its
    township part (digits 7-9) nor its village part (digits 10-12) is ``000``.
    """
    text = "" if code is None or (isinstance(code, float) and np.isnan(code)) else str(code).strip()
    if not ascii_digits(text, 12):
        return f"got '{text}', expected 12 digits, ASCII 0-9 (统计用区划代码, e.g. 310115005001)"
    if text[:6] not in county_codes():
        return f"got '{text}': its county part {text[:6]} is not in the 2023 code table"
    if text[6:9] == "000" or text[9:] == "000":
        return f"got '{text}': a village/community code cannot end its township or village part in 000"
    return None


def _row(gdf: gpd.GeoDataFrame, i: int, *, csv_like: bool) -> str:
    rows = gdf.attrs.get("rows") or ("csv" if csv_like else "feature")
    label = gdf.index[int(i)] if 0 <= int(i) < len(gdf) else i
    return row_label(rows, int(label) if isinstance(label, int | np.integer) else int(i))


def _rows_text(gdf: gpd.GeoDataFrame, ids, *, csv_like: bool) -> str:
    ids = list(ids)
    text = ", ".join(_row(gdf, int(i), csv_like=csv_like) for i in ids[:10])
    return text + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")


@dataclass
class Report:
    """Problems found by a validation: errors stop the run, notes are repairs and warnings kept."""

    errors: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)

    def raise_if_errors(self) -> None:
        """Raise one :class:`InputError` carrying every error found."""
        if self.errors:
            raise InputError(self.errors)


MAX_PER_POINT = 100_000
"""Most households (or people) one address point may carry; more is a data error (and overflows counts)."""


def _numeric(
    gdf: gpd.GeoDataFrame,
    col: str,
    *,
    file: str,
    csv_like: bool,
    report: Report,
    default: float,
    whole: bool = True,
    blank_ok: bool = False,
    maximum: float = MAX_PER_POINT,
) -> pd.Series:
    if col not in gdf.columns:
        return pd.Series(default, index=gdf.index, dtype=float)
    raw = gdf[col]
    if raw.dtype.kind in "iufb":
        values = raw.astype(float)
    else:
        text = _text(raw)
        values = pd.to_numeric(text.where(text.ne(""), None), errors="coerce")
    v = values.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad_mask = ~np.isfinite(v) | (v < 0)
        if blank_ok and raw.dtype.kind not in "iufb":
            bad_mask &= ~text.eq("").to_numpy()
        if whole:
            bad_mask |= np.isfinite(v) & (v != np.floor(v))
        bad_mask |= v > maximum
    bad = np.flatnonzero(bad_mask)
    expected = f"{'a whole number ≥ 0' if whole else 'a number ≥ 0'} (at most {maximum:,.0f} at one address)"
    report.errors.extend(
        Problem(
            file,
            f"got '{raw.iloc[i]}', expected {expected}.",
            "correct the value (0 for a non-residential point) or delete the row.",
            row=_row(gdf, i, csv_like=csv_like),
            column=col,
        )
        for i in bad[:MAX_LISTED]
    )
    if len(bad) > MAX_LISTED:
        report.errors.append(
            Problem(file, f"{len(bad) - MAX_LISTED} more rows are not {expected}.", "correct them.", column=col)
        )
    return pd.Series(v, index=gdf.index)


def _text(values: pd.Series) -> pd.Series:
    """`values` as stripped text, ``""`` where missing (vectorised)."""
    missing = values.isna().to_numpy()
    text = values.astype(str).str.strip()
    return text.where(~missing, "")


def check_coordinates(
    gdf: gpd.GeoDataFrame, *, file: str, report: Report, csv_like: bool = False, option: str = "crs"
) -> None:
    """Add an error to `report` when coordinates cannot be what the layer's CRS says they are.

    In a geographic CRS: longitudes beyond ±180 or latitudes beyond ±90, with the likely cause
    named: longitude and latitude swapped (every bad row fits when swapped), or projected metres
    declared as degrees. In a projected CRS: every coordinate within ±180/±90, i.e. degrees
    declared as metres. `option` names the parameter that sets this file's CRS.
    """
    if gdf.crs is None or len(gdf) == 0:
        return
    geoms = gdf.geometry.values
    ok = ~(pd.isna(geoms) | shapely.is_empty(geoms))
    if not ok.any():
        return
    b = shapely.bounds(np.asarray(geoms))  # NaN where missing or empty
    minx, miny, maxx, maxy = b.T
    cols = gdf.attrs.get("coordinate_columns")
    with np.errstate(invalid="ignore"):
        if gdf.crs.is_geographic:
            bad_lon = (minx < -180) | (maxx > 180)
            bad_lat = (miny < -90) | (maxy > 90)
            bad = np.flatnonzero(bad_lon | bad_lat)
            if not len(bad):
                return
            i0 = int(bad[0])
            example = f"x={minx[i0]:.10g}, y={miny[i0]:.10g} in {_row(gdf, i0, csv_like=csv_like)}"
            metres = (np.abs(b[bad]) > 1000).any(axis=1)
            swappable = (np.abs(b[bad][:, [1, 3]]) <= 180).all(axis=1) & (np.abs(b[bad][:, [0, 2]]) <= 90).all(axis=1)
            if metres.mean() > 0.5:
                fix = (
                    f"pass `{option}` with the projected CRS the numbers are in (e.g. EPSG:4547 for "
                    "CGCS2000 Gauss-Krüger 114°E, EPSG:32650 for UTM 50N, EPSG:3857 for Web Mercator)."
                )
                msg = (
                    f"{len(bad)} of {len(gdf)} rows have coordinates such as {example} that look like "
                    f"metres, but the layer is read as longitude/latitude ({gdf.crs.name})."
                )
                report.errors.append(Problem(file, msg, fix, kind="metres_as_degrees", ids=tuple(map(int, bad))))
            elif swappable.all() and bad_lat[bad].all():
                fix = (
                    f"swap the columns: pass `x_col` {cols[1]} `y_col` {cols[0]}."
                    if cols
                    else "swap x and y in the file."
                )
                msg = (
                    f"longitude and latitude look swapped: {len(bad)} rows have a latitude beyond ±90 "
                    f"that fits as a longitude, e.g. {example}."
                )
                report.errors.append(Problem(file, msg, fix, kind="swapped_lon_lat", ids=tuple(map(int, bad))))
            else:
                report.errors.extend(
                    Problem(
                        file,
                        f"x={minx[i]:.10g}, y={miny[i]:.10g} is not a longitude within ±180 and a latitude within ±90.",
                        "correct or delete the row.",
                        row=_row(gdf, int(i), csv_like=csv_like),
                        kind="out_of_range",
                    )
                    for i in bad[:MAX_LISTED]
                )
        elif gdf.crs.is_projected:
            small = (np.abs(b[ok][:, [0, 2]]) <= 180).all() and (np.abs(b[ok][:, [1, 3]]) <= 90).all()
            if small and len(gdf) >= 1:
                i0 = int(np.flatnonzero(ok)[0])
                msg = (
                    f"every coordinate is within ±180/±90 (e.g. x={minx[i0]:.10g}, y={miny[i0]:.10g}): they look like "
                    f"degrees, but the layer is read as {gdf.crs.name}, in metres."
                )
                fix = f"pass `{option}` EPSG:4326 (WGS 84), EPSG:4490 (CGCS2000), gcj02 or bd09."
                report.errors.append(Problem(file, msg, fix, kind="degrees_as_metres"))


def check_swapped_against(points: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame, *, file: str, report: Report) -> None:
    """Add an error when most points miss the boundaries but would fall among them with x and y swapped.

    Catches swaps the range check cannot see (a point at 31° E, 80° N is a valid place, but it is
    80° E, 31° N swapped). Both layers must be in one geographic CRS; compared by extent only.
    """
    if points.crs is None or not points.crs.is_geographic or len(points) == 0 or len(boundaries) == 0:
        return
    minx, miny, maxx, maxy = boundaries.total_bounds
    xy = shapely.get_coordinates(points.geometry.values)
    if len(xy) != len(points) or not np.isfinite([minx, miny, maxx, maxy]).all():
        return
    x, y = xy[:, 0], xy[:, 1]
    inside = ((x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy)).mean()
    swapped = ((y >= minx) & (y <= maxx) & (x >= miny) & (x <= maxy)).mean()
    if inside < 0.5 and swapped > 0.9:
        cols = points.attrs.get("coordinate_columns")
        fix = f"swap the columns: pass `x_col` {cols[1]} `y_col` {cols[0]}." if cols else "swap x and y in the file."
        msg = (
            f"longitude and latitude look swapped: {swapped:.0%} of the points fall among the boundaries only with "
            "x and "
            f"y exchanged (e.g. x={x[0]:.10g}, y={y[0]:.10g}), {inside:.0%} as given."
        )
        report.errors.append(Problem(file, msg, fix, kind="swapped_lon_lat"))


def find_duplicates(
    gdf: gpd.GeoDataFrame, *, file: str, report: Report, csv_like: bool = False, dedupe: bool = False
) -> np.ndarray:
    """Note rows that repeat an earlier row exactly (same geometry and values); return their positions.

    One note per repeated row group names the rows. With `dedupe` the notes say the repeats are
    dropped (the caller drops them); otherwise they say the households are counted twice.
    """
    if len(gdf) < 2:
        return np.zeros(0, int)
    geoms = gdf.geometry.values
    xy = shapely.get_coordinates(geoms) if (shapely.get_type_id(geoms) == 0).all() else None
    if xy is not None and len(xy) != len(gdf):  # empty points have no coordinates
        xy = None
    # points: only a row at a place another row has can repeat one
    rows = _shared_places(xy) if xy is not None else np.arange(len(gdf))
    frame = pd.DataFrame((gdf if len(rows) == len(gdf) else gdf.iloc[rows]).drop(columns=gdf.geometry.name))
    if xy is not None:
        frame["__x"], frame["__y"] = xy[rows, 0], xy[rows, 1]
    else:
        frame["__wkb"] = shapely.to_wkb(geoms, hex=True)
    key = row_hashes(frame)
    dup = np.flatnonzero(pd.Series(key).duplicated(keep="first").to_numpy())
    if not len(dup):
        return np.zeros(0, int)
    first = pd.Series(np.arange(len(rows))).groupby(key).transform("min").to_numpy()
    repeats = rows[dup]
    action = "dropped (`dedupe`)" if dedupe else "counted again"
    fix = "nothing to do." if dedupe else "delete the repeated rows, or pass `dedupe` to drop them."
    groups = pd.Series(repeats).groupby(rows[first[dup]]).agg(list)
    for n, (orig, rows) in enumerate(groups.items()):
        if n >= MAX_LISTED:
            rest = tuple(int(r) for rows_ in groups.iloc[MAX_LISTED:] for r in rows_)
            report.notes.append(
                Problem(
                    file,
                    f"{len(rest)} more rows repeat earlier rows exactly; {action}.",
                    fix,
                    kind="duplicate_row",
                    ids=rest,
                )
            )
            break
        report.notes.append(
            Problem(
                file,
                f"{_rows_text(gdf, rows, csv_like=csv_like)} repeat {_row(gdf, int(orig), csv_like=csv_like)} exactly "
                f"(same place and values); {action}.",
                fix,
                kind="duplicate_row",
                ids=tuple(int(r) for r in rows),
            )
        )
    return repeats


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """Return a 64-bit hash of each row (``pd.util.hash_pandas_object``).

    A frame with unhashable cells (lists from JSON properties or a database array column) is
    hashed as its text.
    """
    try:
        return pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:
        return pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()


def _shared_places(xy: np.ndarray) -> np.ndarray:
    """Positions of the points whose place another point has too (or, rarely, a few more).

    Hashes each point's coordinates as the row key of :func:`find_duplicates` does (0.0 and -0.0
    alike), into one number per point: equal places always share it, so the rows found hold every
    repeat, and a collision only adds a row that is then compared in full.
    """
    hx, hy = pd.util.hash_array(xy[:, 0]), pd.util.hash_array(xy[:, 1])
    with np.errstate(over="ignore"):
        place = hx ^ (hy * np.uint64(0x9E3779B97F4A7C15))
    return np.flatnonzero(pd.Series(place).duplicated(keep=False).to_numpy())


def _repair_polygons(gdf: gpd.GeoDataFrame, *, file: str, report: Report) -> gpd.GeoDataFrame:
    geoms = gdf.geometry.values
    empty = np.flatnonzero(shapely.is_empty(geoms) | pd.isna(geoms))
    report.errors.extend(
        Problem(file, "the geometry is empty.", "draw the polygon or delete the feature.", row=f"feature {i}")
        for i in empty[:MAX_LISTED]
    )
    types = shapely.get_type_id(geoms)
    not_poly = np.flatnonzero(~np.isin(types, [3, 6]) & ~shapely.is_empty(geoms) & ~pd.isna(geoms))
    report.errors.extend(
        Problem(
            file,
            f"expected a Polygon or MultiPolygon, got {shapely.get_type_id(geoms[i])} ({geoms[i].geom_type}).",
            "export the polygon layer, not lines or points.",
            row=f"feature {i}",
        )
        for i in not_poly[:MAX_LISTED]
    )
    invalid = np.flatnonzero(~shapely.is_valid(geoms) & np.isin(types, [3, 6]))
    if len(invalid):
        reasons = shapely.is_valid_reason(geoms[invalid])
        fixed = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        area_before = shapely.area(shapely.buffer(geoms[invalid], 0))
        for i, reason, geom, before in zip(invalid, reasons, fixed, area_before, strict=True):
            report.notes.append(
                Problem(
                    file,
                    f"invalid polygon ({reason}) repaired with make_valid; area "
                    f"{before:.6g} → {geom.area:.6g} (layer units).",
                    "check the repaired shape in the violations layer, or fix it at source.",
                    row=f"feature {i}",
                    kind="repaired_polygon",
                    ids=(int(i),),
                    values={
                        "detail": str(reason),
                        "area_before": float(f"{before:.6g}"),
                        "area_after": float(f"{geom.area:.6g}"),
                    },
                )
            )
        geoms = geoms.copy()
        geoms[invalid] = fixed
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    return gdf


MAX_COLUMNS = 1_900
"""Most columns an input may have: a GeoPackage layer holds 2,000 fields and gridmap adds its own."""


def check_width(gdf: pd.DataFrame, *, file: str) -> None:
    """Refuse, before any work, a layer with more columns than a run folder's GeoPackage can hold."""
    if len(gdf.columns) > MAX_COLUMNS:
        raise InputError(
            Problem(
                file,
                f"has {len(gdf.columns):,} columns; gridmap keeps every column in the run's GeoPackage, which holds at "
                f"most {MAX_COLUMNS:,} besides its own.",
                "keep only the columns you need (coordinates, households, codes, names) and run again.",
            )
        )


def validate_boundaries(
    gdf: gpd.GeoDataFrame, *, file: str, option: str = "boundaries_crs"
) -> tuple[gpd.GeoDataFrame, Report]:
    """Check and normalise village/community boundaries.

    Checks the ``code`` column (12-digit valid statistical code, unique), ``urban_rural``
    (3 digits, 1xx or 2xx) and ``kind`` when present, and the polygons (invalid ones are repaired
    with ``make_valid`` and reported as notes, never silently changed).

    Returns
    -------
    boundaries, report
        The boundaries with ``code`` and ``name`` as text, and what was found.
    """
    check_width(gdf, file=file)
    report = Report()
    if "code" not in gdf.columns:
        report.errors.append(
            Problem(
                file,
                f"no 'code' column (columns: {', '.join(map(str, gdf.columns[:-1]))}).",
                "add the 12-digit 统计用区划代码 of each village/community, or pass --code-col NAME.",
                column="code",
            )
        )
        report.raise_if_errors()
    gdf = gdf.copy()
    gdf["code"] = gdf["code"].map(lambda v: "" if pd.isna(v) else str(v).strip().split(".")[0])
    for i, code in enumerate(gdf["code"]):
        why = code_problem(code)
        if why:
            report.errors.append(
                Problem(file, why + ".", "use the code from the NBS 2023 table.", row=f"feature {i}", column="code")
            )
    dup = gdf["code"].duplicated(keep=False) & (gdf["code"] != "")
    for code, rows in gdf.index[dup].groupby(gdf["code"][dup]).items():
        report.errors.append(
            Problem(
                file,
                f"code {code} appears in features {', '.join(map(str, rows))}.",
                "each village/community must appear once: dissolve its pieces into one MultiPolygon.",
                column="code",
            )
        )
    if "name" not in gdf.columns:
        gdf["name"] = gdf["code"]
    gdf["name"] = gdf["name"].fillna("").astype(str)
    if "urban_rural" in gdf.columns:
        ur = gdf["urban_rural"].map(lambda v: "" if pd.isna(v) else str(v).strip().split(".")[0])
        bad = ~(ur.str.fullmatch(r"[12][0-9][0-9]") | (ur == ""))
        report.errors.extend(
            Problem(
                file,
                f"got '{ur.iloc[i]}', expected a 3-digit 城乡分类代码 starting with 1 (urban) or 2 (rural).",
                "use e.g. 111, 121 or 220, or leave it empty.",
                row=f"feature {i}",
                column="urban_rural",
            )
            for i in np.flatnonzero(bad.to_numpy())[:MAX_LISTED]
        )
        gdf["urban_rural"] = ur
    if "kind" in gdf.columns:
        kind = gdf["kind"].fillna("").astype(str).str.strip().str.lower()
        bad = ~kind.isin([*KINDS, ""])
        report.errors.extend(
            Problem(
                file,
                f"got '{kind.iloc[i]}', expected one of {', '.join(KINDS)}.",
                "correct the value or leave it empty.",
                row=f"feature {i}",
                column="kind",
            )
            for i in np.flatnonzero(bad.to_numpy())[:MAX_LISTED]
        )
        gdf["kind"] = kind
    check_coordinates(gdf, file=file, report=report, option=option)
    gdf = _repair_polygons(gdf, file=file, report=report)
    report.raise_if_errors()
    return gdf, report


def validate_addresses(
    gdf: gpd.GeoDataFrame,
    *,
    file: str,
    csv_like: bool = False,
    dedupe: bool = False,
    option: str = "addresses_crs",
) -> tuple[gpd.GeoDataFrame, Report]:
    """Check and normalise address points (households).

    ``households`` defaults to 1 per point when the column is absent; values that are not whole
    numbers ≥ 0 are errors naming the row. ``population`` is optional. Coordinates must fit the
    layer's CRS (:func:`check_coordinates`). Rows that repeat an earlier row exactly are noted
    (:func:`find_duplicates`) and, with `dedupe`, dropped. Id columns (``building``,
    ``compound``, ``group``, ``village_code``) are normalised to text.

    Parameters
    ----------
    gdf
        Points as read, with their CRS assigned.
    file
        Name of the file, for messages.
    csv_like
        Name rows as CSV lines (when the reader did not record how).
    dedupe
        Drop rows that repeat an earlier row exactly.
    option
        Parameter that sets this file's CRS, named in messages.

    Returns
    -------
    addresses, report
        Points with float ``households`` and ``population`` (NaN when unknown), indexed by their
        position in the file, and what was found.
    """
    check_width(gdf, file=file)
    report = Report()
    gdf = gdf.copy(deep=False)  # copy-on-write: the caller's columns are copied only where written
    geoms = gdf.geometry.values
    bad_geom = np.flatnonzero(pd.isna(geoms) | shapely.is_empty(geoms) | (shapely.get_type_id(geoms) != 0))
    report.errors.extend(
        Problem(
            file,
            "expected a single Point with coordinates.",
            "give every address one point (explode MultiPoints, drop empty rows).",
            row=_row(gdf, i, csv_like=csv_like),
        )
        for i in bad_geom[:MAX_LISTED]
    )
    check_coordinates(gdf, file=file, report=report, csv_like=csv_like, option=option)
    gdf["households"] = _numeric(gdf, "households", file=file, csv_like=csv_like, report=report, default=1.0)
    if "population" in gdf.columns:
        gdf["population"] = _numeric(
            gdf, "population", file=file, csv_like=csv_like, report=report, default=np.nan, whole=False, blank_ok=True
        )
    else:
        gdf["population"] = np.nan
    for col in ("building", "compound", "group", "village_code"):
        if col in gdf.columns:
            text = _text(gdf[col])
            gdf[col] = text.mask(text.eq(""))  # Arrow text, blanks missing: no million Python strings made
    report.raise_if_errors()
    repeats = find_duplicates(gdf, file=file, report=report, csv_like=csv_like, dedupe=dedupe)
    if dedupe and len(repeats):
        attrs = dict(gdf.attrs)
        gdf = gdf.drop(index=gdf.index[repeats])
        gdf.attrs.update(attrs)
    return gdf, report


BUILT_IN_MEASURES = ("units", "walk_m")
"""Measures the engine counts itself (``units``: indivisible units per grid); any other measure is a column."""

MEASURED_AFTER = ("walk_m",)
"""Built-in measures of finished grids (``walk_m``: gridmap.walk_grids): checked and flagged, not split by."""


def validate_measures(
    addresses: gpd.GeoDataFrame,
    names: Sequence[str],
    *,
    file: str,
    csv_like: bool = False,
    units: pd.DataFrame | None = None,
    units_file: str = "units",
) -> Report:
    """Check that every measure in `names` is a numeric column ≥ 0 of the addresses (or else of the units).

    A limit or balance weight (``--limit minors=300``) names a measure: a column summed per grid.
    Built-in measures (:data:`BUILT_IN_MEASURES`) need no column. A column that is missing, or has a
    blank, non-numeric or negative value, is an error naming the file, the rows and the fix; the
    values are turned into floats in place.

    Returns
    -------
    report
        The errors found (raise with :meth:`Report.raise_if_errors`).
    """
    report = Report()
    for name in names:
        if name in BUILT_IN_MEASURES:
            continue
        frame, where = (addresses, file) if name in addresses.columns else (units, units_file)
        if frame is None or name not in frame.columns:
            columns = ", ".join(map(str, [c for c in addresses.columns if c != "geometry"][:12]))
            report.errors.append(
                Problem(
                    file,
                    f"the measure '{name}' (a limit or balance weight) is not a column of the addresses"
                    f"{' or the units' if units is not None else ''}; its columns: {columns}.",
                    f"add a numeric column '{name}' (0 where none), or correct the name in --limit/--balance or "
                    f"the rules file ({', '.join(BUILT_IN_MEASURES)} needs no column).",
                    column=name,
                )
            )
            continue
        found = Report()
        values = _numeric(
            frame, name, file=where, csv_like=csv_like and frame is addresses, report=found, default=0.0, whole=False
        )
        for p in found.errors:
            report.errors.append(
                replace(
                    p,
                    message=f"measure {p.message}",
                    fix=p.fix.replace("(0 for a non-residential point)", "(0 where none)"),
                )
            )
        if not found.errors:
            frame[name] = values.to_numpy(float)
    return report


def validate_exclusive(gdf: gpd.GeoDataFrame, *, file: str) -> tuple[gpd.GeoDataFrame, Report]:
    """Check exclusive areas (专属网格): polygons with a ``type`` from :data:`EXCLUSIVE_TYPES`."""
    report = Report()
    gdf = gdf.copy()
    if "type" not in gdf.columns:
        gdf["type"] = "other"
    kind = gdf["type"].fillna("other").astype(str).str.strip().str.lower()
    bad = ~kind.isin(EXCLUSIVE_TYPES)
    report.errors.extend(
        Problem(
            file,
            f"got '{kind.iloc[i]}', expected one of {', '.join(EXCLUSIVE_TYPES)}.",
            "correct the type (use 'other' when none fits).",
            row=f"feature {i}",
            column="type",
        )
        for i in np.flatnonzero(bad.to_numpy())[:MAX_LISTED]
    )
    gdf["type"] = kind
    if "name" not in gdf.columns:
        gdf["name"] = [f"{t} {i}" for i, t in enumerate(kind)]
    gdf["name"] = gdf["name"].fillna("").astype(str)
    gdf = _repair_polygons(gdf, file=file, report=report)
    report.raise_if_errors()
    return gdf, report


def validate_barriers(gdf: gpd.GeoDataFrame, *, file: str) -> gpd.GeoDataFrame:
    """Keep the line geometries of a barrier layer; polygons contribute their outlines."""
    geoms = gdf.geometry.values
    types = shapely.get_type_id(geoms)
    lines = np.where(np.isin(types, [3, 6]), shapely.boundary(geoms), geoms)
    keep = np.isin(shapely.get_type_id(lines), [1, 2, 5]) & ~shapely.is_empty(lines)
    if not keep.any():
        raise InputError(Problem(file, "contains no lines.", "give roads, rivers or railways as LineStrings."))
    return gpd.GeoDataFrame(geometry=lines[keep], crs=gdf.crs)


def _within(pts: np.ndarray, polys: np.ndarray, *, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the pairs (point, polygon) that intersect, as two arrays of positions, split over `threads`.

    Boxes first, then each candidate against its polygon prepared once (the tree's own predicate
    query would prepare every one of the points instead).
    """
    tree = shapely.STRtree(polys)
    shapely.prepare(polys)

    def part(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        start, stop = bounds
        pi, bi = tree.query(pts[start:stop])
        hit = shapely.intersects(polys[bi], pts[start:stop][pi])
        return pi[hit] + start, bi[hit]

    cuts = np.linspace(0, len(pts), max(threads, 1) + 1).astype(int).tolist()
    parts = in_threads(part, zip(cuts[:-1], cuts[1:], strict=True), threads=threads)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def assign_villages(
    addresses: gpd.GeoDataFrame,
    boundaries: gpd.GeoDataFrame,
    *,
    file: str,
    csv_like: bool = False,
    strict: bool = False,
    threads: int = 1,
) -> tuple[pd.Series, Report]:
    """Return the village/community code of every address from where it lies.

    Addresses outside every boundary, or inside a hole of one, get no code and a note of kind
    ``address_outside_boundaries`` / ``address_in_hole`` (they are kept and listed in the
    ``violations`` layer, never silently dropped); with `strict` they are errors instead.
    Addresses inside two boundaries are errors: the boundaries overlap there. With `threads` > 1
    the points are tested against the boundaries in that many parts at once (GEOS runs without
    Python's lock: the city's 1.14M points, 0.35 s on one core, 0.2 s on two).

    Returns
    -------
    village_code, report
        Code per address (indexed like `addresses`, missing where it lies in no boundary) and what
        was found.
    """
    report = Report()
    pts = np.asarray(addresses.geometry.values, dtype=object)
    polys = np.asarray(boundaries.geometry.values, dtype=object)
    pi, bi = _within(pts, polys, threads=threads)
    order = np.lexsort((bi, pi))  # per point, boundaries in layer order: a point on a shared border goes to the first
    pi, bi = pi[order], bi[order]
    codes = boundaries["code"].to_numpy()
    counts = np.bincount(pi, minlength=len(addresses))
    multi = np.isin(pi, np.flatnonzero(counts > 1))
    inner = np.zeros(len(pi), bool)  # only points inside two interiors mean the boundaries overlap
    inner[multi] = shapely.contains_properly(boundaries.geometry.values[bi[multi]], pts[pi[multi]])
    overlap = np.flatnonzero(np.bincount(pi[inner], minlength=len(addresses)) > 1)
    for i in overlap[:MAX_LISTED]:
        inside = ", ".join(codes[bi[(pi == i) & inner]])
        report.errors.append(
            Problem(
                file,
                f"the point lies in two boundaries ({inside}).",
                "the boundaries overlap here: fix the boundary layer so they tile without overlaps.",
                row=_row(addresses, int(i), csv_like=csv_like),
            )
        )
    at = np.full(len(addresses), -1)  # each point's boundary, by position: -1 for none
    first = np.r_[True, pi[1:] != pi[:-1]]
    at[pi[first]] = bi[first]
    outside = np.flatnonzero(counts == 0)
    in_hole = np.zeros(len(outside), bool)
    if len(outside):
        parts, owner = shapely.get_parts(boundaries.geometry.values, return_index=True)
        filled = shapely.polygons(shapely.get_exterior_ring(parts))
        hit, _ = shapely.STRtree(filled).query(pts[outside], predicate="intersects")
        in_hole[np.unique(hit)] = True
    target = report.errors if strict else report.notes
    kept = "" if strict else "; kept in the violations layer"
    for kind, where, ids in (
        ("address_outside_boundaries", "outside every village/community boundary", outside[~in_hole]),
        ("address_in_hole", "inside a hole of a village/community boundary", outside[in_hole]),
    ):
        if not len(ids):
            continue
        fix = "move the points or extend the boundary layer" + (
            "; without `strict` they are listed and kept." if strict else "."
        )
        target.append(
            Problem(
                file,
                f"{len(ids)} of {len(addresses)} addresses lie {where}{kept}: "
                f"{_rows_text(addresses, ids, csv_like=csv_like)}.",
                fix,
                kind=kind,
                ids=tuple(int(i) for i in ids),
            )
        )
    report.raise_if_errors()
    # the codes taken as the boundaries hold them (Arrow text), not a million Python objects
    village_code = pd.Series(boundaries["code"].array.take(at, allow_fill=True), index=addresses.index)
    return village_code.rename("village_code"), report
