"""Print layouts of a run: A4/A3 pages (PDF, or 300 dpi PNG): title, legend, scale bar, north arrow, date, source.

Pages are drawn with matplotlib in the run's metric CRS, so the scale bar and the 1:N ratio are
true on paper. Chinese text needs a CJK font: :func:`cjk_font` finds one (Noto Sans CJK, Source
Han, WenQuanYi, SimHei, Microsoft YaHei, PingFang) or stops with an error naming the package to
install, never drawing a page that silently lost its Chinese.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from geodata.crs import utm_crs
from geodata.errors import DependencyError, OptionError
from partition.values import GridCode

if TYPE_CHECKING:
    import geopandas as gpd

    from gridmap.result import GridResult

PAPERS = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}
"""Paper sizes in millimetres (portrait width, height)."""
ORIENTATIONS = ("landscape", "portrait")
PAGES_BY = ("township", "village")
"""One page per township (first 9 digits of the village code) or per village/community."""
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Noto Serif CJK SC",
)
"""Fonts with Chinese glyphs, in order of preference."""
MM = 1 / 25.4
BARRIER_COLOR = "#3a5f8a"


def pyplot() -> Any:
    """Return ``matplotlib.pyplot`` on the Agg backend, which gridmap's figures (maps, report charts) draw with.

    No display is needed; pyplot picks its backend when first imported, so it is set before.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def cjk_font() -> str:
    """Return the name of an installed font with Chinese glyphs.

    Raises
    ------
    DependencyError
        When none is installed: the message names the package to install.
    """
    import matplotlib.font_manager as fm

    installed = {f.name for f in fm.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            return name
    others = sorted(n for n in installed if "CJK" in n)
    if others:
        return others[0]
    msg = (
        "no font with Chinese characters is installed, so the map's Chinese names cannot be drawn "
        "(they would silently disappear)."
    )
    raise DependencyError(
        msg,
        fix="install one: Debian/Ubuntu `apt-get install fonts-noto-cjk`, "
        "Fedora `dnf install google-noto-sans-cjk-fonts`, "
        "conda `conda install -c conda-forge font-ttf-noto-cjk`; "
        "then delete matplotlib's font cache (~/.cache/matplotlib) and run again.",
    )


def _plain(text: str) -> str:
    """Return user text for matplotlib, drawn literally: a ``$`` would start mathtext."""
    return str(text).replace("$", r"\$")


def _has_cjk(texts) -> bool:
    return any(ord(ch) >= 0x2E80 for t in texts for ch in str(t))


def _rc(texts) -> Any:
    """Matplotlib settings of a page: the CJK font first when any text needs it.

    PDF fonts are embedded as Type 3 subsets with a Unicode map (text stays searchable and
    copyable); Type 42 of a CJK font takes 4× longer to subset.
    """
    rc: dict[str, Any] = {"pdf.fonttype": 3, "font.family": "sans-serif"}
    if _has_cjk(texts):
        rc["font.sans-serif"] = [cjk_font(), "DejaVu Sans"]
    return rc


def _nice(length: float) -> float:
    """Largest 1, 2 or 5 × 10^k not above `length`."""
    k = 10 ** math.floor(math.log10(length))
    return max(m * k for m in (1, 2, 5) if m * k <= length)


def _scale_bar(ax, width_m: float) -> None:
    """Draw a four-segment black/white bar in the lower left with its length in m or km."""
    from matplotlib.patches import Rectangle

    total = _nice(width_m / 4)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    x, y, h = x0 + (x1 - x0) * 0.03, y0 + (y1 - y0) * 0.03, (y1 - y0) * 0.008
    for i in range(4):
        ax.add_patch(
            Rectangle(
                (x + i * total / 4, y),
                total / 4,
                h,
                facecolor="#000" if i % 2 == 0 else "#fff",
                edgecolor="#000",
                lw=0.6,
            )
        )
    label = f"{total / 1000:g} km" if total >= 1000 else f"{total:g} m"
    for xx, t in ((x, "0"), (x + total, label)):
        ax.text(xx, y + h * 1.6, t, ha="center", va="bottom", fontsize=7)


def _north_arrow(ax) -> None:
    ax.annotate(
        "",
        xy=(0.96, 0.96),
        xytext=(0.96, 0.88),
        xycoords="axes fraction",
        arrowprops={"facecolor": "#000", "width": 4, "headwidth": 12, "headlength": 10},
    )
    ax.text(0.96, 0.965, "N 北", transform=ax.transAxes, ha="center", va="bottom", fontsize=10, fontweight="bold")


def _legend_handles(grids: gpd.GeoDataFrame, has_barriers: bool) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from gridmap.colors import status_legend

    handles: list = [
        Patch(facecolor=e["color"], edgecolor="#333", alpha=0.7, label=f"{e['label'][0]} {e['label'][1]}")
        for e in status_legend(grids)
    ]
    handles.append(Line2D([], [], color="#111", lw=1.6, label="村/社区边界 village/community boundary"))
    if has_barriers:
        handles.append(Line2D([], [], color=BARRIER_COLOR, lw=0.8, label="道路、河流 roads and rivers (input)"))
    handles.append(Line2D([], [], ls="", marker="$001$", ms=14, color="#111", label="网格序号 grid number"))
    return handles


def _polygons(geoms: np.ndarray, *, facecolors: np.ndarray, **style: Any) -> Any:
    """Return one matplotlib collection of the polygons, one path per polygon (its parts and holes as rings), z-order 2.

    As geopandas' ``plot`` draws them (rings normalised, so holes wind against their shell), but
    built from shapely's coordinate arrays at once: ``plot`` makes a patch per polygon in Python and
    renders the whole figure after every call.
    """
    from matplotlib.collections import PathCollection
    from matplotlib.path import Path

    keep = ~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)
    parts, owner = shapely.get_parts(shapely.normalize(geoms[keep]), return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    if not len(xy):  # no grid on the page
        return PathCollection([], zorder=2, **style)
    codes = np.full(len(xy), Path.LINETO, dtype=Path.code_type)
    first = np.r_[0, np.flatnonzero(np.diff(ring)) + 1]
    codes[first] = Path.MOVETO
    codes[np.r_[first[1:], len(xy)] - 1] = Path.CLOSEPOLY
    ends = np.searchsorted(owner[ring_part[ring]], np.arange(1, keep.sum()))  # a polygon's rings follow each other
    paths = [Path(v, c) for v, c in zip(np.split(xy, ends), np.split(codes, ends), strict=True)]
    return PathCollection(paths, facecolors=np.asarray(facecolors)[keep], zorder=2, **style)


def _lines(geoms: np.ndarray, **style: Any) -> Any:
    """Return one matplotlib collection of the lines (every part of every line, normalised as geopandas draws them)."""
    from matplotlib.collections import LineCollection

    parts = shapely.get_parts(shapely.normalize(geoms))
    xy, part = shapely.get_coordinates(parts, return_index=True)
    if not len(xy):
        return LineCollection([], **style)
    return LineCollection(np.split(xy, np.flatnonzero(np.diff(part)) + 1), **style)


def _pages(result: GridResult, by: str | None) -> list[tuple[str, np.ndarray]]:
    """(heading, mask over the grids) of every page."""
    if by is None:
        return [("", np.ones(len(result.grids), dtype=bool))]
    if by not in PAGES_BY:
        msg = f"`by` should be one of {', '.join(PAGES_BY)}, got '{by}'."
        raise OptionError(msg)
    codes = result.grids["village_code"].astype(str)
    if by == "township":
        keys = GridCode.townships(codes)
        return [(f"乡镇/街道 township {k}", keys.eq(k).to_numpy()) for k in sorted(keys.unique())]
    names = dict(zip(result.grids["village_code"].astype(str), result.grids["village_name"].astype(str), strict=False))
    return [(f"{names[k]} {k}", codes.eq(k).to_numpy()) for k in sorted(codes.unique())]


def _source(result: GridResult) -> str:
    from pathlib import PurePath

    files = [  # unique, in order
        *dict.fromkeys(
            PurePath(str(v["path"])).name
            for v in result.manifest.get("inputs", {}).values()
            if isinstance(v, dict) and v.get("path")
        )
    ]
    made = str(result.manifest.get("created", ""))[:10]
    parts = ["数据来源 Source: " + (", ".join(files) if files else "gridmap")]
    if made:
        parts.append(f"网格划分 gridded {made}")
    parts.append(f"gridmap {result.manifest.get('gridmap_version', '')}".strip())
    return " · ".join(parts)


def _draw_page(fig, result: GridResult, mask: np.ndarray, *, heading: str, title: str, landscape: bool, metric) -> None:
    from gridmap.colors import status_colors

    grids = result.grids[mask].to_crs(metric)
    codes = set(grids["village_code"].astype(str))
    bnd = result.boundaries.to_crs(metric)
    if "code" in bnd:
        bnd = bnd[bnd["code"].astype(str).isin(codes)]
    ctx = result.context.to_crs(metric) if result.context is not None and len(result.context) else None
    w_mm, h_mm = fig.get_size_inches() / MM
    margin, title_h, foot_h = 10.0, 22.0, 10.0
    legend_w = 75.0 if landscape else 0.0
    legend_h = 0.0 if landscape else 48.0
    ax = fig.add_axes(
        (
            margin / w_mm,
            (margin + foot_h + legend_h) / h_mm,
            (w_mm - 2 * margin - legend_w) / w_mm,
            (h_mm - 2 * margin - title_h - foot_h - legend_h) / h_mm,
        )
    )
    minx, miny, maxx, maxy = grids.total_bounds if len(grids) else bnd.total_bounds
    pad = max(maxx - minx, maxy - miny) * 0.04 + 20
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    box = ax.get_position()
    box_ratio = (box.height * h_mm) / (box.width * w_mm)  # paper height / width of the map frame
    if (maxy - miny) / (maxx - minx) < box_ratio:  # widen the extent to the frame's shape: 1 m is 1 m both ways
        grow = (maxx - minx) * box_ratio - (maxy - miny)
        miny, maxy = miny - grow / 2, maxy + grow / 2
    else:
        grow = (maxy - miny) / box_ratio - (maxx - minx)
        minx, maxx = minx - grow / 2, maxx + grow / 2
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal", adjustable="box")
    if ctx is not None:
        lines = ctx[ctx["kind"].eq("barrier")]
        if len(lines):
            ax.add_collection(_lines(lines.geometry.values, color=BARRIER_COLOR, linewidth=0.5, alpha=0.8, zorder=1))
    ax.add_collection(
        _polygons(grids.geometry.values, facecolors=status_colors(grids), edgecolor="#333", linewidth=0.4, alpha=0.7)
    )
    ax.add_collection(_lines(shapely.boundary(bnd.geometry.values), color="#111", linewidth=1.4, zorder=3))
    if len(grids) <= 600:
        pts = shapely.point_on_surface(grids.geometry.values)
        for code, p in zip(grids["grid_code"].astype(str), pts, strict=True):
            ax.annotate(code[-3:], (p.x, p.y), ha="center", va="center", fontsize=6, zorder=4)
    if "name" in bnd and len(bnd) <= 200:
        for name, p in zip(
            bnd["name"].fillna("").astype(str), shapely.point_on_surface(bnd.geometry.values), strict=True
        ):
            ax.annotate(
                _plain(name),
                (p.x, p.y),
                ha="center",
                va="bottom",
                fontsize=9,
                fontweight="bold",
                xytext=(0, 6),
                textcoords="offset points",
                zorder=5,
            )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    width_m = maxx - minx
    _scale_bar(ax, width_m)
    _north_arrow(ax)
    ratio = width_m / (ax.get_position().width * w_mm / 1000)
    fig.text(margin / w_mm, 1 - margin / h_mm, _plain(title), ha="left", va="top", fontsize=16, fontweight="bold")
    sub = [_plain(heading)] if heading else []
    sub.append(f"{len(grids)} 个网格 grids · {int(grids['households'].sum()):,} 户 households")
    sub.append(f"比例尺 scale 1:{_nice(ratio) if ratio < 1000 else round(ratio, -2):,.0f}")
    fig.text(margin / w_mm, 1 - (margin + 10) / h_mm, " · ".join(sub), ha="left", va="top", fontsize=10)
    handles = _legend_handles(grids, ctx is not None and ctx["kind"].eq("barrier").any())
    if landscape:
        fig.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=((w_mm - margin - legend_w + 4) / w_mm, 1 - (margin + title_h) / h_mm),
            title="图例 legend",
            fontsize=7,
            title_fontsize=9,
            frameon=True,
        )
    else:
        fig.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(margin / w_mm, (margin + foot_h + legend_h - 2) / h_mm),
            ncols=2,
            title="图例 legend",
            fontsize=7,
            title_fontsize=9,
            frameon=True,
        )
    today = dt.date.today().isoformat()
    fig.text(
        margin / w_mm, margin / h_mm, f"制图日期 date {today} · {_plain(_source(result))}", fontsize=7, va="bottom"
    )


def write_print(
    result: GridResult,
    path: str | Path,
    *,
    paper: str = "A3",
    orientation: str = "landscape",
    by: str | None = None,
    title: str | None = None,
    dpi: int = 300,
) -> Path:
    """Write a print layout of the run: a PDF (one page, or one per township/village) or a PNG.

    Parameters
    ----------
    result
        The run.
    path
        ``*.pdf`` or ``*.png`` (one page only).
    paper, orientation
        ``A4`` or ``A3``; ``landscape`` (legend beside the map) or ``portrait`` (legend below).
    by
        ``township`` or ``village``: one page each (PDF), fitted to its grids.
    title
        Page title [``网格地图 grid map · <run name>``].
    dpi
        Resolution of a PNG (300 for print).

    Returns
    -------
    path
        The file written (atomically).

    Raises
    ------
    OptionError
        For an unknown paper, orientation, `by` or suffix, or several pages asked as PNG.
    DependencyError
        When Chinese text is to be drawn and no CJK font is installed.
    """
    from geodata.io import atomic_file

    plt = pyplot()

    path = Path(path)
    if paper.upper() not in PAPERS:
        msg = f"`paper` should be one of {', '.join(PAPERS)}, got '{paper}'."
        raise OptionError(msg)
    if orientation not in ORIENTATIONS:
        msg = f"`orientation` should be one of {', '.join(ORIENTATIONS)}, got '{orientation}'."
        raise OptionError(msg)
    suffix = path.suffix.lower()
    if suffix not in (".pdf", ".png"):
        msg = f"the print file should end in .pdf or .png, got '{path.name}'."
        raise OptionError(msg)
    pages = _pages(result, by)
    if suffix == ".png" and len(pages) > 1:
        msg = f"a PNG holds one page, and --by {by} makes {len(pages)}."
        raise OptionError(msg, fix="write a .pdf, or leave out --by.")
    title = title or f"网格地图 grid map · {result.manifest.get('name', '')}".rstrip(" ·")
    names = [title, *(h for h, _ in pages)]
    if "name" in result.boundaries:
        names += list(result.boundaries["name"].astype(str))
    w, h = PAPERS[paper.upper()]
    size = (h * MM, w * MM) if orientation == "landscape" else (w * MM, h * MM)
    metric = utm_crs(result.grids if len(result.grids) else result.boundaries)
    with plt.rc_context(_rc(names)), atomic_file(path) as tmp:
        if suffix == ".png":
            fig = plt.figure(figsize=size)
            _draw_page(
                fig,
                result,
                pages[0][1],
                heading=pages[0][0],
                title=title,
                landscape=orientation == "landscape",
                metric=metric,
            )
            fig.savefig(tmp, dpi=dpi, format="png")
            plt.close(fig)
        else:
            from matplotlib.backends.backend_pdf import PdfPages  # a tenth of a second to import: PDFs only

            with PdfPages(tmp, metadata={"Title": title, "Creator": "gridmap"}) as pdf:
                for heading, mask in pages:
                    fig = plt.figure(figsize=size)
                    _draw_page(
                        fig,
                        result,
                        mask,
                        heading=heading,
                        title=title,
                        landscape=orientation == "landscape",
                        metric=metric,
                    )
                    pdf.savefig(fig)
                    plt.close(fig)
    return path
