"""Rosters and GIS exports of a run: CSV/XLSX rosters, GeoJSON, GeoPackage, zipped Shapefile, KML."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape as xml_escape

import numpy as np
import pandas as pd
import shapely

from geodata.errors import OptionError
from geodata.schema import CODE_COLUMNS, INTEGER_COLUMNS, ROSTER_COLUMNS
from gridmap.catalog import bilingual_text, flag_text, note_pairs, status_text
from gridmap.fields import FIELDS, GRID_TYPES, GRID_TYPES_EN, RULES, bilingual

if TYPE_CHECKING:
    from gridmap.result import GridResult

TEXT_LABELS = {
    "worker": ("网格员", "worker"),
    "type_text": ("网格类型说明", "grid type (text)"),
    "rule_text": ("划分规则说明", "rule (text)"),
    "status_text": ("状态说明", "status (text)"),
    "flag_text": ("标记原因说明", "flag reason (text)"),
    "note_text": ("说明（中英）", "note (Chinese / English)"),
    "x": ("经度/X", "longitude or x"),
    "y": ("纬度/Y", "latitude or y"),
}


def _label(name: str) -> str:
    if name in TEXT_LABELS:
        zh, en = TEXT_LABELS[name]
        return f"{zh} ({en})"
    return bilingual(name)


def _integers(df: pd.DataFrame) -> pd.DataFrame:
    """Whole-number columns as nullable integers (households 11, not 11.0)."""
    for c in INTEGER_COLUMNS:
        if c in df and df[c].dtype.kind in "fiu":
            df[c] = df[c].round().astype("Int64")
    return df


def worker_names(workers: pd.DataFrame | None) -> pd.Series:
    """Grid code → worker name(s), several joined with '、'."""
    if workers is None or not len(workers):
        return pd.Series(dtype=object)
    w = workers.astype({"grid_code": str, "worker": str})
    return w.groupby("grid_code", sort=False)["worker"].agg(lambda s: "、".join(dict.fromkeys(s)))


def type_text(grid_type: pd.Series) -> pd.Series:
    """Grid type in Chinese with English beside (worded once per distinct type, not once per row)."""
    types = grid_type.astype(str)
    codes, kinds = pd.factorize(types, use_na_sentinel=False)  # a roster's million rows: no lookup per row
    words = [bilingual_text(str(GRID_TYPES.get(t, t)), str(GRID_TYPES_EN.get(t, t))) for t in kinds]
    return pd.Series(pd.array(words, dtype=types.dtype).take(codes), index=types.index, name=types.name)


def grid_texts(grids: pd.DataFrame) -> pd.DataFrame:
    """Bilingual text columns of the grids: type, rule, status, flag, note (Chinese / English)."""
    out = pd.DataFrame(index=grids.index)
    if "grid_type" in grids:
        out["type_text"] = type_text(grids["grid_type"])
    if "rule" in grids:
        out["rule_text"] = grids["rule"].astype(str).map(lambda r: bilingual_text(*RULES.get(r, (r, r))))
    if "status" in grids:
        out["status_text"] = grids["status"].astype(str).map(status_text)
    if "flag" in grids:
        out["flag_text"] = grids["flag"].fillna("").astype(str).map(flag_text)
    if "note" in grids or "reason" in grids:
        out["note_text"] = [bilingual_text(zh, en) for zh, en in note_pairs(grids)]
    return out


def roster_frame(result: GridResult, *, workers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every address with its grid (canonical column names), integers as integers, worker when given."""
    a = result.addresses
    cols = [c for c in ROSTER_COLUMNS if c in a.columns]
    extra = [c for c in a.columns if c not in cols and c != "geometry" and not c.startswith("_")]
    df = _integers(pd.DataFrame(a[cols + extra]).reset_index(drop=True))
    if "grid_type" in df:
        df["grid_type"] = type_text(df["grid_type"])
    names = worker_names(workers)
    if len(names) and "grid_code" in df:
        df.insert(df.columns.get_loc("grid_code") + 1, "worker", df["grid_code"].astype(str).map(names))
    xy = shapely.get_coordinates(a.geometry.values)
    df["x"] = np.round(xy[:, 0], 7)
    df["y"] = np.round(xy[:, 1], 7)
    return df


def roster(result: GridResult, *, workers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return the household roster: every address with its grid, bilingual column headers."""
    df = roster_frame(result, workers=workers)
    return df.rename(columns={c: _label(c) for c in df.columns if c in FIELDS or c in TEXT_LABELS})


def write_roster_csv(result: GridResult, path, *, workers: pd.DataFrame | None = None) -> None:
    """Write the roster CSV: UTF-8 with BOM, formulas neutralised, codes kept as text (leading tab)."""
    from geodata import io as gio

    gio.write_csv(path, roster(result, workers=workers), text_cols=tuple(_label(c) for c in CODE_COLUMNS))


def grid_table(result: GridResult, *, workers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Attribute table of the grids for people: bilingual texts, integers, rounded measures, worker."""
    g = pd.DataFrame(result.grids.drop(columns="geometry")).reset_index(drop=True)
    g = _integers(g)
    if "area_m2" in g:
        g["area_m2"] = g["area_m2"].astype(float).round(0).astype("Int64")
    if "compactness" in g:
        g["compactness"] = g["compactness"].astype(float).round(3)
    texts = grid_texts(result.grids).reset_index(drop=True)
    keep = [c for c in g.columns if c not in ("status", "flag", "note", "note_en", "reason", "rule", "grid_type")]
    out = pd.concat([g[keep], texts], axis=1)
    names = worker_names(workers)
    if len(names):
        out.insert(1, "worker", out["grid_code"].astype(str).map(names))
    return out


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
    "note_en": "NOTE_EN",
    "reason": "REASON",
    "min_households": "MIN_HH",
    "max_households": "MAX_HH",
    "kept": "KEPT",
    "address_id": "ADDR_ID",
    "liaison_code": "LIAISON",
    "group": "VGROUP",
    "building": "BUILDING",
    "compound": "COMPOUND",
    "grid_type_zh": "TYPE_ZH",
    "worker": "WORKER",
    "walk_m": "WALK_M",
    "walk_unreached": "WALK_UNRCH",
    "type_text": "TYPE_TXT",
    "rule_text": "RULE_TXT",
    "status_text": "STATUS_TXT",
    "flag_text": "FLAG_TXT",
    "note_text": "NOTE_TXT",
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


def _with_texts(gdf, workers: pd.DataFrame | None = None):
    """Return the grids layer plus bilingual text columns (and the worker) for GIS exports."""
    import geopandas as gpd

    out = pd.concat([gdf, grid_texts(gdf)], axis=1)
    names = worker_names(workers)
    if len(names):
        out["worker"] = out["grid_code"].astype(str).map(names)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=gdf.crs)


def write_export(
    result: GridResult, folder, *, fmt: str, encoding: str = "UTF-8", workers: pd.DataFrame | None = None
) -> list:
    """Write the run's grids and addresses in one GIS format into `folder`; return the files.

    Formats: ``gpkg`` (grids, addresses, liaison, violations layers), ``geojson`` (grids and
    addresses, WGS 84 per RFC 7946), ``shp`` (one zip per layer with ``.cpg`` in `encoding`, fields
    shortened per :data:`SHP_FIELDS`, mapping in ``fields.csv``), ``kml`` (grids styled by status,
    one folder per village/community, a label point per grid, WGS 84), ``xlsx`` (grids sheet and
    one roster sheet per village/community) and ``csv`` (the roster). Grid layers carry the
    status, flag, note, type and rule in Chinese with English beside (``*_text`` columns) and,
    with `workers`, a ``worker`` column.
    """
    import zipfile
    from pathlib import Path

    import pyogrio

    from geodata import io as gio

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    layers = {"grids": _with_texts(result.grids, workers), "addresses": result.addresses}
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
            pd.DataFrame(
                {"field": list(names), "shapefile_field": list(names.values()), "label": [_label(c) for c in names]}
            ).to_csv(tmp / "fields.csv", index=False, encoding="utf-8-sig")
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
        part = path.with_name(f".{path.name}.tmp")
        part.write_text(kml_document(result, workers=workers), encoding="utf-8")
        part.replace(path)
        files.append(path)
    elif fmt == "xlsx":
        path = folder / "roster.xlsx"
        write_xlsx(result, path, workers=workers)
        files.append(path)
    elif fmt == "csv":
        path = folder / "roster.csv"
        write_roster_csv(result, path, workers=workers)
        files.append(path)
    else:
        msg = f"unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}."
        raise OptionError(msg)
    return files


def _display_width(value) -> int:
    text = "" if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) else str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _sheet(ws, df: pd.DataFrame, *, code_labels: set[str]) -> None:
    """Fill a worksheet: header, values as typed cells (text never a formula).

    Frozen header, autofilter, fitted widths; code columns are text cells with the text number format.
    """
    from openpyxl.utils import get_column_letter

    ws.append([str(c) for c in df.columns])
    for row in df.itertuples(index=False):
        ws.append(
            [
                None
                if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                else (
                    int(v)
                    if isinstance(v, np.integer)
                    else float(v)
                    if isinstance(v, np.floating)
                    else bool(v)
                    if isinstance(v, np.bool_)
                    else v
                )
                for v in row
            ]
        )
    for col in ws.iter_cols(min_row=1):
        for cell in col:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # openpyxl would make a formula of '=…': user text stays text
    for j, c in enumerate(df.columns, start=1):
        letter = get_column_letter(j)
        if c in code_labels:
            for cell in ws[letter][1:]:
                cell.number_format = "@"
        sample = df[c].head(2000)
        width = max([_display_width(c), *(_display_width(v) for v in sample)]) + 2
        ws.column_dimensions[letter].width = min(max(width, 6), 60)
    ws.freeze_panes = "A2"
    if ws.max_row >= 1 and ws.max_column >= 1:
        ws.auto_filter.ref = ws.dimensions


def write_xlsx(result: GridResult, path, *, workers: pd.DataFrame | None = None) -> None:
    """Roster workbook: a sheet of grids, then one sheet of households per village/community.

    Codes are text cells, text that looks like a formula stays text, the header row is frozen
    with an autofilter, columns are fitted, measures rounded, and a worker column is added when
    `workers` is given.
    """
    from pathlib import Path

    from openpyxl import Workbook

    path = Path(path)
    part = path.with_name(f".{path.name}.tmp.xlsx")
    code_labels = {_label(c) for c in CODE_COLUMNS}
    grids = grid_table(result, workers=workers)
    grids = grids.rename(columns={c: _label(c) for c in grids.columns})
    r = roster(result, workers=workers)
    vcol, ncol = _label("village_code"), _label("village_name")
    wb = Workbook()
    ws = wb.active
    ws.title = "网格 grids"
    _sheet(ws, grids, code_labels=code_labels)
    used = {ws.title}
    for code, rows in r.groupby(vcol, sort=True, dropna=False):
        name = str(rows[ncol].iloc[0]) if ncol in rows and len(rows) else ""
        sheet = f"{code} {name}"
        for bad in "[]:*?/\\\t\r\n":
            sheet = sheet.replace(bad, "-")
        sheet = sheet.strip("'")[:31] or "sheet"
        base, k = sheet, 2
        while sheet in used:
            sheet = f"{base[:28]}_{k}"
            k += 1
        used.add(sheet)
        _sheet(wb.create_sheet(sheet), rows, code_labels=code_labels)
    wb.save(part)
    part.replace(path)


KML_ALPHA = "99"


def _kml_color(hex_rgb: str, alpha: str = "ff") -> str:
    """``#rrggbb`` → KML ``aabbggrr``."""
    h = hex_rgb.lstrip("#")
    return f"{alpha}{h[4:6]}{h[2:4]}{h[0:2]}"


def _kml_geometry(geojson: dict) -> str:
    def ring(coords, tag):
        text = " ".join(f"{x:.7f},{y:.7f}" for x, y, *_ in coords)
        return f"<{tag}><LinearRing><coordinates>{text}</coordinates></LinearRing></{tag}>"

    def polygon(rings):
        inner = "".join(ring(r, "innerBoundaryIs") for r in rings[1:])
        return f"<Polygon>{ring(rings[0], 'outerBoundaryIs')}{inner}</Polygon>"

    if geojson["type"] == "Polygon":
        return polygon(geojson["coordinates"])
    return "<MultiGeometry>" + "".join(polygon(p) for p in geojson["coordinates"]) + "</MultiGeometry>"


def kml_document(result: GridResult, *, workers: pd.DataFrame | None = None) -> str:
    """Write the KML of the grids.

    Filled and outlined by status colour, one folder per village/community, a label point per grid, a
    description table in Chinese (English beside).
    """
    import json

    from gridmap.colors import status_colors

    g = result.grids.to_crs("EPSG:4326")
    colors = status_colors(g)
    shapes = [json.loads(t) for t in shapely.to_geojson(g.geometry.values)]
    label_pts = shapely.point_on_surface(g.geometry.values)
    table = grid_table(result, workers=workers)
    rows_shown = [
        c
        for c in (
            "grid_code",
            "worker",
            "village_name",
            "type_text",
            "rule_text",
            "households",
            "population",
            "area_m2",
            "status_text",
            "flag_text",
            "note_text",
        )
        if c in table
    ]
    styles = (
        "".join(
            f"<Style id='s{c.lstrip('#')}'><LineStyle><color>{_kml_color(c)}</color><width>2</width></LineStyle>"
            f"<PolyStyle><color>{_kml_color(c, KML_ALPHA)}</color></PolyStyle></Style>"
            for c in sorted(set(colors))
        )
        + "<Style id='label'><IconStyle><scale>0</scale></IconStyle><LabelStyle><scale>0.9</scale></LabelStyle></Style>"
    )
    folders = []
    vcode = g["village_code"].astype(str) if "village_code" in g else pd.Series("", index=g.index)
    vname = g["village_name"].fillna("").astype(str) if "village_name" in g else pd.Series("", index=g.index)
    positions = pd.Series(np.arange(len(g)), index=g.index)
    for code, idx in positions.groupby(vcode.to_numpy(), sort=True):
        marks = []
        for i in idx.to_numpy():
            rec = table.iloc[i]
            cells = "".join(
                f"<tr><th>{html.escape(_label(c))}</th><td>{html.escape(_cell_text(rec[c]))}</td></tr>"
                for c in rows_shown
            )
            desc = xml_escape(f"<table border='1' cellpadding='2'>{cells}</table>")
            name = xml_escape(str(g["grid_code"].iloc[i]))
            p = label_pts[i]
            marks.append(
                f"<Placemark><name>{name}</name><description>{desc}</description>"
                f"<styleUrl>#s{colors[i].lstrip('#')}</styleUrl>{_kml_geometry(shapes[i])}</Placemark>"
                f"<Placemark><name>{name}</name><styleUrl>#label</styleUrl>"
                f"<Point><coordinates>{p.x:.7f},{p.y:.7f}</coordinates></Point></Placemark>"
            )
        title = xml_escape(f"{vname.iloc[idx.to_numpy()[0]]} {code}".strip())
        folders.append(f"<Folder><name>{title}</name>{''.join(marks)}</Folder>")
    name = xml_escape(f"gridmap · {result.manifest.get('name', '')}")
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n<kml xmlns='http://www.opengis.net/kml/2.2'><Document>"
        f"<name>{name}</name>{styles}{''.join(folders)}</Document></kml>\n"
    )


def _cell_text(value: object) -> str:
    """Return a KML description cell: blank for missing, thousands separators for integers."""
    if pd.isna(value):
        return ""
    return f"{value:,}" if isinstance(value, int | np.integer) else str(value)
