"""The workload report (report.html): balance figures per rule, histogram, flagged grids, villages, map of imbalance."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import shapely

from geodata.crs import utm_crs
from gridmap.catalog import bilingual_text, note_pairs, status_text
from gridmap.fields import GRID_TYPES, GRID_TYPES_EN, RULES
from partition.audit import worker_loads
from partition.fixes import Fix
from partition.measures import band_share, cv, gini, lorenz, summary
from partition.reasons import Reason, ReasonKind, encode
from partition.values import DEFAULT_BAND, Band, Limit

if TYPE_CHECKING:
    from gridmap.result import GridResult

CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f0f0f0}table.sortable th{cursor:pointer}th.asc:after{content:" ▲"}th.desc:after{content:" ▼"}
td.t,th.t{text-align:left}.kpi td{font-size:14px}
.small{color:#666;font-size:12px}.tools{margin:10px 0 2px}.tools input{width:260px;padding:3px}
.tools button{margin-left:6px}.svgmap path{stroke:#333;stroke-width:0.6;vector-effect:non-scaling-stroke}
.svgmap path:hover{stroke-width:2}
.legend span{display:inline-block;width:14px;height:10px;margin:0 4px 0 10px;border:1px solid #999}
@media print{
@page{size:A4;margin:12mm}
body{margin:0;max-width:none}
.tools,button,input{display:none!important}
table{font-size:10px;margin:4px 0}th,td{padding:1px 4px}
thead{display:table-header-group}tr,svg,img{break-inside:avoid}h2{break-after:avoid;margin-top:14px}
th.asc:after,th.desc:after{content:""}a{color:inherit;text-decoration:none}
}
"""
"""Screen and print: printed, the filter boxes and buttons are hidden, tables break between rows and
repeat their header row on every page."""

TABLE_JS = """
(function(){
  function cellText(td){ return td.getAttribute('data-sort') !== null ? td.getAttribute('data-sort') : td.textContent; }
  document.querySelectorAll('table.sortable').forEach(function(t){
    var ths = t.tHead.rows[0].cells;
    Array.prototype.forEach.call(ths, function(th, i){
      th.addEventListener('click', function(){
        var rows = Array.prototype.slice.call(t.tBodies[0].rows), asc = !th.classList.contains('asc');
        Array.prototype.forEach.call(ths, function(h){ h.classList.remove('asc', 'desc'); });
        th.classList.add(asc ? 'asc' : 'desc');
        rows.sort(function(a, b){
          var x = cellText(a.cells[i]), y = cellText(b.cells[i]), nx = parseFloat(x), ny = parseFloat(y);
          var c = (x !== '' && y !== '' && !isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y, 'zh-CN');
          return asc ? c : -c; });
        rows.forEach(function(r){ t.tBodies[0].appendChild(r); }); }); }); });
  document.querySelectorAll('input.filter').forEach(function(inp){
    var t = document.getElementById(inp.getAttribute('data-table'));
    inp.addEventListener('input', function(){
      var q = inp.value.trim().toLowerCase();
      Array.prototype.forEach.call(t.tBodies[0].rows, function(r){
        r.style.display = (!q || r.textContent.toLowerCase().indexOf(q) >= 0) ? '' : 'none'; }); }); });
  function csvCell(s){
    s = String(s);
    if (/^[=+\\-@\\t\\r]/.test(s)) s = "'" + s;
    else if (/^\\d{12,}$/.test(s)) s = '\\t' + s;  // long codes stay text in spreadsheets, as in roster.csv
    return /[",\\n\\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; }
  document.querySelectorAll('button.csv').forEach(function(btn){
    btn.addEventListener('click', function(){
      var t = document.getElementById(btn.getAttribute('data-table')), lines = [];
      Array.prototype.forEach.call(t.rows, function(r){
        if (r.style.display === 'none') return;
        lines.push(Array.prototype.map.call(r.cells, function(c){ return csvCell(c.textContent); }).join(',')); });
      var blob = new Blob(['\\ufeff' + lines.join('\\r\\n')], {type: 'text/csv;charset=utf-8'});
      var a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = btn.getAttribute('data-table') + '.csv';
      document.body.appendChild(a); a.click(); a.remove(); }); });
})();
"""
SORT_JS = TABLE_JS
"""Kept for pages that only need sortable tables (diff report)."""

RULE_GROUPS: tuple[tuple[str, tuple[str, str]], ...] = (
    ("household_band", ("户数区间网格（社区）", "household-band grids (communities)")),
    ("village_group", ("村民小组网格（村）", "village-group grids (villages)")),
    ("single", ("整村一格", "single-grid villages")),
    ("exclusive", ("专属网格", "exclusive grids")),
)
"""The report's rule groups: statistics are computed within each, never across rules."""
DASH = "–"
PROBLEM_KINDS: dict[str, tuple[str, str]] = {
    "address_outside_boundaries": ("边界外的地址", "address outside every boundary"),
    "repaired_polygon": ("已修复的多边形", "repaired polygon"),
}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def fmt(value, *, digits: int = 0, percent: bool = False) -> str:
    """Format a number for people: integers without decimals, ``–`` for missing, infinite or undefined values."""
    if value is None or value is pd.NA:
        return DASH
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return DASH
    if percent:
        return f"{v:.1%}"
    if digits == 0 or v == int(v) and digits == 0:
        return f"{round(v):,}"
    return f"{v:,.{digits}f}"


def map_link(code: str, *, map_href: str = "map.html") -> str:
    """Return an ``<a>`` to the grid on the run's map (``map.html#grid=CODE``), code escaped."""
    return f"<a href='{html.escape(map_href)}#grid={quote(str(code), safe='')}'>{html.escape(str(code))}</a>"


def html_table(
    df: pd.DataFrame,
    *,
    table_id: str | None = None,
    sortable: bool = True,
    text_cols: tuple[str, ...] = (),
    html_cols: tuple[str, ...] = (),
    digits: dict[str, int] | None = None,
    tools: bool = False,
) -> str:
    """Return a table whose every cell is escaped text (columns in `html_cols` hold markup made here, e.g. links).

    Numbers are formatted by :func:`fmt` and carry their exact value in ``data-sort``; with
    `tools`, a filter box and a CSV download button come above it (inline script, no internet).
    """
    digits = digits or {}
    head = "".join(
        f"<th class='t'>{html.escape(str(c))}</th>"
        if c in text_cols or c in html_cols or not pd.api.types.is_numeric_dtype(df[c])
        else f"<th>{html.escape(str(c))}</th>"
        for c in df.columns
    )
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, row, strict=True):
            if c in html_cols:
                cells.append(f"<td class='t'>{v}</td>")
            elif isinstance(v, str) or c in text_cols:
                blank = v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                cells.append(f"<td class='t'>{html.escape('' if blank else str(v))}</td>")
            else:
                shown = fmt(v, digits=digits.get(c, 0))
                exact = "" if shown == DASH else f" data-sort='{float(v)!r}'"
                cells.append(f"<td{exact}>{html.escape(shown)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f" id='{html.escape(table_id)}'" if table_id else ""
    cls = " class='sortable'" if sortable else ""
    out = f"<table{ident}{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if tools and table_id:
        tid = html.escape(table_id)
        out = (
            f"<div class='tools'><input class='filter' data-table='{tid}' type='search' placeholder='筛选 filter…'>"
            f"<button class='csv' data-table='{tid}'>下载 CSV download</button></div>" + out
        )
    return out


def rule_group(grids: pd.DataFrame) -> pd.Series:
    """Which rule group each grid is in: exclusive grids by type, the others by their rule."""
    rule = grids["rule"].astype(str) if "rule" in grids else pd.Series("household_band", index=grids.index)
    gtype = grids["grid_type"].astype(str) if "grid_type" in grids else pd.Series("base", index=grids.index)
    return rule.mask(gtype.ne("base") | rule.eq("exclusive"), "exclusive")


def rule_figures(grids: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Balance figures within each rule group present (never mixing rules).

    Keys per group: n, total, mean, min, max, cv, gini, max_min_ratio (``inf`` when a grid has
    no households), parity, flagged, and for household-band grids ``share_in_band``.
    """
    groups = rule_group(grids)
    out = {}
    for key, _ in RULE_GROUPS:
        g = grids[groups.eq(key)]
        if not len(g):
            continue
        s = summary(g["households"].to_numpy(float))
        s["flagged"] = int(g["status"].ne("ok").sum()) if "status" in g else 0
        s["population"] = float(np.nansum(g["population"].to_numpy(float))) if "population" in g else float("nan")
        if key == "household_band" and "min_households" in g:
            s["share_in_band"] = band_share(g)
        if key == "exclusive":  # no household target: balance figures would say nothing
            s = {k: s[k] for k in ("n", "total", "flagged")}
        out[key] = s
    return out


MEASURES: tuple[tuple[str, str, str], ...] = (
    ("n", "网格数", "grids"),
    ("total", "户数合计", "households"),
    ("mean", "平均户数", "mean households per grid"),
    ("min", "最少户数", "fewest households"),
    ("max", "最多户数", "most households"),
    ("share_in_band", "在户数区间内的比例", "share of these grids within their band"),
    ("cv", "变异系数", "coefficient of variation"),
    ("gini", "基尼系数", "Gini coefficient"),
    ("max_min_ratio", "最大/最小", "max/min"),
    ("parity", "偏离度", "parity max|x−mean|/mean"),
    ("flagged", "标记网格", "flagged grids"),
)


def _figure_cell(key: str, measure: str, value: float) -> str:
    if measure in ("n", "flagged"):
        shown, why = fmt(int(value)), ""
    elif measure == "share_in_band":
        shown, why = fmt(value, percent=True), ""
    elif measure in ("cv", "gini", "parity"):
        shown, why = fmt(value, digits=3), "" if math.isfinite(value) else "no households"
    elif measure == "max_min_ratio":
        shown = fmt(value, digits=2)
        why = (
            "最少的网格没有住户，比值无定义 / the smallest grid has no households, so the ratio is undefined"
            if not math.isfinite(value)
            else ""
        )
    else:
        shown, why = fmt(value), ""
    data = f" data-key='{measure}__{key}' data-value='{float(value)!r}'"
    title = f" title='{html.escape(why, quote=True)}'" if why else ""
    mark = "<sup>*</sup>" if why else ""
    return f"<td{data}{title}>{html.escape(shown)}{mark}</td>"


def figures_table(figures: dict[str, dict[str, float]]) -> str:
    """Measures as rows, rule groups as columns; undefined values shown as ``–`` with a footnote."""
    names = dict(RULE_GROUPS)
    head = "<th class='t'>指标 measure</th>" + "".join(
        f"<th>{html.escape(names[k][0])}<br>{html.escape(names[k][1])}</th>" for k in figures
    )
    rows = []
    for m, zh, en in MEASURES:
        if not any(m in f for f in figures.values()):
            continue
        cells = "".join(
            _figure_cell(k, m, f[m]) if m in f else f"<td title='not applicable'>{DASH}</td>"
            for k, f in figures.items()
        )
        rows.append(f"<tr><td class='t'>{html.escape(zh)} {html.escape(en)}</td>{cells}</tr>")
    note = ""
    if any(not math.isfinite(f.get("max_min_ratio", 0)) for f in figures.values()):
        note = (
            "<p class='small'>* 最少的网格没有住户（如学校、医院等专属网格），最大/最小比值无定义，显示为 –。"
            " The smallest grid has no households (e.g. a school or hospital grid), so max/min is undefined and "
            "shown as –.</p>"
        )
    return f"<table class='kpi' id='summary'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}"


def histogram(grids: pd.DataFrame, *, title: str = "") -> str:
    """Return a PNG data URI of households per household-band grid, with the band marked."""
    from gridmap.printmap import pyplot

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 3.2))
    band = grids[rule_group(grids).eq("household_band")]
    hh = band["households"].to_numpy(float)
    if len(hh):
        ax.hist(hh, bins=min(40, max(5, len(hh) // 3)), color="#4c78a8")
        lo, hi = band["min_households"].min(), band["max_households"].max()
        ax.axvspan(lo, hi, color="#54a24b", alpha=0.15, label=f"band {lo:.0f}-{hi:.0f}")
        ax.legend()
    ax.set_xlabel("households per household-band grid")
    ax.set_ylabel("grids")
    ax.set_title(title)
    uri = _png(fig)
    plt.close(fig)
    return uri


def village_table(grids: pd.DataFrame) -> pd.DataFrame:
    """One row per village/community: rule, grids, households, mean/min/max, CV within the village, flagged."""
    group = rule_group(grids)
    g = grids.assign(
        _group=group, _exclusive=group.eq("exclusive"), _flag=grids["status"].ne("ok") if "status" in grids else False
    )
    base = g[g["_group"].ne("exclusive")]
    keys = ["village_code", "village_name"]
    allg = g.groupby(keys, sort=True, dropna=False)
    b = base.groupby(keys, sort=True, dropna=False)["households"]
    rule = base.groupby(keys, sort=True, dropna=False)["_group"].first()
    hh = base["households"].to_numpy(float)  # each village's households as numpy: no Series per village
    rows = np.split(np.argsort(b.ngroup().to_numpy(), kind="stable"), np.cumsum(b.size().to_numpy())[:-1])
    cvs = pd.Series(
        [cv(hh[i]) if len(i) > 1 and hh[i].sum() > 0 else float("nan") for i in rows], index=b.size().index, dtype=float
    )
    df = pd.DataFrame(
        {
            "grids": allg.size(),
            "exclusive": allg["_exclusive"].sum().astype(int),
            "households": allg["households"].sum().astype(int),
            "mean": b.mean().where(b.sum() > 0),
            "min": b.min(),
            "max": b.max(),
            "cv": cvs,
            "flagged": allg["_flag"].sum().astype(int),
            "rule": rule,
        }
    ).reset_index()
    df["rule"] = df["rule"].fillna("exclusive").map(lambda r: bilingual_text(*RULES.get(r, (r, r))))
    return df


def imbalance_svg(result: GridResult, villages: pd.DataFrame, *, width: int = 640) -> str:
    """Inline SVG of the villages/communities coloured by the CV of households per grid within each."""
    bnd = result.boundaries
    if bnd is None or not len(bnd) or "code" not in bnd:
        return "<p class='small'>无边界 no boundaries</p>"
    b = bnd.to_crs(utm_crs(bnd)) if bnd.crs is not None and bnd.crs.is_geographic else bnd
    geoms = shapely.simplify(b.geometry.values, 5.0, preserve_topology=True)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    scale = width / max(maxx - minx, 1e-9)
    height = max(int((maxy - miny) * scale), 1)
    parts, pidx = shapely.get_parts(geoms, return_index=True)
    rings, ridx = shapely.get_rings(parts, return_index=True)
    coords, cidx = shapely.get_coordinates(rings, return_index=True)
    xy = np.column_stack([(coords[:, 0] - minx) * scale, (maxy - coords[:, 1]) * scale]).round(1)
    starts = np.searchsorted(cidx, np.arange(len(rings)))
    ring_d = ["M" + " L".join(f"{x},{y}" for x, y in seg) + "Z" for seg in np.split(xy, starts[1:])]
    owner = pidx[ridx]
    d = pd.Series(ring_d).groupby(owner).agg(" ".join).reindex(range(len(b)), fill_value="")
    cv = villages.set_index("village_code")["cv"].reindex(b["code"].astype(str)).to_numpy(float)
    breaks = np.array([0.1, 0.2, 0.3, 0.5])
    colors = np.array(["#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"])
    fill = np.where(np.isnan(cv), "#dddddd", colors[np.searchsorted(breaks, np.nan_to_num(cv), side="right")])
    names = b["name"].astype(str) if "name" in b else b["code"].astype(str)
    paths = "".join(
        f"<path d='{dd}' fill='{f}' "
        f"fill-rule='evenodd'><title>{html.escape(f'{n} {c}: CV {fmt(v, digits=2)}')}</title></path>"
        for dd, f, n, c, v in zip(d, fill, names, b["code"].astype(str), cv, strict=True)
    )
    legend = "".join(
        f"<span style='background:{c}'></span>{html.escape(t)}"
        for c, t in zip(
            [*colors, "#dddddd"],
            ["< 0.10", "0.10–0.20", "0.20–0.30", "0.30–0.50", "≥ 0.50", "– 单一网格 one grid"],
            strict=True,
        )
    )
    return (
        f"<svg class='svgmap' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}'>{paths}</svg><div class='small legend'>变异系数 CV of households per grid "
        f"within each village/community:{legend}</div>"
    )


def report_html(
    result: GridResult,
    *,
    title: str | None = None,
    workers: pd.DataFrame | None = None,
    worker_figures: dict | None = None,
    map_href: str = "map.html",
) -> str:
    """Return the self-contained HTML report of a run (or of an audited layer).

    Every figure is computed within one rule group (household-band, village-group, single,
    exclusive grids); every user text is escaped; grid codes link to ``map_href#grid=CODE``.
    """
    grids = pd.DataFrame(result.grids.drop(columns="geometry")).copy()
    for col, default in (
        ("village_name", ""),
        ("village_code", ""),
        ("status", "ok"),
        ("note", ""),
        ("flag", ""),
        ("grid_type", "base"),
    ):
        if col not in grids:
            grids[col] = default
        grids[col] = grids[col].fillna(default)
    title = title or f"gridmap report · 网格工作量报告 — {result.manifest.get('name', '')}"
    figures = rule_figures(grids)
    total = {"n": len(grids), "total": float(grids["households"].sum()), "flagged": int(grids["status"].ne("ok").sum())}
    overall = (
        f"<p>全部 {fmt(total['n'])} 个网格，{fmt(total['total'])} 户，{fmt(total['flagged'])} 个网格被标记。"
        f" All {fmt(total['n'])} grids, {fmt(total['total'])} households, {fmt(total['flagged'])} flagged grids."
        + "".join(f"<span hidden data-key='{k}' data-value='{float(v)!r}'></span>" for k, v in total.items())
        + "</p><p class='small'>各项统计只在同一规则的网格内计算：社区按户数区间（如 "
        f"{DEFAULT_BAND.min_households:.0f}–{DEFAULT_BAND.max_households:.0f} "
        "户），村按村民小组一组一格，"
        "专属网格不计户数。Statistics are computed within each rule only: communities follow the household band, "
        "villages have one grid per village group, exclusive grids (schools, hospitals, …) carry no household "
        "target.</p>"
    )
    problems = pd.DataFrame()
    v = result.violations
    if v is not None and len(v) and "kind" in v and "area_m2" not in v:
        p = pd.DataFrame(v.drop(columns="geometry"))
        p = p[~p["kind"].astype(str).str.startswith("grid_")]
        problems = pd.DataFrame(
            {
                "类型 kind": p["kind"].astype(str).map(lambda k: bilingual_text(*PROBLEM_KINDS.get(k, (k, k)))),
                "对象 ref": p["ref"].fillna("").astype(str),
                "说明 message": p["message"].fillna("").astype(str),
            }
        )
        if len(problems):
            counts = problems["类型 kind"].value_counts()
            overall += (
                "<p><b>输入数据问题 Input problems:</b> "
                + html.escape("; ".join(f"{k}: {n:,}" for k, n in counts.items()))
                + " — 见下表 see the table below; 边界外的地址也在地图上标出 "
                "addresses outside the boundaries are marked on the map.</p>"
            )
    flagged = grids[grids["status"].ne("ok")]
    flag_df = pd.DataFrame(
        {
            "网格编码 grid code": [map_link(c, map_href=map_href) for c in flagged["grid_code"].astype(str)],
            "村/社区 village/community": flagged["village_name"].astype(str),
            "规则 rule": rule_group(flagged).map(lambda r: bilingual_text(*RULES.get(r, (r, r)))),
            "户数 households": flagged["households"].astype(int),
            "状态 status": flagged["status"].astype(str).map(status_text),
            "说明 note": [bilingual_text(zh, en) for zh, en in note_pairs(flagged)],
        }
    )
    villages = village_table(grids)
    vt = villages.assign(
        village_code=villages["village_code"].astype(str), village_name=villages["village_name"].astype(str)
    ).rename(
        columns={
            "village_code": "代码 code",
            "village_name": "名称 name",
            "rule": "规则 rule",
            "grids": "网格 grids",
            "exclusive": "专属 exclusive",
            "households": "户数 households",
            "mean": "平均 mean",
            "min": "最少 min",
            "max": "最多 max",
            "cv": "变异系数 CV",
            "flagged": "标记 flagged",
        }
    )[
        [
            "代码 code",
            "名称 name",
            "规则 rule",
            "网格 grids",
            "专属 exclusive",
            "户数 households",
            "平均 mean",
            "最少 min",
            "最多 max",
            "变异系数 CV",
            "标记 flagged",
        ]
    ]
    all_grids = pd.DataFrame(
        {
            "网格编码 grid code": [map_link(c, map_href=map_href) for c in grids["grid_code"].astype(str)],
            "村/社区 village/community": grids["village_name"].astype(str),
            "类型 type": grids["grid_type"]
            .astype(str)
            .map(lambda t: bilingual_text(str(GRID_TYPES.get(t, t)), str(GRID_TYPES_EN.get(t, t)))),
            "规则 rule": rule_group(grids).map(lambda r: bilingual_text(*RULES.get(r, (r, r)))),
            "户数 households": grids["households"].astype(int),
            "状态 status": grids["status"].astype(str).map(status_text),
        }
    )
    link = (
        "<p class='small'>网格编码链接到地图上的网格 · grid codes open the grid on the map "
        f"(<a href='{html.escape(map_href)}'>{html.escape(map_href)}</a>).</p>"
    )
    parts = [
        f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        "<h2>概况（按规则）Summary by rule</h2>",
        overall,
        figures_table(figures),
        link,
        "<h2>户数区间网格的户数分布 Households per household-band grid</h2><img alt='histogram' "
        f"src='{histogram(grids)}'>",
        *measures_section(result, grids, map_href=map_href),
        f"<h2>超出范围或标记的网格 Grids out of band or flagged ({len(flagged)})</h2>",
        html_table(flag_df, table_id="flagged", html_cols=("网格编码 grid code",), tools=True)
        if len(flagged)
        else "<p>无 None</p>",
        *(
            [
                f"<h2>输入数据问题 Input problems ({len(problems)})</h2>",
                html_table(problems, table_id="problems", tools=True),
            ]
            if len(problems)
            else []
        ),
        "<h2>各村/社区的不均衡 Imbalance by village/community</h2>",
        imbalance_svg(result, villages),
        f"<h2>各村/社区 Per village/community ({len(villages)})</h2>",
        html_table(
            vt,
            table_id="villages",
            text_cols=("代码 code", "名称 name", "规则 rule"),
            digits={"平均 mean": 0, "变异系数 CV": 2},
            tools=True,
        ),
        f"<h2>全部网格 All grids ({len(grids)})</h2>",
        html_table(all_grids, table_id="grids", html_cols=("网格编码 grid code",), tools=True),
    ]
    if workers is not None and len(workers):
        f = worker_figures or {}
        wk = [
            ("网格员 workers", fmt(int(f.get("n", len(workers))))),
            ("最多 most loaded", f"{workers.iloc[0, 0]} · {fmt(f.get('max'))}"),
            ("最少 least loaded", f"{workers.iloc[-1, 0]} · {fmt(f.get('min'))}"),
            ("变异系数 CV", fmt(f.get("cv"), digits=3)),
            ("基尼系数 Gini", fmt(f.get("gini"), digits=3)),
            ("最大/最小 max/min", fmt(f.get("max_min_ratio"), digits=2)),
            ("偏离度 parity", fmt(f.get("parity"), digits=3)),
        ]
        unknown = f.get("unknown_grid_codes") or []
        parts += [
            "<h2>网格员工作量 Worker load (户数 households)</h2>",
            "<table class='kpi' id='worker-summary'>"
            + "".join(f"<tr><td class='t'>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in wk)
            + "</table>",
            "<p class='small'>名单中不在图层里的网格编码 worker table codes not in the layer: "
            f"{html.escape(', '.join(map(str, unknown)))}</p>"
            if unknown
            else "",
            html_table(workers, table_id="workers", tools=True),
        ]
    if result.violations is not None and len(result.violations) and "area_m2" in result.violations:
        v = result.violations
        parts += [
            f"<h2>审计发现 Audit findings ({len(v)})</h2>",
            html_table(
                pd.DataFrame(
                    {
                        "kind 类型": v["kind"].astype(str),
                        "ref 对象": v["ref"].astype(str),
                        "message 说明": v["message"].astype(str),
                        "area m² 面积": v["area_m2"].astype(float),
                    }
                ),
                table_id="findings",
                tools=True,
            ),
        ]
    parts += [
        f"<p class='small'>gridmap {html.escape(str(result.manifest.get('gridmap_version', '')))} · "
        f"created {html.escape(str(result.manifest.get('created', '')))}</p>",
        f"<script>{TABLE_JS}</script></body></html>",
    ]
    return "\n".join(parts)


def measures_section(result: GridResult, grids: pd.DataFrame, *, map_href: str) -> list[str]:
    """Return the report's measures part: balance per rule and measure, Lorenz curves, worst grids with a fix."""
    measures = report_measures(result)
    table = measure_figures(grids, measures)
    if not len(table):
        return []
    shown = pd.DataFrame(
        {
            "规则 rule": table["rule"].map(lambda r: bilingual_text(*RULES.get(r, (r, r)))),
            "指标 measure": table["measure"].astype(str),
            "网格 grids": table["n"].astype(int),
            "合计 total": table["total"],
            "平均 mean": table["mean"],
            "最少 min": table["min"],
            "最多 max": table["max"],
            "变异系数 CV": table["cv"],
            "基尼系数 Gini": table["gini"],
            "最大/最小 max/min": table["max_min_ratio"],
            "限值 limit": table["limit"].astype(str),
            "达标比例 within limit": table["share_within_limit"],
        }
    )
    digits = {"平均 mean": 1, "变异系数 CV": 3, "基尼系数 Gini": 3, "最大/最小 max/min": 2, "达标比例 within limit": 3}
    out = [
        "<h2>各项指标（按规则）Measures by rule</h2>",
        html_table(shown, table_id="measures", text_cols=("规则 rule", "指标 measure", "限值 limit"), digits=digits),
        "<p class='small'>洛伦兹曲线：越接近对角线越均衡。"
        "Lorenz curves: the closer to the diagonal, the more even.</p>",
        f"<img alt='lorenz' src='{lorenz_png(grids, {m: measures[m] for m in table['measure'].unique()})}'>",
    ]
    worst = worst_grids(result, measures)
    if len(worst):
        notes = note_pairs(worst)
        out += [
            f"<h2>未达限值的网格及建议 Grids missing a limit, with a suggested fix ({len(worst)})</h2>",
            html_table(
                pd.DataFrame(
                    {
                        "网格编码 grid code": [map_link(c, map_href=map_href) for c in worst["grid_code"]],
                        "指标 measure": worst["measure"].astype(str),
                        "数值 value": worst["value"],
                        "限值 limit": worst["limit"].astype(str),
                        "建议 suggestion": [bilingual_text(zh, en) if zh else DASH for zh, en in notes],
                    }
                ),
                table_id="worst",
                html_cols=("网格编码 grid code",),
                text_cols=("指标 measure", "限值 limit", "建议 suggestion"),
                tools=True,
            ),
        ]
    return out


def worker_table(grids: pd.DataFrame, workers: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return the bilingual worker-load table (heaviest first) and the balance figures over workers."""
    loads, balance = worker_loads(grids, workers)
    figures: dict[str, Any] = dict(balance)
    figures["unknown_grid_codes"] = sorted(set(workers["grid_code"]) - set(grids["grid_code"].astype(str)))
    table = loads.rename(
        columns={
            "worker": "网格员 worker",
            "grids": "网格数 grids",
            "households": "户数 households",
            "population": "人口 population",
        }
    )
    return table, figures


def report_page(result: GridResult, *, workers: pd.DataFrame | None = None, title: str | None = None) -> str:
    """Return the workload report of a run or an audit as HTML, with worker loads when given."""
    table = figures = None
    if workers is not None:
        table, figures = worker_table(result.grids, workers)
    return report_html(result, title=title, workers=table, worker_figures=figures)


def report_measures(result: GridResult) -> dict[str, Limit | None]:
    """Return the measures a report compares (name → its limit, or None).

    Households, population (when known), units, then every measure the run's rules limit or balance.
    """
    g = result.grids
    out: dict[str, Limit | None] = {"households": None}
    if "population" in g and np.nansum(g["population"].to_numpy(float)) > 0:
        out["population"] = None
    if "units" in g:
        out["units"] = None
    out.update(result.measures())
    return out


def measure_figures(grids: pd.DataFrame, measures: Mapping[str, Limit | None]) -> pd.DataFrame:
    """Balance of every measure within every rule group (exclusive grids left out): one row per (rule, measure).

    Columns ``rule``, ``measure``, ``n``, ``total``, ``mean``, ``min``, ``max``, ``cv``, ``gini``,
    ``max_min_ratio``, ``limit`` (text, '' for none) and ``share_within_limit`` (NaN without one).
    """
    groups = rule_group(grids)
    rows = []
    for key, _ in RULE_GROUPS:
        g = grids[groups.eq(key)]
        if key == "exclusive" or not len(g):
            continue
        for name, limit in measures.items():
            if name not in g:
                continue
            v = g[name].fillna(0).to_numpy(float)
            s = summary(v)
            rows.append(
                {
                    "rule": key,
                    "measure": name,
                    **{k: s[k] for k in ("n", "total", "mean", "min", "max", "cv", "gini", "max_min_ratio")},
                    "limit": "" if limit is None else str(limit),
                    "share_within_limit": float(np.mean(limit.violations(v) <= 1e-9)) if limit else float("nan"),
                }
            )
    return pd.DataFrame(rows)


def lorenz_png(grids: pd.DataFrame, measures: Mapping[str, Limit | None]) -> str:
    """Return a PNG data URI: one Lorenz curve per measure, a line per rule group (the diagonal is perfect balance)."""
    from gridmap.printmap import pyplot

    plt = pyplot()

    names = [m for m in measures if m in grids]
    groups = rule_group(grids)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        ax.plot([0, 1], [0, 1], color="#999", lw=0.8, ls="--")
        for key, _ in RULE_GROUPS:
            g = grids[groups.eq(key)]
            if key == "exclusive" or not len(g):
                continue
            x, y = lorenz(g[name].fillna(0).to_numpy(float))
            ax.plot(x, y, label=f"{key} (Gini {gini(g[name].fillna(0).to_numpy(float)):.2f})")
        ax.set_title(str(name))
        ax.set_xlabel("share of grids")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("share of the total")
    uri = _png(fig)
    plt.close(fig)
    return uri


WORST = 20
"""Grids listed per measure among the worst (those missing a limit, most missed first)."""


def worst_grids(result: GridResult, measures: Mapping[str, Limit | None]) -> pd.DataFrame:
    """Return the grids that miss a limit, worst first, with the engine's suggested fix as a reason.

    Columns ``grid_code``, ``measure``, ``value``, ``limit`` and ``reason`` (JSON of a
    ``suggest_move``/``suggest_split``/``no_fix_found`` reason; empty without the run's cells).
    """
    from partition.adjacency import cell_graph
    from partition.fixes import suggest_fix
    from partition.tessellation import point_owner

    g = result.grids
    band_rows = g["rule"].eq("household_band") if "rule" in g else pd.Series(True, index=g.index)
    rows = []
    cells, graph, label = result.cells, None, None
    for name, limit in measures.items():
        if limit is None or name not in g:
            continue
        miss = limit.violations(g[name].fillna(0).to_numpy(float))
        for i in np.argsort(-miss, kind="stable")[:WORST]:
            if miss[i] <= 1e-9:
                break
            reason = None
            if cells is not None and len(cells) and bool(band_rows.iloc[i]) and name in result.addresses:
                if graph is None:
                    graph = cell_graph(cells.assign(block=cells["block"].to_numpy()))
                    codes = {c: j for j, c in enumerate(g["grid_code"].astype(str))}
                    label = cells["grid_code"].astype(str).map(codes).to_numpy()
                pts = result.addresses.to_crs(cells.crs)
                owner = point_owner(cells.geometry.values, pts.geometry.values)
                ok = owner >= 0
                values = np.bincount(owner[ok], weights=pts[name].to_numpy(float)[ok], minlength=len(cells))
                band = Band(float(g["min_households"].iloc[i]), float(g["max_households"].iloc[i]))
                assert label is not None  # made with the graph
                fix = suggest_fix(graph, label, int(i), values=values, limit=limit, band=band)
                reason = _fix_reason(fix, name, cells, g)
            rows.append(
                {
                    "grid_code": str(g["grid_code"].iloc[i]),
                    "measure": name,
                    "value": float(g[name].iloc[i]),
                    "limit": str(limit),
                    "reason": encode([reason]) if reason is not None else None,
                }
            )
    return pd.DataFrame(rows, columns=["grid_code", "measure", "value", "limit", "reason"])


def _fix_reason(fix: Fix, name: str, cells: pd.DataFrame, grids: pd.DataFrame) -> Reason:
    """Return the reason that words a suggested fix (cells by their unit label, or their cell id)."""
    before, after = round(fix.before, 2), round(fix.after, 2)
    if fix.kind == "move":
        labels = cells["label"].astype(object).where(cells["label"].notna(), None).to_numpy(object)
        cell_names = [str(labels[c]) if labels[c] else f"cell {cells['cell_id'].iloc[c]}" for c, _ in fix.moves]
        codes = [str(grids["grid_code"].iloc[t]) for _, t in fix.moves]
        return Reason.of(
            ReasonKind.SUGGEST_MOVE, measure=name, before=before, after=after, cells=cell_names, grids=codes
        )
    kind = ReasonKind.SUGGEST_SPLIT if fix.kind == "split" else ReasonKind.NO_FIX_FOUND
    return Reason.of(kind, measure=name, before=before)
