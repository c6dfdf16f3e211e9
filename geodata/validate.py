"""Check input layers before any work; collect every problem, then raise once with file, row, column and fix."""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass, field
from importlib import resources

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.errors import InputError, Problem

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


def code_problem(code: object) -> str | None:
    """Return why `code` is not a valid 12-digit village/community code, or ``None`` if it is.

    A valid code has 12 digits, its first six are a county of the 2023 NBS table, and neither its
    township part (digits 7-9) nor its village part (digits 10-12) is ``000``.
    """
    text = "" if code is None or (isinstance(code, float) and np.isnan(code)) else str(code).strip()
    if len(text) != 12 or not text.isdigit():
        return f"got '{text}', expected 12 digits (统计用区划代码, e.g. 310115005001)"
    if text[:6] not in county_codes():
        return f"got '{text}': its county part {text[:6]} is not in the 2023 code table"
    if text[6:9] == "000" or text[9:] == "000":
        return f"got '{text}': a village/community code cannot end its township or village part in 000"
    return None


def _row(gdf: gpd.GeoDataFrame, i: int, *, csv_like: bool) -> str:
    return f"row {i + 1} (line {i + 2})" if csv_like else f"feature {i}"


@dataclass
class Report:
    """Problems found by a validation: errors stop the run, notes are repairs and warnings kept."""

    errors: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)

    def raise_if_errors(self) -> None:
        """Raise one :class:`InputError` carrying every error found."""
        if self.errors:
            raise InputError(self.errors)


def _numeric(
    gdf: gpd.GeoDataFrame, col: str, *, file: str, csv_like: bool, report: Report, default: float
) -> pd.Series:
    if col not in gdf.columns:
        return pd.Series(default, index=gdf.index, dtype=float)
    raw = gdf[col]
    values = pd.to_numeric(raw.astype(str).str.strip().replace({"": np.nan}), errors="coerce")
    if raw.dtype.kind in "iuf":
        values = raw.astype(float)
    bad = np.flatnonzero(values.isna().to_numpy() | (values.to_numpy() < 0))
    report.errors.extend(
        Problem(
            file,
            f"got '{raw.iloc[i]}', expected a whole number ≥ 0.",
            "correct the value (0 for a non-residential point) or delete the row.",
            row=_row(gdf, i, csv_like=csv_like),
            column=col,
        )
        for i in bad[:MAX_LISTED]
    )
    return values


def _repair_polygons(gdf: gpd.GeoDataFrame, *, file: str, report: Report) -> gpd.GeoDataFrame:
    geoms = gdf.geometry.values
    empty = np.flatnonzero(shapely.is_empty(geoms) | pd.isna(geoms))
    report.errors.extend(
        Problem(file, "the geometry is empty.", "draw the polygon or delete the feature.", row=f"feature {i}")
        for i in empty[:MAX_LISTED]
    )
    types = shapely.get_type_id(geoms)
    not_poly = np.flatnonzero(~np.isin(types, [3, 6]) & ~shapely.is_empty(geoms))
    report.errors.extend(
        Problem(
            file,
            f"expected a Polygon or MultiPolygon, got {shapely.get_type_id(geoms[i])} "
            f"({geoms[i].geom_type}).",
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
                )
            )
        geoms = geoms.copy()
        geoms[invalid] = fixed
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    return gdf


def validate_boundaries(gdf: gpd.GeoDataFrame, *, file: str) -> tuple[gpd.GeoDataFrame, Report]:
    """Check and normalise village/community boundaries.

    Checks the ``code`` column (12-digit valid statistical code, unique), ``urban_rural``
    (3 digits, 1xx or 2xx) and ``kind`` when present, and the polygons (invalid ones are repaired
    with ``make_valid`` and reported as notes, never silently changed).

    Returns
    -------
    boundaries, report
        The boundaries with ``code`` and ``name`` as text, and what was found.
    """
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
        bad = ~(ur.str.fullmatch(r"[12]\d\d") | (ur == ""))
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
    gdf = _repair_polygons(gdf, file=file, report=report)
    report.raise_if_errors()
    return gdf, report


def validate_addresses(
    gdf: gpd.GeoDataFrame, *, file: str, csv_like: bool = False
) -> tuple[gpd.GeoDataFrame, Report]:
    """Check and normalise address points (households).

    ``households`` defaults to 1 per point when the column is absent; non-numeric or negative values
    are errors naming the row. ``population`` is optional. Id columns (``building``, ``compound``,
    ``group``, ``village_code``) are normalised to text.

    Returns
    -------
    addresses, report
        Points with float ``households`` and ``population`` (NaN when unknown), and what was found.
    """
    report = Report()
    gdf = gdf.copy()
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
    gdf["households"] = _numeric(gdf, "households", file=file, csv_like=csv_like, report=report, default=1.0)
    if "population" in gdf.columns:
        gdf["population"] = _numeric(
            gdf, "population", file=file, csv_like=csv_like, report=report, default=np.nan
        )
    else:
        gdf["population"] = np.nan
    for col in ("building", "compound", "group", "village_code"):
        if col in gdf.columns:
            gdf[col] = gdf[col].map(lambda v: None if pd.isna(v) or str(v).strip() == "" else str(v).strip())
    report.raise_if_errors()
    return gdf, report


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
        raise InputError(
            Problem(file, "contains no lines.", "give roads, rivers or railways as LineStrings.")
        )
    return gpd.GeoDataFrame(geometry=lines[keep], crs=gdf.crs)


def assign_villages(
    addresses: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame, *, file: str, csv_like: bool = False
) -> tuple[pd.Series, Report]:
    """Return the village/community code of every address from where it lies.

    Addresses outside every boundary get ``None`` and a note (they are kept and listed in the
    ``violations`` layer, never silently dropped). Addresses inside two boundaries are errors: the
    boundaries overlap there.

    Returns
    -------
    village_code, report
        Code per address (indexed like `addresses`) and what was found.
    """
    report = Report()
    pts = addresses.geometry.values
    tree = shapely.STRtree(boundaries.geometry.values)
    pi, bi = tree.query(pts, predicate="intersects")
    codes = boundaries["code"].to_numpy()
    counts = np.bincount(pi, minlength=len(addresses))
    for i in np.flatnonzero(counts > 1)[:MAX_LISTED]:
        inside = ", ".join(codes[bi[pi == i]])
        report.errors.append(
            Problem(
                file,
                f"the point lies in two boundaries ({inside}).",
                "the boundaries overlap here: fix the boundary layer so they tile without overlaps.",
                row=_row(addresses, int(i), csv_like=csv_like),
            )
        )
    result = np.full(len(addresses), None, dtype=object)
    result[pi] = codes[bi]
    outside = np.flatnonzero(counts == 0)
    report.notes.extend(
        Problem(
            file,
            "the point lies outside every village/community boundary; kept in the violations layer.",
            "move the point or extend the boundary layer.",
            row=_row(addresses, int(i), csv_like=csv_like),
        )
        for i in outside
    )
    report.raise_if_errors()
    return pd.Series(result, index=addresses.index, name="village_code"), report
