"""The workload report (report.html): balance figures, histogram, flagged grids, per-village tables."""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridmap.fields import FIELDS, GRID_TYPES, STATUS
from partition.measures import summary

if TYPE_CHECKING:
    from gridmap.result import GridResult

CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",Arial,sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f0f0f0;cursor:pointer}td.t{text-align:left}.kpi td{font-size:15px}
.small{color:#666;font-size:12px}
"""

SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function(th, i){
  th.addEventListener('click', function(){
    var t = th.closest('table'), rows = Array.from(t.tBodies[0].rows), asc = th.dataset.asc !== '1';
    rows.sort(function(a, b){
      var x = a.cells[i].innerText, y = b.cells[i].innerText, nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? c : -c;});
    rows.forEach(function(r){ t.tBodies[0].appendChild(r); });
    th.dataset.asc = asc ? '1' : '0';});});
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def html_table(df: pd.DataFrame, *, sortable: bool = True, text_cols: tuple[str, ...] = ()) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, row, strict=True):
            cls = ' class="t"' if c in text_cols or isinstance(v, str) else ""
            if isinstance(v, float):
                v = "" if np.isnan(v) else (f"{v:.3f}" if abs(v) < 10 else f"{v:,.0f}")
            cells.append(f"<td{cls}>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls = ' class="sortable"' if sortable else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _label(name: str) -> str:
    zh, en = FIELDS.get(name, (name, name))
    return f"{zh} {en}"


def band_summary(grids: pd.DataFrame) -> dict[str, float]:
    """Balance figures of all grids plus band compliance of household-band grids."""
    hh = grids["households"].to_numpy(float)
    out = summary(hh)
    band = grids["rule"].eq("household_band")
    if band.any():
        g = grids[band]
        out["band_grids"] = int(band.sum())
        out["share_in_band"] = float(g["households"].between(g["min_households"], g["max_households"]).mean())
    out["population"] = float(np.nansum(grids["population"].to_numpy(float)))
    out["flagged"] = int(grids["status"].ne("ok").sum())
    return out


def histogram(grids: pd.DataFrame, *, title: str = "") -> str:
    """Return a PNG data URI of the households-per-grid histogram with the band marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    hh = grids["households"].to_numpy(float)
    ax.hist(hh, bins=min(40, max(5, len(hh) // 3)), color="#4c78a8")
    band = grids[grids["rule"].eq("household_band")]
    if len(band):
        lo, hi = band["min_households"].min(), band["max_households"].max()
        ax.axvspan(lo, hi, color="#54a24b", alpha=0.15, label=f"band {lo:.0f}-{hi:.0f}")
        ax.legend()
    ax.set_xlabel("households per grid")
    ax.set_ylabel("grids")
    ax.set_title(title)
    uri = _png(fig)
    plt.close(fig)
    return uri


def thumbnail(grids) -> str:
    """Return a PNG data URI of a households choropleth of the grids."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    grids.plot(column="households", ax=ax, cmap="YlOrRd", edgecolor="#555", linewidth=0.3, legend=True)
    ax.set_axis_off()
    uri = _png(fig)
    plt.close(fig)
    return uri


def report_html(
    result: GridResult, *, title: str | None = None, workers: pd.DataFrame | None = None, worker_figures: dict | None = None
) -> str:
    """Return the self-contained HTML report of a run (or of an audited layer)."""
    grids = result.grids.copy()
    if "village_name" not in grids:
        grids["village_name"] = ""
    grids["village_name"] = grids["village_name"].fillna("")
    s = band_summary(grids)
    title = title or f"gridmap report · 网格工作量报告 — {result.manifest.get('name', '')}"
    kpis = [
        ("网格数 grids", f"{s['n']:,}"),
        ("户数 households", f"{s['total']:,.0f}"),
        ("人口 population", f"{s['population']:,.0f}"),
        ("达标率 share in band", f"{s.get('share_in_band', float('nan')):.1%}" if "share_in_band" in s else "—"),
        ("变异系数 CV", f"{s['cv']:.3f}"),
        ("基尼系数 Gini", f"{s['gini']:.3f}"),
        ("最大/最小 max/min", f"{s['max_min_ratio']:.2f}"),
        ("偏离度 parity max|x−mean|/mean", f"{s['parity']:.3f}"),
        ("标记网格 flagged grids", f"{s['flagged']:,}"),
    ]
    keys = ("n", "total", "population", "share_in_band", "cv", "gini", "max_min_ratio", "parity", "flagged")
    # each figure also carries its exact value (data-value) so tools and tests can read it back
    kpi_html = "<table class='kpi' id='summary'>" + "".join(
        f"<tr data-key='{key}' data-value='{s.get(key, float('nan'))!r}'><td class='t'>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
        for key, (k, v) in zip(keys, kpis, strict=True)
    ) + "</table>"
    flagged = grids[grids["status"].ne("ok")]
    flag_df = pd.DataFrame(
        {
            _label("grid_code"): flagged["grid_code"],
            _label("village_name"): flagged["village_name"],
            _label("households"): flagged["households"].astype(float),
            _label("status"): flagged["status"].map(lambda s: f"{STATUS.get(s, (s,))[0]} {s}"),
            _label("note"): flagged["note"],
        }
    )
    g = grids.groupby(["village_code", "village_name"], sort=True)
    per_v = pd.DataFrame(
        {
            "grids 网格数": g.size(),
            "households 户数": g["households"].sum().astype(float),
            "mean 平均户数": g["households"].mean(),
            "min 最少": g["households"].min().astype(float),
            "max 最多": g["households"].max().astype(float),
            "flagged 标记": g["status"].apply(lambda s: int(s.ne("ok").sum())),
        }
    ).reset_index().rename(columns={"village_code": _label("village_code"), "village_name": _label("village_name")})
    types = grids["grid_type"].value_counts().sort_index()
    type_df = pd.DataFrame({"type 类型": [f"{GRID_TYPES.get(t, t)} {t}" for t in types.index], "grids 网格数": types.to_numpy()})
    parts = [
        f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        "<h2>概况 Summary</h2>",
        kpi_html,
        f"<h2>户数分布 Households per grid</h2><img alt='histogram' src='{histogram(grids)}'>",
        f"<h2>超出范围或标记的网格 Grids out of band or flagged ({len(flagged)})</h2>",
        html_table(flag_df) if len(flagged) else "<p>None 无</p>",
        "<h2>各村/社区 Per village/community</h2>",
        html_table(per_v),
        "<h2>网格类型 Grid types</h2>",
        html_table(type_df),
    ]
    if workers is not None and len(workers):
        f = worker_figures or {}
        wk = [
            ("网格员 workers", f"{f.get('n', len(workers)):,}"),
            ("最多 most loaded", f"{workers.iloc[0, 0]} · {f.get('max', 0):,.0f}"),
            ("最少 least loaded", f"{workers.iloc[-1, 0]} · {f.get('min', 0):,.0f}"),
            ("变异系数 CV", f"{f.get('cv', 0):.3f}"),
            ("基尼系数 Gini", f"{f.get('gini', 0):.3f}"),
            ("最大/最小 max/min", f"{f.get('max_min_ratio', 0):.2f}"),
            ("偏离度 parity", f"{f.get('parity', 0):.3f}"),
        ]
        unknown = f.get("unknown_grid_codes") or []
        parts += [
            "<h2>网格员工作量 Worker load (户数 households)</h2>",
            "<table class='kpi' id='worker-summary'>" + "".join(f"<tr><td class='t'>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in wk) + "</table>",
            f"<p class='small'>worker table codes not in the layer: {html.escape(', '.join(unknown))}</p>" if unknown else "",
            html_table(workers),
        ]
    if len(result.violations) and "area_m2" in result.violations:
        v = result.violations
        parts += [
            f"<h2>审计发现 Audit findings ({len(v)})</h2>",
            html_table(pd.DataFrame({"kind 类型": v["kind"], "ref 对象": v["ref"], "message 说明": v["message"], "area m² 面积": v["area_m2"].astype(float)})),
        ]
    parts += [
        f"<h2>户数分布图 Households map</h2><img alt='map' src='{thumbnail(grids)}'>",
        f"<p class='small'>gridmap {html.escape(str(result.manifest.get('gridmap_version', '')))} · "
        f"created {html.escape(str(result.manifest.get('created', '')))}</p>",
        f"<script>{SORT_JS}</script></body></html>",
    ]
    return "\n".join(parts)
