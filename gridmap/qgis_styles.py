"""QGIS default styles of ``grids.gpkg``: QML in its ``layer_styles`` table, so the layers open styled and labelled.

QGIS applies the ``layer_styles`` row marked ``useAsDefault`` when it loads a GeoPackage layer
(the table and its columns are QGIS's own convention, also read by GDAL-based viewers that
ignore it harmlessly). gridmap writes one style per layer it makes:

- ``grids``: filled by workload status with the web map's colours (rule-based, one rule per legend
  entry of :func:`gridmap.colors.status_colors`), labelled with the grid number, the full code when
  zoomed in past 1:5,000;
- ``boundaries``: village/community outlines, labelled with the name;
- ``barriers`` and ``exclusive_areas``: the inputs drawn as context.

The QML is written with :mod:`xml.etree` (every user-facing string is escaped by it); only column
names and constants go into QGIS expressions, never user data.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

from gridmap.colors import EXCLUSIVE_COLOR, GROUP_COLOR, SINGLE_COLOR, STATUS_COLORS

FONT = "Noto Sans CJK SC"
"""Label font (QGIS substitutes an installed one when it is missing)."""
GRID_RULES: tuple[tuple[str, str, str], ...] = (
    ("专属网格 exclusive grid", "\"grid_type\" <> 'base'", EXCLUSIVE_COLOR),
    ("飞地 grid in several pieces", "\"grid_type\" = 'base' AND \"status\" = 'enclave'", STATUS_COLORS["enclave"]),
    (
        "村民小组网格 village-group grid",
        "\"grid_type\" = 'base' AND \"rule\" = 'village_group' AND \"status\" = 'ok'",
        GROUP_COLOR,
    ),
    ("整村一格 single grid", "\"grid_type\" = 'base' AND \"rule\" = 'single' AND \"status\" = 'ok'", SINGLE_COLOR),
    (
        "正常 within rules",
        "\"grid_type\" = 'base' AND \"rule\" NOT IN ('village_group', 'single') AND \"status\" = 'ok'",
        STATUS_COLORS["ok"],
    ),
    ("户数不足 below minimum", "\"grid_type\" = 'base' AND \"status\" = 'under_min'", STATUS_COLORS["under_min"]),
    ("户数超限 above maximum", "\"grid_type\" = 'base' AND \"status\" = 'over_max'", STATUS_COLORS["over_max"]),
)
"""(legend label, QGIS filter, colour) of the grids' rules, in the order of :func:`gridmap.colors.status_colors`."""
GRID_LABEL = 'CASE WHEN @map_scale <= 5000 THEN "grid_code" ELSE right("grid_code", 3) END'
STYLE_COLUMNS = (
    "id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), f_table_schema TEXT(256), "
    "f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT, "
    "useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), update_time DATETIME"
)


def _rgba(hex_color: str, alpha: int = 255) -> str:
    h = hex_color.lstrip("#")
    return ",".join(str(int(h[i : i + 2], 16)) for i in (0, 2, 4)) + f",{alpha}"


def _options(parent: ET.Element, values: dict[str, str]) -> None:
    opts = ET.SubElement(parent, "Option", type="Map")
    for k, v in values.items():
        ET.SubElement(opts, "Option", type="QString", name=k, value=v)
        ET.SubElement(parent, "prop", k=k, v=v)  # the pre-3.26 form, read by every QGIS 3


def _symbol(parent: ET.Element, name: str, kind: str, layer_class: str, props: dict[str, str], alpha: float = 1.0):
    sym = ET.SubElement(parent, "symbol", type=kind, name=name, alpha=f"{alpha:g}", clip_to_extent="1", force_rhr="0")
    layer = ET.SubElement(sym, "layer", {"class": layer_class, "enabled": "1", "locked": "0", "pass": "0"})
    _options(layer, props)
    return sym


def _fill(color: str, *, outline: str = "#333333", width: str = "0.26", style: str = "solid", line: str = "solid"):
    return {
        "color": _rgba(color),
        "outline_color": _rgba(outline),
        "outline_width": width,
        "outline_width_unit": "MM",
        "style": style,
        "outline_style": line,
        "joinstyle": "bevel",
    }


def _labeling(root: ET.Element, expression: str, *, size: float, bold: bool, max_scale: int = 0) -> None:
    lab = ET.SubElement(root, "labeling", type="simple")
    settings = ET.SubElement(lab, "settings", calloutType="simple")
    style = ET.SubElement(
        settings,
        "text-style",
        fieldName=expression,
        isExpression="1",
        fontFamily=FONT,
        fontSize=f"{size:g}",
        fontSizeUnit="Point",
        fontWeight="75" if bold else "50",
        fontItalic="0",
        textColor="17,17,17,255",
        textOpacity="1",
        namedStyle="Bold" if bold else "Regular",
    )
    ET.SubElement(
        style,
        "text-buffer",
        bufferDraw="1",
        bufferSize="0.8",
        bufferSizeUnits="MM",
        bufferColor="255,255,255,255",
        bufferOpacity="1",
    )
    ET.SubElement(settings, "text-format", multilineAlign="3", wrapChar="", autoWrapLength="0")
    ET.SubElement(settings, "placement", placement="1", centroidInside="1", centroidWhole="0", fitInPolygonOnly="0")
    ET.SubElement(
        settings,
        "rendering",
        scaleVisibility="1" if max_scale else "0",
        scaleMin="0",
        scaleMax=str(max_scale),
        obstacle="1",
        displayAll="0",
        upsidedownLabels="0",
    )


def _qml(build) -> str:
    root = ET.Element("qgis", version="3.22.0", styleCategories="Symbology|Labeling")
    build(root)
    body = ET.tostring(root, encoding="unicode")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + body


def grids_qml() -> str:
    """Return the QML of the grids layer: status fill (rule-based), grid number / code labels."""

    def build(root: ET.Element) -> None:
        r = ET.SubElement(
            root, "renderer-v2", type="RuleRenderer", symbollevels="0", enableorderby="0", forceraster="0"
        )
        rules = ET.SubElement(r, "rules", key="root")
        symbols = ET.SubElement(r, "symbols")
        for i, (label, expr, color) in enumerate(GRID_RULES):
            ET.SubElement(rules, "rule", key=f"r{i}", filter=expr, symbol=str(i), label=label)
            _symbol(symbols, str(i), "fill", "SimpleFill", _fill(color), alpha=0.7)
        n = len(GRID_RULES)
        ET.SubElement(rules, "rule", key=f"r{n}", filter="ELSE", symbol=str(n), label="其他 other")
        _symbol(symbols, str(n), "fill", "SimpleFill", _fill("#999999"), alpha=0.7)
        _labeling(root, GRID_LABEL, size=8, bold=False, max_scale=0)

    return _qml(build)


def _single_qml(kind: str, layer_class: str, props: dict[str, str], *, alpha: float = 1.0, label: str = "", size=8.0):
    """Return the QML of a one-symbol layer, labelled with the expression `label` when given."""

    def build(root: ET.Element) -> None:
        r = ET.SubElement(
            root, "renderer-v2", type="singleSymbol", symbollevels="0", enableorderby="0", forceraster="0"
        )
        _symbol(ET.SubElement(r, "symbols"), "0", kind, layer_class, props, alpha=alpha)
        if label:
            _labeling(root, label, size=size, bold=size > 10)

    return _qml(build)


def boundaries_qml() -> str:
    """Return the QML of the village/community boundaries: thick dark outline, no fill, name labels."""
    props = _fill("#ffffff", outline="#111111", width="0.8", style="no")
    return _single_qml("fill", "SimpleFill", props, label='coalesce("name", "code")', size=11)


def barriers_qml() -> str:
    """Return the QML of the barrier lines (roads, rivers) given as inputs."""
    props = {"line_color": _rgba("#3a5f8a"), "line_width": "0.4", "line_width_unit": "MM", "line_style": "solid"}
    return _single_qml("line", "SimpleLine", props, alpha=0.8)


def exclusive_qml() -> str:
    """Return the QML of the exclusive areas (schools, hospitals…) given as inputs: dashed outline, names."""
    props = _fill("#ffffff", outline="#b35806", width="0.5", style="no", line="dash")
    return _single_qml("fill", "SimpleFill", props, label='"name"')


STYLES = {
    "grids": ("gridmap 网格状态 status", grids_qml),
    "boundaries": ("gridmap 村/社区边界 boundaries", boundaries_qml),
    "barriers": ("gridmap 道路河流 barriers", barriers_qml),
    "exclusive_areas": ("gridmap 专属区域 exclusive areas", exclusive_qml),
}
"""Layer → (style name, QML builder)."""


def write_layer_styles(gpkg: str | Path) -> list[str]:
    """Store the default QGIS style of every gridmap layer present in `gpkg` in its ``layer_styles`` table.

    Returns
    -------
    layers
        The layers styled.
    """
    with sqlite3.connect(gpkg) as con:
        tables = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall())
        con.execute(f"CREATE TABLE IF NOT EXISTS layer_styles ({STYLE_COLUMNS})")
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        done = []
        for layer, (name, qml) in STYLES.items():
            if layer not in tables:
                continue
            con.execute("DELETE FROM layer_styles WHERE f_table_name = ? AND styleName = ?", (layer, name))
            con.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                "styleName, styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) "
                "VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', NULL, ?)",
                (layer, tables[layer], name, qml(), "written by gridmap", now),
            )
            done.append(layer)
        # GDAL lists layer_styles as an attribute table of the GeoPackage: register it as one
        con.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, last_change) "
            "VALUES ('layer_styles', 'attributes', 'layer_styles', ?)",
            (now + "Z",),
        )
    return done
