"""Rosters and GIS exports of a run: CSV/XLSX rosters, GeoJSON, GeoPackage, zipped Shapefile, KML."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from gridmap.fields import bilingual

if TYPE_CHECKING:
    from gridmap.result import GridResult

ROSTER_COLUMNS = (
    "address_id",
    "grid_code",
    "village_code",
    "village_name",
    "grid_type",
    "households",
    "population",
    "group",
    "building",
    "compound",
    "liaison_code",
)


def roster(result: GridResult) -> pd.DataFrame:
    """Return the household roster: every address with its grid, bilingual column headers."""
    a = result.addresses
    cols = [c for c in ROSTER_COLUMNS if c in a.columns]
    extra = [c for c in a.columns if c not in cols and c != "geometry" and not c.startswith("_")]
    df = pd.DataFrame(a[cols + extra])
    xy = a.geometry.get_coordinates()
    df["x"] = xy["x"].to_numpy()
    df["y"] = xy["y"].to_numpy()
    return df.rename(columns={c: bilingual(c) for c in cols})


SHP_FIELDS: dict[str, str] = {
    "grid_code": "GRID_CODE",
    "village_code": "VILL_CODE",
    "village_name": "VILL_NAME",
    "seq": "SEQ",
    "grid_type": "GRID_TYPE",
    "rule": "RULE",
    "households": "HOUSEHOLDS",
    "population": "POPULATION",
    "units": "UNITS",
    "area_m2": "AREA_M2",
    "compactness": "COMPACT",
    "status": "STATUS",
    "flag": "FLAG",
    "note": "NOTE",
    "min_households": "MIN_HH",
    "max_households": "MAX_HH",
    "kept": "KEPT",
    "address_id": "ADDR_ID",
    "liaison_code": "LIAISON",
    "group": "VGROUP",
    "building": "BUILDING",
    "compound": "COMPOUND",
    "grid_type_zh": "TYPE_ZH",
}
"""Shapefile (DBF) field names, at most 10 characters: full name → short name (also written as fields.csv)."""

FORMATS = ("gpkg", "geojson", "shp", "kml", "xlsx", "csv")


def _shp_frame(gdf):
    """Rename to ≤10-character fields, unique; DBF text is capped at 254 characters."""
    import geopandas as gpd

    cols = [c for c in gdf.columns if c != "geometry"]
    names, used = {}, set()
    for c in cols:
        short = SHP_FIELDS.get(c, c[:10].upper())
        base, k = short, 1
        while short in used:
            short = f"{base[:8]}_{k}"
            k += 1
        used.add(short)
        names[c] = short
    out = gdf.rename(columns=names)
    for c in out.columns:
        if c != "geometry" and out[c].dtype == object:
            out[c] = out[c].astype("string").str.slice(0, 254)
        elif out[c].dtype == bool:
            out[c] = out[c].astype(int)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=gdf.crs), names


def write_export(result: GridResult, folder, *, fmt: str, encoding: str = "UTF-8") -> list:
    """Write the run's grids and addresses in one GIS format into `folder`; return the files.

    Formats: ``gpkg`` (grids, addresses, liaison, violations layers), ``geojson`` (grids and
    addresses, WGS 84 per RFC 7946), ``shp`` (one zip per layer with ``.cpg`` in `encoding`, fields
    shortened per :data:`SHP_FIELDS`, mapping in ``fields.csv``), ``kml`` (grids, WGS 84),
    ``xlsx`` (household roster, one sheet per village/community) and ``csv`` (the roster).
    """
    import zipfile
    from pathlib import Path

    import pyogrio

    from geodata import io as gio

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    layers = {"grids": result.grids, "addresses": result.addresses}
    if result.liaison is not None:
        layers["liaison"] = result.liaison
    files = []
    if fmt == "gpkg":
        path = folder / "grids.gpkg"
        gio.write_layers(path, {**layers, "violations": result.violations})
        files.append(path)
    elif fmt == "geojson":
        for name, gdf in layers.items():
            path = folder / f"{name}.geojson"
            gio.write_geojson(path, gdf)
            files.append(path)
    elif fmt == "shp":
        for name, gdf in layers.items():
            shp, names = _shp_frame(gdf)
            tmp = folder / f".{name}.shpdir"
            tmp.mkdir(exist_ok=True)
            pyogrio.write_dataframe(shp, tmp / f"{name}.shp", encoding=encoding)
            pd.DataFrame({"field": list(names), "shapefile_field": list(names.values()),
                          "label": [bilingual(c) for c in names]}).to_csv(tmp / "fields.csv", index=False, encoding="utf-8-sig")
            path = folder / f"{name}_shp.zip"
            part = path.with_name(f".{path.name}.tmp")
            with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted(tmp.iterdir()):
                    z.write(f, f.name)
            part.replace(path)
            for f in tmp.iterdir():
                f.unlink()
            tmp.rmdir()
            files.append(path)
    elif fmt == "kml":
        path = folder / "grids.kml"
        kml = result.grids.to_crs("EPSG:4326")[["grid_code", "village_name", "grid_type", "households", "status", "geometry"]]
        kml = kml.assign(Name=kml["grid_code"], Description=kml["village_name"] + " · " + kml["households"].astype(str) + " 户")
        part = path.with_name(f".{path.name}.tmp.kml")
        pyogrio.write_dataframe(kml, part, driver="KML", layer="grids")
        part.replace(path)
        files.append(path)
    elif fmt == "xlsx":
        path = folder / "roster.xlsx"
        write_xlsx(result, path)
        files.append(path)
    elif fmt == "csv":
        path = folder / "roster.csv"
        gio.write_csv(path, roster(result))
        files.append(path)
    else:
        msg = f"unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}."
        raise ValueError(msg)
    return files


def write_xlsx(result: GridResult, path) -> None:
    """Roster workbook: a summary sheet of grids, then one sheet of households per village/community."""
    from pathlib import Path

    path = Path(path)
    part = path.with_name(f".{path.name}.tmp.xlsx")
    grids = pd.DataFrame(result.grids.drop(columns="geometry"))
    r = roster(result)
    vcol = bilingual("village_code")
    ncol = bilingual("village_name")
    with pd.ExcelWriter(part, engine="openpyxl") as xw:
        grids.rename(columns={c: bilingual(c) for c in grids.columns}).to_excel(xw, sheet_name="网格 grids", index=False)
        for code, rows in r.groupby(vcol, sort=True, dropna=False):
            name = str(rows[ncol].iloc[0]) if ncol in rows and len(rows) else ""
            sheet = f"{code} {name}"[:31].replace("/", "-")
            for bad in "[]:*?\\":
                sheet = sheet.replace(bad, "-")
            rows.to_excel(xw, sheet_name=sheet, index=False)
    part.replace(path)
